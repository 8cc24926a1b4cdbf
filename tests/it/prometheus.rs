//! `-format prometheus`: every fixture's exposition passes `promtool check metrics` and a strict
//! parser, and agrees with the JSON report figure for figure. Labels carry the stable ids
//! (`section="runtime"`, `category="go.heap"`), and names the process chose (comm, named
//! regions) are made injective and then escaped as the format requires, so two names can never
//! become one series.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::support::files::exec_tempdir;
use crate::support::prelude::*;
use crate::support::prometheus::*;

const KIB: u64 = 1024;

/// What a label value holds for a name (after the format's own escapes are undone): printable
/// text kept, `\` doubled, control characters as `\xNN` of their UTF-8 bytes.
fn label_text(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            c if c.is_control() => {
                let mut utf8 = [0u8; 4];
                for byte in c.encode_utf8(&mut utf8).as_bytes() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

const CATEGORY_FAMILIES: [(&str, &str); 6] = [
    ("memanalyzer_category_rss_bytes", "rss_bytes"),
    ("memanalyzer_category_pss_bytes", "pss_bytes"),
    ("memanalyzer_category_private_bytes", "private_bytes"),
    ("memanalyzer_category_swap_bytes", "swap_bytes"),
    ("memanalyzer_category_size_bytes", "size_bytes"),
    (
        "memanalyzer_category_inferred_rss_bytes",
        "inferred_rss_bytes",
    ),
];

const TOTAL_FAMILIES: [(&str, &str); 9] = [
    ("memanalyzer_rss_bytes", "rss_bytes"),
    ("memanalyzer_pss_bytes", "pss_bytes"),
    ("memanalyzer_private_bytes", "private_bytes"),
    ("memanalyzer_shared_bytes", "shared_bytes"),
    ("memanalyzer_swap_bytes", "swap_bytes"),
    ("memanalyzer_swap_pss_bytes", "swap_pss_bytes"),
    ("memanalyzer_hugetlb_bytes", "hugetlb_bytes"),
    ("memanalyzer_virtual_bytes", "size_bytes"),
    ("memanalyzer_regions", "regions"),
];

/// Checks a process analysis in Prometheus form against the JSON report of the same process:
/// every family, label and value. Returns what differs in values (empty when all agree), so
/// that a live process whose memory moved between the two runs can be retried.
///
/// For a `live` process only the figures that stay put while it is idle are compared (size,
/// RSS, swap, region count): how much of a library page is shared, and so PSS, private and
/// shared, changes whenever another process maps or unmaps the same library.
fn prometheus_vs_json(exposition: &Exposition, doc: &Value, live: bool) -> Vec<String> {
    let compared = |key: &str| {
        !live
            || !matches!(
                key,
                "pss_bytes" | "private_bytes" | "shared_bytes" | "swap_pss_bytes"
            )
    };
    let mut differences = Vec::new();
    let pid = doc["source"]["pid"]
        .as_i64()
        .map(|pid| pid.to_string())
        .unwrap_or_default();
    let comm = label_text(doc["source"]["comm"].as_str().unwrap_or_default());
    let comm = comm.as_str();
    let categories: Vec<(&str, &Value)> = sections(doc)
        .iter()
        .flat_map(|section| {
            let name = section["id"].as_str().unwrap();
            section["categories"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |category| (name, category))
        })
        .collect();
    for (family, key) in CATEGORY_FAMILIES {
        let samples = exposition.samples(family);
        assert_eq!(
            samples.len(),
            categories.len(),
            "{family}: one sample per category"
        );
        for sample in samples {
            let names: Vec<&str> = sample.labels.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["pid", "comm", "section", "category"], "{sample:?}");
            assert_eq!(sample.label("pid"), Some(pid.as_str()), "{sample:?}");
            assert_eq!(sample.label("comm"), Some(comm), "{sample:?}");
        }
        for (section, category) in &categories {
            // Prometheus labels carry the stable ids, which JSON gives as `id`.
            let name = category["id"].as_str().unwrap();
            let sample = samples
                .iter()
                .find(|s| s.label("section") == Some(section) && s.label("category") == Some(name))
                .unwrap_or_else(|| panic!("{family}: no sample for {section} / {name}"));
            let expected = u64_at(category, &format!("/{key}"));
            if compared(key) && sample.whole() != expected {
                differences.push(format!(
                    "{family}{{{section}/{name}}}: {} vs JSON {expected}",
                    sample.whole()
                ));
            }
        }
    }
    for (family, key) in TOTAL_FAMILIES {
        let sample = exposition.single(family);
        let names: Vec<&str> = sample.labels.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["pid", "comm"], "{sample:?}");
        assert_eq!(sample.label("pid"), Some(pid.as_str()), "{sample:?}");
        assert_eq!(sample.label("comm"), Some(comm), "{sample:?}");
        let expected = u64_at(doc, &format!("/totals/{key}"));
        if compared(key) && sample.whole() != expected {
            differences.push(format!("{family}: {} vs JSON {expected}", sample.whole()));
        }
    }
    // The unexplained share, as JSON's `unexplained` gives it.
    let unexplained = exposition.single("memanalyzer_unexplained_rss_bytes");
    let names: Vec<&str> = unexplained.labels.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["pid", "comm"], "{unexplained:?}");
    let expected = u64_at(doc, "/unexplained/rss_bytes");
    if unexplained.whole() != expected {
        differences.push(format!(
            "memanalyzer_unexplained_rss_bytes: {} vs JSON {expected}",
            unexplained.whole()
        ));
    }
    // Within the one exposition, exactly: the categories add up to the total.
    let rss = exposition.single("memanalyzer_rss_bytes").whole();
    let category_sum: u64 = exposition
        .samples("memanalyzer_category_rss_bytes")
        .iter()
        .map(Sample::whole)
        .sum();
    assert_eq!(
        category_sum, rss,
        "category RSS samples vs memanalyzer_rss_bytes"
    );
    assert_scrape_duration(exposition);
    differences
}

