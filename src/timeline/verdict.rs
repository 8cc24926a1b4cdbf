//! The growth verdict, as pure functions on numbers: a robust slope (Theil–Sen, the median of
//! the slopes between every pair of points) with its confidence interval (Sen 1968), and the
//! Mann–Kendall trend test, which counts how often later points are higher than earlier ones.
//! Both work on the minimum of each window of samples, so that a garbage collector's sawtooth
//! (grow, collect, grow) is not mistaken for growth: the troughs of a steady sawtooth are flat.

/// Fewest windows a verdict is given on: below this, [`Trend::TooFewSamples`].
pub const MIN_WINDOWS: usize = 6;

/// How many windows the samples are cut into for a verdict (fewer while there are fewer
/// samples): enough points for the trend test, each window long enough to hold a GC cycle.
pub const ANALYSIS_WINDOWS: usize = 24;

/// Two-sided significance level of the trend test.
pub const ALPHA: f64 = 0.05;

/// Stricter level for calling a trend a possible leak: a watch judges many series at once (every
/// category and the total), and a false alarm costs someone's afternoon.
pub const LEAK_ALPHA: f64 = 0.01;

/// The normal quantile for a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// What the memory did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trend {
    /// Not enough windows yet for a verdict.
    TooFewSamples,
    /// No significant trend.
    Steady,
    /// A significant upward trend.
    Growing,
    /// A significant downward trend.
    Shrinking,
}

impl Trend {
    /// The stable key used by JSON (`steady`, `growing`, …).
    pub fn key(self) -> &'static str {
        match self {
            Trend::TooFewSamples => "too_few_samples",
            Trend::Steady => "steady",
            Trend::Growing => "growing",
            Trend::Shrinking => "shrinking",
        }
    }
}

/// The verdict on one series (a category, or the total RSS).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// What the memory did.
    pub trend: Trend,
    /// Theil–Sen slope, bytes per hour.
    pub rate_per_hour: f64,
    /// 95% confidence interval of the slope, bytes per hour.
    pub rate_low: f64,
    /// Upper end of the interval.
    pub rate_high: f64,
    /// Two-sided p-value of the Mann–Kendall test.
    pub p_value: f64,
    /// How many window minima the verdict is based on.
    pub windows: usize,
    /// Growing significantly and at least at the minimum rate: a possible leak.
    pub leak: bool,
}

/// The Theil–Sen slope of `points` (x, y) with its 95% confidence interval, or `None` with fewer
/// than two distinct x.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slope {
    /// The median of the pairwise slopes.
    pub slope: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
}

