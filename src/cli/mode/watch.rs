//! `-watch INTERVAL`: samples a live process until Ctrl-C, `-count` samples, a threshold, or the
//! process's exit; and the replay of a recording (`-file FILE` on what `-record` wrote).
//!
//! What a sample costs the target: most ticks read only `/proc/PID/smaps_rollup` and
//! `/proc/PID/stat` — the kernel walks the process's page tables once, holding its mmap lock for
//! reading (about a quarter of the cost of smaps, with no per-region text); every `-full-every`
//! ticks, and whenever the RSS moved by 5% since the last full read, the full smaps is read as
//! in a normal run (the same walk plus a text record per region). Nothing is written to the
//! target and it is never stopped (before Linux 4.14, which has no `smaps_rollup`, every tick
//! reads the full smaps). memanalyzer's own memory stays bounded (see
//! `timeline::history`).

// Only a live watch (Linux) shows samples as they come; replays use the rest.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use anyhow::Context;
use memanalyzer::render::timeline::{self as render, Limits};
use memanalyzer::render::{escape, Format};
use memanalyzer::timeline::history::{min_leak_rate, History};
use memanalyzer::timeline::recording::{looks_like_recording, read_recording};
use memanalyzer::timeline::verdict::Trend;
use memanalyzer::Amounts;

use super::{Ending, EXIT_THRESHOLD};
use crate::cli::config::{Config, Thresholds, WatchSettings};

/// Whether `path` holds a recording rather than smaps text.
pub(super) fn is_recording(path: &Path) -> bool {
    let mut start = [0u8; 64];
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let read = std::io::Read::read(&mut file, &mut start).unwrap_or(0);
    looks_like_recording(&start[..read])
}

/// How the samples are shown as they come.
enum Display {
    /// A screen redrawn in place (text on a terminal).
    Screen,
    /// One NDJSON line per sample (piped, or `-format json`).
    Lines,
    /// The latest report's metrics and the growth per category (`-format prometheus`): at the
    /// end, and with `-output` rewritten at every full sample (node_exporter's textfile
    /// collector).
    Prometheus,
}

