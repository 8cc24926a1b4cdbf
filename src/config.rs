//! Resolves the parsed command line and the environment (is stdout a terminal? NO_COLOR?) into
//! the settings a run uses, once, so the rest of the program never looks at either.

use std::io::IsTerminal;

use crate::cli::{Cli, FormatArg};
use crate::render::{Format, TextStyle};
use crate::report::Listing;
use crate::source::Input;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub input: Input,
    pub listing: Listing,
    pub format: Format,
    pub style: TextStyle,
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Config {
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        Config::resolve(cli, color)
    }

    /// The environment-independent part of [`Config::from_cli`].
    pub fn resolve(cli: &Cli, color: bool) -> Config {
        let input = match (&cli.file, cli.pid) {
            (Some(path), _) if path.as_os_str() == "-" => Input::Stdin,
            (Some(path), _) => Input::File(path.clone()),
            (None, Some(pid)) => Input::Pid(pid),
            (None, None) => Input::Pid(std::process::id() as i32),
        };
        Config {
            input,
            listing: if cli.all {
                Listing::All
            } else {
                Listing::Top(cli.top)
            },
            format: match cli.format {
                FormatArg::Text => Format::Text,
                FormatArg::Json => Format::Json,
            },
            style: TextStyle { color },
        }
    }
}
