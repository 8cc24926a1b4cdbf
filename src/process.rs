//! Reads what `/proc/<pid>/` says about a live process besides its smaps: executable, name and
//! state. Everything is opened read-only through one handle on the `/proc/<pid>` directory, so a
//! PID reused by a new process after ours exits is never mistaken for it.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::Mode;

use crate::elf::{go_build_info, GoBuildInfo};

/// The kernel's PF_KTHREAD flag in `/proc/<pid>/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;
/// PF_EXITING: set from the start of exit, while the state letter can still say `R`.
const PF_EXITING: u64 = 0x0000_0004;

/// A handle on `/proc/<pid>`, valid for that one process even if its PID is later reused.
pub struct ProcessDir {
    pub pid: i32,
    dir: OwnedFd,
}

/// The process's state letter and flags from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStatus {
    pub state: u8,
    pub flags: u64,
}

impl ProcessStatus {
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
    /// Exiting or exited: PF_EXITING is set, or the state is `Z` (zombie) or `X` (dead). Its
    /// address space is being torn down or gone, so a read of its smaps may have been cut short.
    pub fn has_exited(&self) -> bool {
        matches!(self.state, b'Z' | b'X') || self.flags & PF_EXITING != 0
    }
}

impl ProcessDir {
    pub fn open(pid: i32) -> Result<ProcessDir, Errno> {
        let path = format!("/proc/{pid}");
        let dir = nix::fcntl::open(
            path.as_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ProcessDir { pid, dir })
    }

    /// Opens a file inside the directory read-only.
    pub fn open_file(&self, name: &str) -> Result<File, Errno> {
        let fd = openat(
            &self.dir,
            name,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// The executable's path as the kernel prints it in smaps (with ` (deleted)` if it was deleted).
    pub fn exe_path(&self) -> Option<Vec<u8>> {
        let target = readlinkat(&self.dir, "exe").ok()?;
        Some(OsStr::new(&target).as_bytes().to_vec())
    }

    /// The executable's Go build information, read from its first bytes only. `Err` when the
    /// executable cannot be opened (another user's process, a kernel thread).
    pub fn go_build_info(&self) -> io::Result<Option<GoBuildInfo>> {
        let exe = self.open_file("exe").map_err(io::Error::from)?;
        go_build_info(&exe)
    }

    pub fn comm(&self) -> Option<String> {
        let mut text = String::new();
        self.open_file("comm")
            .ok()?
            .read_to_string(&mut text)
            .ok()?;
        Some(text.trim_end_matches('\n').to_string())
    }

    /// `None` once the process is gone (its directory handle then refuses every open).
    pub fn status(&self) -> Option<ProcessStatus> {
        let mut text = Vec::with_capacity(512);
        self.open_file("stat").ok()?.read_to_end(&mut text).ok()?;
        parse_stat(&text)
    }
}

/// Parses the state and flags out of `/proc/<pid>/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_stat(text: &[u8]) -> Option<ProcessStatus> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text[close + 1..]
        .split(|&b| b == b' ')
        .filter(|field| !field.is_empty());
    let state = *fields.next()?.first()?;
    // After the state: ppid, pgrp, session, tty_nr, tpgid, then flags.
    let flags = fields.nth(5)?;
    let flags = std::str::from_utf8(flags).ok()?.trim().parse().ok()?;
    Some(ProcessStatus { state, flags })
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
    }

    #[test]
    fn reads_our_own_process() {
        let me = ProcessDir::open(std::process::id() as i32).unwrap();
        let status = me.status().unwrap();
        assert!(!status.has_exited() && !status.is_kernel_thread());
        assert!(me.exe_path().is_some());
        assert!(me.comm().is_some());
        // The test binary is Rust, not Go.
        assert_eq!(me.go_build_info().unwrap(), None);
    }
}
