//! Memory over time for people and programs: the text and JSON of a diff, the screen a watch
//! redraws on a terminal, and the summary (text and JSON) a watch or a replay ends with. Pure
//! functions from finished data to bytes, like the other renderers; labels are stable for grep
//! and awk, and names are escaped here.

use std::io::{self, Write};

use serde::Serialize;

use super::escape::for_terminal;
use super::json::{AmountsOut, AMOUNT_KEYS};
use super::Unit;
use crate::timeline::diff::{CategoryChange, Change, Diff, GroupChange};
use crate::timeline::history::{min_leak_rate, CategorySeries, History};
use crate::timeline::recording::write_line;
use crate::timeline::verdict::{hours_until, Trend, Verdict};

/// `bytes` with a sign, in `unit`: `+60 MB`, `-4 kB`, `+0 MB`.
pub fn signed(unit: Unit, bytes: i64) -> String {
    let sign = if bytes < 0 { '-' } else { '+' };
    format!("{sign}{}", unit.format(bytes.unsigned_abs()))
}

/// A rate in bytes per hour, in `unit`: `+12 MB/h`.
pub fn rate(unit: Unit, bytes_per_hour: f64) -> String {
    format!("{}/h", signed(unit, bytes_per_hour.round() as i64))
}

fn count_change(change: i64) -> String {
    format!("{change:+}")
}

/// Shown for a region without a name, as the region table does.
const UNNAMED: &str = "[anonymous]";

fn shown_name(name: &str, rest: bool) -> String {
    if rest {
        "(other regions of this category)".to_string()
    } else if name.is_empty() {
        UNNAMED.to_string()
    } else {
        for_terminal(name.as_bytes())
    }
}

