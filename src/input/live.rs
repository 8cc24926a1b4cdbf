//! A live process's smaps: opened through its `/proc/<pid>` handle, with access errors worded
//! for people, and a read that the target's exit cut short detected instead of being passed off
//! as complete.

use std::io;

use nix::errno::Errno;

use super::process::ProcessDir;
use super::{prefetched, stream, Options};
use crate::aggregate::ProcessInfo;
use crate::error::{Error, NoMemoryReason};
use crate::report::Report;

pub(super) fn analyze_pid(pid: i32, options: &Options) -> Result<Report, Error> {
    if !std::path::Path::new("/proc/self/smaps").exists() {
        return Err(Error::NeedsProcfs);
    }
    let process = ProcessDir::open(pid).map_err(|errno| match errno {
        Errno::EACCES | Errno::EPERM => Error::PermissionDenied { pid },
        _ => Error::NoSuchProcess { pid },
    })?;
    let path = format!("/proc/{pid}/smaps");
    let smaps = process.open_file("smaps").map_err(|errno| match errno {
        Errno::EACCES | Errno::EPERM => Error::PermissionDenied { pid },
        Errno::ENOENT | Errno::ESRCH => Error::NoSuchProcess { pid },
        other => Error::Open {
            path: path.clone().into(),
            source: io::Error::from(other),
        },
    })?;
    let info = ProcessInfo {
        pid: Some(pid),
        path: path.into(),
        exe: process.exe_path(),
        comm: process.comm(),
        executable: process.executable_facts(),
        kernel_names_mappings: super::kernel::names_mappings(),
    };

    // Overlap the kernel's generation of the text with our parsing, on a second core.
    let smaps = prefetched(smaps, &info.path)?;
    let (aggregator, warnings) = stream(smaps, &info, options)?;
    let status = process.status().ok();
    if aggregator.region_count() == 0 {
        let reason = match status {
            Some(status) if status.is_kernel_thread() => NoMemoryReason::KernelThread,
            Some(status) if status.has_exited() => NoMemoryReason::Zombie,
            Some(_) => NoMemoryReason::NoAddressSpace,
            None => return Err(Error::NoSuchProcess { pid }),
        };
        return Err(Error::NoUserMemory { pid, reason });
    }
    // The kernel ends a read early, silently, when the process exits mid-read. `[vsyscall]` is
    // always printed last, so seeing it proves the read complete; otherwise the process must
    // still be alive after the read.
    let exited = status.is_none_or(|status| status.has_exited());
    if !aggregator.ended_with_vsyscall() && exited {
        return Err(Error::ExitedWhileReading {
            pid,
            regions_read: aggregator.region_count(),
        });
    }
    Ok(aggregator.finish(info, options.listing, warnings))
}
