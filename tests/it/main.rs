//! memanalyzer's integration tests: one test binary with one module per area, so a newcomer finds
//! a test by the name of what it is about, and every helper lives once in `support/`.
//!
//! | module | what it checks |
//! |---|---|
//! | `accounting` | the runtime's own accounting (a live JVM's PerfData) against its own tools (`jcmd GC.heap_info`) |
//! | `cli` | flag spellings (Go's `-pid 1` and GNU's `--pid=1`), defaults, usage errors (exit 2) |
//! | `input_errors` | inputs that are not smaps: one clear error line (exit 1); tolerated input: a warning |
//! | `text` | the text contract scripts rely on (`grep "RSS (Resident)" \| awk '{print $3}'`) |
//! | `json` | the JSON schema (v1 and its additions) and its sums, live and from files |
//! | `fixtures` | the library on every capture in `fixtures/`: exact totals against the kernel's `smaps_rollup`, the categories each runtime's memory lands in |
//! | `snapshots` | the text output of every fixture that analyzes, byte for byte (insta) |
//! | `live` | live processes with a known layout (`examples/workload`) against the kernel's own figures; zombies, kernel threads, a main thread that exited, permission denied (another user, non-dumpable, a policy), exiting mid-read |
//! | `runtimes` | the JVM and Node against their own accounting (`jcmd GC.heap_info`, V8 heap statistics), on captures and live processes |
//! | `python` | CPython processes: pymalloc's arenas against `sys._debugmallocstats()`, large blocks, NumPy |
//! | `jemalloc` | a Rust program on tikv-jemallocator against jemalloc's own statistics |
//! | `runtime_go` | live Go processes (static and cgo) with their own mmap'd cache, against `runtime.ReadMemStats` |
//! | `runtime_glibc` | a live C program with 8 glibc arenas and mapped blocks, against `mallinfo2()` |
//! | `units` | `-unit`: every size in the text against the JSON bytes |
//! | `container` | `-cgroup`: live on cgroup v1 (and v2 where it has memory), and on v2 fixture trees |
//! | `colour` | `-color`, NO_COLOR, CLICOLOR_FORCE, CLICOLOR, TERM, terminals and pipes |
//! | `prometheus` | `-format prometheus`: promtool, a strict parser, agreement with JSON, label escaping |
//! | `output` | `-output` files replaced atomically; closed pipes and full disks |
//! | `over_time` | `-diff`, `-watch`, `-record` and replay: sums, a known growth rate, a sawtooth without a false alarm, thresholds, exits |
//! | `pprof` | `-pprof`: a live Go program's heap profile (protobuf and `?debug=1`, fetched with curl) reconciled to its RSS exactly; bad profiles |
//! | `reconcile` | saved Go heap profiles (go1.19, 1.22, 1.25) and jemalloc 5.2.1/5.3.0/5.3.1 statistics against the runtime's own figures beside them (`go tool pprof -raw`, MemStats, malloc_stats_print); allocation sites as records; reconciliation flags that cannot apply |
//! | `ps` | `-ps`: the process list in text, JSON and Prometheus, unreadable processes |
//! | `http` | `-http`: every endpoint and query with curl against a live workload, promtool and a real Prometheus server, bad requests, tokens, a target that exits or restarts |
//! | `help` | `-h`/`--help`: short and scannable, long and explanatory |
//! | `generated` | the committed man page and completions are current, and they work |
//! | `security` | hostile names escaped, bounded memory on hostile input, read-only toward the target |
//! | `differential` | the zero-copy parser against a simple reference parser |
//! | `properties` | the analysis's invariants on generated input (the fuzz target's, in the normal suite) |
//! | `races` | live targets that exec, are killed, exit or churn their mappings while read: a whole result or a clear error, never a silent partial |
//!
//! A test that cannot run here (a tool or a privilege is missing) prints `SKIP: <test>: <why>`
//! on stderr (`support::skip!`); with `MEMANALYZER_TESTS_NO_SKIP=1` it fails instead.
//! `tests/alloc.rs` is a test binary of its own: it installs a counting global allocator.

#[macro_use]
mod support;

mod accounting;
mod cli;
mod colour;
mod container;
mod differential;
mod fixtures;
mod generated;
mod help;
mod http;
mod input_errors;
mod jemalloc;
mod json;
mod live;
mod output;
mod over_time;
mod pprof;
mod prometheus;
mod properties;
mod ps;
mod python;
mod races;
mod reconcile;
mod runtime_glibc;
mod runtime_go;
mod runtimes;
mod security;
mod snapshots;
mod text;
mod units;
