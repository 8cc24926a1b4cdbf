//! `-format prometheus`: the Prometheus text exposition format (version 0.0.4), gauges in bytes,
//! for node_exporter's textfile collector or any scraper. Label values are escaped as the format
//! requires (backslash, double quote, newline).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::escape::injective;
use super::Render;
use crate::container::{CgroupFigures, Container};
use crate::input::ps::ProcessList;
use crate::reconcile::{Accounting, AccountingRow, AllocationSite};
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
        // Written out family by family: a category's label can be a 60 KB name, and a whole
        // exposition of such labels would be megabytes held at once.
        let mut text = String::new();
        for family in &CATEGORY_FAMILIES {
            out.write_all(text.as_bytes())?;
            text.clear();
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
        out.write_all(text.as_bytes())?;
        text.clear();
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
            "memanalyzer_unexplained_rss_bytes",
            "Resident memory still in generic categories (Anonymous Memory, Other/Unrecognized): what no rule attributed to a runtime, a name or a file.",
        );
        let _ = writeln!(
            text,
            "memanalyzer_unexplained_rss_bytes{{{process_labels}}} {}",
            report.unexplained.amounts.rss
        );
        header(
            &mut text,
            "memanalyzer_category_inferred_rss_bytes",
            "Resident memory of the regions in a category placed there by layout (addresses, sizes, neighbours) rather than by name.",
        );
        for section in &report.sections {
            for category in &section.categories {
                let _ = writeln!(
                    text,
                    "memanalyzer_category_inferred_rss_bytes{{{process_labels},section=\"{}\",category=\"{}\"}} {}",
                    section.id.key(),
                    escape_label(&category.id.key()),
                    category.inferred.rss
                );
            }
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
        if let Some(container) = &report.container {
            container_metrics(&mut text, &process_labels, container);
        }
        accounting_metrics(&mut text, &process_labels, &report.accounting);
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
        cgroup_group_metrics(&mut text, list);
        scrape_duration(&mut text, list.duration.as_secs_f64());
        out.write_all(text.as_bytes())
    }
}

/// `-cgroup`: the container's figures, labelled with the process and its cgroup's path.
fn container_metrics(text: &mut String, process_labels: &str, container: &Container) {
    let labels = format!(
        "{process_labels},cgroup=\"{}\"",
        label_value(&container.path)
    );
    let gauges: [(&str, &str, Option<u64>); 6] = [
        (
            "memanalyzer_cgroup_usage_bytes",
            "Memory charged to the process's cgroup (memory.current).",
            Some(container.usage),
        ),
        (
            "memanalyzer_cgroup_working_set_bytes",
            "The cgroup's working set as kubectl top shows it: usage minus inactive page cache.",
            Some(container.working_set),
        ),
        (
            "memanalyzer_cgroup_reclaimable_bytes",
            "Usage the kernel could reclaim at most: page cache and reclaimable slab.",
            Some(container.reclaimable),
        ),
        (
            "memanalyzer_cgroup_peak_bytes",
            "The cgroup's peak usage (memory.peak).",
            container.peak,
        ),
        (
            "memanalyzer_cgroup_processes_pss_bytes",
            "Sum of the PSS of the cgroup's processes.",
            Some(container.members_pss()),
        ),
        (
            "memanalyzer_cgroup_high_bytes",
            "The cgroup's throttling threshold (memory.high).",
            container.high,
        ),
    ];
    for (name, help, value) in gauges {
        if let Some(value) = value {
            header(text, name, help);
            let _ = writeln!(text, "{name}{{{labels}}} {value}");
        }
    }
    header(
        text,
        "memanalyzer_cgroup_limit_bytes",
        "The cgroup's memory limit (memory.max); +Inf when there is none.",
    );
    let limit = container
        .limit
        .map_or_else(|| "+Inf".to_string(), |limit| limit.to_string());
    let _ = writeln!(text, "memanalyzer_cgroup_limit_bytes{{{labels}}} {limit}");
    for (name, help, rows) in [
        (
            "memanalyzer_cgroup_usage_by_kind_bytes",
            "The cgroup's usage by kind; the kinds add up to the usage.",
            &container.rows,
        ),
        (
            "memanalyzer_cgroup_not_in_processes_bytes",
            "Usage no process's PSS accounts for, by kind.",
            &container.outside_processes,
        ),
    ] {
        header(text, name, help);
        for row in rows {
            let _ = writeln!(
                text,
                "{name}{{{labels},kind=\"{}\"}} {}",
                row.key, row.bytes
            );
        }
    }
    let events = container.events;
    let counts = [
        ("high", events.high),
        ("max", events.max),
        ("oom", events.oom),
        ("oom_kill", events.oom_kill),
    ];
    if counts.iter().any(|(_, count)| count.is_some()) {
        counter_header(
            text,
            "memanalyzer_cgroup_memory_events_total",
            "The cgroup's memory events (memory.events): high, max, oom, oom_kill.",
        );
        for (event, count) in counts {
            if let Some(count) = count {
                let _ = writeln!(
                    text,
                    "memanalyzer_cgroup_memory_events_total{{{labels},event=\"{event}\"}} {count}"
                );
            }
        }
    }
    if let Some(pressure) = container.pressure {
        counter_header(
            text,
            "memanalyzer_cgroup_memory_stalled_seconds_total",
            "Time the cgroup's tasks stalled on memory (memory.pressure): some or all of them.",
        );
        for (kind, stall) in [("some", pressure.some), ("full", pressure.full)] {
            let _ = writeln!(
                text,
                "memanalyzer_cgroup_memory_stalled_seconds_total{{{labels},kind=\"{kind}\"}} {:.6}",
                stall.total_us as f64 / 1e6
            );
        }
    }
    header(
        text,
        "memanalyzer_cgroup_process_oom_score",
        "oom_score of each process in the cgroup: the OOM killer kills the highest first.",
    );
    for member in &container.members {
        if let Some(score) = member.oom_score {
            let _ = writeln!(
                text,
                "memanalyzer_cgroup_process_oom_score{{cgroup=\"{}\",pid=\"{}\",comm=\"{}\"}} {score}",
                label_value(&container.path),
                member.pid,
                label_value(member.comm.as_deref().unwrap_or(b"?"))
            );
        }
    }
}

