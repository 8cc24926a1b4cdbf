//! The failures a user can meet, each worded to say what failed, where, and what to do next.
//! The underlying I/O or parse error is kept as the `source()`, and not repeated in the message.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::render::escape::for_terminal;
use crate::smaps::ParseError;

/// Why a process has no user memory to analyze.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoMemoryReason {
    /// It has exited; its parent has not collected its status yet.
    Zombie,
    /// A kernel thread has no user address space.
    KernelThread,
}

/// Why an analysis failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No process has this PID (or `/proc` hides it).
    NoSuchProcess {
        /// The PID asked for.
        pid: i32,
    },
    /// The process's smaps cannot be read by this user.
    PermissionDenied {
        /// The PID asked for.
        pid: i32,
    },
    /// The process runs as this user but is not dumpable, so only CAP_SYS_PTRACE may read it.
    NotDumpable {
        /// The PID asked for.
        pid: i32,
    },
    /// The smaps was refused although memanalyzer has CAP_SYS_PTRACE: a security module or a
    /// sandbox forbids it.
    DeniedByPolicy {
        /// The PID asked for.
        pid: i32,
    },
    /// The process has no user memory.
    NoUserMemory {
        /// The PID asked for.
        pid: i32,
        /// Why.
        reason: NoMemoryReason,
    },
    /// The process exited while its smaps was being read: the result would be partial.
    ExitedWhileReading {
        /// The PID asked for.
        pid: i32,
        /// How many regions were read before the end.
        regions_read: u64,
    },
    /// The process replaced its address space (`execve`) while its smaps was being read: the
    /// result would be partial.
    ReplacedWhileReading {
        /// The PID asked for.
        pid: i32,
        /// How many regions of the old address space were read before the end.
        regions_read: u64,
    },
    /// No running process has this name (`-name`): it has not started yet, or is restarting.
    NoProcessNamed {
        /// The name asked for, raw bytes.
        name: Vec<u8>,
    },
    /// The process followed at this PID has exited and a new process now has the PID.
    PidReused {
        /// The PID asked for.
        pid: i32,
    },
    /// Live analysis needs Linux's `/proc`.
    NeedsProcfs,
    /// A file could not be opened.
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file or stream could not be read.
    Read {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The text is not smaps.
    Parse {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// What is wrong, and where.
        source: ParseError,
    },
    /// The container view (`-cgroup`) could not be read.
    Container {
        /// The PID asked for.
        pid: i32,
        /// What went wrong.
        source: crate::container::ContainerError,
    },
    /// The input holds no records.
    Empty {
        /// The file (`-` for standard input).
        path: PathBuf,
    },
}