#[test]
fn prometheus_of_every_fixture_passes_promtool_and_matches_json() {
    let mut promtool = Promtool::new();
    let fixtures = analyzable_fixtures();
    assert!(fixtures.len() >= 10, "{fixtures:?}");
    for relative in &fixtures {
        let path = &fixture(relative);
        let text = stdout_of(&["-file", path, "-format", "prometheus"]);
        promtool.check(&text, path);
        let exposition = parse_exposition(&text);
        let doc = json_of(&["-file", path, "-format", "json"]);
        assert_keys_unique(&doc);
        let differences = prometheus_vs_json(&exposition, &doc, false);
        assert!(differences.is_empty(), "{path}: {differences:#?}");
        // The README's names, all there.
        for (family, _) in CATEGORY_FAMILIES.iter().chain(&TOTAL_FAMILIES) {
            assert!(
                exposition.families.contains_key(*family),
                "{path}: {family}"
            );
        }
    }
    or_skip!(promtool.finish());
}

#[test]
fn prometheus_rss_equals_json_and_the_categories_sum() {
    let path = go_cgo();
    let text = stdout_of(&["-file", &path, "-format", "prometheus"]);
    let exposition = parse_exposition(&text);
    let doc = json_of(&["-file", &path, "-format", "json"]);
    let rss = u64_at(&doc, "/totals/rss_bytes");
    assert_eq!(rss, 245_424_128);
    assert_eq!(exposition.single("memanalyzer_rss_bytes").whole(), rss);
    let sum: u64 = exposition
        .samples("memanalyzer_category_rss_bytes")
        .iter()
        .map(Sample::whole)
        .sum();
    assert_eq!(sum, rss);
    for sample in exposition.samples("memanalyzer_category_rss_bytes") {
        for label in ["pid", "comm", "section", "category"] {
            assert!(sample.label(label).is_some(), "{label} missing: {sample:?}");
        }
    }
    assert_scrape_duration(&exposition);
}

