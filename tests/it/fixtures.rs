//! The library on every capture in `fixtures/`: exact totals against the kernel's own
//! `smaps_rollup` (real captures) or the `.expected` files (hand-made), every region counted in
//! exactly one category, and the categories each runtime's memory must land in, by stable id.
//! (How the categories are shown, titles and region counts, is pinned in `snapshots.rs`.)

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use memanalyzer::{analyze, CategoryReport, Evidence, Input, Listing, Options, Report, SectionId};

use crate::support::files::{fixture_path, fixtures_dir, temp_file, CAPTURES};
use crate::support::invariants::check_report;

fn analyze_file(path: &Path) -> Report {
    let report = analyze(&Input::File(path.to_path_buf()), &Options::default().all())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    // Every region in exactly one category: categories add up to the sections, the sections to
    // the totals, field by field, and -all lists every region.
    check_report(&report, Listing::All);
    report
}

fn analyze_fixture(relative: &str) -> Report {
    analyze_file(&fixture_path(relative))
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

/// The category with stable id `key`; panics if no region is in it.
fn category<'a>(report: &'a Report, key: &str) -> &'a CategoryReport {
    report
        .category(key)
        .unwrap_or_else(|| panic!("no {key} in {:#?}", report.sections))
}

/// The number of regions in the category `key`.
fn regions(report: &Report, key: &str) -> u64 {
    category(report, key).regions
}

/// The RSS of the category `key`, in KiB.
fn rss_kib(report: &Report, key: &str) -> u64 {
    category(report, key).amounts.rss / 1024
}

/// The key of the language runtime found, or `native`.
fn runtime(report: &Report) -> &'static str {
    report
        .primary_runtime()
        .map_or("native", |runtime| runtime.id.key())
}

#[test]
fn real_captures_match_the_kernels_rollup() {
    for name in CAPTURES {
        let report = analyze_fixture(&format!("{name}/smaps"));
        let rollup = numbers(&fixture_path(&format!("{name}/smaps_rollup")));
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
            &numbers(&fixture_path(&format!("{name}/expected"))),
            name,
        );
    }
}

#[test]
fn hand_made_fixtures_match_their_expected_totals() {
    let mut checked = 0;
    for entry in fs::read_dir(fixtures_dir().join("edge")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "expected") {
            let smaps = path.with_extension("smaps");
            let report = analyze_file(&smaps);
            assert_totals_match_expected(&report, &numbers(&path), &smaps.display().to_string());
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} hand-made fixtures found");
}

#[test]
fn go_heap_is_found_with_and_without_names() {
    let go = analyze_fixture("go/smaps");
    assert_eq!(runtime(&go), "go");
    let heap_kib = rss_kib(&go, "go.heap");
    assert!(
        heap_kib >= 200 * 1024,
        "the 200 MiB heap of a Go 1.19 process: {heap_kib}"
    );
    // Go 1.19 names nothing: of its metadata only what it commits inside its own no-access
    // reservations (page summaries, scavenger index) is recognised, seven maps here. The arena
    // index and per-arena bitmaps (one merged 40 MiB map at 7f1708fbc000) look like any mmap
    // and stay generic rather than take the program's own maps with them.
    assert_eq!(regions(&go, "runtime.metadata"), 7);
    assert_eq!(category(&go, "runtime.metadata").evidence, Evidence::Layout);
    assert!(rss_kib(&go, "anon.rw") >= 6 * 1024);

    let named = analyze_fixture("edge/go125-named.smaps");
    assert_eq!(runtime(&named), "go");
    assert_eq!(regions(&named, "go.heap"), 1);
    // Twelve `[anon: Go: …]` maps; the two unnamed ones are not taken for the runtime's.
    assert_eq!(regions(&named, "runtime.metadata"), 12);
    assert_eq!(
        category(&named, "runtime.metadata").evidence,
        Evidence::Name
    );
    assert_eq!(regions(&named, "named:TNC-*"), 12);
    assert_eq!(category(&named, "named:TNC-*").label, b"TNC-*");
    assert_eq!(regions(&named, "named:TXMetaCache"), 2);
    assert_eq!(regions(&named, "file.binary"), 3);
    assert_eq!(category(&named, "file.binary").label, b"teranode Binary");
}

