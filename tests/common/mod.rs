//! Helpers shared by the integration tests: running the real `memanalyzer` binary, the
//! `examples/workload` helper process, synthetic smaps text, and reading the output back.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::assert::Assert;
use serde_json::Value;

/// No single run may take longer than this; it only stops a hung test, it asserts no timing.
const HANG_GUARD: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// Running memanalyzer
// ---------------------------------------------------------------------------------------------

/// The memanalyzer binary Cargo built for these tests.
pub fn memanalyzer_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_memanalyzer"))
}

/// A `memanalyzer` command with a closed stdin (unless the test writes one) and a hang guard.
pub fn memanalyzer_cmd() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("memanalyzer").expect("memanalyzer is built");
    cmd.timeout(HANG_GUARD);
    // The developer's colour settings must not change what the tests see; tests that are about
    // colour set these themselves.
    cmd.env_remove("CLICOLOR_FORCE").env_remove("NO_COLOR");
    cmd
}

/// Runs `memanalyzer ARGS…` and returns the assertion handle.
pub fn memanalyzer(args: &[&str]) -> Assert {
    memanalyzer_cmd().args(args).assert()
}

/// Runs `memanalyzer ARGS…`, asserts success, and returns its stdout.
pub fn stdout_of(args: &[&str]) -> String {
    utf8(&memanalyzer(args).success().get_output().stdout)
}

/// Runs `memanalyzer ARGS… -format json`-style arguments, asserts success, and parses stdout.
pub fn json_of(args: &[&str]) -> Value {
    json(&memanalyzer(args).success().get_output().stdout)
}

/// Asserts a usage error (exit 2, nothing on stdout, clap's `error:` on stderr); returns stderr.
pub fn usage_error(args: &[&str]) -> String {
    let assert = memanalyzer(args).code(2);
    let output = assert.get_output();
    assert!(output.stdout.is_empty(), "stdout for {args:?}: {output:?}");
    let stderr = utf8(&output.stderr);
    assert!(
        stderr.starts_with("error:"),
        "stderr for {args:?}: {stderr}"
    );
    stderr
}

/// Asserts a runtime failure (exit 1, exactly one `memanalyzer: error:` line on stderr, no panic
/// or backtrace even with RUST_BACKTRACE=1); returns that line.
pub fn runtime_error(args: &[&str]) -> String {
    runtime_error_of(memanalyzer_cmd().args(args))
}

/// [`runtime_error`] for a prepared command (extra environment, stdin, …).
pub fn runtime_error_of(cmd: &mut assert_cmd::Command) -> String {
    let assert = cmd.env("RUST_BACKTRACE", "1").assert().code(1);
    let output = assert.get_output();
    assert!(output.stdout.is_empty(), "stdout: {output:?}");
    let stderr = utf8(&output.stderr);
    assert_one_error_line(&stderr)
}

/// Checks stderr holds exactly one line `memanalyzer: error: …` and no sign of a panic.
pub fn assert_one_error_line(stderr: &str) -> String {
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "`{bad}` on stderr: {stderr}");
    }
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got: {stderr:?}"
    );
    assert!(
        lines[0].starts_with("memanalyzer: error: "),
        "stderr: {stderr:?}"
    );
    assert!(stderr.ends_with('\n'), "stderr: {stderr:?}");
    lines[0].to_string()
}

pub fn utf8(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}):\n{}",
            String::from_utf8_lossy(bytes)
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Reading the text output (the contract scripts rely on)
// ---------------------------------------------------------------------------------------------

/// `grep "RSS (Resident)" | awk '{print $3}'`: the resident set in whole MiB.
pub fn rss_mib(text: &str) -> u64 {
    let line = text
        .lines()
        .find(|line| line.starts_with("RSS (Resident):"))
        .unwrap_or_else(|| panic!("no `RSS (Resident):` line in:\n{text}"));
    let field = line
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no third field in {line:?}"));
    field
        .parse()
        .unwrap_or_else(|_| panic!("{field:?} in {line:?} is not a whole number"))
}

