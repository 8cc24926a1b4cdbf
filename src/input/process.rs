//! A handle on `/proc/<pid>`: everything about a live process is read through it, read-only, so
//! a PID reused by a new process after ours exits is never mistaken for it (a file opened
//! through the handle of a process that has gone fails instead of reading the newcomer's).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::Mode;

use super::elf::{ExecutableFacts, LastRead};

/// The kernel's PF_KTHREAD flag in `/proc/<pid>/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;
/// PF_EXITING: set from the start of exit, while the state letter can still say `R`.
const PF_EXITING: u64 = 0x0000_0004;

/// The executable analyzed last, kept while its file is unchanged.
static LAST_EXECUTABLE: LastRead<FileIdentity> = LastRead::new();

/// What tells one executable file, or a rewritten one, from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl FileIdentity {
    fn of(metadata: &std::fs::Metadata) -> FileIdentity {
        use std::os::unix::fs::MetadataExt;
        FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

/// A handle on `/proc/<pid>`, valid for that one process even if its PID is later reused.
pub(crate) struct ProcessDir {
    dir: OwnedFd,
}

/// The process's state letter and flags from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessStatus {
    pub state: u8,
    pub flags: u64,
}

/// A process's user and group ids: real, effective, saved and filesystem, as `status` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Credentials {
    uids: [u32; 4],
    gids: [u32; 4],
    /// The effective capability set (`CapEff:`), one bit per capability.
    cap_effective: u64,
}

/// CAP_SYS_PTRACE's bit: it lets a process read any other's smaps.
const CAP_SYS_PTRACE: u64 = 1 << 19;

impl Credentials {
    /// The filesystem uid: the one the kernel checks when this process opens another's smaps.
    pub(crate) fn fs_uid(&self) -> u32 {
        self.uids[3]
    }

    /// The filesystem gid, likewise.
    pub(crate) fn fs_gid(&self) -> u32 {
        self.gids[3]
    }

    /// Whether CAP_SYS_PTRACE is effective.
    pub(crate) fn can_ptrace(&self) -> bool {
        self.cap_effective & CAP_SYS_PTRACE != 0
    }

    /// Whether the real, effective and saved ids all are `uid` and `gid`: then the kernel's
    /// same-user rule for reading smaps holds, and only non-dumpability can refuse it.
    pub(crate) fn all_equal_to(&self, uid: u32, gid: u32) -> bool {
        self.uids[..3].iter().all(|&id| id == uid) && self.gids[..3].iter().all(|&id| id == gid)
    }
}

impl ProcessStatus {
    pub(crate) fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }

    /// Exiting or exited: PF_EXITING is set, or the state is `Z` (zombie) or `X` (dead). Its
    /// address space is being torn down or gone, so a read of its smaps may have been cut short.
    pub(crate) fn has_exited(&self) -> bool {
        self.is_zombie() || self.flags & PF_EXITING != 0
    }

    pub(crate) fn is_zombie(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }
}

impl ProcessDir {
    pub(crate) fn open(pid: i32) -> Result<ProcessDir, Errno> {
        ProcessDir::open_dir(format!("/proc/{pid}").as_ref())
    }

