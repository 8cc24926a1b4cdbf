//! The command line of the real binary: every flag spelling, both output formats, usage errors
//! (exit 2), runtime errors (exit 1, one line on stderr), warnings, and output into a closed pipe
//! or a full disk.

mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::*;
use predicates::prelude::*;
use serde_json::Value;
use tempfile::NamedTempFile;

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

/// A temp file holding [`sample_smaps`].
fn sample_file() -> NamedTempFile {
    temp_file(sample_smaps())
}

/// The totals, sections and regions of a JSON report: everything but where it came from.
fn analysis(doc: &Value) -> (Value, Value, Value) {
    (
        doc["totals"].clone(),
        doc["sections"].clone(),
        doc["top_regions"].clone(),
    )
}

// ---------------------------------------------------------------------------------------------
// Flag spellings
// ---------------------------------------------------------------------------------------------

#[test]
fn every_pid_spelling_analyzes_that_process() {
    let workload = Workload::spawn(&["--mappings", "50"]);
    let pid = workload.pid_arg();
    let (pid_eq, gnu_pid_eq) = (format!("-pid={pid}"), format!("--pid={pid}"));
    let mut seen = Vec::new();
    for form in [
        &["-pid", pid.as_str()][..],
        &[pid_eq.as_str()][..],
        &["--pid", pid.as_str()][..],
        &[gnu_pid_eq.as_str()][..],
    ] {
        let mut args = form.to_vec();
        args.extend(["-format", "json"]);
        let doc = json_of(&args);
        assert_eq!(doc["source"]["pid"], workload.pid, "{form:?}");
        assert_eq!(
            doc["source"]["path"],
            format!("/proc/{pid}/smaps"),
            "{form:?}"
        );
        // The workload is quiescent: its regions and their sizes do not change.
        seen.push((
            u64_at(&doc, "/totals/regions"),
            u64_at(&doc, "/totals/size_bytes"),
        ));
    }
    assert!(seen.iter().all(|figures| *figures == seen[0]), "{seen:?}");
    assert!(seen[0].0 > 50, "{seen:?}");
}

#[test]
fn every_top_spelling_lists_at_most_that_many_regions() {
    let file = sample_file();
    let path = path_of(&file);
    let reference = stdout_of(&["-file", path, "-top", "5"]);
    assert_eq!(
        listing_title(&reference),
        Some("=== Top 5 Memory Regions ===")
    );
    let rows = table_rows(&reference);
    assert!(!rows.is_empty() && rows.len() <= 5, "{rows:#?}");
    for form in [&["--top", "5"][..], &["-top=5"][..], &["--top=5"][..]] {
        let mut args = vec!["-file", path];
        args.extend(form);
        assert_eq!(stdout_of(&args), reference, "{form:?}");
    }
}

#[test]
fn top_limits_the_listing_of_a_live_process() {
    let text = stdout_of(&["-top", "5"]);
    assert_eq!(listing_title(&text), Some("=== Top 5 Memory Regions ==="));
    let rows = table_rows(&text);
    assert!(!rows.is_empty() && rows.len() <= 5, "{rows:#?}");
}

#[test]
fn top_zero_lists_no_regions() {
    let file = sample_file();
    let text = stdout_of(&["-file", path_of(&file), "-top", "0"]);
    assert_eq!(listing_title(&text), None, "{text}");
    assert!(text.contains("=== Totals ==="));
}

#[test]
fn all_lists_every_region_in_both_spellings() {
    let file = sample_file();
    let path = path_of(&file);
    let text = stdout_of(&["-file", path, "-all"]);
    let total = regions_total(&text);
    assert_eq!(total, SAMPLE_REGIONS.len() as u64);
    assert_eq!(
        listing_title(&text),
        Some(format!("=== All Memory Regions ({total}) ===").as_str())
    );
    assert_eq!(table_rows(&text).len() as u64, total);
    assert_eq!(stdout_of(&["--file", path, "--all"]), text);
}

#[test]
fn all_lists_every_region_of_a_live_process() {
    let workload = Workload::spawn(&["--mappings", "300"]);
    let text = stdout_of(&["-pid", &workload.pid_arg(), "--all"]);
    let total = regions_total(&text);
    assert!(total > 300, "{total}");
    assert_eq!(
        listing_title(&text),
        Some(format!("=== All Memory Regions ({total}) ===").as_str())
    );
    assert_eq!(table_rows(&text).len() as u64, total);
}

