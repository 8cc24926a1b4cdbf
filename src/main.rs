//! The memanalyzer command: parses the command line, runs the chosen mode through the library,
//! and maps the outcome to an exit status. Everything only the binary needs is in `cli/`.

mod cli;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;

use cli::args::{add_flag_suggestion, normalize_go_style};
use cli::config::Config;
use cli::flags::Cli;

/// Exit statuses: 0 success, 1 a runtime failure, 2 a usage error (clap's own convention); 3 and 4
/// are in `cli::mode` (a threshold crossed, the watched process gone).
const EXIT_FAILURE: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args = normalize_go_style(std::env::args_os());
    if let Some(generated) = cli::generate::requested(&args) {
        return match generated {
            Ok(_) if cli::output::stdout_was_closed() => {
                eprintln!("memanalyzer: error: {}", cli::output::STDOUT_CLOSED);
                ExitCode::from(EXIT_FAILURE)
            }
            Ok(text) => match io::stdout().lock().write_all(text.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("memanalyzer: error: cannot write the output: {error}");
                    ExitCode::from(EXIT_FAILURE)
                }
            },
            Err(usage) => {
                eprintln!("memanalyzer: error: {usage}");
                ExitCode::from(EXIT_USAGE)
            }
        };
    }
    let mut cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let error = add_flag_suggestion(error);
            if !error.use_stderr() && cli::output::stdout_was_closed() {
                // --help or --version, for a standard output that is closed.
                eprintln!("memanalyzer: error: {}", cli::output::STDOUT_CLOSED);
                return ExitCode::from(EXIT_FAILURE);
            }
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli::config::resolve_name(&mut cli) {
        Ok(None) => {}
        Ok(Some(notice)) => eprintln!("memanalyzer: {notice}"),
        Err(error) => {
            eprintln!("memanalyzer: error: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    }
    let config = Config::from_cli(&cli);
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut stderr = io::stderr().lock();
    match cli::mode::run(&config, &mut out, &mut stderr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if cli::mode::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) if error.is::<cli::mode::Ending>() => {
            let ending = error
                .downcast::<cli::mode::Ending>()
                .expect("checked just above");
            let _ = writeln!(stderr, "memanalyzer: {ending}");
            ExitCode::from(ending.status)
        }
        Err(error) => {
            let _ = writeln!(stderr, "memanalyzer: error: {error:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
