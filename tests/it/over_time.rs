//! Memory over time: `-diff` against smaps and JSON baselines (categories add up to the totals'
//! change, a thread leak is a count change), `-watch` on workloads that grow at a known rate or
//! saw up and down without growing, `-record` and its replay, thresholds (exit 3), a target that
//! exits during a watch (exit 4), and the errors for bad input.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::support::prelude::*;

const MIB: f64 = 1024.0 * 1024.0;

/// The lines of NDJSON output, parsed.
fn lines(stdout: &[u8]) -> Vec<Value> {
    utf8(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Waits (at most 30 s, a hang guard) until a running watch has recorded `count` samples.
fn wait_for_samples(recording: &std::path::Path, count: usize) {
    let recorded = || {
        std::fs::read(recording)
            .map(|bytes| bytes.iter().filter(|&&b| b == b'\n').count() >= count)
            .unwrap_or(false)
    };
    assert!(
        poll_until(Duration::from_secs(30), recorded),
        "no samples recorded"
    );
}

fn summary_of(records: &[Value]) -> &Value {
    let last = records.last().expect("a watch prints at least its summary");
    assert_eq!(last["record"], "summary", "{last}");
    last
}

#[test]
fn a_diff_against_a_json_baseline_adds_up_to_the_totals_change() {
    let base = temp_file(bytes_of(&[
        "-file",
        fixture_path("c-threads/smaps").to_str().unwrap(),
        "-format",
        "json",
    ]));
    let now = fixture_path("python/smaps");
    let diff = json(&bytes_of(&[
        "-file",
        now.to_str().unwrap(),
        "-diff",
        path_of(&base),
        "-format",
        "json",
    ]));
    assert_eq!(diff["kind"], "diff");
    assert!(diff["regions_compared"].as_bool().unwrap());
    for field in ["rss_bytes", "pss_bytes", "swap_bytes"] {
        let sum: i64 = diff["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["change"][field].as_i64().unwrap())
            .sum();
        assert_eq!(
            sum,
            diff["totals"]["change"][field].as_i64().unwrap(),
            "{field}"
        );
    }
    // The same diff from the smaps baseline itself.
    let from_smaps = json(&bytes_of(&[
        "-file",
        now.to_str().unwrap(),
        "-diff",
        fixture_path("c-threads/smaps").to_str().unwrap(),
        "-format",
        "json",
    ]));
    assert_eq!(from_smaps["totals"], diff["totals"]);
    assert_eq!(from_smaps["region_groups"], diff["region_groups"]);
    // Every amount of every category, swap_pss and hugetlb too, read back from the JSON.
    assert_eq!(from_smaps["categories"], diff["categories"]);
    // Text: the stable labels, base / now / change.
    let text = stdout_of(&["-file", now.to_str().unwrap(), "-diff", path_of(&base)]);
    let rss = text
        .lines()
        .find(|line| line.starts_with("RSS (Resident):"))
        .unwrap();
    let fields: Vec<&str> = rss.split_whitespace().collect();
    assert_eq!(fields[6], "+37", "{rss}");
}

/// Swapped and hugetlbfs pages per category: a JSON baseline carries them as the smaps does.
#[test]
fn a_diff_against_a_json_baseline_has_swap_pss_and_hugetlb_per_category() {
    let [base, now] = ["edge/hugetlb.smaps", "edge/swap.smaps"].map(fixture_path);
    let base_json = temp_file(bytes_of(&[
        "-file",
        base.to_str().unwrap(),
        "-format",
        "json",
    ]));
    let diff_from = |base: &str| {
        json(&bytes_of(&[
            "-file",
            now.to_str().unwrap(),
            "-diff",
            base,
            "-format",
            "json",
        ]))
    };
    let (from_json, from_smaps) = (
        diff_from(path_of(&base_json)),
        diff_from(base.to_str().unwrap()),
    );
    assert_eq!(from_json["categories"], from_smaps["categories"]);
    for field in ["swap_pss_bytes", "hugetlb_bytes"] {
        let changes: Vec<i64> = from_json["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["change"][field].as_i64().unwrap())
            .collect();
        assert!(
            changes.iter().any(|change| *change != 0),
            "{field}: {changes:?}"
        );
        assert_eq!(
            changes.iter().sum::<i64>(),
            from_json["totals"]["change"][field].as_i64().unwrap(),
            "{field}"
        );
    }
}

#[test]
fn a_thread_leak_is_a_count_change_in_the_diff() {
    let before = Workload::spawn(&["--threads", "2"]);
    let base = temp_file(bytes_of(&["-pid", &before.pid_arg(), "-format", "json"]));
    drop(before);
    let after = Workload::spawn(&["--threads", "42"]);
    let diff = json(&bytes_of(&[
        "-pid",
        &after.pid_arg(),
        "-diff",
        path_of(&base),
        "-format",
        "json",
    ]));
    let stack = diff["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "stack")
        .expect("the stack category");
    let more = stack["now_regions"].as_i64().unwrap() - stack["base_regions"].as_i64().unwrap();
    assert!(more >= 40, "{stack}");
    let counted = diff["region_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["category_id"] == "stack" && g["change"] == "count" && g["perms"] == "rw-p")
        .expect("a group of stacks whose count changed");
    let added =
        counted["now_regions"].as_i64().unwrap() - counted["base_regions"].as_i64().unwrap();
    assert!(added >= 40, "{counted}");
    let text = stdout_of(&["-pid", &after.pid_arg(), "-diff", path_of(&base)]);
    assert!(
        text.contains("more stack regions: threads were started"),
        "{text}"
    );
}

#[test]
fn the_verdict_finds_a_known_growth_rate_within_ten_percent() {
    let workload = Workload::spawn(&["--grow-mb-per-s", "10", "--grow-limit-mb", "200"]);
    let output = memanalyzer(&[
        "-pid",
        &workload.pid_arg(),
        "-watch",
        "100ms",
        "-count",
        "60",
    ])
    .success()
    .get_output()
    .clone();
    let records = lines(&output.stdout);
    assert_eq!(records.len(), 61, "60 samples and the summary");
    assert!(records[..60].iter().all(|r| r["record"] == "sample"));
    let total = &summary_of(&records)["total"];
    let truth = 10.0 * MIB * 3600.0;
    let rate = total["rate_bytes_per_hour"].as_f64().unwrap();
    assert!(
        (rate - truth).abs() < truth * 0.1,
        "{rate} vs {truth}: {total}"
    );
    assert_eq!(total["trend"], "growing");
    assert_eq!(total["possible_leak"], true);
    let leaking: Vec<&Value> = summary_of(&records)["categories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["possible_leak"] == true)
        .collect();
    assert_eq!(leaking.len(), 1, "{leaking:?}");
    assert_eq!(leaking[0]["id"], "anon.large");
}

#[test]
fn a_steady_sawtooth_is_no_leak_and_a_recording_replays_it() {
    let workload = Workload::spawn(&["--sawtooth-mb", "40", "--sawtooth-period-ms", "400"]);
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("saw.ndjson");
    let output = memanalyzer(&[
        "-pid",
        &workload.pid_arg(),
        "-watch",
        "25ms",
        "-count",
        "200",
        "-record",
        recording.to_str().unwrap(),
    ])
    .success()
    .get_output()
    .clone();
    let records = lines(&output.stdout);
    let summary = summary_of(&records);
    assert_eq!(summary["samples"], 200);
    assert_eq!(summary["total"]["possible_leak"], false, "{summary}");
    for category in summary["categories"].as_array().unwrap() {
        assert_eq!(category["possible_leak"], false, "{category}");
    }
    // The recording replays to the same verdict; it holds the samples without the summary.
    let replayed = json(&bytes_of(&[
        "-file",
        recording.to_str().unwrap(),
        "-format",
        "json",
    ]));
    assert_eq!(replayed["samples"], 200);
    assert_eq!(replayed["total"], summary["total"]);
    let text = stdout_of(&["-file", recording.to_str().unwrap()]);
    assert!(text.contains("Verdict: RSS"), "{text}");
    assert!(!text.contains("Possible leak"), "{text}");
}

#[test]
fn a_recording_cut_mid_line_uses_the_whole_lines_and_warns() {
    let workload = Workload::spawn(&[]);
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("rec.ndjson");
    memanalyzer(&[
        "-pid",
        &workload.pid_arg(),
        "-watch",
        "10ms",
        "-count",
        "8",
        "-full-every",
        "3",
        "-record",
        recording.to_str().unwrap(),
    ])
    .success();
    let mut bytes = std::fs::read(&recording).unwrap();
    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 8);
    bytes.truncate(bytes.len() - 40);
    std::fs::write(&recording, &bytes).unwrap();
    let output = memanalyzer(&["-file", recording.to_str().unwrap(), "-format", "json"])
        .success()
        .get_output()
        .clone();
    assert_one_warning(&output.stderr, "line 8 is cut short");
    assert_eq!(json(&output.stdout)["samples"], 7);
}

#[test]
fn thresholds_exit_3_with_one_line_naming_them() {
    let base = fixture_path("c-threads/smaps");
    let now = fixture_path("python/smaps");
    let assert = memanalyzer(&[
        "-file",
        now.to_str().unwrap(),
        "-diff",
        base.to_str().unwrap(),
        "-max-growth",
        "10MB",
    ])
    .code(3);
    let stderr = utf8(&assert.get_output().stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("memanalyzer: threshold crossed: -max-growth 10 MB"),
        "{stderr}"
    );
    assert!(
        !assert.get_output().stdout.is_empty(),
        "the diff is still printed"
    );
    memanalyzer(&[
        "-file",
        now.to_str().unwrap(),
        "-diff",
        base.to_str().unwrap(),
        "-max-growth",
        "100MB",
        "-max-rss",
        "1GB",
    ])
    .success();

    let workload = Workload::spawn(&["--anon-rw-mb", "8"]);
    let assert = memanalyzer(&[
        "-pid",
        &workload.pid_arg(),
        "-watch",
        "10ms",
        "-count",
        "5",
        "-max-rss",
        "1MB",
    ])
    .code(3);
    let output = assert.get_output();
    let stderr = utf8(&output.stderr);
    assert!(
        stderr.starts_with("memanalyzer: threshold crossed: -max-rss 1 MB: RSS is"),
        "{stderr}"
    );
    let records = lines(&output.stdout);
    assert_eq!(records.len(), 2, "one sample, then the summary");
}

#[test]
fn a_target_that_exits_during_a_watch_ends_with_the_summary_and_status_4() {
    let workload = Workload::spawn(&[]);
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("rec.ndjson");
    let mut watch = std::process::Command::new(memanalyzer_path())
        .args([
            "-pid",
            &workload.pid_arg(),
            "-watch",
            "20ms",
            "-count",
            "100000",
            "-record",
            recording.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_samples(&recording, 3);
    workload.kill();
    let guard = std::time::Instant::now();
    let output = loop {
        if watch.try_wait().unwrap().is_some() {
            break watch.wait_with_output().unwrap();
        }
        assert!(
            guard.elapsed() < Duration::from_secs(20),
            "the watch did not end"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(output.status.code(), Some(4), "{output:?}");
    let stderr = utf8(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("exited during the watch"), "{stderr}");
    let records = lines(&output.stdout);
    assert!(summary_of(&records)["samples"].as_u64().unwrap() >= 2);
}

#[test]
fn bad_over_time_input_gets_a_clear_error() {
    for interval in ["0", "0s", "ten", "5x", "-1s"] {
        let stderr = usage_error(&["-pid", "1", "-watch", interval]);
        assert!(stderr.contains("interval"), "{interval}: {stderr}");
    }
    let stderr = usage_error(&["-file", "x", "-watch", "1s"]);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let stderr = usage_error(&["-watch", "1s"]);
    assert!(stderr.contains("--pid"), "{stderr}");
    let stderr = usage_error(&["-pid", "1", "-count", "3"]);
    assert!(stderr.contains("--watch"), "{stderr}");

    let smaps = fixture_path("c-threads/smaps");
    // A threshold that would be silently ignored is refused.
    for (args, flag) in [
        (vec!["-max-rss", "1GB"], "-max-rss"),
        (vec!["-plot", "x.svg"], "-plot"),
        (
            vec!["-diff", smaps.to_str().unwrap(), "-max-rate", "1MB/h"],
            "-max-rate",
        ),
    ] {
        let mut all = vec!["-file", smaps.to_str().unwrap()];
        all.extend(args);
        let assert = memanalyzer(&all).code(2);
        let stderr = utf8(&assert.get_output().stderr);
        assert!(
            stderr.starts_with(&format!("memanalyzer: error: {flag} does nothing")),
            "{stderr}"
        );
        assert!(assert.get_output().stdout.is_empty());
    }
    let assert = memanalyzer(&["-pid", "1", "-watch", "1s", "-output", "x.ndjson"]).code(2);
    let stderr = utf8(&assert.get_output().stderr);
    assert!(stderr.contains("-record FILE"), "{stderr}");
    let neither = temp_file("hello, world\n");
    let line = runtime_error(&["-file", smaps.to_str().unwrap(), "-diff", path_of(&neither)]);
    assert!(line.contains("is neither smaps text"), "{line}");
    let other_json = temp_file("{\"processes\": []}\n");
    let line = runtime_error(&[
        "-file",
        smaps.to_str().unwrap(),
        "-diff",
        path_of(&other_json),
    ]);
    assert!(line.contains("not a memanalyzer JSON report"), "{line}");
    let mut bad_line = tempfile::NamedTempFile::new().unwrap();
    writeln!(bad_line, "{{\"record\":\"sample\",\"time_unix_ms\":1}}").unwrap();
    let line = runtime_error(&["-file", bad_line.path().to_str().unwrap()]);
    assert!(
        line.contains("line 1 is not a memanalyzer sample record"),
        "{line}"
    );
}

#[test]
fn a_prometheus_watch_adds_the_growth_rate_per_category() {
    use crate::support::prometheus::{parse_exposition, Promtool};
    let workload = Workload::spawn(&["--grow-mb-per-s", "20", "--grow-limit-mb", "100"]);
    let text = stdout_of(&[
        "-pid",
        &workload.pid_arg(),
        "-watch",
        "50ms",
        "-count",
        "30",
        "-format",
        "prometheus",
    ]);
    let mut promtool = Promtool::new();
    promtool.check(&text, "a watch's exposition");
    let exposition = parse_exposition(&text);
    let rates = exposition.samples("memanalyzer_growth_bytes_per_hour");
    let total = rates
        .iter()
        .find(|s| s.label("category") == Some("total"))
        .expect("the total's rate");
    let truth = 20.0 * MIB * 3600.0;
    assert!(
        (total.value - truth).abs() < truth * 0.25,
        "{}",
        total.value
    );
    assert!(rates
        .iter()
        .any(|s| s.label("category") == Some("anon.large")));
    let leaks = exposition.samples("memanalyzer_possible_leak");
    let leaking: Vec<Option<&str>> = leaks
        .iter()
        .filter(|s| s.value == 1.0)
        .map(|s| s.label("category"))
        .collect();
    assert_eq!(leaking, [Some("total"), Some("anon.large")]);
    assert!(
        !exposition.samples("memanalyzer_rss_bytes").is_empty(),
        "the report's own metrics"
    );
    or_skip!(promtool.finish());
}

#[test]
fn ctrl_c_ends_a_watch_with_the_summary() {
    let workload = Workload::spawn(&[]);
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("rec.ndjson");
    let watch = std::process::Command::new(memanalyzer_path())
        .args(["-pid", &workload.pid_arg(), "-watch", "20ms", "-record"])
        .arg(&recording)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The handler is in place before the first sample is recorded.
    wait_for_samples(&recording, 2);
    // SAFETY: kill(2) has no memory-safety preconditions; the PID is our own child's.
    assert_eq!(unsafe { libc::kill(watch.id() as i32, libc::SIGINT) }, 0);
    let output = watch.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    let records = lines(&output.stdout);
    let summary = summary_of(&records);
    assert_eq!(
        summary["samples"].as_u64().unwrap() as usize,
        records.len() - 1
    );
}

#[test]
fn the_plot_renders_in_a_real_browser() {
    let Some(chromium) = crate::support::system::find_in_path("chromium") else {
        skip!("chromium is not installed (package chromium)");
    };
    let workload = Workload::spawn(&["--grow-mb-per-s", "10", "--grow-limit-mb", "100"]);
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("watch.svg");
    memanalyzer(&[
        "-pid",
        &workload.pid_arg(),
        "-watch",
        "50ms",
        "-count",
        "20",
        "-plot",
        svg.to_str().unwrap(),
        "-max-rss",
        "1GB",
    ])
    .success();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(200)]);
    for expected in [
        "memanalyzer: process",
        "Read-Write",
        "total RSS",
        "-max-rss 1024 MB",
    ] {
        assert!(
            text.contains(expected),
            "{expected} is missing from the SVG"
        );
    }
    let png = dir.path().join("watch.png");
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1000,600",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(&svg)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let image = std::fs::read(&png).unwrap();
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank page compresses to about 3 kB; the chart's areas, lines and labels do not.
    assert!(
        image.len() > 15_000,
        "{} bytes: is the chart drawn?",
        image.len()
    );
}

#[test]
fn a_tick_between_full_reads_reads_only_the_rollup_and_stat() {
    let strace = or_skip!(crate::support::system::require_program("strace", "strace"));
    let workload = Workload::spawn(&["--threads", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("trace");
    let output = std::process::Command::new(strace)
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=openat,open,kill,tgkill,ptrace",
            "-o",
        ])
        .arg(&trace_path)
        .arg(memanalyzer_path())
        .args([
            "-pid",
            &workload.pid_arg(),
            "-watch",
            "20ms",
            "-count",
            "7",
            "-full-every",
            "3",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && stderr.contains("ptrace") {
        skip!("strace cannot trace here ({stderr})");
    }
    assert!(output.status.success(), "{output:?}");
    let records = lines(&output.stdout);
    let full: Vec<bool> = records[..7].iter().map(|r| r["full"] == true).collect();
    // Samples 1, 4 and 7 are due; the idle workload's RSS does not move in between.
    assert_eq!(full, [true, false, false, true, false, false, true]);
    let trace = std::fs::read_to_string(&trace_path).unwrap();
    let opens = |name: &str| {
        trace
            .lines()
            .filter(|line| {
                line.contains(&format!("\"{name}\"")) || line.contains(&format!("/{name}\""))
            })
            .collect::<Vec<&str>>()
    };
    assert_eq!(
        opens("smaps").len(),
        3,
        "one full read per due sample:\n{trace}"
    );
    assert_eq!(
        opens("smaps_rollup").len(),
        4,
        "the rollup on the other ticks:\n{trace}"
    );
    for line in opens("smaps").iter().chain(&opens("smaps_rollup")) {
        assert!(line.contains("O_RDONLY"), "{line}");
    }
    for call in ["kill(", "tgkill(", "ptrace("] {
        assert!(!trace.contains(call), "{call} in:\n{trace}");
    }
}

#[test]
fn on_a_terminal_a_watch_redraws_one_screen_per_sample() {
    let workload = Workload::spawn(&["--grow-mb-per-s", "10", "--grow-limit-mb", "100"]);
    let pid = workload.pid_arg();
    let args = [
        "-pid", &pid, "-watch", "50ms", "-count", "8", "-limit", "1GB",
    ];
    let screen = or_skip!(crate::support::terminal::run_on_terminal(&args, &[]));
    let screen = String::from_utf8(screen).unwrap();
    let clear = "\u{1b}[H\u{1b}[2J";
    assert_eq!(
        screen.matches(clear).count(),
        8,
        "one redraw per sample:\n{screen}"
    );
    let last = screen.rsplit(clear).next().unwrap();
    assert!(
        last.starts_with(&format!("memanalyzer: watching process {pid}")),
        "{last}"
    );
    for expected in [
        "Samples: 8",
        "NOW",
        "CHANGE",
        "RATE",
        "anon.large",
        "total",
        "Verdict: RSS",
    ] {
        assert!(last.contains(expected), "{expected} is missing:\n{last}");
    }
    assert!(last.contains("Limit: 1024 MB (-limit)"), "{last}");
    assert!(!screen.contains("\"record\""), "no NDJSON on a terminal");
}
