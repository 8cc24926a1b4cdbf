//! The default text output: a contract for scripts. Labels match the original Go tool, one
//! record per line, whitespace-separated, numbers in whole MiB written `MB`, no colour unless the
//! caller asked for it (a terminal without NO_COLOR).

use std::io::{self, Write};

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};
use owo_colors::OwoColorize;

use super::escape::{for_terminal, push_for_terminal, terminal_width};
use super::{Render, TextStyle, Unit};
use crate::classify::DELETED_SUFFIX;
use crate::container::{Container, OomVerdict, UsageRow};
use crate::input::ps::{ProcessList, ProcessRow};
use crate::reconcile::{Accounting, AllocationSite};
use crate::report::{CategoryId, Evidence, Listing, RegionList, RegionRef, Report, SectionId};
use crate::runtime::NATIVE_KEY;

pub(crate) struct TextRenderer {
    pub style: TextStyle,
}

/// After the number on a category line some of whose regions were placed by layout rather than
/// by name. After the number, so `awk '{print $2}'` still finds it; never on Totals lines.
const INFERRED_MARK: &str = " *";
/// Printed under the breakdown when a line carries [`INFERRED_MARK`].
const INFERRED_LEGEND: &str =
    "* partly or wholly inferred from layout (addresses, sizes, neighbours), not from names";
/// The label of the unexplained share's line.
const UNEXPLAINED_LABEL: &str = "Unexplained:";
/// Printed with the next step when the kernel cannot name mappings.
const NO_NAMES_NOTE: &str = "Note: this kernel cannot name anonymous mappings (no \
     CONFIG_ANON_VMA_NAME), so no runtime or program can label its memory here: names from Go \
     1.25+, glibc 2.39+ or prctl(PR_SET_VMA_ANON_NAME) would not show";

/// Sections whose category labels end in `:` in the original tool's output; the others list names.
const COLON_SECTIONS: [SectionId; 2] = [SectionId::Runtime, SectionId::Anonymous];

/// The breakdown and totals, as `Report::breakdown_text` gives them.
pub(crate) fn breakdown(report: &Report) -> String {
    let renderer = TextRenderer {
        style: TextStyle::default(),
    };
    let mut out = Vec::new();
    renderer
        .write_breakdown(report, &mut out)
        .and_then(|()| renderer.write_totals(report, &mut out))
        .expect("writing into a Vec cannot fail");
    String::from_utf8(out).expect("text output is UTF-8")
}

/// The listing of the `count` largest regions, as `Report::top_regions_text` gives it.
pub(crate) fn top_regions(report: &Report, count: usize) -> String {
    let count = count.min(report.regions.len());
    let mut out = Vec::new();
    TextRenderer {
        style: TextStyle::default(),
    }
    .write_region_table(&report.regions, count, Listing::Top(count), &mut out)
    .expect("writing into a Vec cannot fail");
    String::from_utf8(out).expect("text output is UTF-8")
}

impl Render for TextRenderer {
    fn report(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.write_source(report, out)?;
        self.write_breakdown(report, out)?;
        self.write_totals(report, out)?;
        for accounting in &report.accounting {
            self.write_accounting(accounting, out)?;
        }
        if let Some(container) = &report.container {
            self.write_container(container, out)?;
        }
        self.write_region_table(&report.regions, report.regions.len(), report.listing, out)
    }

    fn processes(&self, list: &ProcessList, out: &mut dyn Write) -> io::Result<()> {
        if list.cgroups.is_empty() {
            self.write_process_table(list.processes.iter(), out)?;
        } else {
            self.write_processes_by_cgroup(list, out)?;
        }
        let unit = self.style.unit;
        let total = list.total();
        let readable = list.processes.len() - list.unreadable();
        writeln!(
            out,
            "TOTAL ({}): RSS {} PSS {} USS {} SWAP {}",
            counted(readable, "process", "processes"),
            unit.format(total.rss),
            unit.format(total.pss),
            unit.format(total.uss),
            unit.format(total.swap)
        )?;
        if list.unreadable() > 0 {
            writeln!(
                out,
                "{} could not be read (not in the total): run as their user or as root",
                counted(list.unreadable(), "process", "processes")
            )?;
        }
        if list.others_hidden {
            writeln!(
                out,
                "other users' processes are hidden (/proc is mounted with hidepid=invisible): \
                 run as root to list them"
            )?;
        }
        if list.kernel_threads > 0 {
            writeln!(
                out,
                "{} not listed (no user memory)",
                counted(list.kernel_threads, "kernel thread", "kernel threads")
            )?;
        }
        Ok(())
    }
}

