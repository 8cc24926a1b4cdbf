//! How memanalyzer fits with the tools around it, through the real binary: `-unit` for scripts,
//! colour and the conventions that govern it (NO_COLOR, CLICOLOR_FORCE), the Prometheus text
//! format (checked by `promtool` and by a parser here), `-output` files replaced atomically for
//! node_exporter's textfile collector, and `-ps` for finding the process to analyze.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::Value;
use tempfile::{NamedTempFile, TempDir};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// A file in `fixtures/`, as an absolute path (tests may run with another working directory).
fn fixture(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative);
    assert!(path.is_file(), "missing fixture {}", path.display());
    path.to_str().expect("UTF-8 fixture path").to_string()
}

/// The Go + cgo capture: 64 regions, 234 MiB resident, a deterministic input.
fn go_cgo() -> String {
    fixture("go-cgo/smaps")
}

/// A temporary file holding `contents`.
fn temp_file(contents: impl AsRef<[u8]>) -> NamedTempFile {
    let mut file = NamedTempFile::new().expect("temp file");
    file.write_all(contents.as_ref()).expect("write temp file");
    file.flush().unwrap();
    file
}

fn path_of(file: &NamedTempFile) -> &str {
    file.path().to_str().expect("temp paths are UTF-8")
}

/// 1.5 GiB + 1323 KiB resident, so that `-unit auto` picks GiB.
fn big_smaps() -> String {
    smaps_record(0x7f00_0000_0000, 2 * 1024 * 1024, "rw-p", "", 1_572_987, 0)
        + &smaps_record(
            0x7f01_0000_0000,
            1800,
            "r-xp",
            "/usr/lib/libc.so.6",
            1200,
            1100,
        )
        + &smaps_record(0xffff_ffff_ff60_0000, 4, "--xp", "[vsyscall]", 0, 0)
}

/// 40 KiB resident, so that `-unit auto` picks KiB.
fn small_smaps() -> String {
    smaps_record(0x0200_0000, 132, "rw-p", "[heap]", 40, 0)
        + &smaps_record(0xffff_ffff_ff60_0000, 4, "--xp", "[vsyscall]", 0, 0)
}

/// A directory for files that are executed: under Cargo's target directory rather than /tmp,
/// which may be mounted noexec.
fn exec_tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("ecosystem-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir in CARGO_TARGET_TMPDIR")
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------------------------------------
// -unit
// ---------------------------------------------------------------------------------------------

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
            let (number, unit_field) = last_two(line);
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
        ["ADDRESS", "PERMS", "RSS", "PRIVATE", "SHARED", "NAME"]
    );
    let rows = table_rows(text);
    let regions = top_regions(doc);
    assert_eq!(rows.len(), regions.len(), "{text}");
    for (row, region) in rows.iter().zip(regions) {
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert!(fields.len() >= 9, "{row:?}");
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

#[test]
fn unknown_unit_is_a_usage_error() {
    let stderr = usage_error(&["-file", &go_cgo(), "-unit", "xx"]);
    assert!(stderr.contains("xx"), "{stderr}");
    usage_error(&["-file", &go_cgo(), "-unit", ""]);
    usage_error(&["-ps", "-unit", "xx"]);
}

// ---------------------------------------------------------------------------------------------
// Colour
// ---------------------------------------------------------------------------------------------

/// `text` without its SGR sequences (`ESC [ digits/semicolons m`); other escapes are kept, so
/// that they show up as differences.
fn strip_sgr(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut index = 0;
    while index < text.len() {
        if text[index] == 0x1b && text.get(index + 1) == Some(&b'[') {
            let mut end = index + 2;
            while end < text.len() && (text[end].is_ascii_digit() || text[end] == b';') {
                end += 1;
            }
            if text.get(end) == Some(&b'm') {
                index = end + 1;
                continue;
            }
        }
        out.push(text[index]);
        index += 1;
    }
    out
}

fn has_escape(bytes: &[u8]) -> bool {
    bytes.contains(&0x1b)
}

/// Runs memanalyzer with a piped stdout, NO_COLOR and CLICOLOR_FORCE removed from the
/// environment and then set as `env` says; returns stdout.
fn run_with_colour_env(args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
    let mut cmd = memanalyzer_cmd();
    cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}

#[test]
fn colour_always_changes_nothing_but_the_escapes() {
    let sample = temp_file(sample_smaps()); // has a deleted memfd: a red row in the table
    let inputs = [
        go_cgo(),
        fixture("edge/swap.smaps"), // swap: red Swap lines
        fixture("java/smaps"),
        path_of(&sample).to_string(),
    ];
    for path in &inputs {
        for unit in ["MB", "auto", "B"] {
            let args = ["-file", path, "-all", "-unit", unit];
            let plain = run_with_colour_env(&[&args[..], &["-color", "never"]].concat(), &[]);
            let coloured = run_with_colour_env(&[&args[..], &["-color", "always"]].concat(), &[]);
            assert!(!has_escape(&plain), "{path}: -color never has escapes");
            assert!(
                has_escape(&coloured),
                "{path}: -color always into a pipe has no escapes"
            );
            assert!(
                strip_sgr(&coloured) == plain,
                "{path} -unit {unit}: -color always, escapes removed, differs from -color never:\n\
                 {}\n---\n{}",
                String::from_utf8_lossy(&strip_sgr(&coloured)),
                String::from_utf8_lossy(&plain)
            );
        }
    }
}

/// Extra flags, environment variables set, whether colour is expected.
type ColourCase = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    bool,
);

#[test]
fn colour_in_a_pipe_follows_the_flag_then_no_color_then_clicolor_force() {
    let path = go_cgo();
    let args = ["-file", path.as_str(), "-top", "5"];
    let with = |extra: &[&str], env: &[(&str, &str)]| {
        run_with_colour_env(&[&args[..], extra].concat(), env)
    };
    let plain = with(&["-color", "never"], &[]);
    assert!(!has_escape(&plain));

    // (flag, environment, colour expected)
    let cases: [ColourCase; 11] = [
        (&[], &[], false),
        (&["-color", "auto"], &[], false),
        (&["-color", "auto"], &[("NO_COLOR", "1")], false),
        (&["-color", "auto"], &[("CLICOLOR_FORCE", "1")], true),
        (&[], &[("CLICOLOR_FORCE", "1")], true),
        (&["-color", "auto"], &[("CLICOLOR_FORCE", "0")], false),
        (
            &["-color", "auto"],
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
            false,
        ),
        (&["-color", "never"], &[("CLICOLOR_FORCE", "1")], false),
        (&["-color", "always"], &[], true),
        (&["-color", "always"], &[("NO_COLOR", "1")], true),
        (&["--color=always"], &[], true),
    ];
    for (flag, env, expect_colour) in cases {
        let out = with(flag, env);
        assert_eq!(
            has_escape(&out),
            expect_colour,
            "{flag:?} with {env:?}:\n{}",
            String::from_utf8_lossy(&out)
        );
        assert!(
            strip_sgr(&out) == plain,
            "{flag:?} with {env:?}: the text differs from -color never beyond escapes"
        );
    }
}

