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
pub mod output;
pub mod parse;
pub mod prefetch;
pub mod process;
pub mod ps;
pub mod render;
pub mod report;
pub mod source;

use std::io::{self, Write};

use anyhow::Context;

use crate::config::{Config, Mode};

/// Does what `config` says: analyzes a process or lists processes, and writes the result to
/// `out` (or to the `-output` file, atomically). Warnings go to `warn`.
pub fn run(config: &Config, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    let renderer = render::renderer(config.format, config.style);
    match &config.mode {
        Mode::Analyze { input, listing } => {
            let report = source::analyze(input, *listing)?;
            for warning in &report.warnings {
                // A failed warning must not hide the report itself.
                let _ = writeln!(warn, "memanalyzer: warning: {warning}");
            }
            emit(config, out, |destination| {
                renderer.render(&report, destination)
            })
        }
        Mode::ProcessList => {
            let list = ps::list_processes()?;
            emit(config, out, |destination| {
                renderer.render_processes(&list, destination)
            })
        }
    }
}

/// Writes through `render` to standard output or, with `-output`, to a file renamed into place.
fn emit(
    config: &Config,
    out: &mut dyn Write,
    render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    match &config.output {
        None => {
            render(out).context("cannot write the output")?;
            out.flush().context("cannot write the output")?;
        }
        Some(path) => {
            let shown = escape::escape_bytes(path.as_os_str().as_encoded_bytes());
            let context = || format!("cannot write {shown}");
            let mut file = output::AtomicFile::create(path).with_context(context)?;
            render(&mut file).with_context(context)?;
            file.commit().with_context(context)?;
        }
    }
    Ok(())
}

/// Whether an error is a write into a closed pipe (`memanalyzer -all | head -1`): not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|cause| cause.kind() == io::ErrorKind::BrokenPipe)
}
