//! Where smaps text comes from — a live process, a saved file or standard input — and the
//! checks that go with each: access errors worded for people, and a live read that the target's
//! exit cut short is detected instead of being passed off as complete.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::aggregate::{Aggregator, ProcessFacts};
use crate::error::{Error, NoMemoryReason};
use crate::parse::{parse_reader, StreamError};
use crate::prefetch::Prefetch;
use crate::report::{Listing, Report};

/// What to analyze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A live process's `/proc/<pid>/smaps`.
    Pid(i32),
    /// A saved smaps file.
    File(PathBuf),
    /// Smaps text on standard input (`-file -`).
    Stdin,
}

/// Reads and analyzes `input`, keeping the regions `listing` asks for.
pub fn analyze(input: &Input, listing: Listing) -> Result<Report, Error> {
    let started = std::time::Instant::now();
    let mut report = analyze_input(input, listing)?;
    report.duration = started.elapsed();
    Ok(report)
}

fn analyze_input(input: &Input, listing: Listing) -> Result<Report, Error> {
    match input {
        Input::Pid(pid) => analyze_pid(*pid, listing),
        Input::File(path) => {
            // Paths are shown in messages: escaped, so a newline or ESC cannot break them.
            let display = crate::escape::escape_bytes(path.as_os_str().as_encoded_bytes());
            let file = File::open(path).map_err(|source| Error::Open {
                path: display.clone(),
                source,
            })?;
            let facts = ProcessFacts {
                path: display,
                ..ProcessFacts::default()
            };
            analyze_reader(prefetched(file, &facts.path)?, facts, listing)
        }
        Input::Stdin => {
            let facts = ProcessFacts {
                path: "-".to_string(),
                ..ProcessFacts::default()
            };
            analyze_reader(prefetched(io::stdin(), &facts.path)?, facts, listing)
        }
    }
}

/// Reads `source` ahead on a second core while the caller parses (see `prefetch.rs`).
fn prefetched<R: Read + Send + 'static>(source: R, path: &str) -> Result<Prefetch, Error> {
    Prefetch::new(source).map_err(|source| Error::Read {
        path: path.to_string(),
        source,
    })
}

/// Analyzes smaps text from any reader: a saved file, standard input, a test string.
pub fn analyze_reader<R: Read>(
    reader: R,
    facts: ProcessFacts,
    listing: Listing,
) -> Result<Report, Error> {
    let (aggregator, warnings) = stream(reader, &facts, listing)?;
    if aggregator.region_count() == 0 {
        return Err(Error::Empty { path: facts.path });
    }
    Ok(aggregator.finish(facts, listing, warnings))
}

fn stream<R: Read>(
    reader: R,
    facts: &ProcessFacts,
    listing: Listing,
) -> Result<(Aggregator, Vec<String>), Error> {
    let mut aggregator = Aggregator::new(listing, facts.exe.as_deref());
    let summary =
        parse_reader(reader, |region| aggregator.add(region)).map_err(|error| match error {
            StreamError::Io(source) => Error::Read {
                path: facts.path.clone(),
                source,
            },
            StreamError::Parse(source) => Error::Parse {
                path: facts.path.clone(),
                source,
            },
        })?;
    aggregator.flush();
    let warnings = summary
        .warnings
        .iter()
        .map(|warning| format!("{}: {warning}", facts.path))
        .collect();
    Ok((aggregator, warnings))
}

#[cfg(target_os = "linux")]
fn analyze_pid(pid: i32, listing: Listing) -> Result<Report, Error> {
    use crate::process::ProcessDir;
    use nix::errno::Errno;

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
            path: path.clone(),
            source: io::Error::from(other),
        },
    })?;
    let build_info = process.go_build_info();
    let facts = ProcessFacts {
        pid: Some(pid),
        path,
        exe: process.exe_path(),
        comm: process.comm(),
        exe_is_go: build_info.as_ref().ok().map(Option::is_some),
        go_version: build_info.ok().flatten().and_then(|info| info.version),
    };

    // Overlap the kernel's generation of the text with our parsing, on a second core.
    let smaps = prefetched(smaps, &facts.path)?;
    let (aggregator, warnings) = stream(smaps, &facts, listing)?;
    let status = process.status();
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
    Ok(aggregator.finish(facts, listing, warnings))
}

#[cfg(not(target_os = "linux"))]
fn analyze_pid(_pid: i32, _listing: Listing) -> Result<Report, Error> {
    Err(Error::NeedsProcfs)
}
