//! Where smaps text comes from — a live process, a saved file or standard input — and the
//! checks that go with each. Reading is overlapped with parsing (`prefetch.rs`), and for a saved
//! file the aggregation too, fed in batches (`batch.rs`); a live read has its own completeness
//! checks (`live.rs`) and reads everything through one handle on `/proc/<pid>` (`process.rs`);
//! in a runtime whose own headers show its arenas (CPython), `arenas.rs` reads those and splits
//! the mappings that hold arenas and other memory; `ps.rs` lists processes; `target.rs` finds a
//! process by name and follows it across restarts; `elf.rs` reads the executable.

// Only live analysis reads an executable or memory, and live analysis needs Linux's /proc.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod arenas;
mod batch;
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) mod elf;
#[cfg(target_os = "linux")]
mod kernel;
#[cfg(target_os = "linux")]
mod live;
mod prefetch;
#[cfg(target_os = "linux")]
pub(crate) mod process;
pub(crate) mod ps;
pub(crate) mod target;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::aggregate::{Aggregator, ProcessInfo};
use crate::error::Error;
use crate::report::{Listing, Report, Warning};
use crate::smaps::{parse_chunks, Chunks, ReadChunks, StreamError};
use prefetch::{AggregatorAside, Prefetch, Role};

/// What to analyze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A live process's `/proc/<pid>/smaps` (Linux only).
    Pid(i32),
    /// A saved smaps file.
    File(PathBuf),
    /// Smaps text on standard input (`-file -`).
    Stdin,
}

/// How to analyze: which regions to list, and what is known about the process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Which regions the report lists (the 20 largest by default).
    pub listing: Listing,
    /// For a saved file: the executable's path as smaps prints it, when known; otherwise the
    /// first mapped path with an executable mapping is taken for it.
    pub executable: Option<Vec<u8>>,
    /// For a live process: also read its cgroup's memory (the container view, `-cgroup`).
    pub container: bool,
    /// Group every region by what it is ([`crate::Report::groups`]), for diffs.
    pub region_groups: bool,
    /// For a live process: never read its memory. By default, in a process of a runtime whose
    /// arenas its own pool headers show (CPython), one header per resident pool-aligned page
    /// of its unnamed read-write mappings is read (`process_vm_readv`, read-only; pages that
    /// are not resident are never touched), and the allocator's header where a block may
    /// begin, which finds the arenas that the kernel merged with other memory; without, they
    /// are placed by their layout alone.
    pub no_memory_reads: bool,
}

impl Options {
    /// Never read the process's memory (see [`Options::no_memory_reads`]).
    pub fn no_memory_reads(mut self) -> Options {
        self.no_memory_reads = true;
        self
    }

    /// The report lists these regions.
    pub fn listing(mut self, listing: Listing) -> Options {
        self.listing = listing;
        self
    }

    /// The report lists the `count` largest regions.
    pub fn top(mut self, count: usize) -> Options {
        self.listing = Listing::Top(count);
        self
    }

    /// The report lists every region, largest first.
    pub fn all(mut self) -> Options {
        self.listing = Listing::All;
        self
    }

    /// Groups every region by what it is, for diffs ([`crate::Report::groups`]).
    pub fn region_groups(mut self) -> Options {
        self.region_groups = true;
        self
    }

    /// For a saved file: the path of the process's executable, as smaps prints it.
    pub fn executable(mut self, path: impl Into<Vec<u8>>) -> Options {
        self.executable = Some(path.into());
        self
    }

    /// For a live process: the report also holds the container view of its cgroup
    /// ([`Report::container`]); a saved file has none.
    pub fn container(mut self) -> Options {
        self.container = true;
        self
    }
}

/// Reads and analyzes `input`.
pub fn analyze(input: &Input, options: &Options) -> Result<Report, Error> {
    let started = std::time::Instant::now();
    let mut report = match input {
        Input::Pid(pid) => {
            let mut report = analyze_pid_unchecked(*pid, options)?;
            if options.container {
                let container = crate::container::read_container(*pid, &Default::default())
                    .map_err(|source| Error::Container { pid: *pid, source })?;
                report.container = Some(container);
            }
            report
                .accounting
                .extend(crate::reconcile::reconcile_jvm(*pid, &report));
            report
        }
        Input::File(path) => {
            let file = File::open(path).map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
            let chunks = prefetched(file, path, Role::ReadAndAggregate)?;
            analyze_prefetched(chunks, info_for(path, options), options)?
        }
        Input::Stdin => {
            let path = Path::new("-");
            let chunks = prefetched(io::stdin(), path, Role::ReadAndAggregate)?;
            analyze_prefetched(chunks, info_for(path, options), options)?
        }
    };
    report.duration = started.elapsed();
    Ok(report)
}

/// Analyzes a live process (Linux only).
pub fn analyze_pid(pid: i32, options: &Options) -> Result<Report, Error> {
    analyze(&Input::Pid(pid), options)
}

