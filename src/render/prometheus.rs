//! `-format prometheus`: the Prometheus text exposition format (version 0.0.4), gauges in bytes,
//! for node_exporter's textfile collector or any scraper. Label values are escaped as the format
//! requires (backslash, double quote, newline).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::escape::injective;
use super::Render;
use crate::input::ps::ProcessList;
use crate::report::{Amounts, Report};

pub(crate) struct PrometheusRenderer;

/// One metric family: name, help text, and how to read its value.
struct Family<T> {
    name: &'static str,
    help: &'static str,
    value: fn(&T) -> u64,
}

const CATEGORY_FAMILIES: [Family<Amounts>; 5] = [
    Family {
        name: "memanalyzer_category_rss_bytes",
        help: "Resident memory (RSS) of the regions in a category.",
        value: |a| a.rss,
    },
    Family {
        name: "memanalyzer_category_pss_bytes",
        help: "Proportional set size (PSS) of the regions in a category.",
        value: |a| a.pss,
    },
    Family {
        name: "memanalyzer_category_private_bytes",
        help: "Private resident memory (USS) of the regions in a category.",
        value: |a| a.private,
    },
    Family {
        name: "memanalyzer_category_swap_bytes",
        help: "Swapped-out memory of the regions in a category.",
        value: |a| a.swap,
    },
    Family {
        name: "memanalyzer_category_size_bytes",
        help: "Virtual size of the regions in a category.",
        value: |a| a.size,
    },
];

const TOTAL_FAMILIES: [Family<Amounts>; 8] = [
    Family {
        name: "memanalyzer_rss_bytes",
        help: "Resident memory (RSS) of the process.",
        value: |a| a.rss,
    },
    Family {
        name: "memanalyzer_pss_bytes",
        help: "Proportional set size (PSS) of the process.",
        value: |a| a.pss,
    },
    Family {
        name: "memanalyzer_private_bytes",
        help: "Private resident memory (USS) of the process.",
        value: |a| a.private,
    },
    Family {
        name: "memanalyzer_shared_bytes",
        help: "Resident memory the process shares with others.",
        value: |a| a.shared,
    },
    Family {
        name: "memanalyzer_swap_bytes",
        help: "Swapped-out memory of the process.",
        value: |a| a.swap,
    },
    Family {
        name: "memanalyzer_swap_pss_bytes",
        help: "Proportional share of the process's swapped-out memory.",
        value: |a| a.swap_pss,
    },
    Family {
        name: "memanalyzer_hugetlb_bytes",
        help: "hugetlbfs memory of the process (not part of RSS).",
        value: |a| a.hugetlb,
    },
    Family {
        name: "memanalyzer_virtual_bytes",
        help: "Virtual size of the process's mappings.",
        value: |a| a.size,
    },
];

impl Render for PrometheusRenderer {
    fn report(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let source = &report.source;
        let process_labels = format!(
            "pid=\"{}\",comm=\"{}\"",
            source.pid.map(|pid| pid.to_string()).unwrap_or_default(),
            label_value(source.comm.as_deref().unwrap_or_default())
        );
        let mut text = String::new();
        for family in &CATEGORY_FAMILIES {
            header(&mut text, family.name, family.help);
            for section in &report.sections {
                for category in &section.categories {
                    let _ = writeln!(
                        text,
                        "{}{{{process_labels},section=\"{}\",category=\"{}\"}} {}",
                        family.name,
                        section.id.key(),
                        escape_label(&category.id.key()),
                        (family.value)(&category.amounts)
                    );
                }
            }
        }
        for family in &TOTAL_FAMILIES {
            header(&mut text, family.name, family.help);
            let _ = writeln!(
                text,
                "{}{{{process_labels}}} {}",
                family.name,
                (family.value)(&report.totals)
            );
        }
        header(
            &mut text,
            "memanalyzer_regions",
            "Number of memory mappings of the process.",
        );
        let _ = writeln!(
            text,
            "memanalyzer_regions{{{process_labels}}} {}",
            report.region_count
        );
        scrape_duration(&mut text, report.duration.as_secs_f64());
        out.write_all(text.as_bytes())
    }

    fn processes(&self, list: &ProcessList, out: &mut dyn Write) -> io::Result<()> {
        type Memory = crate::input::ps::ProcessMemory;
        let families: [Family<Memory>; 4] = [
            Family {
                name: "memanalyzer_process_rss_bytes",
                help: "Resident memory (RSS) of a process, from smaps_rollup.",
                value: |m| m.rss,
            },
            Family {
                name: "memanalyzer_process_pss_bytes",
                help: "Proportional set size (PSS) of a process, from smaps_rollup.",
                value: |m| m.pss,
            },
            Family {
                name: "memanalyzer_process_uss_bytes",
                help: "Private resident memory (USS) of a process, from smaps_rollup.",
                value: |m| m.uss,
            },
            Family {
                name: "memanalyzer_process_swap_bytes",
                help: "Swapped-out memory of a process, from smaps_rollup.",
                value: |m| m.swap,
            },
        ];
        let mut text = String::new();
        for family in &families {
            header(&mut text, family.name, family.help);
            for row in &list.processes {
                if let Ok(memory) = &row.memory {
                    let _ = writeln!(
                        text,
                        "{}{{pid=\"{}\",comm=\"{}\",user=\"{}\"}} {}",
                        family.name,
                        row.pid,
                        label_value(row.command.as_deref().unwrap_or(b"?")),
                        label_value(row.user.as_deref().unwrap_or(b"?")),
                        (family.value)(memory)
                    );
                }
            }
        }
        header(
            &mut text,
            "memanalyzer_processes_unreadable",
            "Processes whose memory could not be read (e.g. permission denied).",
        );
        let _ = writeln!(
            text,
            "memanalyzer_processes_unreadable {}",
            list.unreadable()
        );
        scrape_duration(&mut text, list.duration.as_secs_f64());
        out.write_all(text.as_bytes())
    }
}

pub(crate) fn header(text: &mut String, name: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
}

fn scrape_duration(text: &mut String, seconds: f64) {
    header(
        text,
        "memanalyzer_scrape_duration_seconds",
        "Time taken to read and analyze.",
    );
    let _ = writeln!(text, "memanalyzer_scrape_duration_seconds {seconds:.6}");
}

/// A label value from a name the process chose: made unique and printable (see `escape.rs`),
/// then escaped as the format requires.
fn label_value(name: &[u8]) -> String {
    escape_label(&injective(name))
}

/// Escapes a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub(crate) fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
    }
}
