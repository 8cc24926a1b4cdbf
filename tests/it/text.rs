//! The text output is a contract for scripts: `grep "RSS (Resident)" | awk '{print $3}'` gives
//! whole MiB, the breakdown comes before the totals, and the totals' lines keep their labels.
//! (Every fixture's whole text output is pinned in `snapshots.rs`.)

use crate::support::prelude::*;

#[test]
fn rss_line_gives_whole_megabytes_to_awk() {
    let workload = Workload::spawn(&["--anon-rw-mb", "8"]);
    let text = stdout_of(&["-pid", &workload.pid_arg()]);
    assert!(rss_mib(&text) >= 8, "{text}");
}

#[test]
fn text_output_has_the_breakdown_and_totals_in_order() {
    let workload = Workload::spawn(&[]);
    let text = stdout_of(&["-pid", &workload.pid_arg()]);
    assert!(
        text.contains("\n=== Complete Memory Breakdown ===\n"),
        "{text}"
    );
    let after_totals: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != "=== Totals ===")
        .skip(1)
        .take(3)
        .collect();
    assert_eq!(after_totals.len(), 3, "{text}");
    for (line, label) in
        after_totals
            .iter()
            .zip(["Virtual Memory:", "RSS (Resident):", "PSS (Proportional):"])
    {
        assert!(
            line.starts_with(label),
            "{line:?} should start with {label:?}"
        );
        assert!(line.ends_with(" MB"), "{line:?}");
    }
}

#[test]
fn sample_text_output_rounds_down_to_whole_megabytes() {
    let file = temp_file(sample_smaps());
    let text = stdout_of(&["-file", path_of(&file)]);
    assert_eq!(rss_mib(&text), sample_rss_bytes() / (1024 * 1024));
}
