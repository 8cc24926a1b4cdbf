//! jemalloc's own statistics beside the jemalloc category (`-jemalloc-stats FILE`): read from
//! `malloc_stats_print`'s JSON (`MALLOC_CONF=stats_print:true,stats_print_opts:J`, or
//! `_RJEM_MALLOC_CONF` for Rust's tikv-jemallocator), or from the six figures tikv-jemalloc-ctl
//! and reth's metrics give (`stats.allocated`, `active`, `metadata`, `resident`, `mapped`,
//! `retained`), one per line.
//!
//! The figures form: one `NAME VALUE` per line, separated by `=`, `:` or blanks; NAME's last
//! `.`- or `_`-separated word names the figure (`allocated=123`, `jemalloc.active 456`,
//! `reth_jemalloc_resident 789`), a Prometheus label set after it is ignored; blank lines, `#`
//! comments and other names are skipped. allocated, active and resident are required.
//!
//! jemalloc's figures nest: allocated (bytes the program asked for) ≤ active (the pages of the
//! extents holding them) ≤ resident (active, metadata, and dirty pages freed but not yet purged);
//! mapped counts the address space of active extents and metadata, retained the address space
//! kept after purging (never resident).

use std::fmt;

use serde_json::Value;

use super::{Accounting, AccountingRow};
use crate::report::Report;

/// The runtime id of the jemalloc category.
const JEMALLOC: &str = "jemalloc";
/// The category jemalloc's memory is in.
const HEAP: &str = "jemalloc.heap";

/// jemalloc's statistics, as read from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JemallocStats {
    /// `stats.allocated`: bytes in live allocations.
    pub allocated: u64,
    /// `stats.active`: bytes in the pages of active extents.
    pub active: u64,
    /// `stats.metadata`: jemalloc's own data structures.
    pub metadata: Option<u64>,
    /// `stats.resident`: an upper bound of the resident bytes jemalloc maps.
    pub resident: u64,
    /// `stats.mapped`: address space of active extents.
    pub mapped: Option<u64>,
    /// `stats.retained`: address space kept but not mapped resident (purged).
    pub retained: Option<u64>,
    /// Dirty pages (freed, still resident), from the JSON's merged arena stats.
    pub dirty: Option<u64>,
    /// Muzzy pages (freed with `MADV_FREE`; the kernel may take them), likewise.
    pub muzzy: Option<u64>,
    /// jemalloc's version, from the JSON.
    pub version: Option<String>,
}

/// Why a jemalloc statistics file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JemallocStatsError {
    /// Neither JSON nor the figures form: the first line that is neither.
    NotStats {
        /// 1-based.
        line: usize,
    },
    /// JSON that does not parse (cut short, or broken).
    BadJson(String),
    /// JSON, but not `malloc_stats_print`'s: what is missing.
    NotJemallocJson(String),
    /// The figures form without a figure memanalyzer needs.
    Missing(&'static str),
    /// A figure given twice, on this line.
    Repeated {
        /// The figure.
        name: &'static str,
        /// 1-based.
        line: usize,
    },
    /// The file is not text.
    NotText,
}

impl fmt::Display for JemallocStatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FORMS: &str = "expected malloc_stats_print JSON (MALLOC_CONF=stats_print:true,\
                             stats_print_opts:J) or lines NAME=BYTES for allocated, active, \
                             metadata, resident, mapped and retained";
        match self {
            JemallocStatsError::NotStats { line } => write!(
                f,
                "line {line} is neither JSON nor a NAME=BYTES figure: {FORMS}"
            ),
            JemallocStatsError::BadJson(why) => write!(
                f,
                "not valid JSON ({why}): the file is cut short or not malloc_stats_print's output"
            ),
            JemallocStatsError::NotJemallocJson(what) => {
                write!(f, "JSON, but not jemalloc's statistics: {what}; {FORMS}")
            }
            JemallocStatsError::Missing(name) => {
                write!(f, "no {name} figure (the file is cut short?): {FORMS}")
            }
            JemallocStatsError::Repeated { name, line } => write!(
                f,
                "{name} is given again on line {line}: give one process's figures"
            ),
            JemallocStatsError::NotText => write!(f, "not a text file: {FORMS}"),
        }
    }
}

