//! `-format json`: schema version 1 (fields are only ever added: ids, evidence, runtimes), exact
//! byte counts that add up, from a live process and from a file.

use serde_json::Value;

use crate::support::prelude::*;

const SECTION_IDS: [&str; 6] = ["runtime", "named", "file", "shared", "anonymous", "other"];
const EVIDENCE: [&str; 4] = ["name", "executable", "layout", "runtime"];
/// The `kind`s of `warning_details`, as the README lists them.
const WARNING_KINDS: [&str; 6] = [
    "crlf_line_ends",
    "final_record_cut_short",
    "final_line_cut",
    "overlapping_records",
    "read_through_thread",
    "memory_reads_refused",
];

fn assert_schema(doc: &Value) {
    assert_eq!(doc["schema_version"], 1);
    for key in ["pid", "path", "exe", "comm", "runtime", "go_version"] {
        assert!(doc["source"].get(key).is_some(), "source.{key} missing");
    }
    assert!(["go", "native"].contains(&doc["source"]["runtime"].as_str().unwrap()));
    // Added in schema 1: the runtimes found, and how.
    let runtimes = doc["runtimes"].as_array().expect("runtimes is an array");
    for runtime in runtimes {
        for key in ["id", "name", "evidence"] {
            assert!(runtime[key].is_string(), "runtime.{key}: {runtime}");
        }
        assert!(
            runtime.get("version").is_some(),
            "runtime.version: {runtime}"
        );
        assert!(
            EVIDENCE.contains(&runtime["evidence"].as_str().unwrap()),
            "{runtime}"
        );
    }
    match doc["source"]["runtime"].as_str().unwrap() {
        "native" => {}
        language => assert!(
            runtimes.iter().any(|runtime| runtime["id"] == language),
            "{language} is not among the runtimes: {runtimes:?}"
        ),
    }
    for key in AMOUNT_KEYS.into_iter().chain(["regions"]) {
        u64_at(doc, &format!("/totals/{key}"));
    }
    for (kind, _) in warning_kinds(doc) {
        assert!(WARNING_KINDS.contains(&kind.as_str()), "{kind}");
    }
    let mut ids = std::collections::BTreeMap::new();
    for section in sections(doc) {
        assert!(section["name"].is_string());
        let section_id = section["id"].as_str().expect("section.id");
        assert!(SECTION_IDS.contains(&section_id), "{section_id}");
        u64_at(section, "/rss_bytes");
        for category in section["categories"].as_array().unwrap() {
            for key in ["name", "label"] {
                assert!(category[key].is_string(), "category.{key}: {category}");
            }
            let id = category["id"].as_str().expect("category.id");
            // Named groups, and the remainder of the names not kept.
            assert!(
                (section_id == "named") == (id.starts_with("named:") || id == "named.other"),
                "{id} in {section_id}"
            );
            let shown = (section["name"].clone(), category["name"].clone());
            assert!(ids.insert(id.to_string(), shown).is_none(), "{id} twice");
            for key in ["regions"].into_iter().chain(AMOUNT_KEYS) {
                u64_at(category, &format!("/{key}"));
            }
        }
    }
    for region in top_regions(doc) {
        for key in [
            "start",
            "end",
            "perms",
            "name",
            "section",
            "section_id",
            "category",
            "category_id",
            "evidence",
        ] {
            assert!(region[key].is_string(), "region.{key}: {region}");
        }
        // The ids name the category the region is shown in.
        let id = region["category_id"].as_str().unwrap();
        let (section, category) = ids.get(id).unwrap_or_else(|| panic!("{id}: {region}"));
        assert_eq!(
            (&region["section"], &region["category"]),
            (section, category)
        );
        assert!(region["section_id"]
            .as_str()
            .is_some_and(|s| SECTION_IDS.contains(&s)));
        assert!(
            EVIDENCE.contains(&region["evidence"].as_str().unwrap()),
            "{region}"
        );
        for key in AMOUNT_KEYS {
            u64_at(region, &format!("/{key}"));
        }
        let start = u64::from_str_radix(region["start"].as_str().unwrap(), 16).unwrap();
        let end = u64::from_str_radix(region["end"].as_str().unwrap(), 16).unwrap();
        assert_eq!(end - start, u64_at(region, "/size_bytes"), "{region}");
    }
}

#[test]
fn json_of_a_live_process_follows_the_schema_and_adds_up() {
    let workload = Workload::spawn(&["--anon-rw-mb", "4", "--memfd-kb", "512", "--threads", "2"]);
    let doc = json_of(&["-pid", &workload.pid_arg(), "-format", "json"]);
    assert_schema(&doc);
    assert_eq!(doc["source"]["pid"], workload.pid);
    assert_eq!(doc["source"]["comm"], "workload");
    assert_json_sums_are_consistent(&doc);
    assert!(top_regions(&doc).len() <= 20);
}

