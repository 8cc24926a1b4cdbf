//! A live process to analyze again and again (the HTTP mode serves one for as long as it runs):
//! chosen by PID, and then that one process only, or by name, and then found again when it
//! restarts under a new PID — in a pod's sidecar the PIDs are not known in advance.

use crate::error::Error;
use crate::input::Options;
use crate::report::Report;

/// Which live process to analyze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The process with this PID when it is first analyzed, and no other: once it exits, a new
    /// process given the same PID is not analyzed in its place.
    Pid(i32),
    /// The process with this name in `/proc/PID/comm` or as its executable's file name (raw
    /// bytes). When several match, the one that started first (e.g. the parent of its workers).
    Name(Vec<u8>),
}

/// A [`Target`] and the process it was last found to be, so that every analysis is of the same
/// process (by PID) or of the current one (by name).
///
/// ```no_run
/// use memanalyzer::target::{FollowedTarget, Target};
/// let mut server = FollowedTarget::new(Target::Name(b"nginx".to_vec()));
/// let report = server.analyze(&memanalyzer::Options::default())?;
/// println!("nginx is PID {:?}", report.source.pid);
/// # Ok::<(), memanalyzer::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FollowedTarget {
    target: Target,
    /// The PID and start time of the process last analyzed.
    last_seen: Option<(i32, u64)>,
}

impl FollowedTarget {
    /// Follows `target`; nothing is read until [`FollowedTarget::analyze`].
    pub fn new(target: Target) -> FollowedTarget {
        FollowedTarget {
            target,
            last_seen: None,
        }
    }

    /// What is followed.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The PID of the process last analyzed, if any was.
    pub fn last_pid(&self) -> Option<i32> {
        self.last_seen.map(|(pid, _)| pid)
    }

    /// Reads and analyzes the target's smaps now. By PID, [`Error::PidReused`] once the process
    /// first analyzed has exited and another has its PID; by name, [`Error::NoProcessNamed`]
    /// while no process has the name.
    pub fn analyze(&mut self, options: &Options) -> Result<Report, Error> {
        #[cfg(target_os = "linux")]
        {
            linux::analyze(self, options)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = options;
            Err(Error::NeedsProcfs)
        }
    }
}

/// The PIDs of the processes named `name` (see [`Target::Name`]), the earliest started first.
pub fn processes_named(name: &[u8]) -> Result<Vec<i32>, Error> {
    #[cfg(target_os = "linux")]
    {
        Ok(linux::processes_named(name)?
            .into_iter()
            .map(|(pid, _)| pid)
            .collect())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = name;
        Err(Error::NeedsProcfs)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs;

    use super::{FollowedTarget, Target};
    use crate::error::Error;
    use crate::input::process::ProcessDir;
    use crate::input::{analyze_pid, Options};
    use crate::report::Report;

    /// The kernel truncates `comm` to 15 bytes (TASK_COMM_LEN - 1).
    const COMM_LENGTH: usize = 15;
    /// Suffix of an executable's link once the file was deleted (replaced by an upgrade).
    const DELETED: &[u8] = b" (deleted)";

    pub(super) fn analyze(
        followed: &mut FollowedTarget,
        options: &Options,
    ) -> Result<Report, Error> {
        let (pid, start_time) = match &followed.target {
            Target::Pid(pid) => {
                let start_time = start_time_of(*pid)?;
                if let Some((_, first)) = followed.last_seen {
                    if first != start_time {
                        return Err(Error::PidReused { pid: *pid });
                    }
                }
                (*pid, start_time)
            }
            Target::Name(name) => *processes_named(name)?
                .first()
                .ok_or_else(|| Error::NoProcessNamed { name: name.clone() })?,
        };
        let report = analyze_pid(pid, options)?;
        // The PID may have changed hands while it was read: the report must be of the process
        // identified before the read.
        if start_time_of(pid)? != start_time {
            return Err(match &followed.target {
                Target::Pid(pid) => Error::PidReused { pid: *pid },
                Target::Name(_) => Error::NoSuchProcess { pid },
            });
        }
        followed.last_seen = Some((pid, start_time));
        Ok(report)
    }

    fn start_time_of(pid: i32) -> Result<u64, Error> {
        ProcessDir::open(pid)
            .and_then(|process| process.start_time())
            .map_err(|_| Error::NoSuchProcess { pid })
    }

    /// `(pid, start time)` of every live user process named `name`, the earliest started first;
    /// never memanalyzer itself.
    pub(super) fn processes_named(name: &[u8]) -> Result<Vec<(i32, u64)>, Error> {
        let me = std::process::id() as i32;
        let mut found = Vec::new();
        for entry in fs::read_dir("/proc")
            .map_err(|_| Error::NeedsProcfs)?
            .flatten()
        {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<i32>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(process) = ProcessDir::open(pid) else {
                continue;
            };
            let (Ok(status), Ok(start_time)) = (process.status(), process.start_time()) else {
                continue;
            };
            if status.is_kernel_thread() || status.is_zombie() {
                continue;
            }
            let comm = process.comm().unwrap_or_default();
            let exe = process.exe_path().unwrap_or_default();
            if has_name(&comm, &exe, name) {
                found.push((pid, start_time));
            }
        }
        found.sort_by_key(|&(pid, start_time)| (start_time, pid));
        Ok(found)
    }

    /// Whether a process with this `comm` and executable path is called `name`: the full name
    /// as `comm` (or the first 15 bytes of a longer name, as the kernel keeps them), or the
    /// executable's file name.
    pub(super) fn has_name(comm: &[u8], exe: &[u8], name: &[u8]) -> bool {
        if name.is_empty() {
            return false;
        }
        let exe = exe.strip_suffix(DELETED).unwrap_or(exe);
        let file_name = exe.rsplit(|&b| b == b'/').next().unwrap_or(exe);
        comm == name || comm == &name[..name.len().min(COMM_LENGTH)] || file_name == name
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn names_match_comm_its_truncation_or_the_executable() {
            assert!(has_name(b"nginx", b"/usr/sbin/nginx", b"nginx"));
            assert!(has_name(b"worker", b"/usr/sbin/nginx (deleted)", b"nginx"));
            assert!(has_name(
                b"a-very-long-ser",
                b"/opt/x",
                b"a-very-long-service-name"
            ));
            assert!(!has_name(
                b"nginx-helper",
                b"/usr/sbin/nginx-helper",
                b"nginx"
            ));
            assert!(!has_name(b"", b"", b""));
        }

        #[test]
        fn finds_a_process_by_name_but_never_memanalyzer_itself() {
            let mut child = std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap();
            let found = processes_named(b"sleep").unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
            assert!(found.iter().any(|&(pid, _)| pid == child.id() as i32));
            let me = std::fs::read("/proc/self/comm").unwrap();
            let me = me.strip_suffix(b"\n").unwrap_or(&me);
            let mine = processes_named(me).unwrap();
            assert!(mine
                .iter()
                .all(|&(pid, _)| pid != std::process::id() as i32));
        }

        #[test]
        fn a_pid_followed_is_that_process_only() {
            let mut followed = FollowedTarget::new(Target::Pid(std::process::id() as i32));
            followed.analyze(&Options::default()).unwrap();
            // The same PID with another start time: a new process took the PID.
            followed.last_seen = followed.last_seen.map(|(pid, start)| (pid, start + 1));
            assert!(matches!(
                followed.analyze(&Options::default()),
                Err(Error::PidReused { .. })
            ));
        }
    }
}