impl TextRenderer {
    fn heading(&self, text: &str) -> String {
        if self.style.color {
            text.bold().cyan().to_string()
        } else {
            text.to_string()
        }
    }

    fn write_source(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let source = &report.source;
        let mut about = Vec::new();
        if let Some(pid) = source.pid {
            about.push(format!("PID {pid}"));
        }
        if let Some(comm) = &source.comm {
            about.push(for_terminal(comm));
        }
        if let Some(exe) = &source.exe {
            about.push(for_terminal(exe));
        }
        let runtime = match report.primary_runtime() {
            Some(runtime) => match &runtime.version {
                Some(version) => format!("runtime {} ({version})", runtime.id.key()),
                None => format!("runtime {}", runtime.id.key()),
            },
            None => format!("runtime {NATIVE_KEY}"),
        };
        about.push(runtime);
        writeln!(
            out,
            "Source: {} ({})",
            for_terminal(source.path.as_os_str().as_encoded_bytes()),
            about.join(", ")
        )?;
        writeln!(out)
    }

    fn write_breakdown(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.heading("=== Complete Memory Breakdown ==="))?;
        let titles: Vec<Vec<String>> = report
            .sections
            .iter()
            .map(|section| {
                section
                    .categories
                    .iter()
                    .map(|category| for_terminal(&category.title()))
                    .collect()
            })
            .collect();
        let label_width = titles
            .iter()
            .flatten()
            .map(|title| title.chars().count() + 1)
            .chain(["Subtotal:".len()])
            .max()
            .unwrap_or(0)
            .max(18);
        let size = |bytes: u64| self.style.unit.format(bytes);
        let value_width = report
            .sections
            .iter()
            .flat_map(|section| {
                std::iter::once(section.subtotal.rss)
                    .chain(section.categories.iter().map(|c| c.amounts.rss))
            })
            .map(|bytes| size(bytes).len())
            .max()
            .unwrap_or(1)
            .max(9);
        let total_rss = report.totals.rss;
        let mut marked = false;
        for (section, titles) in report.sections.iter().zip(&titles) {
            writeln!(out)?;
            writeln!(out, "{}", self.heading(&format!("{}:", section.title)))?;
            let colon = if COLON_SECTIONS.contains(&section.id) {
                ":"
            } else {
                ""
            };
            for (category, title) in section.categories.iter().zip(titles) {
                let label = format!("{title}{colon}");
                let inferred = category.evidence == Evidence::Layout;
                marked |= inferred;
                let line = format!(
                    "  {label:<label_width$} {:>value_width$}{}",
                    size(category.amounts.rss),
                    if inferred { INFERRED_MARK } else { "" }
                );
                // Colour draws the eye to categories holding a quarter or more of the RSS.
                let big = total_rss > 0 && category.amounts.rss.saturating_mul(4) >= total_rss;
                if self.style.color && big {
                    writeln!(out, "{}", line.bold().yellow())?;
                } else {
                    writeln!(out, "{line}")?;
                }
            }
            writeln!(
                out,
                "  {:<label_width$} {:>value_width$}",
                "Subtotal:",
                size(section.subtotal.rss)
            )?;
        }
        writeln!(out)?;
        if marked {
            writeln!(out, "{INFERRED_LEGEND}")?;
        }
        let unexplained = &report.unexplained;
        // Whole percent, rounded down like the sizes: 25% is shown from the large threshold on.
        let percent = u128::from(unexplained.amounts.rss) * 100 / u128::from(total_rss.max(1));
        writeln!(
            out,
            "{:<width$} {:>value_width$}  ({percent}% of RSS)",
            UNEXPLAINED_LABEL,
            size(unexplained.amounts.rss),
            width = label_width + 2,
        )?;
        if let Some(step) = unexplained.next_step {
            match unexplained.next_step_for {
                Some(runtime) => writeln!(out, "Next step ({}): {step}", runtime.name())?,
                None => writeln!(out, "Next step: {step}")?,
            }
            if unexplained.kernel_names_mappings == Some(false) {
                writeln!(out, "{NO_NAMES_NOTE}")?;
            }
        }
        writeln!(out)
    }

    fn write_totals(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let totals = &report.totals;
        writeln!(out, "{}", self.heading("=== Totals ==="))?;
        let lines: [(&str, u64); 8] = [
            ("Virtual Memory:", totals.size),
            ("RSS (Resident):", totals.rss),
            ("PSS (Proportional):", totals.pss),
            ("USS (Private):", totals.private),
            ("Shared:", totals.shared),
            ("Swap:", totals.swap),
            ("SwapPss:", totals.swap_pss),
            ("Hugetlb:", totals.hugetlb),
        ];
        for (label, bytes) in lines {
            let line = format!("{label:<19} {:>9}", self.style.unit.format(bytes));
            if self.style.color && label.starts_with("Swap") && bytes > 0 {
                writeln!(out, "{}", line.red())?;
            } else {
                writeln!(out, "{line}")?;
            }
        }
        writeln!(out, "{:<19} {:>6}", "Regions:", report.region_count)?;
        writeln!(out)
    }

    /// The listing of the `listed` largest regions of `regions`.
    fn write_region_table(
        &self,
        regions: &RegionList,
        listed: usize,
        listing: Listing,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let title = match listing {
            Listing::Top(0) => return Ok(()),
            Listing::Top(limit) => format!("=== Top {limit} Memory Regions ==="),
            Listing::All => format!("=== All Memory Regions ({listed}) ==="),
        };
        writeln!(out, "{}", self.heading(&title))?;
        writeln!(out)?;
        let layout = RowLayout::new(regions, listed, self.style.unit);
        // comfy-table draws the header and the rule under it (from a table of the first row);
        // the rows are laid out here in the same columns, one at a time, so that -all needs no
        // table of every region and no time per row beyond writing it.
        let first = regions.refs().take(listed.min(1));
        for header_line in layout.header_table(first).lines().take(2) {
            writeln!(out, "{}", header_line.trim_end())?;
        }
        // Written in large pieces: the caller's writer may not buffer.
        let mut lines = String::with_capacity(LINES_BUFFER + 1024);
        for region in regions.refs().take(listed) {
            let start = lines.len();
            layout.push_row(&mut lines, &region);
            if self.style.color && region.name.ends_with(DELETED_SUFFIX) {
                // Colouring whole lines keeps the columns exactly as they are without colour.
                let line = lines.split_off(start);
                lines.push_str(&line.red().to_string());
            }
            lines.push('\n');
            if lines.len() >= LINES_BUFFER {
                out.write_all(lines.as_bytes())?;
                lines.clear();
            }
        }
        out.write_all(lines.as_bytes())
    }
}

