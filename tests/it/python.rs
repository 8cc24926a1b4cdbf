//! CPython processes the tests start (`fixtures/sources/python/objects.py`: 1.3 million small
//! objects, a 30 MiB bytearray, a list of 1.3 million items, optionally a 100 MiB NumPy array
//! and maps of the program's own in round sizes), against the interpreter's own figures:
//! `sys._debugmallocstats()` for pymalloc's arenas, the sizes of the large blocks the program
//! holds, the address ranges of its own maps, and the kernel's `smaps_rollup` for the totals.

use std::process::Command;

use memanalyzer::{analyze, Evidence, Input, Options, Report};

use crate::support::files::fixture_path;

use crate::support::runtime_program::*;

const MIB: u64 = 1024 * 1024;

/// `N arenas * M bytes/arena = …` from `sys._debugmallocstats()`: how many arenas are
/// allocated, and the size of one.
fn arenas_allocated(lines: &[String]) -> (u64, u64) {
    lines
        .iter()
        .find_map(|line| {
            let (count, rest) = line.split_once(" arenas * ")?;
            let size = rest.split_whitespace().next()?;
            Some((count.trim().parse().ok()?, size.parse().ok()?))
        })
        .unwrap_or_else(|| panic!("no arena line from _debugmallocstats: {lines:#?}"))
}

/// The bytes of arenas allocated: pymalloc's own count times the arena size.
fn arena_bytes(lines: &[String]) -> u64 {
    let (count, size) = arenas_allocated(lines);
    count * size
}

/// The `python.arena=ADDRESS` lines: an address inside each arena the program located.
fn located_arenas(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("python.arena="))
        .map(|hex| u64::from_str_radix(hex, 16).expect("a hex address"))
        .collect()
}

fn run_objects(python: &std::path::Path, args: &[&str]) -> (RuntimeProgram, Report) {
    let mut command = Command::new(python);
    command.arg(python_objects_script()).args(args);
    let program = RuntimeProgram::spawn(command);
    let report = analyze_settled(program.pid);
    (program, report)
}

/// What every CPython process must show: CPython found from its executable (its symbols, or
/// libpython's), its arenas close to what pymalloc counts and never more, its large blocks
/// shown as large blocks, and almost nothing left unexplained.
fn check_cpython(program: &RuntimeProgram, report: &Report) {
    let runtime = report.primary_runtime().expect("a language runtime");
    assert_eq!(runtime.id.key(), "python", "{:?}", report.runtimes);
    assert!(
        matches!(runtime.evidence, Evidence::Executable | Evidence::Name),
        "{runtime:?}"
    );
    let rss = report.totals.rss;
    let summary = breakdown(report);

    // pymalloc's arenas: runs of 1 MiB mappings. The line never counts more than pymalloc.
    let arenas = size_of(report, "python.arenas");
    let truth = arena_bytes(&program.lines);
    let ratio = arenas as f64 / truth as f64;
    eprintln!(
        "cpython: arenas line {} MiB (RSS {} MiB) vs _debugmallocstats {} MiB: {ratio:.3}",
        arenas / MIB,
        rss_of(report, "python.arenas") / MIB,
        truth / MIB
    );
    assert!(
        ratio <= 1.01,
        "arenas {arenas} vs {truth} ({ratio:.3}): {summary}"
    );
    check_arenas_merged_with_blocks(program, report);
    let large_blocks = program.figure("python.large_blocks");
    // The program's large blocks are never arenas. (NumPy advises its array for huge pages from
    // the first whole page on, which splits off the page with malloc's header: 4 KiB of
    // Anonymous Memory.)
    for (start, end) in own_maps(&program.lines, "python.block") {
        for region in overlapping(report, start, end) {
            assert_ne!(
                region.category.key(),
                "python.arenas",
                "{start:#x}: {region:?}"
            );
        }
    }
    assert!(
        rss_of(report, "python.large") + rss / 20 >= large_blocks,
        "{summary}"
    );
    // The target: no more unexplained than the large malloc'd blocks and 5% of RSS.
    let generic = generic_rss(report);
    assert!(
        generic <= large_blocks + rss / 20,
        "generic {generic} of {rss}: {summary}"
    );
    assert!(generic <= rss / 20, "generic {generic} of {rss}: {summary}");
}

#[test]
fn cpython_arenas_and_large_blocks_match_the_interpreters_figures() {
    let python = or_skip!(python3());
    let (program, report) = run_objects(&python, &[]);
    check_cpython(&program, &report);
}

