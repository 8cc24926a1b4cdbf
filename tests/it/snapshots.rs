//! The text output is a contract (people read it, scripts grep and awk it): the output of
//! `memanalyzer -file fixtures/…` for every fixture that analyzes, and `-all` for two, is pinned
//! in `tests/it/snapshots/*.snap`. A change to the text shows up there as a reviewable diff;
//! after an intended change, `INSTA_UPDATE=always cargo test --test it snapshots` (or
//! `cargo insta review`) rewrites them.
//!
//! The binary runs in the repository's root with relative paths, so the `Source:` line is the
//! same on every machine.

use crate::support::files::analyzable_fixtures;
use crate::support::prelude::*;

/// Runs `memanalyzer -file fixtures/FIXTURE FLAGS…` and compares stdout with the snapshot `name`.
fn assert_text_snapshot(name: &str, fixture: &str, flags: &[&str]) {
    let path = format!("fixtures/{fixture}");
    let mut args = vec!["-file", path.as_str()];
    args.extend(flags);
    let text = stdout_in_repo(&args);
    // insta compares snapshots without their trailing line ends: check the one line end here.
    assert!(
        text.ends_with('\n') && !text.ends_with("\n\n"),
        "{fixture}: the output does not end with exactly one newline"
    );
    insta::with_settings!({
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => format!("memanalyzer {}", args.join(" ")),
    }, {
        insta::assert_snapshot!(name, text);
    });
}

/// One test per snapshot, and the list of what they cover.
macro_rules! snapshot_tests {
    ($($test:ident: $fixture:literal $(, $flag:literal)*;)+) => {
        $(
            #[test]
            fn $test() {
                assert_text_snapshot(stringify!($test), $fixture, &[$($flag),*]);
            }
        )+

        /// `(fixture, flags)` of every snapshot test above.
        const SNAPSHOTS: &[(&str, &[&str])] = &[$(($fixture, &[$($flag),*])),+];
    };
}

snapshot_tests! {
    c_arenas: "c-arenas/smaps";
    c_threads: "c-threads/smaps";
    go: "go/smaps";
    go_cache: "go-cache/smaps";
    go_cache_cgo: "go-cache-cgo/smaps";
    go_cgo: "go-cgo/smaps";
    java: "java/smaps";
    java_g1_1g: "java-g1-1g/smaps";
    java_parallel: "java-parallel/smaps";
    java_serial: "java-serial/smaps";
    java25_g1_4g: "java25-g1-4g/smaps";
    node: "node/smaps";
    node_18_debian: "node-18-debian/smaps";
    node_20: "node-20/smaps";
    python: "python/smaps";
    python_numpy: "python-numpy/smaps";
    python_own_maps: "python-own-maps/smaps";
    rust_jemalloc: "rust-jemalloc/smaps";
    rust_jemalloc_5_2: "rust-jemalloc-5.2/smaps";
    c_jemalloc: "c-jemalloc/smaps";
    edge_android: "edge/android.smaps";
    edge_crlf: "edge/crlf.smaps";
    edge_glibc_decorated: "edge/glibc-decorated.smaps";
    edge_go125_named: "edge/go125-named.smaps";
    edge_hugetlb: "edge/hugetlb.smaps";
    edge_names: "edge/names.smaps";
    edge_old_kernel_3_10: "edge/old-kernel-3.10.smaps";
    edge_shared_memory: "edge/shared-memory.smaps";
    edge_swap: "edge/swap.smaps";
    edge_truncated: "edge/truncated.smaps";
    edge_unknown_keys: "edge/unknown-keys.smaps";
    go_all: "go/smaps", "-all";
    edge_names_all: "edge/names.smaps", "-all";
}

/// A fixture added to `fixtures/` needs its snapshot test above.
#[test]
fn every_fixture_that_analyzes_has_a_snapshot() {
    let fixtures = analyzable_fixtures();
    for fixture in &fixtures {
        assert!(
            SNAPSHOTS
                .iter()
                .any(|(snapshot, flags)| snapshot == fixture && flags.is_empty()),
            "{fixture} has no snapshot test: add it to snapshot_tests! in {}",
            file!()
        );
    }
    for (snapshot, _) in SNAPSHOTS {
        assert!(
            fixtures.iter().any(|fixture| fixture == snapshot),
            "{snapshot} is not a fixture that analyzes"
        );
    }
}
