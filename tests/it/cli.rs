//! The command line: every spelling of every flag (the original Go tool's `-pid 1` and
//! `-pid=1`, GNU's `--pid 1` and `--pid=1`), the defaults, `-file -`, and usage errors (exit 2,
//! clap's message, a suggestion for a mistyped flag).

use crate::support::prelude::*;

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
    let file = temp_file(sample_smaps());
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
    let file = temp_file(sample_smaps());
    let text = stdout_of(&["-file", path_of(&file), "-top", "0"]);
    assert_eq!(listing_title(&text), None, "{text}");
    assert!(text.contains("=== Totals ==="));
}

#[test]
fn all_lists_every_region_in_both_spellings() {
    let file = temp_file(sample_smaps());
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
    let file = temp_file(sample_smaps());
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
    let file = temp_file(sample_smaps());
    let path = path_of(&file);
    assert_eq!(
        stdout_of(&["-file", path, "-format", "text"]),
        stdout_of(&["-file", path])
    );
}

#[test]
fn every_file_spelling_gives_the_same_report() {
    let file = temp_file(sample_smaps());
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
fn file_dash_reads_standard_input() {
    let file = temp_file(sample_smaps());
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
    let smaps = std::fs::read("/proc/self/smaps").expect("read /proc/self/smaps");
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
    assert_eq!(doc["source"]["exe"], memanalyzer_path().to_str().unwrap());
}

// ---------------------------------------------------------------------------------------------
// Usage errors: exit 2, clap's message on stderr
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_single_dash_flag_is_a_usage_error_that_suggests_pid() {
    for flag in ["-pdi", "-pidd"] {
        let stderr = usage_error(&[flag, "1"]);
        assert!(stderr.contains("unexpected argument"), "{flag}: {stderr}");
        assert!(stderr.contains("--pid"), "{flag}: {stderr}");
    }
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
        stderr.contains("text") && stderr.contains("json") && stderr.contains("prometheus"),
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

#[test]
fn name_analyzes_the_first_started_process_of_that_name_and_names_the_others() {
    let dir = exec_tempdir();
    let name = format!("wlname{}", std::process::id() % 100_000);
    let program = dir.path().join(&name);
    std::fs::copy(workload_path(), &program).unwrap();
    let missing = memanalyzer(&["-name", &name])
        .failure()
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&missing.stderr).contains(&format!("no process named {name}")));
    let first = Workload::spawn_program(&program, &[]);
    let output = memanalyzer(&["-name", &name])
        .success()
        .get_output()
        .clone();
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with(&format!(
            "Source: /proc/{0}/smaps (PID {0}, {name}",
            first.pid
        ))
    );
    assert!(output.stderr.is_empty(), "{:?}", output.stderr);
    let second = Workload::spawn_program(&program, &[]);
    let output = memanalyzer(&["-name", &name, "-format", "json"])
        .success()
        .get_output()
        .clone();
    assert_eq!(json(&output.stdout)["source"]["pid"], first.pid);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "2 processes are named {name}: analyzing PID {}",
            first.pid
        )) && stderr.contains(&second.pid.to_string()),
        "{stderr}"
    );
}

#[test]
fn a_flag_of_another_mode_is_refused_not_ignored() {
    for (args, needed) in [
        (&["-pid", "1", "-min-interval", "1s"][..], "--http"),
        (&["-pid", "1", "-token-file", "t"], "--http"),
        (&["-pid", "1", "-count", "3"], "--watch"),
        (&["-pid", "1", "-record", "r.ndjson"], "--watch"),
    ] {
        let stderr = usage_error(args);
        assert!(stderr.contains(needed), "{args:?}: {stderr}");
    }
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

#[test]
fn unknown_unit_is_a_usage_error() {
    let stderr = usage_error(&["-file", &go_cgo(), "-unit", "xx"]);
    assert!(stderr.contains("xx"), "{stderr}");
    usage_error(&["-file", &go_cgo(), "-unit", ""]);
    usage_error(&["-ps", "-unit", "xx"]);
}
