//! The default mode: analyze one process or capture and print its report.

use std::io::{Read, Write};
use std::path::Path;

use memanalyzer::render::{escape, Renderer};
use memanalyzer::{HeapProfile, Input, Options};

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
    // The profile first: a bad one fails before the (longer) analysis.
    let profile = config
        .pprof
        .as_deref()
        .map(|path| read_heap_profile(path, input))
        .transpose()?;
    let mut report = memanalyzer::analyze(input, options)?;
    if let Some((path, profile)) = profile {
        let source = path.as_os_str().as_encoded_bytes().to_vec();
        memanalyzer::reconcile_go(&mut report, source, &profile).map_err(|why| {
            anyhow::anyhow!(
                "-pprof {}: {why}",
                escape::for_terminal(path.as_os_str().as_encoded_bytes())
            )
        })?;
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

/// `-pprof FILE` (`-`: standard input, unless the smaps come from there) read and parsed.
fn read_heap_profile<'a>(path: &'a Path, input: &Input) -> anyhow::Result<(&'a Path, HeapProfile)> {
    let shown = escape::for_terminal(path.as_os_str().as_encoded_bytes());
    let bytes = if path.as_os_str() == "-" {
        if *input == Input::Stdin {
            anyhow::bail!(
                "-pprof - and -file - both read standard input: save one of them to a file"
            );
        }
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|error| anyhow::anyhow!("-pprof -: cannot read standard input: {error}"))?;
        bytes
    } else {
        std::fs::read(path).map_err(|error| anyhow::anyhow!("-pprof {shown}: {error}"))?
    };
    let profile = memanalyzer::parse_heap_profile(&bytes)
        .map_err(|error| anyhow::anyhow!("-pprof {shown}: {error}"))?;
    Ok((path, profile))
}
