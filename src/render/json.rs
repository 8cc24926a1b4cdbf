//! `-format json`: one object, schema version 1, exact byte counts, names escaped so that the
//! output is always valid JSON. The schema is documented in the README.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};

use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use super::escape::{for_json, for_json_borrowed, injective, is_layout_control};
use super::Render;
use crate::container::{Container, OomVerdict, UsageRow};
use crate::input::ps::ProcessList;
use crate::reconcile::{Accounting, AllocationSite};
use crate::report::{Amounts, CategoryId, CategoryReport, Listing, RegionList, Report};
use crate::runtime::{GO, NATIVE_KEY};

pub(crate) struct JsonRenderer;

/// Version 1: later versions of memanalyzer only add fields.
pub(crate) const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    source: Source<'a>,
    runtimes: Vec<Runtime>,
    totals: Totals,
    sections: Vec<Section<'a>>,
    unexplained: UnexplainedShare,
    listing: &'static str,
    top_regions: Regions<'a>,
    /// Each warning as one line for people, prefixed with the input's path.
    warnings: Vec<String>,
    /// The same warnings for machines, in the same order.
    warning_details: Vec<WarningDetail>,
    /// `-cgroup` only: the container view.
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<ContainerDoc>,
    /// What the runtime's own accounting says, where memanalyzer could read it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    accounting: Vec<AccountingDoc>,
    /// Every region in a group of its kind, for diffs against this report (`-diff`); only when
    /// the analysis collected them.
    #[serde(skip_serializing_if = "Option::is_none")]
    region_groups: Option<Vec<RegionGroup<'a>>>,
}

/// What a runtime's own accounting says (the JVM's PerfData, a Go heap profile with `-pprof`).
#[derive(Serialize)]
struct AccountingDoc {
    runtime: &'static str,
    source: Option<String>,
    /// Why there are no rows; null when there are.
    error: Option<String>,
    rows: Vec<AccountingRowDoc>,
    notes: Vec<String>,
    /// A heap profile's top allocation sites by live bytes, largest first (`-pprof`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allocation_sites: Vec<AllocationSiteDoc>,
}

/// Where live memory was allocated, as the heap profile says.
#[derive(Serialize)]
struct AllocationSiteDoc {
    function: String,
    /// The source file and line; null when the profile lacks them.
    file: Option<String>,
    line: Option<u64>,
    inuse_bytes: u64,
    inuse_objects: u64,
}

fn allocation_site_doc(site: &AllocationSite) -> AllocationSiteDoc {
    AllocationSiteDoc {
        function: for_json(site.function.as_bytes()),
        file: site.file.as_deref().map(|file| for_json(file.as_bytes())),
        line: site.line,
        inuse_bytes: site.inuse_space,
        inuse_objects: site.inuse_objects,
    }
}

#[derive(Serialize)]
struct AccountingRowDoc {
    id: &'static str,
    name: &'static str,
    runtime_bytes: u64,
    /// The category holding this memory, and its resident bytes; null when none corresponds.
    category_id: Option<&'static str>,
    resident_bytes: Option<u64>,
    /// What the runtime counts for this row beyond `runtime_bytes`, not resident where smaps
    /// puts it (0: the row is the runtime's whole figure).
    beyond_resident_bytes: u64,
}

fn accounting_doc(accounting: &Accounting) -> AccountingDoc {
    AccountingDoc {
        runtime: accounting.runtime,
        source: (!accounting.source.is_empty()).then(|| for_json(&accounting.source)),
        error: accounting.rows.as_ref().err().cloned(),
        rows: accounting
            .rows
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|row| AccountingRowDoc {
                id: row.key,
                name: row.label,
                runtime_bytes: row.runtime_bytes,
                category_id: row.resident.map(|(key, _)| key),
                resident_bytes: row.resident.map(|(_, bytes)| bytes),
                beyond_resident_bytes: row.beyond_resident,
            })
            .collect(),
        notes: accounting.notes.clone(),
        allocation_sites: accounting.sites.iter().map(allocation_site_doc).collect(),
    }
}