/// How many bytes of rows the region listing gathers before it writes them.
const LINES_BUFFER: usize = 64 * 1024;

impl TextRenderer {
    /// The process table of `-ps`: one row per process, sizes right-aligned.
    fn write_process_table<'a>(
        &self,
        rows: impl Iterator<Item = &'a ProcessRow>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let unit = self.style.unit;
        let mut table = borderless_table(&[
            "PID", "USER", "COMMAND", "RSS", "PSS", "USS", "SWAP", "STATUS",
        ]);
        for row in rows {
            let (memory, status) = match &row.memory {
                Ok(memory) => (
                    [memory.rss, memory.pss, memory.uss, memory.swap]
                        .map(|bytes| unit.format(bytes)),
                    String::new(),
                ),
                Err(reason) => (
                    std::array::from_fn(|_| "?".to_string()),
                    format!("cannot read: {reason}"),
                ),
            };
            let [rss, pss, uss, swap] = memory;
            let shown =
                |name: &Option<Vec<u8>>| name.as_deref().map_or("?".to_string(), for_terminal);
            table.add_row([
                row.pid.to_string(),
                shown(&row.user),
                shown(&row.command),
                rss,
                pss,
                uss,
                swap,
                status,
            ]);
        }
        for column in 3..=6 {
            if let Some(column) = table.column_mut(column) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        for line in table.lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }

