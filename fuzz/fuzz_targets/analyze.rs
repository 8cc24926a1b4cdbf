//! Arbitrary bytes through the whole analysis: parser, classifier, aggregation and both
//! renderers (text with and without colour, JSON), for the top-N listing and `-all`.
//!
//! Beyond "never panics, always returns", it checks what must hold whenever the analysis
//! succeeds:
//! - every section's categories add up to its subtotal, and the subtotals to the totals, field by
//!   field (computed in u128, so a saturated sum cannot hide);
//! - the listing holds min(N, regions) or all regions, largest first;
//! - the JSON output parses as JSON;
//! - text output without colour holds no ESC and no other control byte (C0, DEL, C1) apart from
//!   line ends; with colour, every ESC starts an SGR sequence (`ESC [ digits/; m`);
//! - the streaming parser (`parse_reader`, fed in small pieces) and the whole-input parser
//!   (`parse_bytes`) agree on every region and on success or failure.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use memanalyzer::aggregate::ProcessFacts;
use memanalyzer::parse::{parse_bytes, parse_reader, Fields, ParseErrorKind, Perms, StreamError};
use memanalyzer::render::{renderer, Format, TextStyle, Unit};
use memanalyzer::report::{Amounts, Listing, Report};
use memanalyzer::source::analyze_reader;

fuzz_target!(|data: &[u8]| {
    check_streaming_matches_whole(data);

    let top = analyze_reader(data, ProcessFacts::default(), Listing::Top(5));
    let all = analyze_reader(data, ProcessFacts::default(), Listing::All);
    match (top, all) {
        (Ok(top), Ok(all)) => {
            check_report(&top, Listing::Top(5));
            check_report(&all, Listing::All);
            assert_eq!(top.totals, all.totals, "totals depend on the listing");
            assert_eq!(top.sections, all.sections, "sections depend on the listing");
            // Regions of equal rank may be listed in either order: compare the ranks only.
            let ranks = |report: &Report, count: usize| -> Vec<(u64, u64, u64)> {
                report.regions[..count]
                    .iter()
                    .map(|row| (row.amounts.rss, row.amounts.size, row.start))
                    .collect()
            };
            assert_eq!(
                ranks(&all, top.regions.len()),
                ranks(&top, top.regions.len()),
                "the top regions are not the first of all regions"
            );
            let unit = UNITS[data.len() % UNITS.len()];
            for report in [&top, &all] {
                check_renderers(report, unit);
            }
        }
        (Err(_), Err(_)) => {}
        (top, all) => panic!(
            "the listing changed success: top {:?}, all {:?}",
            top.err().map(|e| e.to_string()),
            all.err().map(|e| e.to_string())
        ),
    }
});

const UNITS: [Unit; 5] = [Unit::Mib, Unit::Auto, Unit::Kib, Unit::Bytes, Unit::Gib];

fn check_report(report: &Report, listing: Listing) {
    let mut sections_sum = Sum::default();
    for section in &report.sections {
        let mut categories_sum = Sum::default();
        for category in &section.categories {
            categories_sum.add(&category.amounts, category.regions);
        }
        assert_eq!(
            categories_sum.amounts,
            Sum::of(&section.subtotal).amounts,
            "categories of {:?} do not add up to its subtotal",
            section.name
        );
        sections_sum.add(&section.subtotal, categories_sum.regions as u64);
    }
    assert_eq!(
        sections_sum,
        Sum {
            regions: u128::from(report.region_count),
            ..Sum::of(&report.totals)
        },
        "sections do not add up to the totals"
    );

    let expected_rows = match listing {
        Listing::Top(limit) => (limit as u64).min(report.region_count),
        Listing::All => report.region_count,
    };
    assert_eq!(report.regions.len() as u64, expected_rows, "listing length");
    for pair in report.regions.windows(2) {
        let rank = |row: &memanalyzer::report::RegionRow| (row.amounts.rss, row.amounts.size);
        assert!(
            rank(&pair[0]) >= rank(&pair[1]),
            "listing not largest first"
        );
    }
}

/// Sums in u128, which cannot overflow for any number of u64 values a test can hold.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sum {
    amounts: [u128; 8],
    regions: u128,
}

impl Sum {
    fn of(amounts: &Amounts) -> Sum {
        let mut sum = Sum::default();
        sum.add(amounts, 0);
        sum
    }

    fn add(&mut self, amounts: &Amounts, regions: u64) {
        let fields = [
            amounts.size,
            amounts.rss,
            amounts.pss,
            amounts.private,
            amounts.shared,
            amounts.swap,
            amounts.swap_pss,
            amounts.hugetlb,
        ];
        for (total, value) in self.amounts.iter_mut().zip(fields) {
            *total += u128::from(value);
        }
        self.regions += u128::from(regions);
    }
}