/// What the runtimes' own accounting says, and the resident memory of the matching category.
fn accounting_metrics(text: &mut String, process_labels: &str, accounting: &[Accounting]) {
    let rows: Vec<(&Accounting, &AccountingRow)> = accounting
        .iter()
        .flat_map(|accounting| {
            let rows = accounting.rows.as_deref().unwrap_or_default();
            rows.iter().map(move |row| (accounting, row))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    header(
        text,
        "memanalyzer_runtime_accounting_bytes",
        "A figure of the runtime's own accounting (e.g. the JVM's PerfData counters).",
    );
    for (accounting, row) in &rows {
        let _ = writeln!(
            text,
            "memanalyzer_runtime_accounting_bytes{{{process_labels},runtime=\"{}\",figure=\"{}\"}} {}",
            accounting.runtime, row.key, row.runtime_bytes
        );
    }
    let beyond: Vec<&(&Accounting, &AccountingRow)> = rows
        .iter()
        .filter(|(_, row)| row.beyond_resident > 0)
        .collect();
    if !beyond.is_empty() {
        header(
            text,
            "memanalyzer_runtime_accounting_not_resident_bytes",
            "What the runtime counts for a figure beyond what smaps shows resident for it \
             (only figures with such a part).",
        );
        for (accounting, row) in beyond {
            let _ = writeln!(
                text,
                "memanalyzer_runtime_accounting_not_resident_bytes{{{process_labels},runtime=\"{}\",figure=\"{}\"}} {}",
                accounting.runtime, row.key, row.beyond_resident
            );
        }
    }
    allocation_site_metrics(text, process_labels, accounting);
}

/// A heap profile's top allocation sites (at most [`crate::TOP_ALLOCATION_SITES`] per
/// profile, so the series stay few): live bytes and objects by function and source line.
fn allocation_site_metrics(text: &mut String, process_labels: &str, accounting: &[Accounting]) {
    let sites: Vec<(&Accounting, &AllocationSite)> = accounting
        .iter()
        .flat_map(|accounting| accounting.sites.iter().map(move |site| (accounting, site)))
        .collect();
    if sites.is_empty() {
        return;
    }
    type Figure = fn(&AllocationSite) -> u64;
    let families: [(&str, &str, Figure); 2] = [
        (
            "memanalyzer_runtime_allocation_site_bytes",
            "Live bytes allocated at one of the heap profile's top allocation sites (inuse_space).",
            |site| site.inuse_space,
        ),
        (
            "memanalyzer_runtime_allocation_site_objects",
            "Live objects allocated at one of the heap profile's top allocation sites \
             (inuse_objects).",
            |site| site.inuse_objects,
        ),
    ];
    for (name, help, figure) in families {
        header(text, name, help);
        for (accounting, site) in &sites {
            let place = match (&site.file, site.line) {
                (Some(file), Some(line)) => format!("{file}:{line}"),
                (Some(file), None) => file.clone(),
                (None, _) => String::new(),
            };
            let _ = writeln!(
                text,
                "{name}{{{process_labels},runtime=\"{}\",function=\"{}\",location=\"{}\"}} {}",
                accounting.runtime,
                escape_label(&site.function),
                escape_label(&place),
                figure(site)
            );
        }
    }
}

/// `-ps -cgroup`: each cgroup's figures, labelled with its path.
fn cgroup_group_metrics(text: &mut String, list: &ProcessList) {
    type Figure = fn(&CgroupFigures) -> Option<u64>;
    let families: [(&str, &str, Figure); 3] = [
        (
            "memanalyzer_cgroup_usage_bytes",
            "Memory charged to the cgroup (memory.current).",
            |figures| Some(figures.usage),
        ),
        (
            "memanalyzer_cgroup_working_set_bytes",
            "The cgroup's working set as kubectl top shows it.",
            |figures| Some(figures.working_set),
        ),
        (
            "memanalyzer_cgroup_limit_bytes",
            "The cgroup's memory limit (memory.max); absent when there is none.",
            |figures| figures.limit,
        ),
    ];
    for (name, help, value) in families {
        let mut lines = String::new();
        for group in &list.cgroups {
            if let Some(value) = group.figures.as_ref().ok().and_then(value) {
                let _ = writeln!(
                    lines,
                    "{name}{{cgroup=\"{}\"}} {value}",
                    label_value(&group.path)
                );
            }
        }
        if !lines.is_empty() {
            header(text, name, help);
            text.push_str(&lines);
        }
    }
}

fn counter_header(text: &mut String, name: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter");
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
