//! `-http`: every endpoint and query asked with curl of a live workload; `/debug/memory` is the
//! text the command line prints; `/metrics` passes promtool and is scraped by a real Prometheus
//! server whose stored value is the kernel's `smaps_rollup` Rss; bad requests get a clear 4xx;
//! a bearer token; the target exiting (503) and, followed by name, restarting.

use std::time::Duration;

use crate::support::http::{curl, require_curl, HttpServer};
use crate::support::prelude::*;
use crate::support::prometheus::{parse_exposition, PrometheusServer, Promtool};
use crate::support::system::smaps_rollup;

const KIB: u64 = 1024;

/// A workload with an 8 MiB region and two threads, served with reads at most every 100 ms.
fn served_workload() -> (Workload, HttpServer) {
    let workload = Workload::spawn(&["--anon-rw-mb", "8", "--threads", "2"]);
    let server = HttpServer::start(&["-pid", &workload.pid_arg(), "-min-interval", "100ms"]);
    (workload, server)
}

#[test]
fn debug_memory_is_what_the_command_line_prints_for_every_query() {
    or_skip!(require_curl());
    let (workload, server) = served_workload();
    let pid = workload.pid_arg();
    for (query, args) in [
        ("", vec![]),
        ("?top=3", vec!["-top", "3"]),
        ("?top=0", vec!["-top", "0"]),
        ("?top=100000", vec!["-top", "100000"]),
        ("?all=1", vec!["-all"]),
        ("?unit=kB", vec!["-unit", "kB"]),
        ("?unit=auto&top=5", vec!["-unit", "auto", "-top", "5"]),
    ] {
        // The workload is idle, so both reads see the same memory; a page the kernel moves
        // between them is retried.
        let same = poll_until(Duration::from_secs(10), || {
            let served = server.get(&format!("/debug/memory{query}"));
            assert_eq!(served.status, 200, "{query}: {}", served.body);
            assert_eq!(
                served.header("content-type"),
                Some("text/plain; charset=utf-8")
            );
            let mut cli = vec!["-pid", pid.as_str()];
            cli.extend(&args);
            served.body == stdout_of(&cli)
        });
        assert!(same, "/debug/memory{query} is not what the CLI prints");
    }
    let none = server.get("/debug/memory?top=0").body;
    assert_eq!(listing_title(&none), None, "top=0 lists no region");
    let three = server.get("/debug/memory?top=3").body;
    assert_eq!(table_rows(&three).len(), 3);
    let every = server.get("/debug/memory?top=100000").body;
    assert_eq!(table_rows(&every).len() as u64, regions_total(&every));
    let all = server.get("/debug/memory?all=1").body;
    assert_eq!(table_rows(&all).len() as u64, regions_total(&all));
    assert!(
        line_starting(&server.get("/debug/memory?unit=kB").body, "RSS (Resident):")
            .ends_with(" kB")
    );
    // The scripts of the original tool keep working.
    let rss_line = line_starting(&server.get("/debug/memory").body, "RSS (Resident):").to_string();
    assert!(rss_line
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse::<u64>()
        .is_ok());
}

