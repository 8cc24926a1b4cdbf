//! A Rust program on tikv-jemallocator (`fixtures/sources/rust-jemalloc`, built by the tests)
//! and a C program linked with libjemalloc (`fixtures/sources/c-jemalloc`) against jemalloc's
//! own figures (`stats.active`, `stats.metadata`, `stats.resident`, after advancing the epoch)
//! and the kernel's `smaps_rollup`; and `-jemalloc-stats`, jemalloc's statistics (saved
//! `malloc_stats_print` JSON, saved and live tikv-jemalloc-ctl figures) reconciled with the
//! jemalloc category.

use std::collections::BTreeMap;
use std::process::Command;

use memanalyzer::{Evidence, Report};
use serde_json::Value;

use crate::support::prelude::{
    accounting_rows, category_by_id, fixture_path, jemalloc_figures, json_of, path_of,
    runtime_error, stdout_of, temp_file, u64_at, JEMALLOC_STATS,
};
use crate::support::prometheus::parse_exposition;
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

/// Rust services ship stripped: no `_rjem_` symbol is left, but jemalloc's messages are in the
/// executable's read-only data.
#[test]
fn a_stripped_rust_program_is_found_from_jemallocs_messages() {
    let (program, report) = run_program(rust_jemalloc_stripped_program(), &["--purge"]);
    check_jemalloc(&report, Evidence::Executable);
    check_purged_heap(&program, &report, "stripped Rust + tikv-jemallocator");
}

/// The program's own anonymous maps in the sizes jemalloc grows by (2 MiB, 512 KiB, 2.5 MiB)
/// are not jemalloc's: a plain `mmap` lacks the `MAP_NORESERVE` jemalloc maps with. They land
/// in the generic anonymous memory, and the heap line keeps to jemalloc's own figure.
fn check_own_maps_stay_out(binary: &std::path::Path, what: &str) {
    let (program, report) = run_program(binary, &["--purge", "--own-maps"]);
    check_purged_heap(&program, &report, what);
    let maps = own_maps(&program.lines, "own_map");
    assert_eq!(maps.len(), 3, "{:?}", program.lines);
    for (start, end) in maps {
        for region in overlapping(&report, start, end) {
            let key = region.category.key();
            assert!(
                ["anon.large", "anon.rw"].contains(&key.as_ref()),
                "{what}: the program's map {start:#x}-{end:#x} is in {key}: {region:?}"
            );
        }
    }
}

#[test]
fn a_rust_programs_own_maps_stay_out_of_the_jemalloc_heap() {
    check_own_maps_stay_out(rust_jemalloc_program(), "Rust + tikv-jemallocator");
}

#[test]
fn a_c_programs_own_maps_stay_out_of_the_jemalloc_heap() {
    let binary = or_skip!(c_jemalloc_program());
    check_own_maps_stay_out(binary, "C + libjemalloc");
}

#[test]
fn c_program_with_libjemalloc_shows_its_heap() {
    let binary = or_skip!(c_jemalloc_program());
    let (program, report) = run_program(binary, &["--purge"]);
    // Its executable calls mallctl; a saved capture shows the library it maps (fixtures.rs).
    check_jemalloc(&report, Evidence::Executable);
    check_purged_heap(&program, &report, "C + libjemalloc");
}

// -jemalloc-stats: jemalloc's own statistics reconciled with the jemalloc category.

/// The accounting rows of a JSON report as `id → (runtime_bytes, resident_bytes)`.
fn jemalloc_rows(doc: &Value) -> BTreeMap<String, (u64, Option<u64>)> {
    accounting_rows(doc, "jemalloc", |row| {
        (
            u64_at(row, "/runtime_bytes"),
            row["resident_bytes"].as_u64(),
        )
    })
}

fn notes(doc: &Value) -> String {
    doc["accounting"].to_string()
}

