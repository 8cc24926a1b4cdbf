//! The aggregator on small hand-made inputs: sums, named groups, the listing, runtime detection.

use super::*;
use crate::report::SectionId;
use crate::smaps::parse_bytes;

fn record(header: &str, rss_kb: u64) -> String {
    format!(
        "{header}\nSize: {size} kB\nRss: {rss_kb} kB\nPss: {rss_kb} kB\nShared_Clean: 0 kB\nShared_Dirty: 0 kB\n\
         Private_Clean: 0 kB\nPrivate_Dirty: {rss_kb} kB\nSwap: 0 kB\nSwapPss: 0 kB\nVmFlags: rd wr \n",
        size = rss_kb.max(4)
    )
}

fn analyze(text: &str, listing: Listing) -> Report {
    let mut aggregator = Aggregator::new(listing, None);
    parse_bytes(text.as_bytes(), |region| aggregator.add(region)).unwrap();
    aggregator.flush();
    aggregator.finish(ProcessInfo::default(), listing, Vec::new())
}

fn labels(report: &Report, section: SectionId) -> Vec<(String, u64)> {
    report
        .section(section)
        .unwrap()
        .categories
        .iter()
        .map(|c| (String::from_utf8(c.title()).unwrap(), c.amounts.rss / 1024))
        .collect()
}

#[test]
fn folds_numbered_chunks_into_one_group() {
    let mut text = String::new();
    for chunk in 0..512u64 {
        text += &record(
            &format!(
                "{:x}-{:x} rw-p 00000000 00:00 0 [anon:TNC-{chunk}]",
                0x7f0000000000 + chunk * 0x2000,
                0x7f0000001000 + chunk * 0x2000
            ),
            4,
        );
    }
    text += &record(
        "7f1000000000-7f1000100000 rw-p 00000000 00:00 0 [anon: TXMetaCache]",
        100,
    );
    text += &record(
        "7f1000200000-7f1000300000 rw-p 00000000 00:00 0 [anon:TXMetaCache]",
        50,
    );
    let report = analyze(&text, Listing::Top(3));
    assert_eq!(
        labels(&report, SectionId::Named),
        [
            ("TNC-* (512 regions)".to_string(), 2048),
            ("TXMetaCache (2 regions)".to_string(), 150)
        ]
    );
    let group = report
        .named_group("TNC-17")
        .expect("found by any member's name");
    assert_eq!(group.id.key(), "named:TNC-*");
    assert_eq!(report.category("named:TXMetaCache").unwrap().regions, 2);
    assert_eq!(report.regions.len(), 3);
    assert_eq!(report.regions.get(0).unwrap().amounts.rss, 100 * 1024);
    assert_eq!(
        report.regions.get(0).unwrap().category.key(),
        "named:TXMetaCache"
    );
    assert_eq!(report.regions.get(1).unwrap().amounts.rss, 50 * 1024);
}

#[test]
fn categories_add_up_to_the_totals_and_the_executable_is_guessed() {
    let text = [
        record("00400000-00401000 r--p 00000000 08:01 7 /usr/bin/app", 8),
        record("00401000-00402000 r-xp 00001000 08:01 7 /usr/bin/app", 4),
        record(
            "55a000000000-55a000100000 rw-p 00000000 00:00 0 [heap]",
            400,
        ),
        record("7f0000000000-7f0000001000 ---p 00000000 00:00 0 ", 0),
        record("7f0000001000-7f0000801000 rw-p 00000000 00:00 0 ", 64),
        record("7f0000900000-7f0000a00000 rw-p 00000000 00:00 0 ", 32),
        record(
            "7f0000b00000-7f0000c00000 r-xp 00000000 08:01 9 /lib/libc.so.6",
            200,
        ),
        record(
            "7f0000c00000-7f0000c01000 r--p 00000000 08:01 11 /usr/share/data",
            4,
        ),
        record(
            "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]",
            12,
        ),
    ]
    .concat();
    let report = analyze(&text, Listing::All);
    assert!(report.primary_runtime().is_none());
    let ids: Vec<&str> = report.runtimes.iter().map(|r| r.id.key()).collect();
    assert_eq!(ids, ["glibc"]);
    let sum: Amounts = report.sections.iter().map(|s| s.subtotal).sum();
    assert_eq!(sum, report.totals);
    for section in &report.sections {
        let categories: Amounts = section.categories.iter().map(|c| c.amounts).sum();
        assert_eq!(categories, section.subtotal, "{}", section.title);
    }
    assert_eq!(report.regions.len(), 9);
    assert_eq!(report.sections[0].title, "Native Runtime");
    assert_eq!(
        labels(&report, SectionId::Runtime),
        [("Heap".to_string(), 400), ("Stack".to_string(), 76)]
    );
    assert_eq!(
        labels(&report, SectionId::FileBacked),
        [
            ("Shared Libraries".to_string(), 200),
            ("app Binary".to_string(), 12),
            ("Other Files".to_string(), 4)
        ]
    );
    assert_eq!(report.source.exe.as_deref(), Some(&b"/usr/bin/app"[..]));
    let binary_rows = report
        .regions
        .iter()
        .filter(|row| row.category.key() == "file.binary")
        .count();
    assert_eq!(binary_rows, 2, "both of the executable's mappings");
}

