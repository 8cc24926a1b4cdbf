//! The container view: what the target's cgroup says about memory, beyond the processes' RSS —
//! the limit the OOM killer enforces, the usage decomposed into rows that add up (anonymous
//! memory, page cache, tmpfs, kernel memory, socket buffers), the working set `kubectl top`
//! shows, what no process accounts for, and whom the OOM killer would pick.
//!
//! `parse.rs` reads the files' formats (no I/O); `locate.rs` finds the target's cgroup directory
//! (this mount namespace, or the target's own through `/proc/<pid>/root` in a sidecar);
//! `read.rs` reads cgroup v2 or v1 into the [`Container`] model; `members.rs` reads the
//! processes in the cgroup. Every path is resolved under a [`CgroupFs`] root, so tests can point
//! it at a tree of files.

mod groups;
mod locate;
mod members;
mod parse;
mod read;

use std::fmt;
use std::path::{Path, PathBuf};

pub use groups::{group_by_cgroup, CgroupFigures, CgroupGroup};
pub use parse::{Pressure, Stall};

/// Where the `/proc` and cgroup files are: the root directory every absolute path is read
/// under (`/` on a live system; a directory of files in tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupFs {
    root: PathBuf,
}

impl Default for CgroupFs {
    fn default() -> CgroupFs {
        CgroupFs::at("/")
    }
}

impl CgroupFs {
    /// Reads `/proc/…` and the cgroup mounts as `root/proc/…` and `root/<mount point>/…`.
    pub fn at(root: impl Into<PathBuf>) -> CgroupFs {
        CgroupFs { root: root.into() }
    }

    /// `path` (absolute, raw bytes) under the root.
    fn path(&self, path: &[u8]) -> PathBuf {
        let relative = path.strip_prefix(b"/").unwrap_or(path);
        self.root.join(bytes_to_path(relative))
    }
}

#[cfg(unix)]
fn bytes_to_path(bytes: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn bytes_to_path(bytes: &[u8]) -> &Path {
    // Paths of a Linux system read on another one: only valid UTF-8 can name a file there.
    Path::new(std::str::from_utf8(bytes).unwrap_or("\u{fffd}"))
}

/// Which cgroup interface the memory figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The unified hierarchy (`memory.current`, `memory.max`, …): what Kubernetes uses today.
    V2,
    /// The legacy memory controller (`memory.usage_in_bytes`, `memory.limit_in_bytes`, …).
    V1,
}

impl CgroupVersion {
    /// `v2` or `v1`.
    pub fn key(self) -> &'static str {
        match self {
            CgroupVersion::V2 => "v2",
            CgroupVersion::V1 => "v1",
        }
    }
}

/// One row of the usage's decomposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRow {
    /// Stable key (`anon`, `file.inactive`, `kernel.slab_unreclaimable`, `sock`, `other`, …).
    pub key: &'static str,
    /// What people read.
    pub label: &'static str,
    /// Bytes charged to the cgroup.
    pub bytes: u64,
}

/// The OOM events the cgroup has seen (`memory.events`; v1 has only `oom_kill`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryEvents {
    /// Times usage went over `memory.high` (throttled and reclaimed).
    pub high: Option<u64>,
    /// Times usage was about to go over `memory.max` (reclaim was forced).
    pub max: Option<u64>,
    /// Times the cgroup hit its limit and reclaim failed.
    pub oom: Option<u64>,
    /// Processes the OOM killer killed in the cgroup.
    pub oom_kill: Option<u64>,
}

/// Swap use and limit (`memory.swap.*`; v1: `memory.memsw.*` minus memory).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwapUsage {
    /// Swapped-out bytes charged to the cgroup.
    pub current: u64,
    /// The limit; `None` when there is none.
    pub max: Option<u64>,
}

/// A process in the cgroup, with what the OOM killer goes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its PID (as this process sees it).
    pub pid: i32,
    /// `/proc/<pid>/comm`, raw bytes.
    pub comm: Option<Vec<u8>>,
    /// Its resident and proportional memory from `smaps_rollup`, or why it could not be read.
    pub memory: Result<MemberMemory, String>,
    /// `/proc/<pid>/oom_score` (0–2000: the OOM killer's badness, higher dies first).
    pub oom_score: Option<i64>,
    /// `/proc/<pid>/oom_score_adj` (−1000 means never).
    pub oom_score_adj: Option<i64>,
}

/// A member process's memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberMemory {
    /// Resident set.
    pub rss: u64,
    /// Proportional set.
    pub pss: u64,
}

/// What the OOM killer would do when the cgroup reaches its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OomVerdict {
    /// `memory.oom.group` is set: every process of the cgroup dies together.
    WholeGroup,
    /// This process has the highest `oom_score` of the cgroup's processes that can be killed.
    Kills {
        /// Its PID.
        pid: i32,
        /// Its name.
        comm: Option<Vec<u8>>,
        /// Its `oom_score`.
        oom_score: i64,
    },
    /// Every process is protected (`oom_score_adj` −1000), or none could be read.
    NoCandidate,
}

