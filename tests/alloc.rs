//! A test binary of its own, since it installs a global allocator (the other integration tests
//! are in `tests/it/`).
//!
//! Performance target 5: parsing and categorizing N regions in top-N mode makes a number of heap
//! allocations that does not grow with N. And a watch's peak heap after 10,000 samples equals
//! its peak after 100 (its history is bounded).
//!
//! A counting global allocator wraps `System`. It counts only on a thread that has switched
//! counting on, and only while it is on, so the test harness's other threads (and this thread's
//! own set-up, such as generating the input) do not disturb the counts.
//!
//! `cargo test --test alloc -- --nocapture` prints the counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use memanalyzer::smaps::parse_bytes;
use memanalyzer::{analyze_reader, Listing, Options, Report};

#[path = "../benches/synthetic.rs"]
mod synthetic;

/// Largest difference in allocation counts tolerated between input sizes in top-N mode.
const SLACK: u64 = 32;
const SIZES: [usize; 3] = [1_000, 10_000, 50_000];

struct Counting;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    /// `alloc` and `alloc_zeroed` calls.
    allocs: u64,
    reallocs: u64,
    /// Live bytes allocated on this thread while counting (deallocations subtract).
    live: i64,
    /// Highest `live` seen.
    peak: i64,
}

impl Counts {
    fn total(&self) -> u64 {
        self.allocs + self.reallocs
    }
}

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static COUNTS: Cell<Counts> = const {
        Cell::new(Counts { allocs: 0, reallocs: 0, live: 0, peak: 0 })
    };
}

