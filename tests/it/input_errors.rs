//! Inputs memanalyzer cannot analyze end with one clear line on stderr and exit 1 (and, through
//! the library, a typed error); inputs it can analyze despite a flaw (CRLF line ends, a last
//! record cut short) give the full analysis and one warning.

use std::fs;

use memanalyzer::smaps::{self, ParseErrorKind};
use memanalyzer::{analyze, Error, Input, Options, Warning};

use crate::support::files::REJECTED_EDGE_FILES;
use crate::support::prelude::*;

// ---------------------------------------------------------------------------------------------
// Runtime errors of the binary: exit 1, one `memanalyzer: error:` line
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_process_suggests_pid_1_for_containers() {
    let line = runtime_error(&["-pid", "99999999"]);
    assert!(line.contains("no process with PID 99999999"), "{line}");
    assert!(line.contains("-pid 1"), "{line}");
}

#[test]
fn missing_file_says_no_such_file() {
    let line = runtime_error(&["-file", "/nonexistent/memanalyzer-test.smaps"]);
    assert!(line.contains("no such file"), "{line}");
}

#[test]
fn directory_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let line = runtime_error(&["-file", dir.path().to_str().unwrap()]);
    assert!(line.contains("directory"), "{line}");
}

#[test]
fn empty_file_is_rejected() {
    let file = temp_file("");
    let line = runtime_error(&["-file", path_of(&file)]);
    assert!(line.contains("empty"), "{line}");
}

#[test]
fn empty_stdin_is_rejected() {
    let line = runtime_error_of(memanalyzer_cmd().args(["-file", "-"]).write_stdin(""));
    assert!(line.contains("empty"), "{line}");
}

#[test]
fn maps_file_is_recognised() {
    let file = temp_file(fs::read("/proc/self/maps").unwrap());
    let line = runtime_error(&["-file", path_of(&file)]);
    assert!(line.contains("/proc/PID/maps"), "{line}");
}

#[test]
fn smaps_rollup_file_is_recognised() {
    let rollup = fs::read("/proc/self/smaps_rollup").unwrap_or_else(|_| {
        b"00400000-7ffd00000000 ---p 00000000 00:00 0 [rollup]\nRss: 1000 kB\nPss: 800 kB\n"
            .to_vec()
    });
    let file = temp_file(rollup);
    let line = runtime_error(&["-file", path_of(&file)]);
    assert!(line.contains("smaps_rollup"), "{line}");
}

#[test]
fn binary_garbage_is_rejected_at_line_1() {
    let garbage: Vec<u8> = (0..=255u8).rev().chain(0..=255).collect();
    let file = temp_file(garbage);
    let line = runtime_error(&["-file", path_of(&file)]);
    assert!(line.contains("line 1"), "{line}");
    assert!(line.contains("not valid smaps"), "{line}");
}

#[test]
fn numeric_overflow_names_the_line() {
    let mut lines: Vec<String> = sample_smaps().lines().map(String::from).collect();
    let index = lines
        .iter()
        .position(|line| line.starts_with("Rss:") && line.ends_with(" 1536 kB"))
        .expect("the heap's Rss line");
    lines[index] = "Rss:            99999999999999999999999 kB".to_string();
    let file = temp_file(lines.join("\n") + "\n");
    let line = runtime_error(&["-file", path_of(&file)]);
    assert!(line.contains(&format!("line {}:", index + 1)), "{line}");
    assert!(line.contains("too large"), "{line}");
}

#[test]
fn a_field_line_without_a_colon_is_named_as_such() {
    let file = temp_file("00400000-00401000 r-xp 00000000 08:01 7 /bin/x\nRss 4 kB\n");
    let line = runtime_error(&["-file", path_of(&file)]);
    assert!(
        line.ends_with(
            "line 2: expected a field line such as `Rss:  4 kB` or a mapping header, \
             found `Rss 4 kB`"
        ),
        "{line}"
    );
}

#[test]
fn parse_errors_are_stated_once() {
    let file = temp_file("00400000-00401000 r-xp 00000000 08:01 7 /bin/x\n");
    let line = runtime_error(&["-file", path_of(&file)]);
    assert_eq!(line.matches("line 1").count(), 1, "{line}");
}

#[test]
fn a_path_with_a_newline_stays_on_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no\nsuch\x1b[31m.smaps");
    let line = runtime_error(&["-file", path.to_str().unwrap()]);
    assert!(line.contains("no such file"), "{line}");
    assert!(!line.contains('\x1b'), "{line:?}");
}

// ---------------------------------------------------------------------------------------------
// The same through the library: typed errors
// ---------------------------------------------------------------------------------------------