#[test]
fn named_groups_are_found_as_the_original_package_did() {
    let named = analyze_fixture("edge/go125-named.smaps");
    // `NamedRegions["TXMetaCache"]`; names that differ only in their numbers are one group.
    let cache = named.named_group("TXMetaCache").expect("TXMetaCache");
    assert_eq!(cache.title(), b"TXMetaCache (2 regions)");
    let tnc = named.named_group("TNC-7").expect("the TNC-* group");
    assert_eq!(
        (tnc.regions, tnc.title()),
        (12, b"TNC-* (12 regions)".to_vec())
    );
    assert_eq!(tnc, named.named_group("TNC-0").unwrap());
    assert!(named.named_group("TXMetaCach").is_none());
    let file_backed = named.section(SectionId::FileBacked).expect("files");
    assert_eq!(named.file_backed(), file_backed.subtotal);
    assert_eq!(
        file_backed
            .categories
            .iter()
            .map(|c| c.amounts)
            .sum::<memanalyzer::Amounts>(),
        named.file_backed()
    );
}

#[test]
fn cgo_memory_is_told_apart_from_go_memory() {
    let report = analyze_fixture("go-cgo/smaps");
    assert_eq!(runtime(&report), "go");
    assert!(rss_kib(&report, "go.heap") >= 200 * 1024);
    // `[heap]` plus four 64 MiB glibc malloc arenas.
    assert_eq!(regions(&report, "c.heap"), 5);
    assert_eq!(category(&report, "c.heap").label, b"C Heap (cgo/malloc)");
    // Main stack plus six 8 MiB glibc thread stacks.
    assert_eq!(regions(&report, "stack"), 7);
    assert_eq!(regions(&report, "file.binary"), 5);
    assert_eq!(
        category(&report, "file.binary").label,
        b"memfix-go-cgo Binary"
    );
}

#[test]
fn jvm_memory_lands_in_the_jvm_section() {
    let report = analyze_fixture("java/smaps");
    assert_eq!(runtime(&report), "jvm");
    let section = report.section(SectionId::Runtime).expect("runtime section");
    assert_eq!(section.title, "JVM (HotSpot)");
    // The launcher is the binary, not the class-data archive mapped below it.
    assert_eq!(regions(&report, "file.binary"), 5);
    assert_eq!(category(&report, "file.binary").label, b"java Binary");
    // The heap's unnamed map and the two unnamed pieces between the archived heap regions.
    assert_eq!(regions(&report, "jvm.heap"), 3);
    assert!(rss_kib(&report, "jvm.heap") >= 140 * 1024);
    // Three code heaps, each rwx with its reservation above it.
    assert_eq!(regions(&report, "jvm.code_cache"), 6);
    // classes.jsa three times (two archived heap regions, the metadata) and lib/modules.
    assert_eq!(regions(&report, "jvm.class_data"), 4);
    assert_eq!(regions(&report, "jvm.perfdata"), 1);
    // `[heap]` and fifteen malloc arenas, named so that no one takes them for the Java heap.
    assert_eq!(regions(&report, "c.heap"), 16);
    assert_eq!(category(&report, "c.heap").label, b"Native Heap (malloc)");
    let stacks = regions(&report, "stack");
    assert!(stacks >= 20, "Java and native thread stacks: {stacks}");
}

#[test]
fn every_jvm_capture_finds_its_heap_code_and_class_metadata() {
    for name in ["java-g1-1g", "java-parallel", "java-serial", "java25-g1-4g"] {
        let report = analyze_fixture(&format!("{name}/smaps"));
        assert_eq!(runtime(&report), "jvm", "{name}");
        for key in [
            "jvm.heap",
            "jvm.code_cache",
            "jvm.metaspace",
            "jvm.class_data",
            "jvm.perfdata",
        ] {
            assert!(regions(&report, key) > 0, "{name}: no {key}");
        }
        // Every Java thread's stack (16 KiB guard zone, then the stack) is a stack.
        assert!(regions(&report, "stack") >= 10, "{name}");
    }
}

#[test]
fn node_memory_lands_in_the_node_section() {
    // Node 20 from NodeSource (V8 in the executable, rwx code) and Debian's Node 18 (V8 in
    // libnode.so.108, code r-x between writes).
    for name in ["node", "node-18-debian", "node-20"] {
        let report = analyze_fixture(&format!("{name}/smaps"));
        assert_eq!(runtime(&report), "node", "{name}");
        let section = report.section(SectionId::Runtime).expect("runtime section");
        assert_eq!(section.title, "Node.js (V8)");
        assert_eq!(category(&report, "file.binary").label, b"node Binary");
        assert_eq!(category(&report, "c.heap").label, b"Native Heap (malloc)");
        // Hundreds of 256 KiB pages, some merged by the kernel into runs.
        assert!(regions(&report, "v8.heap") > 100, "{name}");
        assert!(regions(&report, "v8.large_objects") > 0, "{name}");
        assert!(regions(&report, "v8.code") > 0, "{name}");
    }
    // The 32 MiB of Buffers are malloc'd outside the V8 heap, and stay unexplained here.
    let node = analyze_fixture("node/smaps");
    assert!(rss_kib(&node, "anon.large") >= 32 * 1024);
}

