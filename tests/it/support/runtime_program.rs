//! Programs on a real runtime that the runtime tests start (`fixtures/sources/…`): each prints
//! its runtime's own statistics, then `READY`, and blocks reading stdin until EOF, as
//! `fixtures/sources/capture.py` expects. [`RuntimeProgram`] starts one and reaps it;
//! [`analyze_settled`] analyzes it while its memory stands still; the builders find or build
//! the programs.

use std::collections::HashMap;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use memanalyzer::{analyze_pid, Listing, Options, Report, SectionId};

use super::invariants::check_report;

/// A running fixture program and what it printed before `READY`. Dropping it closes its stdin
/// and reaps it (killing it if it does not exit).
pub struct RuntimeProgram {
    child: Child,
    pub pid: i32,
    /// The lines printed before `READY`.
    pub lines: Vec<String>,
    /// The lines it prints after `READY`, read on a thread of their own.
    later: Receiver<String>,
}

/// How long a program may take to get ready, or to answer.
const PATIENCE: Duration = Duration::from_secs(120);

impl RuntimeProgram {
    /// Starts `program ARGS…` and waits for its `READY` line.
    pub fn start(program: &str, args: &[&str]) -> RuntimeProgram {
        let mut command = Command::new(program);
        command.args(args);
        RuntimeProgram::spawn(command)
    }

    /// Starts `command` and waits (up to two minutes) for its `READY` line.
    pub fn spawn(mut command: Command) -> RuntimeProgram {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, later) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match later.recv_timeout(wait) {
                Ok(line) if line == "READY" => {
                    return RuntimeProgram {
                        pid: child.id() as i32,
                        child,
                        lines,
                        later,
                    }
                }
                Ok(line) => lines.push(line),
                Err(outcome) => {
                    let _ = child.kill();
                    let status = child.wait();
                    let mut stderr = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        let _ = pipe.read_to_string(&mut stderr);
                    }
                    panic!(
                        "{command:?} did not print READY ({outcome:?}, {status:?}, after {lines:?}):\n{stderr}"
                    );
                }
            }
        }
    }

    /// The value of a `KEY=NUMBER` line.
    pub fn figure(&self, key: &str) -> u64 {
        self.lines
            .iter()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {key}=N line in {:#?}", self.lines))
    }

    /// Writes `request` as a line to the program's stdin and returns the line it answers.
    pub fn ask(&mut self, request: &str) -> String {
        let stdin = self.child.stdin.as_mut().expect("stdin is open until drop");
        writeln!(stdin, "{request}").expect("write to the program");
        stdin.flush().expect("flush the program's stdin");
        self.later
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|error| panic!("the program did not answer {request:?}: {error}"))
    }
}

impl Drop for RuntimeProgram {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // EOF: the program exits.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/proc/PID/smaps_rollup` as `key → bytes`.
fn rollup_bytes(pid: i32) -> HashMap<String, u64> {
    super::system::smaps_rollup(pid)
        .into_iter()
        .map(|(key, kb)| (key, kb * 1024))
        .collect()
}

/// Analyzes `pid` (every region listed) between two reads of `smaps_rollup` that agree, and
/// checks the report against the kernel: the totals exactly, every region in one category, the
/// categories adding up field by field.
pub fn analyze_settled(pid: i32) -> Report {
    analyze_settled_with(pid, &Options::default().all())
}

/// [`analyze_settled`] with these options (which must list every region).
pub fn analyze_settled_with(pid: i32, options: &Options) -> Report {
    for _ in 0..5 {
        let before = rollup_bytes(pid);
        let report = analyze_pid(pid, options).expect("analyze the program");
        let after = rollup_bytes(pid);
        if before["Rss"] != after["Rss"] || before["Swap"] != after["Swap"] {
            continue;
        }
        assert_eq!(report.totals.rss, after["Rss"], "Rss against smaps_rollup");
        assert_eq!(
            report.totals.swap, after["Swap"],
            "Swap against smaps_rollup"
        );
        check_report(&report, Listing::All);
        return report;
    }
    panic!("the program's Rss kept changing between two reads of smaps_rollup");
}

/// The address ranges of the maps a program made of its own, from the `KEY=START-END` lines
/// it printed (hex addresses).
pub fn own_maps(lines: &[String], key: &str) -> Vec<(u64, u64)> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .map(|range| {
            let (start, end) = range.split_once('-').expect("START-END");
            let hex = |text: &str| u64::from_str_radix(text, 16).expect("a hex address");
            (hex(start), hex(end))
        })
        .collect()
}

/// The regions of `report` (listed with every region) that overlap `start..end`.
pub fn overlapping(report: &Report, start: u64, end: u64) -> Vec<memanalyzer::RegionRow> {
    let found: Vec<_> = report
        .regions
        .iter()
        .filter(|region| region.start < end && start < region.end)
        .collect();
    assert!(!found.is_empty(), "no region at {start:#x}-{end:#x}");
    found
}

