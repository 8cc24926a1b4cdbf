//! Reading the text output back, as the scripts that rely on it do.

pub use super::invariants::strip_sgr;

/// `grep "RSS (Resident)" | awk '{print $3}'`: the resident set in whole MiB.
pub fn rss_mib(text: &str) -> u64 {
    let line = line_starting(text, "RSS (Resident):");
    let field = line
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no third field in {line:?}"));
    field
        .parse()
        .unwrap_or_else(|_| panic!("{field:?} in {line:?} is not a whole number"))
}

/// The first line that starts with `prefix`.
pub fn line_starting<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{text}"))
}

/// The number on the `Regions:` line of the totals.
pub fn regions_total(text: &str) -> u64 {
    let line = line_starting(text, "Regions:");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The region listing's title line (`=== Top N … ===` / `=== All … ===`), if any.
pub fn listing_title(text: &str) -> Option<&str> {
    text.lines()
        .find(|line| line.starts_with("=== Top ") || line.starts_with("=== All "))
}

/// The data rows of the region listing: the lines after the dashed rule, up to a blank line.
pub fn table_rows(text: &str) -> Vec<&str> {
    let mut lines = text
        .lines()
        .skip_while(|line| !(line.starts_with("=== Top ") || line.starts_with("=== All ")));
    assert!(lines.next().is_some(), "no region listing in:\n{text}");
    let mut lines = lines.skip_while(|line| !line.starts_with("---"));
    assert!(lines.next().is_some(), "no dashed rule in:\n{text}");
    lines.take_while(|line| !line.trim().is_empty()).collect()
}

/// Whether `bytes` hold an ESC (colour or anything else).
pub fn has_escape(bytes: &[u8]) -> bool {
    bytes.contains(&0x1b)
}