#[test]
fn colour_never_reaches_json_or_prometheus() {
    for format in ["json", "prometheus"] {
        let out = run_with_colour_env(
            &["-file", &go_cgo(), "-format", format, "-color", "always"],
            &[("CLICOLOR_FORCE", "1")],
        );
        assert!(!has_escape(&out), "-format {format} -color always");
    }
    // Process names are escaped: whatever colour -ps uses, no other escape reaches the terminal.
    let out = run_with_colour_env(&["-ps", "-color", "always"], &[]);
    assert!(
        !has_escape(&strip_sgr(&out)),
        "-ps has an escape that is not colour:\n{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn output_file_gets_colour_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = go_cgo();
    let plain = run_with_colour_env(&["-file", &path, "-color", "never"], &[]);

    let coloured_file = dir.path().join("coloured.txt");
    let stdout = run_with_colour_env(
        &[
            "-file",
            &path,
            "-color",
            "always",
            "-output",
            coloured_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(stdout.is_empty(), "-output writes nothing to stdout");
    let coloured = fs::read(&coloured_file).unwrap();
    assert!(has_escape(&coloured), "-color always -output: no escapes");
    assert!(strip_sgr(&coloured) == plain);

    let default_file = dir.path().join("default.txt");
    run_with_colour_env(
        &["-file", &path, "-output", default_file.to_str().unwrap()],
        &[],
    );
    let default = fs::read(&default_file).unwrap();
    assert!(!has_escape(&default), "default -output has escapes");
    assert!(default == plain);
}

// ---------------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------------

/// promtool, which CI installs (`.ci/run`): a missing promtool fails rather than skips.
fn promtool() -> PathBuf {
    find_in_path("promtool")
        .or_else(|| Some(PathBuf::from("/usr/bin/promtool")).filter(|path| path.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "promtool is not installed, and the Prometheus tests need it to validate the \
                 exposition format: install it (Debian/Ubuntu: apt-get install prometheus; \
                 .ci/run does this in CI)"
            )
        })
}

/// Asserts that `promtool check metrics` accepts `text` (no errors, no lint problems).
fn assert_promtool_accepts(text: &str, what: &str) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    let mut stdin = child.stdin.take().unwrap();
    let input = text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("wait for promtool");
    writer.join().unwrap().expect("write to promtool");
    assert!(
        output.status.success(),
        "promtool check metrics rejects {what} ({}):\nstdout: {}\nstderr: {}\ninput:\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    /// Label values unescaped, in the order written.
    labels: Vec<(String, String)>,
    value_text: String,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(label, _)| label == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value as an exact whole number (byte counts are never written as floats).
    fn whole(&self) -> u64 {
        self.value_text
            .parse()
            .unwrap_or_else(|_| panic!("{} is not a whole number in {self:?}", self.value_text))
    }
}

#[derive(Debug, Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
    samples: Vec<Sample>,
}

#[derive(Debug, Default)]
struct Exposition {
    /// Families in the order they appear.
    order: Vec<String>,
    families: BTreeMap<String, Family>,
}

impl Exposition {
    fn family(&self, name: &str) -> &Family {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("no metric family {name}; have {:?}", self.order))
    }

    fn samples(&self, name: &str) -> &[Sample] {
        &self.family(name).samples
    }

    /// The one sample of a family without per-category labels.
    fn single(&self, name: &str) -> &Sample {
        let samples = self.samples(name);
        assert_eq!(samples.len(), 1, "{name}: {samples:?}");
        assert_eq!(samples[0].name, name);
        &samples[0]
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `{name="value",…}` at the start of `text`; returns the labels and the rest.
fn parse_labels(text: &str, line: &str) -> (Vec<(String, String)>, String) {
    let mut chars = text.chars().peekable();
    assert_eq!(chars.next(), Some('{'), "{line:?}");
    let mut labels: Vec<(String, String)> = Vec::new();
    if chars.peek() == Some(&'}') {
        chars.next();
        return (labels, chars.collect());
    }
    loop {
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        assert!(is_label_name(&name), "label name {name:?} in {line:?}");
        assert!(
            labels.iter().all(|(seen, _)| *seen != name),
            "label {name} twice in {line:?}"
        );
        assert_eq!(chars.next(), Some('='), "{line:?}");
        assert_eq!(chars.next(), Some('"'), "{line:?}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("invalid escape \\{other:?} in {line:?}"),
                },
                Some(c) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        }
        labels.push((name, value));
        match chars.next() {
            Some(',') => continue,
            Some('}') => break,
            other => panic!("{other:?} after a label value in {line:?}"),
        }
    }
    (labels, chars.collect())
}

/// Parses the text exposition format strictly enough for our output: every family announced
/// by `# HELP` and `# TYPE … gauge` before its samples, samples `name{labels} value` grouped
/// by family, no series twice.
fn parse_exposition(text: &str) -> Exposition {
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut exposition = Exposition::default();
    let mut current: Option<String> = None;
    let mut series = BTreeSet::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let keyword = parts.next().unwrap();
            if keyword != "HELP" && keyword != "TYPE" {
                continue; // a plain comment
            }
            let name = parts.next().expect("a metric name").to_string();
            let rest = parts.next().unwrap_or_default().to_string();
            assert!(is_metric_name(&name), "{line:?}");
            if current.as_deref() != Some(&name) {
                assert!(
                    !exposition.families.contains_key(&name),
                    "family {name} announced again after other families: {line:?}"
                );
                exposition.order.push(name.clone());
                current = Some(name.clone());
            }
            let family = exposition.families.entry(name.clone()).or_default();
            assert!(
                family.samples.is_empty(),
                "{keyword} of {name} after its samples"
            );
            if keyword == "HELP" {
                assert!(family.help.is_none(), "two HELP lines for {name}");
                assert!(!rest.trim().is_empty(), "empty HELP for {name}");
                family.help = Some(rest);
            } else {
                assert!(family.kind.is_none(), "two TYPE lines for {name}");
                assert_eq!(rest, "gauge", "{line:?}");
                family.kind = Some(rest);
            }
            continue;
        }
        assert!(!line.starts_with('#'), "odd comment {line:?}");
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        assert!(is_metric_name(name), "metric name {name:?} in {line:?}");
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..], line)
        } else {
            (Vec::new(), line[name_end..].to_string())
        };
        let value_text = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no single space before the value in {line:?}"));
        assert!(
            !value_text.contains(' '),
            "more than a value (a timestamp?) in {line:?}"
        );
        let value: f64 = value_text
            .parse()
            .unwrap_or_else(|_| panic!("value {value_text:?} in {line:?}"));
        assert!(value.is_finite(), "{line:?}");
        assert_eq!(
            current.as_deref(),
            Some(name),
            "sample {line:?} outside its family's HELP/TYPE block"
        );
        let family = exposition.families.get_mut(name).unwrap();
        assert!(
            family.help.is_some() && family.kind.is_some(),
            "{name}: a sample before its HELP and TYPE"
        );
        let mut key: Vec<(String, String)> = labels.clone();
        key.sort();
        assert!(
            series.insert((name.to_string(), key)),
            "the same series twice: {line:?}"
        );
        family.samples.push(Sample {
            name: name.to_string(),
            labels,
            value_text: value_text.to_string(),
            value,
        });
    }
    for (name, family) in &exposition.families {
        assert!(
            family.help.is_some() && family.kind.is_some(),
            "{name} lacks HELP or TYPE"
        );
    }
    exposition
}