#[derive(Serialize)]
struct ContainerDoc {
    cgroup_version: &'static str,
    path: String,
    directory: String,
    is_root: bool,
    /// null: no limit.
    limit_bytes: Option<u64>,
    high_bytes: Option<u64>,
    usage_bytes: u64,
    peak_bytes: Option<u64>,
    working_set_bytes: u64,
    headroom_bytes: Option<u64>,
    reclaimable_bytes: u64,
    swap_bytes: Option<u64>,
    swap_limit_bytes: Option<u64>,
    events: EventsDoc,
    pressure: Option<PressureDoc>,
    /// Adds up to `usage_bytes`.
    usage_by_kind: Vec<RowDoc>,
    /// cgroup v1: socket buffers, counted apart from usage.
    sockets_outside_usage_bytes: Option<u64>,
    processes: Vec<MemberDoc>,
    processes_pss_bytes: u64,
    /// Adds up to `usage_bytes - processes_pss_bytes` (0 if negative).
    not_in_processes: Vec<RowDoc>,
    oom: OomDoc,
}

#[derive(Serialize)]
struct EventsDoc {
    high: Option<u64>,
    max: Option<u64>,
    oom: Option<u64>,
    oom_kill: Option<u64>,
}

#[derive(Serialize)]
struct PressureDoc {
    some_avg10: f64,
    some_avg60: f64,
    some_avg300: f64,
    some_total_us: u64,
    full_avg10: f64,
    full_avg60: f64,
    full_avg300: f64,
    full_total_us: u64,
}

#[derive(Serialize)]
struct RowDoc {
    id: &'static str,
    name: &'static str,
    bytes: u64,
}

#[derive(Serialize)]
struct MemberDoc {
    pid: i32,
    comm: Option<String>,
    readable: bool,
    error: Option<String>,
    rss_bytes: Option<u64>,
    pss_bytes: Option<u64>,
    oom_score: Option<i64>,
    oom_score_adj: Option<i64>,
}

#[derive(Serialize)]
struct OomDoc {
    /// `group` (memory.oom.group: all die), `process` (the one in `pid`), or `none`.
    kills: &'static str,
    pid: Option<i32>,
    comm: Option<String>,
    oom_score: Option<i64>,
}

fn container_doc(container: &Container) -> ContainerDoc {
    let rows = |rows: &[UsageRow]| -> Vec<RowDoc> {
        rows.iter()
            .map(|row| RowDoc {
                id: row.key,
                name: row.label,
                bytes: row.bytes,
            })
            .collect()
    };
    let oom = match container.oom_verdict() {
        OomVerdict::WholeGroup => OomDoc {
            kills: "group",
            pid: None,
            comm: None,
            oom_score: None,
        },
        OomVerdict::Kills {
            pid,
            comm,
            oom_score,
        } => OomDoc {
            kills: "process",
            pid: Some(pid),
            comm: comm.as_deref().map(for_json),
            oom_score: Some(oom_score),
        },
        OomVerdict::NoCandidate => OomDoc {
            kills: "none",
            pid: None,
            comm: None,
            oom_score: None,
        },
    };
    let events = container.events;
    ContainerDoc {
        cgroup_version: container.version.key(),
        path: for_json(&container.path),
        directory: for_json(container.directory.as_os_str().as_encoded_bytes()),
        is_root: container.is_root,
        limit_bytes: container.limit,
        high_bytes: container.high,
        usage_bytes: container.usage,
        peak_bytes: container.peak,
        working_set_bytes: container.working_set,
        headroom_bytes: container.headroom(),
        reclaimable_bytes: container.reclaimable,
        swap_bytes: container.swap.map(|swap| swap.current),
        swap_limit_bytes: container.swap.and_then(|swap| swap.max),
        events: EventsDoc {
            high: events.high,
            max: events.max,
            oom: events.oom,
            oom_kill: events.oom_kill,
        },
        pressure: container.pressure.map(|pressure| PressureDoc {
            some_avg10: pressure.some.avg10,
            some_avg60: pressure.some.avg60,
            some_avg300: pressure.some.avg300,
            some_total_us: pressure.some.total_us,
            full_avg10: pressure.full.avg10,
            full_avg60: pressure.full.avg60,
            full_avg300: pressure.full.avg300,
            full_total_us: pressure.full.total_us,
        }),
        usage_by_kind: rows(&container.rows),
        sockets_outside_usage_bytes: container.sockets_outside_usage,
        processes: container
            .members
            .iter()
            .map(|member| {
                let memory = member.memory.as_ref().ok();
                MemberDoc {
                    pid: member.pid,
                    comm: member.comm.as_deref().map(for_json),
                    readable: memory.is_some(),
                    error: member.memory.as_ref().err().cloned(),
                    rss_bytes: memory.map(|memory| memory.rss),
                    pss_bytes: memory.map(|memory| memory.pss),
                    oom_score: member.oom_score,
                    oom_score_adj: member.oom_score_adj,
                }
            })
            .collect(),
        processes_pss_bytes: container.members_pss(),
        not_in_processes: rows(&container.outside_processes),
        oom,
    }
}