    /// `-ps -cgroup`: a heading with each cgroup's figures, then its processes.
    fn write_processes_by_cgroup(&self, list: &ProcessList, out: &mut dyn Write) -> io::Result<()> {
        let size = |bytes: u64| self.style.unit.format(bytes);
        for group in &list.cgroups {
            let path = if group.path.is_empty() {
                "(unknown)".to_string()
            } else {
                for_terminal(&group.path)
            };
            let figures = match &group.figures {
                Ok(figures) => format!(
                    "limit {}, usage {}, working set {}",
                    figures.limit.map_or_else(|| "none".to_string(), size),
                    size(figures.usage),
                    size(figures.working_set)
                ),
                Err(reason) => format!("figures unavailable: {reason}"),
            };
            writeln!(
                out,
                "{}",
                self.heading(&format!(
                    "=== cgroup {path} ({}; {figures}) ===",
                    counted(group.pids.len(), "process", "processes")
                ))
            )?;
            let rows = list
                .processes
                .iter()
                .filter(|row| group.pids.contains(&row.pid));
            self.write_process_table(rows, out)?;
            writeln!(out)?;
        }
        Ok(())
    }
}

impl TextRenderer {
    /// What the runtime's own accounting says, beside the resident memory of the category that
    /// holds it: `Label  runtime-figure  [category resident]`.
    fn write_accounting(&self, accounting: &Accounting, out: &mut dyn Write) -> io::Result<()> {
        let size = |bytes: u64| self.style.unit.format(bytes);
        let source = if accounting.source.is_empty() {
            String::new()
        } else {
            format!(", {}", for_terminal(&accounting.source))
        };
        writeln!(
            out,
            "{}",
            self.heading(&format!(
                "=== Runtime's Own Accounting ({}{source}) ===",
                accounting.runtime
            ))
        )?;
        match &accounting.rows {
            Err(why) => writeln!(out, "Unavailable: {}", for_terminal(why.as_bytes()))?,
            Ok(rows) => {
                for row in rows {
                    let resident = row.resident.map_or_else(String::new, |(key, bytes)| {
                        format!("   resident {} ({key})", size(bytes))
                    });
                    writeln!(
                        out,
                        "  {:<52} {:>9}{resident}{}",
                        row.label,
                        size(row.runtime_bytes),
                        not_resident(row.beyond_resident, &size)
                    )?;
                }
            }
        }
        self.write_allocation_sites(&accounting.sites, out)?;
        for note in &accounting.notes {
            writeln!(out, "  Note: {}", for_terminal(note.as_bytes()))?;
        }
        writeln!(out)
    }
}

/// `   not resident SIZE` after a row whose runtime figure is larger than what smaps shows
/// resident for it (the row shows the resident part); nothing when it is not.
fn not_resident(bytes: u64, size: &dyn Fn(u64) -> String) -> String {
    if bytes == 0 {
        String::new()
    } else {
        format!("   not resident {}", size(bytes))
    }
}

impl TextRenderer {
    /// The top allocation sites of a heap profile, one per line, largest first:
    /// `Allocation site: SIZE N objects FUNCTION FILE:LINE` (the place last: a path may hold
    /// blanks).
    fn write_allocation_sites(
        &self,
        sites: &[AllocationSite],
        out: &mut dyn Write,
    ) -> io::Result<()> {
        for site in sites {
            let place = match (&site.file, site.line) {
                (Some(file), Some(line)) => format!("  {}:{line}", for_terminal(file.as_bytes())),
                (Some(file), None) => format!("  {}", for_terminal(file.as_bytes())),
                (None, _) => String::new(),
            };
            writeln!(
                out,
                "  Allocation site: {:>9} {:>9} objects  {}{place}",
                self.style.unit.format(site.inuse_space),
                site.inuse_objects,
                for_terminal(site.function.as_bytes())
            )?;
        }
        Ok(())
    }
}

