//! The modes a run can be in, one file each, and where their output goes. A new mode is a new
//! file here, a variant of `config::Mode`, and one line in [`run`].

mod analyze;
mod diff;
mod http;
mod ps;
mod watch;

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
    check_over_time_flags(config)?;
    if config.format == memanalyzer::render::Format::Pprof
        && !matches!(config.mode, Mode::Analyze { .. })
    {
        return Err(Ending {
            status: EXIT_USAGE,
            message: "error: -format pprof describes one analysis (-pid or -file); \
                      use -format json or prometheus here"
                .to_string(),
        }
        .into());
    }
    check_reconciliation_flags(config)?;
    let renderer = Renderer::new(config.format, config.style);
    match &config.mode {
        Mode::Analyze {
            input: memanalyzer::Input::File(path),
            ..
        } if watch::is_recording(path) => watch::replay(config, path, out, warn),
        Mode::Analyze { input, options } => {
            analyze::run(config, &renderer, input, options, out, warn)
        }
        Mode::ProcessList { by_cgroup } => ps::run(config, &renderer, *by_cgroup, out),
        Mode::Http(settings) => http::run(settings, warn),
        Mode::Diff {
            base,
            input,
            options,
        } => diff::run(config, base, input, options, out, warn),
        Mode::Watch { pid, settings } => watch::run(config, *pid, settings, out, warn),
    }
}

/// Exit status for a usage error found once the input is known (clap's convention).
const EXIT_USAGE: u8 = 2;

/// The over-time flags that only some modes use are refused where they would be ignored: a
/// threshold that is silently not checked is worse than an error.
fn check_over_time_flags(config: &Config) -> Result<(), Ending> {
    const OVER_TIME: &str = "it needs -watch INTERVAL or a recording (-file FILE.ndjson)";
    const THRESHOLD: &str = "it needs -diff BASE, -watch INTERVAL or a recording";
    let thresholds = &config.thresholds;
    let (mode, unused): (&str, Vec<(&str, bool, &str)>) = match &config.mode {
        Mode::Analyze {
            input: memanalyzer::Input::File(path),
            ..
        } if watch::is_recording(path) => (
            "a recording",
            vec![
                (
                    "-jemalloc-stats",
                    config.jemalloc_stats.is_some(),
                    "it reconciles one analysis of a process or a smaps file",
                ),
                (
                    "-pprof",
                    config.pprof.is_some(),
                    "it reconciles one analysis of a process or a smaps file",
                ),
            ],
        ),
        Mode::Analyze { .. } | Mode::ProcessList { .. } | Mode::Http(_) => (
            match config.mode {
                Mode::ProcessList { .. } => "-ps",
                Mode::Http(_) => "-http",
                _ => "a single analysis",
            },
            vec![
                ("-max-rss", thresholds.max_rss.is_some(), THRESHOLD),
                ("-max-growth", thresholds.max_growth.is_some(), THRESHOLD),
                ("-max-rate", thresholds.max_rate.is_some(), OVER_TIME),
                ("-limit", thresholds.limit.is_some(), OVER_TIME),
                ("-plot", config.plot.is_some(), OVER_TIME),
            ],
        ),
        Mode::Diff { .. } => (
            "-diff",
            vec![
                ("-max-rate", thresholds.max_rate.is_some(), OVER_TIME),
                ("-limit", thresholds.limit.is_some(), OVER_TIME),
                ("-plot", config.plot.is_some(), OVER_TIME),
                (
                    "-format prometheus",
                    config.format == memanalyzer::render::Format::Prometheus,
                    "a diff is text or JSON",
                ),
            ],
        ),
        Mode::Watch { .. } => (
            "-watch",
            vec![(
                "-output",
                config.output.is_some() && config.format != memanalyzer::render::Format::Prometheus,
                "a watch streams its samples; -record FILE keeps them (-output goes with \
                 -format prometheus, rewritten at every full sample)",
            )],
        ),
    };
    match unused.into_iter().find(|(_, given, _)| *given) {
        Some((flag, _, hint)) => Err(Ending {
            status: EXIT_USAGE,
            message: format!("error: {flag} does nothing with {mode}: {hint}"),
        }),
        None => Ok(()),
    }
}

/// `-format pprof` writes the process's memory alone: the reconciliation `-pprof` and
/// `-jemalloc-stats` ask for would be computed and then dropped, so they are refused with it.
fn check_reconciliation_flags(config: &Config) -> Result<(), Ending> {
    if config.format != memanalyzer::render::Format::Pprof {
        return Ok(());
    }
    let given = [
        ("-pprof", config.pprof.is_some()),
        ("-jemalloc-stats", config.jemalloc_stats.is_some()),
    ];
    match given.into_iter().find(|(_, given)| *given) {
        Some((flag, _)) => Err(Ending {
            status: EXIT_USAGE,
            message: format!(
                "error: {flag} does nothing with -format pprof: the profile holds the process's \
                 memory only; its reconciliation is shown with -format text, json or prometheus"
            ),
        }),
        None => Ok(()),
    }
}

/// Exit status when a threshold (`-max-rss`, `-max-growth`, `-max-rate`) is crossed.
pub const EXIT_THRESHOLD: u8 = 3;
/// Exit status when the watched process exits during a watch.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only live watches (Linux)
pub const EXIT_TARGET_EXITED: u8 = 4;

/// A run that ends with a status of its own (a threshold crossed, the target gone), after its
/// output was written; `main` prints the message as one line on standard error.
#[derive(Debug)]
pub struct Ending {
    pub status: u8,
    pub message: String,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Ending {}

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