#[derive(Serialize)]
struct Source<'a> {
    pid: Option<i32>,
    path: String,
    exe: Option<String>,
    comm: Option<String>,
    /// The language runtime's key, or `native`.
    runtime: &'static str,
    go_version: Option<&'a str>,
}

#[derive(Serialize)]
struct Runtime {
    id: &'static str,
    name: &'static str,
    version: Option<String>,
    evidence: &'static str,
}

/// The JSON names of an [`Amounts`]' byte counts, in the order of [`Amounts::to_array`]: the one
/// place they are spelled (totals, categories, listed regions and region groups all carry the
/// eight; reading JSON back uses them too).
pub(crate) const AMOUNT_KEYS: [&str; 8] = [
    "size_bytes",
    "rss_bytes",
    "pss_bytes",
    "private_bytes",
    "shared_bytes",
    "swap_bytes",
    "swap_pss_bytes",
    "hugetlb_bytes",
];

/// The byte counts with their JSON names.
fn named_amounts(amounts: Amounts) -> impl Iterator<Item = (&'static str, u64)> {
    AMOUNT_KEYS.into_iter().zip(amounts.to_array())
}

/// Amounts as JSON writes them, as fields of the object around them (`#[serde(flatten)]`) or
/// as an object of their own.
pub(crate) struct AmountsOut(Amounts);

impl From<Amounts> for AmountsOut {
    fn from(amounts: Amounts) -> AmountsOut {
        AmountsOut(amounts)
    }
}

impl Serialize for AmountsOut {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Amounts", AMOUNT_KEYS.len())?;
        for (key, bytes) in named_amounts(self.0) {
            out.serialize_field(key, &bytes)?;
        }
        out.end()
    }
}

#[derive(Serialize)]
struct Totals {
    #[serde(flatten)]
    amounts: AmountsOut,
    regions: u64,
}

#[derive(Serialize)]
struct Section<'a> {
    name: &'a str,
    id: &'static str,
    rss_bytes: u64,
    categories: Vec<Category<'a>>,
}

/// A category as JSON, written straight from the report: its name, label and id (each as long
/// as the name, up to 60 KB) are made one at a time as they are written, never held together.
struct Category<'a>(&'a CategoryReport);

impl Serialize for Category<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let category = self.0;
        let amounts = &category.amounts;
        let mut out = serializer.serialize_struct("Category", 6 + AMOUNT_KEYS.len())?;
        out.serialize_field("name", &for_json_borrowed(&category.title()))?;
        // A key: unique within its section, so escaped injectively (a name holding the byte
        // 0xff and one holding the text `\xff` must not print the same).
        out.serialize_field("label", &injective(&category.label))?;
        out.serialize_field("id", &category.id.key())?;
        out.serialize_field("regions", &category.regions)?;
        for (key, bytes) in named_amounts(*amounts) {
            out.serialize_field(key, &bytes)?;
        }
        // The weakest evidence among the rules that put regions here.
        out.serialize_field("evidence", category.evidence.key())?;
        // The RSS of the regions placed here by layout (a heuristic), not by name.
        out.serialize_field("inferred_rss_bytes", &category.inferred.rss)?;
        out.end()
    }
}

/// A warning with its stable kind and the line it is about.
#[derive(Serialize)]
struct WarningDetail {
    kind: &'static str,
    line: Option<u64>,
    message: String,
}