const CATEGORY_FAMILIES: [(&str, &str); 5] = [
    ("memanalyzer_category_rss_bytes", "rss_bytes"),
    ("memanalyzer_category_pss_bytes", "pss_bytes"),
    ("memanalyzer_category_private_bytes", "private_bytes"),
    ("memanalyzer_category_swap_bytes", "swap_bytes"),
    ("memanalyzer_category_size_bytes", "size_bytes"),
];

const TOTAL_FAMILIES: [(&str, &str); 9] = [
    ("memanalyzer_rss_bytes", "rss_bytes"),
    ("memanalyzer_pss_bytes", "pss_bytes"),
    ("memanalyzer_private_bytes", "private_bytes"),
    ("memanalyzer_shared_bytes", "shared_bytes"),
    ("memanalyzer_swap_bytes", "swap_bytes"),
    ("memanalyzer_swap_pss_bytes", "swap_pss_bytes"),
    ("memanalyzer_hugetlb_bytes", "hugetlb_bytes"),
    ("memanalyzer_virtual_bytes", "size_bytes"),
    ("memanalyzer_regions", "regions"),
];

/// The scrape duration: one unlabelled sample, a number of seconds ≥ 0.
fn assert_scrape_duration(exposition: &Exposition) {
    let duration = exposition.single("memanalyzer_scrape_duration_seconds");
    assert!(duration.labels.is_empty(), "{duration:?}");
    assert!(duration.value >= 0.0, "{duration:?}");
}

/// Checks a process analysis in Prometheus form against the JSON report of the same process:
/// every family, label and value. Returns what differs in values (empty when all agree), so
/// that a live process whose memory moved between the two runs can be retried.
///
/// For a `live` process only the figures that stay put while it is idle are compared (size,
/// RSS, swap, region count): how much of a library page is shared, and so PSS, private and
/// shared, changes whenever another process maps or unmaps the same library.
fn prometheus_vs_json(exposition: &Exposition, doc: &Value, live: bool) -> Vec<String> {
    let compared = |key: &str| {
        !live
            || !matches!(
                key,
                "pss_bytes" | "private_bytes" | "shared_bytes" | "swap_pss_bytes"
            )
    };
    let mut differences = Vec::new();
    let pid = doc["source"]["pid"]
        .as_i64()
        .map(|pid| pid.to_string())
        .unwrap_or_default();
    let comm = doc["source"]["comm"].as_str().unwrap_or_default();
    let categories: Vec<(&str, &Value)> = sections(doc)
        .iter()
        .flat_map(|section| {
            let name = section["name"].as_str().unwrap();
            section["categories"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |category| (name, category))
        })
        .collect();
    for (family, key) in CATEGORY_FAMILIES {
        let samples = exposition.samples(family);
        assert_eq!(
            samples.len(),
            categories.len(),
            "{family}: one sample per category"
        );
        for sample in samples {
            let names: Vec<&str> = sample.labels.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["pid", "comm", "section", "category"], "{sample:?}");
            assert_eq!(sample.label("pid"), Some(pid.as_str()), "{sample:?}");
            assert_eq!(sample.label("comm"), Some(comm), "{sample:?}");
        }
        for (section, category) in &categories {
            // Prometheus labels carry the stable name (no region count), which JSON gives as `label`.
            let name = category["label"].as_str().unwrap();
            let sample = samples
                .iter()
                .find(|s| s.label("section") == Some(section) && s.label("category") == Some(name))
                .unwrap_or_else(|| panic!("{family}: no sample for {section} / {name}"));
            let expected = u64_at(category, &format!("/{key}"));
            if compared(key) && sample.whole() != expected {
                differences.push(format!(
                    "{family}{{{section}/{name}}}: {} vs JSON {expected}",
                    sample.whole()
                ));
            }
        }
    }
    for (family, key) in TOTAL_FAMILIES {
        let sample = exposition.single(family);
        let names: Vec<&str> = sample.labels.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["pid", "comm"], "{sample:?}");
        assert_eq!(sample.label("pid"), Some(pid.as_str()), "{sample:?}");
        assert_eq!(sample.label("comm"), Some(comm), "{sample:?}");
        let expected = u64_at(doc, &format!("/totals/{key}"));
        if compared(key) && sample.whole() != expected {
            differences.push(format!("{family}: {} vs JSON {expected}", sample.whole()));
        }
    }
    // Within the one exposition, exactly: the categories add up to the total.
    let rss = exposition.single("memanalyzer_rss_bytes").whole();
    let category_sum: u64 = exposition
        .samples("memanalyzer_category_rss_bytes")
        .iter()
        .map(Sample::whole)
        .sum();
    assert_eq!(
        category_sum, rss,
        "category RSS samples vs memanalyzer_rss_bytes"
    );
    assert_scrape_duration(exposition);
    differences
}

/// Every fixture that analyzes without error.
fn analyzable_fixtures() -> Vec<String> {
    let mut paths: Vec<String> = ["c-threads", "go", "go-cgo", "java", "node", "python"]
        .iter()
        .map(|name| fixture(&format!("{name}/smaps")))
        .collect();
    // The edge cases with an expected result are the ones that analyze.
    let edge = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/edge");
    let mut edge_cases: Vec<String> = fs::read_dir(&edge)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().ok()?;
            let stem = name.strip_suffix(".expected")?;
            Some(fixture(&format!("edge/{stem}.smaps")))
        })
        .collect();
    edge_cases.sort();
    paths.extend(edge_cases);
    paths
}

