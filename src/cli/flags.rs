//! The command-line interface, as clap defines it. Nothing else lives here: the single-dash
//! spellings are mapped onto these flags in `args.rs`, `config.rs` turns them into settings, and
//! `generate.rs` makes the man page and completions from this one definition.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use std::sync::OnceLock;

use clap::{ArgGroup, CommandFactory, Parser, ValueEnum};

use super::values;

pub const EXAMPLES: &str = "\
Examples:
  memanalyzer -pid 1234                 Analyze process 1234
  memanalyzer -pid 1 -top 50            Show the 50 largest regions
  memanalyzer -pid 1 -all               List every region, largest first
  memanalyzer -pid 1 -format json       Machine-readable output (exact bytes)
  memanalyzer -file saved.smaps         Analyze a saved copy of /proc/PID/smaps
  memanalyzer -ps                       Find the process: list them all by PSS
  memanalyzer -pid 1 -cgroup            Add the container's view: limit, working set, page
                                        cache, kernel memory, sockets, the OOM killer's pick
  memanalyzer -pid 1 -jemalloc-stats stats.json
                                        Reconcile the jemalloc heap with jemalloc's own
                                        statistics (allocated, active, dirty, resident)
  memanalyzer -pid 1 | grep \"RSS (Resident)\" | awk '{print $3}'
                                        Print the resident set in MB, for scripts
  kubectl exec POD -- cat /proc/1/smaps | memanalyzer -file -
                                        Analyze a pod's main process without copying
                                        memanalyzer into the pod
  memanalyzer -pid 1 -format prometheus -output /var/lib/node_exporter/memanalyzer.prom
                                        Feed node_exporter's textfile collector
  memanalyzer -http :8080 -name myservice
                                        Serve /debug/memory and /metrics of the process
                                        named myservice on 127.0.0.1:8080 (a pod sidecar)
  memanalyzer -pid 1 -watch 10s -record mem.ndjson
                                        Is it leaking? Sample every 10 s, with a growth verdict
  memanalyzer -pid 1 -diff baseline.json -max-growth 10MB
                                        What changed since the baseline; status 3 if RSS grew
                                        by more than 10 MB (for CI)

Single-dash flags (-pid 1, -pid=1) and GNU forms (--pid 1, --pid=1) mean the same.
memanalyzer reads /proc/PID/{smaps,exe,comm,stat} and, in a CPython process, pagemap and the
headers of pymalloc's pools and malloc's blocks in its memory (see -no-memory-reads); it never
stops, attaches to or writes to the process.";

pub const OUTPUT_GUIDE: &str = "\
The output:
  Go Runtime / Native Runtime   Heap: the runtime's or C allocator's heap ([heap], malloc arenas,
                                Go heap arenas); Stack: main and thread stacks; Metadata: the
                                runtime's own bookkeeping. A Go process with C code also shows
                                'C Heap (cgo/malloc)'. Go's Heap holds the goroutine stacks too
                                (Go takes them from heap spans), so its Stack line shows only
                                the threads' own stacks.
  JVM (HotSpot) / Node.js (V8)  the runtime section of a JVM: Java Heap, Code Cache, Metaspace,
                                Class Data (CDS), PerfData; of Node: V8 Heap, V8 Large Objects,
                                JIT Code, WebAssembly Memory. The C allocator's heap shows as
                                'Native Heap (malloc)'.
  Named Memory Regions (mmap)   anonymous memory the program named ([anon:NAME]); names that
                                differ only in numbers are one line ('TNC-* (512 regions)').
  File-Backed Memory            shared libraries, the executable itself, other mapped files, and
                                mapped files that were deleted.
  Shared Memory                 memfd, SysV, POSIX (/dev/shm) and shared anonymous memory.
  Anonymous Memory              unnamed anonymous memory no rule recognised, by permissions;
                                'Large Blocks (malloc'd or mmapped)': maps of the size glibc
                                gives blocks above its mmap threshold, which look exactly like
                                the program's own mmaps.
  Other                         vdso/vvar/vsyscall, anon_inode, devices, huge pages, anything else.
  *  (after a number)           some or all of the line's memory was placed by its layout
                                (addresses, sizes, neighbours: a heuristic), not by a name the
                                kernel or the runtime gave it. In the regions table the CATEGORY
                                column (a stable key such as go.heap) carries the same mark.
  Unexplained:                  the RSS still in Anonymous Memory and Other/Unrecognized, and
                                its share of RSS; from 25% on, one next step for the runtime
                                found (and a note when the kernel cannot name mappings).
  Totals                        Virtual Memory (address space), RSS (in RAM), PSS (shared pages
                                divided among sharers), USS (private: what exiting would free),
                                Shared, Swap, SwapPss, Hugetlb (not part of RSS), Regions.
  Container (-cgroup)           the cgroup the OOM killer and kubectl top go by: Limit
                                (memory.max), Usage (memory.current), Working Set (usage minus
                                inactive page cache: what kubectl top shows), Reclaimable; usage
                                by kind (anonymous, page cache, tmpfs, kernel, socket buffers),
                                adding up; the processes' PSS and what no process accounts for;
                                whom the OOM killer would kill first.