impl std::error::Error for JemallocStatsError {}

/// The figure names of the plain form, in the order they are shown.
const FIGURES: [&str; 6] = [
    "allocated",
    "active",
    "metadata",
    "resident",
    "mapped",
    "retained",
];

/// Reads jemalloc's statistics: `malloc_stats_print` JSON, or the figures form.
pub fn parse_jemalloc_stats(bytes: &[u8]) -> Result<JemallocStats, JemallocStatsError> {
    let text = std::str::from_utf8(bytes).map_err(|_| JemallocStatsError::NotText)?;
    if text.trim_start().starts_with('{') {
        parse_json(text)
    } else {
        parse_figures(text)
    }
}

fn parse_json(text: &str) -> Result<JemallocStats, JemallocStatsError> {
    let document: Value = serde_json::from_str(text)
        .map_err(|error| JemallocStatsError::BadJson(error.to_string()))?;
    let jemalloc = document.get("jemalloc").ok_or_else(|| {
        JemallocStatsError::NotJemallocJson("no top-level \"jemalloc\" object".to_string())
    })?;
    let stats = jemalloc.get("stats").ok_or_else(|| {
        JemallocStatsError::NotJemallocJson(
            "no \"jemalloc.stats\" object (jemalloc built without --enable-stats?)".to_string(),
        )
    })?;
    let figure = |name: &'static str| stats.get(name).and_then(Value::as_u64);
    let required = |name: &'static str| {
        figure(name).ok_or_else(|| {
            JemallocStatsError::NotJemallocJson(format!("no number \"jemalloc.stats.{name}\""))
        })
    };
    // Dirty and muzzy pages are counted per arena; "merged" sums them (absent with
    // stats_print_opts:a). Pages are jemalloc's page size, `arenas.page`.
    let page = jemalloc
        .get("arenas")
        .and_then(|arenas| arenas.get("page"))
        .and_then(Value::as_u64);
    let merged = jemalloc
        .get("stats.arenas")
        .and_then(|arenas| arenas.get("merged"));
    let pages = |name: &str| -> Option<u64> {
        let count = merged?.get(name)?.as_u64()?;
        count.checked_mul(page?)
    };
    Ok(JemallocStats {
        allocated: required("allocated")?,
        active: required("active")?,
        metadata: figure("metadata"),
        resident: required("resident")?,
        mapped: figure("mapped"),
        retained: figure("retained"),
        dirty: pages("pdirty"),
        muzzy: pages("pmuzzy"),
        version: jemalloc
            .get("version")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn parse_figures(text: &str) -> Result<JemallocStats, JemallocStatsError> {
    let mut values: [Option<u64>; 6] = [None; 6];
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) =
            split_figure(line).ok_or(JemallocStatsError::NotStats { line: number })?;
        let word = name.rsplit(['.', '_']).next().unwrap_or(name);
        let Some(slot) = FIGURES.iter().position(|figure| *figure == word) else {
            continue; // another figure (epoch, a Prometheus family of another program)
        };
        if values[slot].is_some() {
            return Err(JemallocStatsError::Repeated {
                name: FIGURES[slot],
                line: number,
            });
        }
        values[slot] = Some(value);
    }
    let [allocated, active, metadata, resident, mapped, retained] = values;
    Ok(JemallocStats {
        allocated: allocated.ok_or(JemallocStatsError::Missing("allocated"))?,
        active: active.ok_or(JemallocStatsError::Missing("active"))?,
        metadata,
        resident: resident.ok_or(JemallocStatsError::Missing("resident"))?,
        mapped,
        retained,
        ..JemallocStats::default()
    })
}