/// A path for a message: escaped, so a newline or ESC in it cannot break the line.
fn shown(path: &std::path::Path) -> String {
    for_terminal(path.as_os_str().as_encoded_bytes())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSuchProcess { pid } => write!(
                f,
                "no process with PID {pid}: it has exited, never existed, or /proc hides it (hidepid); \
                 in a container the main process is usually PID 1 (try `memanalyzer -pid 1`)"
            ),
            Error::PermissionDenied { pid } => write!(
                f,
                "permission denied reading /proc/{pid}/smaps: reading another user's process needs the \
                 same user or root (CAP_SYS_PTRACE); in Kubernetes, run memanalyzer in the same container \
                 (kubectl exec) or from a debug container with a suitable profile \
                 (kubectl debug --profile=general --target=CONTAINER)"
            ),
            Error::NotDumpable { pid } => write!(
                f,
                "permission denied reading /proc/{pid}/smaps: process {pid} runs as this user but \
                 is not dumpable (it called prctl(PR_SET_DUMPABLE, 0), or changed its user or \
                 group ids), so the kernel lets only root with CAP_SYS_PTRACE read its memory map; \
                 run memanalyzer as root (sudo) or with CAP_SYS_PTRACE"
            ),
            Error::DeniedByPolicy { pid } => write!(
                f,
                "permission denied reading /proc/{pid}/smaps although memanalyzer has \
                 CAP_SYS_PTRACE: a security policy (a security module such as AppArmor, SELinux \
                 or Landlock, or a sandbox) forbids reading process {pid}'s memory map; check the \
                 policy and its audit log"
            ),
            Error::NoUserMemory { pid, reason } => match reason {
                NoMemoryReason::Zombie => write!(
                    f,
                    "process {pid} is a zombie: it has exited and has no user memory left to analyze \
                     (its parent has not yet collected its exit status)"
                ),
                NoMemoryReason::KernelThread => {
                    write!(f, "PID {pid} is a kernel thread: it has no user memory to analyze")
                }
            },
            Error::ExitedWhileReading { pid, regions_read } => write!(
                f,
                "process {pid} exited while its smaps was being read ({regions_read} regions read): \
                 the breakdown would be partial, so none is shown; run memanalyzer again"
            ),
            Error::ReplacedWhileReading { pid, regions_read } => write!(
                f,
                "process {pid} ran a new program (execve) while its smaps was being read \
                 ({regions_read} regions of the old program read): the breakdown would be partial, \
                 so none is shown; run memanalyzer again"
            ),
            Error::NoProcessNamed { name } => write!(
                f,
                "no process named {} is running: it has not started yet, or is restarting \
                 (a process matches when its name in /proc/PID/comm or its executable's file name \
                 is this name; `memanalyzer -ps` lists them)",
                for_terminal(name)
            ),
            Error::PidReused { pid } => write!(
                f,
                "the process with PID {pid} has exited and PID {pid} now belongs to another process, \
                 which memanalyzer does not analyze in its place; to follow a process across \
                 restarts, give its name (-name NAME) instead of its PID"
            ),
            Error::NeedsProcfs => write!(
                f,
                "analyzing a live process needs Linux's /proc filesystem, which this system does not have; \
                 analyze a saved smaps file instead: memanalyzer -file PATH"
            ),
            Error::Open { path, source } => match source.kind() {
                io::ErrorKind::NotFound => write!(f, "cannot open {}: no such file", shown(path)),
                io::ErrorKind::PermissionDenied => write!(
                    f,
                    "cannot open {}: permission denied (check the file's owner and mode)",
                    shown(path)
                ),
                _ => write!(f, "cannot open {}", shown(path)),
            },
            Error::Read { path, source } => match source.kind() {
                io::ErrorKind::IsADirectory => {
                    write!(f, "cannot read {}: it is a directory; pass an smaps file", shown(path))
                }
                _ => write!(f, "cannot read {}", shown(path)),
            },
            Error::Parse { path, .. } => write!(f, "{} is not valid smaps text", shown(path)),
            Error::Container { pid, .. } => {
                write!(f, "cannot show the container view of process {pid}")
            }
            Error::Empty { path } => write!(
                f,
                "{} is empty: there are no smaps records to analyze \
                 (capture one with `cat /proc/PID/smaps > FILE`)",
                shown(path)
            ),
        }
    }
}

impl std::error::Error for Error {
    /// The I/O or parse error behind the message, where the message does not already state it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Open { source, .. } | Error::Read { source, .. } if !self.states_cause() => {
                Some(source)
            }
            Error::Parse { source, .. } => Some(source),
            Error::Container { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Error {
    /// Whether the message already says what the I/O error would (no such file, a directory).
    fn states_cause(&self) -> bool {
        match self {
            Error::Open { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ),
            Error::Read { source, .. } => source.kind() == io::ErrorKind::IsADirectory,
            _ => false,
        }
    }

    /// The underlying I/O error, if the failure was one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Open { source, .. } | Error::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// Every message and its causes on one line, as the binary prints them.
    fn chain(error: &Error) -> String {
        let mut text = error.to_string();
        let mut cause = error.source();
        while let Some(next) = cause {
            text.push_str(": ");
            text.push_str(&next.to_string());
            cause = next.source();
        }
        text
    }

    #[test]
    fn each_cause_is_stated_once() {
        let missing = Error::Open {
            path: "/x".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(chain(&missing), "cannot open /x: no such file");
        assert!(missing.io_error().is_some());
        let other = Error::Read {
            path: "/dev/x".into(),
            source: io::Error::other("device went away"),
        };
        assert_eq!(chain(&other), "cannot read /dev/x: device went away");
        let escaped = Error::Empty {
            path: "a\nb".into(),
        };
        assert!(!escaped.to_string().contains('\n'));
    }
}