When RSS is much larger than the heap your profiler reports:
  - Anonymous Memory large (Read-Write, Large Blocks): memory mmapped outside the allocator the
    profiler sees (C libraries, cgo, JIT or GC heaps of another runtime, the program's own
    caches) or large malloc'd blocks; look at the largest regions and the Next step line. In a
    JVM: GC structures and direct buffers (-XX:NativeMemoryTracking=summary tells); in Node:
    Buffers (process.memoryUsage().arrayBuffers).
  - Heap much larger than the live heap: the allocator keeps freed memory (fragmentation, arenas
    per thread: try MALLOC_ARENA_MAX=2 for glibc; GOGC/GOMEMLIMIT for Go).
  - Stack large: many threads, or large thread stacks.
  - Named regions: caches the program mapped itself; the names say which.
  - File-Backed or Shared Memory large: mapped files and shared memory count in RSS too, but the
    kernel can reclaim clean file pages; PSS shows the fair share of shared pages.";

/// The headings the flags are grouped under in `-h` and `--help`, in the order they appear.
mod heading {
    pub const INPUT: &str = "Process or input";
    pub const SHOW: &str = "What to show";
    pub const RECONCILE: &str = "Reconciliation with the runtime's own figures";
    pub const OUTPUT: &str = "Output";
    pub const OVER_TIME: &str = "Over time";
    pub const THRESHOLDS: &str = "Thresholds (exit status 3)";
    pub const HTTP: &str = "HTTP server";
}

/// Explains where a Linux process's memory goes: every region of /proc/PID/smaps in exactly one
/// category (runtime heap, stacks, metadata, named regions, files, shared memory, anonymous
/// memory), a breakdown with totals, and the largest regions.
#[derive(Debug, Parser)]
#[command(name = "memanalyzer", version, about, after_help = EXAMPLES)]
#[command(after_long_help = format!("{EXAMPLES}\n\n{OUTPUT_GUIDE}"))]
#[command(group(ArgGroup::new("process").args(["pid", "name"])))]
pub struct Cli {
    /// Process to analyze [default: memanalyzer's own process]
    #[arg(long, value_name = "PID", allow_negative_numbers = true, value_parser = parse_pid, conflicts_with_all = ["file", "ps"], help_heading = heading::INPUT)]
    pub pid: Option<i32>,

    /// How many of the largest regions to list (0 lists none)
    #[arg(long, value_name = "N", default_value_t = 20, help_heading = heading::SHOW)]
    pub top: usize,

    /// List every region, largest first, instead of the top N
    #[arg(long, conflicts_with = "top", help_heading = heading::SHOW)]
    pub all: bool,

    /// Analyze a saved smaps file instead of a live process ('-' reads standard input)
    #[arg(long, value_name = "PATH", conflicts_with = "ps", help_heading = heading::INPUT)]
    pub file: Option<PathBuf>,

    /// List the processes this user can see, by PSS (from smaps_rollup), instead of one process
    #[arg(long, help_heading = heading::INPUT)]
    pub ps: bool,

    /// Never read the process's memory. By default, in a CPython process, memanalyzer reads
    /// /proc/PID/pagemap and, with process_vm_readv, one 48-byte pool header per resident 16 KiB
    /// page of its unnamed read-write mappings (never a page that is not in RAM), and malloc's
    /// 16-byte header where a block may begin: pymalloc's own headers show its arenas where the
    /// kernel merged them with other memory. With this flag the arenas are placed by their
    /// layout alone (marked *)
    #[arg(long, conflicts_with_all = ["file", "ps"], help_heading = heading::INPUT)]
    pub no_memory_reads: bool,

    /// Add the container view: the process's cgroup (limit, usage by kind, working set, OOM);
    /// with -ps, group the processes by cgroup
    #[arg(long, conflicts_with = "file", help_heading = heading::SHOW)]
    pub cgroup: bool,

    /// Reconcile the jemalloc heap with jemalloc's own statistics in FILE ('-' reads standard
    /// input): malloc_stats_print JSON (MALLOC_CONF=stats_print:true,stats_print_opts:J) or lines
    /// NAME=BYTES for allocated, active, metadata, resident, mapped, retained
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ps", "http", "diff", "watch"], help_heading = heading::RECONCILE)]
    pub jemalloc_stats: Option<PathBuf>,

