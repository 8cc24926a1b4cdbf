//! memanalyzer explains where a Linux process's memory goes, from `/proc/<pid>/smaps`.
//!
//! The data flows through one module per stage:
//! [`source`] (live PID, file or stdin) → [`parse`] (zero-copy smaps parser) → [`classify`]
//! (rules table: every region gets one kind) → [`aggregate`] (sums and largest regions) →
//! [`report`] (owned result) → [`render`] (text, JSON). [`cli`], [`args`] and [`config`] turn
//! the command line into settings; [`run`] ties it all together for the binary.

pub mod aggregate;
pub mod args;
pub mod classify;
pub mod cli;
pub mod config;
pub mod elf;
pub mod error;
pub mod escape;
pub mod parse;
pub mod prefetch;
#[cfg(target_os = "linux")]
pub mod process;
pub mod render;
pub mod report;
pub mod source;

use std::io::{self, Write};

use anyhow::Context;

use crate::config::Config;

/// Analyzes what `config` names and writes the report to `out`; warnings go to `warn`.
pub fn run(config: &Config, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    let report = source::analyze(&config.input, config.listing)?;
    for warning in &report.warnings {
        // A failed warning must not hide the report itself.
        let _ = writeln!(warn, "memanalyzer: warning: {warning}");
    }
    let renderer = render::renderer(config.format, config.style);
    renderer
        .render(&report, out)
        .context("cannot write the output")?;
    out.flush().context("cannot write the output")?;
    Ok(())
}

/// Whether an error is a write into a closed pipe (`memanalyzer -all | head -1`): not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|cause| cause.kind() == io::ErrorKind::BrokenPipe)
}
