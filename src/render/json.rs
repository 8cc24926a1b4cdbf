//! `-format json`: one object, schema version 1, exact byte counts, names escaped so that the
//! output is always valid JSON. The schema is documented in the README.

use std::io::{self, Write};

use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use super::Renderer;
use crate::escape::lossless_utf8;
use crate::ps::ProcessList;
use crate::report::{CategoryReport, Listing, RegionRow, Report};

pub struct JsonRenderer;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    source: Source<'a>,
    totals: Totals,
    sections: Vec<Section<'a>>,
    listing: &'static str,
    top_regions: Regions<'a>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct Source<'a> {
    pid: Option<i32>,
    path: &'a str,
    exe: Option<&'a str>,
    comm: Option<&'a str>,
    runtime: &'static str,
    go_version: Option<&'a str>,
}

#[derive(Serialize)]
struct Totals {
    size_bytes: u64,
    rss_bytes: u64,
    pss_bytes: u64,
    private_bytes: u64,
    shared_bytes: u64,
    swap_bytes: u64,
    swap_pss_bytes: u64,
    hugetlb_bytes: u64,
    regions: u64,
}

#[derive(Serialize)]
struct Section<'a> {
    name: &'a str,
    rss_bytes: u64,
    categories: Vec<Category<'a>>,
}

#[derive(Serialize)]
struct Category<'a> {
    name: &'a str,
    label: &'a str,
    regions: u64,
    size_bytes: u64,
    rss_bytes: u64,
    pss_bytes: u64,
    private_bytes: u64,
    shared_bytes: u64,
    swap_bytes: u64,
}

#[derive(Serialize)]
struct Region<'a> {
    start: String,
    end: String,
    perms: &'a str,
    name: String,
    section: &'a str,
    category: &'a str,
    size_bytes: u64,
    rss_bytes: u64,
    pss_bytes: u64,
    private_bytes: u64,
    shared_bytes: u64,
    swap_bytes: u64,
}

impl Renderer for JsonRenderer {
    fn render(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        write_json(out, &document(report))
    }

    fn render_processes(&self, list: &ProcessList, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &process_list_document(list))
            .map_err(io::Error::from)?;
        writeln!(out)
    }
}

#[derive(Serialize)]
struct ProcessListDocument<'a> {
    schema_version: u32,
    processes: Vec<ProcessEntry<'a>>,
    totals: ProcessTotals,
}

#[derive(Serialize)]
struct ProcessEntry<'a> {
    pid: i32,
    user: &'a str,
    command: &'a str,
    readable: bool,
    /// Why the memory could not be read; null when it could.
    error: Option<&'a str>,
    rss_bytes: Option<u64>,
    pss_bytes: Option<u64>,
    uss_bytes: Option<u64>,
    swap_bytes: Option<u64>,
}

#[derive(Serialize)]
struct ProcessTotals {
    processes: usize,
    unreadable: usize,
    kernel_threads_not_listed: usize,
    rss_bytes: u64,
    pss_bytes: u64,
    uss_bytes: u64,
    swap_bytes: u64,
}

fn process_list_document(list: &ProcessList) -> ProcessListDocument<'_> {
    let total = list.total();
    ProcessListDocument {
        schema_version: SCHEMA_VERSION,
        processes: list
            .processes
            .iter()
            .map(|row| {
                let memory = row.memory.as_ref().ok();
                ProcessEntry {
                    pid: row.pid,
                    user: &row.user,
                    command: &row.command,
                    readable: memory.is_some(),
                    error: row.memory.as_ref().err().map(String::as_str),
                    rss_bytes: memory.map(|m| m.rss),
                    pss_bytes: memory.map(|m| m.pss),
                    uss_bytes: memory.map(|m| m.uss),
                    swap_bytes: memory.map(|m| m.swap),
                }
            })
            .collect(),
        totals: ProcessTotals {
            processes: list.processes.len(),
            unreadable: list.unreadable(),
            kernel_threads_not_listed: list.kernel_threads,
            rss_bytes: total.rss,
            pss_bytes: total.pss,
            uss_bytes: total.uss,
            swap_bytes: total.swap,
        },
    }
}

