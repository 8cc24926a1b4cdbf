//! `-pprof`: a live Go program serving net/http/pprof (`fixtures/sources/go-pprof`), its heap
//! profile fetched on loopback with curl in both forms (the gzip'd protobuf and `?debug=1`) and
//! reconciled with the live process: the rows add up exactly to RSS, and the live-object row
//! is the profile's own `inuse_space` total (the text's header line; for the protobuf, the sum
//! `go tool pprof -raw` prints), and once more from the URL itself. Bad input: one clear error
//! each.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::http::require_curl;
use crate::support::prelude::*;
use crate::support::programs::go_program;
use crate::support::prometheus::parse_exposition;
use crate::support::system::require_program;

/// The Go accounting of a JSON report, and its rows.
fn go_rows(doc: &Value) -> Vec<Value> {
    let accounting = accounting_of(doc, "go");
    assert_eq!(accounting["error"], Value::Null, "{accounting:#}");
    accounting["rows"].as_array().expect("rows").clone()
}

fn row_bytes(rows: &[Value], id: &str) -> Option<u64> {
    rows.iter()
        .find(|row| row["id"] == id)
        .map(|row| u64_at(row, "/runtime_bytes"))
}

/// The rows add up to the report's RSS, to the byte.
fn assert_sums_to_rss(doc: &Value, what: &str) -> Vec<Value> {
    let rows = go_rows(doc);
    let sum: u64 = rows.iter().map(|row| u64_at(row, "/runtime_bytes")).sum();
    assert_eq!(sum, u64_at(doc, "/totals/rss_bytes"), "{what}: {rows:#?}");
    rows
}

/// `curl -sS -o OUT URL`.
fn fetch(url: &str, out: &Path) {
    let status = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-o"])
        .arg(out)
        .arg(url)
        .status()
        .expect("run curl");
    assert!(status.success(), "curl {url}: {status}");
}

/// The total of the `inuse_space` column of `go tool pprof -raw PROFILE`.
/// The sum of one sample type's values (`inuse_space/bytes`) as `go tool pprof -raw` prints them.
fn sample_total_by_go_tool(profile: &Path, sample_type: &str) -> u64 {
    let output = Command::new("go")
        .args(["tool", "pprof", "-raw"])
        .arg(profile)
        .output()
        .expect("run go tool pprof");
    assert!(output.status.success(), "go tool pprof -raw failed");
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let mut lines = text
        .lines()
        .skip_while(|line| !line.starts_with("Samples:"));
    let header = lines.nth(1).expect("the sample types' line");
    let column = header
        .split_whitespace()
        .position(|name| name.trim_end_matches("[dflt]") == sample_type)
        .unwrap_or_else(|| panic!("no {sample_type} column in {header}"));
    lines
        .take_while(|line| !line.starts_with("Locations"))
        .filter_map(|line| line.split_once(':'))
        .filter_map(|(values, _)| values.split_whitespace().nth(column)?.parse::<u64>().ok())
        .sum()
}