#[test]
fn json_all_lists_every_region() {
    let workload = Workload::spawn(&["--mappings", "100"]);
    let doc = json_of(&["-pid", &workload.pid_arg(), "-format", "json", "-all"]);
    assert_schema(&doc);
    assert_eq!(doc["listing"], "all");
    assert_eq!(
        top_regions(&doc).len() as u64,
        u64_at(&doc, "/totals/regions")
    );
    let rss: u64 = top_regions(&doc)
        .iter()
        .map(|r| u64_at(r, "/rss_bytes"))
        .sum();
    assert_eq!(rss, u64_at(&doc, "/totals/rss_bytes"));
    assert_json_sums_are_consistent(&doc);
}

#[test]
fn json_of_a_file_follows_the_schema_and_adds_up() {
    let file = temp_file(sample_smaps());
    let doc = json_of(&["-file", path_of(&file), "-format", "json", "-all"]);
    assert_schema(&doc);
    assert_json_sums_are_consistent(&doc);
    assert_eq!(
        top_regions(&doc).len() as u64,
        u64_at(&doc, "/totals/regions")
    );
}

#[test]
fn file_analysis_has_the_expected_figures() {
    let file = temp_file(sample_smaps());
    let doc = json_of(&["-file", path_of(&file), "-format", "json"]);
    assert_eq!(doc["source"]["pid"], Value::Null);
    assert_eq!(doc["source"]["path"], path_of(&file));
    assert_eq!(doc["source"]["exe"], "/usr/bin/sampleapp");
    assert_eq!(doc["source"]["runtime"], "native");
    assert_eq!(u64_at(&doc, "/totals/rss_bytes"), sample_rss_bytes());
    assert_eq!(u64_at(&doc, "/totals/regions"), SAMPLE_REGIONS.len() as u64);
    // No language runtime, but glibc's allocator (libc.so.6 is mapped).
    assert_eq!(
        doc["runtimes"],
        serde_json::json!([{"id": "glibc", "name": "glibc", "version": null, "evidence": "name"}])
    );
    let memfd = category(&doc, "Shared Memory", "memfd").expect("memfd category");
    assert_eq!(memfd["id"], "shm.memfd");
    assert_eq!(u64_at(memfd, "/rss_bytes"), 4096 * 1024);
    let named = category_by_id(&doc, "named:TXMetaCache").expect("the named region");
    assert_eq!(
        (&named["name"], &named["label"]),
        (&"TXMetaCache".into(), &"TXMetaCache".into())
    );
    assert!(category(&doc, "File-Backed Memory", "sampleapp Binary").is_some());
    assert!(category(&doc, "Native Runtime", "Heap").is_some());
    assert!(category(&doc, "Native Runtime", "Stack").is_some());
    assert_json_sums_are_consistent(&doc);
}

/// Names that print the same once escaped — a byte 0xff and the four characters `\xff`, a
/// control character and its escape, a saved file's name that mimics the remainder's label —
/// are still different categories with different ids and labels (labels are keys too).
#[test]
fn labels_and_ids_stay_unique_when_names_collide_after_escaping() {
    let names: [&[u8]; 7] = [
        b"[anon:a\\xffb]",
        b"[anon:a\xffb]",
        b"[anon:bell\x07]",
        b"[anon:bell\\x07]",
        b"[anon:[other names]]",
        b"[anon:cache1]",
        b"[anon:cache* (2 regions)]",
    ];
    let mut smaps = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let record = Record::new(
            0x7f00_0000_0000 + index as u64 * 0x10_0000,
            8,
            "rw-p",
            *name,
        );
        smaps.extend(record.resident(4, 0).text());
    }
    let file = temp_file(&smaps);
    let doc = json_of(&["-file", path_of(&file), "-format", "json", "-all"]);
    assert_schema(&doc);
    assert_json_sums_are_consistent(&doc);
    assert_eq!(assert_keys_unique(&doc), names.len());
    let labels: Vec<&str> = section(&doc, "Named Memory Regions (mmap)").unwrap()["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|category| category["label"].as_str().unwrap())
        .collect();
    for label in [
        r"a\\xffb",
        r"a\xffb",
        r"bell\x07",
        r"bell\\x07",
        "[other names]",
    ] {
        assert!(labels.contains(&label), "{label:?} missing from {labels:?}");
    }
    // The name that mimics the remainder is counted there, where `-all` lists it too.
    let other = category_by_id(&doc, "named.other").expect("the remainder");
    assert_eq!(u64_at(other, "/regions"), 1);
    assert_eq!(regions_in(&doc, "named.other").len(), 1);
}
