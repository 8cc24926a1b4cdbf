//! The default text output: a contract for scripts. Labels match the original Go tool, one
//! record per line, whitespace-separated, numbers in whole MiB written `MB`, no colour unless the
//! caller asked for it (a terminal without NO_COLOR).

use std::io::{self, Write};

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};
use owo_colors::OwoColorize;

use super::escape::for_terminal;
use super::{Render, TextStyle, Unit};
use crate::classify::DELETED_SUFFIX;
use crate::input::ps::ProcessList;
use crate::report::{Listing, RegionRow, Report, SectionId};
use crate::runtime::NATIVE_KEY;

pub(crate) struct TextRenderer {
    pub style: TextStyle,
}

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
    .write_region_table(&report.regions[..count], Listing::Top(count), &mut out)
    .expect("writing into a Vec cannot fail");
    String::from_utf8(out).expect("text output is UTF-8")
}

impl Render for TextRenderer {
    fn report(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.write_source(report, out)?;
        self.write_breakdown(report, out)?;
        self.write_totals(report, out)?;
        self.write_region_table(&report.regions, report.listing, out)
    }

    fn processes(&self, list: &ProcessList, out: &mut dyn Write) -> io::Result<()> {
        let unit = self.style.unit;
        let mut table = borderless_table(&[
            "PID", "USER", "COMMAND", "RSS", "PSS", "USS", "SWAP", "STATUS",
        ]);
        for row in &list.processes {
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
                let line = format!(
                    "  {label:<label_width$} {:>value_width$}",
                    size(category.amounts.rss)
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

    fn write_region_table(
        &self,
        regions: &[RegionRow],
        listing: Listing,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let title = match listing {
            Listing::Top(0) => return Ok(()),
            Listing::Top(limit) => format!("=== Top {limit} Memory Regions ==="),
            Listing::All => format!("=== All Memory Regions ({}) ===", regions.len()),
        };
        writeln!(out, "{}", self.heading(&title))?;
        writeln!(out)?;
        let unit = self.style.unit;
        let widths = column_widths(regions, unit);
        // Rendered in chunks so memory stays small with -all; every chunk gets the same column
        // widths, so the columns line up as in one table.
        let mut chunks = regions.chunks(TABLE_CHUNK_ROWS);
        let first = chunks.next().unwrap_or_default();
        let table = region_table(first, unit, &widths, true);
        let mut lines = table.lines();
        for header_line in lines.by_ref().take(2) {
            writeln!(out, "{}", header_line.trim_end())?;
        }
        self.write_rows(lines, first, out)?;
        for chunk in chunks {
            self.write_rows(
                region_table(chunk, unit, &widths, false).lines(),
                chunk,
                out,
            )?;
        }
        Ok(())
    }

    fn write_rows(
        &self,
        lines: impl Iterator<Item = String>,
        regions: &[RegionRow],
        out: &mut dyn Write,
    ) -> io::Result<()> {
        for (line, region) in lines.zip(regions) {
            let line = line.trim_end();
            if self.style.color && region.name.ends_with(DELETED_SUFFIX) {
                // Colouring whole lines keeps the columns exactly as they are without colour.
                writeln!(out, "{}", line.red())?;
            } else {
                writeln!(out, "{line}")?;
            }
        }
        Ok(())
    }
}

/// Rows per comfy-table when listing regions.
const TABLE_CHUNK_ROWS: usize = 1024;
const HEADERS: [&str; 6] = ["ADDRESS", "PERMS", "RSS", "PRIVATE", "SHARED", "NAME"];

/// The cells of one region's row.
fn row_cells(region: &RegionRow, unit: Unit) -> [String; 6] {
    [
        format!("{:x}", region.start),
        region.perms.to_string(),
        unit.format(region.amounts.rss),
        unit.format(region.amounts.private),
        unit.format(region.amounts.shared),
        display_name(&region.name),
    ]
}

/// The widest cell of each column over all rows and the header.
fn column_widths(regions: &[RegionRow], unit: Unit) -> [usize; 6] {
    let mut widths = HEADERS.map(str::len);
    for region in regions {
        for (width, cell) in widths.iter_mut().zip(row_cells(region, unit)) {
            *width = (*width).max(cell.chars().count());
        }
    }
    widths
}

/// Part of the region listing: borderless, a dashed rule under the header, numbers right-aligned.
fn region_table(
    regions: &[RegionRow],
    unit: Unit,
    widths: &[usize; 6],
    with_header: bool,
) -> Table {
    let mut table = if with_header {
        borderless_table(&HEADERS)
    } else {
        borderless_table(&[])
    };
    for region in regions {
        table.add_row(row_cells(region, unit));
    }
    for (index, width) in widths.iter().enumerate() {
        let Some(column) = table.column_mut(index) else {
            continue;
        };
        let padding = if index == 0 { (0, 1) } else { (1, 1) };
        column.set_padding(padding);
        let total = width + usize::from(padding.0 + padding.1);
        column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
            u16::try_from(total).unwrap_or(u16::MAX),
        )));
        if (2..=4).contains(&index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
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
    if name.is_empty() {
        "[anonymous]".to_string()
    } else {
        for_terminal(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::generic::ANON_READ_WRITE;
    use crate::report::{Amounts, CategoryId, Evidence, Source};
    use crate::smaps::Perms;

    fn report_with_regions(count: u64) -> Report {
        let regions = (0..count)
            .map(|index| RegionRow {
                start: 0x7f00_0000_0000 + index * 0x1000,
                end: 0x7f00_0000_1000 + index * 0x1000,
                perms: Perms::parse(b"rw-p").unwrap(),
                offset: 0,
                inode: 0,
                // Names and sizes of different widths in different chunks.
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
            .collect();
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
            listing: Listing::All,
            regions,
            warnings: Vec::new(),
            duration: std::time::Duration::ZERO,
            groups: None,
        }
    }

    #[test]
    fn columns_line_up_across_chunks() {
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
    fn top_regions_text_lists_at_most_what_the_report_holds() {
        let report = report_with_regions(30);
        let text = top_regions(&report, 5);
        assert!(text.starts_with("=== Top 5 Memory Regions ==="), "{text}");
        assert_eq!(text.lines().count(), 2 + 2 + 5);
        assert_eq!(top_regions(&report, 100).lines().count(), 2 + 2 + 30);
    }
}
