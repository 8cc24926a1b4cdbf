//! A live process's smaps: opened through its `/proc/<pid>` handle, with access errors worded
//! for people, and a read that the kernel cut short — because the target exited or replaced its
//! address space with `execve` — detected instead of being passed off as complete.
//!
//! How a cut read is told from a complete one: the open smaps file belongs to one address space
//! (the kernel takes it when the file is opened), and once that address space is gone — the
//! process exited, or exec gave it a new one — every read of the file ends with a plain
//! end-of-file. So before smaps, a second file of the same address space is opened (`maps`, the
//! *witness*), and after the read one line of it is read: if the address space is still there,
//! the end of smaps was its real end; if the witness is empty too, the address space went away
//! during the read. `[vsyscall]`, which the kernel prints last on x86-64, proves a read complete
//! without asking the witness.

use std::io::{self, Read};

use nix::errno::Errno;

use super::arenas::{ArenaReader, ProcessMemory as ArenaMemory};
use super::process::ProcessDir;
use super::{new_aggregator, prefetched, stream, Counting, Options, Role};
use crate::aggregate::{Aggregator, ProcessInfo};
use crate::error::{Error, NoMemoryReason};
use crate::report::{Report, Warning};

pub(super) fn analyze_pid(pid: i32, options: &Options) -> Result<Report, Error> {
    if !std::path::Path::new("/proc/self/smaps").exists() {
        return Err(Error::NeedsProcfs);
    }
    let process = ProcessDir::open(pid).map_err(|errno| match errno {
        Errno::EACCES | Errno::EPERM => Error::PermissionDenied { pid },
        _ => Error::NoSuchProcess { pid },
    })?;
    let main_thread = process.try_clone().map_err(|source| Error::Open {
        path: format!("/proc/{pid}").into(),
        source,
    })?;
    let read = read_task(&process, main_thread, pid, "", options)?;
    if read.aggregator.region_count() > 0 {
        return finish(read, pid, options, Vec::new());
    }
    let status = process.status().ok();
    let reason = match status {
        Some(status) if status.is_kernel_thread() => NoMemoryReason::KernelThread,
        Some(status) if status.has_exited() => {
            // The main thread has exited (pthread_exit) while others may still run: the kernel
            // gives the main thread's files no address space, but a live thread's have it.
            if let Some((tid, read)) = read_through_a_live_thread(&process, pid, options)? {
                let note = Warning::ReadThroughThread { pid, tid };
                return finish(read, pid, options, vec![note]);
            }
            NoMemoryReason::Zombie
        }
        // Running, yet not one mapping: the address space the file was opened on went away
        // before the first read, when the process ran a new program (execve).
        Some(_) => {
            return Err(Error::ReplacedWhileReading {
                pid,
                regions_read: 0,
            })
        }
        None => return Err(Error::NoSuchProcess { pid }),
    };
    Err(Error::NoUserMemory { pid, reason })
}

/// One read of a task's smaps, not yet known to be complete.
struct TaskRead {
    aggregator: Aggregator,
    info: ProcessInfo,
    warnings: Vec<Warning>,
    /// The task's `maps`, opened before its smaps: the same address space (see the module doc).
    witness: std::fs::File,
    /// The task read: the process itself, or one of its threads.
    task: ProcessDir,
}

