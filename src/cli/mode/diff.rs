//! `-diff BASE`: compares now (`-pid` or `-file`) with a baseline — a saved smaps capture, a
//! JSON report (`-format json`), or the first full sample of a recording — and prints what
//! changed; `-max-rss` and `-max-growth` turn it into a CI check (exit status 3).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use memanalyzer::render::{escape, timeline, Format};
use memanalyzer::timeline::recording::{looks_like_recording, read_recording};
use memanalyzer::timeline::{diff, Snapshot};
use memanalyzer::{Input, Listing, Options};

use super::{emit, Ending, EXIT_THRESHOLD};
use crate::cli::config::{Config, Thresholds};

pub(super) fn run(
    config: &Config,
    base_path: &Path,
    input: &Input,
    options: &Options,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut base = baseline(base_path)?;
    // Show the file the user named, not the path inside a JSON report.
    base.path = escape::for_json(base_path.as_os_str().as_encoded_bytes());
    let report = memanalyzer::analyze(input, options)?;
    let shown = escape::for_terminal(report.source.path.as_os_str().as_encoded_bytes());
    for warning in &report.warnings {
        let _ = writeln!(warn, "memanalyzer: warning: {shown}: {warning}");
    }
    let now = Snapshot::of_report(&report);
    let diff = diff(&base, &now);
    let top = match options.listing {
        Listing::Top(count) => Some(count),
        Listing::All => None,
    };
    emit(config, out, |destination| match config.format {
        Format::Json => timeline::diff_json(&diff, destination),
        _ => timeline::diff_text(&diff, config.style.unit, top, destination),
    })?;
    check(&config.thresholds, &diff, config.style.unit)
}

/// Exit status 3, with one line naming the threshold, when one is crossed.
fn check(
    thresholds: &Thresholds,
    diff: &memanalyzer::timeline::Diff,
    unit: memanalyzer::render::Unit,
) -> anyhow::Result<()> {
    if let Some(max) = thresholds.max_rss {
        if diff.now_totals.rss > max {
            return Err(Ending {
                status: EXIT_THRESHOLD,
                message: format!(
                    "threshold crossed: -max-rss {}: RSS is {}",
                    unit.format(max),
                    unit.format(diff.now_totals.rss)
                ),
            }
            .into());
        }
    }
    if let Some(max) = thresholds.max_growth {
        if diff.change.rss > 0 && diff.change.rss as u64 > max {
            return Err(Ending {
                status: EXIT_THRESHOLD,
                message: format!(
                    "threshold crossed: -max-growth {}: RSS grew by {} since the baseline \
                     (from {} to {})",
                    unit.format(max),
                    unit.format(diff.change.rss as u64),
                    unit.format(diff.base_totals.rss),
                    unit.format(diff.now_totals.rss)
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// Reads a baseline: a memanalyzer JSON report, a recording (its first full sample), or smaps
/// (streamed, like any smaps file: a baseline of a huge process costs no more memory than
/// analyzing it).
pub(super) fn baseline(path: &Path) -> anyhow::Result<Snapshot> {
    let shown = escape::for_terminal(path.as_os_str().as_encoded_bytes());
    let neither = "the baseline must be a saved smaps file (cat /proc/PID/smaps > base.smaps) or \
                   a JSON report (memanalyzer -pid PID -format json > base.json)";
    let mut start = [0u8; 64];
    let read = std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read(&mut file, &mut start))
        .with_context(|| format!("cannot read the baseline {shown}"))?;
    if looks_like_recording(&start[..read]) {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the baseline {shown} (is it UTF-8 JSON?)"))?;
        return match Snapshot::from_json(&text) {
            Ok(snapshot) => Ok(snapshot),
            Err(not_a_report) => {
                // A recording: the first sample that read the full smaps.
                let mut first = None;
                let read = read_recording(text.as_bytes(), |sample| {
                    if first.is_none() {
                        first = sample.snapshot;
                    }
                });
                match (read, first) {
                    (Ok(_), Some(snapshot)) => Ok(snapshot),
                    _ => Err(anyhow::anyhow!(
                        "{shown} is JSON but {not_a_report}; {neither}"
                    )),
                }
            }
        };
    }
    let input = Input::File(path.to_path_buf());
    match memanalyzer::analyze(&input, &Options::default().region_groups()) {
        Ok(report) => Ok(Snapshot::of_report(&report)),
        Err(error @ (memanalyzer::Error::Parse { .. } | memanalyzer::Error::Empty { .. })) => {
            let why = std::error::Error::source(&error)
                .map_or_else(|| error.to_string(), ToString::to_string);
            Err(anyhow::anyhow!(
                "{shown} is neither smaps text ({why}) nor a memanalyzer JSON report; {neither}"
            ))
        }
        Err(error) => Err(error).with_context(|| format!("cannot read the baseline {shown}")),
    }
}
