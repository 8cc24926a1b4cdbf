//! The memory of a watch or a recording, in bounded space however long it runs: each series
//! (the total RSS, and each category's RSS) keeps the minimum of each window of samples in at
//! most [`MAX_WINDOWS`] windows; when they are full, neighbouring windows merge and the window
//! doubles, so an hour and a month cost the same. The minima are what the verdict uses anyway.
//! A series allocates its windows once, at full size, so memanalyzer's peak memory after
//! 10,000 samples is its peak after 100 (`tests/alloc.rs` measures it).

use std::collections::HashMap;

use super::sample::{Sample, Snapshot};
use super::verdict::{analysis_windows, judge, window_minima, Verdict};
use crate::report::Amounts;

/// Most windows a series keeps.
pub const MAX_WINDOWS: usize = 512;

/// Most categories followed; later new categories count only in the totals.
pub const MAX_SERIES: usize = 64;

/// One value over time, as window minima.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Full windows: the time (seconds since the start) and value of each one's minimum.
    windows: Vec<(f64, f64)>,
    /// Samples per full window.
    width: u64,
    /// The window being filled: samples in it and its minimum so far.
    current: Option<(u64, (f64, f64))>,
    first: Option<(f64, f64)>,
    last: Option<(f64, f64)>,
    samples: u64,
}

impl Series {
    fn new() -> Series {
        Series {
            windows: Vec::with_capacity(MAX_WINDOWS),
            width: 1,
            ..Series::default()
        }
    }

    /// Adds a value at `seconds` since the start.
    pub fn push(&mut self, seconds: f64, value: f64) {
        let point = (seconds, value);
        self.first.get_or_insert(point);
        self.last = Some(point);
        self.samples += 1;
        let (count, minimum) = self.current.get_or_insert((0, point));
        *count += 1;
        if value < minimum.1 {
            *minimum = point;
        }
        if *count >= self.width {
            let minimum = *minimum;
            self.current = None;
            self.windows.push(minimum);
            if self.windows.len() >= MAX_WINDOWS {
                // Merge neighbours in place: no allocation.
                let half = self.windows.len() / 2;
                for index in 0..half {
                    let (a, b) = (self.windows[2 * index], self.windows[2 * index + 1]);
                    self.windows[index] = if b.1 < a.1 { b } else { a };
                }
                self.windows.truncate(half);
                self.width *= 2;
            }
        }
    }

    /// The window minima so far, the partial window last.
    pub fn minima(&self) -> Vec<(f64, f64)> {
        // Always the same allocation, however many windows there are yet.
        let mut points = Vec::with_capacity(MAX_WINDOWS + 1);
        points.extend_from_slice(&self.windows);
        points.extend(self.current.map(|(_, minimum)| minimum));
        points
    }

    /// The first value.
    pub fn first(&self) -> Option<f64> {
        self.first.map(|(_, value)| value)
    }

    /// The latest value.
    pub fn last(&self) -> Option<f64> {
        self.last.map(|(_, value)| value)
    }

    /// How many values were pushed.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The verdict on the minima of [`analysis_windows`] windows: at most
    /// [`super::verdict::ANALYSIS_WINDOWS`], each spanning a whole cycle if the series has one.
    pub fn verdict(&self, min_leak_rate: f64) -> Verdict {
        let minima = self.minima();
        judge(
            &window_minima(&minima, analysis_windows(&minima)),
            min_leak_rate,
        )
    }
}

/// A category followed over time.
#[derive(Clone, Debug)]
pub struct CategorySeries {
    /// Stable key.
    pub key: String,
    /// What people read.
    pub label: String,
    /// Its RSS over the full samples.
    pub rss: Series,
    /// Its region count in the latest full sample.
    pub regions: u64,
    /// Its region count in the first full sample it was in.
    pub first_regions: u64,
}

