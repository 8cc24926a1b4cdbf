//! memanalyzer's integration tests: one test binary with one module per area, so a newcomer finds
//! a test by the name of what it is about, and every helper lives once in `support/`.
//!
//! | module | what it checks |
//! |---|---|
//! | `cli` | flag spellings (Go's `-pid 1` and GNU's `--pid=1`), defaults, usage errors (exit 2) |
//! | `input_errors` | inputs that are not smaps: one clear error line (exit 1); tolerated input: a warning |
//! | `text` | the text contract scripts rely on (`grep "RSS (Resident)" \| awk '{print $3}'`) |
//! | `json` | the JSON schema (v1 and its additions) and its sums, live and from files |
//! | `fixtures` | the library on every capture in `fixtures/`: exact totals against the kernel's `smaps_rollup`, the categories each runtime's memory lands in |
//! | `snapshots` | the text output of every fixture that analyzes, byte for byte (insta) |
//! | `live` | live processes with a known layout (`examples/workload`) against the kernel's own figures; zombies, kernel threads, permission denied, exiting mid-read |
//! | `units` | `-unit`: every size in the text against the JSON bytes |
//! | `colour` | `-color`, NO_COLOR, CLICOLOR_FORCE, CLICOLOR, TERM, terminals and pipes |
//! | `prometheus` | `-format prometheus`: promtool, a strict parser, agreement with JSON, label escaping |
//! | `output` | `-output` files replaced atomically; closed pipes and full disks |
//! | `over_time` | `-diff`, `-watch`, `-record` and replay: sums, a known growth rate, a sawtooth without a false alarm, thresholds, exits |
//! | `ps` | `-ps`: the process list in text, JSON and Prometheus, unreadable processes |
//! | `help` | `-h`/`--help`: short and scannable, long and explanatory |
//! | `generated` | the committed man page and completions are current, and they work |
//! | `security` | hostile names escaped, bounded memory on hostile input, read-only toward the target |
//! | `differential` | the zero-copy parser against a simple reference parser |
//! | `properties` | the analysis's invariants on generated input (the fuzz target's, in the normal suite) |
//!
//! A test that cannot run here (a tool or a privilege is missing) prints `SKIP: <test>: <why>`
//! on stderr (`support::skip!`); with `MEMANALYZER_TESTS_NO_SKIP=1` it fails instead.
//! `tests/alloc.rs` is a test binary of its own: it installs a counting global allocator.

#[macro_use]
mod support;

mod cli;
mod colour;
mod differential;
mod fixtures;
mod generated;
mod help;
mod input_errors;
mod json;
mod live;
mod output;
mod over_time;
mod prometheus;
mod properties;
mod ps;
mod security;
mod snapshots;
mod text;
mod units;