/// RSS still in generic categories (Anonymous Memory, Other / Unrecognized).
#[derive(Serialize)]
struct UnexplainedShare {
    rss_bytes: u64,
    pss_bytes: u64,
    /// Of the process's RSS, 0.0 to 1.0.
    share: f64,
    /// At least the threshold at which a next step is given.
    large: bool,
    /// What to run to learn more (when large).
    next_step: Option<&'static str>,
    /// The runtime whose tool the next step names.
    next_step_runtime: Option<&'static str>,
    /// Whether the running kernel can name mappings; null when not checked (a saved file).
    kernel_names_mappings: Option<bool>,
}

/// A [`crate::RegionGroup`]: regions matched by what they are, not where.
#[derive(Serialize)]
struct RegionGroup<'a> {
    category_id: KeyOf<'a>,
    perms: &'static str,
    offset: u64,
    inode: u64,
    name: Cow<'a, str>,
    /// The category's regions beyond the number of groups kept; perms, offset, inode and name
    /// are then empty.
    rest: bool,
    regions: u64,
    #[serde(flatten)]
    amounts: AmountsOut,
}

impl Render for JsonRenderer {
    fn report(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        write_report(out, &document(report))
    }

    fn processes(&self, list: &ProcessList, out: &mut dyn Write) -> io::Result<()> {
        write_json(out, &process_list_document(list))
    }
}

#[derive(Serialize)]
struct ProcessListDocument {
    schema_version: u32,
    processes: Vec<ProcessEntry>,
    totals: ProcessTotals,
    /// `-ps -cgroup` only: the processes grouped by cgroup.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cgroups: Vec<CgroupEntry>,
}

#[derive(Serialize)]
struct CgroupEntry {
    path: Option<String>,
    pids: Vec<i32>,
    /// Why the figures are missing; null when they are there.
    error: Option<String>,
    /// null: no limit (or unknown, see `error`).
    limit_bytes: Option<u64>,
    usage_bytes: Option<u64>,
    working_set_bytes: Option<u64>,
}

#[derive(Serialize)]
struct ProcessEntry {
    pid: i32,
    user: Option<String>,
    command: Option<String>,
    readable: bool,
    /// Why the memory could not be read; null when it could.
    error: Option<String>,
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
    /// Other users' processes are hidden by /proc's `hidepid=invisible`.
    others_hidden: bool,
    rss_bytes: u64,
    pss_bytes: u64,
    uss_bytes: u64,
    swap_bytes: u64,
}