/// The diff as text: totals, the change of each category (they add up to the totals' change),
/// then the groups of regions that changed, at most `top` of them.
pub fn diff_text(
    diff: &Diff,
    unit: Unit,
    top: Option<usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "Diff: {} against the baseline {}",
        for_terminal(diff.now_path.as_bytes()),
        for_terminal(diff.base_path.as_bytes())
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<22}{:>14}{:>14}{:>14}",
        "Totals", "BASE", "NOW", "CHANGE"
    )?;
    let rows: [(&str, u64, u64, i64); 4] = [
        (
            "RSS (Resident):",
            diff.base_totals.rss,
            diff.now_totals.rss,
            diff.change.rss,
        ),
        (
            "PSS (Proportional):",
            diff.base_totals.pss,
            diff.now_totals.pss,
            diff.change.pss,
        ),
        (
            "USS (Private):",
            diff.base_totals.private,
            diff.now_totals.private,
            diff.change.private,
        ),
        (
            "Swap:",
            diff.base_totals.swap,
            diff.now_totals.swap,
            diff.change.swap,
        ),
    ];
    for (label, base, now, change) in rows {
        writeln!(
            out,
            "{label:<22}{:>14}{:>14}{:>14}",
            unit.format(base),
            unit.format(now),
            signed(unit, change)
        )?;
    }
    writeln!(
        out,
        "{:<22}{:>14}{:>14}{:>14}",
        "Regions:",
        diff.base_regions,
        diff.now_regions,
        count_change(diff.now_regions as i64 - diff.base_regions as i64)
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Change by category (the changes add up to the totals' change):"
    )?;
    writeln!(
        out,
        "  {:>12} {:>12} {:>12} {:>9}  {:<20} CATEGORY",
        "RSS", "PSS", "SWAP", "REGIONS", "ID"
    )?;
    let changed: Vec<&CategoryChange> = diff
        .categories
        .iter()
        .filter(|c| !c.change.is_zero() || c.region_change() != 0)
        .collect();
    for category in &changed {
        writeln!(
            out,
            "  {:>12} {:>12} {:>12} {:>9}  {:<20} {}",
            signed(unit, category.change.rss),
            signed(unit, category.change.pss),
            signed(unit, category.change.swap),
            count_change(category.region_change()),
            category.key,
            for_terminal(category.label.as_bytes())
        )?;
    }
    if changed.is_empty() {
        writeln!(out, "  (no category changed)")?;
    }
    let sum: Change = diff.categories.iter().map(|c| c.change).sum();
    writeln!(
        out,
        "  {:>12} {:>12} {:>12} {:>9}  {:<20} (sum)",
        signed(unit, sum.rss),
        signed(unit, sum.pss),
        signed(unit, sum.swap),
        count_change(diff.now_regions as i64 - diff.base_regions as i64),
        "="
    )?;
    for category in &changed {
        if category.key == "stack" && category.region_change() > 0 {
            writeln!(
                out,
                "  note: {} more stack regions: threads were started and have not ended \
                 (a thread leak if this keeps growing)",
                category.region_change()
            )?;
        }
    }
    writeln!(out)?;
    if !diff.groups_compared {
        writeln!(
            out,
            "Regions: not compared (the baseline has no region groups: a JSON report from an \
             older memanalyzer; save a new one with -format json)"
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "Regions matched by name, permissions, file offset and inode (not address):"
    )?;
    writeln!(
        out,
        "  {:<9} {:>9} {:>12} {:>12}  {:<5} {:<20} NAME",
        "CHANGE", "REGIONS", "RSS", "SWAP", "PERMS", "ID"
    )?;
    let shown = top.unwrap_or(diff.groups.len()).min(diff.groups.len());
    for group in &diff.groups[..shown] {
        write_group(group, unit, out)?;
    }
    if diff.groups.is_empty() {
        writeln!(out, "  (no region changed)")?;
    } else if shown < diff.groups.len() {
        writeln!(
            out,
            "  ... and {} more (-top N or -all to list them)",
            diff.groups.len() - shown
        )?;
    }
    Ok(())
}

fn write_group(group: &GroupChange, unit: Unit, out: &mut dyn Write) -> io::Result<()> {
    let perms = if group.key.rest {
        "-"
    } else {
        group.key.perms.as_str()
    };
    writeln!(
        out,
        "  {:<9} {:>9} {:>12} {:>12}  {:<5} {:<20} {}",
        group.kind.key(),
        count_change(group.region_change()),
        signed(unit, group.change.rss),
        signed(unit, group.change.swap),
        perms,
        group.key.category,
        shown_name(&group.key.name, group.key.rest)
    )
}

/// A change of every amount, under the amounts' JSON names.
struct ChangeOut(Change);

impl From<Change> for ChangeOut {
    fn from(change: Change) -> ChangeOut {
        ChangeOut(change)
    }
}

impl Serialize for ChangeOut {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Change", AMOUNT_KEYS.len())?;
        for (key, change) in AMOUNT_KEYS.into_iter().zip(self.0.to_array()) {
            out.serialize_field(key, &change)?;
        }
        out.end()
    }
}

#[derive(Serialize)]
struct DiffDocument<'a> {
    schema_version: u32,
    kind: &'static str,
    base: &'a str,
    now: &'a str,
    totals: TotalsChange,
    categories: Vec<CategoryOut<'a>>,
    regions_compared: bool,
    region_groups: Vec<GroupOut<'a>>,
}

#[derive(Serialize)]
struct TotalsChange {
    base: AmountsOut,
    now: AmountsOut,
    change: ChangeOut,
    base_regions: u64,
    now_regions: u64,
}

#[derive(Serialize)]
struct CategoryOut<'a> {
    id: &'a str,
    label: &'a str,
    section_id: &'a str,
    base_regions: u64,
    now_regions: u64,
    base: AmountsOut,
    now: AmountsOut,
    change: ChangeOut,
}

#[derive(Serialize)]
struct GroupOut<'a> {
    change: &'static str,
    category_id: &'a str,
    perms: &'a str,
    offset: u64,
    inode: u64,
    name: &'a str,
    rest: bool,
    base_regions: u64,
    now_regions: u64,
    delta: ChangeOut,
}