/// The cgroup of the analyzed process, as the kernel accounts its memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// v2 or v1.
    pub version: CgroupVersion,
    /// The cgroup's path as `/proc/<pid>/cgroup` gives it (raw bytes).
    pub path: Vec<u8>,
    /// The directory its files were read from.
    pub directory: PathBuf,
    /// The process is in the root cgroup: there is no container limit.
    pub is_root: bool,
    /// `memory.max` (v1: `memory.limit_in_bytes`); `None` when unlimited.
    pub limit: Option<u64>,
    /// `memory.high` (v2): above it the cgroup is throttled and reclaimed; `None` when unset.
    pub high: Option<u64>,
    /// `memory.current` (v1: `memory.usage_in_bytes`).
    pub usage: u64,
    /// `memory.peak` (v1: `memory.max_usage_in_bytes`), when the kernel has it.
    pub peak: Option<u64>,
    /// Swap, when the kernel accounts it.
    pub swap: Option<SwapUsage>,
    /// OOM and throttling events.
    pub events: MemoryEvents,
    /// `memory.pressure` (v2 with PSI).
    pub pressure: Option<Pressure>,
    /// `usage` decomposed: the rows add up exactly to `usage` (the last row, `other`, is what
    /// `memory.stat` does not itemize).
    pub rows: Vec<UsageRow>,
    /// Socket buffers kept outside `usage` (cgroup v1 counts them in `memory.kmem.tcp` only).
    pub sockets_outside_usage: Option<u64>,
    /// The kubelet's and `kubectl top`'s working set: usage minus inactive page cache.
    pub working_set: u64,
    /// What the kernel could reclaim under pressure, at most: page cache and reclaimable slab.
    pub reclaimable: u64,
    /// The processes in the cgroup (and its children).
    pub members: Vec<Member>,
    /// Usage that no process's PSS accounts for, decomposed (page cache not mapped, tmpfs,
    /// kernel memory, sockets, and the rest: charges left by exited processes and the like).
    pub outside_processes: Vec<UsageRow>,
    /// `memory.oom.group` (v2).
    pub oom_group: bool,
}

impl Container {
    /// The sum of the member processes' PSS.
    pub fn members_pss(&self) -> u64 {
        self.members
            .iter()
            .filter_map(|member| member.memory.as_ref().ok())
            .map(|memory| memory.pss)
            .sum()
    }

    /// How much more the cgroup may use before it reaches its limit.
    pub fn headroom(&self) -> Option<u64> {
        self.limit.map(|limit| limit.saturating_sub(self.usage))
    }

    /// What the OOM killer would do at the limit.
    pub fn oom_verdict(&self) -> OomVerdict {
        if self.oom_group {
            return OomVerdict::WholeGroup;
        }
        self.members
            .iter()
            .filter(|member| member.oom_score_adj != Some(-1000))
            .filter_map(|member| Some((member, member.oom_score?)))
            // oom_score is rounded; among equal scores the kernel's badness follows the memory.
            .max_by_key(|(member, score)| {
                let rss = member.memory.as_ref().map_or(0, |memory| memory.rss);
                (*score, rss, std::cmp::Reverse(member.pid))
            })
            .map_or(OomVerdict::NoCandidate, |(member, oom_score)| {
                OomVerdict::Kills {
                    pid: member.pid,
                    comm: member.comm.clone(),
                    oom_score,
                }
            })
    }
}

/// Why the container view could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContainerError {
    /// No cgroup filesystem with a memory controller is mounted.
    NoCgroupFs,
    /// `/proc/<pid>/cgroup` could not be read.
    Membership {
        /// The process.
        pid: i32,
        /// What the system said.
        reason: String,
    },
    /// The cgroup's directory is not reachable from here (a sidecar without the target's mounts).
    NotInThisNamespace {
        /// The process.
        pid: i32,
        /// The cgroup path `/proc/<pid>/cgroup` gives.
        path: Vec<u8>,
    },
    /// The cgroup's files exist but cannot be read.
    PermissionDenied {
        /// The file.
        file: PathBuf,
    },
    /// A file holds something else than its format.
    Malformed {
        /// The file.
        file: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

impl fmt::Display for ContainerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::render::escape::for_terminal;
        let shown = |path: &Path| for_terminal(path.as_os_str().as_encoded_bytes());
        match self {
            ContainerError::NoCgroupFs => f.write_str(
                "no cgroup filesystem with the memory controller is mounted here \
                 (expected cgroup2 or a v1 'memory' hierarchy in /proc/self/mountinfo)",
            ),
            ContainerError::Membership { pid, reason } => {
                write!(f, "cannot read /proc/{pid}/cgroup: {reason}")
            }
            ContainerError::NotInThisNamespace { pid, path } => write!(
                f,
                "the cgroup of process {pid} ({}) does not exist in this mount namespace, \
                 and /proc/{pid}/root/sys/fs/cgroup does not show it either: run memanalyzer in \
                 the target's container, or share its process namespace \
                 (shareProcessNamespace: true in the pod) with the same user or CAP_SYS_PTRACE",
                for_terminal(path)
            ),
            ContainerError::PermissionDenied { file } => write!(
                f,
                "permission denied reading {}: run as the target's user or as root",
                shown(file)
            ),
            ContainerError::Malformed { file, reason } => {
                write!(
                    f,
                    "{} is not what the kernel writes there: {reason}",
                    shown(file)
                )
            }
        }
    }
}

impl std::error::Error for ContainerError {}

/// Reads the container view of process `pid`'s cgroup.
pub fn read_container(pid: i32, fs: &CgroupFs) -> Result<Container, ContainerError> {
    let located = locate::locate(pid, fs)?;
    let mut container = read::read(&located)?;
    container.members = members::read_members(fs, &located.directory);
    container.outside_processes = read::outside_processes(&container, &located.stat);
    Ok(container)
}