/// The fixtures that are not smaps: each error names the file and, with its cause, says what
/// the file is instead. The cause is the typed parse error, and the message does not repeat it.
#[test]
fn inputs_that_are_not_smaps_are_rejected_clearly() {
    let cases = [
        ("empty.smaps", "is empty", None),
        (
            "rollup.smaps",
            "smaps_rollup",
            Some(ParseErrorKind::LooksLikeRollup),
        ),
        (
            "maps.txt",
            "/proc/PID/maps",
            Some(ParseErrorKind::LooksLikeMaps),
        ),
        ("garbage.bin", "line 1: expected a mapping header", None),
        ("overflow.smaps", "too large", None),
        ("bad-header.smaps", "expected a mapping header", None),
    ];
    for (name, message, kind) in cases {
        let path = fixture_path(&format!("edge/{name}"));
        let error = analyze(&Input::File(path), &Options::default()).expect_err(name);
        // The message and its cause, as the binary prints them (`{:#}`).
        let text = match std::error::Error::source(&error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        };
        assert!(text.contains(message), "{name}: {text}");
        assert!(
            error.to_string().contains(name),
            "{name}: the message names the file: {text}"
        );
        match &error {
            Error::Empty { .. } => assert_eq!(name, "empty.smaps"),
            Error::Parse { source, .. } => {
                if let Some(kind) = kind {
                    assert_eq!(source.kind, kind, "{name}");
                }
                assert!(!error.to_string().contains(&source.to_string()), "{name}");
                assert_eq!(text, format!("{error}: {source}"), "{name}: its source");
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
    // Every edge file that must not analyze is among these.
    for name in REJECTED_EDGE_FILES {
        assert!(
            cases.iter().any(|(case, _, _)| *case == name),
            "{name} is not checked"
        );
    }
}

#[test]
fn the_parser_reports_the_kind_and_line_of_a_field_line_without_a_colon() {
    let text = b"00400000-00401000 r-xp 00000000 08:01 7 /bin/x\nRss: 4 kB\nRss 4 kB\n";
    let error = smaps::parse_bytes(text, |_| {}).unwrap_err();
    assert_eq!((error.line, error.kind), (3, ParseErrorKind::NotAField));
    assert_eq!(error.found.as_bytes(), b"Rss 4 kB");
}

// ---------------------------------------------------------------------------------------------
// Tolerated input: exit 0 with a warning
// ---------------------------------------------------------------------------------------------

#[test]
fn final_record_cut_short_is_analyzed_with_a_warning() {
    let text = sample_smaps();
    let cut = &text[..text.rfind("Swap:").expect("a Swap line")];
    let file = temp_file(cut);
    let assert = memanalyzer(&["-file", path_of(&file), "-format", "json"]).success();
    assert_one_warning(&assert.get_output().stderr, "cut short");
    let doc = json(&assert.get_output().stdout);
    assert_eq!(u64_at(&doc, "/totals/regions"), SAMPLE_REGIONS.len() as u64);
    let header_line = cut[..cut.rfind('\n').unwrap()]
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            line.split(' ')
                .next()
                .is_some_and(|range| range.contains('-'))
        })
        .last()
        .map(|(index, _)| index as u64 + 1);
    assert_eq!(
        warning_kinds(&doc),
        [("final_record_cut_short".to_string(), header_line)]
    );
}

#[test]
fn input_ending_mid_line_is_analyzed_with_a_warning() {
    let text = sample_smaps();
    let cut = &text[..text.len() - 5];
    let file = temp_file(cut);
    let assert = memanalyzer(&["-file", path_of(&file)]).success();
    assert_one_warning(&assert.get_output().stderr, "cut short");
}

#[test]
fn crlf_line_ends_are_analyzed_with_a_warning() {
    let file = temp_file(sample_smaps());
    let lf = json_of(&["-file", path_of(&file), "-format", "json"]);
    let crlf_file = temp_file(sample_smaps().replace('\n', "\r\n"));
    let assert = memanalyzer(&["-file", path_of(&crlf_file), "-format", "json"]).success();
    assert_one_warning(&assert.get_output().stderr, "CRLF");
    let crlf = json(&assert.get_output().stdout);
    assert_eq!(analysis(&crlf), analysis(&lf));
    assert_eq!(warning_kinds(&crlf), [("crlf_line_ends".to_string(), None)]);
    assert!(warning_kinds(&lf).is_empty());
}

/// The same fixtures through the library: the warnings are typed, and the figures whole.
#[test]
fn tolerated_inputs_warn() {
    let all = Options::default().all();
    let crlf = analyze(&Input::File(fixture_path("edge/crlf.smaps")), &all).unwrap();
    assert_eq!(
        crlf.warnings,
        [Warning::Input(smaps::Warning::CrlfLineEnds)]
    );
    let plain = analyze(&Input::File(fixture_path("edge/unknown-keys.smaps")), &all).unwrap();
    assert_eq!(crlf.totals, plain.totals);
    assert!(plain.warnings.is_empty(), "{:?}", plain.warnings);

    let truncated = analyze(&Input::File(fixture_path("edge/truncated.smaps")), &all).unwrap();
    assert_eq!(truncated.region_count, 6);
    assert_eq!(
        truncated.warnings,
        [Warning::Input(smaps::Warning::FinalRecordCutShort {
            line: 126
        })]
    );
    assert!(truncated.warnings[0].to_string().contains("cut short"));
}

// ---------------------------------------------------------------------------------------------
// Issue 10: records that overlap, headers in upper case, a capture cut mid-line
// ---------------------------------------------------------------------------------------------

/// Three records: 16 KiB at 0x10000 (Rss 16), then one that starts inside it (Rss 8, what a
/// read sees when the mappings changed between two pieces of the read), then 4 KiB after both.
fn overlapping_smaps() -> String {
    smaps_record(0x1_0000, 16, "rw-p", "", 16, 0)
        + &smaps_record(0x1_2000, 16, "rw-p", "", 8, 0)
        + &smaps_record(0x2_0000, 4, "r--p", "/usr/lib/libx.so", 4, 0)
}

#[test]
fn overlapping_records_are_left_out_with_a_warning_never_counted_twice() {
    let all = Options::default().all();
    let report = memanalyzer::analyze_reader(overlapping_smaps().as_bytes(), &all).unwrap();
    assert_eq!(report.region_count, 2);
    assert_eq!(report.totals.rss, (16 + 4) * 1024);
    let second_header_line = smaps_record(0x1_0000, 16, "rw-p", "", 16, 0)
        .lines()
        .count()
        + 1;
    assert_eq!(
        report.warnings,
        [Warning::Overlapping {
            records: 1,
            first_line: second_header_line as u64
        }]
    );
    // Out of order is overlapping too: everything below an address already counted.
    let backwards = smaps_record(0x2_0000, 4, "r--p", "/usr/lib/libx.so", 4, 0)
        + &smaps_record(0x1_0000, 16, "rw-p", "", 16, 0);
    let report = memanalyzer::analyze_reader(backwards.as_bytes(), &all).unwrap();
    assert_eq!((report.region_count, report.totals.rss), (1, 4 * 1024));
    assert!(report.warnings[0].to_string().contains("moving picture"));
}

#[test]
fn overlapping_records_warn_on_stderr_and_in_json() {
    let file = temp_file(overlapping_smaps());
    let assert = memanalyzer(&["-file", path_of(&file), "-format", "json", "-all"]).success();
    assert_one_warning(&assert.get_output().stderr, "moving picture");
    let doc = json(&assert.get_output().stdout);
    assert_eq!(u64_at(&doc, "/totals/regions"), 2);
    assert_json_sums_are_consistent(&doc);
    let warnings = doc["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].as_str().unwrap().contains("overlap"),
        "{warnings:?}"
    );
    let [(kind, line)] = &warning_kinds(&doc)[..] else {
        panic!("{doc:#}")
    };
    assert_eq!(kind, "overlapping_records");
    let first_line = line.expect("the first overlapping record's line");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains(&format!("line {first_line}")),
        "{warnings:?}"
    );
}

