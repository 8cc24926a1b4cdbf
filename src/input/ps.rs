//! `-ps`: the processes this user can see, with their memory from `smaps_rollup` (about four
//! times cheaper for the kernel than smaps). In a container this is how people find the PID to
//! analyze. A process that cannot be read is listed as such, never dropped or shown as zero;
//! each row is read through one handle on `/proc/<pid>`.

use std::fmt;
use std::time::Duration;

use crate::error::Error;

/// Memory of one process, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Resident set.
    pub rss: u64,
    /// Proportional set.
    pub pss: u64,
    /// Private_Clean + Private_Dirty.
    pub uss: u64,
    /// Swapped out.
    pub swap: u64,
}

/// Why a process's memory could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// Another user's process, without root or CAP_SYS_PTRACE.
    PermissionDenied,
    /// A zombie has no memory left.
    Zombie,
    /// `smaps_rollup` held no figures.
    NoFigures,
    /// Anything else: the system's description of the failure.
    Failed(String),
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::PermissionDenied => f.write_str("permission denied"),
            Unreadable::Zombie => f.write_str("zombie: no memory left"),
            Unreadable::NoFigures => f.write_str("no smaps_rollup figures"),
            Unreadable::Failed(reason) => f.write_str(reason),
        }
    }
}

/// One process of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessRow {
    /// Its PID.
    pub pid: i32,
    /// The user name from /etc/passwd, else the numeric uid; `None` when unknown. Raw bytes.
    pub user: Option<Vec<u8>>,
    /// The process name (`/proc/<pid>/comm`), raw bytes; `None` when unreadable.
    pub command: Option<Vec<u8>>,
    /// The memory, or why it could not be read.
    pub memory: Result<ProcessMemory, Unreadable>,
}

/// Every process this user can see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessList {
    /// Readable processes by PSS (largest first), then the unreadable ones by PID.
    pub processes: Vec<ProcessRow>,
    /// Kernel threads have no user memory and are not listed.
    pub kernel_threads: usize,
    /// With `-cgroup`: the processes grouped by memory cgroup, largest usage first
    /// ([`crate::group_by_cgroup`]); empty otherwise.
    pub cgroups: Vec<crate::container::CgroupGroup>,
    /// Time taken to read them.
    pub duration: Duration,
}

impl ProcessList {
    /// The sum over the readable processes.
    pub fn total(&self) -> ProcessMemory {
        self.processes
            .iter()
            .filter_map(|row| row.memory.as_ref().ok())
            .fold(ProcessMemory::default(), |sum, memory| ProcessMemory {
                rss: sum.rss + memory.rss,
                pss: sum.pss + memory.pss,
                uss: sum.uss + memory.uss,
                swap: sum.swap + memory.swap,
            })
    }

    /// How many processes could not be read.
    pub fn unreadable(&self) -> usize {
        self.processes
            .iter()
            .filter(|row| row.memory.is_err())
            .count()
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only Linux lists processes
    fn sort(&mut self) {
        self.processes.sort_by(|a, b| match (&a.memory, &b.memory) {
            (Ok(a_memory), Ok(b_memory)) => b_memory.pss.cmp(&a_memory.pss).then(a.pid.cmp(&b.pid)),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(_), Err(_)) => a.pid.cmp(&b.pid),
        });
    }
}

/// Lists every process in `/proc` (Linux only).
pub fn list_processes() -> Result<ProcessList, Error> {
    #[cfg(target_os = "linux")]
    {
        linux::list_processes()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(Error::NeedsProcfs)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::HashMap;
    use std::fs;
    use std::time::Instant;

    use nix::errno::Errno;

    use super::{ProcessList, ProcessMemory, ProcessRow, Unreadable};
    use crate::error::Error;
    use crate::input::process::{errno_of, ProcessDir};
    use crate::report::Amounts;
    use crate::smaps::parse_rollup;

    pub(super) fn list_processes() -> Result<ProcessList, Error> {
        let started = Instant::now();
        let entries = fs::read_dir("/proc").map_err(|_| Error::NeedsProcfs)?;
        let users = read_users();
        let mut list = ProcessList::default();
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<i32>().ok())
            else {
                continue;
            };
            match read_process(pid, &users) {
                Seen::Process(row) => list.processes.push(row),
                Seen::KernelThread => list.kernel_threads += 1,
                Seen::Gone => {}
            }
        }
        list.sort();
        list.duration = started.elapsed();
        Ok(list)
    }

    enum Seen {
        Process(ProcessRow),
        KernelThread,
        /// Exited while we looked: no longer a process to list.
        Gone,
    }

    fn read_process(pid: i32, users: &HashMap<u32, Vec<u8>>) -> Seen {
        let Ok(process) = ProcessDir::open(pid) else {
            return Seen::Gone;
        };
        let Ok(status) = process.status() else {
            return Seen::Gone;
        };
        if status.is_kernel_thread() {
            return Seen::KernelThread;
        }
        let user = process.real_uid().map(|uid| {
            users
                .get(&uid)
                .cloned()
                .unwrap_or_else(|| uid.to_string().into_bytes())
        });
        let memory = if status.is_zombie() {
            Err(Unreadable::Zombie)
        } else {
            match read_rollup(&process) {
                Ok(memory) => Ok(memory),
                Err(Errno::ENOENT | Errno::ESRCH) => return Seen::Gone,
                Err(Errno::EACCES | Errno::EPERM) => Err(Unreadable::PermissionDenied),
                Err(Errno::ENODATA) => Err(Unreadable::NoFigures),
                Err(other) => Err(Unreadable::Failed(other.desc().to_string())),
            }
        };
        Seen::Process(ProcessRow {
            pid,
            user,
            command: process.comm(),
            memory,
        })
    }

    /// Rss, Pss, USS and Swap from `smaps_rollup`; ENODATA when it holds no figures.
    fn read_rollup(process: &ProcessDir) -> Result<ProcessMemory, Errno> {
        let text = process.read("smaps_rollup").map_err(errno_of)?;
        let fields = parse_rollup(&text).map_err(|_| Errno::ENODATA)?;
        let amounts = Amounts::of_fields(&fields);
        Ok(ProcessMemory {
            rss: amounts.rss,
            pss: amounts.pss,
            uss: amounts.private,
            swap: amounts.swap,
        })
    }

    /// uid → name from /etc/passwd. Read directly rather than through NSS, which a static binary
    /// cannot use; in a distroless image without /etc/passwd the uid is shown.
    fn read_users() -> HashMap<u32, Vec<u8>> {
        fs::read("/etc/passwd")
            .unwrap_or_default()
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let mut fields = line.split(|&b| b == b':');
                let name = fields.next()?;
                let uid = std::str::from_utf8(fields.nth(1)?).ok()?.parse().ok()?;
                Some((uid, name.to_vec()))
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_users() {
            assert_eq!(read_users().get(&0).map(Vec::as_slice), Some(&b"root"[..]));
        }

        #[test]
        fn lists_this_process_with_its_memory() {
            let list = list_processes().unwrap();
            let me = std::process::id() as i32;
            let row = list
                .processes
                .iter()
                .find(|row| row.pid == me)
                .expect("our own process is listed");
            let memory = row.memory.as_ref().expect("our own memory is readable");
            assert!(memory.rss > 0 && memory.pss > 0 && memory.uss > 0);
            assert!(list.total().rss >= memory.rss);
        }
    }
}