/// Reads the smaps of `task`: the process's own directory, or `task/TID/` inside it (`within`,
/// for the path shown). `process` gives the name the user knows the process by.
fn read_task(
    process: &ProcessDir,
    task: ProcessDir,
    pid: i32,
    within: &str,
    options: &Options,
) -> Result<TaskRead, Error> {
    let path = format!("/proc/{pid}/{within}smaps");
    let open = |name: &str| {
        task.open_file(name).map_err(|errno| match errno {
            Errno::EACCES | Errno::EPERM => permission_denied(process, pid),
            Errno::ENOENT | Errno::ESRCH => Error::NoSuchProcess { pid },
            other => Error::Open {
                path: format!("/proc/{pid}/{within}{name}").into(),
                source: io::Error::from(other),
            },
        })
    };
    // The witness first: if exec comes between the two opens, the witness holds the old
    // address space and the read is reported as cut (a false alarm), never the reverse.
    let witness = open("maps")?;
    let smaps = open("smaps")?;
    let info = ProcessInfo {
        pid: Some(pid),
        path: path.into(),
        exe: task.exe_path(),
        comm: process.comm(),
        executable: task.executable_facts(),
        kernel_names_mappings: super::kernel::names_mappings(),
    };
    // Overlap the kernel's generation of the text with our parsing, on a second core; the
    // aggregation stays with the parsing (the kernel's part is the critical path).
    let smaps = prefetched(smaps, &info.path, Role::Read)?;
    let aggregator = new_aggregator(&info, options);
    // Only for a runtime whose arenas its own headers show (CPython), and only if allowed.
    let reader = crate::runtime::arena_format(&info.executable)
        .filter(|_| !options.no_memory_reads)
        .and_then(|format| {
            Some(Box::new(ArenaReader::new(
                format,
                ArenaMemory::open(&task, pid)?,
            )))
        });
    let counting = match reader {
        Some(reader) => Counting::Inspected(aggregator, reader),
        None => Counting::Here(aggregator),
    };
    let (aggregator, warnings) = stream(smaps, counting, &info)?;
    Ok(TaskRead {
        aggregator,
        info,
        warnings,
        witness,
        task,
    })
}

/// Checks that the read was not cut short, then builds the report.
fn finish(
    mut read: TaskRead,
    pid: i32,
    options: &Options,
    mut notes: Vec<Warning>,
) -> Result<Report, Error> {
    if !read.aggregator.ended_with_vsyscall() && !address_space_alive(&mut read.witness) {
        let regions_read = read.aggregator.region_count();
        let running = read.task.status().is_ok_and(|status| !status.has_exited());
        return Err(if running {
            Error::ReplacedWhileReading { pid, regions_read }
        } else {
            Error::ExitedWhileReading { pid, regions_read }
        });
    }
    read.warnings.append(&mut notes);
    Ok(read
        .aggregator
        .finish(read.info, options.listing, read.warnings))
}

/// Whether the witness's address space still exists: a read of it returns text. A failed read
/// proves nothing either way, and is taken as "gone" so that a doubt never passes as complete.
fn address_space_alive(witness: &mut std::fs::File) -> bool {
    let mut first_bytes = [0u8; 64];
    loop {
        match witness.read(&mut first_bytes) {
            Ok(read) => return read > 0,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// For a process whose main thread has exited: the first thread that is still alive, and a
/// read of the memory through it. `None` when no thread is alive.
fn read_through_a_live_thread(
    process: &ProcessDir,
    pid: i32,
    options: &Options,
) -> Result<Option<(i32, TaskRead)>, Error> {
    for tid in thread_ids(pid) {
        if tid == pid {
            continue;
        }
        // Opened inside the process's own directory handle: a TID of another process (or of a
        // newcomer that reused the PID) is not found there.
        let Ok(thread) = process.task(tid) else {
            continue;
        };
        if thread.status().is_ok_and(|status| !status.has_exited()) {
            let read = read_task(process, thread, pid, &format!("task/{tid}/"), options)?;
            if read.aggregator.region_count() > 0 {
                return Ok(Some((tid, read)));
            }
        }
    }
    Ok(None)
}

/// The thread IDs listed in `/proc/<pid>/task`, as a hint only: each is then opened through the
/// process's handle.
fn thread_ids(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut tids: Vec<i32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    tids
}

/// Access to the smaps was refused: say why, as far as the kernel lets us know. The kernel
/// allows it to a caller with CAP_SYS_PTRACE, or with exactly the target's user and group ids
/// when the target is dumpable. So with CAP_SYS_PTRACE only a security policy can refuse; with
/// the same ids and without it, the target is not dumpable; otherwise it is another user's.
fn permission_denied(process: &ProcessDir, pid: i32) -> Error {
    let ours = ProcessDir::open_self().ok().and_then(|me| me.credentials());
    let theirs = process.credentials();
    match (ours, theirs) {
        (Some(ours), _) if ours.can_ptrace() => Error::DeniedByPolicy { pid },
        (Some(ours), Some(theirs)) if theirs.all_equal_to(ours.fs_uid(), ours.fs_gid()) => {
            Error::NotDumpable { pid }
        }
        _ => Error::PermissionDenied { pid },
    }
}