#[test]
fn runtimes_layout_rules_leave_other_processes_alone() {
    for name in ["c-threads", "go", "go-cgo", "python"] {
        let report = analyze_fixture(&format!("{name}/smaps"));
        for key in [
            "jvm.heap",
            "jvm.code_cache",
            "v8.heap",
            "v8.large_objects",
            "v8.code",
        ] {
            assert!(report.category(key).is_none(), "{name} has {key}");
        }
    }
}

#[test]
fn shared_memory_kinds_are_told_apart() {
    let report = analyze_fixture("c-threads/smaps");
    assert_eq!(rss_kib(&report, "shm.memfd"), 4096);
    assert_eq!(rss_kib(&report, "shm.sysv"), 2048);
    assert_eq!(rss_kib(&report, "shm.posix"), 1024);
    assert_eq!(rss_kib(&report, "shm.anonymous"), 1024);
    assert_eq!(regions(&report, "file.deleted"), 1);
    // Main stack plus three pthread stacks.
    assert_eq!(regions(&report, "stack"), 4);

    let edge = analyze_fixture("edge/shared-memory.smaps");
    assert_eq!(regions(&edge, "named:pool"), 1);
    assert_eq!(regions(&edge, "other.hugepages"), 1);
    assert_eq!(regions(&edge, "other.anon_inode"), 1);
    assert_eq!(regions(&edge, "other.devices"), 2);
}

#[test]
fn decorated_glibc_and_android_names_are_runtime_memory() {
    let glibc = analyze_fixture("edge/glibc-decorated.smaps");
    assert_eq!(
        regions(&glibc, "c.heap"),
        5,
        "[heap] and malloc arena parts"
    );
    // A block glibc served with a map of its own, known by its name: not heap.
    assert_eq!(regions(&glibc, "c.large"), 1);
    assert_eq!(category(&glibc, "c.large").evidence, Evidence::Name);
    assert_eq!(regions(&glibc, "stack"), 3);
    assert_eq!(regions(&glibc, "runtime.metadata"), 2);

    let android = analyze_fixture("edge/android.smaps");
    assert_eq!(regions(&android, "c.heap"), 3);
    assert_eq!(regions(&android, "stack"), 2);
    let dalvik = category(&android, "named:dalvik-main space (region space)");
    assert_eq!(dalvik.regions, 1);
    assert_eq!(dalvik.label, b"dalvik-main space (region space)");
}

#[test]
fn old_kernels_and_odd_names_parse() {
    let old = analyze_fixture("edge/old-kernel-3.10.smaps");
    assert_eq!(regions(&old, "stack"), 3, "[stack] and [stack:TID]");

    let names = analyze_fixture("edge/names.smaps");
    let listed: Vec<Vec<u8>> = names.regions.iter().map(|region| region.name).collect();
    assert!(
        listed.contains(&b"/tmp/trail ".to_vec()),
        "the trailing space is kept"
    );
    assert!(listed.contains(&b"/opt/my app/lib one.so".to_vec()));
    assert!(
        listed.iter().any(|name| name.contains(&0x1b)),
        "raw bytes are kept for renderers"
    );
}

/// Every category of every fixture is in the section its id says, and its key reads back.
#[test]
fn category_ids_are_stable_keys_of_their_section() {
    for relative in crate::support::files::analyzable_fixtures() {
        let report = analyze_fixture(&relative);
        for section in &report.sections {
            for category in &section.categories {
                assert_eq!(category.id.section(), section.id, "{relative}");
                let key = category.id.key();
                assert_eq!(
                    memanalyzer::CategoryId::from_key(&key).as_ref(),
                    Some(&category.id),
                    "{relative}: {key}"
                );
            }
        }
        for row in &report.regions {
            assert!(report.category(&row.category.key()).is_some(), "{relative}");
        }
    }
}

