//! Golden tests over every fixture in `fixtures/`: exact totals against the kernel's own
//! `smaps_rollup` (real captures) or the `.expected` files (hand-made), categories that add up to
//! the totals, the categories each runtime's memory must land in, and clear errors for inputs
//! that are not smaps.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use memanalyzer::report::{Amounts, Listing, Report, Runtime};
use memanalyzer::source::{analyze, Input};

const CAPTURES: [&str; 6] = ["go", "go-cgo", "java", "node", "python", "c-threads"];

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

fn analyze_file(path: &Path) -> Report {
    analyze(&Input::File(path.to_path_buf()), Listing::All)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// `key=value` (kB) lines of an `.expected` file, or `Key: N kB` lines of a smaps_rollup.
fn numbers(path: &Path) -> HashMap<String, u64> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=').or_else(|| line.split_once(':'))?;
            let number = value.split_whitespace().next()?.parse().ok()?;
            Some((key.trim().to_string(), number))
        })
        .collect()
}

fn kib(numbers: &HashMap<String, u64>, key: &str) -> u64 {
    numbers
        .get(key)
        .copied()
        .unwrap_or_else(|| panic!("no {key}"))
        * 1024
}

fn assert_totals_match_expected(report: &Report, expected: &HashMap<String, u64>, what: &str) {
    let totals = &report.totals;
    assert_eq!(totals.size, kib(expected, "size"), "{what}: size");
    assert_eq!(totals.rss, kib(expected, "rss"), "{what}: rss");
    assert_eq!(totals.pss, kib(expected, "pss"), "{what}: pss");
    assert_eq!(totals.private, kib(expected, "private"), "{what}: private");
    assert_eq!(totals.shared, kib(expected, "shared"), "{what}: shared");
    assert_eq!(totals.swap, kib(expected, "swap"), "{what}: swap");
    assert_eq!(
        totals.swap_pss,
        kib(expected, "swap_pss"),
        "{what}: swap_pss"
    );
    assert_eq!(totals.hugetlb, kib(expected, "hugetlb"), "{what}: hugetlb");
    assert_eq!(report.region_count, expected["regions"], "{what}: regions");
}

/// Every region is in exactly one category: the categories add up to the totals, field by field.
fn assert_categories_add_up(report: &Report, what: &str) {
    let mut sum = Amounts::default();
    let mut regions = 0;
    for section in &report.sections {
        let mut section_sum = Amounts::default();
        for category in &section.categories {
            add(&mut section_sum, &category.amounts);
            regions += category.regions;
        }
        assert_eq!(
            section_sum, section.subtotal,
            "{what}: {} subtotal",
            section.name
        );
        add(&mut sum, &section_sum);
    }
    assert_eq!(sum, report.totals, "{what}: categories vs totals");
    assert_eq!(regions, report.region_count, "{what}: region count");
    assert_eq!(
        report.regions.len() as u64,
        report.region_count,
        "{what}: -all lists every region"
    );
}

fn add(sum: &mut Amounts, amounts: &Amounts) {
    sum.size += amounts.size;
    sum.rss += amounts.rss;
    sum.pss += amounts.pss;
    sum.private += amounts.private;
    sum.shared += amounts.shared;
    sum.swap += amounts.swap;
    sum.swap_pss += amounts.swap_pss;
    sum.hugetlb += amounts.hugetlb;
}