/// Theil–Sen: the median of `(y_j - y_i) / (x_j - x_i)` over all pairs with `x_i < x_j`; the
/// interval takes the order statistics Sen (1968) gives from the variance of Kendall's S
/// (Gilbert 1987, §16.5).
pub fn theil_sen(points: &[(f64, f64)]) -> Option<Slope> {
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, &(xi, yi)) in points.iter().enumerate() {
        for &(xj, yj) in &points[i + 1..] {
            if xj != xi {
                let (dx, dy) = if xj > xi {
                    (xj - xi, yj - yi)
                } else {
                    (xi - xj, yi - yj)
                };
                slopes.push(dy / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let count = slopes.len();
    let slope = median_of_sorted(&slopes);
    let ys: Vec<f64> = points.iter().map(|&(_, y)| y).collect();
    let spread = Z_95 * mann_kendall(&ys).variance.sqrt();
    // M1 = (N - C)/2 and M2 = (N + C)/2; the bounds are the M1-th and (M2 + 1)-th smallest.
    let lower_rank = ((count as f64 - spread) / 2.0).round();
    let upper_rank = ((count as f64 + spread) / 2.0).round() + 1.0;
    let at_rank = |rank: f64| slopes[(rank.max(1.0) as usize).min(count) - 1];
    Some(Slope {
        slope,
        low: at_rank(lower_rank),
        high: at_rank(upper_rank),
    })
}

fn median_of_sorted(values: &[f64]) -> f64 {
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// The Mann–Kendall statistic of a series in time order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannKendall {
    /// S: pairs going up minus pairs going down.
    pub s: i64,
    /// Var(S), corrected for ties.
    pub variance: f64,
    /// The continuity-corrected normal score.
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Mann–Kendall: S = Σ sign(x_j − x_i) over i < j; Var(S) = [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18
/// for tie groups of size t; Z = (S ∓ 1) / √Var(S).
pub fn mann_kendall(values: &[f64]) -> MannKendall {
    let n = values.len();
    let mut s: i64 = 0;
    for (i, &a) in values.iter().enumerate() {
        for &b in &values[i + 1..] {
            s += match b.total_cmp(&a) {
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
            };
        }
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let end = start
            + sorted[start..]
                .iter()
                .take_while(|&&v| v == sorted[start])
                .count();
        let t = (end - start) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        start = end;
    }
    let nf = n as f64;
    let variance = ((nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0).max(0.0);
    let z = if variance == 0.0 || s == 0 {
        0.0
    } else if s > 0 {
        (s - 1) as f64 / variance.sqrt()
    } else {
        (s + 1) as f64 / variance.sqrt()
    };
    MannKendall {
        s,
        variance,
        z,
        p_value: erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0),
    }
}

/// Φ(z), the standard normal distribution function, via the complementary error function
/// (Numerical Recipes' Chebyshev fit, relative error below 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The minimum of each of `windows` consecutive runs of `samples` (time in seconds, value),
/// each with the time of its minimum. Fewer windows when there are fewer samples.
pub fn window_minima(samples: &[(f64, f64)], windows: usize) -> Vec<(f64, f64)> {
    if samples.is_empty() || windows == 0 {
        return Vec::new();
    }
    let windows = windows.min(samples.len());
    (0..windows)
        .map(|index| {
            let start = index * samples.len() / windows;
            let end = (index + 1) * samples.len() / windows;
            samples[start..end]
                .iter()
                .copied()
                .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.total_cmp(&b.0)))
                .expect("each window holds at least one sample")
        })
        .collect()
}

/// A drop between two points of at least this share of the series' range marks the end of a
/// cycle (a garbage collection, a cache flush).
const DROP_SHARE: f64 = 0.25;

/// The typical number of points between drops, if the series has a cycle: a sawtooth's period.
/// `None` when it has no drop of at least a quarter of its range (a steady growth, flat noise).
pub fn cycle_length(values: &[f64]) -> Option<f64> {
    cycle_of(values.iter().copied())
}

/// [`cycle_length`] over any sequence, without allocating: a watch calls it on every verdict.
fn cycle_of(values: impl Iterator<Item = f64> + Clone) -> Option<f64> {
    let (low, high, count) = values.clone().fold(
        (f64::INFINITY, f64::NEG_INFINITY, 0usize),
        |(low, high, count), value| (low.min(value), high.max(value), count + 1),
    );
    let range = high - low;
    if range.is_nan() || range <= 0.0 {
        return None;
    }
    // The first and last drops (index of the point after each), and how many.
    let mut drops: Option<(usize, usize, usize)> = None;
    for (index, (before, after)) in values.clone().zip(values.skip(1)).enumerate() {
        if before - after >= DROP_SHARE * range {
            let at = index + 1;
            drops = Some(match drops {
                None => (at, at, 1),
                Some((first, _, seen)) => (first, at, seen + 1),
            });
        }
    }
    match drops? {
        // One cycle seen: it is at least as long as the longer part around its drop.
        (only, _, 1) => Some(only.max(count - only) as f64),
        (first, last, seen) => Some((last - first) as f64 / (seen - 1) as f64),
    }
}

/// How many windows `points` are cut into for a verdict: [`ANALYSIS_WINDOWS`], or fewer so that
/// each window spans a whole cycle (with a quarter to spare, for uneven sampling), so that every
/// window holds a trough. Fewer than [`MIN_WINDOWS`] means: not enough cycles yet for a verdict.
pub fn analysis_windows(points: &[(f64, f64)]) -> usize {
    let count = points.len();
    match cycle_of(points.iter().map(|&(_, y)| y)) {
        Some(cycle) => {
            let width = (cycle * 1.25).ceil().max(1.0) as usize;
            (count / width).min(ANALYSIS_WINDOWS)
        }
        None => count.min(ANALYSIS_WINDOWS),
    }
}

/// The verdict on window minima (time in seconds, bytes): a trend when the Mann–Kendall p-value
/// is below [`ALPHA`] and the change it makes over the minima's span exceeds their scatter
/// around the line; a possible leak when it grows with a p-value below [`LEAK_ALPHA`] and at
/// least at `min_leak_rate` bytes per hour.
pub fn judge(minima: &[(f64, f64)], min_leak_rate: f64) -> Verdict {
    let too_few = Verdict {
        trend: Trend::TooFewSamples,
        rate_per_hour: 0.0,
        rate_low: 0.0,
        rate_high: 0.0,
        p_value: 1.0,
        windows: minima.len(),
        leak: false,
    };
    if minima.len() < MIN_WINDOWS {
        return too_few;
    }
    let Some(slope) = theil_sen(minima) else {
        return too_few;
    };
    let values: Vec<f64> = minima.iter().map(|&(_, y)| y).collect();
    let test = mann_kendall(&values);
    const HOUR: f64 = 3600.0;
    let trend = match (test.p_value < ALPHA, test.s) {
        (true, s) if s > 0 && slope.slope > 0.0 => Trend::Growing,
        (true, s) if s < 0 && slope.slope < 0.0 => Trend::Shrinking,
        _ => Trend::Steady,
    };
    // A trend must also be larger than the scatter of the minima around it: troughs that were
    // sampled early or late in a cycle scatter, and a few of them can make a significant-looking
    // trend that is smaller than that scatter.
    let residuals = minima.iter().map(|&(x, y)| y - slope.slope * x);
    let scatter = residuals.clone().fold(f64::NEG_INFINITY, f64::max)
        - residuals.fold(f64::INFINITY, f64::min);
    let (first, last) = minima
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(x, _)| {
            (lo.min(x), hi.max(x))
        });
    let change = slope.slope.abs() * (last - first);
    let trend = if change > scatter {
        trend
    } else {
        Trend::Steady
    };
    let rate_per_hour = slope.slope * HOUR;
    Verdict {
        trend,
        rate_per_hour,
        rate_low: slope.low * HOUR,
        rate_high: slope.high * HOUR,
        p_value: test.p_value,
        windows: minima.len(),
        leak: trend == Trend::Growing
            && test.p_value < LEAK_ALPHA
            && rate_per_hour >= min_leak_rate,
    }
}

/// How long until `limit` bytes are reached from `now` bytes at `rate_per_hour`, in hours;
/// `None` unless growing toward a limit not yet reached.
pub fn hours_until(limit: u64, now: u64, rate_per_hour: f64) -> Option<f64> {
    (rate_per_hour > 0.0 && limit > now).then(|| (limit - now) as f64 / rate_per_hour)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn normal_cdf_matches_the_tables() {
        // Standard normal table values.
        assert!(close(normal_cdf(0.0), 0.5, 1e-7));
        assert!(close(normal_cdf(1.0), 0.841_344_7, 1e-6));
        assert!(close(normal_cdf(Z_95), 0.975, 1e-6));
        assert!(close(normal_cdf(-2.575_829), 0.005, 1e-6));
    }

    #[test]
    fn mann_kendall_by_hand() {
        // 1..=5 rising: S = 10, Var = 5·4·15/18 = 16.667, Z = 9/√16.667 = 2.2045, p = 0.0275.
        let test = mann_kendall(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(test.s, 10);
        assert!(close(test.variance, 50.0 / 3.0, 1e-9));
        assert!(close(test.z, 2.204_5, 1e-4));
        assert!(close(test.p_value, 0.027_5, 1e-4));
        // Ties: [1, 1, 2] has S = 2 and Var = (3·2·11 − 2·1·9)/18 = 48/18.
        let tied = mann_kendall(&[1.0, 1.0, 2.0]);
        assert_eq!(tied.s, 2);
        assert!(close(tied.variance, 48.0 / 18.0, 1e-9));
        assert!(close(tied.z, 1.0 / (48.0f64 / 18.0).sqrt(), 1e-9));
        // Ten strictly falling values: S = −45, Var = 10·9·25/18 = 125, Z = −44/√125.
        let falling: Vec<f64> = (0..10).rev().map(f64::from).collect();
        let test = mann_kendall(&falling);
        assert_eq!(test.s, -45);
        assert!(close(test.z, -44.0 / 125f64.sqrt(), 1e-9));
        assert!(test.p_value < 1e-4);
        // A constant series has no trend.
        let flat = mann_kendall(&[3.0; 8]);
        assert_eq!((flat.s, flat.z), (0, 0.0));
        assert!(close(flat.p_value, 1.0, 1e-6));
    }

    #[test]
    fn theil_sen_by_hand_and_robust_to_an_outlier() {
        // Slopes of (1,1) (2,3) (3,2) (4,5): 2, 0.5, 4/3, −1, 1, 3 → median (1 + 4/3)/2.
        let slope = theil_sen(&[(1.0, 1.0), (2.0, 3.0), (3.0, 2.0), (4.0, 5.0)]).unwrap();
        assert!(close(slope.slope, 7.0 / 6.0, 1e-12));
        // y = 2x with one wild point: least squares would be pulled, the median is not.
        let mut points: Vec<(f64, f64)> = (0..11)
            .map(|x| (f64::from(x), 2.0 * f64::from(x)))
            .collect();
        points[5].1 = 1000.0;
        let slope = theil_sen(&points).unwrap();
        assert_eq!(slope.slope, 2.0);
        assert!(slope.low <= 2.0 && 2.0 <= slope.high);
        assert!(theil_sen(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }

    #[test]
    fn sen_interval_by_hand() {
        // n = 10 points on y = x + (0, 0.5, 0, 0.5, …): 45 slopes; Var(S) from Kendall's S of
        // the y values (ties: none), C = 1.96·√Var, M1 = (45 − C)/2, M2 = (45 + C)/2.
        let points: Vec<(f64, f64)> = (0..10)
            .map(|x| {
                (
                    f64::from(x),
                    f64::from(x) + if x % 2 == 1 { 0.5 } else { 0.0 },
                )
            })
            .collect();
        let slope = theil_sen(&points).unwrap();
        let mut slopes = Vec::new();
        for i in 0..10 {
            for j in i + 1..10 {
                slopes.push((points[j].1 - points[i].1) / (points[j].0 - points[i].0));
            }
        }
        slopes.sort_by(f64::total_cmp);
        let c = Z_95 * 125f64.sqrt(); // no ties among the y values
        let m1 = ((45.0 - c) / 2.0).round() as usize;
        let m2 = ((45.0 + c) / 2.0).round() as usize + 1;
        assert_eq!(slope.low, slopes[m1 - 1]);
        assert_eq!(slope.high, slopes[m2 - 1]);
        assert!(
            slope.low <= 1.0 && 1.0 <= slope.high && slope.low < slope.high,
            "{slope:?}"
        );
        assert_eq!(slope.slope, 1.0);
    }

    #[test]
    fn window_minima_flatten_a_steady_sawtooth() {
        // Rises 10 per second for 9 s, drops back: period 10 s, 200 samples.
        let samples: Vec<(f64, f64)> = (0..200)
            .map(|t| (f64::from(t), 100.0 + 10.0 * f64::from(t % 10)))
            .collect();
        let minima = window_minima(&samples, 20);
        assert_eq!(minima.len(), 20);
        assert!(minima.iter().all(|&(_, y)| y == 100.0));
        let verdict = judge(&minima, 1.0);
        assert_eq!(verdict.trend, Trend::Steady);
        assert!(!verdict.leak);
        assert_eq!(verdict.rate_per_hour, 0.0);
    }

    #[test]
    fn judges_a_leak_under_a_sawtooth() {
        // 1 MiB per second under a sawtooth of 50 MiB amplitude with period 7 s.
        const MIB: f64 = 1024.0 * 1024.0;
        let samples: Vec<(f64, f64)> = (0..300)
            .map(|t| {
                let t = f64::from(t);
                (t, 500.0 * MIB + t * MIB + 50.0 * MIB * ((t % 7.0) / 7.0))
            })
            .collect();
        let verdict = judge(&window_minima(&samples, ANALYSIS_WINDOWS), MIB);
        assert_eq!(verdict.trend, Trend::Growing);
        assert!(verdict.leak);
        let truth = 3600.0 * MIB;
        assert!(
            close(verdict.rate_per_hour, truth, truth * 0.1),
            "{verdict:?}"
        );
        assert!(verdict.rate_low <= truth * 1.1 && verdict.rate_high >= truth * 0.9);
        // Too slow to call a leak: growing, but under the minimum rate.
        let slow = judge(&window_minima(&samples, ANALYSIS_WINDOWS), 10.0 * truth);
        assert_eq!((slow.trend, slow.leak), (Trend::Growing, false));
        // Shrinking.
        let falling: Vec<(f64, f64)> = samples.iter().map(|&(t, y)| (t, 1e12 - y)).collect();
        let verdict = judge(&window_minima(&falling, ANALYSIS_WINDOWS), MIB);
        assert_eq!((verdict.trend, verdict.leak), (Trend::Shrinking, false));
        assert!(judge(&samples[..5], MIB).trend == Trend::TooFewSamples);
    }

    #[test]
    fn windows_span_a_sawtooth_cycle_even_when_sampled_unevenly() {
        // Period 16 samples, with the drop a sample early or late now and then.
        let mut samples = Vec::new();
        let mut phase = 0;
        for t in 0..200u32 {
            let late = t % 37 == 0;
            phase = if phase >= 15 && !late { 0 } else { phase + 1 };
            samples.push((f64::from(t), 100.0 + 10.0 * f64::from(phase)));
        }
        let values: Vec<f64> = samples.iter().map(|&(_, y)| y).collect();
        let cycle = cycle_length(&values).unwrap();
        assert!((15.0..=17.5).contains(&cycle), "{cycle}");
        let windows = analysis_windows(&samples);
        assert!(
            (9..=10).contains(&windows),
            "{windows}: about 200 / (16 × 1.25)"
        );
        let verdict = judge(&window_minima(&samples, windows), 1.0);
        assert_eq!(
            (verdict.trend, verdict.leak),
            (Trend::Steady, false),
            "{verdict:?}"
        );
        // A steady growth has no cycle: the usual number of windows.
        let line: Vec<(f64, f64)> = (0..200).map(|t| (f64::from(t), f64::from(t))).collect();
        assert_eq!(analysis_windows(&line), ANALYSIS_WINDOWS);
        assert_eq!(cycle_length(&[5.0; 10]), None);
        // One cycle seen so far: too few windows for a verdict.
        let once: Vec<(f64, f64)> = (0..40).map(|t| (f64::from(t), f64::from(t % 30))).collect();
        assert!(analysis_windows(&once) < MIN_WINDOWS);
    }

    #[test]
    fn a_trend_smaller_than_the_scatter_of_the_troughs_is_steady() {
        // Troughs at 2 with a few sampled late in their cycle: Mann–Kendall finds S = 34,
        // p = 0.021 < 0.05, but the line rises by 12 × 0.236 = 2.8 while the minima scatter by
        // 7.2 around it (hand-computed).
        let values = [
            2.0, 2.0, 2.0, 2.0, 3.0, 2.0, 2.0, 2.0, 9.0, 2.0, 4.0, 6.0, 7.0,
        ];
        let minima: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(x, &y)| (x as f64, y))
            .collect();
        let test = mann_kendall(&values);
        assert_eq!(test.s, 34);
        assert!(close(test.p_value, 0.020_65, 1e-4), "{test:?}");
        assert!(close(theil_sen(&minima).unwrap().slope, 0.236_111, 1e-6));
        let verdict = judge(&minima, 0.0);
        assert_eq!((verdict.trend, verdict.leak), (Trend::Steady, false));
    }

    #[test]
    fn time_until_a_limit() {
        assert_eq!(hours_until(300, 100, 50.0), Some(4.0));
        assert_eq!(hours_until(300, 100, 0.0), None);
        assert_eq!(hours_until(300, 400, 50.0), None);
    }
}
