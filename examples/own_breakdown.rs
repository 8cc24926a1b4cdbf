//! A program printing its own memory breakdown, as a service would on a debug endpoint:
//! `cargo run --example own_breakdown`.

fn main() -> Result<(), memanalyzer::Error> {
    let cache = vec![7u8; 32 << 20]; // 32 MiB the program holds, so there is something to see
    let report = memanalyzer::analyze_self(&memanalyzer::Options::default().top(5))?;
    print!("{}", report.breakdown_text());
    print!("{}", report.top_regions_text(5));
    let files = report.file_backed().rss;
    println!(
        "mapped files: {} of {} MiB resident",
        files >> 20,
        report.totals.rss >> 20
    );
    drop(cache);
    Ok(())
}
