//! Throughput of the stages behind `memanalyzer -file`, on 60,000 synthetic regions (~45 MB of
//! smaps text, the size of the performance target's workload):
//!
//! * `parse_bytes`: the zero-copy parser alone;
//! * `analyze_top20`: parse + classify + aggregate + finish, through `analyze_reader` (the
//!   streaming path `-file` takes), keeping the 20 largest regions;
//! * `analyze_all`: the same keeping every region (`-all`);
//! * `render_text_top20` / `render_text_all`: text rendering of those reports into a `Vec`.
//!
//! Run with `cargo bench --bench parse`; it takes well under a minute.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use memanalyzer::render::{Format, Renderer, TextStyle};
use memanalyzer::smaps::parse_bytes;
use memanalyzer::{analyze_reader, Listing, Options, Report};

#[path = "synthetic.rs"]
mod synthetic;

const REGIONS: usize = 60_000;

fn analyze(data: &[u8], listing: Listing) -> Report {
    analyze_reader(data, &Options::default().listing(listing)).expect("synthetic smaps is valid")
}

fn render_text(report: &Report, out: &mut Vec<u8>) {
    out.clear();
    Renderer::new(Format::Text, TextStyle::default())
        .report(report, out)
        .expect("writing into a Vec cannot fail");
}

fn bench_parse(c: &mut Criterion) {
    let data = synthetic_input();
    let mut group = c.benchmark_group("smaps_60k");
    group.throughput(Throughput::Bytes(data.len() as u64));

    group.bench_function("parse_bytes", |b| {
        b.iter(|| {
            let mut rss = 0u64;
            let summary = parse_bytes(black_box(&data), |region| rss += region.fields.rss)
                .expect("synthetic smaps is valid");
            black_box((summary.regions, rss))
        })
    });
    group.bench_function("analyze_top20", |b| {
        b.iter(|| analyze(black_box(&data), Listing::Top(20)))
    });
    group.bench_function("analyze_all", |b| {
        b.iter(|| analyze(black_box(&data), Listing::All))
    });
    group.finish();
}

fn bench_render(c: &mut Criterion) {
    let data = synthetic_input();
    let mut group = c.benchmark_group("render");
    // Rendering every region takes ~0.1 s: flat sampling keeps the run short.
    group.sampling_mode(SamplingMode::Flat);
    for (name, listing) in [
        ("render_text_top20", Listing::Top(20)),
        ("render_text_all", Listing::All),
    ] {
        let report = analyze(&data, listing);
        let mut out = Vec::new();
        render_text(&report, &mut out);
        group.throughput(Throughput::Bytes(out.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                render_text(black_box(&report), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn synthetic_input() -> Vec<u8> {
    let data = synthetic::synthetic_smaps(REGIONS);
    eprintln!(
        "synthetic input: {REGIONS} regions, {} bytes ({:.1} MB)",
        data.len(),
        data.len() as f64 / 1e6
    );
    data
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_parse, bench_render
}
criterion_main!(benches);
