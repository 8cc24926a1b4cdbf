//! Properties of the whole analysis (parser, classifier, aggregation, text and JSON renderers),
//! the same ones the fuzz target in `fuzz/` checks, run on generated input in the normal suite:
//!
//! (a) any bytes, and any lines assembled from smaps-like fragments, never panic and always
//!     return, and whenever the analysis succeeds its invariants hold;
//! (b) for generated valid smaps, the totals are exactly the sums of the fields, the categories
//!     add up to them, and the text and JSON outputs are valid;
//! (c) every regression input in `fixtures/fuzz/` (inputs that once crashed the fuzz target)
//!     runs with the invariants holding.

use std::fs;

use memanalyzer::render::{Format, Unit};
use memanalyzer::{analyze_reader, Amounts, Error, Options, Report, SectionId};
use proptest::prelude::*;

use crate::support::files::fixtures_dir;
use crate::support::invariants;
use crate::support::smaps::{Record, ORDER_6_18};

/// The invariants of `support/invariants.rs`, in the default unit.
fn analyze_and_check(data: &[u8]) -> Option<Report> {
    invariants::analyze_and_check(data, Unit::Mib)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// (a) Hostile input
// ---------------------------------------------------------------------------------------------

/// The keys a field line may have: every key the kernel prints, and one it does not.
fn key(index: usize) -> &'static str {
    ORDER_6_18.get(index).copied().unwrap_or("Vendor_Thing")
}

const NAMES: [&[u8]; 22] = [
    b"",
    b"[heap]",
    b"[stack]",
    b"[stack:42]",
    b"[vdso]",
    b"[vsyscall]",
    b"[rollup]",
    b"[anon: Go: heap]",
    b"[anon: Go: gc bits]",
    b"[anon: glibc: malloc arena]",
    b"[anon:TNC-7]",
    b"[anon_shmem:pool]",
    b"[anon:]",
    b"/usr/lib/libc.so.6",
    b"/usr/bin/app",
    b"/usr/bin/app (deleted)",
    b"/memfd:buf (deleted)",
    b"/dev/zero (deleted)",
    b"/tmp/a b\\012c ",
    b"/tmp/\x1b[31mred\x7f\xc2\x85",
    b"/tmp/bad\xff\xfe",
    b"anon_inode:[io_uring]",
];

/// Addresses that matter to the rules: Go arenas, 64 MiB-aligned arenas, the very top.
fn address() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..0x1_0000_0000,
        Just(0xc0_0000_0000u64),
        Just(0x7fcf_7400_0000u64),
        Just(0xffff_ffff_fc00_0000u64),
        Just(u64::MAX),
    ]
}

fn header_fragment() -> impl Strategy<Value = Vec<u8>> {
    (
        address(),
        address(),
        "[r-][w-][x-][ps]",
        0usize..NAMES.len(),
        0usize..4,
    )
        .prop_map(|(a, b, perms, name, spaces)| {
            let (start, end) = (a.min(b), a.max(b));
            let mut line = format!("{start:08x}-{end:08x} {perms} 00000000 00:00 0").into_bytes();
            line.extend(std::iter::repeat_n(b' ', spaces));
            line.extend_from_slice(NAMES[name]);
            line
        })
}

fn field_fragment() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        (0u64..100_000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("9007199254740991".to_string()),
        Just("18014398509481983".to_string()),
        Just("99999999999999999999999".to_string()),
        Just(String::new()),
        Just("rd wr mr mw me ac ".to_string()),
    ];
    let unit = prop_oneof![Just(" kB"), Just(""), Just(" MB"), Just("kB")];
    (0..=ORDER_6_18.len(), 0usize..12, value, unit).prop_map(|(index, spaces, value, unit)| {
        format!("{}:{}{value}{unit}", key(index), " ".repeat(spaces)).into_bytes()
    })
}

