//! Everything only the binary needs, none of it part of the library: the clap definition
//! (`flags.rs`, nothing else), the single-dash spellings (`args.rs`), settings resolved from the
//! command line and environment (`config.rs`), where output goes (`output.rs`), the man page and
//! completions (`generate.rs`), value parsers for intervals, sizes and rates (`values.rs`), one
//! file per mode under `mode/`, and the HTTP server behind `-http` (`server.rs`).

pub mod args;
pub mod config;
pub mod flags;
pub mod generate;
pub mod mode;
pub mod output;
pub mod server;
pub mod values;
