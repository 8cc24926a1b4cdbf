//! Language runtimes against their own accounting, on the captures in `fixtures/` (with the
//! runtime's statistics saved beside each) and on live processes these tests start:
//!
//! - JVM (HotSpot): the Java Heap line within 5% of the RSS of the heap's address range that
//!   `jcmd PID GC.heap_info` prints, summed from smaps; at most 10% of RSS left generic
//!   (Anonymous Memory, Unrecognized); the line spans the heap's reservation and no more; G1,
//!   Parallel and Serial, several heap sizes, with and without a CDS archive.
//! - Node (V8): the V8 heap lines within 10% of `v8.getHeapSpaceStatistics()` physical sizes;
//!   no more left generic than the Buffers (malloc'd outside V8: `arrayBuffers`) plus 5% of RSS;
//!   a WebAssembly memory by its reservation.
//!
//! Totals against `smaps_rollup` and the categories adding up are checked for every capture
//! in `fixtures.rs`, and for every analysis here by `check_report`.

use std::fs;

use memanalyzer::{analyze, analyze_pid, Input, Listing, Options, Report};
use serde_json::Value;

use crate::support::files::fixture_path;
use crate::support::invariants::check_report;
use crate::support::runtime_program::RuntimeProgram;
use crate::support::runtimes::*;
use crate::support::system::require_program;

fn analyze_capture(name: &str) -> Report {
    let path = fixture_path(&format!("{name}/smaps"));
    let report = analyze(&Input::File(path), &Options::default()).expect("analyze the capture");
    check_report(&report, Listing::Top(20));
    report
}

/// The Java heap line against the heap's range in smaps, and the generic share.
fn assert_jvm_explained(report: &Report, smaps: &str, heap_info: &str, what: &str) {
    let (start, end) = heap_range(heap_info);
    let truth = rss_overlapping(smaps, start, end);
    let heap = category_rss(report, "jvm.heap");
    assert!(
        within_percent(heap, truth, 5),
        "{what}: Java Heap {heap} B, but {truth} B resident in {start:#x}-{end:#x}"
    );
    // The whole reservation and nothing more (the CDS archive's heap regions in it are Class Data).
    let size = report
        .category("jvm.heap")
        .map_or(0, |heap| heap.amounts.size);
    assert!(
        within_percent(size, end - start, 2),
        "{what}: Java Heap spans {size} B of address space, the heap {} B",
        end - start
    );
    let generic = generic_rss(report);
    let rss = report.totals.rss;
    assert!(
        generic * 10 <= rss,
        "{what}: {generic} B of {rss} B RSS left generic (more than 10%)"
    );
}

/// The V8 heap lines against V8's own physical sizes, and the generic share against the
/// Buffers malloc'd outside the heap.
fn assert_node_explained(report: &Report, stats: &Value, what: &str) {
    let physical: u64 = stats["heapSpaces"]
        .as_array()
        .expect("heapSpaces")
        .iter()
        .map(|space| {
            space["physical_space_size"]
                .as_u64()
                .expect("physical size")
        })
        .sum();
    let heap = category_rss(report, "v8.heap") + category_rss(report, "v8.large_objects");
    assert!(
        within_percent(heap, physical, 10),
        "{what}: V8 heap lines {heap} B, V8's physical sizes {physical} B"
    );
    let buffers = stats["memoryUsage"]["arrayBuffers"]
        .as_u64()
        .expect("arrayBuffers");
    let generic = generic_rss(report);
    let rss = report.totals.rss;
    assert!(
        generic <= buffers + rss / 20,
        "{what}: {generic} B left generic, more than the Buffers ({buffers} B) and 5% of {rss} B"
    );
}

#[test]
fn jvm_captures_match_gc_heap_info() {
    for name in ["java-g1-1g", "java-parallel", "java-serial", "java25-g1-4g"] {
        let report = analyze_capture(name);
        let read =
            |file: &str| fs::read_to_string(fixture_path(&format!("{name}/{file}"))).unwrap();
        assert_jvm_explained(&report, &read("smaps"), &read("gc.heap_info.txt"), name);
    }
}