    /// Reconcile RSS with a Go heap profile: /debug/pprof/heap, or /debug/pprof/heap?debug=1
    /// for the full split with MemStats ('-' reads standard input; a loopback http:// URL is
    /// fetched)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ps", "watch", "http", "diff"], help_heading = heading::RECONCILE)]
    pub pprof: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = FormatArg::Text, help_heading = heading::OUTPUT)]
    pub format: FormatArg,

    /// Unit for sizes in text output (JSON and Prometheus always use bytes)
    #[arg(long, value_enum, value_name = "UNIT", default_value_t = UnitArg::Mb, ignore_case = true, help_heading = heading::OUTPUT)]
    pub unit: UnitArg,

    /// When to colour text output [auto: only for a terminal; honours NO_COLOR and CLICOLOR_FORCE]
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorArg::Auto, help_heading = heading::OUTPUT)]
    pub color: ColorArg,

    /// Write the output to FILE, atomically (a temporary file renamed into place); a device or FIFO is written directly
    #[arg(long, value_name = "FILE", help_heading = heading::OUTPUT)]
    pub output: Option<PathBuf>,

    /// Serve the analysis over HTTP at ADDR instead of printing it: /debug/memory, /metrics,
    /// /healthz. ':8080' listens on 127.0.0.1 only; another host (0.0.0.0:8080) is an explicit
    /// choice
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_address, requires = "process", conflicts_with_all = ["file", "ps", "output"], help_heading = heading::HTTP)]
    pub http: Option<SocketAddr>,

    /// Process to analyze by name (its comm or executable file name): the first started when
    /// several match; with -http, found again when it restarts
    #[arg(long, value_name = "NAME", conflicts_with_all = ["pid", "file", "ps"], help_heading = heading::INPUT)]
    pub name: Option<OsString>,

    /// With -http: read smaps at most once per DURATION (e.g. 5s, 500ms, 1m); requests in
    /// between share the last read
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_interval, requires = "http", help_heading = heading::HTTP)]
    pub min_interval: Duration,

    /// With -http: require 'Authorization: Bearer TOKEN' (except on /healthz), TOKEN being the
    /// first line of FILE
    #[arg(long, value_name = "FILE", requires = "http", help_heading = heading::HTTP)]
    pub token_file: Option<PathBuf>,
    /// Compare now (-pid or -file) with a baseline: a saved smaps file or a JSON report (-format json)
    #[arg(long, value_name = "BASE", conflicts_with_all = ["ps", "watch"], help_heading = heading::OVER_TIME)]
    pub diff: Option<PathBuf>,

    /// Sample the process every INTERVAL (500ms, 10s, 1m) until Ctrl-C or -count samples
    #[arg(long, value_name = "INTERVAL", value_parser = values::parse_interval, allow_hyphen_values = true, requires = "process", conflicts_with_all = ["file", "ps"], help_heading = heading::OVER_TIME)]
    pub watch: Option<Duration>,

    /// With -watch: stop after N samples
    #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u64).range(1..), help_heading = heading::OVER_TIME)]
    pub count: Option<u64>,

    /// With -watch: read the full smaps every K samples (and whenever the totals moved by 5%); smaps_rollup otherwise
    #[arg(long, value_name = "K", requires = "watch", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..), help_heading = heading::OVER_TIME)]
    pub full_every: u64,

    /// With -watch: append every sample to FILE as NDJSON (replay it with -file FILE)
    #[arg(long, value_name = "FILE", requires = "watch", help_heading = heading::OVER_TIME)]
    pub record: Option<PathBuf>,

    /// Memory limit for the time-until-reached estimate [default: the cgroup's memory.max]
    #[arg(long, value_name = "SIZE", value_parser = values::parse_size, help_heading = heading::THRESHOLDS)]
    pub limit: Option<u64>,

    /// Exit with status 3 if RSS exceeds SIZE (10MB, 2GB)
    #[arg(long, value_name = "SIZE", value_parser = values::parse_size, help_heading = heading::THRESHOLDS)]
    pub max_rss: Option<u64>,

    /// Exit with status 3 if RSS grew by more than SIZE since -diff's baseline or the watch's first sample
    #[arg(long, value_name = "SIZE", value_parser = values::parse_size, help_heading = heading::THRESHOLDS)]
    pub max_growth: Option<u64>,

    /// With -watch or a recording: draw the categories over time as a stacked-area chart (SVG)
    #[arg(long, value_name = "FILE.svg", help_heading = heading::OVER_TIME)]
    pub plot: Option<PathBuf>,

    /// With -watch or a recording: exit with status 3 if RSS grows significantly faster than RATE (5MB/h)
    #[arg(long, value_name = "RATE", value_parser = values::parse_rate, help_heading = heading::THRESHOLDS)]
    pub max_rate: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Breakdown and region table for people and grep/awk
    Text,
    /// One JSON object with exact byte counts
    Json,
    /// Prometheus text exposition format (gauges per category and totals)
    Prometheus,
    /// A pprof profile of all the process's memory (gzip'd protobuf) for `go tool pprof`
    Pprof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    /// Bytes
    #[value(name = "B")]
    B,
    /// KiB, written kB as the kernel does
    #[value(name = "kB")]
    Kb,
    /// MiB, written MB as the original tool did (whole numbers)
    #[value(name = "MB")]
    Mb,
    /// GiB, written GB, with two decimals
    #[value(name = "GB")]
    Gb,
    /// Whatever reads best for each number (KiB, MiB, GiB, ...)
    #[value(name = "auto")]
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// A long flag of the definition, as the single-dash mapping (`args.rs`) and the generated
/// man page and completions need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongFlag {
    /// The name without dashes (`pid`, `min-interval`, `help`).
    pub name: String,
    /// Its value may follow as the next argument (`-pid 1`).
    pub takes_value: bool,
}