/// The category `name` in section `section`: (regions, RSS in KiB).
fn category(report: &Report, section: &str, name: &str) -> (u64, u64) {
    let found = report
        .sections
        .iter()
        .filter(|s| s.name == section)
        .flat_map(|s| &s.categories)
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {section} / {name} in {:#?}", report.sections));
    (found.regions, found.amounts.rss / 1024)
}

#[test]
fn real_captures_match_the_kernels_rollup() {
    for name in CAPTURES {
        let report = analyze_file(&fixture(&format!("{name}/smaps")));
        let rollup = numbers(&fixture(&format!("{name}/smaps_rollup")));
        let totals = &report.totals;
        assert_eq!(totals.rss, kib(&rollup, "Rss"), "{name}: Rss");
        assert_eq!(
            totals.private,
            kib(&rollup, "Private_Clean") + kib(&rollup, "Private_Dirty"),
            "{name}: private"
        );
        assert_eq!(
            totals.shared,
            kib(&rollup, "Shared_Clean") + kib(&rollup, "Shared_Dirty"),
            "{name}: shared"
        );
        assert_eq!(totals.swap, kib(&rollup, "Swap"), "{name}: Swap");
        assert_eq!(totals.swap_pss, kib(&rollup, "SwapPss"), "{name}: SwapPss");
        assert_eq!(
            totals.hugetlb,
            kib(&rollup, "Shared_Hugetlb") + kib(&rollup, "Private_Hugetlb"),
            "{name}: hugetlb"
        );
        // Per-region Pss is truncated to whole kB, so the sum is below the rollup by < 1 kB a region.
        let pss_gap = kib(&rollup, "Pss") - totals.pss;
        assert!(
            pss_gap < report.region_count * 1024,
            "{name}: Pss gap {pss_gap}"
        );

        assert_totals_match_expected(
            &report,
            &numbers(&fixture(&format!("{name}/expected"))),
            name,
        );
        assert_categories_add_up(&report, name);
    }
}

#[test]
fn hand_made_fixtures_match_their_expected_totals() {
    let mut checked = 0;
    for entry in fs::read_dir(fixture("edge")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "expected") {
            let smaps = path.with_extension("smaps");
            let report = analyze_file(&smaps);
            let what = smaps.display().to_string();
            assert_totals_match_expected(&report, &numbers(&path), &what);
            assert_categories_add_up(&report, &what);
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} hand-made fixtures found");
}

#[test]
fn go_heap_is_found_with_and_without_names() {
    let go = analyze_file(&fixture("go/smaps"));
    assert_eq!(go.source.runtime, Runtime::Go);
    let (_, heap_kib) = category(&go, "Go Runtime", "Heap");
    assert!(
        heap_kib >= 200 * 1024,
        "the 200 MiB heap of a Go 1.19 process: {heap_kib}"
    );
    // A pure Go binary's unnamed read-write maps are its runtime's.
    assert!(category(&go, "Go Runtime", "Metadata").1 > 0);

    let named = analyze_file(&fixture("edge/go125-named.smaps"));
    assert_eq!(named.source.runtime, Runtime::Go);
    assert_eq!(category(&named, "Go Runtime", "Heap").0, 1);
    // Twelve `[anon: Go: …]` maps, plus two unnamed ones that a pure Go binary's runtime made.
    assert_eq!(category(&named, "Go Runtime", "Metadata").0, 14);
    assert_eq!(
        category(&named, "Named Memory Regions (mmap)", "TNC-* (12 regions)").0,
        12
    );
    assert_eq!(
        category(
            &named,
            "Named Memory Regions (mmap)",
            "TXMetaCache (2 regions)"
        )
        .0,
        2
    );
    assert_eq!(
        category(&named, "File-Backed Memory", "teranode Binary").0,
        3
    );
}

#[test]
fn cgo_memory_is_told_apart_from_go_memory() {
    let report = analyze_file(&fixture("go-cgo/smaps"));
    assert_eq!(report.source.runtime, Runtime::Go);
    assert!(category(&report, "Go Runtime", "Heap").1 >= 200 * 1024);
    // `[heap]` plus four 64 MiB glibc malloc arenas.
    assert_eq!(category(&report, "Go Runtime", "C Heap (cgo/malloc)").0, 5);
    // Main stack plus six 8 MiB glibc thread stacks.
    assert_eq!(category(&report, "Go Runtime", "Stack").0, 7);
    assert_eq!(
        category(&report, "File-Backed Memory", "memfix-go-cgo Binary").0,
        5
    );
}

#[test]
fn jvm_memory_lands_in_native_categories() {
    let report = analyze_file(&fixture("java/smaps"));
    assert_eq!(report.source.runtime, Runtime::Native);
    // The launcher is the binary, not the class-data archive mapped below it.
    assert_eq!(category(&report, "File-Backed Memory", "java Binary").0, 5);
    // `[heap]` and fifteen malloc arenas.
    assert_eq!(category(&report, "Native Runtime", "Heap").0, 16);
    let (stacks, _) = category(&report, "Native Runtime", "Stack");
    assert!(stacks >= 20, "Java and native thread stacks: {stacks}");
    // The Java heap itself is one large unnamed read-write map.
    assert!(category(&report, "Anonymous Memory", "Read-Write").1 >= 140 * 1024);
}

#[test]
fn shared_memory_kinds_are_told_apart() {
    let report = analyze_file(&fixture("c-threads/smaps"));
    let shared = "Shared Memory";
    assert_eq!(category(&report, shared, "memfd").1, 4096);
    assert_eq!(category(&report, shared, "SysV Shared Memory").1, 2048);
    assert_eq!(
        category(&report, shared, "POSIX Shared Memory (/dev/shm)").1,
        1024
    );
    assert_eq!(category(&report, shared, "Shared Anonymous").1, 1024);
    assert_eq!(
        category(&report, "File-Backed Memory", "Deleted Files").0,
        1
    );
    // Main stack plus three pthread stacks.
    assert_eq!(category(&report, "Native Runtime", "Stack").0, 4);

    let edge = analyze_file(&fixture("edge/shared-memory.smaps"));
    assert_eq!(category(&edge, "Named Memory Regions (mmap)", "pool").0, 1);
    assert_eq!(category(&edge, "Other", "Huge Pages").0, 1);
    assert_eq!(category(&edge, "Other", "anon_inode").0, 1);
    assert_eq!(category(&edge, "Other", "Devices").0, 2);
}

#[test]
fn decorated_glibc_and_android_names_are_runtime_memory() {
    let glibc = analyze_file(&fixture("edge/glibc-decorated.smaps"));
    let (heap_regions, _) = category(&glibc, "Native Runtime", "Heap");
    assert_eq!(
        heap_regions, 6,
        "[heap], malloc arena parts and mmapped chunks"
    );
    assert_eq!(category(&glibc, "Native Runtime", "Stack").0, 3);
    assert_eq!(category(&glibc, "Native Runtime", "Metadata").0, 2);

    let android = analyze_file(&fixture("edge/android.smaps"));
    assert_eq!(category(&android, "Native Runtime", "Heap").0, 3);
    assert_eq!(category(&android, "Native Runtime", "Stack").0, 2);
    assert_eq!(
        category(
            &android,
            "Named Memory Regions (mmap)",
            "dalvik-main space (region space)"
        )
        .0,
        1
    );
}

#[test]
fn old_kernels_and_odd_names_parse() {
    let old = analyze_file(&fixture("edge/old-kernel-3.10.smaps"));
    assert_eq!(
        category(&old, "Native Runtime", "Stack").0,
        3,
        "[stack] and [stack:TID]"
    );

    let names = analyze_file(&fixture("edge/names.smaps"));
    let listed: Vec<&[u8]> = names
        .regions
        .iter()
        .map(|region| region.name.as_slice())
        .collect();
    assert!(
        listed.contains(&&b"/tmp/trail "[..]),
        "the trailing space is kept"
    );
    assert!(listed.contains(&&b"/opt/my app/lib one.so"[..]));
    assert!(
        listed.iter().any(|name| name.contains(&0x1b)),
        "raw bytes are kept for renderers"
    );
}

#[test]
fn tolerated_inputs_warn() {
    let crlf = analyze_file(&fixture("edge/crlf.smaps"));
    assert_eq!(crlf.warnings.len(), 1, "{:?}", crlf.warnings);
    assert!(crlf.warnings[0].contains("CRLF"));
    let plain = analyze_file(&fixture("edge/unknown-keys.smaps"));
    assert_eq!(crlf.totals, plain.totals);
    assert!(plain.warnings.is_empty());

    let truncated = analyze_file(&fixture("edge/truncated.smaps"));
    assert_eq!(truncated.region_count, 6);
    assert!(
        truncated.warnings[0].contains("cut short"),
        "{:?}",
        truncated.warnings
    );
}

#[test]
fn inputs_that_are_not_smaps_are_rejected_clearly() {
    let cases = [
        ("empty.smaps", "is empty"),
        ("rollup.smaps", "smaps_rollup"),
        ("maps.txt", "/proc/PID/maps"),
        ("garbage.bin", "line 1: expected a mapping header"),
        ("overflow.smaps", "too large"),
        ("bad-header.smaps", "expected a mapping header"),
    ];
    for (name, message) in cases {
        let path = fixture(&format!("edge/{name}"));
        let error = analyze(&Input::File(path), Listing::Top(20))
            .expect_err(name)
            .to_string();
        assert!(error.contains(message), "{name}: {error}");
        assert!(
            error.contains(name),
            "{name}: the message names the file: {error}"
        );
    }
}