/// Applies `change` to this thread's counts if counting is on. Touches only const-initialised
/// thread-locals without destructors, so it never allocates itself.
fn note(change: impl FnOnce(&mut Counts)) {
    if ON.try_with(Cell::get).unwrap_or(false) {
        let _ = COUNTS.try_with(|counts| {
            let mut c = counts.get();
            change(&mut c);
            c.peak = c.peak.max(c.live);
            counts.set(c);
        });
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only thread-local counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(|c| {
            c.allocs += 1;
            c.live += layout.size() as i64;
        });
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(|c| {
            c.allocs += 1;
            c.live += layout.size() as i64;
        });
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(|c| c.live -= layout.size() as i64);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(|c| {
            c.reallocs += 1;
            c.live += new_size as i64 - layout.size() as i64;
        });
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with counting on for this thread and returns its result and what it allocated.
fn counted<T>(f: impl FnOnce() -> T) -> (T, Counts) {
    COUNTS.with(|counts| counts.set(Counts::default()));
    ON.with(|on| on.set(true));
    let result = f();
    ON.with(|on| on.set(false));
    (result, COUNTS.with(Cell::get))
}

fn analyze(data: &[u8], listing: Listing) -> Report {
    analyze_reader(data, &Options::default().listing(listing)).expect("synthetic smaps is valid")
}

/// Allocations of parse + classify + aggregate + finish (the `-file` path), per input size.
fn measure(listing: Listing) -> Vec<(usize, usize, Counts)> {
    // Warm-up: anything initialised once per thread or process is not counted below.
    let warm = synthetic::synthetic_smaps(200);
    drop(counted(|| analyze(&warm, listing)));
    SIZES
        .iter()
        .map(|&regions| {
            // Generated before counting starts.
            let data = synthetic::synthetic_smaps(regions);
            let (report, counts) = counted(|| analyze(&data, listing));
            assert_eq!(report.region_count, regions as u64);
            drop(report);
            (regions, data.len(), counts)
        })
        .collect()
}

fn print(listing: Listing, rows: &[(usize, usize, Counts)]) {
    for (regions, bytes, c) in rows {
        println!(
            "{listing:?}: {regions:>6} regions ({bytes:>9} bytes): {:>7} allocations \
             ({} alloc + {} realloc), peak heap {} KiB",
            c.total(),
            c.allocs,
            c.reallocs,
            c.peak / 1024
        );
    }
}

#[test]
fn print_allocation_counts() {
    for listing in [Listing::Top(20), Listing::All] {
        print(listing, &measure(listing));
    }
}

#[test]
fn allocations_do_not_grow_with_regions_in_top_mode() {
    let rows = measure(Listing::Top(20));
    print(Listing::Top(20), &rows);
    let totals: Vec<u64> = rows.iter().map(|(_, _, c)| c.total()).collect();
    let (min, max) = (*totals.iter().min().unwrap(), *totals.iter().max().unwrap());
    assert!(
        max - min <= SLACK,
        "allocation counts grow with the number of regions: {rows:?}"
    );
    // The heap used must not grow with the input either (target 3's basis).
    let peaks: Vec<i64> = rows.iter().map(|(_, _, c)| c.peak).collect();
    let (low, high) = (*peaks.iter().min().unwrap(), *peaks.iter().max().unwrap());
    assert!(
        high - low <= 64 * 1024,
        "peak heap grows with the number of regions: {peaks:?} bytes"
    );
}

/// The parser alone allocates nothing per region.
#[test]
fn parse_bytes_allocations_do_not_grow() {
    let mut totals = Vec::new();
    for regions in SIZES {
        let data = synthetic::synthetic_smaps(regions);
        let (parsed, counts) = counted(|| parse_bytes(&data, |_| {}).map(|s| s.regions));
        assert_eq!(parsed, Ok(regions as u64));
        println!(
            "parse_bytes: {regions:>6} regions: {} allocations",
            counts.total()
        );
        totals.push(counts.total());
    }
    assert!(totals.iter().max().unwrap() - totals.iter().min().unwrap() <= SLACK);
}

/// The generator's output is valid smaps that adds up, so the counts above are about real work.
#[test]
fn synthetic_input_is_valid_and_consistent() {
    for regions in [1, 7, 50, 1_000, 10_000] {
        let data = synthetic::synthetic_smaps(regions);
        assert_eq!(data, synthetic::synthetic_smaps(regions), "deterministic");
        let mut last_end = 0;
        let mut count = 0;
        let summary = parse_bytes(&data, |region| {
            let h = &region.header;
            let f = &region.fields;
            assert!(
                h.start >= last_end && h.end > h.start,
                "line {}",
                region.line
            );
            last_end = h.end;
            assert_eq!(f.size * 1024, h.end - h.start, "line {}", region.line);
            assert_eq!(f.rss, f.shared() + f.private(), "line {}", region.line);
            assert!(f.pss <= f.rss && f.anonymous <= f.rss && f.swap_pss <= f.swap);
            assert!(f.anon_huge_pages <= f.anonymous);
            assert!(!region.vm_flags.is_empty());
            count += 1;
        })
        .expect("synthetic smaps parses");
        assert_eq!((summary.regions, count), (regions as u64, regions));
        assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
        if regions >= 1_000 {
            let text = String::from_utf8(data).unwrap();
            for name in [
                "[heap]",
                "[stack]",
                "[vsyscall]",
                "[vdso]",
                "libc.so.6",
                "[anon:TNC-",
                "/memfd:",
                "/SYSV",
            ] {
                assert!(text.contains(name), "{regions} regions lack {name}");
            }
            assert!(text.ends_with("VmFlags: ex \n"));
        }
    }
}

/// A watch's memory: the history of `samples` samples (every 2nd a full one with 12
/// categories, as with `-full-every 2`), then every verdict, as a watch ends. Returns the peak
/// heap. (Before 24 full samples the verdicts work on fewer windows and the peak is smaller.)
fn watch_peak(samples: u64) -> i64 {
    use memanalyzer::timeline::sample::CategoryAmounts;
    use memanalyzer::timeline::{History, Sample, Snapshot};
    use memanalyzer::Amounts;
    let amounts = |rss: u64| Amounts {
        rss,
        ..Amounts::default()
    };
    let snapshot = |rss: u64| Snapshot {
        categories: (0..12)
            .map(|index| CategoryAmounts {
                key: format!("category.{index:02}"),
                label: format!("Category {index:02}"),
                section: "runtime".to_string(),
                regions: 10,
                amounts: amounts(rss + index),
            })
            .collect(),
        totals: amounts(rss * 12),
        ..Snapshot::default()
    };
    let ((), counts) = counted(|| {
        let mut history = History::new();
        for index in 0..samples {
            // A steady leak of one page per sample, with no cycle: every verdict uses all of
            // its 24 windows, however many samples there are.
            let rss = (1 << 30) + index * 4096;
            history.push(Sample {
                time_unix_ms: 1_000_000 + index * 100,
                totals: amounts(rss),
                snapshot: (index % 2 == 0).then(|| snapshot(rss / 16)),
            });
        }
        let verdicts = memanalyzer::render::timeline::verdicts(&history);
        assert_eq!(verdicts.categories.len(), 12);
        drop(verdicts);
        drop(history);
    });
    counts.peak
}

/// Performance target: memanalyzer's peak memory after 10,000 watch samples equals its peak
/// after 100 (bounded history: window minima, merged in place).
#[test]
fn a_watch_peak_does_not_grow_with_the_samples() {
    let peaks: Vec<(u64, i64)> = [100, 10_000, 100_000]
        .into_iter()
        .map(|samples| (samples, watch_peak(samples)))
        .collect();
    println!("watch peak heap by samples: {peaks:?}");
    assert!(
        peaks.iter().all(|&(_, peak)| peak == peaks[0].1),
        "the peak grows with the samples: {peaks:?}"
    );
}