/// The number on the `Regions:` line of the totals.
pub fn regions_total(text: &str) -> u64 {
    let line = text
        .lines()
        .find(|line| line.starts_with("Regions:"))
        .unwrap_or_else(|| panic!("no `Regions:` line in:\n{text}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The region listing's title line (`=== Top N … ===` / `=== All … ===`), if any.
pub fn listing_title(text: &str) -> Option<&str> {
    text.lines()
        .find(|line| line.starts_with("=== Top ") || line.starts_with("=== All "))
}

/// The data rows of the region listing: the lines after the dashed rule, up to a blank line.
pub fn table_rows(text: &str) -> Vec<&str> {
    let mut lines = text
        .lines()
        .skip_while(|line| !(line.starts_with("=== Top ") || line.starts_with("=== All ")));
    assert!(lines.next().is_some(), "no region listing in:\n{text}");
    let mut lines = lines.skip_while(|line| !line.starts_with("---"));
    assert!(lines.next().is_some(), "no dashed rule in:\n{text}");
    lines.take_while(|line| !line.trim().is_empty()).collect()
}

// ---------------------------------------------------------------------------------------------
// Reading the JSON output
// ---------------------------------------------------------------------------------------------

pub fn u64_at(value: &Value, pointer: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no unsigned number at {pointer} in {value:#}"))
}

pub fn sections(doc: &Value) -> &Vec<Value> {
    doc["sections"].as_array().expect("`sections` is an array")
}

pub fn section<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    sections(doc).iter().find(|section| section["name"] == name)
}

pub fn category<'a>(doc: &'a Value, section_name: &str, name: &str) -> Option<&'a Value> {
    section(doc, section_name)?["categories"]
        .as_array()?
        .iter()
        .find(|category| category["name"] == name)
}

/// Every category of every section.
pub fn all_categories(doc: &Value) -> impl Iterator<Item = &Value> {
    sections(doc)
        .iter()
        .flat_map(|section| section["categories"].as_array().expect("categories").iter())
}

pub fn top_regions(doc: &Value) -> &Vec<Value> {
    doc["top_regions"]
        .as_array()
        .expect("`top_regions` is an array")
}

/// The invariants every JSON report keeps: each section is the sum of its categories, and the
/// categories together are the totals.
pub fn assert_json_sums_are_consistent(doc: &Value) {
    for field in [
        "size_bytes",
        "rss_bytes",
        "pss_bytes",
        "private_bytes",
        "shared_bytes",
        "swap_bytes",
    ] {
        let sum: u64 = all_categories(doc)
            .map(|c| u64_at(c, &format!("/{field}")))
            .sum();
        assert_eq!(
            sum,
            u64_at(doc, &format!("/totals/{field}")),
            "{field}: categories vs totals"
        );
    }
    let regions: u64 = all_categories(doc).map(|c| u64_at(c, "/regions")).sum();
    assert_eq!(regions, u64_at(doc, "/totals/regions"), "region counts");
    for section in sections(doc) {
        let sum: u64 = section["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| u64_at(c, "/rss_bytes"))
            .sum();
        assert_eq!(
            sum,
            u64_at(section, "/rss_bytes"),
            "section {}: rss_bytes vs its categories",
            section["name"]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic smaps text
// ---------------------------------------------------------------------------------------------

/// One smaps record with the fields a 6.x kernel prints. `shared_kb` of the `rss_kb` are shared.
pub fn smaps_record(
    start: u64,
    size_kb: u64,
    perms: &str,
    name: &str,
    rss_kb: u64,
    shared_kb: u64,
) -> String {
    let end = start + size_kb * 1024;
    let private_kb = rss_kb - shared_kb;
    let pss_kb = private_kb + shared_kb / 2;
    let anonymous_kb = if name.starts_with('/') { 0 } else { private_kb };
    format!(
        "{start:08x}-{end:08x} {perms} 00000000 00:00 0 {name}\n\
         Size:           {size_kb:>8} kB\n\
         KernelPageSize:        4 kB\n\
         MMUPageSize:           4 kB\n\
         Rss:            {rss_kb:>8} kB\n\
         Pss:            {pss_kb:>8} kB\n\
         Pss_Dirty:      {private_kb:>8} kB\n\
         Shared_Clean:   {shared_kb:>8} kB\n\
         Shared_Dirty:          0 kB\n\
         Private_Clean:         0 kB\n\
         Private_Dirty:  {private_kb:>8} kB\n\
         Referenced:     {rss_kb:>8} kB\n\
         Anonymous:      {anonymous_kb:>8} kB\n\
         KSM:                   0 kB\n\
         LazyFree:              0 kB\n\
         AnonHugePages:         0 kB\n\
         ShmemPmdMapped:        0 kB\n\
         FilePmdMapped:         0 kB\n\
         Shared_Hugetlb:        0 kB\n\
         Private_Hugetlb:       0 kB\n\
         Swap:                  0 kB\n\
         SwapPss:               0 kB\n\
         Locked:                0 kB\n\
         THPeligible:           0\n\
         VmFlags: rd mr mw me \n"
    )
}

/// `(start, size kB, perms, name, rss kB, shared kB)` of [`sample_smaps`], in address order.
pub const SAMPLE_REGIONS: [(u64, u64, &str, &str, u64, u64); 9] = [
    (0x0040_0000, 64, "r-xp", "/usr/bin/sampleapp", 64, 0),
    (0x0041_0000, 8, "rw-p", "/usr/bin/sampleapp", 8, 0),
    (0x0200_0000, 2048, "rw-p", "[heap]", 1536, 0),
    (0x7f00_0000_0000, 8192, "rw-p", "", 6144, 0),
    (
        0x7f00_0080_0000,
        4096,
        "rw-s",
        "/memfd:cache (deleted)",
        4096,
        0,
    ),
    (
        0x7f00_0100_0000,
        1800,
        "r-xp",
        "/usr/lib/libc.so.6",
        1200,
        1100,
    ),
    (
        0x7f00_0200_0000,
        1024,
        "rw-p",
        "[anon:TXMetaCache]",
        1024,
        0,
    ),
    (0x7ffd_0000_0000, 132, "rw-p", "[stack]", 40, 0),
    (0xffff_ffff_ff60_0000, 4, "--xp", "[vsyscall]", 0, 0),
];

/// A small but realistic smaps text: a binary, heap, anonymous memory, memfd, a library, a named
/// region, the stack and `[vsyscall]`.
pub fn sample_smaps() -> String {
    SAMPLE_REGIONS
        .iter()
        .map(|&(start, size, perms, name, rss, shared)| {
            smaps_record(start, size, perms, name, rss, shared)
        })
        .collect()
}

/// The sum of the sample's RSS, in bytes.
pub fn sample_rss_bytes() -> u64 {
    SAMPLE_REGIONS.iter().map(|r| r.4 * 1024).sum()
}

// ---------------------------------------------------------------------------------------------
// The workload helper process (examples/workload.rs)
// ---------------------------------------------------------------------------------------------

/// The `workload` example's binary, built on first use if Cargo has not built it (e.g.
/// `cargo test --test live` builds no examples).
pub fn workload_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(locate_or_build_workload)
}

fn locate_or_build_workload() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = manifest_dir.join("examples/workload.rs");
    // target/<profile>/deps/<test binary> → target/<profile>/examples/workload
    let test_exe = std::env::current_exe().expect("current_exe");
    let profile_dir = test_exe.parent().and_then(Path::parent);
    if let Some(profile_dir) = profile_dir {
        let candidate = profile_dir.join("examples").join("workload");
        if is_newer_than(&candidate, &source) {
            return candidate;
        }
    }
    // Missing or older than its source: let Cargo build it, in the profile of this test binary
    // so that the dependencies already compiled for it are reused.
    let profile = profile_dir
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .map(|name| match name {
            "debug" => "dev",
            "release" => "release",
            other => other,
        })
        .unwrap_or("dev");
    let output = Command::new(env!("CARGO"))
        .args(["build", "--example", "workload", "--profile", profile])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(manifest_dir.join("Cargo.toml"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("running cargo to build examples/workload");
    assert!(
        output.status.success(),
        "cargo build --example workload failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == "workload"
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no executable for examples/workload");
    assert!(path.is_file(), "{} does not exist", path.display());
    path
}

fn is_newer_than(file: &Path, source: &Path) -> bool {
    let modified = |path: &Path| path.metadata().and_then(|m| m.modified()).ok();
    match (modified(file), modified(source)) {
        (Some(built), Some(source)) => built >= source,
        (Some(_), None) => true,
        _ => false,
    }
}

/// A running `workload`. It stays alive while its stdin is open; dropping the guard closes
/// stdin and reaps it (killing it if it does not exit). Spawn it from the test's own thread:
/// it dies with the thread that spawned it (PR_SET_PDEATHSIG).
pub struct Workload {
    child: Child,
    pub pid: i32,
    _stdout: BufReader<ChildStdout>,
}

impl Workload {
    /// Starts `workload ARGS…` and waits for its `ready pid=N` line.
    pub fn spawn(args: &[&str]) -> Workload {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        Workload::spawn_os(&args)
    }

    /// [`Workload::spawn`] with arguments that need not be UTF-8 (`--file-name` takes raw bytes).
    pub fn spawn_os(args: &[&OsStr]) -> Workload {
        Workload::start(workload_path(), args)
    }

    /// [`Workload::spawn`] of a copy of the workload binary at `program` (e.g. under a name
    /// chosen to give it an odd `comm`).
    pub fn spawn_program(program: &Path, args: &[&str]) -> Workload {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        Workload::start(program, &args)
    }

    /// Starts `program ARGS…` and waits for its `ready pid=N` line. A copy of the binary made a
    /// moment ago may briefly be "text file busy" (another thread forked while the copy was open
    /// for writing), so that is retried.
    fn start(program: &Path, args: &[&OsStr]) -> Workload {
        let mut attempts = 0;
        let mut child = loop {
            let spawned = Command::new(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn();
            match spawned {
                Ok(child) => break child,
                Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(error) => panic!("cannot start {}: {error}", program.display()),
            }
        };
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let pid = line
            .trim_end()
            .strip_prefix("ready pid=")
            .and_then(|pid| pid.parse::<i32>().ok());
        match pid {
            Some(pid) => {
                assert_eq!(pid as u32, child.id(), "the ready line names another PID");
                Workload {
                    child,
                    pid,
                    _stdout: stdout,
                }
            }
            None => {
                let _ = child.kill();
                let status = child.wait();
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                panic!(
                    "{} {args:?} did not get ready: read {read:?}, line {line:?}, \
                     status {status:?}, stderr:\n{stderr}",
                    program.display()
                );
            }
        }
    }

    pub fn pid_arg(&self) -> String {
        self.pid.to_string()
    }

    /// SIGKILLs the workload (it is our child, so its PID cannot have been reused yet).
    pub fn kill(&self) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.pid, libc::SIGKILL) };
        assert_eq!(
            rc,
            0,
            "kill({}): {}",
            self.pid,
            std::io::Error::last_os_error()
        );
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // EOF: the workload cleans up and exits.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
            }
        }
    }
}

/// Polls `condition` every few milliseconds until it holds or `limit` passes.
pub fn poll_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