#[test]
fn every_format_spelling_gives_the_same_json() {
    let file = sample_file();
    let path = path_of(&file);
    let reference = json_of(&["-file", path, "-format", "json"]);
    assert_eq!(reference["schema_version"], 1);
    for form in [
        &["--format", "json"][..],
        &["-format=json"][..],
        &["--format=json"][..],
    ] {
        let mut args = vec!["-file", path];
        args.extend(form);
        assert_eq!(json_of(&args), reference, "{form:?}");
    }
}

#[test]
fn format_text_is_the_default() {
    let file = sample_file();
    let path = path_of(&file);
    assert_eq!(
        stdout_of(&["-file", path, "-format", "text"]),
        stdout_of(&["-file", path])
    );
}

#[test]
fn every_file_spelling_gives_the_same_report() {
    let file = sample_file();
    let path = path_of(&file);
    let reference = stdout_of(&["-file", path]);
    assert!(
        reference.starts_with(&format!("Source: {path} (")),
        "{reference}"
    );
    let eq = format!("={path}");
    for args in [
        vec!["--file", path],
        vec![&format!("-file{eq}")[..]],
        vec![&format!("--file{eq}")[..]],
    ] {
        assert_eq!(stdout_of(&args), reference, "{args:?}");
    }
}

#[test]
fn file_analysis_has_the_expected_figures() {
    let file = sample_file();
    let doc = json_of(&["-file", path_of(&file), "-format", "json"]);
    assert_eq!(doc["source"]["pid"], Value::Null);
    assert_eq!(doc["source"]["path"], path_of(&file));
    assert_eq!(doc["source"]["exe"], "/usr/bin/sampleapp");
    assert_eq!(doc["source"]["runtime"], "native");
    assert_eq!(u64_at(&doc, "/totals/rss_bytes"), sample_rss_bytes());
    assert_eq!(u64_at(&doc, "/totals/regions"), SAMPLE_REGIONS.len() as u64);
    let memfd = category(&doc, "Shared Memory", "memfd").expect("memfd category");
    assert_eq!(u64_at(memfd, "/rss_bytes"), 4096 * 1024);
    assert!(category(&doc, "File-Backed Memory", "sampleapp Binary").is_some());
    assert!(category(&doc, "Native Runtime", "Heap").is_some());
    assert!(category(&doc, "Native Runtime", "Stack").is_some());
    assert_json_sums_are_consistent(&doc);
}

#[test]
fn file_dash_reads_standard_input() {
    let file = sample_file();
    let from_file = json_of(&["-file", path_of(&file), "-format", "json"]);
    let assert = memanalyzer_cmd()
        .args(["-file", "-", "-format", "json"])
        .write_stdin(sample_smaps())
        .assert()
        .success();
    let from_stdin = json(&assert.get_output().stdout);
    assert_eq!(from_stdin["source"]["path"], "-");
    assert_eq!(analysis(&from_stdin), analysis(&from_file));
}

#[test]
fn gnu_file_dash_reads_standard_input_as_text() {
    let assert = memanalyzer_cmd()
        .args(["--file", "-"])
        .write_stdin(sample_smaps())
        .assert()
        .success();
    let text = utf8(&assert.get_output().stdout);
    assert!(text.starts_with("Source: - ("), "{text}");
    assert_eq!(regions_total(&text), SAMPLE_REGIONS.len() as u64);
}

#[test]
fn a_saved_copy_of_real_smaps_reads_the_same_from_a_file_and_stdin() {
    let smaps = fs::read("/proc/self/smaps").expect("read /proc/self/smaps");
    let file = temp_file(&smaps);
    let from_file = json_of(&["-file", path_of(&file), "-format", "json", "-all"]);
    let assert = memanalyzer_cmd()
        .args(["-file", "-", "-format", "json", "-all"])
        .write_stdin(smaps)
        .assert()
        .success()
        .stderr("");
    let from_stdin = json(&assert.get_output().stdout);
    assert_eq!(analysis(&from_stdin), analysis(&from_file));
    assert_json_sums_are_consistent(&from_file);
}

#[test]
fn every_help_spelling_shows_the_examples() {
    for flag in ["-h", "--help", "-help"] {
        memanalyzer(&[flag])
            .success()
            .stderr("")
            .stdout(predicate::str::contains("Examples:"))
            .stdout(predicate::str::contains(
                r#"memanalyzer -pid 1 | grep "RSS (Resident)" | awk '{print $3}'"#,
            ))
            .stdout(predicate::str::contains(
                "kubectl exec POD -- cat /proc/1/smaps | memanalyzer -file -",
            ));
    }
}