/// Lines that look like smaps, with some garbage: they get past the first header.
fn smaps_like_lines() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        3 => header_fragment(),
        8 => field_fragment(),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 0..40),
        1 => "[ -~]{0,40}".prop_map(String::into_bytes),
    ];
    let line_end = prop_oneof![8 => Just(&b"\n"[..]), 1 => Just(&b"\r\n"[..]), 1 => Just(&b""[..])];
    (
        header_fragment(),
        prop::collection::vec((line, line_end), 0..60),
    )
        .prop_map(|(first, lines)| {
            let mut text = first;
            text.push(b'\n');
            for (line, end) in lines {
                text.extend_from_slice(&line);
                text.extend_from_slice(end);
            }
            text
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        analyze_and_check(&data);
    }

    #[test]
    fn smaps_like_lines_never_panic(data in smaps_like_lines()) {
        analyze_and_check(&data);
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Valid smaps
// ---------------------------------------------------------------------------------------------

/// A generated record: how far after the previous one it starts, and what it holds.
fn record() -> impl Strategy<Value = (u64, Record)> {
    (
        (0u64..20_000, 1u64..20_000),
        "[r-][w-][x-][ps]",
        0usize..NAMES.len(),
        prop::collection::vec(0u64..5_000, 4),
        (0u64..5_000, prop_oneof![4 => Just(0u64), 1 => 0u64..4096]),
    )
        .prop_filter("no [rollup] record in smaps", |(_, _, name, _, _)| {
            NAMES[*name] != b"[rollup]"
        })
        .prop_map(|((gap_pages, pages), perms, name, rss, (swap, hugetlb))| {
            let record = Record {
                shared_clean: rss[0],
                shared_dirty: rss[1],
                private_clean: rss[2],
                private_dirty: rss[3],
                swap,
                private_hugetlb: hugetlb,
                padded: true,
                ..Record::new(0, pages * 4, &perms, NAMES[name])
            };
            (gap_pages, record)
        })
}

/// Lays the records out in address order from `base`: the smaps text and the expected totals.
fn smaps_text(base: u64, records: &[(u64, Record)]) -> (Vec<u8>, Amounts) {
    let mut text = Vec::new();
    let mut address = base;
    let mut placed = Vec::new();
    for (gap_pages, record) in records {
        let record = Record {
            start: address + gap_pages * 4096,
            ..record.clone()
        };
        address = record.end();
        text.extend(record.text());
        placed.push(record);
    }
    (text, placed.iter().map(Record::amounts).sum())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_smaps_add_up_and_render(
        base in prop_oneof![
            Just(0x40_0000u64),
            Just(0xc0_0000_0000u64),
            Just(0x7fcf_7400_0000u64),
            0x1000u64..0x7f00_0000_0000,
        ],
        records in prop::collection::vec(record(), 1..40),
    ) {
        let (text, expected) = smaps_text(base & !0xfff, &records);
        let report = analyze_and_check(&text).unwrap_or_else(|| {
            panic!("valid smaps rejected:\n{}", String::from_utf8_lossy(&text))
        });
        prop_assert_eq!(report.totals, expected);
        prop_assert_eq!(report.region_count, records.len() as u64);
        prop_assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        let text_output = String::from_utf8(invariants::render(&report, Format::Text, false, Unit::Mib)).unwrap();
        // The script contract: `grep "RSS (Resident)" | awk '{print $3}'` gives whole MiB.
        let rss_line = text_output
            .lines()
            .find(|line| line.starts_with("RSS (Resident):"))
            .expect("an RSS line");
        let rss_mib = (expected.rss >> 20).to_string();
        prop_assert_eq!(rss_line.split_whitespace().nth(2), Some(rss_mib.as_str()));
    }
}

// ---------------------------------------------------------------------------------------------
// (c) Regression inputs from fuzzing
// ---------------------------------------------------------------------------------------------

#[test]
fn fuzz_regression_inputs_run() {
    let dir = fixtures_dir().join("fuzz");
    let mut count = 0;
    for entry in fs::read_dir(&dir).expect("fixtures/fuzz exists") {
        let path = entry.expect("readable directory").path();
        if path.file_name().is_some_and(|name| name == "README.md") {
            continue;
        }
        let data = fs::read(&path).expect("readable fixture");
        let result = std::panic::catch_unwind(|| analyze_and_check(&data));
        assert!(result.is_ok(), "{} panicked", path.display());
        count += 1;
    }
    assert!(count > 0, "no regression inputs in {}", dir.display());
}

/// What the regression inputs must give now, beyond not panicking.
#[test]
fn fuzz_regression_inputs_give_the_right_answers() {
    let dir = fixtures_dir().join("fuzz");
    let read = |name: &str| fs::read(dir.join(name)).expect("readable fixture");

    // A header with no field lines, then an empty line: a maps file, however it is read.
    assert!(analyze_and_check(&read("crash-fieldless-record-split")).is_none());
    // An empty line inside a record is skipped; the record goes on after it.
    let report = analyze_and_check(&read("crash-empty-line-split")).expect("valid");
    assert_eq!((report.region_count, report.totals.rss), (2, 8 * 1024));
    // An aligned map at the top of the address space is anonymous memory, not an arena.
    let report = analyze_and_check(&read("crash-malloc-arena-at-top")).expect("valid");
    assert_eq!(report.region_count, 2);
    assert!(
        report.section(SectionId::Anonymous).is_some(),
        "{report:#?}"
    );
    // Sums beyond any real amount of memory are an error, not saturated totals.
    let error = analyze_reader(
        &read("crash-saturated-totals")[..],
        &Options::default().all(),
    )
    .unwrap_err();
    let Error::Parse { source, .. } = &error else {
        panic!("not a parse error: {error:?}");
    };
    assert!(
        matches!(
            source.kind,
            memanalyzer::smaps::ParseErrorKind::TotalOverflow { .. }
        ),
        "{source:?}"
    );
    assert!(source.to_string().contains("add up to"), "{source}");
}