impl TextRenderer {
    /// The Container section (`-cgroup`): one record per line, `Label: value`, sizes in the
    /// chosen unit, so `grep "Working Set" | awk '{print $3}'` works like the Totals.
    fn write_container(&self, container: &Container, out: &mut dyn Write) -> io::Result<()> {
        let size = |bytes: u64| self.style.unit.format(bytes);
        let limit = |limit: Option<u64>| limit.map_or_else(|| "none".to_string(), size);
        writeln!(
            out,
            "{}",
            self.heading(&format!(
                "=== Container (cgroup {}) ===",
                container.version.key()
            ))
        )?;
        writeln!(out, "{:<22} {}", "Cgroup:", for_terminal(&container.path))?;
        if container.is_root {
            writeln!(
                out,
                "{:<22} the root cgroup: no container limit, only the node's memory",
                "Note:"
            )?;
        }
        let lines = [
            ("Limit:", limit(container.limit)),
            ("High:", limit(container.high)),
            ("Usage:", size(container.usage)),
            ("Working Set:", size(container.working_set)),
            (
                "Headroom:",
                container
                    .headroom()
                    .map_or_else(|| "unlimited".to_string(), size),
            ),
            ("Reclaimable:", size(container.reclaimable)),
            (
                "Peak:",
                container.peak.map_or_else(|| "unknown".to_string(), size),
            ),
        ];
        for (label, value) in lines {
            writeln!(out, "{label:<22} {value:>9}")?;
        }
        if let Some(swap) = container.swap {
            writeln!(
                out,
                "{:<22} {:>9} (limit {})",
                "Swap:",
                size(swap.current),
                limit(swap.max)
            )?;
        }
        let events = container.events;
        let count = |value: Option<u64>| value.map_or_else(|| "-".to_string(), |v| v.to_string());
        writeln!(
            out,
            "{:<22} high {} max {} oom {} oom_kill {}",
            "Events:",
            count(events.high),
            count(events.max),
            count(events.oom),
            count(events.oom_kill)
        )?;
        if let Some(pressure) = container.pressure {
            writeln!(
                out,
                "{:<22} some {:.2}% {:.2}% {:.2}% full {:.2}% {:.2}% {:.2}% (avg10 avg60 avg300)",
                "Pressure:",
                pressure.some.avg10,
                pressure.some.avg60,
                pressure.some.avg300,
                pressure.full.avg10,
                pressure.full.avg60,
                pressure.full.avg300
            )?;
        }
        writeln!(out)?;
        writeln!(out, "{}", self.heading("Usage by kind:"))?;
        self.write_usage_rows(&container.rows, "Total (usage):", container.usage, out)?;
        if let Some(sockets) = container.sockets_outside_usage {
            writeln!(
                out,
                "  {:<40} {:>9} (cgroup v1 counts them apart from usage)",
                "Socket buffers (kmem.tcp):",
                size(sockets)
            )?;
        }
        writeln!(out)?;
        let readable = container
            .members
            .iter()
            .filter(|member| member.memory.is_ok())
            .count();
        writeln!(
            out,
            "{}",
            self.heading(&format!(
                "Processes ({readable} of {} readable):",
                container.members.len()
            ))
        )?;
        let mut table = borderless_table(&["PID", "COMMAND", "RSS", "PSS", "OOM_SCORE", "OOM_ADJ"]);
        for member in &container.members {
            let (rss, pss) = match &member.memory {
                Ok(memory) => (size(memory.rss), size(memory.pss)),
                Err(_) => ("?".to_string(), "?".to_string()),
            };
            let number =
                |value: Option<i64>| value.map_or_else(|| "?".to_string(), |v| v.to_string());
            table.add_row([
                member.pid.to_string(),
                member
                    .comm
                    .as_deref()
                    .map_or_else(|| "?".to_string(), for_terminal),
                rss,
                pss,
                number(member.oom_score),
                number(member.oom_score_adj),
            ]);
        }
        for column in 2..=5 {
            if let Some(column) = table.column_mut(column) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        for line in table.lines() {
            writeln!(out, "  {}", line.trim_end())?;
        }
        writeln!(
            out,
            "  {:<40} {:>9}",
            "Sum of PSS:",
            size(container.members_pss())
        )?;
        writeln!(out)?;
        writeln!(out, "{}", self.heading("Not accounted to any process:"))?;
        let outside: u64 = container
            .outside_processes
            .iter()
            .map(|row| row.bytes)
            .sum();
        self.write_usage_rows(
            &container.outside_processes,
            "Total (usage - PSS):",
            outside,
            out,
        )?;
        writeln!(out)?;
        let verdict = match container.oom_verdict() {
            OomVerdict::WholeGroup => {
                "memory.oom.group is set: every process of the cgroup is killed together"
                    .to_string()
            }
            OomVerdict::Kills {
                pid,
                comm,
                oom_score,
            } => format!(
                "the OOM killer would kill PID {pid} ({}) first, oom_score {oom_score}",
                comm.as_deref()
                    .map_or_else(|| "?".to_string(), for_terminal)
            ),
            OomVerdict::NoCandidate => {
                "no process the OOM killer may kill (all protected or unreadable)".to_string()
            }
        };
        let when = match container.headroom() {
            Some(headroom) => format!("at the limit ({} left)", size(headroom)),
            None => "if the node runs out of memory".to_string(),
        };
        writeln!(out, "{:<22} {when}, {verdict}", "OOM:")?;
        writeln!(out)
    }

    fn write_usage_rows(
        &self,
        rows: &[UsageRow],
        total_label: &str,
        total: u64,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let size = |bytes: u64| self.style.unit.format(bytes);
        for row in rows {
            writeln!(out, "  {:<40} {:>9}", row.label, size(row.bytes))?;
        }
        writeln!(out, "  {total_label:<40} {:>9}", size(total))
    }
}

/// The columns of the region table whose cells are right-aligned (the sizes).
const RIGHT_ALIGNED: std::ops::RangeInclusive<usize> = 2..=4;

const HEADERS: [&str; 7] = [
    "ADDRESS", "PERMS", "RSS", "PRIVATE", "SHARED", "CATEGORY", "NAME",
];

/// The cells of one region's row, as strings: what comfy-table lays out for the header.
fn row_cells(region: &RegionRef<'_>, unit: Unit) -> [String; 7] {
    [
        format!("{:x}", region.start),
        region.perms.to_string(),
        unit.format(region.amounts.rss),
        unit.format(region.amounts.private),
        unit.format(region.amounts.shared),
        category_cell(region.category, region.evidence),
        display_name(region.name),
    ]
}

/// A region's category as one word: the category's stable key (`go.heap`, `anon.rw`), or
/// `named` for a group the program named (its name is in the NAME column), followed by `*`
/// when the region was placed by layout rather than by name.
fn category_cell(category: &CategoryId, evidence: Evidence) -> String {
    let key = match category.named_key() {
        Some(_) => "named".into(),
        None => category.key(),
    };
    if evidence == Evidence::Layout {
        format!("{key}*")
    } else {
        key.to_string()
    }
}

/// The columns of the region listing, and the rows written into them without a cell string
/// per row: the listing of every region writes a million rows.
struct RowLayout {
    unit: Unit,
    /// The widest cell of each column over the rows listed and the header, in characters.
    widths: [usize; 7],
    /// The CATEGORY cell of each of the list's categories, by index, and its width.
    categories: Vec<(String, usize)>,
}

impl RowLayout {
    fn new(regions: &RegionList, listed: usize, unit: Unit) -> RowLayout {
        let categories: Vec<(String, usize)> = regions
            .categories()
            .iter()
            .map(|(category, evidence)| {
                let cell = category_cell(category, *evidence);
                let width = cell.chars().count();
                (cell, width)
            })
            .collect();
        let mut widths = HEADERS.map(str::len);
        for region in regions.refs().take(listed) {
            let amounts = &region.amounts;
            let row = [
                hex_digits(region.start),
                region.perms.as_str().len(),
                unit.width(amounts.rss),
                unit.width(amounts.private),
                unit.width(amounts.shared),
                categories[region.category_index].1,
                if region.name.is_empty() {
                    ANONYMOUS.len()
                } else {
                    terminal_width(region.name)
                },
            ];
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell);
            }
        }
        RowLayout {
            unit,
            widths,
            categories,
        }
    }

    /// One row, as comfy-table lays out [`RowLayout::header_table`]'s rows: each column padded
    /// to its width (sizes on the right), one space of padding inside every column but the
    /// first's left, a space between columns, trailing spaces trimmed. Appended to `line`.
    fn push_row(&self, line: &mut String, region: &RegionRef<'_>) {
        let start = line.len();
        let widths = &self.widths;
        let fill = |line: &mut String, column: usize, width: usize| {
            push_spaces(line, widths[column].saturating_sub(width));
        };
        // ADDRESS, left-aligned, without left padding.
        push_hex(line, region.start);
        fill(line, 0, hex_digits(region.start));
        // Then each column: the separator, the left padding, the cell, the right padding.
        line.push_str("   ");
        let perms = region.perms.as_str();
        line.push_str(perms);
        fill(line, 1, perms.len());
        let amounts = &region.amounts;
        for (column, bytes) in [(2, amounts.rss), (3, amounts.private), (4, amounts.shared)] {
            line.push_str("   ");
            fill(line, column, self.unit.width(bytes));
            self.unit.push(line, bytes);
        }
        line.push_str("   ");
        let (category, width) = &self.categories[region.category_index];
        line.push_str(category);
        fill(line, 5, *width);
        line.push_str("   ");
        push_name(line, region.name);
        line.truncate(start + line[start..].trim_end().len());
    }

    /// The region listing's header and the dashed rule under it: borderless, numbers
    /// right-aligned, columns of the layout's widths (`regions`: rows to lay out with it).
    fn header_table<'a>(&self, regions: impl Iterator<Item = RegionRef<'a>>) -> Table {
        let mut table = borderless_table(&HEADERS);
        for region in regions {
            table.add_row(row_cells(&region, self.unit));
        }
        for (index, width) in self.widths.iter().enumerate() {
            let Some(column) = table.column_mut(index) else {
                continue;
            };
            let padding = if index == 0 { (0, 1) } else { (1, 1) };
            column.set_padding(padding);
            let total = width + usize::from(padding.0 + padding.1);
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
                u16::try_from(total).unwrap_or(u16::MAX),
            )));
            if RIGHT_ALIGNED.contains(&index) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        table
    }
}

