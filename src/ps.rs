//! `-ps`: the processes this user can see, with their memory from `smaps_rollup` (about four
//! times cheaper for the kernel than smaps). In a container this is how people find the PID to
//! analyze. A process that cannot be read is listed as such, never dropped or shown as zero.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::process::parse_stat;

/// Memory of one process, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessMemory {
    pub rss: u64,
    pub pss: u64,
    /// Private_Clean + Private_Dirty.
    pub uss: u64,
    pub swap: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessRow {
    pub pid: i32,
    /// The user name from /etc/passwd, or the numeric uid.
    pub user: String,
    /// The process name (`/proc/<pid>/comm`), escaped for display.
    pub command: String,
    /// The memory, or why it could not be read (e.g. `permission denied`).
    pub memory: Result<ProcessMemory, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessList {
    /// Readable processes by PSS (largest first), then the unreadable ones by PID.
    pub processes: Vec<ProcessRow>,
    /// Kernel threads have no user memory and are not listed.
    pub kernel_threads: usize,
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

    pub fn unreadable(&self) -> usize {
        self.processes
            .iter()
            .filter(|row| row.memory.is_err())
            .count()
    }
}

/// Lists every process in `/proc`.
pub fn list_processes() -> Result<ProcessList, Error> {
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
    list.processes.sort_by(|a, b| match (&a.memory, &b.memory) {
        (Ok(a_memory), Ok(b_memory)) => b_memory.pss.cmp(&a_memory.pss).then(a.pid.cmp(&b.pid)),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.pid.cmp(&b.pid),
    });
    list.duration = started.elapsed();
    Ok(list)
}

enum Seen {
    Process(ProcessRow),
    KernelThread,
    /// Exited while we looked: no longer a process to list.
    Gone,
}

fn read_process(pid: i32, users: &HashMap<u32, String>) -> Seen {
    let dir = format!("/proc/{pid}");
    let Ok(stat) = fs::read(format!("{dir}/stat")) else {
        return Seen::Gone;
    };
    let Some(status) = parse_stat(&stat) else {
        return Seen::Gone;
    };
    if status.is_kernel_thread() {
        return Seen::KernelThread;
    }
    let command = fs::read(format!("{dir}/comm"))
        .map(|comm| crate::escape::escape_bytes(comm.strip_suffix(b"\n").unwrap_or(&comm)))
        .unwrap_or_else(|_| "?".to_string());
    let user = fs::read_to_string(format!("{dir}/status"))
        .ok()
        .and_then(|status| real_uid(&status))
        .map(|uid| users.get(&uid).cloned().unwrap_or_else(|| uid.to_string()))
        .unwrap_or_else(|| "?".to_string());
    let memory = if status.state == b'Z' {
        Err("zombie: no memory left".to_string())
    } else {
        read_rollup(&dir)
    };
    if matches!(&memory, Err(reason) if reason == GONE) {
        return Seen::Gone;
    }
    Seen::Process(ProcessRow {
        pid,
        user,
        command,
        memory,
    })
}

const GONE: &str = "gone";

fn read_rollup(dir: &str) -> Result<ProcessMemory, String> {
    let mut text = String::new();
    let result = fs::File::open(format!("{dir}/smaps_rollup"))
        .and_then(|mut file| file.read_to_string(&mut text));
    match result {
        Ok(_) => parse_rollup(&text).ok_or_else(|| "no smaps_rollup figures".to_string()),
        Err(error) => Err(match error.raw_os_error() {
            Some(code) if code == nix::libc::EACCES || code == nix::libc::EPERM => {
                "permission denied".to_string()
            }
            Some(code) if code == nix::libc::ENOENT || code == nix::libc::ESRCH => GONE.to_string(),
            _ => error.to_string(),
        }),
    }
}

/// Rss, Pss, Private_* and Swap from `smaps_rollup` text, in bytes.
fn parse_rollup(text: &str) -> Option<ProcessMemory> {
    let mut memory = ProcessMemory::default();
    let mut seen_rss = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let Some(kb) = value
            .split_whitespace()
            .next()
            .and_then(|number| number.parse::<u64>().ok())
        else {
            continue;
        };
        let bytes = kb.saturating_mul(1024);
        match key {
            "Rss" => {
                memory.rss = bytes;
                seen_rss = true;
            }
            "Pss" => memory.pss = bytes,
            "Private_Clean" | "Private_Dirty" => memory.uss += bytes,
            "Swap" => memory.swap = bytes,
            _ => {}
        }
    }
    seen_rss.then_some(memory)
}

/// The real uid from `/proc/<pid>/status` (`Uid:\treal\teffective\t…`).
fn real_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// uid → name from /etc/passwd. Read directly rather than through NSS, which a static binary
/// cannot use; in a distroless image without /etc/passwd the uid is shown.
fn read_users() -> HashMap<u32, String> {
    fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rollup_figures() {
        let rollup = "00400000-7ffd00000000 ---p 00000000 00:00 0                          [rollup]\n\
                      Rss:                1000 kB\nPss:                 800 kB\nPss_Anon:            700 kB\n\
                      Private_Clean:       100 kB\nPrivate_Dirty:       600 kB\nSwap:                 20 kB\n";
        let memory = parse_rollup(rollup).unwrap();
        assert_eq!(
            memory,
            ProcessMemory {
                rss: 1000 * 1024,
                pss: 800 * 1024,
                uss: 700 * 1024,
                swap: 20 * 1024
            }
        );
        assert_eq!(parse_rollup(""), None);
    }

    #[test]
    fn reads_uid_and_users() {
        assert_eq!(
            real_uid("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n"),
            Some(1000)
        );
        assert_eq!(read_users().get(&0).map(String::as_str), Some("root"));
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
