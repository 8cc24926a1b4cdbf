//! `-plot FILE.svg`: a stacked-area chart of the categories' RSS over time, with the total RSS
//! as a line, the verdict in the title and any threshold or limit as a horizontal line. Drawn
//! with plotters' SVG backend (pure Rust, no system libraries). The points are bounded like the
//! rest of the history: at most [`MAX_POINTS`] full samples, thinned by half when full.

use std::io;

use plotters::prelude::*;

/// Most full samples the chart keeps.
pub const MAX_POINTS: usize = 600;

/// Categories drawn on their own; the others are summed into "other".
const SHOWN: usize = 8;

/// At most [`MAX_POINTS`] of a sequence: when full, every other one is dropped and from then
/// on only every other new one is kept.
#[derive(Clone, Debug)]
pub struct Thinned<T> {
    points: Vec<T>,
    /// Keep one in `stride`.
    stride: u64,
    seen: u64,
}

impl<T> Default for Thinned<T> {
    fn default() -> Thinned<T> {
        Thinned {
            points: Vec::new(),
            stride: 1,
            seen: 0,
        }
    }
}

impl<T> Thinned<T> {
    /// Offers the next point.
    pub fn push(&mut self, point: T) {
        self.seen += 1;
        if (self.seen - 1) % self.stride != 0 {
            return;
        }
        if self.points.len() >= MAX_POINTS {
            let mut index = 0;
            self.points.retain(|_| {
                index += 1;
                index % 2 == 1
            });
            self.stride *= 2;
        }
        self.points.push(point);
    }

    /// The kept points, in order.
    pub fn points(&self) -> &[T] {
        &self.points
    }
}

/// The chart's data: per kept full sample, its time and each category's RSS (indexed like
/// [`super::History::categories`]; a category that appeared later is missing from earlier
/// rows), and the total RSS of every kept sample.
#[derive(Clone, Debug, Default)]
pub struct PlotData {
    /// (seconds, each category's RSS).
    pub categories: Thinned<(f64, Vec<f64>)>,
    /// (seconds, total RSS).
    pub total: Thinned<(f64, f64)>,
}

/// A horizontal line on the chart: its height in bytes and its label.
pub struct Threshold {
    /// Bytes.
    pub bytes: u64,
    /// E.g. `-max-rss 512 MB`.
    pub label: String,
}

/// Everything the chart shows.
pub struct Chart<'a> {
    /// The title's first part, e.g. `process 1234`.
    pub title: String,
    /// The verdict, shown under the title.
    pub verdict: String,
    /// The categories' labels, indexed like the rows of `data`.
    pub labels: Vec<&'a str>,
    /// The points.
    pub data: &'a PlotData,
    /// Lines to draw across.
    pub thresholds: Vec<Threshold>,
}

const MIB: f64 = 1024.0 * 1024.0;

const COLOURS: [RGBColor; SHOWN + 1] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(127, 127, 127),
];

/// The chart as SVG text.
pub fn svg(chart: &Chart<'_>) -> io::Result<String> {
    let mut text = String::new();
    draw(chart, &mut text).map_err(|error| io::Error::other(error.to_string()))?;
    Ok(text)
}