fn process_list_document(list: &ProcessList) -> ProcessListDocument {
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
                    user: row.user.as_deref().map(for_json),
                    command: row.command.as_deref().map(for_json),
                    readable: memory.is_some(),
                    error: row.memory.as_ref().err().map(ToString::to_string),
                    rss_bytes: memory.map(|m| m.rss),
                    pss_bytes: memory.map(|m| m.pss),
                    uss_bytes: memory.map(|m| m.uss),
                    swap_bytes: memory.map(|m| m.swap),
                }
            })
            .collect(),
        cgroups: list
            .cgroups
            .iter()
            .map(|group| {
                let figures = group.figures.as_ref().ok();
                CgroupEntry {
                    path: (!group.path.is_empty()).then(|| for_json(&group.path)),
                    pids: group.pids.clone(),
                    error: group.figures.as_ref().err().cloned(),
                    limit_bytes: figures.and_then(|figures| figures.limit),
                    usage_bytes: figures.map(|figures| figures.usage),
                    working_set_bytes: figures.map(|figures| figures.working_set),
                }
            })
            .collect(),
        totals: ProcessTotals {
            processes: list.processes.len(),
            unreadable: list.unreadable(),
            kernel_threads_not_listed: list.kernel_threads,
            others_hidden: list.others_hidden,
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
    let primary = report.primary_runtime();
    let mut by_id: HashMap<&CategoryId, (&str, &CategoryReport)> = HashMap::new();
    for section in &report.sections {
        for category in &section.categories {
            by_id.insert(&category.id, (section.title, category));
        }
    }
    // By the listing's index of each category.
    let categories: Vec<(&str, &CategoryReport)> = report
        .regions
        .categories()
        .iter()
        .map(|(id, _)| {
            *by_id
                .get(id)
                .expect("every listed region's category is in the breakdown")
        })
        .collect();
    let shown = categories
        .iter()
        .map(|&(section, category)| {
            (category.label.len() <= SHOWN_KEPT_BYTES).then(|| shown_strings(section, category))
        })
        .collect();
    Document {
        schema_version: SCHEMA_VERSION,
        source: Source {
            pid: source.pid,
            path: for_json(source.path.as_os_str().as_encoded_bytes()),
            exe: source.exe.as_deref().map(for_json),
            comm: source.comm.as_deref().map(for_json),
            runtime: primary.map_or(NATIVE_KEY, |runtime| runtime.id.key()),
            go_version: report
                .runtimes
                .iter()
                .find(|runtime| runtime.id == GO)
                .and_then(|runtime| runtime.version.as_deref()),
        },
        runtimes: report
            .runtimes
            .iter()
            .map(|runtime| Runtime {
                id: runtime.id.key(),
                name: runtime.id.name(),
                version: runtime.version.clone(),
                evidence: runtime.evidence.key(),
            })
            .collect(),
        totals: Totals {
            amounts: AmountsOut::from(*totals),
            regions: report.region_count,
        },
        sections: report
            .sections
            .iter()
            .map(|section| Section {
                name: section.title,
                id: section.id.key(),
                rss_bytes: section.subtotal.rss,
                categories: section.categories.iter().map(Category).collect(),
            })
            .collect(),
        unexplained: UnexplainedShare {
            rss_bytes: report.unexplained.amounts.rss,
            pss_bytes: report.unexplained.amounts.pss,
            share: report.unexplained.share(totals.rss),
            large: report.unexplained.large,
            next_step: report.unexplained.next_step,
            next_step_runtime: report.unexplained.next_step_for.map(|id| id.key()),
            kernel_names_mappings: report.unexplained.kernel_names_mappings,
        },
        listing: match report.listing {
            Listing::Top(_) => "top",
            Listing::All => "all",
        },
        top_regions: Regions {
            regions: &report.regions,
            categories,
            shown,
        },
        warnings: report
            .warnings
            .iter()
            .map(|warning| {
                format!(
                    "{}: {warning}",
                    for_json(source.path.as_os_str().as_encoded_bytes())
                )
            })
            .collect(),
        warning_details: report
            .warnings
            .iter()
            .map(|warning| WarningDetail {
                kind: warning.kind(),
                line: warning.line(),
                message: warning.to_string(),
            })
            .collect(),
        container: report.container.as_ref().map(container_doc),
        accounting: report.accounting.iter().map(accounting_doc).collect(),
        region_groups: report
            .groups
            .as_ref()
            .map(|groups| groups.iter().map(region_group).collect()),
    }
}

/// A category's key, made as it is written: a named group's key is as long as its name.
struct KeyOf<'a>(&'a CategoryId);

impl Serialize for KeyOf<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.key())
    }
}

fn region_group(group: &crate::report::RegionGroup) -> RegionGroup<'_> {
    RegionGroup {
        category_id: KeyOf(&group.category),
        perms: if group.rest { "" } else { group.perms.as_str() },
        offset: group.offset,
        inode: group.inode,
        name: for_json_borrowed(&group.name),
        rest: group.rest,
        regions: group.regions,
        amounts: AmountsOut::from(group.amounts),
    }
}

/// The listed regions. Serialized as an empty array, the place [`write_report`] writes them
/// into by hand: serde's pretty printer spends about 9,000 instructions per region (a call per
/// key, colon, indentation and value), more than reading the region from smaps.
struct Regions<'a> {
    regions: &'a RegionList,
    /// By category index: the section's title and the category.
    categories: Vec<(&'a str, &'a CategoryReport)>,
    /// By category index: what [`shown_strings`] gives, made once unless the category's name is
    /// long (then made again for each row, so that a 60 KB name is not held twice more).
    shown: Vec<Option<[String; 3]>>,
}

/// The longest category name whose row strings are made once and kept.
const SHOWN_KEPT_BYTES: usize = 1024;