/// `NAME=VALUE`, `NAME: VALUE`, `NAME VALUE` or `NAME{labels} VALUE`; VALUE a whole number of
/// bytes (Prometheus may write it as a float: `1.45297928e+08`).
fn split_figure(line: &str) -> Option<(&str, u64)> {
    let end = line.find(|c: char| c == '=' || c == ':' || c == '{' || c.is_whitespace())?;
    let name = &line[..end];
    let mut rest = &line[end..];
    if rest.starts_with('{') {
        rest = &rest[rest.find('}')? + 1..];
    }
    let rest = rest.trim_start();
    let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest).trim_start();
    // A Prometheus sample may carry a timestamp after its value.
    let value = rest.split_whitespace().next()?;
    if name.is_empty() {
        return None;
    }
    let bytes = value.parse::<u64>().ok().or_else(|| {
        let float = value.parse::<f64>().ok()?;
        (float >= 0.0 && float.fract() == 0.0 && float < u64::MAX as f64).then_some(float as u64)
    })?;
    Some((name, bytes))
}

/// jemalloc's figures beside the jemalloc category of `report`: rows, and notes on what they
/// mean together (the invariants, fragmentation, how the heap line compares).
pub fn reconcile_jemalloc(
    stats: &JemallocStats,
    source: impl Into<Vec<u8>>,
    report: &Report,
) -> Accounting {
    let heap = report
        .category(HEAP)
        .map(|category| (HEAP, category.amounts.rss));
    let heap_resident = heap.map_or(0, |(_, bytes)| bytes);
    let mut rows = vec![
        row(
            "allocated",
            "Allocated (live objects)",
            stats.allocated,
            None,
        ),
        row(
            "active",
            "Active (pages of live extents)",
            stats.active,
            None,
        ),
        row(
            "fragmentation",
            "Fragmentation (active - allocated)",
            stats.active.saturating_sub(stats.allocated),
            None,
        ),
    ];
    if let Some(metadata) = stats.metadata {
        rows.push(row("metadata", "Metadata", metadata, None));
        rows.push(row(
            "active_metadata",
            "Active + metadata",
            stats.active + metadata,
            heap,
        ));
    }
    if let Some(dirty) = stats.dirty {
        rows.push(row(
            "dirty",
            "Dirty pages (freed, not yet purged)",
            dirty,
            None,
        ));
    }
    if let Some(muzzy) = stats.muzzy {
        rows.push(row("muzzy", "Muzzy pages (freed, MADV_FREE)", muzzy, None));
    }
    rows.push(row(
        "resident",
        "Resident (upper bound: active, metadata, dirty)",
        stats.resident,
        heap,
    ));
    if let Some(mapped) = stats.mapped {
        rows.push(row("mapped", "Mapped (address space in use)", mapped, None));
    }
    if let Some(retained) = stats.retained {
        rows.push(row(
            "retained",
            "Retained (address space kept, not resident)",
            retained,
            None,
        ));
    }
    let mut notes = Vec::new();
    if let Some(version) = &stats.version {
        notes.push(format!("jemalloc {version}"));
    }
    let invariant = stats.allocated <= stats.active && stats.active <= stats.resident;
    notes.push(if invariant {
        "allocated <= active <= resident holds".to_string()
    } else {
        format!(
            "allocated <= active <= resident does NOT hold ({} / {} / {}): the figures were not \
             read at one epoch (advance `epoch` before reading them)",
            stats.allocated, stats.active, stats.resident
        )
    });
    if !report
        .runtimes
        .iter()
        .any(|runtime| runtime.id.key() == JEMALLOC)
    {
        notes.push(
            "memanalyzer found no jemalloc in this process: are these the statistics of another \
             process?"
                .to_string(),
        );
    } else {
        notes.push(heap_comparison(stats, heap_resident));
    }
    if let Some(mapped) = stats.mapped {
        if mapped > report.totals.size {
            notes.push(format!(
                "jemalloc's mapped {mapped} bytes exceed the process's whole address space \
                 ({} bytes): these figures cannot belong to this process",
                report.totals.size
            ));
        }
    }
    Accounting {
        runtime: JEMALLOC,
        source: source.into(),
        rows: Ok(rows),
        notes,
        sites: Vec::new(),
    }
}

