//! The command-line interface, as clap defines it. Nothing else lives here: the single-dash
//! spellings are mapped onto these flags in `args.rs`, and `config.rs` turns them into settings.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  memanalyzer -pid 1234                 Analyze process 1234
  memanalyzer -pid 1 -top 50            Show the 50 largest regions
  memanalyzer -pid 1 -all               List every region, largest first
  memanalyzer -pid 1 -format json       Machine-readable output (exact bytes)
  memanalyzer -file saved.smaps         Analyze a saved copy of /proc/PID/smaps
  memanalyzer -pid 1 | grep \"RSS (Resident)\" | awk '{print $3}'
                                        Print the resident set in MB, for scripts
  kubectl exec POD -- cat /proc/1/smaps | memanalyzer -file -
                                        Analyze a pod's main process without copying
                                        memanalyzer into the pod

Single-dash flags (-pid 1, -pid=1) and GNU forms (--pid 1, --pid=1) mean the same.
memanalyzer only reads /proc/PID/{smaps,exe,comm,stat}; it never stops or attaches to the process.";

/// Explains where a Linux process's memory goes: every region of /proc/PID/smaps in exactly one
/// category (runtime heap, stacks, metadata, named regions, files, shared memory, anonymous
/// memory), a breakdown with totals, and the largest regions.
#[derive(Debug, Parser)]
#[command(name = "memanalyzer", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// Process to analyze [default: memanalyzer's own process]
    #[arg(long, value_name = "PID", allow_negative_numbers = true, value_parser = parse_pid, conflicts_with = "file")]
    pub pid: Option<i32>,

    /// How many of the largest regions to list (0 lists none)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,

    /// List every region, largest first, instead of the top N
    #[arg(long, conflicts_with = "top")]
    pub all: bool,

    /// Analyze a saved smaps file instead of a live process ('-' reads standard input)
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = FormatArg::Text)]
    pub format: FormatArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Breakdown and region table for people and grep/awk (sizes in MB)
    Text,
    /// One JSON object with exact byte counts
    Json,
}

/// The flags that take a value, whose next argument must not be rewritten.
pub const VALUE_FLAGS: [&str; 4] = ["pid", "top", "file", "format"];
/// Every long flag, for mapping `-name` onto `--name`.
pub const LONG_FLAGS: [&str; 7] = ["pid", "top", "all", "file", "format", "help", "version"];

fn parse_pid(text: &str) -> Result<i32, String> {
    match text.parse::<i64>() {
        Ok(pid) if pid > 0 && pid <= i64::from(i32::MAX) => Ok(pid as i32),
        Ok(_) => Err("a PID is a positive whole number, such as 1234".to_string()),
        Err(_) => Err("a PID is a positive whole number, such as 1234".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn long_flag_lists_match_the_definition() {
        let command = Cli::command();
        let defined: Vec<&str> = command
            .get_arguments()
            .filter_map(|arg| arg.get_long())
            .collect();
        for flag in LONG_FLAGS {
            assert!(
                defined.contains(&flag) || flag == "help" || flag == "version",
                "{flag}"
            );
        }
        for flag in defined {
            assert!(
                LONG_FLAGS.contains(&flag),
                "{flag} is missing from LONG_FLAGS"
            );
        }
    }
}