/// The diff as one JSON object (pretty-printed): every category, every changed group.
pub fn diff_json(diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
    let document = DiffDocument {
        schema_version: 1,
        kind: "diff",
        base: &diff.base_path,
        now: &diff.now_path,
        totals: TotalsChange {
            base: diff.base_totals.into(),
            now: diff.now_totals.into(),
            change: diff.change.into(),
            base_regions: diff.base_regions,
            now_regions: diff.now_regions,
        },
        categories: diff
            .categories
            .iter()
            .map(|c| CategoryOut {
                id: &c.key,
                label: &c.label,
                section_id: &c.section,
                base_regions: c.base_regions,
                now_regions: c.now_regions,
                base: c.base.into(),
                now: c.now.into(),
                change: c.change.into(),
            })
            .collect(),
        regions_compared: diff.groups_compared,
        region_groups: diff
            .groups
            .iter()
            .map(|g| GroupOut {
                change: g.kind.key(),
                category_id: &g.key.category,
                perms: &g.key.perms,
                offset: g.key.offset,
                inode: g.key.inode,
                name: &g.key.name,
                rest: g.key.rest,
                base_regions: g.base_regions,
                now_regions: g.now_regions,
                delta: g.change.into(),
            })
            .collect(),
    };
    // One line, like every JSON memanalyzer writes for programs over time.
    write_line(out, &document)
}

/// What the summary knows besides the history: the limit to count down to.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// The memory limit (`-limit`, or the cgroup's `memory.max`), bytes, and where it is from.
    pub limit: Option<(u64, &'static str)>,
}

/// Eight levels of a sparkline.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A sparkline of `values`, at most `width` characters (values averaged into buckets).
pub fn sparkline(values: &[f64], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let buckets = width.min(values.len());
    let points: Vec<f64> = (0..buckets)
        .map(|index| {
            let start = index * values.len() / buckets;
            let end = ((index + 1) * values.len() / buckets).max(start + 1);
            values[start..end].iter().sum::<f64>() / (end - start) as f64
        })
        .collect();
    let low = points.iter().copied().fold(f64::INFINITY, f64::min);
    let high = points.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    points
        .iter()
        .map(|&value| {
            if high - low <= f64::EPSILON {
                BARS[0]
            } else {
                let level = ((value - low) / (high - low) * 7.0).round() as usize;
                BARS[level.min(7)]
            }
        })
        .collect()
}

/// One line of words for a verdict: `steady`, `growing at +12 MB/h (95%: +10 MB/h .. +14 MB/h)`.
pub fn verdict_words(verdict: &Verdict, unit: Unit) -> String {
    match verdict.trend {
        Trend::TooFewSamples => format!(
            "not enough samples yet ({} of the {} windows needed; with a sawtooth, each window \
             spans one of its cycles)",
            verdict.windows,
            crate::timeline::verdict::MIN_WINDOWS
        ),
        Trend::Steady => format!(
            "steady ({} (95%: {} .. {}), no significant trend, p={:.2})",
            rate(unit, verdict.rate_per_hour),
            rate(unit, verdict.rate_low),
            rate(unit, verdict.rate_high),
            verdict.p_value
        ),
        Trend::Growing | Trend::Shrinking => format!(
            "{} at {} (95%: {} .. {}, p={:.4})",
            verdict.trend.key(),
            rate(unit, verdict.rate_per_hour),
            rate(unit, verdict.rate_low),
            rate(unit, verdict.rate_high),
            verdict.p_value
        ),
    }
}

/// How long until `hours` from now, for people: `3h 20m`, `12 days`.
pub fn duration_words(hours: f64) -> String {
    if hours >= 48.0 {
        format!("{:.0} days", hours / 24.0)
    } else if hours >= 1.0 {
        format!(
            "{}h {:02}m",
            hours.floor(),
            ((hours.fract()) * 60.0).floor()
        )
    } else {
        format!("{:.0}m", (hours * 60.0).ceil())
    }
}

/// The verdicts of the total RSS and of every category followed.
pub struct Verdicts<'a> {
    /// The total RSS's.
    pub total: Verdict,
    /// Each category's, in the order first seen.
    pub categories: Vec<(&'a CategorySeries, Verdict)>,
}

/// Judges every series of `history`.
pub fn verdicts(history: &History) -> Verdicts<'_> {
    let current = history.last_totals.map_or(0, |totals| totals.rss);
    let total = history.total.verdict(min_leak_rate(current));
    let categories = history
        .categories
        .iter()
        .map(|series| {
            let now = series.rss.last().unwrap_or(0.0) as u64;
            // A category's leak must also matter to the process: 1 MiB/h, or 1% per hour of the
            // larger of the category and a tenth of the process.
            (
                series,
                series.rss.verdict(min_leak_rate(now.max(current / 10))),
            )
        })
        .collect();
    Verdicts { total, categories }
}