/// What a region row shows of its category: the section's title, the category's title
/// (`TNC-* (512 regions)`) and its key, as JSON strings with their quotes.
fn shown_strings(section: &str, category: &CategoryReport) -> [String; 3] {
    let json_string = |value: &str| {
        let mut text = Vec::new();
        push_json_string(&mut text, value);
        String::from_utf8(text).expect("JSON is UTF-8")
    };
    [
        json_string(section),
        json_string(&for_json_borrowed(&category.title())),
        json_string(&category.id.key()),
    ]
}

impl Regions<'_> {
    /// [`shown_strings`] of the category with listing index `index`.
    fn shown(&self, index: usize) -> Cow<'_, [String; 3]> {
        match &self.shown[index] {
            Some(strings) => Cow::Borrowed(strings),
            None => {
                let (section, category) = self.categories[index];
                Cow::Owned(shown_strings(section, category))
            }
        }
    }
}

impl Serialize for Regions<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_seq(Some(0))?.end()
    }
}

/// Where the listed regions go in the document `write_report` serializes: the pretty printer
/// writes a raw line end only between values, never inside a string, so this is found once.
const REGIONS_SLOT: &[u8] = b"\n  \"top_regions\": []";

/// A report's document: serde writes everything but the listed regions, which are written
/// here in the exact form serde would give them (a test compares the two).
fn write_report(out: &mut dyn Write, document: &Document<'_>) -> io::Result<()> {
    let regions = &document.top_regions;
    if regions.regions.is_empty() {
        return write_json(out, document);
    }
    // Streamed, never held whole: with long names the document is megabytes.
    let mut splice = Splice {
        out,
        regions,
        matched: 0,
        done: false,
    };
    write_json(&mut splice, document)?;
    if !splice.done {
        return Err(io::Error::other("the document has no top_regions field"));
    }
    Ok(())
}

/// Passes serde's document through to `out`, writing the listed regions into their slot (the
/// `[]` after [`REGIONS_SLOT`]'s key) as it goes by.
struct Splice<'a, 'b> {
    out: &'a mut dyn Write,
    regions: &'a Regions<'b>,
    /// How many bytes of [`REGIONS_SLOT`] the bytes seen last match. Its first byte, a line end,
    /// occurs nowhere else in it, so a mismatch starts the match afresh.
    matched: usize,
    done: bool,
}

impl Write for Splice<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.done {
            return self.out.write(buf);
        }
        for (index, &byte) in buf.iter().enumerate() {
            if byte == REGIONS_SLOT[self.matched] {
                self.matched += 1;
            } else {
                self.matched = usize::from(byte == REGIONS_SLOT[0]);
            }
            if self.matched == REGIONS_SLOT.len() {
                // Everything up to the slot's `]` goes first, then the regions and their `]`.
                self.out.write_all(&buf[..index])?;
                write_regions(&mut *self.out, self.regions)?;
                self.out.write_all(&buf[index + 1..])?;
                self.done = true;
                return Ok(buf.len());
            }
        }
        self.out.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The listed regions, from after the `[` of their slot to its closing `]`, in the exact form
/// serde would give them.
fn write_regions(out: &mut dyn Write, regions: &Regions<'_>) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    let mut text = Vec::with_capacity(1024);
    for (index, region) in regions.regions.refs().enumerate() {
        text.clear();
        text.extend_from_slice(if index == 0 { b"\n    {" } else { b",\n    {" });
        let shown = regions.shown(region.category_index);
        let [section, category, category_id] = &*shown;
        // Each key with its indentation and colon as one literal: one copy of a known length.
        macro_rules! key {
            ($name:literal) => {
                text.extend_from_slice(concat!("\n      \"", $name, "\": ").as_bytes())
            };
        }
        key!("start");
        push_hex_string(&mut text, region.start);
        text.push(b',');
        key!("end");
        push_hex_string(&mut text, region.end);
        text.push(b',');
        key!("perms");
        push_json_string(&mut text, region.perms.as_str());
        text.push(b',');
        key!("name");
        match std::str::from_utf8(region.name) {
            Ok(name) => push_json_string(&mut text, name),
            Err(_) => push_json_string(&mut text, &for_json(region.name)),
        }
        text.push(b',');
        key!("section");
        text.extend_from_slice(section.as_bytes()); // a JSON string already
        text.push(b',');
        key!("section_id");
        push_json_string(&mut text, region.section().key());
        text.push(b',');
        key!("category");
        text.extend_from_slice(category.as_bytes());
        text.push(b',');
        key!("category_id");
        text.extend_from_slice(category_id.as_bytes());
        text.push(b',');
        key!("evidence");
        push_json_string(&mut text, region.evidence.key());
        text.push(b',');
        for (key, bytes) in named_amounts(region.amounts) {
            text.extend_from_slice(b"\n      \"");
            text.extend_from_slice(key.as_bytes());
            text.extend_from_slice(b"\": ");
            push_decimal(&mut text, bytes);
            text.push(b',');
        }
        text.pop(); // the last comma
        text.extend_from_slice(b"\n    }");
        out.write_all(&text)?;
    }
    out.write_all(b"\n  ]")?;
    out.flush()
}

