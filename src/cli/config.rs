//! Resolves the parsed command line and the environment (is stdout a terminal? NO_COLOR?
//! CLICOLOR? TERM?) into the settings a run uses, once, so the rest of the program never looks
//! at either.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use memanalyzer::render::{Format, TextStyle, Unit};
use memanalyzer::target::Target;
use memanalyzer::{Input, Options};

use super::flags::{Cli, ColorArg, FormatArg, UnitArg};

/// What a run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Analyze one process's regions.
    Analyze { input: Input, options: Options },
    /// List the processes this user can see (`-ps`), grouped by cgroup with `-cgroup`.
    ProcessList { by_cgroup: bool },
    /// Serve the analysis of a live process over HTTP (`-http`).
    Http(HttpSettings),
    /// Compare now with a baseline (`-diff BASE`).
    Diff {
        base: PathBuf,
        input: Input,
        options: Options,
    },
    /// Sample a live process over time (`-watch INTERVAL`).
    Watch { pid: i32, settings: WatchSettings },
}

/// What `-http` serves, where, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub address: SocketAddr,
    pub target: Target,
    /// At most one smaps read per this interval.
    pub min_interval: Duration,
    /// The file holding the bearer token requests must carry.
    pub token_file: Option<PathBuf>,
    /// How each analysis reads the process (every region kept, so that each request lists as
    /// many as it asks for).
    pub options: Options,
}

/// How a watch samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSettings {
    pub interval: Duration,
    /// Stop after this many samples.
    pub count: Option<u64>,
    /// Read the full smaps every this many samples.
    pub full_every: u64,
    /// Append every sample to this file.
    pub record: Option<PathBuf>,
    /// How each sample reads the process (no regions listed; grouped for the verdict).
    pub options: Options,
}

/// Limits for scripts and CI (exit status 3), and the limit a growth is counted down to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Thresholds {
    pub max_rss: Option<u64>,
    pub max_growth: Option<u64>,
    /// Bytes per hour.
    pub max_rate: Option<u64>,
    /// `-limit`: the memory limit growth is measured against.
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    pub format: Format,
    pub style: TextStyle,
    /// Write here (atomically) instead of standard output.
    pub output: Option<PathBuf>,
    /// Standard output was closed at the start: writing there would lose the output.
    pub stdout_closed: bool,
    pub thresholds: Thresholds,
    /// `-plot FILE.svg`: the chart of a watch or a replayed recording.
    pub plot: Option<PathBuf>,
    /// `-pprof FILE`: a Go heap profile to reconcile with the analysis (`-`: standard input).
    pub pprof: Option<PathBuf>,
    /// Standard output is a terminal (and no -output): a watch redraws a screen there.
    pub to_terminal: bool,
    /// `-jemalloc-stats FILE`: jemalloc's own statistics to reconcile the analysis with.
    pub jemalloc_stats: Option<PathBuf>,
}

/// The parts of the environment that decide colour.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub stdout_is_terminal: bool,
    /// Standard output was closed when memanalyzer started (`memanalyzer >&-`).
    pub stdout_closed: bool,
    pub no_color: Option<OsString>,
    pub clicolor: Option<OsString>,
    pub clicolor_force: Option<OsString>,
    pub term: Option<OsString>,
}

impl Environment {
    pub fn current() -> Environment {
        Environment {
            stdout_is_terminal: std::io::stdout().is_terminal(),
            stdout_closed: super::output::stdout_was_closed(),
            no_color: std::env::var_os("NO_COLOR"),
            clicolor: std::env::var_os("CLICOLOR"),
            clicolor_force: std::env::var_os("CLICOLOR_FORCE"),
            term: std::env::var_os("TERM"),
        }
    }

    /// `-color auto`, as no-color.org and bixense.com/clicolors have it: NO_COLOR (non-empty)
    /// turns colour off; otherwise CLICOLOR_FORCE (non-empty, not `0`) turns it on even for a
    /// pipe; otherwise colour only for a terminal, unless CLICOLOR is `0` or TERM is `dumb`.
    fn auto_color(&self) -> bool {
        let set = |value: &Option<OsString>| value.as_ref().is_some_and(|value| !value.is_empty());
        let is = |value: &Option<OsString>, text: &str| value.as_deref() == Some(text.as_ref());
        if set(&self.no_color) {
            return false;
        }
        if set(&self.clicolor_force) && !is(&self.clicolor_force, "0") {
            return true;
        }
        self.stdout_is_terminal && !is(&self.clicolor, "0") && !is(&self.term, "dumb")
    }
}