#[test]
fn a_go_arena_makes_the_process_go_and_its_reservations_metadata() {
    // The map committed at the start of a reservation is the runtime's; a map on its own may be
    // the program's and stays anonymous.
    let text = [
        record(
            "00400000-00401000 r-xp 00000000 08:01 7 /usr/local/bin/server",
            4,
        ),
        record("c000000000-c004000000 rw-p 00000000 00:00 0 ", 2048),
        record("7e0000000000-7e0000100000 rw-p 00000000 00:00 0 ", 500),
        record("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 ", 300),
        record("7f0000100000-7f0000900000 ---p 00000000 00:00 0 ", 0),
    ]
    .concat();
    let report = analyze(&text, Listing::Top(20));
    let go = report
        .primary_runtime()
        .expect("Go is found from its first arena");
    assert_eq!(
        (go.id.key(), go.evidence),
        ("go", crate::report::Evidence::Layout)
    );
    assert_eq!(report.sections[0].title, "Go Runtime");
    assert_eq!(
        labels(&report, SectionId::Runtime),
        [("Heap".to_string(), 2048), ("Metadata".to_string(), 300)]
    );
    assert_eq!(
        labels(&report, SectionId::Anonymous)[0],
        ("Read-Write".to_string(), 500)
    );
    assert_eq!(report.unexplained.amounts.rss, 500 * 1024);
    let metadata = report.category("runtime.metadata").unwrap();
    assert_eq!(metadata.evidence, crate::report::Evidence::Layout);
    assert_eq!(metadata.inferred.rss, 300 * 1024);
}

#[test]
fn the_c_heap_is_named_for_cgo_beside_go() {
    let text = [
        record(
            "c000000000-c004000000 rw-p 00000000 00:00 0 [anon: Go: heap]",
            2048,
        ),
        record(
            "55a000000000-55a000100000 rw-p 00000000 00:00 0 [heap]",
            400,
        ),
        record(
            "7f0000b00000-7f0000c00000 r-xp 00000000 08:01 9 /lib/libc.so.6",
            200,
        ),
    ]
    .concat();
    let report = analyze(&text, Listing::Top(20));
    assert_eq!(
        labels(&report, SectionId::Runtime),
        [
            ("Heap".to_string(), 2048),
            ("C Heap (cgo/malloc)".to_string(), 400)
        ]
    );
    assert_eq!(report.category("c.heap").unwrap().amounts.rss, 400 * 1024);
}

#[test]
fn the_executable_file_overrides_what_the_regions_suggest() {
    let text = record("c000000000-c004000000 rw-p 00000000 00:00 0 ", 2048);
    let mut aggregator = Aggregator::new(Listing::Top(1), None);
    parse_bytes(text.as_bytes(), |region| aggregator.add(region)).unwrap();
    aggregator.flush();
    let not_go = ProcessInfo {
        executable: ExecutableFacts {
            elf: Some(Default::default()),
        },
        ..ProcessInfo::default()
    };
    let report = aggregator.finish(not_go, Listing::Top(1), Vec::new());
    assert!(report.primary_runtime().is_none());
    assert_ne!(report.regions.get(0).unwrap().category.key(), "go.heap");
}