/// The number of hexadecimal digits of `number` (1 for 0).
fn hex_digits(number: u64) -> usize {
    (64 - number.leading_zeros() as usize).div_ceil(4).max(1)
}

/// `number` in lowercase hexadecimal, as `{:x}` writes it.
fn push_hex(line: &mut String, number: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 16];
    let count = hex_digits(number);
    for (at, digit) in text[..count].iter_mut().rev().enumerate() {
        *digit = DIGITS[(number >> (at * 4)) as usize & 0xf];
    }
    line.push_str(std::str::from_utf8(&text[..count]).expect("hex digits"));
}

/// `count` spaces, appended a slice at a time (a row pads six columns).
fn push_spaces(line: &mut String, mut count: usize) {
    const SPACES: &str = "                                                                ";
    while count > 0 {
        let piece = count.min(SPACES.len());
        line.push_str(&SPACES[..piece]);
        count -= piece;
    }
}

/// What an unnamed region's NAME cell shows.
const ANONYMOUS: &str = "[anonymous]";

/// [`display_name`], appended to `line`.
fn push_name(line: &mut String, name: &[u8]) {
    if name.is_empty() {
        line.push_str(ANONYMOUS);
    } else {
        push_for_terminal(line, name);
    }
}

/// `1 process`, `2 processes`.
fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// A table for pipes and awk: no borders, a dashed rule under the header (if any), no wrapping.
fn borderless_table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    // Only the header rule (`-`) is drawn; the preset's positions are comfy-table's documented order.
    table
        .load_preset("     --            ")
        .set_content_arrangement(ContentArrangement::Disabled);
    if !headers.is_empty() {
        table.set_header(headers.to_vec());
    }
    table
}