fn row(
    key: &'static str,
    label: &'static str,
    runtime_bytes: u64,
    resident: Option<(&'static str, u64)>,
) -> AccountingRow {
    AccountingRow {
        key,
        label,
        runtime_bytes,
        resident,
        beyond_resident: 0,
    }
}

/// Where the heap line lies against `active + metadata` (what jemalloc holds) and `resident`
/// (that plus freed pages not yet purged).
fn heap_comparison(stats: &JemallocStats, heap: u64) -> String {
    let held = stats.active + stats.metadata.unwrap_or(0);
    let percent = |of: u64| {
        if of == 0 {
            0.0
        } else {
            heap as f64 * 100.0 / of as f64
        }
    };
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    let figures = format!(
        "the jemalloc heap line ({:.1} MiB) is {:.1}% of active + metadata ({:.1} MiB) and \
         {:.1}% of resident ({:.1} MiB)",
        mib(heap),
        percent(held),
        mib(held),
        percent(stats.resident),
        mib(stats.resident)
    );
    // Once freed pages are purged, resident can be below active + metadata: jemalloc counts
    // its metadata as allocated but only the touched part of it as resident.
    let (lower, upper) = (held.min(stats.resident), held.max(stats.resident));
    let verdict = if heap < lower {
        "below both: pages jemalloc counts active but the program never touched, or jemalloc \
         memory the kernel merged with a neighbour (left with the anonymous memory)"
    } else if heap > upper {
        "above both: other mappings of jemalloc-like sizes are counted with the heap (by \
         layout), or the statistics are older than the smaps"
    } else if held <= stats.resident {
        "between the two, as expected: the difference from active + metadata is freed pages \
         jemalloc has not yet purged"
    } else {
        "between the two, as expected once purged: part of jemalloc's metadata was never \
         touched, so it is not resident"
    };
    format!("{figures}: {verdict}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_form_in_its_spellings() {
        let stats = parse_jemalloc_stats(
            b"# tikv-jemalloc-ctl\njemalloc.allocated=10\nactive: 20\n\
              reth_jemalloc_resident{instance=\"a\"} 3e1 1700000000\nmetadata 4\nepoch 7\n",
        )
        .unwrap();
        assert_eq!(
            (
                stats.allocated,
                stats.active,
                stats.resident,
                stats.metadata
            ),
            (10, 20, 30, Some(4))
        );
        assert_eq!(stats.mapped, None);
    }

    #[test]
    fn the_heap_line_is_placed_between_active_metadata_and_resident() {
        let stats = |metadata, resident| JemallocStats {
            allocated: 90,
            active: 100,
            metadata: Some(metadata),
            resident,
            ..JemallocStats::default()
        };
        let verdict = |stats: &JemallocStats, heap| heap_comparison(stats, heap);
        assert!(verdict(&stats(10, 150), 130).contains("freed pages"));
        assert!(verdict(&stats(10, 105), 107).contains("once purged"));
        assert!(verdict(&stats(10, 150), 50).contains("below both"));
        assert!(verdict(&stats(10, 150), 200).contains("above both"));
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        let error = |bytes: &[u8]| parse_jemalloc_stats(bytes).unwrap_err();
        assert_eq!(
            error(b"hello world\n"),
            JemallocStatsError::NotStats { line: 1 }
        );
        assert_eq!(
            error(b"allocated=1\nactive=2\n"),
            JemallocStatsError::Missing("resident")
        );
        assert!(matches!(
            error(b"{\"jemalloc\": {\"stats\""),
            JemallocStatsError::BadJson(_)
        ));
        assert!(matches!(
            error(b"{\"heap\": 1}"),
            JemallocStatsError::NotJemallocJson(_)
        ));
        assert_eq!(
            error(b"allocated=1\nallocated=2\n"),
            JemallocStatsError::Repeated {
                name: "allocated",
                line: 2
            }
        );
        assert_eq!(error(b"\xff\xfe"), JemallocStatsError::NotText);
    }
}
