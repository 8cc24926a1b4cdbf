//! The invariants every successful analysis keeps, checked the same way by the fuzz target
//! (`fuzz/fuzz_targets/analyze.rs`, which includes this file by path), the property tests
//! (`tests/it/properties.rs`) and the fixture tests (`tests/it/fixtures.rs`):
//! - every section's categories add up to its subtotal, and the subtotals to the totals, field by
//!   field (computed in u128, so a saturated sum cannot hide); each region is counted once, and
//!   no two listed regions overlap;
//! - what a category says was placed by layout is part of it, and only layout-evidenced
//!   categories have any; the unexplained amounts are the generic categories' sum (Anonymous
//!   Memory and Other / Unrecognized), called large from 25% of RSS on;
//! - the listing holds min(N, regions) or all regions, largest first, and the top N are the first
//!   of all regions;
//! - the JSON output parses and agrees with the report;
//! - text output without colour holds no ESC and no other control character (C0, DEL, C1) apart
//!   from line ends; with colour, every ESC starts an SGR sequence (`ESC [ digits/; m`).
#![allow(dead_code)]

use memanalyzer::render::{Format, Renderer, TextStyle, Unit};
use memanalyzer::{
    analyze_reader, Amounts, Evidence, Listing, Options, RegionRow, Report, SectionId,
};

/// Runs `data` through the analysis with both listings and, when it succeeds, checks the
/// invariants and renders it with both renderers in `unit`. Returns the `-all` report.
pub fn analyze_and_check(data: &[u8], unit: Unit) -> Option<Report> {
    let top = analyze_reader(data, &Options::default().top(5));
    let all = analyze_reader(data, &Options::default().all());
    match (top, all) {
        (Ok(top), Ok(all)) => {
            check_report(&top, Listing::Top(5));
            check_report(&all, Listing::All);
            assert_eq!(top.totals, all.totals, "totals depend on the listing");
            assert_eq!(top.sections, all.sections, "sections depend on the listing");
            // Regions of equal rank may be listed in either order: compare the ranks only.
            let ranks = |report: &Report, count: usize| -> Vec<(u64, u64, u64)> {
                report
                    .regions
                    .iter()
                    .take(count)
                    .map(|row| (row.amounts.rss, row.amounts.size, row.start))
                    .collect()
            };
            assert_eq!(
                ranks(&all, top.regions.len()),
                ranks(&top, top.regions.len()),
                "the top regions are not the first of all regions"
            );
            for report in [&top, &all] {
                check_renderers(report, unit);
            }
            Some(all)
        }
        (Err(_), Err(_)) => None,
        (top, all) => panic!(
            "the listing changed success: top {:?}, all {:?}",
            top.err().map(|e| e.to_string()),
            all.err().map(|e| e.to_string())
        ),
    }
}

pub fn check_report(report: &Report, listing: Listing) {
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
            section.title
        );
        sections_sum.add(&section.subtotal, categories_sum.regions as u64);
    }
    let mut generic = Sum::default();
    for category in report.sections.iter().flat_map(|s| s.categories.iter()) {
        let (inferred, amounts) = (Sum::of(&category.inferred), Sum::of(&category.amounts));
        assert!(
            inferred
                .amounts
                .iter()
                .zip(&amounts.amounts)
                .all(|(i, a)| i <= a),
            "{}: inferred {:?} beyond its amounts {:?}",
            category.id,
            category.inferred,
            category.amounts
        );
        if category.evidence != Evidence::Layout {
            assert_eq!(category.inferred, Amounts::default(), "{}", category.id);
        }
        if category.id.section() == SectionId::Anonymous
            || category.id.key() == "other.unrecognized"
        {
            generic.add(&category.amounts, category.regions);
        }
    }
    assert_eq!(
        Sum::of(&report.unexplained.amounts).amounts,
        generic.amounts,
        "the unexplained amounts are not the generic categories' sum"
    );
    let rss = report.totals.rss;
    assert_eq!(
        report.unexplained.large,
        rss > 0 && u128::from(report.unexplained.amounts.rss) * 100 >= u128::from(rss) * 25,
        "large from a quarter of RSS on"
    );
    assert_eq!(
        report.unexplained.next_step.is_some(),
        report.unexplained.large
    );
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
    if listing == Listing::All {
        // Each address is counted once: no two regions overlap.
        let mut by_address: Vec<(u64, u64)> = report
            .regions
            .iter()
            .map(|row| (row.start, row.end))
            .collect();
        by_address.sort_unstable();
        for pair in by_address.windows(2) {
            assert!(
                pair[1].0 >= pair[0].1,
                "regions {:x?} and {:x?} overlap",
                pair[0],
                pair[1]
            );
        }
    }
    for pair in report.regions.to_vec().windows(2) {
        let rank = |row: &RegionRow| (row.amounts.rss, row.amounts.size);
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

pub fn check_renderers(report: &Report, unit: Unit) {
    let json = render(report, Format::Json, false, unit);
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap_or_else(|error| {
        panic!(
            "JSON output does not parse: {error}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(value["totals"]["rss_bytes"], report.totals.rss);
    assert_eq!(value["totals"]["regions"], report.region_count);
    let plain = render(report, Format::Text, false, unit);
    assert!(!plain.contains(&0x1b), "ESC in text output without colour");
    check_no_control_bytes(&plain);
    let coloured = render(report, Format::Text, true, unit);
    check_no_control_bytes(&strip_sgr(&coloured));
}

pub fn render(report: &Report, format: Format, color: bool, unit: Unit) -> Vec<u8> {
    let style = TextStyle { color, unit };
    let mut out = Vec::new();
    Renderer::new(format, style)
        .report(report, &mut out)
        .expect("rendering into a Vec cannot fail");
    out
}

/// Text must be UTF-8 with no control character but `\n`: no C0, DEL or C1.
pub fn check_no_control_bytes(text: &[u8]) {
    let text = match std::str::from_utf8(text) {
        Ok(text) => text,
        Err(error) => panic!("text output is not UTF-8: {error}"),
    };
    if let Some(c) = text.chars().find(|&c| c != '\n' && c.is_control()) {
        panic!("control character {c:?} in text output:\n{text}");
    }
}

/// `text` without its SGR sequences (`ESC [ digits/semicolons m`). Any other use of ESC is kept,
/// so that it shows up: as a difference from the uncoloured text, or as the control character
/// [`check_no_control_bytes`] rejects.
pub fn strip_sgr(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == 0x1b {
            if let Some(params) = tail.strip_prefix(b"[") {
                let end = params
                    .iter()
                    .position(|&b| !(b.is_ascii_digit() || b == b';'))
                    .unwrap_or(params.len());
                if params.get(end) == Some(&b'm') {
                    rest = &params[end + 1..];
                    continue;
                }
            }
        }
        out.push(byte);
        rest = tail;
    }
    out
}
