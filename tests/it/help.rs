//! Help that teaches: `-h` is short and shows the examples, `--help` (and Go's `-help`) explains
//! every section of the output and what to do when RSS is much larger than the heap.

use predicates::prelude::*;

use crate::support::prelude::*;

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
fn short_help_is_scannable_and_long_help_explains_the_output() {
    let short = stdout_of(&["-h"]);
    assert!(
        short.contains("Examples:") && short.contains("-ps"),
        "{short}"
    );
    assert!(
        !short.contains("When RSS is much larger"),
        "the short help stays short"
    );

    let long = stdout_of(&["--help"]);
    for section in [
        "Go Runtime / Native Runtime",
        "JVM (HotSpot) / Node.js (V8)",
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
    assert_eq!(stdout_of(&["-help"]), long);
}