/// `KEY=NUMBER` lines of a capture's `runtime-stats.txt` (the program's own figures).
fn runtime_figure(capture: &str, key: &str) -> u64 {
    let path = fixture_path(&format!("{capture}/runtime-stats.txt"));
    fs::read_to_string(&path)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {}", path.display()))
}

/// RSS no rule explained: the Anonymous Memory section and Unrecognized.
fn generic_kib(report: &Report) -> u64 {
    (report
        .section(SectionId::Anonymous)
        .map_or(0, |section| section.subtotal.rss)
        + report
            .category("other.unrecognized")
            .map_or(0, |category| category.amounts.rss))
        / 1024
}

#[test]
fn cpython_is_found_from_its_regions_alone() {
    // pyenv's python3.11 maps libpython3.11.so; Debian's is one static binary, recognised by
    // its name.
    for capture in ["python", "python-numpy"] {
        let report = analyze_fixture(&format!("{capture}/smaps"));
        assert_eq!(runtime(&report), "python", "{capture}");
        assert_eq!(
            report.primary_runtime().unwrap().evidence,
            memanalyzer::Evidence::Name
        );
        assert!(regions(&report, "python.arenas") > 0, "{capture}");
        assert_eq!(
            category(&report, "c.heap").label,
            b"C Heap (malloc)",
            "{capture}"
        );
        assert!(
            generic_kib(&report) * 20 <= report.totals.rss / 1024,
            "{capture}"
        );
    }
}

#[test]
fn cpython_arenas_against_debugmallocstats_in_the_numpy_capture() {
    let report = analyze_fixture("python-numpy/smaps");
    // `N arenas * 1048576 bytes/arena = …` in the saved sys._debugmallocstats() output.
    let stats = fs::read_to_string(fixture_path("python-numpy/runtime-stats.txt")).unwrap();
    let arenas: u64 = stats
        .lines()
        .find_map(|line| line.split_once(" arenas * 1048576 bytes/arena"))
        .and_then(|(count, _)| count.trim().parse().ok())
        .expect("the arenas line of _debugmallocstats");
    let line_mib = category(&report, "python.arenas").amounts.size / (1024 * 1024);
    assert!(
        line_mib <= arenas && line_mib * 100 >= arenas * 85,
        "arenas line {line_mib} MiB vs {arenas} arenas"
    );
    // The 100 MiB array (advised for huge pages), the bytearray and the list's storage.
    let large_blocks = runtime_figure("python-numpy", "python.large_blocks");
    assert!(category(&report, "python.large").amounts.rss >= large_blocks * 95 / 100);
    let array = report
        .regions
        .iter()
        .find(|region| region.end - region.start == 100 * 1024 * 1024)
        .expect("the NumPy array");
    assert_eq!(array.category.key(), "python.large");
}

#[test]
fn jemalloc_is_found_from_its_library_in_a_capture() {
    let report = analyze_fixture("c-jemalloc/smaps");
    let jemalloc = report
        .runtimes
        .iter()
        .find(|runtime| runtime.id.key() == "jemalloc")
        .expect("libjemalloc.so.2 is mapped");
    assert_eq!(jemalloc.evidence, memanalyzer::Evidence::Name);
    let heap = category(&report, "jemalloc.heap").amounts.rss;
    let active = runtime_figure("c-jemalloc", "jemalloc.active")
        + runtime_figure("c-jemalloc", "jemalloc.metadata");
    let resident = runtime_figure("c-jemalloc", "jemalloc.resident");
    // Not purged: freed pages are still resident, which jemalloc's `resident` counts.
    assert!(
        heap * 100 >= active * 95 && heap * 100 <= resident * 105,
        "{heap}"
    );
    assert!(generic_kib(&report) * 10 <= report.totals.rss / 1024);
}