    /// A handle on a directory laid out as `/proc/<pid>` (tests use one they made).
    pub(crate) fn open_dir(path: &std::path::Path) -> Result<ProcessDir, Errno> {
        let dir = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ProcessDir { dir })
    }

    /// Opens a file inside the directory read-only.
    pub(crate) fn open_file(&self, name: &str) -> Result<File, Errno> {
        let fd = openat(
            &self.dir,
            name,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// A whole (small) file of the directory.
    pub(crate) fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(1024);
        self.open_file(name)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// The executable's path as the kernel prints it in smaps (with ` (deleted)` if it was deleted).
    pub(crate) fn exe_path(&self) -> Option<Vec<u8>> {
        let target = readlinkat(&self.dir, "exe").ok()?;
        Some(OsStr::new(&target).as_bytes().to_vec())
    }

    /// What the executable file says, read from its first bytes only.
    pub(crate) fn executable_facts(&self) -> ExecutableFacts {
        let Ok(exe) = self.open_file("exe") else {
            return ExecutableFacts::default();
        };
        let read = || ExecutableFacts::read(&exe, &crate::runtime::executable_clues());
        match exe.metadata() {
            Ok(metadata) => LAST_EXECUTABLE.get_or_read(FileIdentity::of(&metadata), read),
            Err(_) => read(),
        }
    }

    /// The process's name, raw bytes (a process can set any bytes).
    pub(crate) fn comm(&self) -> Option<Vec<u8>> {
        let mut comm = self.read("comm").ok()?;
        if comm.last() == Some(&b'\n') {
            comm.pop();
        }
        Some(comm)
    }

    /// `Err` once the process is gone (its directory handle then refuses every open), or when
    /// `/proc` hides it.
    pub(crate) fn status(&self) -> Result<ProcessStatus, Errno> {
        let text = self.read("stat").map_err(errno_of)?;
        parse_stat(&text).ok_or(Errno::ESRCH)
    }

    /// A second handle on the same directory.
    pub(crate) fn try_clone(&self) -> io::Result<ProcessDir> {
        Ok(ProcessDir {
            dir: self.dir.try_clone()?,
        })
    }

    /// `/proc/self`, for our own credentials.
    pub(crate) fn open_self() -> Result<ProcessDir, Errno> {
        ProcessDir::open(std::process::id() as i32)
    }

    /// The directory of thread `tid` of this process (`task/TID`), opened through this handle:
    /// a thread of any other process is not found there.
    pub(crate) fn task(&self, tid: i32) -> Result<ProcessDir, Errno> {
        let dir = openat(
            &self.dir,
            format!("task/{tid}").as_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ProcessDir { dir })
    }

    /// The user and group ids from `/proc/<pid>/status` (readable whatever the permissions on
    /// the process's memory).
    pub(crate) fn credentials(&self) -> Option<Credentials> {
        let status = self.read("status").ok()?;
        let ids = |key: &[u8]| -> Option<[u32; 4]> {
            let line = status
                .split(|&b| b == b'\n')
                .find_map(|line| line.strip_prefix(key))?;
            let mut values = std::str::from_utf8(line).ok()?.split_whitespace();
            let mut ids = [0u32; 4];
            for id in &mut ids {
                *id = values.next()?.parse().ok()?;
            }
            Some(ids)
        };
        let cap_effective = status
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(b"CapEff:"))
            .and_then(|hex| u64::from_str_radix(std::str::from_utf8(hex).ok()?.trim(), 16).ok())?;
        Some(Credentials {
            uids: ids(b"Uid:")?,
            gids: ids(b"Gid:")?,
            cap_effective,
        })
    }

    /// The uid owning the directory (the process's, unless it is not dumpable), which `stat`
    /// gives even where the files inside are hidden.
    pub(crate) fn owner(&self) -> Option<u32> {
        nix::sys::stat::fstat(&self.dir)
            .ok()
            .map(|stat| stat.st_uid)
    }

    /// When the process started (see [`parse_start_time`]); `Err` once it is gone.
    pub(crate) fn start_time(&self) -> Result<u64, Errno> {
        let text = self.read("stat").map_err(errno_of)?;
        parse_start_time(&text).ok_or(Errno::ESRCH)
    }

    /// The real uid from `/proc/<pid>/status` (`Uid:\treal\teffective\t…`).
    pub(crate) fn real_uid(&self) -> Option<u32> {
        let status = self.read("status").ok()?;
        let line = status
            .split(|&b| b == b'\n')
            .find(|line| line.starts_with(b"Uid:"))?;
        let text = std::str::from_utf8(line).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    }
}

/// The errno behind an I/O error from reading a `/proc` file.
pub(crate) fn errno_of(error: io::Error) -> Errno {
    error.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// Parses the state and flags out of `/proc/<pid>/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub(crate) fn parse_stat(text: &[u8]) -> Option<ProcessStatus> {
    let mut fields = fields_after_command(text)?;
    let state = *fields.next()?.first()?;
    // After the state: ppid, pgrp, session, tty_nr, tpgid, then flags.
    let flags = fields.nth(5)?;
    let flags = std::str::from_utf8(flags).ok()?.trim().parse().ok()?;
    Some(ProcessStatus { state, flags })
}

/// The process's start time from `/proc/<pid>/stat` (field 22, in clock ticks since boot): with
/// the PID, it names one process for good, since a PID is reused only by a later process.
pub(crate) fn parse_start_time(text: &[u8]) -> Option<u64> {
    // Field 3 (the state) is the first after the command name, so field 22 is the 20th.
    let start_time = fields_after_command(text)?.nth(19)?;
    std::str::from_utf8(start_time).ok()?.trim().parse().ok()
}

/// The space-separated fields of `/proc/<pid>/stat` from the state on (field 3). The command
/// name (field 2) may hold spaces and parentheses, so they start after its last `)`.
fn fields_after_command(text: &[u8]) -> Option<impl Iterator<Item = &[u8]>> {
    let close = text.iter().rposition(|&b| b == b')')?;
    Some(
        text[close + 1..]
            .split(|&b| b == b' ')
            .filter(|field| !field.is_empty()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_even_with_odd_command_names() {
        let stat =
            b"1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5 100 10";
        assert_eq!(
            parse_stat(stat),
            Some(ProcessStatus {
                state: b'S',
                flags: 4194560
            })
        );
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 10 0 0";
        assert!(parse_stat(kthread).unwrap().is_kernel_thread());
        // Killed, still running its exit path: state R but PF_EXITING (0x4) set.
        let exiting = b"77 (app) R 1 77 77 0 -1 4194316 0 0 0 0 0 0 0 0 20 0 1 0 10 0 0";
        assert!(parse_stat(exiting).unwrap().has_exited());
        assert_eq!(parse_stat(b"garbage"), None);
        assert_eq!(parse_start_time(stat), Some(5));
        assert_eq!(parse_start_time(kthread), Some(10));
        assert_eq!(parse_start_time(b"1 (short) S 1 2"), None);
    }

    #[test]
    fn reads_our_own_process() {
        let me = ProcessDir::open(std::process::id() as i32).unwrap();
        let status = me.status().unwrap();
        assert!(!status.has_exited() && !status.is_kernel_thread());
        assert!(me.exe_path().is_some());
        assert!(me.comm().is_some());
        let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
        assert_eq!(me.real_uid(), Some(uid));
        // The test binary is Rust, not Go, and its executable is readable.
        let facts = me.executable_facts();
        assert_eq!(facts.elf.map(|elf| elf.go), Some(None));
    }
}