#[test]
fn prometheus_of_every_fixture_passes_promtool_and_matches_json() {
    let fixtures = analyzable_fixtures();
    assert!(fixtures.len() >= 10, "{fixtures:?}");
    for path in &fixtures {
        let text = stdout_of(&["-file", path, "-format", "prometheus"]);
        assert_promtool_accepts(&text, path);
        let exposition = parse_exposition(&text);
        let doc = json_of(&["-file", path, "-format", "json"]);
        let differences = prometheus_vs_json(&exposition, &doc, false);
        assert!(differences.is_empty(), "{path}: {differences:#?}");
        // The README's names, all there.
        for (family, _) in CATEGORY_FAMILIES.iter().chain(&TOTAL_FAMILIES) {
            assert!(
                exposition.families.contains_key(*family),
                "{path}: {family}"
            );
        }
    }
}

#[test]
fn prometheus_rss_equals_json_and_the_categories_sum() {
    let path = go_cgo();
    let text = stdout_of(&["-file", &path, "-format", "prometheus"]);
    let exposition = parse_exposition(&text);
    let doc = json_of(&["-file", &path, "-format", "json"]);
    let rss = u64_at(&doc, "/totals/rss_bytes");
    assert_eq!(rss, 245_424_128);
    assert_eq!(exposition.single("memanalyzer_rss_bytes").whole(), rss);
    let sum: u64 = exposition
        .samples("memanalyzer_category_rss_bytes")
        .iter()
        .map(Sample::whole)
        .sum();
    assert_eq!(sum, rss);
    for sample in exposition.samples("memanalyzer_category_rss_bytes") {
        for label in ["pid", "comm", "section", "category"] {
            assert!(sample.label(label).is_some(), "{label} missing: {sample:?}");
        }
    }
    assert_scrape_duration(&exposition);
}

/// A live process whose name (comm) holds `"`, `\` and a newline: the workload binary copied
/// under that name. Its Prometheus output passes promtool, carries the name escaped, and agrees
/// with the JSON report of the same process.
#[test]
fn prometheus_of_a_live_process_with_an_odd_name() {
    let dir = exec_tempdir();
    let comm = "wl\"q\\\nz"; // w l " q \ newline z
    let program = dir.path().join(comm);
    fs::copy(workload_path(), &program).expect("copy the workload");
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let workload = Workload::spawn_program(
        &program,
        &["--mappings", "200", "--anon-rw-mb", "4", "--threads", "2"],
    );
    assert_eq!(
        fs::read_to_string(format!("/proc/{}/comm", workload.pid)).unwrap(),
        format!("{comm}\n"),
        "the kernel took the copy's name as comm"
    );
    let pid = workload.pid_arg();
    let mut differences = Vec::new();
    for _attempt in 0..5 {
        let text = stdout_of(&["-pid", &pid, "-format", "prometheus"]);
        assert_promtool_accepts(&text, "a live process with an odd name");
        assert!(
            text.contains(&format!("pid=\"{pid}\",comm=\"wl\\\"q\\\\\\nz\"")),
            "comm not escaped as the format requires:\n{text}"
        );
        let exposition = parse_exposition(&text);
        assert_eq!(
            exposition.single("memanalyzer_rss_bytes").label("comm"),
            Some(comm)
        );
        let doc = json_of(&["-pid", &pid, "-format", "json"]);
        assert_eq!(doc["source"]["comm"], comm);
        differences = prometheus_vs_json(&exposition, &doc, true);
        if differences.is_empty() {
            break;
        }
        // The kernel may still move pages of a quiescent process (reclaim of file pages on a
        // busy machine); such a race is retried, a systematic difference is not.
    }
    assert!(differences.is_empty(), "{differences:#?}");
}

/// A named region `[anon:we"ird\name]` becomes a category label that needs escaping.
#[test]
fn prometheus_escapes_quotes_and_backslashes_in_category_labels() {
    let name = "we\"ird\\name";
    let smaps = sample_smaps().replace("[anon:TXMetaCache]", &format!("[anon:{name}]"));
    assert!(smaps.contains(name));
    let file = temp_file(&smaps);
    let text = stdout_of(&["-file", path_of(&file), "-format", "prometheus"]);
    assert_promtool_accepts(&text, "a category label with a quote and a backslash");
    assert!(
        text.contains("category=\"we\\\"ird\\\\name\""),
        "the label is not escaped as `we\\\"ird\\\\name`:\n{text}"
    );
    let exposition = parse_exposition(&text);
    let sample = exposition
        .samples("memanalyzer_category_rss_bytes")
        .iter()
        .find(|sample| sample.label("category") == Some(name))
        .unwrap_or_else(|| panic!("no category {name:?} in:\n{text}"));
    assert_eq!(sample.label("section"), Some("Named Memory Regions (mmap)"));
    assert_eq!(sample.whole(), 1024 * KIB);
    let doc = json_of(&["-file", path_of(&file), "-format", "json"]);
    assert!(prometheus_vs_json(&exposition, &doc, false).is_empty());
}

/// Two groups of named regions with the same label would be the same series twice, which
/// Prometheus rejects (node_exporter's textfile collector drops the file).
#[test]
fn prometheus_series_are_unique_even_when_a_name_mimics_a_group() {
    let smaps = smaps_record(0x7f00_0000_0000, 8, "rw-p", "[anon:cache1]", 8, 0)
        + &smaps_record(0x7f00_0010_0000, 8, "rw-p", "[anon:cache2]", 8, 0)
        + &smaps_record(
            0x7f00_0020_0000,
            8,
            "rw-p",
            "[anon:cache* (2 regions)]",
            8,
            0,
        );
    let file = temp_file(&smaps);
    let text = stdout_of(&["-file", path_of(&file), "-format", "prometheus"]);
    assert_promtool_accepts(&text, "names that mimic a group");
    parse_exposition(&text); // panics on a series seen twice
}

fn assert_process_list_exposition(text: &str) -> Exposition {
    assert_promtool_accepts(text, "-ps -format prometheus");
    let exposition = parse_exposition(text);
    for family in [
        "memanalyzer_process_rss_bytes",
        "memanalyzer_process_pss_bytes",
        "memanalyzer_process_uss_bytes",
        "memanalyzer_process_swap_bytes",
    ] {
        let samples = exposition.samples(family);
        assert!(!samples.is_empty(), "{family}: no process at all");
        for sample in samples {
            let names: Vec<&str> = sample.labels.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["pid", "comm", "user"], "{sample:?}");
            let pid = sample.label("pid").unwrap();
            assert!(pid.parse::<u32>().is_ok_and(|pid| pid > 0), "{sample:?}");
            sample.whole();
        }
    }
    let unreadable = exposition.single("memanalyzer_processes_unreadable");
    assert!(unreadable.labels.is_empty());
    unreadable.whole();
    assert_scrape_duration(&exposition);
    exposition
}