/// The summary a watch or a replay ends with (and a terminal watch redraws): per category its
/// value now, change since the start, rate per hour, a sparkline; then the verdict.
pub fn summary_text(
    history: &History,
    limits: Limits,
    unit: Unit,
    out: &mut dyn Write,
) -> io::Result<()> {
    let verdicts = verdicts(history);
    writeln!(
        out,
        "Samples: {} ({} full reads) over {:.1} s",
        history.samples,
        history.full_samples,
        history.elapsed_seconds()
    )?;
    writeln!(
        out,
        "  {:>12} {:>12} {:>14}  {:<24} {:<20} CATEGORY",
        "NOW", "CHANGE", "RATE", "HISTORY", "ID"
    )?;
    let first = history.first_totals.map_or(0, |t| t.rss);
    let now = history.last_totals.map_or(0, |t| t.rss);
    let line = |values: Vec<f64>| sparkline(&values, 24);
    let mut rows: Vec<&(&CategorySeries, Verdict)> = verdicts.categories.iter().collect();
    rows.sort_by(|a, b| {
        let last = |row: &&(&CategorySeries, Verdict)| row.0.rss.last().unwrap_or(0.0);
        last(b).total_cmp(&last(a))
    });
    for (series, verdict) in rows {
        let values: Vec<f64> = series.rss.minima().iter().map(|&(_, v)| v).collect();
        let first = series.rss.first().unwrap_or(0.0) as u64;
        let last = series.rss.last().unwrap_or(0.0) as u64;
        if first == 0 && last == 0 {
            continue;
        }
        writeln!(
            out,
            "  {:>12} {:>12} {:>14}  {:<24} {:<20} {}",
            unit.format(last),
            signed(unit, last as i64 - first as i64),
            rate(unit, verdict.rate_per_hour),
            line(values),
            series.key,
            for_terminal(series.label.as_bytes())
        )?;
    }
    let values: Vec<f64> = history.total.minima().iter().map(|&(_, v)| v).collect();
    writeln!(
        out,
        "  {:>12} {:>12} {:>14}  {:<24} {:<20} RSS (Resident)",
        unit.format(now),
        signed(unit, now as i64 - first as i64),
        rate(unit, verdicts.total.rate_per_hour),
        line(values),
        "total"
    )?;
    writeln!(out)?;
    writeln!(out, "Verdict: RSS {}", verdict_words(&verdicts.total, unit))?;
    for (series, verdict) in &verdicts.categories {
        if verdict.leak {
            writeln!(
                out,
                "Possible leak in {} ({}): {}",
                for_terminal(series.label.as_bytes()),
                series.key,
                verdict_words(verdict, unit)
            )?;
        }
    }
    if let Some((limit, from)) = limits.limit {
        match hours_until(limit, now, verdicts.total.rate_per_hour) {
            Some(hours) if verdicts.total.trend == Trend::Growing => writeln!(
                out,
                "Limit: {} ({from}) reached in about {} at this rate",
                unit.format(limit),
                duration_words(hours)
            )?,
            _ => writeln!(out, "Limit: {} ({from}) not approached", unit.format(limit))?,
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct SummaryDocument<'a> {
    record: &'static str,
    schema_version: u32,
    samples: u64,
    full_samples: u64,
    elapsed_seconds: f64,
    total: VerdictOut<'a>,
    categories: Vec<VerdictOut<'a>>,
    limit_bytes: Option<u64>,
    hours_until_limit: Option<f64>,
}

#[derive(Serialize)]
struct VerdictOut<'a> {
    id: &'a str,
    label: &'a str,
    first_rss_bytes: u64,
    now_rss_bytes: u64,
    trend: &'static str,
    rate_bytes_per_hour: f64,
    rate_low_bytes_per_hour: f64,
    rate_high_bytes_per_hour: f64,
    p_value: f64,
    windows: usize,
    possible_leak: bool,
}

fn verdict_out<'a>(
    id: &'a str,
    label: &'a str,
    first: f64,
    now: f64,
    verdict: &Verdict,
) -> VerdictOut<'a> {
    VerdictOut {
        id,
        label,
        first_rss_bytes: first as u64,
        now_rss_bytes: now as u64,
        trend: verdict.trend.key(),
        rate_bytes_per_hour: verdict.rate_per_hour.round(),
        rate_low_bytes_per_hour: verdict.rate_low.round(),
        rate_high_bytes_per_hour: verdict.rate_high.round(),
        p_value: verdict.p_value,
        windows: verdict.windows,
        possible_leak: verdict.leak,
    }
}

