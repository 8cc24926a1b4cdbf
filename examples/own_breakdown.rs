//! A program printing its own memory breakdown, as a service would on a debug endpoint:
//! `cargo run --example own_breakdown`.

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cache = vec![7u8; 32 << 20]; // 32 MiB the program holds, so there is something to see
    let report = memanalyzer::analyze_self(&memanalyzer::Options::default().top(5))?;
    // Written, not print!ed: a closed stdout (`| head`) ends the program with an error, not a panic.
    let mut out = std::io::stdout().lock();
    write!(out, "{}", report.breakdown_text())?;
    write!(out, "{}", report.top_regions_text(5))?;
    let files = report.file_backed().rss;
    writeln!(
        out,
        "mapped files: {} of {} MiB resident",
        files >> 20,
        report.totals.rss >> 20
    )?;
    drop(cache);
    Ok(())
}