#[test]
fn ps_prometheus_passes_promtool_and_lists_our_child() {
    let workload = Workload::spawn(&["--anon-rw-mb", "8"]);
    let text = stdout_of(&["-ps", "-format", "prometheus"]);
    let exposition = assert_process_list_exposition(&text);
    let pid = workload.pid_arg();
    let pss = exposition
        .samples("memanalyzer_process_pss_bytes")
        .iter()
        .find(|sample| sample.label("pid") == Some(pid.as_str()))
        .unwrap_or_else(|| panic!("workload {pid} not in:\n{text}"));
    assert_eq!(pss.label("comm"), Some("workload"));
    assert!(pss.whole() >= 8 * MIB, "{pss:?}");
}

// ---------------------------------------------------------------------------------------------
// -output
// ---------------------------------------------------------------------------------------------

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn output_file_holds_exactly_what_stdout_would() {
    let dir = tempfile::tempdir().unwrap();
    let path = go_cgo();
    for (format, name) in [("text", "out.txt"), ("json", "out.json")] {
        let target = dir.path().join(name);
        let args = ["-file", path.as_str(), "-all", "-format", format];
        let stdout = memanalyzer(&args).success().get_output().stdout.clone();
        let assert =
            memanalyzer(&[&args[..], &["-output", target.to_str().unwrap()]].concat()).success();
        assert!(assert.get_output().stdout.is_empty(), "{format}: stdout");
        assert!(assert.get_output().stderr.is_empty(), "{format}: stderr");
        assert!(
            fs::read(&target).unwrap() == stdout,
            "{format}: the file differs from stdout"
        );
    }
    assert_eq!(
        names_in(dir.path()),
        ["out.json", "out.txt"],
        "temporary files left"
    );
}

#[test]
fn output_replaces_an_existing_file_by_renaming() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("memanalyzer.prom");
    let old = "old contents, longer than nothing\n".repeat(1000);
    fs::write(&target, &old).unwrap();
    let old_inode = fs::metadata(&target).unwrap().ino();
    let mut reader = fs::File::open(&target).unwrap(); // opened before the replacement

    let path = go_cgo();
    let args = ["-file", path.as_str()];
    let expected = memanalyzer(&args).success().get_output().stdout.clone();
    memanalyzer(&[&args[..], &["-output", target.to_str().unwrap()]].concat()).success();

    assert!(fs::read(&target).unwrap() == expected, "not replaced");
    assert_ne!(
        fs::metadata(&target).unwrap().ino(),
        old_inode,
        "the file was rewritten in place, not replaced by a rename"
    );
    let mut seen_by_old_reader = String::new();
    reader.read_to_string(&mut seen_by_old_reader).unwrap();
    assert_eq!(
        seen_by_old_reader, old,
        "a reader of the old file saw it change"
    );
    assert_eq!(
        names_in(dir.path()),
        ["memanalyzer.prom"],
        "temporary files left"
    );
}

#[test]
fn output_relative_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = go_cgo();
    let expected = stdout_of(&["-file", &path]);
    memanalyzer_cmd()
        .current_dir(dir.path())
        .args(["-file", &path, "-output", "relative.txt"])
        .assert()
        .success();
    assert_eq!(
        fs::read_to_string(dir.path().join("relative.txt")).unwrap(),
        expected
    );
    assert_eq!(names_in(dir.path()), ["relative.txt"]);
}

/// A reader polling the file while it is rewritten over and over only ever sees one of the
/// complete versions: never a missing, empty or half-written file.
#[test]
fn output_file_is_never_seen_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("watched.txt");
    let target_arg = target.to_str().unwrap().to_string();
    let (java, node) = (fixture("java/smaps"), fixture("node/smaps"));
    let versions = [
        memanalyzer(&["-file", &java, "-all", "-unit", "B"])
            .success()
            .get_output()
            .stdout
            .clone(),
        memanalyzer(&["-file", &node, "-all", "-unit", "B"])
            .success()
            .get_output()
            .stdout
            .clone(),
    ];
    assert_ne!(versions[0], versions[1]);
    memanalyzer(&["-file", &java, "-all", "-unit", "B", "-output", &target_arg]).success();

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, target, versions) = (stop.clone(), target.clone(), versions.clone());
        std::thread::spawn(move || {
            let (mut reads, mut bad) = (0u64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match fs::read(&target) {
                    Ok(bytes) if versions.contains(&bytes) => reads += 1,
                    Ok(bytes) => bad.push(format!("{} bytes", bytes.len())),
                    Err(error) => bad.push(error.to_string()),
                }
                std::thread::yield_now();
            }
            (reads, bad)
        })
    };
    for round in 0..12 {
        let input = if round % 2 == 0 { &node } else { &java };
        memanalyzer(&["-file", input, "-all", "-unit", "B", "-output", &target_arg]).success();
    }
    stop.store(true, Ordering::Relaxed);
    let (reads, bad) = reader.join().unwrap();
    assert!(
        bad.is_empty(),
        "the reader saw {bad:?} ({reads} good reads)"
    );
    assert!(reads > 0, "the reader never got to read");
    assert_eq!(
        names_in(dir.path()),
        ["watched.txt"],
        "temporary files left"
    );
}

#[test]
fn output_into_a_missing_directory_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("missing/sub/out.prom");
    let target_arg = target.to_str().unwrap();
    let line = runtime_error(&["-file", &go_cgo(), "-output", target_arg]);
    assert!(
        line.starts_with("memanalyzer: error: cannot write "),
        "{line}"
    );
    assert!(line.contains(target_arg), "the path is not named: {line}");
    assert!(names_in(dir.path()).is_empty(), "something was created");
}

#[test]
fn a_failed_analysis_leaves_the_output_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("memanalyzer.prom");
    fs::write(&target, "previous\n").unwrap();
    let missing = dir.path().join("no-such.smaps");
    runtime_error(&[
        "-file",
        missing.to_str().unwrap(),
        "-format",
        "prometheus",
        "-output",
        target.to_str().unwrap(),
    ]);
    assert_eq!(fs::read_to_string(&target).unwrap(), "previous\n");
    assert_eq!(names_in(dir.path()), ["memanalyzer.prom"]);
}