/// Where the arenas missing from the arenas line went, from the arenas the program located in
/// its own memory (its objects' pools and their headers): the kernel merged them with a block
/// that is not an arena (a bytearray's 30 MiB, a 128 KiB malloc'd block), and layout cannot split
/// such a mapping, so it is one of the large blocks. The target of 10% (the line against
/// pymalloc's count) is met only when few arenas are merged so: 0.88–0.96 in 30 runs here (8 or 9
/// arenas beside the bytearray), 0.85 in one CI run.
///
/// Checked, for every run: each arena outside the line lies in a large-blocks mapping that holds
/// more than arenas (or, as documented, a run of arenas that lies where the kernel puts one map
/// of whole 2 MiB), and the line holds every other arena.
fn check_arenas_merged_with_blocks(program: &RuntimeProgram, report: &Report) {
    let (count, arena_size) = arenas_allocated(&program.lines);
    let located = located_arenas(&program.lines);
    // Arenas holding none of the program's objects (the interpreter's own) are not located.
    let unlocated = count.saturating_sub(located.len() as u64);
    let mut merged = 0;
    for region in &report.regions {
        let inside = located
            .iter()
            .filter(|address| (region.start..region.end).contains(address))
            .count() as u64;
        let key = region.category.key();
        if inside == 0 || key == "python.arenas" {
            continue;
        }
        assert_eq!(key, "python.large", "{inside} arenas in {region:?}");
        let size = region.end - region.start;
        assert!(
            inside * arena_size <= size,
            "{inside} arenas located in a mapping of {size} bytes: {region:?}"
        );
        let rest = size - inside * arena_size;
        let arenas_only = rest % arena_size == 0 && rest <= unlocated * arena_size;
        let on_the_huge_page_grid = region.start % (2 * MIB) == 0 && size % (2 * MIB) == 0;
        assert!(
            !arenas_only || on_the_huge_page_grid,
            "a mapping of {inside} located arenas ({unlocated} unlocated) and nothing else is in the large blocks: {region:?}"
        );
        merged += inside;
    }
    let line = size_of(report, "python.arenas");
    let floor = count.saturating_sub(merged + unlocated) * arena_size;
    assert!(
        line >= floor,
        "arenas line {line}: {count} arenas, {merged} merged with blocks, {unlocated} not located: at least {floor}: {}",
        breakdown(report)
    );
}

/// The program's own anonymous maps, whole MiB in size like runs of arenas: the one it maps
/// shared (the mmap module's default) is shared memory; the private one with `MAP_NORESERVE`
/// (VmFlags `nr`, which pymalloc never uses) and the private ones that Linux 6.7 and later
/// places on the 2 MiB grid, as it does every map of whole 2 MiB, are large blocks. None is
/// counted as arenas. On an older kernel the plain private maps lie anywhere, like arenas, and
/// layout cannot tell them apart: they are not checked there.
fn check_own_maps(lines: &[String], report: &Report) {
    let shared = own_maps(lines, "python.own_map.shared");
    let private = own_maps(lines, "python.own_map.private");
    let no_reserve = own_maps(lines, "python.own_map.noreserve");
    assert_eq!(
        (shared.len(), private.len(), no_reserve.len()),
        (1, 3, 1),
        "{lines:?}"
    );
    let on_the_grid: Vec<(u64, u64)> = private
        .iter()
        .copied()
        .filter(|(start, _)| start % (2 * MIB) == 0)
        .collect();
    if on_the_grid.len() < private.len() {
        eprintln!(
            "the kernel placed private maps off the 2 MiB grid (before Linux 6.7?): {private:x?}"
        );
    }
    for (start, end) in [shared, no_reserve, on_the_grid].concat() {
        for region in overlapping(report, start, end) {
            let key = region.category.key();
            assert!(
                ["shm.anonymous", "python.large", "anon.large", "anon.rw"].contains(&key.as_ref()),
                "the program's map {start:#x}-{end:#x} is in {key}: {region:?}"
            );
        }
    }
}

#[test]
fn cpython_keeps_the_programs_own_maps_out_of_the_arenas() {
    let python = or_skip!(python3());
    let (program, report) = run_objects(&python, &["--own-maps"]);
    check_cpython(&program, &report);
    check_own_maps(&program.lines, &report);
}

/// The same, in a capture (`fixtures/python-own-maps`, Linux 6.18): the arenas line against the
/// saved `_debugmallocstats()`, and the program's maps out of it.
#[test]
fn cpython_capture_with_its_own_maps() {
    let path = fixture_path("python-own-maps/smaps");
    let report = analyze(&Input::File(path), &Options::default().all()).expect("the capture");
    let stats = std::fs::read_to_string(fixture_path("python-own-maps/runtime-stats.txt"))
        .expect("the saved statistics");
    let lines: Vec<String> = stats.lines().map(str::to_string).collect();
    check_own_maps(&lines, &report);
    let arenas = size_of(&report, "python.arenas");
    let truth = arena_bytes(&lines);
    let ratio = arenas as f64 / truth as f64;
    assert!(
        (0.90..=1.0).contains(&ratio),
        "arenas {arenas} vs {truth} ({ratio:.3}): {}",
        breakdown(&report)
    );
}

#[test]
fn cpython_with_a_numpy_array_keeps_the_array_out_of_the_arenas() {
    let python = or_skip!(python3_with_numpy());
    let (program, report) = run_objects(&python, &["--numpy"]);
    check_cpython(&program, &report);
    // The 100 MiB array is a round number of MiB, but advised for huge pages: not arenas; nor
    // is OpenBLAS's 128 MiB buffer, on the 2 MiB grid (checked by the arenas line's bound).
    let array = report
        .regions
        .iter()
        .find(|region| region.end - region.start == 100 * MIB)
        .expect("the NumPy array's mapping");
    assert_eq!(array.category.key(), "python.large", "{array:?}");
    assert_eq!(array.evidence, Evidence::Layout);
}