/// A live process whose name (comm) holds `"`, `\` and a newline: the workload binary copied
/// under that name. Its Prometheus output passes promtool, carries the name escaped, and agrees
/// with the JSON report of the same process.
#[test]
fn prometheus_of_a_live_process_with_an_odd_name() {
    let mut promtool = Promtool::new();
    let dir = exec_tempdir();
    let comm = "wl\"q\\\nz"; // w l " q \ newline z
    let program = dir.path().join(comm);
    fs::copy(workload_path(), &program).expect("copy the workload");
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let workload = Workload::spawn_program(
        &program,
        &["--mappings", "200", "--anon-rw-mb", "4", "--threads", "2"],
    );
    assert_eq!(
        fs::read_to_string(format!("/proc/{}/comm", workload.pid)).unwrap(),
        format!("{comm}\n"),
        "the kernel took the copy's name as comm"
    );
    let pid = workload.pid_arg();
    let mut differences = Vec::new();
    for _attempt in 0..5 {
        let text = stdout_of(&["-pid", &pid, "-format", "prometheus"]);
        promtool.check(&text, "a live process with an odd name");
        // The name made injective (`\` doubled, the newline as `\x0a`: `wl"q\\\x0az`), then
        // escaped as the format requires (`"` and `\` behind a backslash).
        assert!(
            text.contains(&format!(r#"pid="{pid}",comm="wl\"q\\\\\\x0az""#)),
            "comm not escaped as the format requires:\n{text}"
        );
        let exposition = parse_exposition(&text);
        assert_eq!(
            exposition.single("memanalyzer_rss_bytes").label("comm"),
            Some(r#"wl"q\\\x0az"#)
        );
        assert_eq!(label_text(comm), r#"wl"q\\\x0az"#);
        let doc = json_of(&["-pid", &pid, "-format", "json"]);
        assert_eq!(doc["source"]["comm"], comm);
        differences = prometheus_vs_json(&exposition, &doc, true);
        if differences.is_empty() {
            break;
        }
        // The kernel may still move pages of a quiescent process (reclaim of file pages on a
        // busy machine); such a race is retried, a systematic difference is not.
    }
    assert!(differences.is_empty(), "{differences:#?}");
    or_skip!(promtool.finish());
}

/// A named region `[anon:we"ird\name]` gets the key `named:we"ird\\name` (its backslash
/// doubled), which the label then escapes again.
#[test]
fn prometheus_escapes_quotes_and_backslashes_in_category_labels() {
    let mut promtool = Promtool::new();
    let name = r#"we"ird\name"#;
    let smaps = sample_smaps().replace("[anon:TXMetaCache]", &format!("[anon:{name}]"));
    assert!(smaps.contains(name));
    let file = temp_file(&smaps);
    let text = stdout_of(&["-file", path_of(&file), "-format", "prometheus"]);
    promtool.check(&text, "a category label with a quote and a backslash");
    assert!(
        text.contains(r#"section="named",category="named:we\"ird\\\\name""#),
        "the label is not escaped as `named:we\\\"ird\\\\\\\\name`:\n{text}"
    );
    let exposition = parse_exposition(&text);
    let key = r#"named:we"ird\\name"#;
    let sample = exposition
        .samples("memanalyzer_category_rss_bytes")
        .iter()
        .find(|sample| sample.label("category") == Some(key))
        .unwrap_or_else(|| panic!("no category {key:?} in:\n{text}"));
    assert_eq!(sample.label("section"), Some("named"));
    assert_eq!(sample.whole(), 1024 * KIB);
    let doc = json_of(&["-file", path_of(&file), "-format", "json"]);
    assert_eq!(
        category_by_id(&doc, key).expect("the JSON id")["name"],
        name
    );
    assert!(prometheus_vs_json(&exposition, &doc, false).is_empty());
    or_skip!(promtool.finish());
}

/// Two groups of named regions with the same label would be the same series twice, which
/// Prometheus rejects (node_exporter's textfile collector drops the file).
#[test]
fn prometheus_series_are_unique_even_when_a_name_mimics_a_group() {
    let smaps = smaps_record(0x7f00_0000_0000, 8, "rw-p", "[anon:cache1]", 8, 0)
        + &smaps_record(0x7f00_0010_0000, 8, "rw-p", "[anon:cache2]", 8, 0)
        + &smaps_record(
            0x7f00_0020_0000,
            8,
            "rw-p",
            "[anon:cache* (2 regions)]",
            8,
            0,
        );
    let file = temp_file(&smaps);
    let text = stdout_of(&["-file", path_of(&file), "-format", "prometheus"]);
    let mut promtool = Promtool::new();
    promtool.check(&text, "names that mimic a group");
    parse_exposition(&text); // panics on a series seen twice
    or_skip!(promtool.finish());
}

/// A name with a byte that is not UTF-8 and a name holding the text of its escape are different
/// groups, and stay different series: the label's escape is injective.
#[test]
fn prometheus_keeps_a_raw_byte_and_its_escaped_text_apart() {
    let mut smaps = smaps_record(0x7f00_0000_0000, 8, "rw-p", "[anon:a\\xffb]", 8, 0).into_bytes();
    let raw = Record::new(0x7f00_0010_0000, 8, "rw-p", &b"[anon:a\xffb]"[..]).resident(4, 0);
    smaps.extend(raw.text());
    let file = temp_file(&smaps);
    let text = stdout_of(&["-file", path_of(&file), "-format", "prometheus"]);
    let mut promtool = Promtool::new();
    promtool.check(&text, "a raw byte and its escaped text");
    let exposition = parse_exposition(&text);
    let mut named: Vec<(String, u64)> = exposition
        .samples("memanalyzer_category_rss_bytes")
        .iter()
        .filter(|sample| sample.label("section") == Some("named"))
        .map(|sample| {
            (
                sample.label("category").unwrap().to_string(),
                sample.whole(),
            )
        })
        .collect();
    named.sort();
    assert_eq!(
        named,
        [
            (r"named:a\\xffb".to_string(), 8 * KIB),
            (r"named:a\xffb".to_string(), 4 * KIB)
        ]
    );
    or_skip!(promtool.finish());
}
