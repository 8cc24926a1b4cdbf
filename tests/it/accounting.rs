//! The runtime's own accounting beside smaps: a live JVM's PerfData counters, read by
//! memanalyzer without attaching, against what `jcmd PID GC.heap_info` (which attaches — the
//! test may, memanalyzer never does) prints; and a JVM without PerfData says why.

use crate::support::prelude::*;
use crate::support::runtime_program::RuntimeProgram;
use crate::support::runtimes::{java_classes, jcmd, require_jdk};

use serde_json::Value;

/// `NAMEK` after `label` in jcmd's text (`total 524288K`), in bytes.
fn kib_after(text: &str, label: &str) -> u64 {
    let after = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {text}"))
        + label.len()..];
    let digits: String = after
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u64>().expect("a number of KiB") * 1024
}

fn accounting_row(doc: &Value, id: &str) -> Value {
    doc["accounting"][0]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["id"] == id)
        .unwrap_or_else(|| panic!("no accounting row {id}: {}", doc["accounting"]))
        .clone()
}

fn assert_within_percent(actual: u64, expected: u64, percent: f64, what: &str) {
    let difference = actual.abs_diff(expected) as f64;
    assert!(
        difference <= expected as f64 * percent / 100.0,
        "{what}: {actual} is not within {percent}% of {expected}"
    );
}

#[test]
fn jvm_perfdata_matches_gc_heap_info() {
    or_skip!(require_jdk());
    let classes = java_classes().to_str().expect("UTF-8 path").to_string();
    let java = RuntimeProgram::start(
        "java",
        &[
            "-XX:+UseG1GC",
            "-Xmx512m",
            "-cp",
            &classes,
            "Hold",
            "200",
            "4",
        ],
    );
    let pid = java.pid.to_string();
    let doc = json_of(&["-pid", &pid, "-top", "0", "-format", "json"]);
    let heap_info = jcmd(java.pid, "GC.heap_info");
    let accounting = &doc["accounting"][0];
    assert_eq!(accounting["runtime"], "jvm");
    assert!(
        accounting["source"]
            .as_str()
            .is_some_and(|source| source.starts_with("/tmp/hsperfdata_")),
        "{accounting}"
    );
    // GC.heap_info: "garbage-first heap   total 524288K, used 411663K"; its "used" counts the
    // current young region in full, so the two agree within 1%.
    let committed = u64_at(&accounting_row(&doc, "heap.committed"), "/runtime_bytes");
    assert_within_percent(
        committed,
        kib_after(&heap_info, "total"),
        1.0,
        "heap committed",
    );
    let used = u64_at(&accounting_row(&doc, "heap.used"), "/runtime_bytes");
    assert_within_percent(used, kib_after(&heap_info, "used"), 1.0, "heap used");
    assert!(
        used >= 200 << 20,
        "the 200 MiB the program holds are in use: {used}"
    );
    // "Metaspace       used 78K, committed 320K", rounded down to KiB. Attaching makes the JVM
    // load jcmd's classes, so its figures run a little ahead of the ones read before it: by
    // at most 64 KiB (one committed granule) here.
    let metaspace = |label: &str| {
        kib_after(
            heap_info
                .split("Metaspace")
                .nth(1)
                .expect("a Metaspace line"),
            label,
        )
    };
    for (id, label) in [
        ("metaspace.used", "used"),
        ("metaspace.committed", "committed"),
    ] {
        let ours = u64_at(&accounting_row(&doc, id), "/runtime_bytes");
        let jcmd = metaspace(label);
        assert!(
            ours <= jcmd + 1023 && ours + (64 << 10) >= jcmd,
            "{id}: {ours} against jcmd's {jcmd}"
        );
    }
    // The committed heap beside the Java Heap category's resident memory.
    let heap_row = accounting_row(&doc, "heap.committed");
    assert_eq!(heap_row["category_id"], "jvm.heap");
    let java_heap = category_by_id(&doc, "jvm.heap").expect("a Java Heap category");
    assert_eq!(heap_row["resident_bytes"], java_heap["rss_bytes"]);

    let text = stdout_of(&["-pid", &pid, "-top", "0"]);
    assert!(
        text.contains("=== Runtime's Own Accounting (jvm, /tmp/hsperfdata_"),
        "{text}"
    );
    assert!(text.contains("Java heap, committed"), "{text}");
}

#[test]
fn jvm_without_perfdata_says_so() {
    or_skip!(require_jdk());
    let classes = java_classes().to_str().expect("UTF-8 path").to_string();
    let java = RuntimeProgram::start(
        "java",
        &[
            "-XX:-UsePerfData",
            "-Xmx64m",
            "-cp",
            &classes,
            "Hold",
            "8",
            "1",
        ],
    );
    let doc = json_of(&[
        "-pid",
        &java.pid.to_string(),
        "-top",
        "0",
        "-format",
        "json",
    ]);
    let error = doc["accounting"][0]["error"].as_str().expect("an error");
    assert!(error.contains("-XX:-UsePerfData"), "{error}");
}

/// jstat -gc's columns (KiB, one decimal) by name.
fn jstat_columns(text: &str) -> std::collections::HashMap<String, f64> {
    let mut lines = text.lines();
    let names = lines.next().expect("a header line").split_whitespace();
    let values = lines.next().expect("a value line").split_whitespace();
    names
        .zip(values)
        .filter_map(|(name, value)| Some((name.to_string(), value.parse().ok()?)))
        .collect()
}

#[test]
fn perfdata_fixtures_agree_with_jstat() {
    for jvm in ["jdk17-g1", "jdk17-parallel", "jdk25-g1"] {
        let bytes = std::fs::read(fixture_path(&format!("hsperfdata/{jvm}.hsperfdata")))
            .expect("the fixture");
        let data = memanalyzer::parse_perfdata(&bytes).expect("a PerfData file");
        let jstat =
            std::fs::read_to_string(fixture_path(&format!("hsperfdata/{jvm}.jstat-gc.txt")))
                .expect("jstat's output");
        let columns = jstat_columns(&jstat);
        let kib = |counter: &str| {
            data.long(counter).unwrap_or_else(|| panic!("{counter}")) as f64 / 1024.0
        };
        for (column, counter) in [
            ("S0C", "sun.gc.generation.0.space.1.capacity"),
            ("S1C", "sun.gc.generation.0.space.2.capacity"),
            ("EC", "sun.gc.generation.0.space.0.capacity"),
            ("EU", "sun.gc.generation.0.space.0.used"),
            ("OC", "sun.gc.generation.1.space.0.capacity"),
            ("OU", "sun.gc.generation.1.space.0.used"),
            ("MC", "sun.gc.metaspace.capacity"),
            ("MU", "sun.gc.metaspace.used"),
            ("CCSC", "sun.gc.compressedclassspace.capacity"),
            ("CCSU", "sun.gc.compressedclassspace.used"),
        ] {
            let expected = columns[column];
            assert!(
                (kib(counter) - expected).abs() <= 0.06,
                "{jvm}: {column} is {expected} KiB, {counter} says {}",
                kib(counter)
            );
        }
        let (used, _) = data.sum("sun.gc.generation.*.space.*.used");
        let jstat_used = columns["S0U"] + columns["S1U"] + columns["EU"] + columns["OU"];
        assert!(
            (used as f64 / 1024.0 - jstat_used).abs() <= 0.2,
            "{jvm}: heap used"
        );
    }
}