#[test]
fn live_go_program_reconciles_to_rss() {
    let program = or_skip!(go_program("go-pprof", false));
    or_skip!(require_curl());
    or_skip!(require_program("go", "golang-go"));
    // Every allocation recorded (MemProfileRate 1): the protobuf's inuse_space is then exact, not
    // an estimate scaled up from samples that may exceed the heap itself.
    let mut workload = Workload::spawn_program(&program, &["1"]);
    let port = workload.ask("gc").trim().to_string();
    let base = format!("http://127.0.0.1:{port}/debug/pprof/heap");
    let dir = tempfile::tempdir().expect("a scratch directory");
    let text_path = dir.path().join("heap.txt");
    let proto_path = dir.path().join("heap.pb.gz");
    fetch(&format!("{base}?debug=1"), &text_path);
    fetch(&base, &proto_path);
    let pid = workload.pid_arg();

    // The text form: the full split, the live objects as its header line says.
    let text = std::fs::read_to_string(&text_path).expect("the text profile");
    let header_inuse: u64 = text
        .lines()
        .next()
        .and_then(|line| line.split_once('[')?.0.split(':').nth(2))
        .and_then(|bytes| bytes.trim().parse().ok())
        .unwrap_or_else(|| panic!("a header line in {text}"));
    let text_arg = text_path.to_str().expect("a UTF-8 path");
    let doc = json_of(&[
        "-pid", &pid, "-pprof", text_arg, "-format", "json", "-top", "0",
    ]);
    let rows = assert_sums_to_rss(&doc, "debug=1");
    assert_eq!(row_bytes(&rows, "go.live_objects"), Some(header_inuse));
    assert!(
        header_inuse >= 100 << 20,
        "the 100 MiB of slices: {header_inuse}"
    );
    for id in [
        "go.heap_free",
        "go.stacks",
        "go.metadata",
        "not_go.anonymous",
    ] {
        assert!(row_bytes(&rows, id).is_some(), "no {id} row: {rows:#?}");
    }
    // The program's own 32 MiB mmap is not Go's.
    assert!(row_bytes(&rows, "not_go.anonymous").unwrap() >= 32 << 20);

    // The protobuf form, from standard input: no MemStats rows, and it says where to get them.
    let proto = std::fs::read(&proto_path).expect("the protobuf profile");
    let output = memanalyzer_cmd()
        .args(["-pid", &pid, "-pprof", "-", "-format", "json", "-top", "0"])
        .write_stdin(proto)
        .output()
        .expect("run memanalyzer");
    assert!(output.status.success(), "{output:?}");
    let doc: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let rows = assert_sums_to_rss(&doc, "protobuf");
    assert_eq!(
        row_bytes(&rows, "go.live_objects"),
        Some(sample_total_by_go_tool(&proto_path, "inuse_space/bytes"))
    );
    assert_eq!(row_bytes(&rows, "go.heap_free"), None);
    let notes = doc["accounting"][0]["notes"].to_string();
    assert!(notes.contains("?debug=1"), "{notes}");
    let top_site = &doc["accounting"][0]["allocation_sites"][0];
    assert_eq!(top_site["function"], "main.allocateLarge", "{top_site}");
    assert!(u64_at(top_site, "/inuse_bytes") >= 100 << 20, "{top_site}");
    // The 100 slices, and the slice of slices that holds them.
    assert!(u64_at(top_site, "/inuse_objects") >= 100, "{top_site}");

    // A loopback URL is fetched by memanalyzer itself.
    let url = format!("{base}?debug=1");
    let doc = json_of(&["-pid", &pid, "-pprof", &url, "-format", "json", "-top", "0"]);
    let rows = assert_sums_to_rss(&doc, "URL");
    assert!(row_bytes(&rows, "go.live_objects").unwrap() >= 100 << 20);
    assert!(row_bytes(&rows, "go.metadata").is_some());

    // Text and Prometheus through the same accounting.
    let text = text_of(&["-pid", &pid, "-pprof", text_arg, "-top", "0"]);
    assert!(
        text.contains("=== Runtime's Own Accounting (go, "),
        "{text}"
    );
    assert!(
        text.contains("Go: live objects (profile inuse_space)"),
        "{text}"
    );
    let exposition = parse_exposition(&text_of(&[
        "-pid",
        &pid,
        "-pprof",
        text_arg,
        "-format",
        "prometheus",
    ]));
    let live = exposition
        .samples("memanalyzer_runtime_accounting_bytes")
        .iter()
        .find(|sample| {
            sample.label("runtime") == Some("go")
                && sample.label("figure") == Some("go.live_objects")
        })
        .expect("the live-object figure");
    assert!(live.whole() > 0);
}

/// The saved profiles (`fixtures/pprof/`) against the capture of the same process.
#[test]
fn saved_profiles_reconcile_with_their_capture() {
    let smaps = fixture_path("pprof/go1.19-smaps");
    let smaps = smaps.to_str().expect("a UTF-8 path");
    for profile in ["go1.19-heap-debug1.txt", "go1.19-heap.pb.gz"] {
        let path = fixture_path(&format!("pprof/{profile}"));
        let doc = json_of(&[
            "-file",
            smaps,
            "-pprof",
            path.to_str().expect("a UTF-8 path"),
            "-format",
            "json",
            "-top",
            "0",
        ]);
        assert_sums_to_rss(&doc, profile);
        // MemStats (the text form only) confirms the heap the layout rules found.
        let heap = doc["sections"][0]["categories"]
            .as_array()
            .expect("categories")
            .iter()
            .find(|category| category["id"] == "go.heap")
            .expect("a go.heap category")
            .clone();
        let expected = if profile.ends_with(".txt") {
            "runtime"
        } else {
            "layout"
        };
        assert_eq!(heap["evidence"], expected, "{profile}");
    }
}

