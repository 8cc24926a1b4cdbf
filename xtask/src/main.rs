//! `cargo run -p xtask -- generate` writes the man page and shell completions generated from
//! memanalyzer's clap definition; `cargo run -p xtask -- check` exits 1 when any is stale.

use std::process::ExitCode;

use xtask::{repo_root, stale_files, write_files, GENERATE_COMMAND};

const USAGE: &str = "usage: cargo run -p xtask -- <generate|check>
  generate   write man/memanalyzer.1 and completions/memanalyzer.{bash,zsh,fish,ps1}
  check      exit 1, listing them, when the committed files are stale";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repo_root();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["generate"] => match write_files(&root) {
            Ok(written) => {
                for path in written {
                    println!("wrote {}", path.display());
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("xtask: error: {error}");
                ExitCode::FAILURE
            }
        },
        ["check"] => {
            let stale = stale_files(&root);
            if stale.is_empty() {
                println!("man page and completions are up to date");
                return ExitCode::SUCCESS;
            }
            for path in &stale {
                eprintln!("stale: {}", path.display());
            }
            eprintln!("run `{GENERATE_COMMAND}` and commit the result");
            ExitCode::FAILURE
        }
        ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
