//! `-unit`: every size in the text output (breakdown, subtotals, totals, region table) reads
//! the JSON's exact bytes in the chosen unit; unit names ignore case; JSON ignores `-unit`.

use serde_json::Value;

use crate::support::prelude::*;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "auto"];

/// How `bytes` must read in `unit`; `None` for `auto`, whose rounding is checked numerically.
fn expected_size(unit: &str, bytes: u64) -> Option<String> {
    match unit {
        "B" => Some(format!("{bytes} B")),
        "kB" => Some(format!("{} kB", bytes / KIB)),
        "MB" => Some(format!("{} MB", bytes / MIB)),
        "GB" => Some(format!("{:.2} GB", bytes as f64 / GIB as f64)),
        "auto" => None,
        other => panic!("unknown unit {other}"),
    }
}

/// Checks that the number and unit (two whitespace fields) read `bytes` in `unit`.
fn assert_size(unit: &str, number: &str, unit_field: &str, bytes: u64, context: &str) {
    let shown = format!("{number} {unit_field}");
    match expected_size(unit, bytes) {
        Some(expected) => assert_eq!(shown, expected, "{context}: {bytes} bytes"),
        None => {
            let factor = match unit_field {
                "B" => 1,
                "KiB" => KIB,
                "MiB" => MIB,
                "GiB" => GIB,
                "TiB" => 1024 * GIB,
                other => panic!("{context}: unit {other:?} is not a binary unit in {shown:?}"),
            };
            let value: f64 = number
                .parse()
                .unwrap_or_else(|_| panic!("{context}: {number:?} is not a number"));
            let error = (value * factor as f64 - bytes as f64).abs();
            assert!(
                error <= 0.01 * factor as f64,
                "{context}: {shown:?} is not {bytes} bytes"
            );
            if unit_field == "B" {
                assert_eq!(number, bytes.to_string(), "{context}");
            }
        }
    }
}

/// The last two whitespace fields of a line: a size's number and unit.
fn last_two(line: &str) -> (&str, &str) {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields.len() >= 2, "no size in {line:?}");
    (fields[fields.len() - 2], fields[fields.len() - 1])
}

/// Every size in the text output (breakdown, subtotals, totals, region table) against the JSON
/// report of the same input, in `unit`.
fn assert_text_matches_json(text: &str, doc: &Value, unit: &str) {
    // The breakdown: each section's heading, its categories in order, its subtotal.
    let breakdown: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != "=== Complete Memory Breakdown ===")
        .skip(1)
        .take_while(|line| *line != "=== Totals ===")
        .filter(|line| !line.trim().is_empty())
        .collect();
    // After the sections: the legend of the mark (when a line carries it), the unexplained
    // share, whose number is checked like the others, and when that is large a next step and
    // perhaps a note.
    let position = breakdown
        .iter()
        .position(|line| line.starts_with("Unexplained:"))
        .expect("an Unexplained: line");
    for line in &breakdown[position + 1..] {
        assert!(
            line.starts_with("Next step") || line.starts_with("Note: "),
            "{line:?}"
        );
    }
    let (unexplained, breakdown) = (breakdown[position], &breakdown[..position]);
    let fields: Vec<&str> = unexplained.split_whitespace().collect();
    assert_eq!(fields[0], "Unexplained:", "{unexplained:?}");
    assert_size(
        unit,
        fields[1],
        fields[2],
        u64_at(doc, "/unexplained/rss_bytes"),
        unexplained,
    );
    let marked = breakdown.last().is_some_and(|line| line.starts_with("* "));
    let breakdown = if marked {
        &breakdown[..breakdown.len() - 1]
    } else {
        breakdown
    };
    let mut lines = breakdown.iter();
    for section in sections(doc) {
        let name = section["name"].as_str().unwrap();
        assert_eq!(lines.next(), Some(&format!("{name}:").as_str()), "{text}");
        for category in section["categories"].as_array().unwrap() {
            let line = lines.next().expect("a line per category");
            let category_name = category["name"].as_str().unwrap();
            assert!(
                line.starts_with("  ") && line.trim_start().starts_with(category_name),
                "{line:?} is not category {category_name:?}"
            );
            // Lines placed partly by layout end in the mark, after the number.
            let inferred = category["evidence"] == "layout";
            assert_eq!(line.ends_with(" *"), inferred, "{line:?}");
            assert!(!inferred || marked, "a marked line without the legend");
            let (number, unit_field) = last_two(line.strip_suffix(" *").unwrap_or(line));
            assert_size(
                unit,
                number,
                unit_field,
                u64_at(category, "/rss_bytes"),
                line,
            );
        }
        let line = lines.next().expect("a subtotal per section");
        assert!(line.trim_start().starts_with("Subtotal:"), "{line:?}");
        let (number, unit_field) = last_two(line);
        assert_size(
            unit,
            number,
            unit_field,
            u64_at(section, "/rss_bytes"),
            line,
        );
    }
    assert_eq!(lines.next(), None, "breakdown lines beyond the JSON's");

    // The totals.
    for (label, key) in [
        ("Virtual Memory:", "size_bytes"),
        ("RSS (Resident):", "rss_bytes"),
        ("PSS (Proportional):", "pss_bytes"),
        ("USS (Private):", "private_bytes"),
        ("Shared:", "shared_bytes"),
        ("Swap:", "swap_bytes"),
        ("SwapPss:", "swap_pss_bytes"),
        ("Hugetlb:", "hugetlb_bytes"),
    ] {
        let line = text
            .lines()
            .find(|line| line.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line in:\n{text}"));
        let fields: Vec<&str> = line[label.len()..].split_whitespace().collect();
        assert_eq!(fields.len(), 2, "{line:?}");
        let bytes = u64_at(doc, &format!("/totals/{key}"));
        assert_size(unit, fields[0], fields[1], bytes, line);
    }
    // What scripts do: `grep "RSS (Resident)" | awk '{print $3, $4}'`.
    let rss_line = text
        .lines()
        .find(|line| line.starts_with("RSS (Resident):"))
        .unwrap();
    let fields: Vec<&str> = rss_line.split_whitespace().collect();
    assert_eq!(fields.len(), 4, "{rss_line:?}");
    assert_size(
        unit,
        fields[2],
        fields[3],
        u64_at(doc, "/totals/rss_bytes"),
        rss_line,
    );

    // The region table, row by row against `top_regions`.
    let header = text
        .lines()
        .find(|line| line.starts_with("ADDRESS"))
        .expect("a region table");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["ADDRESS", "PERMS", "RSS", "PRIVATE", "SHARED", "CATEGORY", "NAME"]
    );
    let rows = table_rows(text);
    let regions = top_regions(doc);
    assert_eq!(rows.len(), regions.len(), "{text}");
    for (row, region) in rows.iter().zip(regions) {
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert!(fields.len() >= 10, "{row:?}");
        let start = region["start"].as_str().unwrap();
        assert_eq!(
            u64::from_str_radix(fields[0], 16).ok(),
            u64::from_str_radix(start, 16).ok(),
            "{row:?}"
        );
        assert_eq!(fields[1], region["perms"], "{row:?}");
        for (index, key) in [(2, "rss_bytes"), (4, "private_bytes"), (6, "shared_bytes")] {
            let bytes = u64_at(region, &format!("/{key}"));
            assert_size(unit, fields[index], fields[index + 1], bytes, row);
        }
        // The category's stable key (`named` for a group the program named), marked `*` when
        // placed by layout.
        let key = region["category_id"].as_str().unwrap();
        let key = if key.starts_with("named:") {
            "named"
        } else {
            key
        };
        let mark = if region["evidence"] == "layout" {
            "*"
        } else {
            ""
        };
        assert_eq!(fields[8], format!("{key}{mark}"), "{row:?}");
    }
}