#[test]
fn json_prometheus_metrics_healthz_index_and_head() {
    or_skip!(require_curl());
    let (workload, server) = served_workload();
    let json = server.get("/debug/memory?format=json&top=2");
    assert_eq!(json.status, 200);
    assert_eq!(json.header("content-type"), Some("application/json"));
    let doc: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_json_sums_are_consistent(&doc);
    assert_eq!(top_regions(&doc).len(), 2);

    let mut promtool = Promtool::new();
    for target in ["/metrics", "/debug/memory?format=prometheus"] {
        let metrics = server.get(target);
        assert_eq!(metrics.status, 200);
        assert_eq!(
            metrics.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        promtool.check(&metrics.body, target);
        let exposition = parse_exposition(&metrics.body);
        let rss = exposition.single("memanalyzer_rss_bytes").whole();
        let kernel = smaps_rollup(workload.pid)["Rss"] * KIB;
        assert_eq!(
            rss, kernel,
            "{target}: memanalyzer_rss_bytes against smaps_rollup"
        );
    }
    or_skip!(promtool.finish());

    let health = server.get("/healthz");
    assert_eq!(health.status, 200);
    assert!(
        health.body.starts_with("ok\nsmaps_reads: "),
        "{}",
        health.body
    );
    let index = server.get("/");
    assert_eq!(index.status, 200);
    assert!(index
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    for path in ["/debug/memory", "/metrics", "/healthz"] {
        assert!(index.body.contains(&format!("href=\"{path}\"")), "{path}");
    }
    let get = server.get("/metrics");
    let head = curl(&server.url("/metrics"), &["-I"]);
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "", "HEAD has no body");
    assert_eq!(head.header("content-type"), get.header("content-type"));
    assert!(head.header("content-length").is_some());
}

#[test]
fn bad_requests_get_a_clear_4xx() {
    or_skip!(require_curl());
    let (_workload, server) = served_workload();
    for (query, says) in [
        (
            "top=-5",
            "top=-5: top is how many of the largest regions to list",
        ),
        ("top=abc", "top=abc: top is how many"),
        ("format=xml", "the formats are text, json, prometheus"),
        ("unit=TB", "the units are B, kB, MB, GB, auto"),
        ("top=5&all=1", "cannot be used together"),
        ("colour=1", "unknown parameter colour"),
    ] {
        let response = server.get(&format!("/debug/memory?{query}"));
        assert_eq!(response.status, 400, "{query}");
        assert!(response.body.contains(says), "{query}: {}", response.body);
    }
    let post = curl(&server.url("/debug/memory"), &["-X", "POST"]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert!(post.body.contains("method POST is not allowed"));
    let missing = server.get("/debug/pprof/heap");
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("memanalyzer serves /debug/memory"));
    let huge = format!("X-Padding: {}", "a".repeat(32 * 1024));
    let oversized = curl(&server.url("/healthz"), &["-H", &huge]);
    assert_eq!(oversized.status, 431, "oversized headers");
    // The server is still there for the next client.
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn a_token_guards_everything_but_healthz() {
    or_skip!(require_curl());
    let workload = Workload::spawn(&[]);
    let token_file = temp_file("s3cret-token\n");
    let server = HttpServer::start(&[
        "-pid",
        &workload.pid_arg(),
        "-token-file",
        path_of(&token_file),
    ]);
    let refused = server.get("/debug/memory");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    assert!(refused.body.contains("Authorization: Bearer"));
    let wrong = curl(
        &server.url("/metrics"),
        &["-H", "Authorization: Bearer s3cret-tokem"],
    );
    assert_eq!(wrong.status, 401);
    let right = curl(
        &server.url("/metrics"),
        &["-H", "Authorization: Bearer s3cret-token"],
    );
    assert_eq!(right.status, 200);
    assert_eq!(server.get("/healthz").status, 200, "probes carry no token");
}

#[test]
fn an_exited_target_is_503_and_a_named_one_is_found_again_after_a_restart() {
    or_skip!(require_curl());
    // By PID: that process only.
    let (workload, server) = served_workload();
    assert_eq!(server.get("/debug/memory").status, 200);
    workload.kill();
    drop(workload);
    let gone = poll_until(Duration::from_secs(10), || {
        server.get("/debug/memory").status == 503
    });
    assert!(gone, "an exited target is not 503");
    let response = server.get("/debug/memory");
    assert!(
        response.body.starts_with(
            "memanalyzer: the target process is not running (it exited, or is restarting): "
        ),
        "{}",
        response.body
    );
    assert_eq!(server.get("/metrics").status, 503);
    assert_eq!(server.get("/healthz").status, 200);

    // By name: a copy of the workload under a name of its own, restarted.
    let dir = exec_tempdir();
    let name = format!("wlhttp{}", std::process::id() % 100_000);
    let program = dir.path().join(&name);
    std::fs::copy(workload_path(), &program).unwrap();
    let server = HttpServer::start(&["-name", &name, "-min-interval", "100ms"]);
    let waiting = server.get("/debug/memory");
    assert_eq!(waiting.status, 503);
    assert!(waiting
        .body
        .contains(&format!("no process named {name} is running")));
    let first = Workload::spawn_program(&program, &[]);
    let source = |pid: i32| format!("Source: /proc/{pid}/smaps (PID {pid}, {name}");
    let found = poll_until(Duration::from_secs(10), || {
        server
            .get("/debug/memory")
            .body
            .starts_with(&source(first.pid))
    });
    assert!(found, "the named process is not served");
    first.kill();
    drop(first);
    let gone = poll_until(Duration::from_secs(10), || {
        let response = server.get("/debug/memory");
        response.status == 503 && response.body.contains("is not running")
    });
    assert!(gone, "the named process's exit is not 503");
    let second = Workload::spawn_program(&program, &[]);
    let found_again = poll_until(Duration::from_secs(10), || {
        server
            .get("/debug/memory")
            .body
            .starts_with(&source(second.pid))
    });
    assert!(found_again, "the restarted process is not served");
}

#[test]
fn a_prometheus_server_scrapes_metrics_and_stores_the_kernels_rss() {
    or_skip!(require_curl());
    let (workload, server) = served_workload();
    let prometheus = or_skip!(PrometheusServer::start(&server.address));
    let mut stored = None;
    let scraped = poll_until(Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(200));
        stored = prometheus.query("memanalyzer_rss_bytes{job=\"memanalyzer\"}");
        stored.is_some()
    });
    assert!(
        scraped,
        "Prometheus stored no memanalyzer_rss_bytes in 30 s"
    );
    let kernel = smaps_rollup(workload.pid)["Rss"] * KIB;
    assert_eq!(
        stored,
        Some(kernel as f64),
        "the stored RSS against smaps_rollup"
    );
    assert_eq!(prometheus.query("up{job=\"memanalyzer\"}"), Some(1.0));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    or_skip!(require_curl());
    let (_workload, server) = served_workload();
    assert_eq!(server.get("/healthz").status, 200);
    let status = server.stop().expect("the server exits on SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn http_flags_are_checked() {
    assert!(usage_error(&["-http", ":8080"]).contains("--pid"));
    assert!(usage_error(&["-http", "example.com:80", "-pid", "1"]).contains("HOST:PORT"));
    assert!(usage_error(&["-name", "x", "-pid", "1"]).contains("cannot be used with"));
    assert!(usage_error(&["-http", ":0", "-pid", "1", "-min-interval", "0s"]).contains("duration"));
    let error = runtime_error(&[
        "-http",
        ":0",
        "-pid",
        "1",
        "-token-file",
        "/nonexistent/token",
    ]);
    assert!(
        error.contains("cannot read the token file /nonexistent/token"),
        "{error}"
    );
}
