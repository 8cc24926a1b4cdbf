//! The default text output: a contract for scripts. Labels match the original Go tool, one
//! record per line, whitespace-separated, numbers in whole MiB written `MB`, no colour unless the
//! caller asked for it (a terminal without NO_COLOR).

use std::io::{self, Write};

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};
use owo_colors::OwoColorize;

use super::{Renderer, TextStyle, Unit};
use crate::classify::DELETED_SUFFIX;
use crate::escape::escape_bytes;
use crate::ps::ProcessList;
use crate::report::{Listing, RegionRow, Report};

pub struct TextRenderer {
    pub style: TextStyle,
}

/// Sections whose category labels end in `:` in the original tool's output; the others list names.
const COLON_SECTIONS: [&str; 3] = ["Go Runtime", "Native Runtime", "Anonymous Memory"];

impl Renderer for TextRenderer {
    fn render(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.write_source(report, out)?;
        self.write_breakdown(report, out)?;
        self.write_totals(report, out)?;
        self.write_regions(report, out)
    }

    fn render_processes(&self, list: &ProcessList, out: &mut dyn Write) -> io::Result<()> {
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
            table.add_row([
                row.pid.to_string(),
                row.user.clone(),
                row.command.clone(),
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
            about.push(escape_bytes(comm.as_bytes()));
        }
        if let Some(exe) = &source.exe {
            about.push(escape_bytes(exe.as_bytes()));
        }
        let runtime = match (&source.go_version, source.runtime) {
            (Some(version), _) => format!("runtime go ({version})"),
            (None, runtime) => format!("runtime {}", runtime.as_str()),
        };
        about.push(runtime);
        writeln!(
            out,
            "Source: {} ({})",
            escape_bytes(source.path.as_bytes()),
            about.join(", ")
        )?;
        writeln!(out)
    }

    fn write_breakdown(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.heading("=== Complete Memory Breakdown ==="))?;
        let label_width = report
            .sections
            .iter()
            .flat_map(|section| {
                section
                    .categories
                    .iter()
                    .map(|category| category.name.chars().count() + 1)
            })
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
        for section in &report.sections {
            writeln!(out)?;
            writeln!(out, "{}", self.heading(&format!("{}:", section.name)))?;
            let colon = if COLON_SECTIONS.contains(&section.name.as_str()) {
                ":"
            } else {
                ""
            };
            for category in &section.categories {
                let label = format!("{}{colon}", category.name);
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

    fn write_regions(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let title = match report.listing {
            Listing::Top(0) => return Ok(()),
            Listing::Top(limit) => format!("=== Top {limit} Memory Regions ==="),
            Listing::All => format!("=== All Memory Regions ({}) ===", report.regions.len()),
        };
        writeln!(out, "{}", self.heading(&title))?;
        writeln!(out)?;
        let unit = self.style.unit;
        let widths = column_widths(&report.regions, unit);
        // Rendered in chunks so memory stays small with -all; every chunk gets the same column
        // widths, so the columns line up as in one table.
        let mut chunks = report.regions.chunks(TABLE_CHUNK_ROWS);
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
pub fn display_name(name: &[u8]) -> String {
    if name.is_empty() {
        "[anonymous]".to_string()
    } else {
        escape_bytes(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Perms;
    use crate::report::{Amounts, Runtime, SourceInfo};
    use std::rc::Rc;

    fn report_with_regions(count: u64) -> Report {
        let regions = (0..count)
            .map(|index| RegionRow {
                start: 0x7f00_0000_0000 + index * 0x1000,
                end: 0x7f00_0000_1000 + index * 0x1000,
                perms: Perms(*b"rw-p"),
                // Names and sizes of different widths in different chunks.
                name: if index % 1500 == 0 {
                    b"/a/very/long/path/name.so".to_vec()
                } else {
                    Vec::new()
                },
                section: "Anonymous Memory",
                category: Rc::from("Read-Write"),
                amounts: Amounts {
                    rss: (count - index) * 1024 * 1024,
                    ..Amounts::default()
                },
            })
            .collect();
        Report {
            source: SourceInfo {
                pid: None,
                path: "-".to_string(),
                exe: None,
                comm: None,
                runtime: Runtime::Native,
                go_version: None,
            },
            totals: Amounts::default(),
            region_count: count,
            sections: Vec::new(),
            listing: Listing::All,
            regions,
            warnings: Vec::new(),
            duration: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn columns_line_up_across_chunks() {
        let report = report_with_regions(3000);
        let mut out = Vec::new();
        TextRenderer {
            style: TextStyle::default(),
        }
        .render(&report, &mut out)
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
}
