//! Language runtimes the tests start (a JVM, Node) and the figures they are checked against:
//! the fixture programs in `fixtures/sources/` (started with `runtime_program::RuntimeProgram`),
//! the heap's address range from `jcmd PID GC.heap_info`, resident
//! memory summed straight from smaps text, and the generic share of a report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use memanalyzer::{Report, SectionId};

use super::files::fixture_path;
use super::system::require_program;

/// The RSS, in bytes, that memanalyzer leaves in a generic category: the Anonymous Memory
/// section and Other/Unrecognized.
pub fn generic_rss(report: &Report) -> u64 {
    let anonymous = report
        .section(SectionId::Anonymous)
        .map_or(0, |section| section.subtotal.rss);
    let unrecognized = report
        .category("other.unrecognized")
        .map_or(0, |category| category.amounts.rss);
    anonymous + unrecognized
}

/// The RSS of the category `key` in bytes, 0 when no region is in it.
pub fn category_rss(report: &Report, key: &str) -> u64 {
    report
        .category(key)
        .map_or(0, |category| category.amounts.rss)
}

/// The sum of `Rss:` of the smaps records that overlap `[start, end)`, in bytes, read straight
/// from the text (not through memanalyzer's parser). The kernel merges a heap's top with a
/// read-write map right above it (the class space, without CDS): such a record counts whole.
pub fn rss_overlapping(smaps: &str, start: u64, end: u64) -> u64 {
    let mut inside = false;
    let mut kib = 0;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((low, high)) = range.split_once('-') {
                if let (Ok(low), Ok(high)) =
                    (u64::from_str_radix(low, 16), u64::from_str_radix(high, 16))
                {
                    inside = low < end && high > start;
                    continue;
                }
            }
        }
        if let Some(value) = line.strip_prefix("Rss:") {
            if inside {
                let number = value.trim().trim_end_matches("kB").trim();
                kib += number.parse::<u64>().expect("Rss: N kB");
            }
        }
    }
    kib * 1024
}

/// The Java heap's address range from `jcmd PID GC.heap_info`: from the lowest to the highest
/// address it prints (G1 prints the heap's; Parallel and Serial each generation's).
pub fn heap_range(heap_info: &str) -> (u64, u64) {
    let addresses: Vec<u64> = heap_info
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|word| word.strip_prefix("0x"))
        .map(|hex| u64::from_str_radix(hex, 16).expect("hex address"))
        .collect();
    assert!(!addresses.is_empty(), "no address in {heap_info}");
    let low = *addresses.iter().min().expect("not empty");
    let high = *addresses.iter().max().expect("not empty");
    (low, high)
}

/// The reservations `jcmd PID VM.native_memory detail` lists: `(start, end, NMT category)`
/// from lines `[0x… - 0x…] reserved … for CATEGORY from`.
pub fn nmt_reservations(detail: &str) -> Vec<(u64, u64, String)> {
    detail
        .lines()
        .filter_map(|line| {
            let (range, rest) = line.strip_prefix('[')?.split_once(']')?;
            let (start, end) = range.split_once(" - ")?;
            let parse = |hex: &str| u64::from_str_radix(hex.trim().strip_prefix("0x")?, 16).ok();
            let category = rest.split_once(" for ")?.1.strip_suffix(" from")?;
            Some((parse(start)?, parse(end)?, category.to_string()))
        })
        .collect()
}

/// `a` is within `percent`% of `b`.
pub fn within_percent(a: u64, b: u64, percent: u64) -> bool {
    a.abs_diff(b) * 100 <= b * percent
}

/// `Ok` if a JVM can be started and inspected here, else why not (for [`or_skip!`]).
pub fn require_jdk() -> Result<(), String> {
    for tool in ["java", "javac", "jcmd"] {
        require_program(tool, "Debian: openjdk-17-jdk-headless")?;
    }
    Ok(())
}

/// The directory holding `fixtures/sources/java/Hold.class`, compiled on first use into Cargo's
/// scratch directory for integration tests.
pub fn java_classes() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("java-hold");
        let source = fixture_path("sources/java/Hold.java");
        let output = Command::new("javac")
            .arg("-d")
            .arg(&dir)
            .arg(&source)
            .output()
            .expect("running javac");
        assert!(
            output.status.success(),
            "javac {}: {}",
            source.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
}

/// Runs `jcmd PID COMMAND` (the test's own view of the JVM; memanalyzer never attaches).
pub fn jcmd(pid: i32, command: &str) -> String {
    let output = Command::new("jcmd")
        .arg(pid.to_string())
        .arg(command)
        .output()
        .expect("running jcmd");
    assert!(
        output.status.success(),
        "jcmd {pid} {command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 from jcmd")
}