/// `-name NAME` without `-http` picks a process once: its PID is put in `cli.pid`, so every
/// mode goes on as with `-pid`. When several processes have the name, the first started is
/// chosen (e.g. the parent of its workers) and the returned notice names the others.
pub fn resolve_name(cli: &mut Cli) -> Result<Option<String>, memanalyzer::Error> {
    let Some(name) = cli.name.as_ref().filter(|_| cli.http.is_none()) else {
        return Ok(None);
    };
    let name = name.as_encoded_bytes();
    let pids = memanalyzer::target::processes_named(name)?;
    let Some((&first, others)) = pids.split_first() else {
        return Err(memanalyzer::Error::NoProcessNamed {
            name: name.to_vec(),
        });
    };
    cli.pid = Some(first);
    Ok((!others.is_empty()).then(|| {
        let others: Vec<String> = others.iter().map(i32::to_string).collect();
        format!(
            "{} processes are named {}: analyzing PID {first}, the first started (the others: \
             {}; -pid chooses one)",
            pids.len(),
            memanalyzer::render::escape::for_terminal(name),
            others.join(", ")
        )
    }))
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Config {
        Config::resolve(cli, &Environment::current())
    }

    pub fn resolve(cli: &Cli, environment: &Environment) -> Config {
        let input = match (&cli.file, cli.pid) {
            (Some(path), _) if path.as_os_str() == "-" => Input::Stdin,
            (Some(path), _) => Input::File(path.clone()),
            (None, Some(pid)) => Input::Pid(pid),
            (None, None) => Input::Pid(std::process::id() as i32),
        };
        let options = if cli.all {
            Options::default().all()
        } else {
            Options::default().top(cli.top)
        };
        // A JSON report can be a later diff's baseline; a diff compares region groups.
        let options = if cli.diff.is_some() || cli.format == FormatArg::Json {
            options.region_groups()
        } else {
            options
        };
        let options = if cli.cgroup {
            options.container()
        } else {
            options
        };
        let options = if cli.no_memory_reads {
            options.no_memory_reads()
        } else {
            options
        };
        let mode = if let Some(address) = cli.http {
            let target = match &cli.name {
                Some(name) => Target::Name(name.as_encoded_bytes().to_vec()),
                None => Target::Pid(cli.pid.unwrap_or(std::process::id() as i32)),
            };
            Mode::Http(HttpSettings {
                address,
                target,
                min_interval: cli.min_interval,
                token_file: cli.token_file.clone(),
                options: options.all(),
            })
        } else if cli.ps {
            Mode::ProcessList {
                by_cgroup: cli.cgroup,
            }
        } else if let Some(base) = &cli.diff {
            Mode::Diff {
                base: base.clone(),
                input,
                options,
            }
        } else if let (Some(interval), Some(pid)) = (cli.watch, cli.pid) {
            Mode::Watch {
                pid,
                settings: WatchSettings {
                    interval,
                    count: cli.count,
                    full_every: cli.full_every,
                    record: cli.record.clone(),
                    options: options.top(0).region_groups(),
                },
            }
        } else {
            Mode::Analyze { input, options }
        };
        // A file is not a terminal: -output never gets colour unless asked for.
        let to_terminal = cli.output.is_none() && environment.stdout_is_terminal;
        let color = match cli.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => Environment {
                stdout_is_terminal: to_terminal,
                ..environment.clone()
            }
            .auto_color(),
        };
        Config {
            mode,
            format: match cli.format {
                FormatArg::Text => Format::Text,
                FormatArg::Json => Format::Json,
                FormatArg::Prometheus => Format::Prometheus,
                FormatArg::Pprof => Format::Pprof,
            },
            style: TextStyle {
                color,
                unit: match cli.unit {
                    UnitArg::B => Unit::Bytes,
                    UnitArg::Kb => Unit::Kib,
                    UnitArg::Mb => Unit::Mib,
                    UnitArg::Gb => Unit::Gib,
                    UnitArg::Auto => Unit::Auto,
                },
            },
            output: cli.output.clone(),
            stdout_closed: environment.stdout_closed,
            thresholds: Thresholds {
                max_rss: cli.max_rss,
                max_growth: cli.max_growth,
                max_rate: cli.max_rate,
                limit: cli.limit,
            },
            to_terminal,
            plot: cli.plot.clone(),
            jemalloc_stats: cli.jemalloc_stats.clone(),
            pprof: cli.pprof.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn color_for(args: &[&str], environment: Environment) -> bool {
        let cli = Cli::try_parse_from(std::iter::once("memanalyzer").chain(args.iter().copied()))
            .unwrap();
        Config::resolve(&cli, &environment).style.color
    }

    fn env(terminal: bool, no_color: Option<&str>, force: Option<&str>) -> Environment {
        Environment {
            stdout_is_terminal: terminal,
            no_color: no_color.map(OsString::from),
            clicolor_force: force.map(OsString::from),
            ..Environment::default()
        }
    }

    #[test]
    fn colour_follows_flag_then_no_color_then_clicolor_force_then_terminal() {
        assert!(color_for(&[], env(true, None, None)));
        assert!(!color_for(&[], env(false, None, None)));
        assert!(!color_for(&[], env(true, Some("1"), None)));
        assert!(
            color_for(&[], env(true, Some(""), None)),
            "an empty NO_COLOR is unset"
        );
        assert!(color_for(&[], env(false, None, Some("1"))));
        assert!(!color_for(&[], env(false, None, Some("0"))));
        assert!(!color_for(&[], env(false, Some("1"), Some("1"))));
        assert!(color_for(
            &["--color", "always"],
            env(false, Some("1"), None)
        ));
        assert!(!color_for(
            &["--color", "never"],
            env(true, None, Some("1"))
        ));
        assert!(!color_for(&["--output", "/tmp/x"], env(true, None, None)));
    }

    #[test]
    fn clicolor_zero_and_a_dumb_terminal_mean_no_colour() {
        let with = |clicolor: Option<&str>, term: Option<&str>| Environment {
            clicolor: clicolor.map(OsString::from),
            term: term.map(OsString::from),
            ..env(true, None, None)
        };
        assert!(!color_for(&[], with(Some("0"), None)));
        assert!(color_for(&[], with(Some("1"), None)));
        assert!(!color_for(&[], with(None, Some("dumb"))));
        assert!(color_for(&[], with(None, Some("xterm-256color"))));
        let forced = Environment {
            clicolor_force: Some("1".into()),
            ..with(Some("0"), Some("dumb"))
        };
        assert!(color_for(&[], forced), "CLICOLOR_FORCE wins");
    }
}
