//! Races between memanalyzer's read of a live process's smaps and the process itself: targets
//! (`examples/workload`) that run a new program (`execve`), are killed, exit, or change their
//! mappings continuously while they are read, at pseudo-random moments. Every run must end in
//! one of two ways, never a third: a complete and exact result (`[vsyscall]`, which the kernel
//! prints last, was read; no two regions overlap; the categories add up to the totals; the only
//! warning allowed is the "moving picture" one for a target that changes its mappings), or one
//! clear error line that says what happened. A partial result that looks whole fails the test.
//!
//! 210 runs in all, a few seconds each test. The delays come from a seed printed with any
//! failure (`MEMANALYZER_RACE_SEED=N` repeats a sequence).

use std::fs;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::prelude::*;

/// Mappings of each target: enough for a read to take several of the kernel's pieces.
const MAPPINGS: &str = "2000";

/// What a target does while it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Race {
    /// Runs itself again (`exec` on its stdin): the same PID, a new address space.
    Exec,
    /// Is killed with SIGKILL.
    Kill,
    /// Exits on its own (`exit` on its stdin).
    Exit,
    /// Re-maps and re-protects pages of an area for ever (`--churn-kb`).
    Churn,
}

impl Race {
    /// The error lines this race may end with: what happened, said plainly.
    fn accepted_errors(self) -> &'static [&'static str] {
        match self {
            Race::Exec => &["ran a new program (execve) while its smaps was being read"],
            Race::Kill | Race::Exit => &[
                "exited while its smaps was being read",
                "no process with PID",
                "is a zombie",
                "has no user memory",
            ],
            Race::Churn => &[],
        }
    }

    /// The warning this race may give with a complete result.
    fn accepted_warning(self) -> Option<&'static str> {
        (self == Race::Churn).then_some("moving picture")
    }
}

/// A small xorshift generator: the delays need spreading, not quality.
struct Delays {
    seed: u64,
    state: u64,
}

impl Delays {
    fn new() -> Delays {
        let seed = std::env::var("MEMANALYZER_RACE_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("after 1970");
                now.as_nanos() as u64 | 1
            });
        Delays { seed, state: seed }
    }

    /// A delay between zero and `window`.
    fn up_to(&mut self, window: Duration) -> Duration {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let micros = window.as_micros().max(1) as u64;
        Duration::from_micros(self.state % micros)
    }
}

/// What the runs of one race ended in.
#[derive(Default, Debug)]
struct Tally {
    complete: u32,
    moving_pictures: u32,
    errors: u32,
    failures: Vec<String>,
}

impl Tally {
    fn runs(&self) -> u32 {
        self.complete + self.moving_pictures + self.errors + self.failures.len() as u32
    }
}

/// memanalyzer reading one PID, with its output going to files (so that waiting for it with a
/// time limit needs no reader threads).
struct Reader {
    child: Child,
    stdout: tempfile::NamedTempFile,
    stderr: tempfile::NamedTempFile,
    started: Instant,
}