fn document(report: &Report) -> Document<'_> {
    let source = &report.source;
    let totals = &report.totals;
    Document {
        schema_version: SCHEMA_VERSION,
        source: Source {
            pid: source.pid,
            path: &source.path,
            exe: source.exe.as_deref(),
            comm: source.comm.as_deref(),
            runtime: source.runtime.as_str(),
            go_version: source.go_version.as_deref(),
        },
        totals: Totals {
            size_bytes: totals.size,
            rss_bytes: totals.rss,
            pss_bytes: totals.pss,
            private_bytes: totals.private,
            shared_bytes: totals.shared,
            swap_bytes: totals.swap,
            swap_pss_bytes: totals.swap_pss,
            hugetlb_bytes: totals.hugetlb,
            regions: report.region_count,
        },
        sections: report
            .sections
            .iter()
            .map(|section| Section {
                name: &section.name,
                rss_bytes: section.subtotal.rss,
                categories: section
                    .categories
                    .iter()
                    .map(|category| category_of(category))
                    .collect(),
            })
            .collect(),
        listing: match report.listing {
            Listing::Top(_) => "top",
            Listing::All => "all",
        },
        top_regions: Regions(&report.regions),
        warnings: &report.warnings,
    }
}

/// The listed regions, serialized one at a time so that `-all` needs no second copy of them.
struct Regions<'a>(&'a [RegionRow]);

impl Serialize for Regions<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sequence = serializer.serialize_seq(Some(self.0.len()))?;
        for region in self.0 {
            sequence.serialize_element(&Region {
                // Zero-padded to 8 digits, as the kernel prints addresses.
                start: format!("{:08x}", region.start),
                end: format!("{:08x}", region.end),
                perms: region.perms.as_str(),
                name: lossless_utf8(&region.name),
                section: region.section,
                category: &region.category,
                size_bytes: region.amounts.size,
                rss_bytes: region.amounts.rss,
                pss_bytes: region.amounts.pss,
                private_bytes: region.amounts.private,
                shared_bytes: region.amounts.shared,
                swap_bytes: region.amounts.swap,
            })?;
        }
        sequence.end()
    }
}

/// Pretty-printed JSON whose strings also escape DEL and the C1 controls (U+007F–U+009F). JSON
/// allows them raw, but a terminal may act on them (U+009B starts an escape sequence), and names
/// come from the analyzed process.
fn write_json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut *out, TerminalSafe(PrettyFormatter::new()));
    value.serialize(&mut serializer).map_err(io::Error::from)?;
    writeln!(out)
}

struct TerminalSafe(PrettyFormatter<'static>);

impl Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (index, c) in fragment.char_indices() {
            if ('\u{7f}'..='\u{9f}').contains(&c) {
                writer.write_all(&fragment.as_bytes()[start..index])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = index + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    // Layout: delegated to the pretty formatter.
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }
    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }
    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }
    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

fn category_of(category: &CategoryReport) -> Category<'_> {
    let amounts = &category.amounts;
    Category {
        name: &category.name,
        label: &category.label,
        regions: category.regions,
        size_bytes: amounts.size,
        rss_bytes: amounts.rss,
        pss_bytes: amounts.pss,
        private_bytes: amounts.private,
        shared_bytes: amounts.shared,
        swap_bytes: amounts.swap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_del_and_c1_controls_that_json_allows_raw() {
        let mut out = Vec::new();
        write_json(&mut out, &"a\u{1b}b\u{7f}c\u{9b}d\u{a0}e").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\"a\\u001bb\\u007fc\\u009bd\u{a0}e\"\n");
        let parsed: String = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, "a\u{1b}b\u{7f}c\u{9b}d\u{a0}e");
    }
}
