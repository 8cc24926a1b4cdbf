//! A C program with glibc malloc that the tests start (`fixtures/sources/c-arenas/arenas.c`):
//! 8 threads, each with its own arena holding 8 MiB of small blocks and one 8 MiB block that
//! glibc maps on its own, small blocks in the main arena (`[heap]`), and a 16 MiB map of the
//! program's own. The truth is glibc's own `mallinfo2()`, which the program prints when asked.
//!
//! Targets (issue 9): the heap line within 5% of `mallinfo2().arena` (main arena and thread
//! arenas); mapped blocks shown as large blocks, never as heap; the unexplained share no more
//! than the program's own map, glibc's mapped blocks and 5% of RSS.

use serde_json::Value;

use crate::support::prelude::*;
use crate::support::programs::c_program;

const MIB: u64 = 1024 * 1024;

#[test]
fn arenas_and_mapped_blocks_against_mallinfo2() {
    let program = or_skip!(c_program("c-arenas/arenas.c"));
    let mut workload = Workload::spawn_program(&program, &[]);
    let doc = json_of(&["-pid", &workload.pid_arg(), "-format", "json", "-all"]);
    let stats: Value = serde_json::from_str(&workload.ask("stats")).expect("the program's JSON");
    check(&doc, &stats);
    // A live analysis checks whether the kernel can name mappings.
    let names = doc["unexplained"]["kernel_names_mappings"]
        .as_bool()
        .expect("checked for a live process");

    // The text says the same: the share, glibc's next step, and the kernel's limit.
    let text = stdout_of(&["-pid", &workload.pid_arg(), "-unit", "B"]);
    let line = line_starting(&text, "Unexplained:");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields[1],
        doc["unexplained"]["rss_bytes"].to_string(),
        "{line}"
    );
    assert!(
        fields[3].starts_with('(') && fields[3].ends_with('%'),
        "{line}"
    );
    assert!(text.contains("\nNext step (glibc): "), "{text}");
    assert_eq!(
        text.contains("\nNote: this kernel cannot name anonymous mappings"),
        !names,
        "{text}"
    );
}

/// The same program captured (`fixtures/c-arenas/`, with `mallinfo2()` as it printed it right
/// after the capture in `stats.json`).
#[test]
fn the_capture_with_its_mallinfo2() {
    let doc = json_of(&[
        "-file",
        &fixture("c-arenas/smaps"),
        "-format",
        "json",
        "-all",
    ]);
    check(&doc, &captured_stats("c-arenas"));
    assert!(doc["unexplained"]["kernel_names_mappings"].is_null());
}

fn check(doc: &Value, stats: &Value) {
    let mallinfo = |field: &str| u64_at(stats, &format!("/mallinfo2/{field}"));
    let rss = u64_at(doc, "/totals/rss_bytes");

    let heap = rss_of(doc, "c.heap");
    let arena = mallinfo("arena");
    let error = heap.abs_diff(arena) as f64 / arena as f64;
    assert!(
        error <= 0.05,
        "C heap {heap} vs mallinfo2().arena {arena}: {:.1}% off",
        error * 100.0
    );
    // Eight thread arenas and [heap], by layout and by name.
    assert!(u64_at(category_by_id(doc, "c.heap").unwrap(), "/regions") >= 9);
    assert_eq!(category_by_id(doc, "c.heap").unwrap()["evidence"], "layout");

    // The eight 8 MiB blocks (hblkhd) and the program's own 16 MiB map are large blocks:
    // malloc'd or mapped, which no layout tells apart.
    let mapped_blocks = mallinfo("hblkhd");
    assert_eq!(mallinfo("hblks"), 8);
    let own = u64_at(stats, "/own_mmap/bytes");
    assert_eq!(own, 16 * MIB);
    let large = rss_of(doc, "anon.large");
    assert!(large >= mapped_blocks + own, "large blocks {large}");
    let own_start = stats["own_mmap"]["start"].as_str().unwrap();
    let own_end = format!("{:x}", u64::from_str_radix(own_start, 16).unwrap() + own);
    for region in regions_overlapping(doc, own_start, &own_end) {
        assert_eq!(region["category_id"], "anon.large", "{region:#}");
    }

    // Thread stacks: the main one and eight glibc stacks above their guard pages.
    assert!(u64_at(category_by_id(doc, "stack").unwrap(), "/regions") >= 9);

    let unexplained = u64_at(doc, "/unexplained/rss_bytes");
    let allowed = own + mapped_blocks + rss / 20;
    assert!(
        unexplained <= allowed,
        "unexplained {unexplained} > own map + mapped blocks + 5% of RSS = {allowed}"
    );
    assert_eq!(doc["unexplained"]["large"], true);
    assert_eq!(doc["unexplained"]["next_step_runtime"], "glibc");
}