impl Reader {
    fn start(pid: i32) -> Reader {
        let stdout = tempfile::NamedTempFile::new().expect("temp file");
        let stderr = tempfile::NamedTempFile::new().expect("temp file");
        let child = Command::new(memanalyzer_path())
            .args(["-pid", &pid.to_string(), "-format", "json", "-all"])
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(stdout.reopen().expect("reopen"))
            .stderr(stderr.reopen().expect("reopen"))
            .spawn()
            .expect("spawn memanalyzer");
        Reader {
            child,
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    /// Waits until memanalyzer has `target`'s smaps open (it is reading it), or has ended, or
    /// two seconds have passed: so that the race is run during the read, not during start-up.
    fn wait_until_reading(&mut self, target: i32) {
        let smaps = std::path::PathBuf::from(format!("/proc/{target}/smaps"));
        let fds = format!("/proc/{}/fd", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let reading = fs::read_dir(&fds).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|entry| fs::read_link(entry.path()).is_ok_and(|link| link == smaps))
            });
            if reading || !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Waits for the end (at most [`HANG_GUARD`]): the status, stdout, stderr, and how long.
    fn finish(mut self) -> (ExitStatus, Vec<u8>, String, Duration) {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for memanalyzer") {
                break status;
            }
            if self.started.elapsed() > HANG_GUARD {
                let _ = self.child.kill();
                panic!("memanalyzer ran for more than {HANG_GUARD:?}");
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let took = self.started.elapsed();
        let stdout = fs::read(self.stdout.path()).expect("stdout file");
        let stderr = fs::read_to_string(self.stderr.path()).expect("stderr file");
        (status, stdout, stderr, took)
    }
}

/// Whether this machine has `[vsyscall]`, which proves a read reached the end.
fn machine_has_vsyscall() -> bool {
    fs::read_to_string("/proc/self/maps").is_ok_and(|maps| maps.contains("[vsyscall]"))
}

fn address(region: &Value, key: &str) -> u64 {
    let text = region[key].as_str().expect("a hex address");
    u64::from_str_radix(text, 16).expect("a hex address")
}

/// Checks a successful run's JSON (`-all`): whole, without overlaps, adding up.
fn check_complete(doc: &Value, stderr: &str, race: Race) -> Result<bool, String> {
    let warnings: Vec<&str> = stderr.lines().collect();
    let mut moving = false;
    for line in &warnings {
        match race.accepted_warning() {
            Some(about) if line.starts_with("memanalyzer: warning: ") && line.contains(about) => {
                moving = true;
            }
            _ => return Err(format!("unexpected stderr line: {line}")),
        }
    }
    let json_warnings = doc["warnings"].as_array().map_or(0, Vec::len);
    if json_warnings != warnings.len() {
        return Err(format!("{json_warnings} JSON warnings, stderr {stderr:?}"));
    }
    assert_json_sums_are_consistent(doc);
    let mut regions: Vec<(u64, u64, &str)> = top_regions(doc)
        .iter()
        .map(|region| {
            let name = region["name"].as_str().unwrap_or("");
            (address(region, "start"), address(region, "end"), name)
        })
        .collect();
    if regions.len() as u64 != u64_at(doc, "/totals/regions") {
        return Err(format!("{} regions listed with -all", regions.len()));
    }
    regions.sort_unstable();
    if let Some(pair) = regions.windows(2).find(|pair| pair[1].0 < pair[0].1) {
        return Err(format!("overlapping regions counted: {pair:x?}"));
    }
    if machine_has_vsyscall() && regions.last().map(|region| region.2) != Some("[vsyscall]") {
        return Err(format!(
            "a partial read passed as complete: {} regions and no [vsyscall] at the end",
            regions.len()
        ));
    }
    Ok(moving)
}

/// Judges one run into `tally`.
fn judge(
    race: Race,
    run: u32,
    seed: u64,
    finished: (ExitStatus, Vec<u8>, String, Duration),
    tally: &mut Tally,
) {
    let (status, stdout, stderr, _) = finished;
    let context = format!("{race:?} run {run} (MEMANALYZER_RACE_SEED={seed})");
    match status.code() {
        Some(0) => {
            let doc: Value = match serde_json::from_slice(&stdout) {
                Ok(doc) => doc,
                Err(error) => {
                    tally
                        .failures
                        .push(format!("{context}: stdout is not JSON: {error}"));
                    return;
                }
            };
            match check_complete(&doc, &stderr, race) {
                Ok(true) => tally.moving_pictures += 1,
                Ok(false) => tally.complete += 1,
                Err(why) => tally.failures.push(format!("{context}: {why}")),
            }
        }
        Some(1) => {
            let lines: Vec<&str> = stderr.lines().collect();
            let accepted = lines.len() == 1
                && lines[0].starts_with("memanalyzer: error: ")
                && race
                    .accepted_errors()
                    .iter()
                    .any(|message| lines[0].contains(message));
            if accepted && stdout.is_empty() {
                tally.errors += 1;
            } else {
                tally
                    .failures
                    .push(format!("{context}: unexpected error: {stderr}"));
            }
        }
        _ => tally
            .failures
            .push(format!("{context}: {status}, stderr: {stderr}")),
    }
}

/// Twice the time the kernel takes to produce a quiescent target's smaps here: the window the
/// delays after the start of a read are drawn from.
fn read_window(workload: &Workload) -> Duration {
    let started = Instant::now();
    let smaps = fs::read(format!("/proc/{}/smaps", workload.pid)).expect("read smaps");
    assert!(!smaps.is_empty());
    started.elapsed() * 2
}

fn assert_no_failures(race: Race, tally: &Tally, seed: u64, started: Instant) {
    eprintln!(
        "races: {race:?}: {tally:?} (seed {seed}, {:?})",
        started.elapsed()
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} runs failed (MEMANALYZER_RACE_SEED={seed}):\n{:#?}",
        tally.failures.len(),
        tally.runs(),
        tally.failures
    );
}

/// Runs memanalyzer against fresh targets that `end` (kill or exit) after a random delay.
fn ending_targets(race: Race, runs: u32, end: impl Fn(&mut Workload)) -> (Tally, u64) {
    let mut delays = Delays::new();
    let window = read_window(&Workload::spawn(&["--mappings", MAPPINGS]));
    let mut tally = Tally::default();
    for run in 0..runs {
        let mut workload = Workload::spawn(&["--mappings", MAPPINGS]);
        let mut reader = Reader::start(workload.pid);
        reader.wait_until_reading(workload.pid);
        std::thread::sleep(delays.up_to(window));
        end(&mut workload);
        judge(race, run, delays.seed, reader.finish(), &mut tally);
        drop(workload); // reaps it
    }
    (tally, delays.seed)
}

#[test]
fn a_target_running_exec_mid_read_gives_a_whole_result_or_says_so() {
    // Issue 10, item 1: the kernel ends the read of the old address space with a plain
    // end-of-file, and the process lives on.
    const RUNS: u32 = 80;
    let started = Instant::now();
    let mut delays = Delays::new();
    let mut workload = Workload::spawn(&["--mappings", MAPPINGS]);
    let window = read_window(&workload);
    let mut tally = Tally::default();
    for run in 0..RUNS {
        let mut reader = Reader::start(workload.pid);
        reader.wait_until_reading(workload.pid);
        std::thread::sleep(delays.up_to(window));
        workload.send("exec");
        judge(Race::Exec, run, delays.seed, reader.finish(), &mut tally);
        workload.wait_ready();
    }
    assert_no_failures(Race::Exec, &tally, delays.seed, started);
    assert!(tally.errors > 0, "no exec landed during a read: {tally:?}");
}

#[test]
fn a_target_killed_mid_read_gives_a_whole_result_or_says_so() {
    let started = Instant::now();
    let (tally, seed) = ending_targets(Race::Kill, 60, |workload| workload.kill());
    assert_no_failures(Race::Kill, &tally, seed, started);
}

#[test]
fn a_target_exiting_mid_read_gives_a_whole_result_or_says_so() {
    let started = Instant::now();
    let (tally, seed) = ending_targets(Race::Exit, 30, |workload| workload.send("exit"));
    assert_no_failures(Race::Exit, &tally, seed, started);
}

#[test]
fn a_target_churning_its_mappings_is_never_counted_twice() {
    // Issue 10, item 2: VMAs split and merge between the pieces of one read, so a record can
    // start below the end of the one before it.
    const RUNS: u32 = 40;
    let started = Instant::now();
    let workload = Workload::spawn(&["--mappings", "300", "--churn-kb", "16384"]);
    let seed = Delays::new().seed;
    let mut tally = Tally::default();
    for run in 0..RUNS {
        judge(
            Race::Churn,
            run,
            seed,
            Reader::start(workload.pid).finish(),
            &mut tally,
        );
    }
    assert_no_failures(Race::Churn, &tally, seed, started);
}
