//! The default mode: analyze one process or capture and print its report.

use std::io::Write;

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
    let report = memanalyzer::analyze(input, options)?;
    let path = escape::for_terminal(report.source.path.as_os_str().as_encoded_bytes());
    for warning in &report.warnings {
        // A failed warning must not hide the report itself.
        let _ = writeln!(warn, "memanalyzer: warning: {path}: {warning}");
    }
    emit(config, out, |destination| {
        renderer.report(&report, destination)
    })
}