#[test]
fn saved_figures_are_reconciled_with_the_captured_heap() {
    // c-jemalloc: libjemalloc mapped, so the capture has a heap line to compare with.
    let smaps = fixture_path("c-jemalloc/smaps");
    let stats = fixture_path("c-jemalloc/runtime-stats.txt");
    let (smaps_path, stats_path) = (smaps.to_str().unwrap(), stats.to_str().unwrap());
    let args = |format: &'static str| {
        [
            "-file",
            smaps_path,
            "-top",
            "0",
            "-format",
            format,
            "-jemalloc-stats",
            stats_path,
        ]
    };
    let doc = json_of(&args("json"));
    let rows = jemalloc_rows(&doc);
    let figures = jemalloc_figures(stats.as_ref());
    for (name, value) in &figures {
        assert_eq!(rows[name].0, *value, "{name}");
    }
    let heap = u64_at(
        category_by_id(&doc, "jemalloc.heap").expect("jemalloc.heap"),
        "/rss_bytes",
    );
    assert_eq!(rows["resident"].1, Some(heap));
    assert_eq!(rows["active_metadata"].1, Some(heap));
    let notes = notes(&doc);
    assert!(notes.contains("between the two, as expected"), "{notes}");

    let text = stdout_of(&args("text"));
    assert!(
        text.contains("=== Runtime's Own Accounting (jemalloc, "),
        "{text}"
    );
    assert!(
        text.contains("Fragmentation (active - allocated)"),
        "{text}"
    );
    let exposition = parse_exposition(&stdout_of(&args("prometheus")));
    let samples: BTreeMap<&str, u64> = exposition
        .samples("memanalyzer_runtime_accounting_bytes")
        .iter()
        .filter(|sample| sample.label("runtime") == Some("jemalloc"))
        .map(|sample| (sample.label("figure").expect("figure"), sample.whole()))
        .collect();
    for (name, value) in &figures {
        assert_eq!(samples[name.as_str()], *value, "{name}");
    }
}

#[test]
fn live_figures_are_reconciled_with_the_live_analysis() {
    let (program, _) = run(&["--purge"]);
    let stats = temp_file(program.lines.join("\n"));
    let pid = program.pid.to_string();
    let doc = json_of(&[
        "-pid",
        &pid,
        "-top",
        "0",
        "-format",
        "json",
        "-jemalloc-stats",
        path_of(&stats),
    ]);
    let rows = jemalloc_rows(&doc);
    for name in JEMALLOC_STATS {
        assert_eq!(
            rows[name].0,
            program.figure(&format!("jemalloc.{name}")),
            "{name}"
        );
    }
    let (allocated, active, resident) = (rows["allocated"].0, rows["active"].0, rows["resident"].0);
    assert!(allocated <= active && active <= resident, "{rows:?}");
    let heap = rows["resident"].1.expect("the heap line beside resident");
    let held = rows["active_metadata"].0;
    eprintln!("live: heap {heap}, active+metadata {held}, resident {resident}");
    assert!(
        heap as f64 >= held as f64 * 0.95 && heap as f64 <= resident as f64 * 1.05,
        "{rows:?}"
    );
    let notes = notes(&doc);
    assert!(
        notes.contains("allocated <= active <= resident holds"),
        "{notes}"
    );
    assert!(!notes.contains("found no jemalloc"), "{notes}");
}

#[test]
fn bad_jemalloc_statistics_get_a_clear_error() {
    let smaps = fixture_path("c-jemalloc/smaps");
    let smaps = smaps.to_str().unwrap();
    let json = std::fs::read(fixture_path("rust-jemalloc/jemalloc-stats.json")).unwrap();
    let cases: [(&[u8], &str); 5] = [
        (
            b"Hello, world\n",
            "line 1 is neither JSON nor a NAME=BYTES figure",
        ),
        (
            b"{\"heap\": {\"used\": 1}}",
            "JSON, but not jemalloc's statistics",
        ),
        (&json[..json.len() / 2], "not valid JSON"),
        (
            b"jemalloc.allocated=1\njemalloc.active=2\n",
            "no resident figure",
        ),
        (b"\x1f\x8b\x08\x00\xff", "not a text file"),
    ];
    for (contents, expected) in cases {
        let file = temp_file(contents);
        let error = runtime_error(&["-file", smaps, "-jemalloc-stats", path_of(&file)]);
        assert!(
            error.contains(path_of(&file)) && error.contains(expected),
            "{expected}: {error}"
        );
    }
    let error = runtime_error(&["-file", smaps, "-jemalloc-stats", "/nonexistent/stats"]);
    assert!(
        error.contains("cannot read jemalloc's statistics"),
        "{error}"
    );
}

#[test]
fn jemalloc_statistics_from_standard_input_and_where_they_do_not_belong() {
    let smaps = fixture_path("c-jemalloc/smaps");
    let smaps = smaps.to_str().unwrap();
    let stats = std::fs::read(fixture_path("c-jemalloc/runtime-stats.txt")).unwrap();
    let output = crate::support::run::memanalyzer_cmd()
        .args([
            "-file",
            smaps,
            "-top",
            "0",
            "-format",
            "json",
            "-jemalloc-stats",
            "-",
        ])
        .write_stdin(stats.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: Value = serde_json::from_slice(&output).unwrap();
    assert_eq!(jemalloc_rows(&doc)["active"].0, {
        let text = String::from_utf8(stats).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("jemalloc.active="))
            .unwrap()
            .parse::<u64>()
            .unwrap()
    });
    let error = runtime_error(&["-file", "-", "-jemalloc-stats", "-"]);
    assert!(error.contains("cannot both read standard input"), "{error}");
    crate::support::run::usage_error(&["-ps", "-jemalloc-stats", "stats.json"]);
}