#[test]
fn every_version_spelling_prints_the_version() {
    let expected = format!("memanalyzer {}\n", env!("CARGO_PKG_VERSION"));
    for flag in ["-V", "--version", "-version"] {
        memanalyzer(&[flag])
            .success()
            .stderr("")
            .stdout(expected.clone());
    }
}

#[test]
fn no_flags_analyzes_memanalyzers_own_process() {
    let text = stdout_of(&[]);
    assert!(text.starts_with("Source: /proc/"), "{text}");
    assert!(text.contains("memanalyzer"), "{text}");
    assert!(rss_mib(&text) >= 1, "{text}");
    assert_eq!(listing_title(&text), Some("=== Top 20 Memory Regions ==="));
}

#[test]
fn no_pid_means_memanalyzers_own_process_in_json_too() {
    let doc = json_of(&["-format", "json"]);
    let pid = doc["source"]["pid"].as_i64().expect("a live PID");
    assert_ne!(pid, i64::from(std::process::id()));
    assert_eq!(doc["source"]["path"], format!("/proc/{pid}/smaps"));
    assert_eq!(doc["source"]["comm"], "memanalyzer");
    assert_eq!(doc["source"]["runtime"], "native");
}

// ---------------------------------------------------------------------------------------------
// Usage errors: exit 2, clap's message on stderr
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_single_dash_flag_is_a_usage_error() {
    let stderr = usage_error(&["-pdi", "1"]);
    assert!(stderr.contains("unexpected argument"), "{stderr}");
}

#[test]
fn unknown_single_dash_flag_suggests_pid() {
    let stderr = usage_error(&["-pdi", "1"]);
    assert!(stderr.contains("--pid"), "{stderr}");
    let stderr = usage_error(&["-pidd", "1"]);
    assert!(stderr.contains("--pid"), "{stderr}");
}

#[test]
fn unknown_double_dash_flag_suggests_the_similar_one() {
    let stderr = usage_error(&["--pidd", "1"]);
    assert!(stderr.contains("--pid"), "{stderr}");
    let stderr = usage_error(&["--fromat", "json"]);
    assert!(stderr.contains("--format"), "{stderr}");
}

