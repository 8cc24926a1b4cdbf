//! Reading the JSON output back (`-format json`), and the sums every report keeps.

use serde_json::Value;

/// The byte counts every category and listed region has.
pub const AMOUNT_KEYS: [&str; 8] = [
    "size_bytes",
    "rss_bytes",
    "pss_bytes",
    "private_bytes",
    "shared_bytes",
    "swap_bytes",
    "swap_pss_bytes",
    "hugetlb_bytes",
];

/// The `kind` and `line` of each of a JSON report's `warning_details`, checked against its
/// `warnings`: one detail per warning, in the same order, whose message the warning ends with.
pub fn warning_kinds(doc: &Value) -> Vec<(String, Option<u64>)> {
    let warnings = doc["warnings"].as_array().expect("warnings");
    let details = doc["warning_details"].as_array().expect("warning_details");
    assert_eq!(details.len(), warnings.len(), "{doc:#}");
    warnings
        .iter()
        .zip(details)
        .map(|(warning, detail)| {
            let message = detail["message"].as_str().expect("a message");
            assert!(
                warning.as_str().unwrap().ends_with(message),
                "{warning} / {detail}"
            );
            let line = &detail["line"];
            assert!(line.is_null() || line.is_u64(), "{detail}");
            (
                detail["kind"].as_str().expect("a kind").to_string(),
                line.as_u64(),
            )
        })
        .collect()
}

pub fn u64_at(value: &Value, pointer: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no unsigned number at {pointer} in {value:#}"))
}

/// The reconciliation of `runtime` (`go`, `jemalloc`, `jvm`) in a JSON report.
pub fn accounting_of<'a>(doc: &'a Value, runtime: &str) -> &'a Value {
    doc["accounting"]
        .as_array()
        .expect("an accounting list")
        .iter()
        .find(|accounting| accounting["runtime"] == runtime)
        .unwrap_or_else(|| panic!("no {runtime} accounting: {:#}", doc["accounting"]))
}

/// The rows of [`accounting_of`] by id, each mapped by `field`; the accounting has no error.
pub fn accounting_rows<T>(
    doc: &Value,
    runtime: &str,
    field: impl Fn(&Value) -> T,
) -> std::collections::BTreeMap<String, T> {
    let accounting = accounting_of(doc, runtime);
    assert_eq!(accounting["error"], Value::Null, "{accounting:#}");
    accounting["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["id"].as_str().expect("a row id").to_string(),
                field(row),
            )
        })
        .collect()
}

/// The six figures jemalloc's statistics give in both forms, as `-jemalloc-stats` names its
/// rows.
pub const JEMALLOC_STATS: [&str; 6] = [
    "allocated",
    "active",
    "metadata",
    "resident",
    "mapped",
    "retained",
];

/// The `jemalloc.NAME=BYTES` lines a tikv-jemalloc-ctl program prints (the `-jemalloc-stats`
/// figures form), by name.
pub fn jemalloc_figures(path: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .lines()
        .filter_map(|line| {
            let (name, value) = line.strip_prefix("jemalloc.")?.split_once('=')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

pub fn sections(doc: &Value) -> &Vec<Value> {
    doc["sections"].as_array().expect("`sections` is an array")
}

/// The section whose heading (`name`) is `title`.
pub fn section<'a>(doc: &'a Value, title: &str) -> Option<&'a Value> {
    sections(doc)
        .iter()
        .find(|section| section["name"] == title)
}

/// The category shown as `name` in the section headed `section_title`.
pub fn category<'a>(doc: &'a Value, section_title: &str, name: &str) -> Option<&'a Value> {
    section(doc, section_title)?["categories"]
        .as_array()?
        .iter()
        .find(|category| category["name"] == name)
}

/// The category whose stable id is `id` (`shm.memfd`, `named:TNC-*`).
pub fn category_by_id<'a>(doc: &'a Value, id: &str) -> Option<&'a Value> {
    all_categories(doc).find(|category| category["id"] == id)
}

/// Every category of every section.
pub fn all_categories(doc: &Value) -> impl Iterator<Item = &Value> {
    sections(doc)
        .iter()
        .flat_map(|section| section["categories"].as_array().expect("categories").iter())
}

pub fn top_regions(doc: &Value) -> &Vec<Value> {
    doc["top_regions"]
        .as_array()
        .expect("`top_regions` is an array")
}

/// The listed regions in the category with id `id`.
pub fn regions_in<'a>(doc: &'a Value, id: &str) -> Vec<&'a Value> {
    top_regions(doc)
        .iter()
        .filter(|region| region["category_id"] == id)
        .collect()
}

/// The invariants every JSON report keeps: each section is the sum of its categories, and the
/// categories together are the totals.
pub fn assert_json_sums_are_consistent(doc: &Value) {
    for field in AMOUNT_KEYS {
        let sum: u64 = all_categories(doc)
            .map(|c| u64_at(c, &format!("/{field}")))
            .sum();
        assert_eq!(
            sum,
            u64_at(doc, &format!("/totals/{field}")),
            "{field}: categories vs totals"
        );
    }
    let regions: u64 = all_categories(doc).map(|c| u64_at(c, "/regions")).sum();
    assert_eq!(regions, u64_at(doc, "/totals/regions"), "region counts");
    for section in sections(doc) {
        let sum: u64 = section["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| u64_at(c, "/rss_bytes"))
            .sum();
        assert_eq!(
            sum,
            u64_at(section, "/rss_bytes"),
            "section {}: rss_bytes vs its categories",
            section["name"]
        );
    }
}

/// The totals, sections and regions of a report: everything but where it came from.
pub fn analysis(doc: &Value) -> (Value, Value, Value) {
    (
        doc["totals"].clone(),
        doc["sections"].clone(),
        doc["top_regions"].clone(),
    )
}

/// The listed regions (`-all` lists every one) that overlap the address range
/// `[start, end)`, given in hex as the kernel prints addresses.
pub fn regions_overlapping<'a>(doc: &'a Value, start: &str, end: &str) -> Vec<&'a Value> {
    let hex = |text: &str| u64::from_str_radix(text, 16).expect("a hex address");
    let (start, end) = (hex(start), hex(end));
    top_regions(doc)
        .iter()
        .filter(|region| {
            let at = |key: &str| hex(region[key].as_str().expect("an address"));
            at("start") < end && start < at("end")
        })
        .collect()
}

/// The RSS of category `id`, 0 when no region is in it.
pub fn rss_of(doc: &Value, id: &str) -> u64 {
    category_by_id(doc, id).map_or(0, |category| u64_at(category, "/rss_bytes"))
}

/// What makes a report's categories keys: every `id` appears once in the document, and every
/// `label` once within its section (what the README promises). Returns the number of categories.
pub fn assert_keys_unique(doc: &Value) -> usize {
    let mut ids = std::collections::BTreeSet::new();
    for section in sections(doc) {
        let mut labels = std::collections::BTreeSet::new();
        for category in section["categories"].as_array().expect("categories") {
            let id = category["id"].as_str().expect("category.id");
            assert!(ids.insert(id.to_string()), "id {id:?} twice");
            let label = category["label"].as_str().expect("category.label");
            assert!(
                labels.insert(label.to_string()),
                "label {label:?} twice in section {}",
                section["name"]
            );
        }
    }
    ids.len()
}