/// Analyzes the calling process itself: what the original tool's `GetCompleteMemoryProfile()`
/// did for a service that wants its own breakdown.
pub fn analyze_self(options: &Options) -> Result<Report, Error> {
    analyze_pid(std::process::id() as i32, options)
}

/// Analyzes smaps text from any reader: a saved file, a network stream, a test string.
pub fn analyze_reader<R: Read>(reader: R, options: &Options) -> Result<Report, Error> {
    let started = std::time::Instant::now();
    let info = info_for(Path::new("-"), options);
    let counting = Counting::Here(new_aggregator(&info, options));
    let mut report = analyze_stream(ReadChunks::new(reader), counting, info, options)?;
    report.duration = started.elapsed();
    Ok(report)
}

fn info_for(path: &Path, options: &Options) -> ProcessInfo {
    ProcessInfo {
        path: path.to_path_buf(),
        exe: options.executable.clone(),
        ..ProcessInfo::default()
    }
}

#[cfg(target_os = "linux")]
fn analyze_pid_unchecked(pid: i32, options: &Options) -> Result<Report, Error> {
    live::analyze_pid(pid, options)
}

#[cfg(not(target_os = "linux"))]
fn analyze_pid_unchecked(_pid: i32, _options: &Options) -> Result<Report, Error> {
    Err(Error::NeedsProcfs)
}

/// Reads `source` ahead on a second core while the caller parses (see `prefetch.rs`).
fn prefetched<R: Read + Send + 'static>(
    source: R,
    path: &Path,
    role: Role,
) -> Result<Prefetch, Error> {
    Prefetch::new(source, role).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Analyzes a saved file or standard input, read ahead by a thread that aggregates too when
/// there is more than its first buffer.
fn analyze_prefetched(
    mut chunks: Prefetch,
    info: ProcessInfo,
    options: &Options,
) -> Result<Report, Error> {
    let counting = match chunks.aggregate_aside(new_aggregator(&info, options)) {
        Ok(aside) => Counting::Aside(aside),
        Err(aggregator) => Counting::Here(aggregator),
    };
    analyze_stream(chunks, counting, info, options)
}

/// Parses and aggregates a whole stream that is not a live process.
fn analyze_stream<C: Chunks>(
    chunks: C,
    counting: Counting,
    info: ProcessInfo,
    options: &Options,
) -> Result<Report, Error> {
    let (aggregator, warnings) = stream(chunks, counting, &info)?;
    if aggregator.region_count() == 0 {
        return Err(Error::Empty { path: info.path });
    }
    Ok(aggregator.finish(info, options.listing, warnings))
}

/// An aggregator for the analysis `options` ask for (boxed: it moves between threads, see
/// [`Counting`]).
fn new_aggregator(info: &ProcessInfo, options: &Options) -> Box<Aggregator> {
    let mut aggregator = Aggregator::new(options.listing, info.exe.as_deref());
    if options.region_groups {
        aggregator.collect_groups();
    }
    Box::new(aggregator)
}

/// Where the parsed regions are counted.
enum Counting {
    /// On the parsing thread.
    Here(Box<Aggregator>),
    /// On the parsing thread, after reading which parts of the regions are a runtime's arenas.
    #[cfg(target_os = "linux")]
    Inspected(
        Box<Aggregator>,
        Box<arenas::ArenaReader<arenas::ProcessMemory>>,
    ),
    /// On the reader thread (see `prefetch.rs`).
    Aside(AggregatorAside),
}

/// Parses `chunks`, every region counted.
fn stream<C: Chunks>(
    chunks: C,
    counting: Counting,
    info: &ProcessInfo,
) -> Result<(Aggregator, Vec<Warning>), Error> {
    // The parse's summary, the aggregator, and a warning of the reading's own (reads refused).
    let parsed = match counting {
        Counting::Here(mut aggregator) => parse_chunks(chunks, |region| aggregator.add(region))
            .map(|summary| (summary, aggregator, None)),
        #[cfg(target_os = "linux")]
        Counting::Inspected(mut aggregator, mut reader) => {
            parse_chunks(chunks, |region| reader.add(region, &mut aggregator)).map(|summary| {
                let refused = info
                    .pid
                    .filter(|_| reader.refused())
                    .map(|pid| Warning::MemoryReadsRefused { pid });
                (summary, aggregator, refused)
            })
        }
        // After an error, no need to wait for the regions still being aggregated.
        Counting::Aside(mut aside) => parse_chunks(chunks, |region| aside.add(region))
            .map(|summary| (summary, aside.finish(), None)),
    };
    let (summary, aggregator, reading) = parsed.map_err(|error| match error {
        StreamError::Io(source) => Error::Read {
            path: info.path.clone(),
            source,
        },
        StreamError::Parse(source) => Error::Parse {
            path: info.path.clone(),
            source,
        },
    })?;
    let mut aggregator = *aggregator;
    aggregator.flush();
    let mut warnings: Vec<Warning> = summary.warnings.into_iter().map(Warning::Input).collect();
    warnings.extend(aggregator.warning());
    warnings.extend(reading);
    Ok((aggregator, warnings))
}