/// Each unit on three inputs whose RSS reads best in MiB, GiB and KiB: every number in the
/// text agrees with the JSON bytes, and the JSON does not depend on the unit.
#[test]
fn every_unit_shows_the_json_bytes_everywhere_in_the_text() {
    let big = temp_file(big_smaps());
    let small = temp_file(small_smaps());
    let inputs = [
        (go_cgo(), "MiB", 245_424_128_u64),
        (path_of(&big).to_string(), "GiB", (1_572_987 + 1200) * KIB),
        (path_of(&small).to_string(), "KiB", 40 * KIB),
    ];
    for (path, auto_unit, rss_bytes) in &inputs {
        let json_bytes = memanalyzer(&["-file", path, "-all", "-format", "json"])
            .success()
            .get_output()
            .stdout
            .clone();
        let doc = json(&json_bytes);
        assert_eq!(u64_at(&doc, "/totals/rss_bytes"), *rss_bytes, "{path}");
        for unit in UNITS {
            let text = stdout_of(&["-file", path, "-all", "-unit", unit]);
            assert_text_matches_json(&text, &doc, unit);

            let rss_line = text
                .lines()
                .find(|line| line.starts_with("RSS (Resident):"))
                .unwrap();
            let rss_unit = rss_line.split_whitespace().nth(3).unwrap();
            let expected_unit: &str = if unit == "auto" { auto_unit } else { unit };
            assert_eq!(rss_unit, expected_unit, "{path} -unit {unit}: {rss_line:?}");
            // The region table's RSS column is in the same unit (its first row at least; every
            // cell was checked against the JSON above).
            let first_row = table_rows(&text)[0];
            if unit != "auto" {
                assert_eq!(
                    first_row.split_whitespace().nth(3),
                    Some(unit),
                    "{first_row:?}"
                );
            }

            // JSON ignores -unit: byte for byte the same.
            let with_unit = memanalyzer(&["-file", path, "-all", "-format", "json", "-unit", unit])
                .success()
                .get_output()
                .stdout
                .clone();
            assert!(
                with_unit == json_bytes,
                "{path}: JSON with -unit {unit} differs from JSON without it"
            );
        }
    }
}

#[test]
fn exact_figures_of_the_go_cgo_capture_in_every_unit() {
    let rss = 245_424_128_u64;
    for (unit, expected) in [
        ("B", "245424128 B".to_string()),
        ("kB", format!("{} kB", rss / 1024)),
        ("MB", "234 MB".to_string()),
        ("GB", "0.23 GB".to_string()),
        ("auto", "234.05 MiB".to_string()),
    ] {
        let text = stdout_of(&["-file", &go_cgo(), "-unit", unit, "-top", "0"]);
        let line = text
            .lines()
            .find(|line| line.starts_with("RSS (Resident):"))
            .unwrap();
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(format!("{} {}", fields[2], fields[3]), expected, "{line:?}");
    }
}

#[test]
fn unit_names_ignore_case() {
    let path = go_cgo();
    for (canonical, spellings) in [
        ("GB", &["gb", "Gb", "gB"][..]),
        ("MB", &["mb"][..]),
        ("kB", &["kb", "KB"][..]),
        ("B", &["b"][..]),
        ("auto", &["AUTO", "Auto"][..]),
    ] {
        let expected = stdout_of(&["-file", &path, "-unit", canonical]);
        for spelling in spellings {
            assert_eq!(
                stdout_of(&["-file", &path, "-unit", spelling]),
                expected,
                "-unit {spelling}"
            );
            assert_eq!(
                stdout_of(&["-file", &path, &format!("--unit={spelling}")]),
                expected,
                "--unit={spelling}"
            );
        }
    }
}