fn draw(chart: &Chart<'_>, out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let points = chart.data.categories.points();
    let total = chart.data.total.points();
    let value = |row: &Vec<f64>, index: usize| row.get(index).copied().unwrap_or(0.0);
    // The largest categories at the end are drawn on their own, at the bottom of the stack.
    let mut order: Vec<usize> = (0..chart.labels.len()).collect();
    let last = points
        .last()
        .map(|(_, row)| row.clone())
        .unwrap_or_default();
    order.sort_by(|&a, &b| value(&last, b).total_cmp(&value(&last, a)));
    order.retain(|&index| points.iter().any(|(_, row)| value(row, index) > 0.0));
    let rest: Vec<usize> = order.split_off(order.len().min(SHOWN));
    // Layers bottom to top: each category, then "other".
    let mut layers: Vec<(String, Vec<f64>)> = order
        .iter()
        .map(|&index| {
            let values = points.iter().map(|(_, row)| value(row, index)).collect();
            (chart.labels[index].to_string(), values)
        })
        .collect();
    if !rest.is_empty() {
        let values = points
            .iter()
            .map(|(_, row)| rest.iter().map(|&index| value(row, index)).sum())
            .collect();
        layers.push((format!("other ({} categories)", rest.len()), values));
    }
    let times: Vec<f64> = points.iter().map(|(t, _)| *t).collect();
    let mut stacked: Vec<Vec<f64>> = Vec::with_capacity(layers.len());
    let mut running = vec![0.0; times.len()];
    for (_, values) in &layers {
        for (sum, value) in running.iter_mut().zip(values) {
            *sum += value / MIB;
        }
        stacked.push(running.clone());
    }
    let end = times
        .last()
        .copied()
        .into_iter()
        .chain(total.last().map(|(t, _)| *t))
        .fold(1.0f64, f64::max);
    let top = running
        .iter()
        .copied()
        .chain(total.iter().map(|(_, v)| v / MIB))
        .chain(chart.thresholds.iter().map(|t| t.bytes as f64 / MIB))
        .fold(1.0f64, f64::max)
        * 1.1;

    let root = SVGBackend::with_string(out, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (header, body) = root.split_vertically(60);
    header.draw(&Text::new(
        chart.title.clone(),
        (20, 10),
        ("sans-serif", 22).into_font(),
    ))?;
    header.draw(&Text::new(
        chart.verdict.clone(),
        (20, 36),
        ("sans-serif", 15).into_font(),
    ))?;
    let mut plot = ChartBuilder::on(&body)
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end, 0f64..top)?;
    plot.configure_mesh()
        .x_desc("seconds since the first sample")
        .y_desc("RSS (MiB)")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    // Top layer first: each lower layer is painted over the one above it.
    for (index, ((label, _), line)) in layers.iter().zip(&stacked).enumerate().rev() {
        let colour = COLOURS[index.min(SHOWN)];
        plot.draw_series(AreaSeries::new(
            times.iter().copied().zip(line.iter().copied()),
            0.0,
            colour.mix(0.85),
        ))?
        .label(label.clone())
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    if !total.is_empty() {
        plot.draw_series(LineSeries::new(
            total.iter().map(|&(t, v)| (t, v / MIB)),
            BLACK.stroke_width(2),
        ))?
        .label("total RSS")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLACK.stroke_width(2)));
    }
    const LINES: [RGBColor; 3] = [RED, RGBColor(230, 120, 0), RGBColor(120, 0, 160)];
    for (threshold, colour) in chart.thresholds.iter().zip(LINES.iter().cycle()) {
        let height = threshold.bytes as f64 / MIB;
        let style = colour.stroke_width(2);
        plot.draw_series(LineSeries::new([(0.0, height), (end, height)], style))?
            .label(threshold.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], style));
    }
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_thinned_by_half_when_full() {
        let mut data = Thinned::default();
        for index in 0..10_000u32 {
            data.push(f64::from(index));
        }
        let kept = data.points().len();
        assert!((MAX_POINTS / 2..=MAX_POINTS).contains(&kept), "{kept}");
        assert_eq!(data.points()[0], 0.0);
        let times = data.points();
        assert!(times.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn names_from_the_process_are_escaped_in_the_svg() {
        let mut data = PlotData::default();
        for second in 0..3u32 {
            data.categories.push((f64::from(second), vec![MIB]));
        }
        let chart = Chart {
            title: "t".into(),
            verdict: "v".into(),
            labels: vec!["<script>alert(1)</script> & co"],
            data: &data,
            thresholds: Vec::new(),
        };
        let svg = svg(&chart).unwrap();
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    }

    #[test]
    fn draws_an_svg_with_the_title_layers_and_thresholds() {
        let mut data = PlotData::default();
        for second in 0..20u32 {
            let s = f64::from(second);
            data.categories
                .push((s, vec![100.0 * MIB, s * MIB, 5.0 * MIB]));
            data.total.push((s, (105.0 + s) * MIB));
        }
        let chart = Chart {
            title: "memanalyzer: process 42".into(),
            verdict: "RSS growing at +3600 MB/h".into(),
            labels: vec!["Heap", "Read-Write", "Shared Libraries"],
            data: &data,
            thresholds: vec![Threshold {
                bytes: 200 * 1024 * 1024,
                label: "-max-rss 200 MB".into(),
            }],
        };
        let svg = svg(&chart).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        for text in [
            "process 42",
            "growing at",
            "Read-Write",
            "Heap",
            "-max-rss 200 MB",
        ] {
            assert!(svg.contains(text), "{text} is missing");
        }
    }
}