/// RSS of the category `key` (0 when no region is in it).
pub fn rss_of(report: &Report, key: &str) -> u64 {
    report
        .category(key)
        .map_or(0, |category| category.amounts.rss)
}

/// Address space of the category `key` (0 when no region is in it).
pub fn size_of(report: &Report, key: &str) -> u64 {
    report
        .category(key)
        .map_or(0, |category| category.amounts.size)
}

/// RSS that no rule explained: the Anonymous Memory section and Unrecognized.
pub fn generic_rss(report: &Report) -> u64 {
    report
        .section(SectionId::Anonymous)
        .map_or(0, |section| section.subtotal.rss)
        + rss_of(report, "other.unrecognized")
}

/// A one-line summary of every category's RSS, for assertion messages.
pub fn breakdown(report: &Report) -> String {
    report
        .categories()
        .map(|category| format!("{}={}KiB", category.id.key(), category.amounts.rss / 1024))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `fixtures/sources/rust-jemalloc`, a Rust program on tikv-jemallocator, built once (release,
/// `--locked`) into Cargo's temporary directory for tests; crates come from crates.io.
pub fn rust_jemalloc_program() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| build_rust_jemalloc("build", "memfix-rust-jemalloc", &[]))
}

/// The same program built as Rust services ship: stripped (`-C strip=symbols`, what
/// `strip = true` in a release profile does), so that no symbol table shows jemalloc. Only
/// the program itself is compiled again (`cargo rustc`); the crates are shared.
pub fn rust_jemalloc_stripped_program() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        build_rust_jemalloc(
            "rustc",
            "memfix-rust-jemalloc-stripped",
            &["--", "-C", "strip=symbols"],
        )
    })
}

/// Runs `cargo SUBCOMMAND --bin BIN … EXTRA` on the rust-jemalloc fixture and returns the binary.
fn build_rust_jemalloc(subcommand: &str, bin: &str, extra: &[&str]) -> PathBuf {
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sources/rust-jemalloc/Cargo.toml");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixture-programs");
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([subcommand, "--release", "--locked", "--quiet", "--bin", bin])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "building {bin} from {} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    target_dir.join("release").join(bin)
}

/// `fixtures/sources/python/objects.py`.
pub fn python_objects_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sources/python/objects.py")
}

/// `python3` on PATH, or why the CPython tests cannot run.
pub fn python3() -> Result<PathBuf, String> {
    super::system::require_program("python3", "python3")
}

/// A CPython that can import NumPy: `python3` on PATH, else Debian's `/usr/bin/python3` (with
/// python3-numpy), or why there is none.
pub fn python3_with_numpy() -> Result<PathBuf, String> {
    let candidates = super::system::find_in_path("python3")
        .into_iter()
        .chain([PathBuf::from("/usr/bin/python3")]);
    for python in candidates {
        let imports = Command::new(&python)
            .args(["-c", "import numpy"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if imports {
            return Ok(python);
        }
    }
    Err("no python3 here can import numpy (python3-numpy, or pip install numpy)".to_string())
}

/// `fixtures/sources/c-jemalloc/hold.c`, built once with gcc and Debian's libjemalloc
/// (libjemalloc-dev), or why it cannot be.
pub fn c_jemalloc_program() -> Result<&'static Path, String> {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PATH.get_or_init(|| {
        if !Path::new("/usr/include/jemalloc/jemalloc.h").is_file() {
            return Err("jemalloc's header is not installed (libjemalloc-dev)".to_string());
        }
        build_c("c-jemalloc/hold.c", "memfix-c-jemalloc", &["-ljemalloc"])
    })
    .as_deref()
    .map_err(Clone::clone)
}

/// `fixtures/sources/c-seccomp/refuse_vm_readv.c` (runs a command with `process_vm_readv`
/// refused), built once with gcc, or why it cannot be.
pub fn refuse_vm_readv_program() -> Result<&'static Path, String> {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PATH.get_or_init(|| build_c("c-seccomp/refuse_vm_readv.c", "refuse-vm-readv", &[]))
        .as_deref()
        .map_err(Clone::clone)
}

/// `fixtures/sources/SOURCE` built with gcc (and `libraries`) into the tests' scratch directory
/// as `binary`; an error when gcc is not installed.
fn build_c(source: &str, binary: &str, libraries: &[&str]) -> Result<PathBuf, String> {
    super::system::require_program("gcc", "gcc")?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sources")
        .join(source);
    let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join(binary);
    let output = Command::new("gcc")
        .args(["-O2", "-Wall", "-pthread", "-o"])
        .arg(&binary)
        .arg(&source)
        .args(libraries)
        .output()
        .expect("run gcc");
    assert!(
        output.status.success(),
        "gcc {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(binary)
}