/// Every long flag shown in `--help` (`--help` and `--version` included), read once from the
/// clap definition above, so that no second list of the names can drift from it.
pub fn long_flags() -> &'static [LongFlag] {
    static FLAGS: OnceLock<Vec<LongFlag>> = OnceLock::new();
    FLAGS.get_or_init(|| {
        let mut command = Cli::command();
        command.build();
        command
            .get_arguments()
            .filter(|arg| !arg.is_hide_set())
            .filter_map(|arg| {
                Some(LongFlag {
                    name: arg.get_long()?.to_string(),
                    takes_value: arg.get_action().takes_values(),
                })
            })
            .collect()
    })
}

/// Whether `name` is a long flag that takes a value.
pub fn takes_value(name: &[u8]) -> bool {
    long_flags()
        .iter()
        .any(|flag| flag.takes_value && flag.name.as_bytes() == name)
}

/// `-http`'s address, as `go tool pprof -http` takes it: `:8080` (loopback), `HOST:PORT` with
/// an IP address or `localhost`, `[::1]:8080`.
fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    let hint = "an address is HOST:PORT, e.g. :8080 (this host only, 127.0.0.1), \
                127.0.0.1:8080, or 0.0.0.0:8080 (every interface: reachable from other hosts)";
    if let Some(port) = text.strip_prefix(':') {
        let port = port.parse::<u16>().map_err(|_| hint.to_string())?;
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port = port.parse::<u16>().map_err(|_| hint.to_string())?;
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    text.parse::<SocketAddr>().map_err(|_| hint.to_string())
}

/// `-min-interval`: `5s`, `500ms`, `1m`, or a number of seconds; more than zero.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let hint = "a duration is a number and a unit, e.g. 5s, 500ms or 1m, and more than zero";
    let (number, scale) = if let Some(number) = text.strip_suffix("ms") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60.0)
    } else {
        (text, 1.0)
    };
    let seconds = number.parse::<f64>().map_err(|_| hint.to_string())? * scale;
    if !(seconds > 0.0 && seconds < 1e9) {
        return Err(hint.to_string());
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_pid(text: &str) -> Result<i32, String> {
    match text.parse::<i64>() {
        Ok(pid) if pid > 0 && pid <= i64::from(i32::MAX) => Ok(pid as i32),
        _ => Err("a PID is a positive whole number, such as 1234".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_guide_gives_the_unexplained_threshold() {
        let threshold = format!("from {}% on", memanalyzer::Unexplained::LARGE_PERCENT);
        assert!(OUTPUT_GUIDE.contains(&threshold), "{threshold}");
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn listen_addresses_are_loopback_unless_a_host_is_given() {
        let parsed = |text| parse_listen_address(text).map(|address| address.to_string());
        assert_eq!(parsed(":8080").as_deref(), Ok("127.0.0.1:8080"));
        assert_eq!(parsed("localhost:9").as_deref(), Ok("127.0.0.1:9"));
        assert_eq!(parsed("0.0.0.0:8080").as_deref(), Ok("0.0.0.0:8080"));
        assert_eq!(parsed("[::1]:80").as_deref(), Ok("[::1]:80"));
        for bad in ["8080", ":http", "example.com:80", ":70000"] {
            assert!(parsed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        for bad in ["0s", "-1s", "soon", "", "NaNs"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}