fn check_renderers(report: &Report, unit: Unit) {
    let json = render(report, Format::Json, false, unit);
    if let Err(error) = serde_json::from_slice::<serde_json::Value>(&json) {
        panic!("JSON output does not parse: {error}");
    }
    let plain = render(report, Format::Text, false, unit);
    assert!(!plain.contains(&0x1b), "ESC in text output without colour");
    check_no_control_bytes(&plain);
    let coloured = render(report, Format::Text, true, unit);
    check_no_control_bytes(&strip_sgr(&coloured));
}

fn render(report: &Report, format: Format, color: bool, unit: Unit) -> Vec<u8> {
    #[allow(clippy::needless_update)] // TextStyle may grow fields.
    let style = TextStyle {
        color,
        unit,
        ..TextStyle::default()
    };
    let mut out = Vec::new();
    renderer(format, style)
        .render(report, &mut out)
        .expect("rendering into a Vec cannot fail");
    out
}

/// Text must be UTF-8 with no control character but `\n`: no C0, DEL or C1.
fn check_no_control_bytes(text: &[u8]) {
    let text = match std::str::from_utf8(text) {
        Ok(text) => text,
        Err(error) => panic!("text output is not UTF-8: {error}"),
    };
    if let Some(c) = text.chars().find(|&c| c != '\n' && c.is_control()) {
        panic!("control character {c:?} in text output:\n{text}");
    }
}

/// Removes `ESC [ (digits|;)* m` sequences; panics on any other use of ESC.
fn strip_sgr(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte != 0x1b {
            out.push(byte);
            rest = tail;
            continue;
        }
        let Some(params) = tail.strip_prefix(b"[") else {
            panic!("ESC not followed by `[` in coloured text output");
        };
        let end = params
            .iter()
            .position(|&b| !(b.is_ascii_digit() || b == b';'))
            .unwrap_or(params.len());
        assert_eq!(
            params.get(end),
            Some(&b'm'),
            "ESC [ … not ended by `m` in coloured text output"
        );
        rest = &params[end + 1..];
    }
    out
}

/// What the parser reports for one region, owned.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    start: u64,
    end: u64,
    perms: Perms,
    offset: u64,
    device: (u32, u32),
    inode: u64,
    name: Vec<u8>,
    fields: Fields,
    vm_flags: Vec<u8>,
    line: u64,
}

fn seen(region: &memanalyzer::parse::Region<'_>) -> Seen {
    let header = &region.header;
    Seen {
        start: header.start,
        end: header.end,
        perms: header.perms,
        offset: header.offset,
        device: (header.dev_major, header.dev_minor),
        inode: header.inode,
        name: header.name.to_vec(),
        fields: region.fields,
        vm_flags: region.vm_flags.to_vec(),
        line: region.line,
    }
}

/// A reader that returns the input in pieces of varying small sizes, so that the streaming
/// parser's buffer boundaries fall everywhere.
struct Pieces<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.step = self.step % 61 + 7;
        let take = self.step.min(out.len()).min(self.data.len());
        out[..take].copy_from_slice(&self.data[..take]);
        self.data = &self.data[take..];
        Ok(take)
    }
}

fn check_streaming_matches_whole(data: &[u8]) {
    let mut whole = Vec::new();
    let whole_result = parse_bytes(data, |region| whole.push(seen(region)));
    let mut streamed = Vec::new();
    let streamed_result = parse_reader(
        Pieces {
            data,
            step: data.len(),
        },
        |region| streamed.push(seen(region)),
    );
    match (whole_result, streamed_result) {
        (Ok(whole_summary), Ok(streamed_summary)) => {
            assert_eq!(whole, streamed, "streaming and whole parses differ");
            assert_eq!(whole_summary, streamed_summary, "summaries differ");
        }
        // Only streaming bounds its buffer: a record over 1 MiB is an error there alone.
        (_, Err(StreamError::Parse(error))) if error.kind == ParseErrorKind::RecordTooLong => {}
        // A line over 64 KiB is an error for both, but streaming finds it before it has parsed
        // the lines ahead of it, which may hold an earlier error.
        (Err(whole_error), Err(StreamError::Parse(streamed_error)))
            if streamed_error.kind == ParseErrorKind::LineTooLong
                && whole_error.line <= streamed_error.line => {}
        (Err(whole_error), Err(StreamError::Parse(streamed_error))) => {
            assert_eq!(whole_error, streamed_error, "errors differ");
            // Regions before the error are reported in the same order, though streaming may
            // stop earlier (it hands over whole records only).
            assert!(whole.starts_with(&streamed) || streamed.starts_with(&whole));
        }
        (whole_result, streamed_result) => panic!(
            "streaming and whole parses disagree: whole {:?}, streamed {:?}",
            whole_result.map(|summary| summary.regions),
            streamed_result.map(|summary| summary.regions)
        ),
    }
}