#[test]
fn headers_with_upper_case_addresses_are_regions_of_their_own() {
    let text = smaps_record(0x1000_0000, 8, "rw-p", "", 8, 0)
        + &smaps_record(0xa000_0000, 4, "rw-p", "", 4, 0).replacen(
            "a0000000-a0001000",
            "A0000000-A0001000",
            1,
        )
        + &smaps_record(0xb000_0000, 4, "rw-p", "", 4, 0);
    assert!(text.contains("\nA0000000-A0001000 rw-p"), "{text}");
    let doc = json_of(&["-file", path_of(&temp_file(&text)), "-format", "json"]);
    assert_eq!(u64_at(&doc, "/totals/regions"), 3);
    assert_eq!(u64_at(&doc, "/totals/rss_bytes"), 16 * 1024);
}

#[test]
fn a_capture_cut_after_a_key_is_analyzed_with_a_warning() {
    // The sample up to its last record (`[vsyscall]`), then a record cut after `FilePmdMapped:`.
    let whole = sample_smaps();
    let before_vsyscall = &whole[..whole.find("ffffffffff600000").expect("[vsyscall]")];
    let cut = format!(
        "{before_vsyscall}7ffe00000000-7ffe00002000 rw-p 00000000 00:00 0 \n\
         Size: 8 kB\nRss: 4 kB\nFilePmdMapped:"
    );
    let file = temp_file(&cut);
    let assert = memanalyzer(&["-file", path_of(&file), "-format", "json"]).success();
    assert_one_warning(&assert.get_output().stderr, "in the middle of line");
    let doc = json(&assert.get_output().stdout);
    assert_eq!(u64_at(&doc, "/totals/regions"), SAMPLE_REGIONS.len() as u64);
    assert_eq!(
        u64_at(&doc, "/totals/rss_bytes"),
        sample_rss_bytes() + 4 * 1024
    );
    let last_line = cut.lines().count() as u64;
    assert_eq!(
        warning_kinds(&doc),
        [("final_line_cut".to_string(), Some(last_line))]
    );

    // The same line with its newline is malformed, not cut: an error naming the line.
    let malformed = temp_file(format!("{cut}\n"));
    let line = runtime_error(&["-file", path_of(&malformed)]);
    let line_no = cut.lines().count();
    assert!(line.contains(&format!("line {line_no}")), "{line}");
    assert!(line.contains("FilePmdMapped"), "{line}");
}
