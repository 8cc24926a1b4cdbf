//! The example binaries the tests run — `examples/workload.rs`, a helper process with a known
//! memory layout, and `examples/peak_rss.rs`, which measures a command's peak memory — and the
//! [`Workload`] guard that starts one and reaps it.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `workload` example's binary, built on first use if Cargo has not built it (e.g.
/// `cargo test --test it` builds no examples).
pub fn workload_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| locate_or_build_example("workload"))
}

/// The `peak_rss` example's binary, built on first use like [`workload_path`].
pub fn peak_rss_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| locate_or_build_example("peak_rss"))
}

/// The `container_load` example's binary (a process holding each kind of cgroup memory), built
/// on first use like [`workload_path`].
pub fn container_load_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| locate_or_build_example("container_load"))
}

/// `examples/NAME.rs`'s binary: Cargo's (`cargo test` builds the examples) when it is newer than
/// its source, else built now with `cargo build --example NAME`. Cargo gives integration tests
/// the path of the crate's binaries (`CARGO_BIN_EXE_…`) but not of its examples.
fn locate_or_build_example(name: &str) -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = manifest_dir.join(format!("examples/{name}.rs"));
    // target/<profile>/deps/<test binary> → target/<profile>/examples/workload
    let test_exe = std::env::current_exe().expect("current_exe");
    let profile_dir = test_exe.parent().and_then(Path::parent);
    if let Some(profile_dir) = profile_dir {
        let candidate = profile_dir.join("examples").join(name);
        if is_newer_than(&candidate, &source) {
            return candidate;
        }
    }
    // Missing or older than its source: let Cargo build it, in the profile of this test binary
    // so that the dependencies already compiled for it are reused.
    let profile = profile_dir
        .and_then(Path::file_name)
        .and_then(|dir| dir.to_str())
        .map(|dir| match dir {
            "debug" => "dev",
            "release" => "release",
            other => other,
        })
        .unwrap_or("dev");
    let output = Command::new(env!("CARGO"))
        .args(["build", "--example", name, "--profile", profile])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(manifest_dir.join("Cargo.toml"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|error| panic!("running cargo to build examples/{name}: {error}"));
    assert!(
        output.status.success(),
        "cargo build --example {name} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == name
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no executable for examples/{name}"));
    assert!(path.is_file(), "{} does not exist", path.display());
    path
}

/// Whether `file` exists and was modified no earlier than `source`.
pub fn is_newer_than(file: &Path, source: &Path) -> bool {
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
    stdout: BufReader<ChildStdout>,
    /// A directory the workload's binary was copied to, kept while it runs.
    _dir: Option<tempfile::TempDir>,
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

    /// Starts `container_load ARGS…` (see `examples/container_load.rs`) and waits until it is
    /// ready.
    pub fn spawn_container_load(args: &[&str]) -> Workload {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        Workload::start(container_load_path(), &args)
    }

    /// [`Workload::spawn`] of a copy of the workload binary at `program` (e.g. under a name
    /// chosen to give it an odd `comm`).
    pub fn spawn_program(program: &Path, args: &[&str]) -> Workload {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        Workload::start(program, &args)
    }

    /// Starts `program ARGS…`, which must end by executing the workload (a wrapper such as
    /// `setpriv … workload`), and waits for its `ready pid=N` line; `dir` is kept while it runs.
    pub fn spawn_wrapped(
        program: &Path,
        args: &[&OsStr],
        dir: Option<tempfile::TempDir>,
    ) -> Workload {
        let mut workload = Workload::start(program, args);
        workload._dir = dir;
        workload
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
                    stdout,
                    _dir: None,
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

    /// Sends one line to the workload's stdin (`exec`, `exit`).
    pub fn send(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self
            .child
            .stdin
            .as_mut()
            .expect("the workload's stdin is open");
        writeln!(stdin, "{line}").expect("write to the workload's stdin");
        stdin.flush().expect("flush the workload's stdin");
    }

    /// Waits for the next `ready pid=N` line (after `exec`, the new program's) and checks that it
    /// names the same PID.
    pub fn wait_ready(&mut self) {
        let mut line = String::new();
        let read = self.stdout.read_line(&mut line);
        assert_eq!(
            line.trim_end(),
            format!("ready pid={}", self.pid),
            "the workload did not get ready again (read {read:?})"
        );
    }

    /// Writes `line` to the program's stdin and returns the next line it prints: how the test
    /// programs in `fixtures/sources/` report their runtime's own statistics.
    pub fn ask(&mut self, line: &str) -> String {
        self.send(line);
        let mut answer = String::new();
        self.stdout
            .read_line(&mut answer)
            .expect("reading the program's answer");
        assert!(!answer.is_empty(), "the program ended instead of answering");
        answer
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