/// The summary as one NDJSON line, `{"record": "summary", …}`.
pub fn summary_json(history: &History, limits: Limits, out: &mut dyn Write) -> io::Result<()> {
    let verdicts = verdicts(history);
    let now = history.last_totals.map_or(0, |t| t.rss);
    let first = history.first_totals.map_or(0, |t| t.rss);
    let limit = limits.limit.map(|(limit, _)| limit);
    let document = SummaryDocument {
        record: "summary",
        schema_version: 1,
        samples: history.samples,
        full_samples: history.full_samples,
        elapsed_seconds: history.elapsed_seconds(),
        total: verdict_out(
            "total",
            "RSS (Resident)",
            first as f64,
            now as f64,
            &verdicts.total,
        ),
        categories: verdicts
            .categories
            .iter()
            .map(|(series, verdict)| {
                verdict_out(
                    &series.key,
                    &series.label,
                    series.rss.first().unwrap_or(0.0),
                    series.rss.last().unwrap_or(0.0),
                    verdict,
                )
            })
            .collect(),
        limit_bytes: limit,
        hours_until_limit: limit.and_then(|limit| {
            (verdicts.total.trend == Trend::Growing)
                .then(|| hours_until(limit, now, verdicts.total.rate_per_hour))
                .flatten()
        }),
    };
    write_line(out, &document)
}

/// The growth of every category during a watch, in the Prometheus exposition format: appended
/// after the report's own metrics (`-watch … -format prometheus`). Rates are bytes per hour from
/// the verdict; 0 until there are enough samples.
pub fn growth_prometheus(history: &History, pid: i32, out: &mut dyn Write) -> io::Result<()> {
    use super::prometheus::{escape_label, header};
    use std::fmt::Write as _;
    let verdicts = verdicts(history);
    let mut text = String::new();
    let rows: Vec<(&str, &Verdict)> = std::iter::once(("total", &verdicts.total))
        .chain(
            verdicts
                .categories
                .iter()
                .map(|(series, verdict)| (series.key.as_str(), verdict)),
        )
        .collect();
    type Value = fn(&Verdict) -> f64;
    let families: [(&str, &str, Value); 3] = [
        (
            "memanalyzer_growth_bytes_per_hour",
            "Robust growth rate of RSS (Theil-Sen over window minima) during the watch; category=\"total\" is the process.",
            |v| v.rate_per_hour.round(),
        ),
        (
            "memanalyzer_growth_p_value",
            "Two-sided p-value of the Mann-Kendall trend test of RSS during the watch.",
            |v| v.p_value,
        ),
        (
            "memanalyzer_possible_leak",
            "1 when RSS grows significantly and at least at the minimum leak rate, else 0.",
            |v| f64::from(u8::from(v.leak)),
        ),
    ];
    for (name, help, value) in families {
        header(&mut text, name, help);
        for (key, verdict) in &rows {
            let _ = writeln!(
                text,
                "{name}{{pid=\"{pid}\",category=\"{}\"}} {}",
                escape_label(key),
                value(verdict)
            );
        }
    }
    out.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_rates_sparklines_and_durations() {
        assert_eq!(signed(Unit::Mib, 60 * 1024 * 1024), "+60 MB");
        assert_eq!(signed(Unit::Kib, -4096), "-4 kB");
        assert_eq!(rate(Unit::Mib, 12.0 * 1024.0 * 1024.0), "+12 MB/h");
        assert_eq!(
            sparkline(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], 8),
            "▁▂▃▄▅▆▇█"
        );
        assert_eq!(sparkline(&[5.0; 4], 8), "▁▁▁▁");
        assert_eq!(sparkline(&[], 8), "");
        assert_eq!(duration_words(3.5), "3h 30m");
        assert_eq!(duration_words(0.25), "15m");
        assert_eq!(duration_words(72.0), "3 days");
    }
}
