//! The runtimes' own accounting read from saved inputs of several versions, each against the
//! figures the runtime itself gave beside it: Go heap profiles of go1.19, go1.22 and go1.25
//! (`fixtures/pprof/`: the protobuf against `go tool pprof -raw` of it, the `?debug=1` text
//! against its own header and MemStats), and jemalloc 5.2.1, 5.3.0 and 5.3.1's statistics
//! (`fixtures/rust-jemalloc*/`: malloc_stats_print JSON and tikv-jemalloc-ctl's figures).
//! Also: the top allocation sites as records in JSON, text and Prometheus, the part of a Go
//! figure that is not resident, the flags that cannot apply to the chosen input or format, and
//! bad input the pprof tests do not cover.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::prelude::*;
use crate::support::prometheus::parse_exposition;

/// A fixture's contents.
fn read_fixture(relative: impl AsRef<str>) -> String {
    std::fs::read_to_string(fixture_path(relative.as_ref())).expect("the fixture")
}

/// Asserts exit 2 with `expected` on standard error and nothing on standard output.
fn refused(args: &[&str], expected: &str) {
    let assert = memanalyzer(args).code(2);
    let output = assert.get_output();
    assert!(output.stdout.is_empty(), "{args:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
}

const GO_VERSIONS: [&str; 3] = ["go1.19", "go1.22", "go1.25"];

/// The JSON report of `smaps` reconciled with `profile` (both under `fixtures/pprof/`).
fn go_doc(version: &str, profile: &str) -> Value {
    json_of(&[
        "-file",
        fixture_path(&format!("pprof/{version}-smaps"))
            .to_str()
            .unwrap(),
        "-pprof",
        fixture_path(&format!("pprof/{version}-{profile}"))
            .to_str()
            .unwrap(),
        "-format",
        "json",
        "-top",
        "0",
    ])
}

/// The Go accounting of a report.
fn go_accounting(doc: &Value) -> &Value {
    accounting_of(doc, "go")
}

/// Each row's `(runtime_bytes, beyond_resident_bytes)` by id.
fn go_rows(doc: &Value) -> BTreeMap<String, (u64, u64)> {
    accounting_rows(doc, "go", |row| {
        (
            u64_at(row, "/runtime_bytes"),
            u64_at(row, "/beyond_resident_bytes"),
        )
    })
}

/// A site as `(function, file, line, bytes, objects)`.
type Site = (String, Option<String>, Option<u64>, u64, u64);
/// A site's `(function, file, line)`.
type SiteKey = (String, Option<String>, Option<u64>);

fn json_sites(doc: &Value) -> Vec<Site> {
    go_accounting(doc)["allocation_sites"]
        .as_array()
        .expect("allocation_sites")
        .iter()
        .map(|site| {
            (
                site["function"].as_str().unwrap().to_string(),
                site["file"].as_str().map(str::to_string),
                site["line"].as_u64(),
                u64_at(site, "/inuse_bytes"),
                u64_at(site, "/inuse_objects"),
            )
        })
        .collect()
}

/// Sites grouped by function, file and line, largest first, the ten largest.
fn top_ten(sites: BTreeMap<SiteKey, (u64, u64)>) -> Vec<Site> {
    let mut sites: Vec<Site> = sites
        .into_iter()
        .filter(|(_, (bytes, _))| *bytes > 0)
        .map(|((function, file, line), (bytes, objects))| (function, file, line, bytes, objects))
        .collect();
    sites.sort_by(|a, b| {
        b.3.cmp(&a.3)
            .then_with(|| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)))
    });
    sites.truncate(10);
    sites
}

