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
    /// Other users' processes are hidden from this one: /proc is mounted with
    /// `hidepid=invisible` (`hidepid=2`) and memanalyzer does not run as root.
    pub others_hidden: bool,
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use nix::errno::Errno;

    use super::{ProcessList, ProcessMemory, ProcessRow, Unreadable};
    use crate::error::Error;
    use crate::input::process::{errno_of, parse_stat, ProcessDir};
    use crate::report::Amounts;
    use crate::smaps::parse_rollup;

    pub(super) fn list_processes() -> Result<ProcessList, Error> {
        let started = Instant::now();
        let entries = fs::read_dir("/proc").map_err(|_| Error::NeedsProcfs)?;
        let pids: Vec<i32> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
        let users = read_users();
        let mut list = ProcessList::default();
        for seen in read_all(&pids, &users) {
            match seen {
                Seen::Process(row) => list.processes.push(row),
                Seen::KernelThread => list.kernel_threads += 1,
                Seen::Gone => {}
            }
        }
        list.sort();
        list.others_hidden = others_hidden();
        list.duration = started.elapsed();
        Ok(list)
    }

    /// Most threads reading `/proc` at once.
    const MAX_READERS: usize = 4;

    /// Reads every process, on as many threads as there are CPUs (up to [`MAX_READERS`]): the
    /// cost is the kernel's walk of each process's page tables for `smaps_rollup`, which runs
    /// on the reading thread's CPU, so a thread per CPU divides the time. The threads take the
    /// next PID from a shared index, so one large process does not hold up a share of the rest.
    fn read_all(pids: &[i32], users: &HashMap<u32, Vec<u8>>) -> Vec<Seen> {
        let readers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_READERS)
            .min(pids.len().div_ceil(64).max(1));
        let next = AtomicUsize::new(0);
        let read_share = || {
            let mut seen = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(&pid) = pids.get(index) else {
                    return seen;
                };
                seen.push(read_process(pid, users));
            }
        };
        if readers == 1 {
            return read_share();
        }
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..readers).map(|_| scope.spawn(read_share)).collect();
            let mut seen = read_share();
            for helper in helpers {
                // A reader only reads files and pushes rows: it has nothing that could panic.
                seen.extend(helper.join().expect("a /proc reader thread panicked"));
            }
            seen
        })
    }

    /// Whether /proc hides other users' processes from us: the procfs mounted on /proc (the
    /// last one, if several are stacked) has `hidepid=invisible` (or `2`), and we are not root
    /// (whom hidepid does not restrict). `/proc/self` belongs to our effective uid.
    fn others_hidden() -> bool {
        use std::os::unix::fs::MetadataExt;
        let is_root = fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0);
        !is_root
            && fs::read("/proc/self/mountinfo")
                .ok()
                .and_then(|mountinfo| proc_hidepid(&mountinfo).map(<[u8]>::to_vec))
                .is_some_and(|hidepid| hidepid == b"invisible" || hidepid == b"2")
    }

    /// The `hidepid=` value of the procfs mounted last on /proc, from `/proc/self/mountinfo`
    /// (`ID PARENT DEV ROOT MOUNTPOINT OPTIONS … - TYPE SOURCE SUPER_OPTIONS`).
    fn proc_hidepid(mountinfo: &[u8]) -> Option<&[u8]> {
        mountinfo
            .rsplit(|&byte| byte == b'\n')
            .find_map(|line| {
                let separator = memchr::memmem::find(line, b" - ")?;
                let (mount, filesystem) = (&line[..separator], &line[separator + 3..]);
                let mount_point = mount.split(|&byte| byte == b' ').nth(4)?;
                let mut filesystem = filesystem.split(|&byte| byte == b' ');
                let is_procfs = filesystem.next()? == b"proc";
                let options = filesystem.nth(1)?;
                (mount_point == b"/proc" && is_procfs).then_some(options)
            })
            .map(|options| {
                options
                    .split(|&byte| byte == b',')
                    .find_map(|option| option.strip_prefix(b"hidepid="))
                    .unwrap_or(b"0")
            })
    }

    enum Seen {
        Process(ProcessRow),
        KernelThread,
        /// Exited while we looked: no longer a process to list.
        Gone,
    }

    fn read_process(pid: i32, users: &HashMap<u32, Vec<u8>>) -> Seen {
        match ProcessDir::open(pid) {
            Ok(process) => read_row(pid, &process, users),
            // /proc mounted with hidepid=1 (noaccess): the directory is listed, but only its
            // owner may look inside. Unreadable, never absent.
            Err(Errno::EACCES | Errno::EPERM) => hidden(pid, None, users),
            Err(_) => Seen::Gone,
        }
    }

    /// A process whose `/proc/<pid>` cannot be looked into: listed as unreadable, with its
    /// owner (the directory's, which `stat` still gives) as the user.
    fn hidden(pid: i32, process: Option<&ProcessDir>, users: &HashMap<u32, Vec<u8>>) -> Seen {
        let owner = match process {
            Some(process) => process.owner(),
            None => std::fs::metadata(format!("/proc/{pid}"))
                .ok()
                .map(|metadata| std::os::unix::fs::MetadataExt::uid(&metadata)),
        };
        Seen::Process(ProcessRow {
            pid,
            user: owner.map(|uid| user_name(uid, users)),
            command: None,
            memory: Err(Unreadable::PermissionDenied),
        })
    }

    fn user_name(uid: u32, users: &HashMap<u32, Vec<u8>>) -> Vec<u8> {
        users
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string().into_bytes())
    }

    /// One row, every file read through `process`: a PID reused meanwhile by another process
    /// can make the reads fail, never mix two processes in one row.
    fn read_row(pid: i32, process: &ProcessDir, users: &HashMap<u32, Vec<u8>>) -> Seen {
        // One read of `stat` gives the state, the flags and the name (the same bytes as `comm`).
        let stat = match process.read("stat").map_err(errno_of) {
            Ok(stat) => stat,
            Err(Errno::EACCES | Errno::EPERM) => return hidden(pid, Some(process), users),
            Err(_) => return Seen::Gone,
        };
        let Some(status) = parse_stat(&stat) else {
            return Seen::Gone;
        };
        if status.is_kernel_thread() {
            return Seen::KernelThread;
        }
        let user = process.real_uid().map(|uid| user_name(uid, users));
        let memory = if status.is_zombie() {
            Err(Unreadable::Zombie)
        } else {
            match read_rollup(process) {
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
            command: command_of_stat(&stat),
            memory,
        })
    }

    /// The process name from `/proc/<pid>/stat`: field 2, between the first `(` and the last
    /// `)` (the name may hold either). The kernel prints it exactly as it prints `comm`.
    fn command_of_stat(stat: &[u8]) -> Option<Vec<u8>> {
        let open = stat.iter().position(|&b| b == b'(')?;
        let close = stat.iter().rposition(|&b| b == b')')?;
        (open < close).then(|| stat[open + 1..close].to_vec())
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
        fn finds_the_hidepid_option_of_the_procfs_on_proc() {
            let mountinfo = b"48 46 0:21 / /proc rw,relatime - proc proc rw\n\
                25 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                66 48 0:40 / /proc rw,relatime - proc proc rw,hidepid=invisible\n";
            assert_eq!(proc_hidepid(mountinfo), Some(&b"invisible"[..]));
            assert_eq!(
                proc_hidepid(b"48 46 0:21 / /proc rw - proc proc rw,hidepid=1,gid=4\n"),
                Some(&b"1"[..])
            );
            assert_eq!(
                proc_hidepid(b"48 46 0:21 / /proc rw - proc proc rw\n"),
                Some(&b"0"[..])
            );
            assert_eq!(proc_hidepid(b"25 1 8:1 / / rw - ext4 /dev/sda1 rw\n"), None);
        }

        #[test]
        fn the_command_is_read_from_stat_as_comm_prints_it() {
            let stat = b"1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20";
            assert_eq!(
                command_of_stat(stat).as_deref(),
                Some(&b"my (odd) prog"[..])
            );
            assert_eq!(command_of_stat(b"1 () S 0").as_deref(), Some(&b""[..]));
            assert_eq!(command_of_stat(b"1 ) S ("), None);
            let me = ProcessDir::open_self().unwrap();
            assert_eq!(
                command_of_stat(&me.read("stat").unwrap()),
                me.comm(),
                "the same bytes as /proc/self/comm"
            );
        }

        #[test]
        fn reads_users() {
            assert_eq!(read_users().get(&0).map(Vec::as_slice), Some(&b"root"[..]));
        }

        /// Writes a directory laid out as `/proc/<pid>` for a process named `comm`, run by
        /// `uid`, with `rss_kb` resident.
        fn fake_process(dir: &std::path::Path, comm: &str, uid: u32, rss_kb: u64) {
            fs::create_dir(dir).unwrap();
            let file = |name: &str, text: String| fs::write(dir.join(name), text).unwrap();
            file(
                "stat",
                format!("4242 ({comm}) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5"),
            );
            file(
                "status",
                format!("Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
            );
            file("comm", format!("{comm}\n"));
            file(
                "smaps_rollup",
                format!(
                    "00400000-7ffd00000000 ---p 00000000 00:00 0 [rollup]\n\
                     Rss: {rss_kb} kB\nPss: {rss_kb} kB\nPrivate_Dirty: {rss_kb} kB\n"
                ),
            );
        }

        /// The PID is reused while its row is read: the old process's directory goes away and
        /// a new one takes its place. Every field of the row still comes from the process the
        /// handle was opened on, never some from one process and some from the other.
        #[test]
        fn a_row_is_read_through_one_handle_when_the_pid_is_reused() {
            let proc_root = tempfile::tempdir().unwrap();
            let path = proc_root.path().join("4242");
            fake_process(&path, "old-name", 1000, 100);
            let handle = ProcessDir::open_dir(&path).unwrap();
            fs::rename(&path, proc_root.path().join("exited")).unwrap();
            fake_process(&path, "newcomer", 0, 1);
            let users = HashMap::from([(0, b"root".to_vec()), (1000, b"alice".to_vec())]);
            let Seen::Process(row) = read_row(4242, &handle, &users) else {
                panic!("the process is not listed");
            };
            assert_eq!(row.command.as_deref(), Some(&b"old-name"[..]));
            assert_eq!(row.user.as_deref(), Some(&b"alice"[..]));
            assert_eq!(row.memory.map(|memory| memory.rss), Ok(100 * 1024));
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