#[test]
fn pid_must_be_a_positive_whole_number() {
    for args in [
        &["-pid", "0"][..],
        &["-pid", "-1"][..],
        &["-pid", "abc"][..],
        &["-pid=abc"][..],
        &["--pid", "1.5"][..],
        &["--pid=99999999999"][..],
    ] {
        let stderr = usage_error(args);
        assert!(
            stderr.contains("positive whole number"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn negative_top_is_a_usage_error() {
    let stderr = usage_error(&["-top", "-3"]);
    assert!(stderr.contains("-3"), "{stderr}");
}

#[test]
fn unknown_format_is_a_usage_error_listing_the_formats() {
    let stderr = usage_error(&["-format", "xml"]);
    assert!(stderr.contains("xml"), "{stderr}");
    assert!(
        stderr.contains("text") && stderr.contains("json"),
        "{stderr}"
    );
}

#[test]
fn pid_and_file_conflict() {
    let stderr = usage_error(&["-pid", "1", "-file", "x"]);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[test]
fn all_and_top_conflict() {
    let stderr = usage_error(&["-all", "-top", "5"]);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Runtime errors: exit 1, one `memanalyzer: error:` line
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
// Tolerated input: exit 0 with a warning
// ---------------------------------------------------------------------------------------------

fn assert_one_warning(stderr: &[u8], about: &str) {
    let stderr = utf8(stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr:?}");
    assert!(lines[0].starts_with("memanalyzer: warning: "), "{stderr:?}");
    assert!(lines[0].contains(about), "{stderr:?}");
}

#[test]
fn final_record_cut_short_is_analyzed_with_a_warning() {
    let text = sample_smaps();
    let cut = &text[..text.rfind("Swap:").expect("a Swap line")];
    let file = temp_file(cut);
    let assert = memanalyzer(&["-file", path_of(&file), "-format", "json"]).success();
    assert_one_warning(&assert.get_output().stderr, "cut short");
    let doc = json(&assert.get_output().stdout);
    assert_eq!(u64_at(&doc, "/totals/regions"), SAMPLE_REGIONS.len() as u64);
    assert_eq!(doc["warnings"].as_array().map(Vec::len), Some(1));
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
    let file = sample_file();
    let lf = json_of(&["-file", path_of(&file), "-format", "json"]);
    let crlf_file = temp_file(sample_smaps().replace('\n', "\r\n"));
    let assert = memanalyzer(&["-file", path_of(&crlf_file), "-format", "json"]).success();
    assert_one_warning(&assert.get_output().stderr, "CRLF");
    let crlf = json(&assert.get_output().stdout);
    assert_eq!(analysis(&crlf), analysis(&lf));
}

// ---------------------------------------------------------------------------------------------
// The text contract for scripts
// ---------------------------------------------------------------------------------------------

#[test]
fn rss_line_gives_whole_megabytes_to_awk() {
    let workload = Workload::spawn(&["--anon-rw-mb", "8"]);
    let text = stdout_of(&["-pid", &workload.pid_arg()]);
    assert!(rss_mib(&text) >= 8, "{text}");
}

#[test]
fn text_output_has_the_breakdown_and_totals_in_order() {
    let workload = Workload::spawn(&[]);
    let text = stdout_of(&["-pid", &workload.pid_arg()]);
    assert!(
        text.contains("\n=== Complete Memory Breakdown ===\n"),
        "{text}"
    );
    let after_totals: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != "=== Totals ===")
        .skip(1)
        .take(3)
        .collect();
    assert_eq!(after_totals.len(), 3, "{text}");
    for (line, label) in
        after_totals
            .iter()
            .zip(["Virtual Memory:", "RSS (Resident):", "PSS (Proportional):"])
    {
        assert!(
            line.starts_with(label),
            "{line:?} should start with {label:?}"
        );
        assert!(line.ends_with(" MB"), "{line:?}");
    }
}

#[test]
fn sample_text_output_rounds_down_to_whole_megabytes() {
    let file = sample_file();
    let text = stdout_of(&["-file", path_of(&file)]);
    assert_eq!(rss_mib(&text), sample_rss_bytes() / (1024 * 1024));
}

#[test]
fn piped_output_has_no_colour() {
    let text = memanalyzer(&[]).success().get_output().stdout.clone();
    assert!(!text.contains(&0x1b), "{}", String::from_utf8_lossy(&text));
    let text = memanalyzer_cmd()
        .env("NO_COLOR", "1")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(!text.contains(&0x1b), "{}", String::from_utf8_lossy(&text));
}

/// Runs memanalyzer on the sample with stdout on a new pseudo-terminal; `None` without ptys.
fn run_on_terminal(no_color: Option<&str>) -> Option<Vec<u8>> {
    let (mut master, slave) = {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors into the provided integers.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if rc != 0 {
            eprintln!(
                "note: no pseudo-terminal ({}); skipped",
                std::io::Error::last_os_error()
            );
            return None;
        }
        // SAFETY: both descriptors were just opened and are owned here.
        unsafe {
            (
                File::from(OwnedFd::from_raw_fd(master)),
                OwnedFd::from_raw_fd(slave),
            )
        }
    };
    let file = sample_file();
    let mut cmd = Command::new(memanalyzer_path());
    cmd.args(["-file", path_of(&file), "-top", "3"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::piped());
    match no_color {
        Some(value) => cmd.env("NO_COLOR", value),
        None => cmd.env_remove("NO_COLOR"),
    };
    let child = cmd.spawn().expect("spawn memanalyzer");
    drop(cmd); // Closes our copy of the slave, so the master reads EIO once the child is done.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => return out, // EIO: every slave descriptor is closed.
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    });
    let output = child.wait_with_output().expect("wait for memanalyzer");
    assert!(output.status.success(), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    Some(reader.join().expect("pty reader"))
}

#[test]
fn a_terminal_gets_colour_unless_no_color_is_set() {
    let Some(coloured) = run_on_terminal(None) else {
        return;
    };
    assert!(
        coloured.contains(&0x1b),
        "{}",
        String::from_utf8_lossy(&coloured)
    );
    let plain = run_on_terminal(Some("1")).expect("pty worked a moment ago");
    assert!(
        !plain.contains(&0x1b),
        "{}",
        String::from_utf8_lossy(&plain)
    );
    // An empty NO_COLOR does not count (no-color.org).
    let empty = run_on_terminal(Some("")).expect("pty worked a moment ago");
    assert!(empty.contains(&0x1b), "{}", String::from_utf8_lossy(&empty));
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

fn assert_schema(doc: &Value) {
    assert_eq!(doc["schema_version"], 1);
    for key in ["pid", "path", "exe", "comm", "runtime", "go_version"] {
        assert!(doc["source"].get(key).is_some(), "source.{key} missing");
    }
    assert!(["go", "native"].contains(&doc["source"]["runtime"].as_str().unwrap()));
    for key in [
        "size_bytes",
        "rss_bytes",
        "pss_bytes",
        "private_bytes",
        "shared_bytes",
        "swap_bytes",
        "swap_pss_bytes",
        "hugetlb_bytes",
        "regions",
    ] {
        u64_at(doc, &format!("/totals/{key}"));
    }
    for section in sections(doc) {
        assert!(section["name"].is_string());
        u64_at(section, "/rss_bytes");
        for category in section["categories"].as_array().unwrap() {
            assert!(category["name"].is_string());
            for key in [
                "regions",
                "size_bytes",
                "rss_bytes",
                "pss_bytes",
                "private_bytes",
                "shared_bytes",
                "swap_bytes",
            ] {
                u64_at(category, &format!("/{key}"));
            }
        }
    }
    for region in top_regions(doc) {
        for key in ["start", "end", "perms", "name", "section", "category"] {
            assert!(region[key].is_string(), "region.{key}: {region}");
        }
        for key in [
            "size_bytes",
            "rss_bytes",
            "pss_bytes",
            "private_bytes",
            "shared_bytes",
            "swap_bytes",
        ] {
            u64_at(region, &format!("/{key}"));
        }
        let start = u64::from_str_radix(region["start"].as_str().unwrap(), 16).unwrap();
        let end = u64::from_str_radix(region["end"].as_str().unwrap(), 16).unwrap();
        assert_eq!(end - start, u64_at(region, "/size_bytes"), "{region}");
    }
}

#[test]
fn json_of_a_live_process_follows_the_schema_and_adds_up() {
    let workload = Workload::spawn(&["--anon-rw-mb", "4", "--memfd-kb", "512", "--threads", "2"]);
    let doc = json_of(&["-pid", &workload.pid_arg(), "-format", "json"]);
    assert_schema(&doc);
    assert_eq!(doc["source"]["pid"], workload.pid);
    assert_eq!(doc["source"]["comm"], "workload");
    assert_json_sums_are_consistent(&doc);
    assert!(top_regions(&doc).len() <= 20);
}

#[test]
fn json_all_lists_every_region() {
    let workload = Workload::spawn(&["--mappings", "100"]);
    let doc = json_of(&["-pid", &workload.pid_arg(), "-format", "json", "-all"]);
    assert_schema(&doc);
    assert_eq!(doc["listing"], "all");
    assert_eq!(
        top_regions(&doc).len() as u64,
        u64_at(&doc, "/totals/regions")
    );
    let rss: u64 = top_regions(&doc)
        .iter()
        .map(|r| u64_at(r, "/rss_bytes"))
        .sum();
    assert_eq!(rss, u64_at(&doc, "/totals/rss_bytes"));
    assert_json_sums_are_consistent(&doc);
}

#[test]
fn json_of_a_file_follows_the_schema_and_adds_up() {
    let file = sample_file();
    let doc = json_of(&["-file", path_of(&file), "-format", "json", "-all"]);
    assert_schema(&doc);
    assert_json_sums_are_consistent(&doc);
    assert_eq!(
        top_regions(&doc).len() as u64,
        u64_at(&doc, "/totals/regions")
    );
}

// ---------------------------------------------------------------------------------------------
// Where the output goes
// ---------------------------------------------------------------------------------------------

#[test]
fn closed_pipe_ends_quietly() {
    let workload = Workload::spawn(&["--mappings", "2000"]);
    let mut child = Command::new(memanalyzer_path())
        .args(["-pid", &workload.pid_arg(), "-all"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn memanalyzer");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("Source: "), "{first:?}");
    drop(stdout); // `| head -1`
    let output = child.wait_with_output().expect("wait for memanalyzer");
    assert!(
        output.status.success() || output.status.signal() == Some(libc::SIGPIPE),
        "{:?}",
        output.status
    );
    assert_eq!(utf8(&output.stderr), "");
}

#[test]
fn full_disk_is_an_error() {
    let Ok(full) = File::options().write(true).open("/dev/full") else {
        eprintln!("note: no /dev/full; skipped");
        return;
    };
    let output = Command::new(memanalyzer_path())
        .args(["-pid", &std::process::id().to_string()])
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .expect("run memanalyzer");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let line = assert_one_error_line(&utf8(&output.stderr));
    assert!(line.contains("cannot write"), "{line}");
}