/// `go tool pprof -raw` saved beside a protobuf profile: its inuse_space total, and its samples
/// grouped by their first location's function, file and line.
fn raw_totals(text: &str) -> (u64, Vec<Site>) {
    let mut lines = text
        .lines()
        .skip_while(|line| !line.starts_with("Samples:"));
    let header = lines.nth(1).expect("the sample types");
    let column = |name: &str| {
        header
            .split_whitespace()
            .position(|column| column.trim_end_matches("[dflt]") == name)
            .unwrap_or_else(|| panic!("no {name} in {header}"))
    };
    let (bytes_at, objects_at) = (column("inuse_space/bytes"), column("inuse_objects/count"));
    let mut samples = Vec::new();
    let mut locations = BTreeMap::new();
    let mut in_locations = false;
    for line in lines {
        if line.starts_with("Locations") {
            in_locations = true;
        } else if line.starts_with("Mappings") {
            break;
        } else if in_locations {
            // `     5: 0x665f44 M=1 main.allocateLarge /path/main.go:37 s=35`
            let fields: Vec<&str> = line.split_whitespace().collect();
            let id: u64 = fields[0].trim_end_matches(':').parse().unwrap();
            let (file, number) = fields[4].rsplit_once(':').unwrap();
            locations.insert(
                id,
                (
                    fields[3].to_string(),
                    Some(file.to_string()),
                    Some(number.parse::<u64>().unwrap()),
                ),
            );
        } else if let Some((values, stack)) = line.split_once(':') {
            // A label line (`bytes:[64]`) has no numbers before its colon.
            let Ok(values) = values
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<Vec<u64>, _>>()
            else {
                continue;
            };
            let first: u64 = stack.split_whitespace().next().unwrap().parse().unwrap();
            samples.push((first, values[bytes_at], values[objects_at]));
        }
    }
    let mut total = 0;
    let mut sites = BTreeMap::new();
    for (first, bytes, objects) in samples {
        total += bytes;
        let held: &mut (u64, u64) = sites.entry(locations[&first].clone()).or_default();
        held.0 += bytes;
        held.1 += objects;
    }
    (total, top_ten(sites))
}