/// A region's name for a terminal: escaped, and `[anonymous]` for unnamed memory.
fn display_name(name: &[u8]) -> String {
    let mut shown = String::new();
    push_name(&mut shown, name);
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::generic::ANON_READ_WRITE;
    use crate::report::{Amounts, CategoryId, Evidence, RegionRow, Source};
    use crate::smaps::Perms;

    fn rows(count: u64) -> Vec<RegionRow> {
        (0..count)
            .map(|index| RegionRow {
                start: 0x7f00_0000_0000 + index * 0x1000,
                end: 0x7f00_0000_1000 + index * 0x1000,
                perms: Perms::parse(b"rw-p").unwrap(),
                offset: 0,
                inode: 0,
                // Names and sizes of different widths far apart in the listing.
                name: if index % 1500 == 0 {
                    b"/a/very/long/path/name.so".to_vec()
                } else {
                    Vec::new()
                },
                category: CategoryId::known(&ANON_READ_WRITE),
                evidence: Evidence::Layout,
                amounts: Amounts {
                    rss: (count - index) * 1024 * 1024,
                    ..Amounts::default()
                },
            })
            .collect()
    }

    fn report_with_regions(count: u64) -> Report {
        report_listing(rows(count))
    }

    fn report_listing(rows: Vec<RegionRow>) -> Report {
        let count = rows.len() as u64;
        let regions = rows.into_iter().collect();
        Report {
            source: Source {
                pid: None,
                path: "-".into(),
                exe: None,
                comm: None,
            },
            runtimes: Vec::new(),
            totals: Amounts::default(),
            region_count: count,
            sections: Vec::new(),
            unexplained: crate::report::Unexplained {
                amounts: Amounts::default(),
                large: false,
                next_step: None,
                next_step_for: None,
                kernel_names_mappings: None,
            },
            listing: Listing::All,
            regions,
            warnings: Vec::new(),
            duration: std::time::Duration::ZERO,
            container: None,
            accounting: Vec::new(),
            groups: None,
        }
    }

    #[test]
    fn columns_line_up_over_every_row() {
        let report = report_with_regions(3000);
        let mut out = Vec::new();
        TextRenderer {
            style: TextStyle::default(),
        }
        .report(&report, &mut out)
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let table: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.starts_with("ADDRESS"))
            .collect();
        assert_eq!(table.len(), 3000 + 2);
        let name_column = table[0].find("NAME").unwrap();
        for line in &table[2..] {
            let name = if line.ends_with("]") {
                "[anonymous]"
            } else {
                "/a/very"
            };
            assert_eq!(line.find(name), Some(name_column), "{line}");
        }
    }

    #[test]
    fn rows_are_laid_out_as_comfy_table_lays_them_out() {
        let mut rows = rows(40);
        rows[3].name = "/a name/with spaces and ünïcode".into();
        rows[4].name = b"bad\xff\x1b[31m name  ".to_vec();
        rows[5].evidence = Evidence::Name;
        rows[6].category = CategoryId::named(b"TNC-*".to_vec().into());
        rows[6].amounts.private = 3 << 30;
        rows[7].start = 0;
        let regions: RegionList = rows.into_iter().collect();
        for unit in Unit::ALL {
            let layout = RowLayout::new(&regions, regions.len(), unit);
            let table = layout.header_table(regions.refs());
            let mut line = String::new();
            for (expected, region) in table.lines().skip(2).zip(regions.refs()) {
                line.clear();
                layout.push_row(&mut line, &region);
                assert_eq!(line, expected.trim_end());
            }
        }
    }

    #[test]
    fn top_regions_text_lists_at_most_what_the_report_holds() {
        let report = report_with_regions(30);
        let text = top_regions(&report, 5);
        assert!(text.starts_with("=== Top 5 Memory Regions ==="), "{text}");
        assert_eq!(text.lines().count(), 2 + 2 + 5);
        assert_eq!(top_regions(&report, 100).lines().count(), 2 + 2 + 30);
    }
}