/// Native Memory Tracking lists every reservation with its address range: each region that
/// memanalyzer puts in a JVM category lies in a reservation NMT files under that category.
#[test]
fn jvm_categories_agree_with_native_memory_tracking() {
    let nmt_categories = |key: &str| -> &[&str] {
        match key {
            "jvm.heap" => &["Java Heap"],
            "jvm.code_cache" => &["Code"],
            "jvm.metaspace" => &["Metaspace", "Class"],
            // The archive's metadata, and its heap objects mapped into the Java heap.
            "jvm.class_data" => &["Shared class space", "Java Heap"],
            _ => &[],
        }
    };
    for name in ["java-g1-1g", "java-parallel", "java-serial", "java25-g1-4g"] {
        let path = fixture_path(&format!("{name}/smaps"));
        let report = analyze(&Input::File(path), &Options::default().all()).expect("analyze");
        let detail = fs::read_to_string(fixture_path(&format!("{name}/nmt-detail.txt"))).unwrap();
        let reservations = nmt_reservations(&detail);
        assert!(
            reservations.len() > 20,
            "{name}: NMT detail without reservations"
        );
        let mut checked = 0;
        for region in &report.regions {
            let key = region.category.key();
            let expected = nmt_categories(&key);
            // lib/modules is a file NMT does not track.
            if expected.is_empty() || region.name.ends_with(b"/lib/modules") {
                continue;
            }
            let within = reservations
                .iter()
                .find(|(start, end, _)| *start <= region.start && region.end <= *end);
            assert!(
                within.is_some_and(|(_, _, category)| expected.contains(&category.as_str())),
                "{name}: {:x}-{:x} is {key}, NMT says {within:?}",
                region.start,
                region.end
            );
            checked += 1;
        }
        assert!(checked >= 8, "{name}: only {checked} regions checked");
    }
}

#[test]
fn node_captures_match_v8_heap_statistics() {
    for name in ["node-18-debian", "node-20"] {
        let report = analyze_capture(name);
        let stats = fs::read_to_string(fixture_path(&format!("{name}/v8-stats.json"))).unwrap();
        let stats: Value = serde_json::from_str(&stats).expect("JSON statistics");
        assert_node_explained(&report, &stats, name);
    }
}

/// Starts `java FLAGS… Hold MIB THREADS` and checks its analysis against jcmd's figures.
fn check_live_jvm(flags: &[&str], live_mib: u32, threads: u32) {
    let classes = java_classes().to_str().expect("UTF-8 path").to_string();
    let (live_mib, threads) = (live_mib.to_string(), threads.to_string());
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["-cp", &classes, "Hold", &live_mib, &threads]);
    let java = RuntimeProgram::start("java", &args);
    let pid = java.pid;
    let report = analyze_pid(pid, &Options::default()).expect("analyze the JVM");
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps")).expect("read smaps");
    check_report(&report, Listing::Top(20));
    assert_eq!(
        report.primary_runtime().map(|runtime| runtime.id.key()),
        Some("jvm")
    );
    assert_jvm_explained(
        &report,
        &smaps,
        &jcmd(pid, "GC.heap_info"),
        &flags.join(" "),
    );
}

#[test]
fn live_jvm_g1_heap_matches_gc_heap_info() {
    or_skip!(require_jdk());
    check_live_jvm(&["-Xmx1g", "-XX:+UseG1GC"], 460, 50);
}

#[test]
fn live_jvm_parallel_heap_matches_gc_heap_info() {
    or_skip!(require_jdk());
    check_live_jvm(&["-Xmx512m", "-XX:+UseParallelGC"], 200, 10);
}

#[test]
fn live_jvm_serial_heap_matches_gc_heap_info() {
    or_skip!(require_jdk());
    check_live_jvm(&["-Xmx256m", "-XX:+UseSerialGC"], 100, 10);
}

/// Without a CDS archive (as on JDK 11) the class space sits right above the heap.
#[test]
fn live_jvm_without_cds_keeps_the_class_space_out_of_the_heap() {
    or_skip!(require_jdk());
    check_live_jvm(&["-Xmx256m", "-Xshare:off"], 100, 4);
}

#[test]
fn live_node_heap_matches_v8_heap_statistics() {
    or_skip!(require_program("node", "Debian: nodejs"));
    let script = fixture_path("sources/node/hold.js");
    let script = script.to_str().expect("UTF-8 path");
    let args = ["--expose-gc", script, "2500000", "100", "64"];
    let mut node = RuntimeProgram::start("node", &args);
    let stats: Value = serde_json::from_str(&node.ask("stats")).expect("JSON statistics");
    let report = analyze_pid(node.pid, &Options::default()).expect("analyze node");
    check_report(&report, Listing::Top(20));
    assert_eq!(
        report.primary_runtime().map(|runtime| runtime.id.key()),
        Some("node")
    );
    assert_node_explained(&report, &stats, "live node");
    let wasm = category_rss(&report, "v8.wasm");
    assert!(
        within_percent(wasm, 64 << 20, 5),
        "a 64 MiB WebAssembly memory, filled: {wasm} B"
    );
}