/// The RSS the kernel gives for the capture: smaps_rollup where saved, else the JSON's.
fn rollup_rss(version: &str, doc: &Value) -> u64 {
    let path = fixtures_dir().join(format!("pprof/{version}-smaps_rollup"));
    match std::fs::read_to_string(path) {
        Ok(rollup) => {
            let kib: u64 = rollup
                .lines()
                .find_map(|line| line.strip_prefix("Rss:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("Rss in the rollup");
            kib * 1024
        }
        Err(_) => u64_at(doc, "/totals/rss_bytes"),
    }
}

/// The rows add up to the kernel's RSS; the live-object row and its not-resident part are
/// `inuse_space` whole.
fn assert_rows_reconcile(version: &str, doc: &Value, inuse_space: u64) {
    let rows = go_rows(doc);
    let sum: u64 = rows.values().map(|(bytes, _)| bytes).sum();
    assert_eq!(sum, rollup_rss(version, doc), "{version}: {rows:?}");
    let (live, beyond) = rows["go.live_objects"];
    assert_eq!(live + beyond, inuse_space, "{version}");
    let heap = u64_at(category_by_id(doc, "go.heap").unwrap(), "/rss_bytes");
    assert_eq!(live, inuse_space.min(heap), "{version}");
}

#[test]
fn protobuf_profiles_of_three_go_versions_match_go_tool_pprof() {
    for version in GO_VERSIONS {
        let raw = read_fixture(format!("pprof/{version}-heap.pb.gz.raw.txt"));
        let (inuse_space, sites) = raw_totals(&raw);
        let doc = go_doc(version, "heap.pb.gz");
        assert_rows_reconcile(version, &doc, inuse_space);
        assert_eq!(json_sites(&doc), sites, "{version}");
        assert_eq!(sites[0].0, "main.allocateLarge", "{version}");
    }
}

/// The `?debug=1` text: `heap profile: N: BYTES [...]`, records `N: BYTES [...] @ …` each with
/// its frames `#\tADDRESS\tFUNCTION+OFFSET\tFILE:LINE`, then `# Field = value` MemStats.
fn text_figures(text: &str) -> (u64, Vec<Site>, BTreeMap<String, String>) {
    let counts = |line: &str| -> Option<(u64, u64)> {
        let (counts, _) = line.split_once('[')?;
        let (objects, bytes) = counts.split_once(':')?;
        Some((objects.trim().parse().ok()?, bytes.trim().parse().ok()?))
    };
    let mut lines = text.lines();
    let header = lines.next().unwrap().trim_start_matches("heap profile:");
    let (_, inuse_space) = counts(header).unwrap();
    let mut sites = BTreeMap::new();
    let mut pending = None;
    let mut memstats = BTreeMap::new();
    for line in lines {
        if let Some((key, value)) = line.strip_prefix("# ").and_then(|f| f.split_once(" = ")) {
            memstats.insert(key.to_string(), value.to_string());
        } else if let Some(frame) = line.strip_prefix("#\t") {
            if let Some((objects, bytes)) = pending.take() {
                let fields: Vec<&str> = frame.split('\t').filter(|f| !f.is_empty()).collect();
                let function = fields[1].split("+0x").next().unwrap().to_string();
                let (file, number) = fields[2].rsplit_once(':').unwrap();
                let held: &mut (u64, u64) = sites
                    .entry((
                        function,
                        Some(file.to_string()),
                        Some(number.parse().unwrap()),
                    ))
                    .or_default();
                held.0 += bytes;
                held.1 += objects;
            }
        } else if let Some((objects, bytes)) = counts(line) {
            pending = Some((objects, bytes));
        }
    }
    (inuse_space, top_ten(sites), memstats)
}

#[test]
fn debug1_texts_of_three_go_versions_match_their_header_and_memstats() {
    for version in GO_VERSIONS {
        let text = read_fixture(format!("pprof/{version}-heap-debug1.txt"));
        let (inuse_space, sites, memstats) = text_figures(&text);
        let stat = |name: &str| -> u64 { memstats[name].parse().unwrap() };
        let pair = |name: &str| -> (u64, u64) {
            let (inuse, sys) = memstats[name].split_once(" / ").unwrap();
            (inuse.parse().unwrap(), sys.parse().unwrap())
        };
        let doc = go_doc(version, "heap-debug1.txt");
        assert_rows_reconcile(version, &doc, inuse_space);
        assert_eq!(json_sites(&doc), sites, "{version}");
        // Each MemStats row, with its part that is not resident, is Go's own figure.
        let rows = go_rows(&doc);
        let whole = |id: &str| rows[id].0 + rows[id].1;
        assert_eq!(
            whole("go.not_yet_collected"),
            stat("HeapAlloc").saturating_sub(inuse_space)
        );
        assert_eq!(whole("go.heap_free"), stat("HeapInuse") - stat("HeapAlloc"));
        assert_eq!(whole("go.stacks"), pair("Stack").0, "{version}");
        assert_eq!(
            whole("go.heap_idle"),
            stat("HeapIdle") - stat("HeapReleased")
        );
        assert_eq!(
            whole("go.metadata"),
            stat("GCSys")
                + pair("MSpan").1
                + pair("MCache").1
                + stat("BuckHashSys")
                + stat("OtherSys"),
            "{version}"
        );
        // Without named maps (before Go 1.25, or a kernel without CONFIG_ANON_VMA_NAME, as where
        // these were captured) the metadata is not told from the program's own maps: most of it
        // shows as not resident, and the note says why.
        assert!(rows["go.metadata"].1 > 0, "{version}: {rows:?}");
        let notes = go_accounting(&doc)["notes"].to_string();
        assert!(notes.contains("\\\"not resident\\\" part"), "{notes}");
        // Sites are records now, not notes.
        assert!(!notes.contains("allocation site"), "{notes}");
    }
}

#[test]
fn allocation_sites_and_not_resident_parts_are_records_in_text_and_prometheus() {
    let version = "go1.25";
    let smaps = fixture_path(&format!("pprof/{version}-smaps"));
    let profile = fixture_path(&format!("pprof/{version}-heap-debug1.txt"));
    let (smaps, profile) = (smaps.to_str().unwrap(), profile.to_str().unwrap());
    let run = |format: &str| {
        stdout_of(&[
            "-file", smaps, "-pprof", profile, "-format", format, "-unit", "B",
        ])
    };
    let doc: Value = serde_json::from_str(&run("json")).unwrap();
    let sites = json_sites(&doc);
    let rows = go_rows(&doc);

    // Text: one `Allocation site:` line per site, `$3` the bytes, `$5` the objects, then the
    // function and its place.
    let text = run("text");
    let lines: Vec<Vec<&str>> = text
        .lines()
        .filter(|line| line.trim_start().starts_with("Allocation site:"))
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), sites.len(), "{text}");
    for (fields, (function, file, line, bytes, objects)) in lines.iter().zip(&sites) {
        assert_eq!(fields[2], bytes.to_string());
        assert_eq!(fields[3], "B");
        assert_eq!(fields[4], objects.to_string());
        assert_eq!(fields[5], "objects");
        assert_eq!(fields[6], function);
        assert_eq!(
            fields[7],
            format!("{}:{}", file.as_deref().unwrap(), line.unwrap())
        );
    }
    // The metadata row says how much of Go's figure is not resident.
    let metadata = text
        .lines()
        .find(|line| line.contains("Go: metadata"))
        .unwrap();
    assert!(
        metadata.ends_with(&format!("not resident {} B", rows["go.metadata"].1)),
        "{metadata}"
    );

    // Prometheus: the same sites and parts, one series each.
    let exposition = parse_exposition(&run("prometheus"));
    let series = exposition.samples("memanalyzer_runtime_allocation_site_bytes");
    assert_eq!(series.len(), sites.len());
    for (function, file, line, bytes, _) in &sites {
        let location = format!("{}:{}", file.as_deref().unwrap(), line.unwrap());
        let sample = series
            .iter()
            .find(|sample| {
                sample.label("function") == Some(function)
                    && sample.label("location") == Some(&location)
            })
            .unwrap_or_else(|| panic!("no series for {function} {location}"));
        assert_eq!(sample.whole(), *bytes);
    }
    let not_resident = exposition.samples("memanalyzer_runtime_accounting_not_resident_bytes");
    for (id, (_, beyond)) in &rows {
        let sample = not_resident
            .iter()
            .find(|sample| sample.label("figure") == Some(id));
        assert_eq!(
            sample.map(|sample| sample.whole()),
            (*beyond > 0).then_some(*beyond),
            "{id}"
        );
    }
}