/// `value` as the JSON string [`write_json`] writes, appended to `text`.
fn push_json_string(text: &mut Vec<u8>, value: &str) {
    // Printable ASCII but `"` and `\\` is written as it is: most names.
    if value
        .bytes()
        .all(|byte| (b' '..=b'~').contains(&byte) && byte != b'"' && byte != b'\\')
    {
        text.push(b'"');
        text.extend_from_slice(value.as_bytes());
        text.push(b'"');
    } else {
        write_json(&mut *text, &value).expect("writing into a Vec cannot fail");
        text.pop(); // the line end
    }
}

/// An address as a JSON string of hexadecimal digits, zero-padded to 8 as the kernel prints
/// them, appended to `text`.
fn push_hex_string(text: &mut Vec<u8>, address: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let count = (64 - address.leading_zeros() as usize).div_ceil(4).max(8);
    text.push(b'"');
    for at in (0..count).rev() {
        text.push(DIGITS[(address >> (at * 4)) as usize & 0xf]);
    }
    text.push(b'"');
}

/// `number` in decimal, appended to `text`.
fn push_decimal(text: &mut Vec<u8>, number: u64) {
    text.extend_from_slice(super::units::decimal(number, &mut [0; 20]).as_bytes());
}

/// Pretty-printed JSON whose strings also escape DEL, the C1 controls (U+007F–U+009F) and the
/// layout controls (bidirectional overrides, line separators: `escape::is_layout_control`). JSON
/// allows them raw, but a terminal may act on them (U+009B starts an escape sequence, U+202E
/// reverses what follows), and names come from the analyzed process.
fn write_json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    // The serializer writes a few bytes at a time: buffered here, they cost a copy each rather
    // than a call through `dyn Write`.
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, TerminalSafe(PrettyFormatter::new()));
    value.serialize(&mut serializer).map_err(io::Error::from)?;
    writeln!(out)?;
    out.flush()
}

