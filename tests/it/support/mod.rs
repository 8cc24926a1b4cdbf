//! Everything the test modules share, one copy of each:
//!
//! - [`run`]: running the real `memanalyzer` binary and reading what it printed;
//! - [`files`]: fixtures, temporary files, the list of fixtures that analyze;
//! - [`smaps`]: smaps text written by the tests (one record writer, the sample process), and
//!   [`synthetic`], the benchmark's generator of large realistic inputs;
//! - [`text`], [`json`]: reading the text and JSON outputs back;
//! - [`prometheus`]: a strict parser of the exposition format, `promtool`, and a real
//!   Prometheus server that scrapes a target;
//! - [`http`]: `memanalyzer -http` serving a process, and curl asking it;
//! - [`ps_text`]: a parser of `-ps -unit B` text;
//! - [`runtimes`]: the JVM and Node fixture programs started live, and the figures their
//!   memory is checked against (`jcmd GC.heap_info`, resident memory summed from smaps);
//! - [`runtime_program`]: programs on a real runtime (CPython, jemalloc) that print their
//!   runtime's own statistics, and analyzing them while their memory stands still;
//! - [`workload`]: the `examples/workload` helper process with a known memory layout, and the
//!   other example binaries the tests run;
//! - [`programs`]: Go and C programs from `fixtures/sources/`, built for live tests;
//! - [`system`]: programs on PATH, root, running as user `nobody`;
//! - [`terminal`]: running memanalyzer on a pseudo-terminal;
//! - [`readers`]: readers that hand out their data in small pieces;
//! - [`invariants`]: what every successful analysis keeps (shared with the fuzz target);
//! - [`skip!`] and [`or_skip!`]: a test that cannot run here says so.
#![allow(dead_code)] // Not every module uses every helper.

/// Ends the test with `SKIP: <test>: <why>` on stderr: for a test that cannot run here (a tool
/// or privilege is missing). Never return from a test silently instead.
macro_rules! skip {
    ($($why:tt)+) => {{
        fn here() {}
        $crate::support::skipped(std::any::type_name_of_val(&here), &format!($($why)+));
        return;
    }};
}

/// Ends the test with `SKIP: <test>: <why>` for a test that needs something no installation can
/// bring to this machine (a kernel feature, a cgroup controller): unlike [`skip!`], it is allowed
/// under `MEMANALYZER_TESTS_NO_SKIP`, which exists to catch tools CI forgot to install.
macro_rules! skip_on_this_machine {
    ($($why:tt)+) => {{
        fn here() {}
        $crate::support::skipped_for_good(std::any::type_name_of_val(&here), &format!($($why)+));
        return;
    }};
}

/// The value of an `Ok`, or [`skip!`] with the `Err`'s reason.
macro_rules! or_skip {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(why) => skip!("{why}"),
        }
    };
}

pub mod files;
pub mod http;
pub mod invariants;
pub mod json;
pub mod programs;
pub mod prometheus;
pub mod ps_text;
pub mod readers;
pub mod run;
pub mod runtime_program;
pub mod runtimes;
pub mod smaps;
#[path = "../../../benches/synthetic.rs"]
pub mod synthetic;
pub mod system;
pub mod terminal;
pub mod text;
pub mod workload;

/// Set to make every skip a failure (for CI, which installs every tool the tests use).
pub const NO_SKIP_ENV: &str = "MEMANALYZER_TESTS_NO_SKIP";

/// What [`skip!`] calls: prints `SKIP: <test>: <why>`, or fails under [`NO_SKIP_ENV`].
/// `function` is the type name of a function nested in the test (`it::live::a_test::here`).
pub fn skipped(function: &str, why: &str) {
    let test = test_name(function);
    if std::env::var_os(NO_SKIP_ENV).is_some_and(|value| !value.is_empty()) {
        panic!("{test} cannot run here ({why}), and {NO_SKIP_ENV} forbids skipping it");
    }
    // Straight to the stderr descriptor: the test harness captures `eprintln!` of passing tests,
    // and a skip must be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP: {test}: {why}");
}

/// What [`skip_on_this_machine!`] calls: prints `SKIP: <test>: <why>`.
pub fn skipped_for_good(function: &str, why: &str) {
    use std::io::Write;
    let test = test_name(function);
    let _ = writeln!(
        std::io::stderr(),
        "SKIP: {test}: {why} (this machine cannot have it)"
    );
}

/// `container::a_test` from the type name of a function nested in the test
/// (`it::container::a_test::here`).
fn test_name(function: &str) -> &str {
    let test = function.strip_suffix("::here").unwrap_or(function);
    test.split_once("::").map_or(test, |(_crate, path)| path)
}

/// What most test modules use: `use crate::support::prelude::*;`.
pub mod prelude {
    pub use super::files::*;
    pub use super::json::*;
    pub use super::run::*;
    pub use super::smaps::*;
    pub use super::text::*;
    pub use super::workload::*;
}