/// jemalloc's accounting rows of a report, `id → runtime_bytes`.
fn jemalloc_rows(doc: &Value) -> BTreeMap<String, u64> {
    accounting_rows(doc, "jemalloc", |row| u64_at(row, "/runtime_bytes"))
}

fn jemalloc_doc(capture: &str, stats: &str) -> Value {
    json_of(&[
        "-file",
        fixture_path(&format!("{capture}/smaps")).to_str().unwrap(),
        "-format",
        "json",
        "-top",
        "0",
        "-jemalloc-stats",
        stats,
    ])
}

#[test]
fn jemalloc_statistics_of_three_versions_in_both_forms_match_their_own_figures() {
    for (capture, version) in [
        ("rust-jemalloc", "5.3.0"),
        ("rust-jemalloc-5.2", "5.2.1"),
        ("rust-jemalloc-5.3.1", "5.3.1"),
    ] {
        check_jemalloc_capture(capture, version);
    }
}

#[test]
fn jemalloc_statistics_beside_a_process_without_jemalloc_are_questioned() {
    let stats = fixture_path("rust-jemalloc/runtime-stats.txt");
    let notes = jemalloc_doc("c-arenas", stats.to_str().unwrap())["accounting"].to_string();
    assert!(
        notes.contains("found no jemalloc in this process: are these the statistics of another"),
        "{notes}"
    );
}

