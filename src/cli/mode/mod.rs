//! The modes a run can be in, one file each, and where their output goes. A new mode is a new
//! file here, a variant of `config::Mode`, and one line in [`run`].

mod analyze;
mod http;
mod ps;

use std::io::{self, Write};

use anyhow::Context;

use super::config::{Config, Mode};
use super::output::{Destination, STDOUT_CLOSED};
use memanalyzer::render::{escape, Renderer};

/// Does what `config` says and writes the result to `out` (or to the `-output` file,
/// atomically). Warnings go to `warn`.
pub fn run(config: &Config, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    if config.stdout_closed && config.output.is_none() {
        anyhow::bail!(STDOUT_CLOSED); // before the work, which would be lost
    }
    let renderer = Renderer::new(config.format, config.style);
    match &config.mode {
        Mode::Analyze { input, options } => {
            analyze::run(config, &renderer, input, options, out, warn)
        }
        Mode::ProcessList { by_cgroup } => ps::run(config, &renderer, *by_cgroup, out),
        Mode::Http(settings) => http::run(settings, warn),
    }
}

/// Writes through `render` to standard output or, with `-output`, to a file renamed into place
/// (or a device written directly: see `output.rs`).
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
            let shown = escape::for_terminal(path.as_os_str().as_encoded_bytes());
            let context = || format!("cannot write {shown}");
            match Destination::of(path).with_context(context)? {
                Destination::StandardOutput => {
                    if config.stdout_closed {
                        anyhow::bail!(STDOUT_CLOSED);
                    }
                    render(out).with_context(context)?;
                    out.flush().with_context(context)?;
                }
                Destination::StandardError => {
                    let mut stderr = io::stderr().lock();
                    render(&mut stderr).with_context(context)?;
                    stderr.flush().with_context(context)?;
                }
                Destination::File(mut file) => {
                    render(&mut file).with_context(context)?;
                    file.commit().with_context(context)?;
                }
            }
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
