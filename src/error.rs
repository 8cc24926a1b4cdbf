//! The failures a user can meet, each worded to say what failed, where, and what to do next.

use std::fmt;
use std::io;

use crate::parse::ParseError;

/// Why a process has no user memory to analyze.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMemoryReason {
    Zombie,
    KernelThread,
    /// Exiting, or otherwise without an address space.
    NoAddressSpace,
}

#[derive(Debug)]
pub enum Error {
    NoSuchProcess { pid: i32 },
    PermissionDenied { pid: i32 },
    NoUserMemory { pid: i32, reason: NoMemoryReason },
    ExitedWhileReading { pid: i32, regions_read: u64 },
    NeedsProcfs,
    Open { path: String, source: io::Error },
    Read { path: String, source: io::Error },
    Parse { path: String, source: ParseError },
    Empty { path: String },
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
            Error::NoUserMemory { pid, reason } => match reason {
                NoMemoryReason::Zombie => write!(
                    f,
                    "process {pid} is a zombie: it has exited and has no user memory left to analyze \
                     (its parent has not yet collected its exit status)"
                ),
                NoMemoryReason::KernelThread => {
                    write!(f, "PID {pid} is a kernel thread: it has no user memory to analyze")
                }
                NoMemoryReason::NoAddressSpace => write!(
                    f,
                    "process {pid} has no user memory to analyze (it is exiting, or has no address space)"
                ),
            },
            Error::ExitedWhileReading { pid, regions_read } => write!(
                f,
                "process {pid} exited while its smaps was being read ({regions_read} regions read): \
                 the breakdown would be partial, so none is shown; run memanalyzer again"
            ),
            Error::NeedsProcfs => write!(
                f,
                "analyzing a live process needs Linux's /proc filesystem, which this system does not have; \
                 analyze a saved smaps file instead: memanalyzer -file PATH"
            ),
            Error::Open { path, source } => match source.kind() {
                io::ErrorKind::NotFound => write!(f, "cannot open {path}: no such file"),
                io::ErrorKind::PermissionDenied => {
                    write!(f, "cannot open {path}: permission denied (check the file's owner and mode)")
                }
                _ => write!(f, "cannot open {path}: {source}"),
            },
            Error::Read { path, source } => match source.raw_os_error() {
                Some(code) if code == nix::libc::EISDIR => {
                    write!(f, "cannot read {path}: it is a directory; pass an smaps file")
                }
                _ => write!(f, "cannot read {path}: {source}"),
            },
            Error::Parse { path, source } => write!(f, "{path} is not valid smaps text: {source}"),
            Error::Empty { path } => write!(
                f,
                "{path} is empty: there are no smaps records to analyze \
                 (capture one with `cat /proc/PID/smaps > FILE`)"
            ),
        }
    }
}

/// No `source()`: each message already states its cause, and `{:#}` would repeat it.
impl std::error::Error for Error {}
