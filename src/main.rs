//! Thin binary: wires command-line arguments to the library and maps errors to exit codes.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use memanalyzer::args::normalize_go_style;
use memanalyzer::cli::Cli;
use memanalyzer::config::Config;

/// Exit statuses: 0 success, 1 a runtime failure, 2 a usage error (clap's own convention).
const EXIT_FAILURE: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(normalize_go_style(std::env::args_os())) {
        Ok(cli) => cli,
        Err(error) => {
            let error = memanalyzer::args::add_flag_suggestion(error);
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let config = Config::from_cli(&cli);
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut stderr = io::stderr().lock();
    match memanalyzer::run(&config, &mut out, &mut stderr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if memanalyzer::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(stderr, "memanalyzer: error: {error:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
