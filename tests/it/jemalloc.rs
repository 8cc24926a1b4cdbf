//! A Rust program on tikv-jemallocator (`fixtures/sources/rust-jemalloc`, built by the tests)
//! and a C program linked with libjemalloc (`fixtures/sources/c-jemalloc`) against jemalloc's
//! own figures (`stats.active`, `stats.metadata`, `stats.resident`, after advancing the epoch)
//! and the kernel's `smaps_rollup`.

use std::process::Command;

use memanalyzer::{Evidence, Report};

use crate::support::runtime_program::*;

fn run(args: &[&str]) -> (RuntimeProgram, Report) {
    run_program(rust_jemalloc_program(), args)
}

fn run_program(program: &std::path::Path, args: &[&str]) -> (RuntimeProgram, Report) {
    let mut command = Command::new(program);
    command.args(args);
    let program = RuntimeProgram::spawn(command);
    let report = analyze_settled(program.pid);
    (program, report)
}

/// jemalloc found (in the executable: its `_rjem_` symbols; or its library), and at most 10% of
/// RSS unexplained.
fn check_jemalloc(report: &Report, evidence: Evidence) {
    let jemalloc = report
        .runtimes
        .iter()
        .find(|runtime| runtime.id.key() == "jemalloc")
        .unwrap_or_else(|| panic!("jemalloc not found: {:?}", report.runtimes));
    assert_eq!(jemalloc.evidence, evidence);
    let generic = generic_rss(report);
    assert!(
        generic <= report.totals.rss / 10,
        "generic {generic} of {}: {}",
        report.totals.rss,
        breakdown(report)
    );
}

#[test]
fn jemalloc_heap_matches_active_and_metadata_once_purged() {
    let (program, report) = run(&["--purge"]);
    check_jemalloc(&report, Evidence::Executable);
    check_purged_heap(&program, &report, "Rust + tikv-jemallocator");
}

#[test]
fn jemalloc_heap_with_dirty_pages_lies_between_active_and_resident() {
    // Freed pages stay resident until jemalloc's decay purges them: jemalloc's `resident`
    // counts them (an upper bound), `active + metadata` does not.
    let (program, report) = run(&[]);
    check_jemalloc(&report, Evidence::Executable);
    let heap = rss_of(&report, "jemalloc.heap");
    let active = program.figure("jemalloc.active") + program.figure("jemalloc.metadata");
    let resident = program.figure("jemalloc.resident");
    eprintln!("jemalloc, dirty: heap {heap}, active+metadata {active}, resident {resident}");
    assert!(
        heap as f64 >= active as f64 * 0.95 && heap as f64 <= resident as f64 * 1.05,
        "heap {heap} outside [{active}, {resident}]: {}",
        breakdown(&report)
    );
    assert!(
        heap as f64 >= resident as f64 * 0.95,
        "heap {heap} vs resident {resident}: {}",
        breakdown(&report)
    );
}

/// The heap line within 5% of `active + metadata` once freed pages are purged.
fn check_purged_heap(program: &RuntimeProgram, report: &Report, what: &str) {
    let heap = rss_of(report, "jemalloc.heap");
    let truth = program.figure("jemalloc.active") + program.figure("jemalloc.metadata");
    let ratio = heap as f64 / truth as f64;
    eprintln!("{what}, purged: heap {heap} vs active+metadata {truth}: {ratio:.3}");
    assert!(
        (0.95..=1.05).contains(&ratio),
        "{what}: heap {heap} vs active+metadata {truth} ({ratio:.3}): {}",
        breakdown(report)
    );
}

#[test]
fn c_program_with_libjemalloc_shows_its_heap() {
    let binary = or_skip!(c_jemalloc_program());
    let (program, report) = run_program(binary, &["--purge"]);
    // Its executable calls mallctl; a saved capture shows the library it maps (fixtures.rs).
    check_jemalloc(&report, Evidence::Executable);
    check_purged_heap(&program, &report, "C + libjemalloc");
}