/// One clear error line (exit 1) naming the file and what is wrong.
#[test]
fn bad_profiles_are_refused() {
    let smaps = fixture_path("pprof/go1.19-smaps");
    let smaps = smaps.to_str().expect("a UTF-8 path");
    let gzip = std::fs::read(fixture_path("pprof/go1.19-heap.pb.gz")).expect("the fixture");
    let text =
        std::fs::read_to_string(fixture_path("pprof/go1.19-heap-debug1.txt")).expect("the fixture");
    let foreign = text.replace("# HeapSys = ", "# HeapSys = 9999999");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"hello world\n".to_vec(),
            "not a Go heap profile",
        ),
        (
            "truncated",
            gzip[..gzip.len() / 2].to_vec(),
            "truncated or corrupt",
        ),
        (
            "goroutine profile",
            std::fs::read(fixture_path("pprof/go1.19-goroutine.pb.gz")).expect("the fixture"),
            "no inuse_space",
        ),
        (
            "another process",
            foreign.into_bytes(),
            "from another process",
        ),
    ];
    let assert = memanalyzer(&["-file", smaps, "-pprof", "http://192.0.2.1:6060/heap"]).code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("only a loopback URL"), "{stderr}");
    let assert = memanalyzer(&["-file", "-", "-pprof", "-"]).code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("both read standard input"), "{stderr}");
    for (what, bytes, expected) in cases {
        let file = temp_file(&bytes);
        let assert = memanalyzer(&["-file", smaps, "-pprof", path_of(&file)]).code(1);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(
            stderr.contains(expected) && stderr.contains(path_of(&file)),
            "{what}: {stderr}"
        );
        assert!(assert.get_output().stdout.is_empty(), "{what}");
    }
}

fn text_of(args: &[&str]) -> String {
    String::from_utf8(bytes_of(args)).expect("UTF-8 output")
}

/// `-format pprof` of `args`' analysis, as `go tool pprof -raw` sums it, beside the JSON totals
/// (PSS too when `with_pss`: a live process's PSS moves as other processes map its libraries).
fn pprof_totals_against_json(args: &[&str], with_pss: bool) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let profile = dir.path().join("memory.pb.gz");
    let profile_arg = profile.to_str().expect("UTF-8 path");
    memanalyzer(&[args, &["-format", "pprof", "-output", profile_arg]].concat()).success();
    let doc = json_of(&[args, &["-format", "json"]].concat());
    assert_eq!(
        sample_total_by_go_tool(&profile, "memory_space/bytes"),
        u64_at(&doc, "/totals/rss_bytes"),
        "RSS of {args:?}"
    );
    if with_pss {
        assert_eq!(
            sample_total_by_go_tool(&profile, "pss_space/bytes"),
            u64_at(&doc, "/totals/pss_bytes"),
            "PSS of {args:?}"
        );
    }
    let top = Command::new("go")
        .args(["tool", "pprof", "-top"])
        .arg(&profile)
        .output()
        .expect("run go tool pprof -top");
    let top = String::from_utf8_lossy(&top.stdout);
    assert!(top.contains("Type: memory_space"), "{top}");
}

#[test]
fn format_pprof_is_read_by_go_tool_pprof_and_totals_rss() {
    or_skip!(require_program("go", "Debian: golang-go"));
    for capture in ["go-cgo/smaps", "java/smaps", "python/smaps"] {
        pprof_totals_against_json(&["-file", &fixture(capture)], true);
    }
    // A live process: its memory holds still between the two reads.
    let workload = Workload::spawn(&["--mappings", "50", "--anon-rw-mb", "16"]);
    pprof_totals_against_json(&["-pid", &workload.pid_arg(), "-all"], false);
    // A list of processes is not one profile.
    let message = memanalyzer(&["-ps", "-format", "pprof"])
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&message).contains("-format pprof describes one analysis"));
}
