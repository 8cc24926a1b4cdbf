//! The machine the tests run on: programs on PATH, privileges, users, and running memanalyzer
//! as user `nobody` (uid 65534) to see what an unprivileged user gets.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::run::memanalyzer_path;
use super::workload::{workload_path, Workload};

/// `/proc/PID/smaps_rollup` as `key → kB`: the kernel's own totals.
pub fn smaps_rollup(pid: i32) -> std::collections::HashMap<String, u64> {
    smaps_rollup_at(&format!("/proc/{pid}"))
}

/// `DIR/smaps_rollup` (of a process, or of one of its threads: `/proc/PID/task/TID`) as
/// `key → kB`.
pub fn smaps_rollup_at(dir: &str) -> std::collections::HashMap<String, u64> {
    let text = fs::read_to_string(format!("{dir}/smaps_rollup")).expect("smaps_rollup");
    text.lines()
        .skip(1) // the `[rollup]` header
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            let kb = value.trim().strip_suffix(" kB")?.trim().parse().ok()?;
            Some((key.to_string(), kb))
        })
        .collect()
}

/// `program` in one of PATH's directories.
pub fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// `program` from PATH, or why a test that needs it cannot run (for [`or_skip!`]).
pub fn require_program(program: &str, package: &str) -> Result<PathBuf, String> {
    find_in_path(program).ok_or_else(|| format!("{program} is not installed ({package})"))
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The name of uid `uid` in /etc/passwd, or the number.
pub fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.get(2)?.parse::<u32>().ok()? == uid).then(|| fields[0].to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

/// The name of the user running the tests.
pub fn my_user_name() -> String {
    // SAFETY: getuid has no preconditions.
    user_name(unsafe { libc::getuid() })
}

/// Whether user `nobody` can reach and run `path`: every directory above it searchable by
/// others, the file readable and executable by others.
fn usable_by_others(path: &Path) -> bool {
    let mode = |path: &Path| path.metadata().map(|m| m.permissions().mode()).unwrap_or(0);
    mode(path) & 0o005 == 0o005 && path.ancestors().skip(1).all(|dir| mode(dir) & 0o001 != 0)
}

/// The memanalyzer binary, run as user nobody through `setpriv` (util-linux).
pub struct Nobody {
    setpriv: PathBuf,
    binary: PathBuf,
    /// Holds the copy of the binary, when the built one is out of nobody's reach.
    _dir: Option<TempDir>,
}

impl Nobody {
    /// Memanalyzer for user nobody, or why that cannot be here: switching users needs root and
    /// setpriv.
    pub fn memanalyzer() -> Result<Nobody, String> {
        if !is_root() {
            return Err("not root, so cannot run memanalyzer as another user".to_string());
        }
        let setpriv = require_program("setpriv", "util-linux")?;
        let binary = memanalyzer_path();
        if usable_by_others(&binary) {
            return Ok(Nobody {
                setpriv,
                binary,
                _dir: None,
            });
        }
        let dir = tempfile::tempdir().expect("temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let copy = dir.path().join("memanalyzer");
        fs::copy(&binary, &copy).expect("copy memanalyzer");
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            usable_by_others(&copy),
            "{} is not usable by others",
            copy.display()
        );
        Ok(Nobody {
            setpriv,
            binary: copy,
            _dir: Some(dir),
        })
    }

    /// The command line that runs `memanalyzer ARGS…` as nobody, for a test that runs it
    /// through another program (`unshare`, say).
    pub fn command_line(&self, args: &[&str]) -> Vec<std::ffi::OsString> {
        let mut line = vec![self.setpriv.clone().into_os_string()];
        line.extend(["--reuid=65534", "--regid=65534", "--clear-groups"].map(Into::into));
        line.push(self.binary.clone().into_os_string());
        line.extend(args.iter().map(Into::into));
        line
    }

    /// Runs `memanalyzer ARGS…` as nobody; `Err` when setpriv cannot switch users here (a
    /// container without CAP_SETUID, say).
    pub fn run(&self, args: &[&str]) -> Result<Output, String> {
        for _attempt in 0..50 {
            let output = Command::new(&self.setpriv)
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&self.binary)
                .args(args)
                .env("RUST_BACKTRACE", "1")
                .stdin(Stdio::null())
                .output()
                .expect("run setpriv");
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("Text file busy") {
                // The copy was just written and another test thread forked meanwhile.
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            if stderr.starts_with("setpriv:") {
                return Err(format!("setpriv cannot switch users here ({stderr})"));
            }
            return Ok(output);
        }
        panic!("{} stayed busy", self.binary.display());
    }

    /// Starts `workload ARGS…` as user nobody (through setpriv, so it is its own program with
    /// nobody's ids from the start); `Err` when setpriv cannot switch users here.
    pub fn workload(&self, args: &[&str]) -> Result<Workload, String> {
        let probe = Command::new(&self.setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
            .output()
            .expect("run setpriv");
        if !probe.status.success() {
            let why = String::from_utf8_lossy(&probe.stderr);
            return Err(format!("setpriv cannot switch users here ({why})"));
        }
        let (binary, dir) = if usable_by_others(workload_path()) {
            (workload_path().to_path_buf(), None)
        } else {
            let dir = tempfile::tempdir().expect("temp dir");
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
            let copy = dir.path().join("workload");
            fs::copy(workload_path(), &copy).expect("copy workload");
            fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
            (copy, Some(dir))
        };
        let mut wrapped: Vec<&std::ffi::OsStr> =
            ["--reuid=65534", "--regid=65534", "--clear-groups"]
                .iter()
                .map(std::ffi::OsStr::new)
                .collect();
        wrapped.push(binary.as_os_str());
        wrapped.extend(args.iter().map(std::ffi::OsStr::new));
        Ok(Workload::spawn_wrapped(&self.setpriv, &wrapped, dir))
    }

    /// [`Nobody::run`], asserting success.
    pub fn run_ok(&self, args: &[&str]) -> Result<Output, String> {
        let output = self.run(args)?;
        assert!(output.status.success(), "{args:?} as nobody: {output:?}");
        Ok(output)
    }
}