#[test]
fn output_onto_a_directory_fails_without_leaving_a_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("a-directory");
    fs::create_dir(&target).unwrap();
    let line = runtime_error(&["-file", &go_cgo(), "-output", target.to_str().unwrap()]);
    assert!(line.contains("cannot write"), "{line}");
    assert_eq!(
        names_in(dir.path()),
        ["a-directory"],
        "a temporary file was left"
    );
}

#[test]
fn prometheus_output_file_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("memanalyzer.prom");
    let target_arg = target.to_str().unwrap();
    memanalyzer(&[
        "-file",
        &go_cgo(),
        "-format",
        "prometheus",
        "-output",
        target_arg,
    ])
    .success();
    let text = fs::read_to_string(&target).unwrap();
    assert_promtool_accepts(&text, "the -output file");
    let exposition = parse_exposition(&text);
    assert_eq!(
        exposition.single("memanalyzer_rss_bytes").whole(),
        245_424_128
    );

    // Live, as the README's cron example does it, and the -ps list too.
    let workload = Workload::spawn(&["--mappings", "50"]);
    memanalyzer(&[
        "-pid",
        &workload.pid_arg(),
        "-format",
        "prometheus",
        "-output",
        target_arg,
    ])
    .success();
    assert_promtool_accepts(&fs::read_to_string(&target).unwrap(), "a live -output file");
    memanalyzer(&["-ps", "-format", "prometheus", "-output", target_arg]).success();
    assert_process_list_exposition(&fs::read_to_string(&target).unwrap());
    assert_eq!(names_in(dir.path()), ["memanalyzer.prom"]);
}

// ---------------------------------------------------------------------------------------------
// -ps
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct PsRow {
    pid: i32,
    user: String,
    command: String,
    /// RSS, PSS, USS, SWAP in bytes (`-unit B`), or `None` for `?`.
    memory: Option<[u64; 4]>,
    status: String,
    line: String,
}

#[derive(Debug)]
struct PsText {
    rows: Vec<PsRow>,
    total_count: usize,
    /// RSS, PSS, USS, SWAP of the TOTAL line.
    total: [u64; 4],
    trailer: Vec<String>,
}

fn parse_ps_row(line: &str) -> PsRow {
    let (columns, status) = match line.find("cannot read: ") {
        Some(index) => (&line[..index], line[index..].trim_end()),
        None => (line, ""),
    };
    let tokens: Vec<&str> = columns.split_whitespace().collect();
    let pid = tokens[0]
        .parse()
        .unwrap_or_else(|_| panic!("no PID in {line:?}"));
    let (memory, command_end) = if status.is_empty() {
        assert!(tokens.len() >= 10, "{line:?}");
        let tail = &tokens[tokens.len() - 8..];
        for unit in tail.iter().skip(1).step_by(2) {
            assert_eq!(*unit, "B", "not in bytes: {line:?}");
        }
        let number = |index: usize| -> u64 {
            tail[index]
                .parse()
                .unwrap_or_else(|_| panic!("{:?} in {line:?}", tail[index]))
        };
        (
            Some([number(0), number(2), number(4), number(6)]),
            tokens.len() - 8,
        )
    } else {
        assert!(tokens.len() >= 6, "{line:?}");
        assert_eq!(
            tokens[tokens.len() - 4..],
            ["?", "?", "?", "?"],
            "an unreadable process shows ? for its memory: {line:?}"
        );
        (None, tokens.len() - 4)
    };
    PsRow {
        pid,
        user: tokens[1].to_string(),
        command: tokens[2..command_end].join(" "),
        memory,
        status: status.to_string(),
        line: line.to_string(),
    }
}

/// Parses `-ps -unit B` text output.
fn parse_ps_text(text: &str) -> PsText {
    let mut lines = text.lines();
    let header = lines.next().expect("a header");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["PID", "USER", "COMMAND", "RSS", "PSS", "USS", "SWAP", "STATUS"],
        "{text}"
    );
    let rule = lines.next().expect("a rule under the header");
    assert!(
        rule.len() >= header.trim_end().len() && rule.chars().all(|c| c == '-'),
        "{rule:?}"
    );
    let mut rows = Vec::new();
    for line in lines.by_ref() {
        if let Some(total) = line.strip_prefix("TOTAL (") {
            let (count, rest) = total.split_once(' ').expect("TOTAL (N processes)");
            let rest = rest
                .split_once("): ")
                .unwrap_or_else(|| panic!("{line:?}"))
                .1;
            let tokens: Vec<&str> = rest.split_whitespace().collect();
            assert_eq!(tokens.len(), 12, "{line:?}");
            for (index, label) in ["RSS", "PSS", "USS", "SWAP"].iter().enumerate() {
                assert_eq!(tokens[index * 3], *label, "{line:?}");
                assert_eq!(tokens[index * 3 + 2], "B", "{line:?}");
            }
            let number = |index: usize| tokens[index * 3 + 1].parse::<u64>().unwrap();
            return PsText {
                rows,
                total_count: count.parse().unwrap(),
                total: [number(0), number(1), number(2), number(3)],
                trailer: lines.map(str::to_string).collect(),
            };
        }
        rows.push(parse_ps_row(line));
    }
    panic!("no TOTAL line in:\n{text}")
}

/// Readable processes first, largest PSS first; the unreadable ones after them.
fn assert_sorted_by_pss<T>(rows: &[T], pss: impl Fn(&T) -> Option<u64>, describe: impl Fn(&T)) {
    let readable = rows.iter().take_while(|row| pss(row).is_some()).count();
    for row in &rows[readable..] {
        if pss(row).is_some() {
            describe(row);
            panic!("a readable process after an unreadable one");
        }
    }
    for pair in rows[..readable].windows(2) {
        if pss(&pair[0]) < pss(&pair[1]) {
            describe(&pair[0]);
            describe(&pair[1]);
            panic!("not sorted by PSS, largest first");
        }
    }
}