#[test]
fn static_jemalloc_is_inferred_from_its_extent_runs_in_a_capture_alone() {
    // tikv-jemallocator is linked into the executable, whose symbols only a live analysis reads
    // (tests/it/jemalloc.rs). In a capture alone, its extent runs (MAP_NORESERVE, whole 512 KiB)
    // stand for it: no capture of a program without jemalloc has more than one such map.
    for capture in ["rust-jemalloc", "rust-jemalloc-5.2", "rust-jemalloc-5.3.1"] {
        let report = analyze_fixture(&format!("{capture}/smaps"));
        let jemalloc = report
            .runtimes
            .iter()
            .find(|runtime| runtime.id.key() == "jemalloc")
            .unwrap_or_else(|| panic!("{capture}: jemalloc not inferred: {:?}", report.runtimes));
        assert_eq!(jemalloc.evidence, Evidence::Layout, "{capture}");
        let heap = category(&report, "jemalloc.heap");
        assert_eq!(heap.evidence, Evidence::Layout, "{capture}");
        let active = runtime_figure(capture, "jemalloc.active")
            + runtime_figure(capture, "jemalloc.metadata");
        let resident = runtime_figure(capture, "jemalloc.resident");
        // Captured with dirty pages not yet purged, which jemalloc's `resident` counts.
        let rss = heap.amounts.rss;
        assert!(
            rss * 100 >= active * 95 && rss * 100 <= resident * 105,
            "{capture}: heap {rss} vs active + metadata {active}, resident {resident}"
        );
        assert!(
            generic_kib(&report) * 10 <= report.totals.rss / 1024,
            "{capture}: generic {} KiB of {}",
            generic_kib(&report),
            report.totals.rss
        );
    }
}

#[test]
fn no_capture_without_jemalloc_infers_it() {
    for capture in CAPTURES {
        if capture.contains("jemalloc") {
            continue;
        }
        let report = analyze_fixture(&format!("{capture}/smaps"));
        assert!(
            report.runtimes.iter().all(|r| r.id.key() != "jemalloc"),
            "{capture}: {:?}",
            report.runtimes
        );
        assert!(report.category("jemalloc.heap").is_none(), "{capture}");
    }
}

/// Smaps text of `count` anonymous regions, each with its own name, in address order: about
/// 200 bytes and 7 lines a region, so that a few thousand fill many read-ahead buffers.
fn many_named_regions(count: u64) -> String {
    let mut text = String::new();
    for index in 0..count {
        let start = 0x7f00_0000_0000 + index * 0x3000;
        text.push_str(&format!(
            "{start:012x}-{:012x} rw-p 00000000 00:00 0                          [anon:pool-{}]\n",
            start + 0x2000,
            index % 700
        ));
        for (key, value) in [("Size:", 8), ("Rss:", 4 + index % 5 * 4), ("Pss:", 4)] {
            text.push_str(&format!("{key:<16}{value:>8} kB\n"));
        }
        text.push_str("Private_Dirty:         4 kB\nSwap:                  0 kB\nVmFlags: rd wr mr mw me ac\n");
    }
    text
}

#[test]
fn a_file_aggregated_beside_its_reader_equals_one_aggregated_as_parsed() {
    // A file beyond the first read-ahead buffer (128 KiB) is aggregated on the reader thread;
    // analyze_reader aggregates on the parsing thread. Every part of the report must agree.
    let generated = temp_file(many_named_regions(20_000));
    let mut inputs: Vec<std::path::PathBuf> = CAPTURES
        .iter()
        .map(|name| fixture_path(&format!("{name}/smaps")))
        .collect();
    inputs.push(generated.path().to_path_buf());
    let large = inputs
        .iter()
        .filter(|path| fs::metadata(path).unwrap().len() > 128 * 1024)
        .count();
    assert!(large >= 4, "only {large} inputs start the reader thread");
    for options in [
        Options::default(),
        Options::default().all().region_groups(),
        Options::default().top(3),
    ] {
        for path in &inputs {
            let aside = analyze(&Input::File(path.clone()), &options).unwrap();
            let file = fs::File::open(path).unwrap();
            let mut here = memanalyzer::analyze_reader(file, &options).unwrap();
            here.source = aside.source.clone();
            here.duration = aside.duration;
            assert!(here == aside, "{}: {options:?}", path.display());
        }
    }
}

#[test]
fn an_error_far_into_a_file_aggregated_beside_its_reader_is_the_same_error() {
    let text = many_named_regions(10_000) + "not smaps at all\n" + &many_named_regions(10);
    let file = temp_file(&text);
    let aside = analyze(&Input::File(file.path().to_path_buf()), &Options::default()).unwrap_err();
    let here = memanalyzer::analyze_reader(text.as_bytes(), &Options::default()).unwrap_err();
    let (
        memanalyzer::Error::Parse { source: aside, .. },
        memanalyzer::Error::Parse { source: here, .. },
    ) = (&aside, &here)
    else {
        panic!("{aside:?} / {here:?}");
    };
    assert_eq!(aside, here);
    assert!(aside.to_string().contains("line 70001"), "{aside}");
}