/// A capture's malloc_stats_print JSON and tikv-jemalloc-ctl figures against the rows.
fn check_jemalloc_capture(capture: &str, version: &str) {
    let json_path = fixture_path(&format!("{capture}/jemalloc-stats.json"));
    let saved: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let jemalloc = &saved["jemalloc"];
    assert!(jemalloc["version"].as_str().unwrap().starts_with(version));
    let doc = jemalloc_doc(capture, json_path.to_str().unwrap());
    let rows = jemalloc_rows(&doc);
    let stat = |name: &str| u64_at(jemalloc, &format!("/stats/{name}"));
    for name in JEMALLOC_STATS {
        assert_eq!(rows[name], stat(name), "{capture}: {name}");
    }
    let page = u64_at(jemalloc, "/arenas/page");
    let merged = &jemalloc["stats.arenas"]["merged"];
    assert_eq!(rows["dirty"], u64_at(merged, "/pdirty") * page);
    assert_eq!(rows["muzzy"], u64_at(merged, "/pmuzzy") * page);
    assert_eq!(rows["fragmentation"], stat("active") - stat("allocated"));
    assert_eq!(rows["active_metadata"], stat("active") + stat("metadata"));
    assert!(stat("allocated") <= stat("active") && stat("active") <= stat("resident"));
    let notes = doc["accounting"].to_string();
    // Static jemalloc is inferred in a capture alone from its extent runs (fixtures.rs), and
    // its heap line, with freed pages not yet purged, lies between the two figures.
    assert!(notes.contains("between the two, as expected"), "{notes}");
    assert!(notes.contains(&format!("jemalloc {version}")), "{notes}");
    assert!(
        notes.contains("allocated <= active <= resident holds"),
        "{notes}"
    );

    // The figures form tikv-jemalloc-ctl printed at the same moment.
    let figures_path = fixture_path(&format!("{capture}/runtime-stats.txt"));
    let figures = jemalloc_figures(&figures_path);
    assert_eq!(figures.len(), 6);
    let doc = jemalloc_doc(capture, figures_path.to_str().unwrap());
    let rows = jemalloc_rows(&doc);
    for (name, value) in &figures {
        assert_eq!(rows[name], *value, "{capture}: {name}");
    }
    // The capture itself is whole: its RSS is the kernel's.
    let rollup = read_fixture(format!("{capture}/smaps_rollup"));
    let rss_kib: u64 = rollup
        .lines()
        .find_map(|line| line.strip_prefix("Rss:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert_eq!(u64_at(&doc, "/totals/rss_bytes"), rss_kib * 1024);
}

#[test]
fn jemalloc_figures_that_cannot_be_this_process_say_so() {
    let figures = "allocated=300\nactive=200\nresident=100\nmapped=99999999999999\n";
    let file = temp_file(figures);
    let doc = jemalloc_doc("c-jemalloc", path_of(&file));
    let notes = doc["accounting"].to_string();
    assert!(notes.contains("does NOT hold"), "{notes}");
    assert!(notes.contains("cannot belong to this process"), "{notes}");
}

#[test]
fn reconciliation_flags_that_cannot_apply_are_refused() {
    let smaps = fixture_path("pprof/go1.19-smaps");
    let smaps = smaps.to_str().unwrap();
    let profile = fixture_path("pprof/go1.19-heap.pb.gz");
    let profile = profile.to_str().unwrap();
    let stats = fixture_path("c-jemalloc/runtime-stats.txt");
    let stats = stats.to_str().unwrap();
    // A recording (a file that starts with `{`) replays samples: nothing to reconcile.
    let recording = temp_file("{}\n");
    for flag in ["-pprof", "-jemalloc-stats"] {
        let file = if flag == "-pprof" { profile } else { stats };
        refused(
            &["-file", path_of(&recording), flag, file],
            &format!("{flag} does nothing with a recording"),
        );
        refused(
            &["-file", smaps, flag, file, "-format", "pprof"],
            &format!("{flag} does nothing with -format pprof"),
        );
        // Modes that take no reconciliation: clap refuses the pair.
        for mode in [
            &["-ps"][..],
            &["-pid", "1", "-diff", smaps],
            &["-pid", "1", "-watch", "1s"],
            &["-http", ":0", "-pid", "1"],
        ] {
            usage_error(&[mode, &[flag, file]].concat());
        }
    }
}

#[test]
fn bad_go_profiles_the_pprof_tests_leave_out_are_refused() {
    let smaps = fixture_path("pprof/go1.19-smaps");
    let smaps = smaps.to_str().unwrap();
    let text = read_fixture("pprof/go1.19-heap-debug1.txt");
    let cut = text.find("# HeapIdle").unwrap();
    let mut gzip_text = Vec::new();
    {
        use std::io::Write;
        let mut encoder =
            flate2::write::GzEncoder::new(&mut gzip_text, flate2::Compression::fast());
        encoder
            .write_all(b"\xff\xff\xff not profile.proto")
            .unwrap();
        encoder.finish().unwrap();
    }
    let (_, rest) = text.split_once('\n').unwrap();
    let huge = format!("heap profile: 1: 999999999999 [1: 999999999999] @ heap/1\n{rest}");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "the heap profile is empty"),
        (
            "gzip of another thing",
            gzip_text,
            "gzip, but not a pprof profile",
        ),
        (
            "text cut in its MemStats",
            text.as_bytes()[..cut].to_vec(),
            "no MemStats HeapIdle",
        ),
        (
            "text with a broken header",
            b"heap profile: many objects\n".to_vec(),
            "line 1 of the heap profile text",
        ),
        (
            "live objects of a bigger process",
            huge.into_bytes(),
            "the profile is from another process",
        ),
    ];
    for (what, bytes, expected) in cases {
        let file = temp_file(&bytes);
        let error = runtime_error(&["-file", smaps, "-pprof", path_of(&file)]);
        assert!(
            error.contains(expected) && error.contains(path_of(&file)),
            "{what}: {error}"
        );
    }
}