/// The name of uid `uid` in /etc/passwd, or the number.
fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.get(2)?.parse::<u32>().ok()? == uid).then(|| fields[0].to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

fn my_user_name() -> String {
    // SAFETY: getuid has no preconditions.
    user_name(unsafe { libc::getuid() })
}

fn rollup_pss(pid: i32) -> u64 {
    let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .expect("a Pss line in smaps_rollup")
        * KIB
}

#[test]
fn ps_text_lists_our_child_sorted_by_pss_with_a_total() {
    let workload = Workload::spawn(&["--anon-rw-mb", "16"]);
    let text = stdout_of(&["-ps", "-unit", "B"]);
    let list = parse_ps_text(&text);

    let row = list
        .rows
        .iter()
        .find(|row| row.pid == workload.pid)
        .unwrap_or_else(|| panic!("workload {} not listed:\n{text}", workload.pid));
    assert_eq!(row.command, "workload", "{row:?}");
    assert_eq!(row.user, my_user_name(), "{row:?}");
    assert_eq!(row.status, "", "{row:?}");
    let [rss, pss, uss, _swap] = row.memory.expect("our own child is readable");
    assert!(
        rss >= 16 * MIB && pss >= 16 * MIB && uss >= 16 * MIB,
        "{row:?}"
    );
    assert!(uss <= pss && pss <= rss, "{row:?}");

    let me = std::process::id() as i32;
    assert!(
        list.rows.iter().any(|row| row.pid == me),
        "the test process itself is not listed"
    );

    assert_sorted_by_pss(
        &list.rows,
        |row| row.memory.map(|m| m[1]),
        |row| eprintln!("{}", row.line),
    );

    let readable: Vec<&PsRow> = list.rows.iter().filter(|r| r.memory.is_some()).collect();
    assert_eq!(list.total_count, readable.len(), "TOTAL (N processes)");
    for (index, name) in ["RSS", "PSS", "USS", "SWAP"].iter().enumerate() {
        let sum: u64 = readable.iter().map(|r| r.memory.unwrap()[index]).sum();
        assert_eq!(list.total[index], sum, "TOTAL {name}");
    }
    let unreadable: Vec<&PsRow> = list.rows.iter().filter(|r| r.memory.is_none()).collect();
    for row in &unreadable {
        assert!(row.status.len() > "cannot read: ".len(), "{row:?}");
    }
    if !unreadable.is_empty() {
        let expected = format!(
            "{} {} could not be read (not in the total)",
            unreadable.len(),
            if unreadable.len() == 1 {
                "process"
            } else {
                "processes"
            }
        );
        assert!(
            list.trailer.iter().any(|line| line.starts_with(&expected)),
            "no `{expected}` line in {:?}",
            list.trailer
        );
    }
}

#[test]
fn ps_text_uses_the_unit_everywhere() {
    let workload = Workload::spawn(&["--anon-rw-mb", "4"]);
    let pid = workload.pid_arg();
    for (args, unit) in [
        (&[][..], "MB"), // the default
        (&["-unit", "kB"], "kB"),
        (&["-unit", "GB"], "GB"),
    ] {
        let text = stdout_of(&[&["-ps"][..], args].concat());
        let row = text
            .lines()
            .find(|line| line.split_whitespace().next() == Some(pid.as_str()))
            .unwrap_or_else(|| panic!("workload not listed:\n{text}"));
        let fields: Vec<&str> = row.split_whitespace().collect();
        let units: Vec<&str> = fields[fields.len() - 8..]
            .iter()
            .skip(1)
            .step_by(2)
            .copied()
            .collect();
        assert_eq!(units, [unit; 4], "{row:?}");
        let total = text
            .lines()
            .find(|line| line.starts_with("TOTAL ("))
            .unwrap();
        assert_eq!(total.matches(&format!(" {unit}")).count(), 4, "{total:?}");
    }
}

fn assert_process_entry(entry: &Value) {
    assert!(entry["pid"].as_i64().is_some_and(|pid| pid > 0), "{entry}");
    assert!(entry["user"].is_string(), "{entry}");
    assert!(entry["command"].is_string(), "{entry}");
    let readable = entry["readable"].as_bool().expect("readable is a bool");
    let numbers = ["rss_bytes", "pss_bytes", "uss_bytes", "swap_bytes"];
    if readable {
        assert!(entry["error"].is_null(), "{entry}");
        for key in numbers {
            assert!(entry[key].is_u64(), "{key} of a readable process: {entry}");
        }
    } else {
        let error = entry["error"]
            .as_str()
            .expect("an unreadable process has an error");
        assert!(!error.is_empty(), "{entry}");
        for key in numbers {
            // Present and null: never 0, never missing.
            assert!(
                entry.get(key).is_some_and(Value::is_null),
                "{key} of an unreadable process: {entry}"
            );
        }
    }
}

fn assert_process_list_json(doc: &Value) {
    assert_eq!(doc["schema_version"], 1);
    let processes = doc["processes"].as_array().expect("processes array");
    assert!(!processes.is_empty());
    for entry in processes {
        assert_process_entry(entry);
    }
    assert_sorted_by_pss(
        processes,
        |entry| entry["pss_bytes"].as_u64(),
        |entry| eprintln!("{entry}"),
    );
    let readable: Vec<&Value> = processes
        .iter()
        .filter(|entry| entry["readable"] == true)
        .collect();
    for key in ["rss_bytes", "pss_bytes", "uss_bytes", "swap_bytes"] {
        let sum: u64 = readable
            .iter()
            .map(|entry| u64_at(entry, &format!("/{key}")))
            .sum();
        assert_eq!(
            u64_at(doc, &format!("/totals/{key}")),
            sum,
            "totals.{key} vs the readable processes"
        );
    }
    assert_eq!(u64_at(doc, "/totals/processes") as usize, processes.len());
    assert_eq!(
        u64_at(doc, "/totals/unreadable") as usize,
        processes.len() - readable.len()
    );
    u64_at(doc, "/totals/kernel_threads_not_listed");
}

#[test]
fn ps_json_follows_the_schema_and_matches_smaps_rollup() {
    let workload = Workload::spawn(&["--anon-rw-mb", "16"]);
    let before = rollup_pss(workload.pid);
    let doc = json_of(&["-ps", "-format", "json"]);
    let after = rollup_pss(workload.pid);
    assert_process_list_json(&doc);

    let entry = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["pid"] == workload.pid)
        .unwrap_or_else(|| panic!("workload {} not in {doc:#}", workload.pid));
    assert_eq!(entry["command"], "workload");
    assert_eq!(entry["user"], my_user_name().as_str());
    assert_eq!(entry["readable"], true);
    let pss = u64_at(entry, "/pss_bytes");
    // The shared pages' share moves as other processes come and go; the 16 MiB are private.
    let (low, high) = (before.min(after), before.max(after));
    assert!(
        pss as f64 >= low as f64 * 0.95 && pss as f64 <= high as f64 * 1.05,
        "PSS {pss} vs smaps_rollup {before}..{after}"
    );
    assert!(u64_at(entry, "/rss_bytes") >= 16 * MIB);
}

