//! Go processes the tests start (`fixtures/sources/go-cache`, Go 1.19 from golang-go, built static
//! and with cgo): a Go heap of about 200 MiB, 200 parked goroutines, and a 64 MiB cache the
//! program maps itself with `syscall.Mmap`, every page touched. The truth is Go's own
//! `runtime.ReadMemStats` (and glibc's `mallinfo2` in the cgo build), which the program prints
//! when asked, and the cache's address range, which it prints too.
//!
//! Targets (issue 9): the program's own mmap never lands in the runtime section; the heap line
//! is within 5% of `HeapSys − HeapReleased`; runtime metadata stays within what Go says it
//! mapped besides heap and stacks; the unexplained share is no more than the cache, glibc's
//! mapped blocks and 5% of RSS.

use serde_json::Value;

use crate::support::prelude::*;
use crate::support::programs::go_program;

/// The program running, its `-all` JSON analysis, and its own statistics read just after.
fn analyzed(cgo: bool) -> Result<(Workload, Value, Value), String> {
    let program = go_program("go-cache", cgo)?;
    let mut workload = Workload::spawn_program(&program, &[]);
    let doc = json_of(&["-pid", &workload.pid_arg(), "-format", "json", "-all"]);
    let stats: Value = serde_json::from_str(&workload.ask("stats")).expect("the program's JSON");
    Ok((workload, doc, stats))
}

fn memstat(stats: &Value, field: &str) -> u64 {
    u64_at(stats, &format!("/memstats/{field}"))
}

/// Every check of the module on one build.
fn check(cgo: bool, doc: &Value, stats: &Value) {
    let build = if cgo { "cgo" } else { "static" };
    assert_eq!(doc["source"]["runtime"], "go", "{build}");
    let rss = u64_at(doc, "/totals/rss_bytes");

    // The cache is the program's: never in the runtime section, and wholly resident.
    let (cache_start, cache_end) = (
        stats["cache_start"].as_str().unwrap(),
        stats["cache_end"].as_str().unwrap(),
    );
    let cache_regions = regions_overlapping(doc, cache_start, cache_end);
    assert!(
        !cache_regions.is_empty(),
        "{build}: no region holds the cache"
    );
    for region in &cache_regions {
        assert_ne!(region["section_id"], "runtime", "{build}: {region:#}");
        let expected = if cgo { "anon.large" } else { "anon.rw" };
        assert_eq!(region["category_id"], expected, "{build}: {region:#}");
    }
    let cache_bytes = 64 * 1024 * 1024;
    let cache_rss: u64 = cache_regions.iter().map(|r| u64_at(r, "/rss_bytes")).sum();
    assert!(cache_rss >= cache_bytes, "{build}: cache RSS {cache_rss}");

    // The heap line against MemStats: the arenas hold the heap's spans, resident unless
    // released to the OS (HeapReleased), and the goroutine stacks' spans (StackSys).
    let heap = rss_of(doc, "go.heap");
    let expected = memstat(stats, "HeapSys") - memstat(stats, "HeapReleased");
    let error = heap.abs_diff(expected) as f64 / expected as f64;
    assert!(
        error <= 0.05,
        "{build}: Go heap {heap} vs HeapSys - HeapReleased {expected}: {:.1}% off",
        error * 100.0
    );

    // Metadata: what Go committed inside its reservations, at most what it mapped for
    // anything but heap and stacks (GCSys, MSpanSys, MCacheSys, BuckHashSys, OtherSys).
    let metadata = rss_of(doc, "runtime.metadata");
    let non_heap = memstat(stats, "Sys") - memstat(stats, "HeapSys") - memstat(stats, "StackSys");
    assert!(
        metadata <= non_heap,
        "{build}: metadata {metadata} > {non_heap}"
    );

    // The C heap of the cgo build: at most what glibc says its arenas hold. The cache was
    // once taken for a malloc arena here.
    let c_heap = rss_of(doc, "c.heap");
    let (arena, mapped_blocks) = if cgo {
        (u64_at(stats, "/c/arena"), u64_at(stats, "/c/hblkhd"))
    } else {
        (0, 0)
    };
    assert!(
        c_heap as f64 <= arena as f64 * 1.05,
        "{build}: C heap {c_heap} > mallinfo2().arena {arena}"
    );

    // What stays unexplained: the cache, glibc's mapped blocks, and little else.
    let unexplained = u64_at(doc, "/unexplained/rss_bytes");
    let allowed = cache_bytes + mapped_blocks + rss / 20;
    assert!(
        unexplained <= allowed,
        "{build}: unexplained {unexplained} > cache + mapped blocks + 5% of RSS = {allowed}"
    );
    // That is more than a quarter of RSS here, so Go's next step is given.
    assert_eq!(doc["unexplained"]["large"], true, "{build}");
    assert_eq!(doc["unexplained"]["next_step_runtime"], "go", "{build}");
}

#[test]
fn static_go_with_its_own_mmap_cache() {
    let (_workload, doc, stats) = or_skip!(analyzed(false));
    check(false, &doc, &stats);
}

#[test]
fn cgo_with_its_own_mmap_cache() {
    let (_workload, doc, stats) = or_skip!(analyzed(true));
    check(true, &doc, &stats);
}

/// The same program captured (`fixtures/go-cache*/`, with the statistics it printed right after
/// the capture in `stats.json`): the same checks on the saved file, where the runtime is known
/// from the regions alone.
#[test]
fn captures_with_their_memstats() {
    for (capture, cgo) in [("go-cache", false), ("go-cache-cgo", true)] {
        let doc = json_of(&[
            "-file",
            &fixture(&format!("{capture}/smaps")),
            "-format",
            "json",
            "-all",
        ]);
        let stats = captured_stats(capture);
        check(cgo, &doc, &stats);
    }
}
