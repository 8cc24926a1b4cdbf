//! `smaps_gen`: writes generated smaps text to stdout, for `scripts/bench.sh` (large and hostile
//! inputs of a chosen size, the same bytes every time). It prints what the tests and the `parse`
//! benchmark generate (`benches/synthetic.rs`), so the benchmark measures the same inputs.
//!
//! ```text
//! cargo build --release --example smaps_gen
//! ./target/release/examples/smaps_gen realistic 1000000 > big.smaps
//! ./target/release/examples/smaps_gen anon-names 1000000 > hostile.smaps
//! ```
//!
//! Kinds: `realistic` (a busy native process's layout), `anon-names` and `file-paths` (every
//! region its own `[anon:…]` name or file path), `long-anon-names` and `long-file-paths` (the
//! same with 60 KB names).

use std::io::Write;
use std::process::ExitCode;

#[path = "../benches/synthetic.rs"]
mod synthetic;

const USAGE: &str =
    "usage: smaps_gen realistic|anon-names|file-paths|long-anon-names|long-file-paths REGIONS";

/// The length of a long name: just under the parser's 64 KiB line bound.
const LONG_NAME: usize = 60_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, regions] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Ok(regions) = regions.parse::<usize>() else {
        eprintln!("smaps_gen: REGIONS must be a number, not {regions:?}\n{USAGE}");
        return ExitCode::from(2);
    };
    let long = "x".repeat(LONG_NAME);
    let text = match kind.as_str() {
        "realistic" => synthetic::synthetic_smaps(regions),
        "anon-names" => synthetic::distinct_names_smaps(regions, |i| {
            format!("[anon:{}]", synthetic::letters(i))
        }),
        "file-paths" => {
            synthetic::distinct_names_smaps(regions, |i| format!("/data/{}", synthetic::letters(i)))
        }
        "long-anon-names" => synthetic::distinct_names_smaps(regions, |i| {
            format!("[anon:{}{long}]", synthetic::letters(i))
        }),
        "long-file-paths" => synthetic::distinct_names_smaps(regions, |i| {
            format!("/data/{}{long}", synthetic::letters(i))
        }),
        _ => {
            eprintln!("smaps_gen: unknown kind {kind:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(&text).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("smaps_gen: cannot write the output: {error}");
            ExitCode::from(1)
        }
    }
}