#[test]
fn ps_conflicts_with_pid_and_file() {
    let path = go_cgo();
    for args in [
        &["-ps", "-pid", "1"][..],
        &["-pid", "1", "-ps"],
        &["--ps", "--pid=1"],
        &["-ps", "-file", &path],
        &["-file", &path, "-ps"],
        &["--ps", "--file", "-"],
    ] {
        let stderr = usage_error(args);
        assert!(stderr.contains("--ps"), "{args:?}: {stderr}");
    }
}

/// Whether user `nobody` can reach and run `path`.
fn usable_by_others(path: &Path) -> bool {
    let mode = |path: &Path| path.metadata().map(|m| m.permissions().mode()).unwrap_or(0);
    mode(path) & 0o005 == 0o005 && path.ancestors().skip(1).all(|dir| mode(dir) & 0o001 != 0)
}

/// The memanalyzer binary at a path user `nobody` can run (a copy in a 0755 temp dir if needed).
fn memanalyzer_for_nobody() -> (Option<TempDir>, PathBuf) {
    let binary = memanalyzer_path();
    if usable_by_others(&binary) {
        return (None, binary);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("memanalyzer");
    fs::copy(&binary, &copy).expect("copy memanalyzer");
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(usable_by_others(&copy), "{}", copy.display());
    (Some(dir), copy)
}

/// Runs `binary ARGS…` as user nobody; `None` when setpriv cannot switch users here.
fn run_as_nobody(setpriv: &Path, binary: &Path, args: &[&str]) -> Option<Output> {
    for _attempt in 0..50 {
        let output = Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(binary)
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run setpriv");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("Text file busy") {
            // The copy was just written and another test thread forked meanwhile.
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        if stderr.starts_with("setpriv:") {
            eprintln!("note: setpriv cannot switch users here ({stderr}); skipped");
            return None;
        }
        assert!(output.status.success(), "{args:?} as nobody: {output:?}");
        return Some(output);
    }
    panic!("{} stayed busy", binary.display());
}

/// As user nobody, root's processes cannot be read: they are listed with the reason, with `?`
/// in text and nulls in JSON, left out of the totals, and counted in Prometheus.
#[test]
fn ps_lists_processes_it_cannot_read_with_the_reason() {
    if !is_root() {
        eprintln!("note: not root, cannot run -ps as another user; skipped");
        return;
    }
    let Some(setpriv) = find_in_path("setpriv") else {
        eprintln!("note: no setpriv in PATH; skipped");
        return;
    };
    let workload = Workload::spawn(&["--anon-rw-mb", "4"]); // owned by root
    let (_dir, binary) = memanalyzer_for_nobody();
    let root = user_name(0);

    let Some(output) = run_as_nobody(&setpriv, &binary, &["-ps", "-unit", "B"]) else {
        return;
    };
    let text = utf8(&output.stdout);
    let list = parse_ps_text(&text);
    let row = list
        .rows
        .iter()
        .find(|row| row.pid == workload.pid)
        .unwrap_or_else(|| panic!("root's workload {} not listed:\n{text}", workload.pid));
    assert_eq!(row.memory, None, "{row:?}");
    assert_eq!(row.status, "cannot read: permission denied", "{row:?}");
    assert_eq!(row.command, "workload", "{row:?}");
    assert_eq!(row.user, root, "{row:?}");
    let readable = list.rows.iter().filter(|r| r.memory.is_some()).count();
    assert_eq!(list.total_count, readable);
    for (index, name) in ["RSS", "PSS", "USS", "SWAP"].iter().enumerate() {
        let sum: u64 = list
            .rows
            .iter()
            .filter_map(|r| r.memory)
            .map(|m| m[index])
            .sum();
        assert_eq!(
            list.total[index], sum,
            "TOTAL {name} counts only readable processes"
        );
    }
    let unreadable = list.rows.len() - readable;
    assert!(
        list.trailer
            .iter()
            .any(|line| line.starts_with(&format!("{unreadable} process"))
                && line.contains("could not be read")),
        "{:?}",
        list.trailer
    );
    // Its own process is readable to nobody.
    assert!(readable >= 1, "{text}");

    let output = run_as_nobody(&setpriv, &binary, &["-ps", "-format", "json"]).unwrap();
    let doc = json(&output.stdout);
    assert_process_list_json(&doc);
    let entry = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["pid"] == workload.pid)
        .unwrap_or_else(|| panic!("root's workload not in {doc:#}"));
    assert_eq!(entry["readable"], false, "{entry}");
    assert_eq!(entry["error"], "permission denied", "{entry}");
    assert_eq!(entry["user"], root.as_str(), "{entry}");
    for key in ["rss_bytes", "pss_bytes", "uss_bytes", "swap_bytes"] {
        assert!(entry.get(key).is_some_and(Value::is_null), "{key}: {entry}");
    }
    assert!(u64_at(&doc, "/totals/unreadable") >= 1);

    let output = run_as_nobody(&setpriv, &binary, &["-ps", "-format", "prometheus"]).unwrap();
    let exposition = assert_process_list_exposition(&utf8(&output.stdout));
    let pid = workload.pid_arg();
    for family in [
        "memanalyzer_process_rss_bytes",
        "memanalyzer_process_pss_bytes",
    ] {
        assert!(
            exposition
                .samples(family)
                .iter()
                .all(|sample| sample.label("pid") != Some(pid.as_str())),
            "{family}: an unreadable process has a value"
        );
    }
    assert!(
        exposition
            .single("memanalyzer_processes_unreadable")
            .whole()
            >= 1
    );
}

// ---------------------------------------------------------------------------------------------
// Help that teaches
// ---------------------------------------------------------------------------------------------

#[test]
fn short_help_is_scannable_and_long_help_explains_the_output() {
    let short = memanalyzer_cmd()
        .arg("-h")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let short = String::from_utf8(short).unwrap();
    assert!(
        short.contains("Examples:") && short.contains("-ps"),
        "{short}"
    );
    assert!(
        !short.contains("When RSS is much larger"),
        "the short help stays short"
    );

    let long = memanalyzer_cmd()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let long = String::from_utf8(long).unwrap();
    for section in [
        "Go Runtime / Native Runtime",
        "Named Memory Regions (mmap)",
        "File-Backed Memory",
        "Shared Memory",
        "Anonymous Memory",
        "Totals",
        "When RSS is much larger than the heap your profiler reports",
        "MALLOC_ARENA_MAX",
        "GOMEMLIMIT",
    ] {
        assert!(
            long.contains(section),
            "--help does not explain {section:?}:\n{long}"
        );
    }
    // The Go-style spelling gives the same long help.
    let go_style = memanalyzer_cmd()
        .arg("-help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(go_style).unwrap(), long);
}