struct TerminalSafe(PrettyFormatter<'static>);

impl Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Only characters from U+007F on are escaped here: most fragments hold none.
        if fragment.bytes().all(|byte| byte < 0x7f) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (index, c) in fragment.char_indices() {
            if ('\u{7f}'..='\u{9f}').contains(&c) || is_layout_control(c) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CategoryId, Evidence, RegionRow};
    use crate::smaps::Perms;

    /// A listed region as serde writes it: what `write_report` writes by hand.
    #[derive(Serialize)]
    struct Region<'a> {
        start: String,
        end: String,
        perms: &'a str,
        name: String,
        section: &'a str,
        section_id: &'static str,
        category: &'a str,
        category_id: &'a str,
        evidence: &'static str,
        size_bytes: u64,
        rss_bytes: u64,
        pss_bytes: u64,
        private_bytes: u64,
        shared_bytes: u64,
        swap_bytes: u64,
        swap_pss_bytes: u64,
        hugetlb_bytes: u64,
    }

    #[derive(Serialize)]
    struct Listed<'a> {
        top_regions: Vec<Region<'a>>,
    }

    #[test]
    fn regions_are_written_as_serde_writes_them() {
        let names: [&[u8]; 7] = [
            b"/usr/lib/libc.so.6",
            b"",
            b"[anon:TNC-7]",
            b"quote\" back\\slash \x1b[31m tab\t del\x7f",
            "caf\u{e9} \u{202e}evil \u{85}".as_bytes(),
            b"bad\xff\xfe utf8",
            b"[heap]",
        ];
        let rows: Vec<RegionRow> = names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let index = index as u64;
                RegionRow {
                    start: index << 40 | 0x1000,
                    end: index << 40 | 0x5000,
                    perms: Perms::parse(b"r-xp").unwrap(),
                    offset: 0,
                    inode: 0,
                    name: name.to_vec(),
                    category: if index == 2 {
                        CategoryId::named(b"TNC-*".to_vec().into())
                    } else {
                        CategoryId::known(&crate::classify::generic::ANON_READ_WRITE)
                    },
                    evidence: if index % 2 == 0 {
                        Evidence::Name
                    } else {
                        Evidence::Layout
                    },
                    amounts: Amounts {
                        size: 16384,
                        rss: (10 - index) * 4096,
                        pss: 1 << 42,
                        private: u64::MAX,
                        shared: 1,
                        swap: 0,
                        swap_pss: 7,
                        hugetlb: 9,
                    },
                }
            })
            .collect();
        // A report whose breakdown holds both categories the rows are in.
        let source = b"7f0000001000-7f0000005000 rw-p 00000000 00:00 0 [anon:TNC-7]\nRss: 4 kB\n\
                       7f0000006000-7f0000009000 rw-p 00000000 00:00 0\nRss: 4 kB\n";
        let mut report = crate::analyze_reader(&source[..], &Default::default()).unwrap();
        report.regions = rows.into_iter().collect();
        let document = document(&report);

        let mut written = Vec::new();
        write_report(&mut written, &document).unwrap();

        let mut rest = Vec::new();
        write_json(&mut rest, &document).unwrap();
        let unquoted = |quoted: &String| serde_json::from_str::<String>(quoted).unwrap();
        let shown: Vec<[String; 3]> = (0..document.top_regions.categories.len())
            .map(|index| document.top_regions.shown(index).each_ref().map(unquoted))
            .collect();
        let mut listed = Vec::new();
        write_json(
            &mut listed,
            &Listed {
                top_regions: report
                    .regions
                    .refs()
                    .map(|region| {
                        let [section, category, category_id] = &shown[region.category_index];
                        Region {
                            start: format!("{:08x}", region.start),
                            end: format!("{:08x}", region.end),
                            perms: region.perms.as_str(),
                            name: for_json(region.name),
                            section,
                            section_id: region.section().key(),
                            category,
                            category_id,
                            evidence: region.evidence.key(),
                            size_bytes: region.amounts.size,
                            rss_bytes: region.amounts.rss,
                            pss_bytes: region.amounts.pss,
                            private_bytes: region.amounts.private,
                            shared_bytes: region.amounts.shared,
                            swap_bytes: region.amounts.swap,
                            swap_pss_bytes: region.amounts.swap_pss,
                            hugetlb_bytes: region.amounts.hugetlb,
                        }
                    })
                    .collect(),
            },
        )
        .unwrap();
        // `{` `\n  "top_regions": [ … ]` `\n}\n`: the field, at the document's depth.
        let field = std::str::from_utf8(&listed[1..listed.len() - 3]).unwrap();
        let expected =
            String::from_utf8(rest)
                .unwrap()
                .replacen("\n  \"top_regions\": []", field, 1);
        assert_eq!(String::from_utf8(written).unwrap(), expected);
    }

    #[test]
    fn escapes_del_and_c1_controls_that_json_allows_raw() {
        let mut out = Vec::new();
        write_json(&mut out, &"a\u{1b}b\u{7f}c\u{9b}d\u{a0}e").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\"a\\u001bb\\u007fc\\u009bd\u{a0}e\"\n");
        let parsed: String = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, "a\u{1b}b\u{7f}c\u{9b}d\u{a0}e");
    }

    #[test]
    fn escapes_characters_that_reorder_or_break_lines() {
        let mut out = Vec::new();
        write_json(&mut out, &"x\u{202e}y\u{2028}z").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\"x\\u202ey\\u2028z\"\n");
        let parsed: String = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, "x\u{202e}y\u{2028}z");
    }
}
