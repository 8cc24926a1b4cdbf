//! The default mode: analyze one process or capture and print its report.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;

use memanalyzer::render::{escape, Renderer};
use memanalyzer::{Input, Options};

use super::emit;
use crate::cli::config::Config;

pub(super) fn run(
    config: &Config,
    renderer: &Renderer,
    input: &Input,
    options: &Options,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> anyhow::Result<()> {
    // The statistics first: a bad file is refused before the analysis, not after it.
    let jemalloc_stats = match &config.jemalloc_stats {
        Some(path) => Some((path, read_jemalloc_stats(path, input)?)),
        None => None,
    };
    let mut report = memanalyzer::analyze(input, options)?;
    if let Some((path, stats)) = jemalloc_stats {
        let source = path.as_os_str().as_encoded_bytes().to_vec();
        report
            .accounting
            .push(memanalyzer::reconcile_jemalloc(&stats, source, &report));
    }
    let path = escape::for_terminal(report.source.path.as_os_str().as_encoded_bytes());
    for warning in &report.warnings {
        // A failed warning must not hide the report itself.
        let _ = writeln!(warn, "memanalyzer: warning: {path}: {warning}");
    }
    emit(config, out, |destination| {
        renderer.report(&report, destination)
    })
}

/// `-jemalloc-stats FILE`: read and parsed, or an error naming the file and what is wrong.
fn read_jemalloc_stats(path: &Path, input: &Input) -> anyhow::Result<memanalyzer::JemallocStats> {
    let shown = escape::for_terminal(path.as_os_str().as_encoded_bytes());
    let bytes = if path.as_os_str() == "-" {
        if *input == Input::Stdin {
            anyhow::bail!(
                "-jemalloc-stats - and -file - cannot both read standard input: save one to a file"
            );
        }
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read jemalloc's statistics from standard input")?;
        bytes
    } else {
        std::fs::read(path).with_context(|| format!("cannot read jemalloc's statistics {shown}"))?
    };
    memanalyzer::parse_jemalloc_stats(&bytes)
        .with_context(|| format!("{shown} is not jemalloc's statistics"))
}