pub(super) fn run(
    config: &Config,
    pid: i32,
    settings: &WatchSettings,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> anyhow::Result<()> {
    live::run(config, pid, settings, out, warn)
}

#[cfg(target_os = "linux")]
mod live {
    use std::fs::OpenOptions;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::cli::mode::EXIT_TARGET_EXITED;
    use memanalyzer::timeline::recording;
    use memanalyzer::timeline::sample::LiveTarget;
    use memanalyzer::timeline::{Sample, Snapshot};
    use memanalyzer::Error;

    /// A full read is also made when the RSS moved by this fraction since the last one.
    const MOVED: f64 = 0.05;

    /// Set by the SIGINT handler; the loop ends at the next check.
    static INTERRUPTED: AtomicBool = AtomicBool::new(false);

    fn unix_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64)
    }

    pub(super) fn run(
        config: &Config,
        pid: i32,
        settings: &WatchSettings,
        out: &mut dyn Write,
        warn: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let target = LiveTarget::open(pid)?;
        let limits = Limits {
            limit: config
                .thresholds
                .limit
                .map(|limit| (limit, "-limit"))
                .or_else(|| {
                    target
                        .cgroup_memory_max()
                        .map(|limit| (limit, "cgroup memory.max"))
                }),
        };
        let display = match config.format {
            Format::Prometheus => Display::Prometheus,
            Format::Text if config.to_terminal => Display::Screen,
            _ => Display::Lines,
        };
        let mut last_report: Option<memanalyzer::Report> = None;
        let mut record = match &settings.record {
            Some(path) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| {
                        format!(
                            "cannot open the recording {}",
                            escape::for_terminal(path.as_os_str().as_encoded_bytes())
                        )
                    })?,
            ),
            None => None,
        };
        install_interrupt_handler();
        let options = &settings.options;
        let mut history = new_history(config);
        let started = Instant::now();
        let mut last_full_rss: Option<u64> = None;
        let mut ending: Option<Ending> = None;
        let mut index = 0u64;
        // Before Linux 4.14 there is no smaps_rollup: every sample reads the full smaps.
        let mut has_rollup = true;
        while !INTERRUPTED.load(Ordering::Relaxed)
            && settings.count.is_none_or(|count| index < count)
        {
            let due = !has_rollup || index % settings.full_every == 0;
            let rollup = if due {
                None
            } else {
                match target.rollup() {
                    Ok(totals) => Some(totals),
                    Err(Error::NoSuchProcess { .. }) => {
                        ending = Some(exited(pid, &history));
                        break;
                    }
                    Err(Error::Open { .. }) => {
                        has_rollup = false;
                        None
                    }
                    Err(error) => return Err(error.into()),
                }
            };
            let moved = match (rollup, last_full_rss) {
                (Some(totals), Some(last)) => {
                    (totals.rss as f64 - last as f64).abs() > MOVED * last as f64
                }
                _ => false,
            };
            let time_unix_ms = unix_ms();
            let (totals, report) = match rollup {
                Some(totals) if !moved => (totals, None),
                _ => match memanalyzer::analyze_pid(pid, options) {
                    Ok(report) => (report.totals, Some(report)),
                    Err(Error::NoSuchProcess { .. } | Error::ExitedWhileReading { .. }) => {
                        ending = Some(exited(pid, &history));
                        break;
                    }
                    Err(Error::NoUserMemory { .. }) if target.has_exited() => {
                        ending = Some(exited(pid, &history));
                        break;
                    }
                    Err(error) => return Err(error.into()),
                },
            };
            index += 1;
            if let Some(report) = &report {
                last_full_rss = Some(report.totals.rss);
            }
            let value = report.as_ref().map(recording::report_value).transpose()?;
            if matches!(display, Display::Lines) {
                recording::write_sample(
                    out,
                    time_unix_ms,
                    Some(pid),
                    index,
                    totals,
                    value.as_ref(),
                )
                .context("cannot write the output")?;
            }
            if let Some(file) = &mut record {
                recording::write_sample(
                    file,
                    time_unix_ms,
                    Some(pid),
                    index,
                    totals,
                    value.as_ref(),
                )
                .context("cannot append to the recording")?;
            }
            history.push(Sample {
                time_unix_ms,
                totals,
                snapshot: report.as_ref().map(Snapshot::of_report),
            });
            if let Some(report) = report {
                last_report = Some(report);
                if matches!(display, Display::Prometheus) && config.output.is_some() {
                    prometheus(config, pid, &history, last_report.as_ref(), out)?;
                }
            }
            if let Display::Screen = display {
                redraw(config, pid, &history, limits, out)?;
            }
            if let Some(crossed) = check(&config.thresholds, &history, config.style.unit) {
                ending = Some(crossed);
                break;
            }
            if settings.count.is_some_and(|count| index >= count) {
                break;
            }
            sleep_until(started + settings.interval.mul_f64(index as f64));
        }
        if let Display::Prometheus = display {
            prometheus(config, pid, &history, last_report.as_ref(), out)?;
        } else {
            finish(config, &history, limits, display, out, warn)?;
        }
        plot(config, &format!("process {pid}"), &history, limits)?;
        match ending {
            Some(ending) => Err(ending.into()),
            None => Ok(()),
        }
    }

    fn exited(pid: i32, history: &History) -> Ending {
        Ending {
            status: EXIT_TARGET_EXITED,
            message: format!(
                "process {pid} exited during the watch, after {} samples; the summary covers \
                 the samples until then",
                history.samples
            ),
        }
    }

    fn install_interrupt_handler() {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        extern "C" fn on_interrupt(_: nix::libc::c_int) {
            INTERRUPTED.store(true, Ordering::Relaxed);
        }
        let action = SigAction::new(
            SigHandler::Handler(on_interrupt),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(Signal::SIGINT, &action) };
    }

    /// Sleeps until `deadline` in short steps, so that Ctrl-C ends the watch promptly.
    fn sleep_until(deadline: Instant) {
        const STEP: Duration = Duration::from_millis(50);
        while !INTERRUPTED.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            std::thread::sleep((deadline - now).min(STEP));
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod live {
    use super::*;

    pub(super) fn run(
        _config: &Config,
        _pid: i32,
        _settings: &WatchSettings,
        _out: &mut dyn Write,
        _warn: &mut dyn Write,
    ) -> anyhow::Result<()> {
        Err(memanalyzer::Error::NeedsProcfs.into())
    }
}

/// The latest full report's metrics followed by the growth per category.
fn prometheus(
    config: &Config,
    pid: i32,
    history: &History,
    report: Option<&memanalyzer::Report>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let renderer = memanalyzer::render::Renderer::new(Format::Prometheus, config.style);
    super::emit(config, out, |destination| {
        if let Some(report) = report {
            renderer.report(report, destination)?;
        }
        render::growth_prometheus(history, pid, destination)
    })
}

/// Clears the terminal and draws the summary so far.
fn redraw(
    config: &Config,
    pid: i32,
    history: &History,
    limits: Limits,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut screen = Vec::new();
    screen.extend_from_slice(b"\x1b[H\x1b[2J");
    writeln!(
        screen,
        "memanalyzer: watching process {pid} (Ctrl-C ends with the summary)"
    )?;
    render::summary_text(history, limits, config.style.unit, &mut screen)?;
    out.write_all(&screen).context("cannot write the output")?;
    out.flush().context("cannot write the output")?;
    Ok(())
}

/// The summary: text for people (after a screen, or for a replay), one NDJSON line otherwise.
fn finish(
    config: &Config,
    history: &History,
    limits: Limits,
    display: Display,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> anyhow::Result<()> {
    if history.samples == 0 {
        let _ = writeln!(warn, "memanalyzer: warning: no samples were taken");
    }
    match display {
        Display::Lines | Display::Prometheus => render::summary_json(history, limits, out),
        // The screen already shows the summary of every sample: it is left as it is.
        Display::Screen if history.samples > 0 => Ok(()),
        Display::Screen => render::summary_text(history, limits, config.style.unit, out),
    }
    .context("cannot write the output")?;
    out.flush().context("cannot write the output")
}

/// The first threshold the history crosses, if any.
fn check(
    thresholds: &Thresholds,
    history: &History,
    unit: memanalyzer::render::Unit,
) -> Option<Ending> {
    let crossed = |message: String| Ending {
        status: EXIT_THRESHOLD,
        message: format!("threshold crossed: {message}"),
    };
    let now = history.last_totals.unwrap_or_default();
    let first: Amounts = history.first_totals.unwrap_or_default();
    if let Some(max) = thresholds.max_rss.filter(|&max| now.rss > max) {
        return Some(crossed(format!(
            "-max-rss {}: RSS is {}",
            unit.format(max),
            unit.format(now.rss)
        )));
    }
    if let Some(max) = thresholds
        .max_growth
        .filter(|&max| now.rss.saturating_sub(first.rss) > max)
    {
        return Some(crossed(format!(
            "-max-growth {}: RSS grew by {} since the first sample (from {} to {})",
            unit.format(max),
            unit.format(now.rss - first.rss),
            unit.format(first.rss),
            unit.format(now.rss)
        )));
    }
    if let Some(max) = thresholds.max_rate {
        let verdict = history.total.verdict(min_leak_rate(now.rss));
        if verdict.trend == Trend::Growing && verdict.rate_per_hour > max as f64 {
            return Some(crossed(format!(
                "-max-rate {}: RSS grows at {}",
                render::rate(unit, max as f64),
                render::verdict_words(&verdict, unit)
            )));
        }
    }
    None
}

/// Replays a recording: the summary and verdict of its samples, and the thresholds.
pub(super) fn replay(
    config: &Config,
    path: &Path,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> anyhow::Result<()> {
    let shown = escape::for_terminal(path.as_os_str().as_encoded_bytes());
    let file = File::open(path).with_context(|| format!("cannot open {shown}"))?;
    let mut history = new_history(config);
    let summary = read_recording(BufReader::new(file), |sample| history.push(sample))
        .with_context(|| format!("cannot replay {shown}"))?;
    if let Some(line) = summary.cut_line {
        let _ = writeln!(
            warn,
            "memanalyzer: warning: {shown}: line {line} is cut short (the recording was being \
             written or was cut); the {} whole samples before it are used",
            summary.samples
        );
    }
    if summary.samples == 0 {
        anyhow::bail!("{shown} holds no samples: record some with -watch INTERVAL -record {shown}");
    }
    let limits = Limits {
        limit: config.thresholds.limit.map(|limit| (limit, "-limit")),
    };
    let display = if config.format == Format::Text {
        Display::Screen
    } else {
        Display::Lines
    };
    super::emit(config, out, |destination| match display {
        Display::Lines | Display::Prometheus => render::summary_json(&history, limits, destination),
        Display::Screen => render::summary_text(&history, limits, config.style.unit, destination),
    })?;
    plot(config, &format!("recording {shown}"), &history, limits)?;
    match check(&config.thresholds, &history, config.style.unit) {
        Some(ending) => Err(ending.into()),
        None => Ok(()),
    }
}

fn new_history(config: &Config) -> History {
    if config.plot.is_some() {
        History::with_plot()
    } else {
        History::new()
    }
}

/// Writes the chart of `-plot`, atomically: the categories stacked, the total RSS, the verdict,
/// and the thresholds and limit as lines.
fn plot(config: &Config, what: &str, history: &History, limits: Limits) -> anyhow::Result<()> {
    use memanalyzer::timeline::plot::{svg, Chart, Threshold};
    let (Some(path), Some(data)) = (&config.plot, &history.plot) else {
        return Ok(());
    };
    let unit = config.style.unit;
    let verdicts = render::verdicts(history);
    let mut verdict = format!("RSS {}", render::verdict_words(&verdicts.total, unit));
    for (series, category) in &verdicts.categories {
        if category.leak {
            verdict.push_str(&format!("; possible leak in {}", series.label));
        }
    }
    let first = history.first_totals.map_or(0, |totals| totals.rss);
    let thresholds = [
        config
            .thresholds
            .max_rss
            .map(|max| (max, format!("-max-rss {}", unit.format(max)))),
        config.thresholds.max_growth.map(|max| {
            (
                first.saturating_add(max),
                format!("-max-growth {} over the first sample", unit.format(max)),
            )
        }),
        limits
            .limit
            .map(|(limit, from)| (limit, format!("limit {} ({from})", unit.format(limit)))),
    ]
    .into_iter()
    .flatten()
    .map(|(bytes, label)| Threshold { bytes, label })
    .collect();
    let chart = Chart {
        title: format!("memanalyzer: {what}, {} samples", history.samples),
        verdict,
        labels: history
            .categories
            .iter()
            .map(|series| series.label.as_str())
            .collect(),
        data,
        thresholds,
    };
    let shown = escape::for_terminal(path.as_os_str().as_encoded_bytes());
    let text = svg(&chart).with_context(|| format!("cannot draw {shown}"))?;
    let mut file = crate::cli::output::AtomicFile::create(path)
        .with_context(|| format!("cannot write {shown}"))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.commit())
        .with_context(|| format!("cannot write {shown}"))
}