/// Everything a watch or a replay remembers: bounded.
#[derive(Clone, Debug, Default)]
pub struct History {
    start_ms: Option<u64>,
    last_ms: u64,
    /// Seconds since the start of the latest full sample.
    last_full_seconds: Option<f64>,
    /// Total RSS over every sample.
    pub total: Series,
    /// Categories in the order first seen.
    pub categories: Vec<CategorySeries>,
    index: HashMap<String, usize>,
    /// Totals of the first and the latest sample.
    pub first_totals: Option<Amounts>,
    /// Totals of the latest sample.
    pub last_totals: Option<Amounts>,
    /// The first and the latest full snapshot (for the diff the summary ends with).
    pub first_snapshot: Option<Snapshot>,
    /// The latest full snapshot.
    pub last_snapshot: Option<Snapshot>,
    /// Samples, and how many of them read the full smaps.
    pub samples: u64,
    /// Samples that read the full smaps.
    pub full_samples: u64,
    /// The chart's points, when a chart was asked for ([`History::with_plot`]).
    pub plot: Option<super::plot::PlotData>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History {
            total: Series::new(),
            ..History::default()
        }
    }

    /// An empty history that also keeps the points of a chart (`-plot`).
    pub fn with_plot() -> History {
        History {
            plot: Some(Default::default()),
            ..History::new()
        }
    }

    /// Adds a sample.
    pub fn push(&mut self, sample: Sample) {
        let start = *self.start_ms.get_or_insert(sample.time_unix_ms);
        self.last_ms = sample.time_unix_ms;
        let seconds = sample.time_unix_ms.saturating_sub(start) as f64 / 1000.0;
        self.samples += 1;
        self.total.push(seconds, sample.totals.rss as f64);
        self.first_totals.get_or_insert(sample.totals);
        if let Some(plot) = &mut self.plot {
            plot.total.push((seconds, sample.totals.rss as f64));
        }
        self.last_totals = Some(sample.totals);
        let Some(snapshot) = sample.snapshot else {
            return;
        };
        self.full_samples += 1;
        let mut seen = vec![false; self.categories.len()];
        for category in &snapshot.categories {
            let at = match self.index.get(&category.key) {
                Some(&at) => at,
                None if self.categories.len() < MAX_SERIES => {
                    let mut rss = Series::new();
                    // A category that appears later was empty before: start it at zero.
                    if let Some(previous) = self.last_full_seconds {
                        rss.push(previous, 0.0);
                    }
                    self.categories.push(CategorySeries {
                        key: category.key.clone(),
                        label: category.label.clone(),
                        rss,
                        regions: 0,
                        first_regions: category.regions,
                    });
                    seen.push(false);
                    self.index
                        .insert(category.key.clone(), self.categories.len() - 1);
                    self.categories.len() - 1
                }
                None => continue,
            };
            seen[at] = true;
            let series = &mut self.categories[at];
            series.rss.push(seconds, category.amounts.rss as f64);
            series.regions = category.regions;
            series.label.clone_from(&category.label);
        }
        for (series, seen) in self.categories.iter_mut().zip(seen) {
            if !seen {
                series.rss.push(seconds, 0.0);
                series.regions = 0;
            }
        }
        self.last_full_seconds = Some(seconds);
        if let Some(plot) = &mut self.plot {
            let row = self
                .categories
                .iter()
                .map(|series| series.rss.last().unwrap_or(0.0))
                .collect();
            plot.categories.push((seconds, row));
        }
        if self.first_snapshot.is_none() {
            self.first_snapshot = Some(snapshot.clone());
        }
        self.last_snapshot = Some(snapshot);
    }

    /// Seconds from the first sample to the latest.
    pub fn elapsed_seconds(&self) -> f64 {
        self.start_ms.map_or(0.0, |start| {
            self.last_ms.saturating_sub(start) as f64 / 1000.0
        })
    }
}

/// The minimum rate (bytes per hour) for "possible leak": 1 MiB/h, or 1% of `current` per hour
/// if that is more, so page-sized noise on a large process is never called a leak.
pub fn min_leak_rate(current: u64) -> f64 {
    (1024.0 * 1024.0f64).max(current as f64 * 0.01)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_keeps_bounded_windows_of_minima() {
        let mut series = Series::new();
        for second in 0..10_000u32 {
            // Grows 1 per second, with a spike on every 3rd sample that the minima ignore.
            let spike = if second % 3 == 0 { 500.0 } else { 0.0 };
            series.push(f64::from(second), f64::from(second) + spike);
        }
        let minima = series.minima();
        assert!(minima.len() <= MAX_WINDOWS, "{}", minima.len());
        assert!(minima.len() >= MAX_WINDOWS / 2);
        assert_eq!(series.samples(), 10_000);
        assert_eq!(series.first(), Some(500.0));
        for &(t, v) in &minima {
            assert_eq!(t, v, "each minimum is a sample without a spike");
        }
        let verdict = series.verdict(1.0);
        assert!((verdict.rate_per_hour - 3600.0).abs() < 36.0, "{verdict:?}");
    }

    #[test]
    fn categories_missing_from_a_sample_count_as_zero() {
        use crate::timeline::sample::CategoryAmounts;
        let snapshot = |keys: &[(&str, u64)]| Snapshot {
            categories: keys
                .iter()
                .map(|&(key, rss)| CategoryAmounts {
                    key: key.into(),
                    label: key.into(),
                    section: "runtime".into(),
                    regions: 1,
                    amounts: Amounts {
                        rss,
                        ..Amounts::default()
                    },
                })
                .collect(),
            ..Snapshot::default()
        };
        let mut history = History::new();
        for (time, keys) in [
            (0, vec![("a", 5)]),
            (1000, vec![("a", 6), ("b", 7)]),
            (2000, vec![("b", 8)]),
        ] {
            history.push(Sample {
                time_unix_ms: 1_000_000 + time,
                totals: Amounts::default(),
                snapshot: Some(snapshot(&keys)),
            });
        }
        let values = |key: &str| {
            let series = &history.categories[history.index[key]].rss;
            series
                .minima()
                .iter()
                .map(|&(_, v)| v)
                .collect::<Vec<f64>>()
        };
        assert_eq!(values("a"), [5.0, 6.0, 0.0]);
        assert_eq!(values("b"), [0.0, 7.0, 8.0]);
        assert_eq!(history.elapsed_seconds(), 2.0);
        assert_eq!(history.full_samples, 3);
    }
}
