//! Samples as NDJSON: one JSON object per line, written whole with its newline in one write, so
//! a reader (`tail -f`, `jq`) never sees half a record unless the writer was killed mid-write.
//! The same lines are what a watch prints when piped and what `-record FILE` appends; `-file`
//! replays them. Each line is `{"record": "sample", "time_unix_ms": …, "full": …, "totals": {…},
//! "report": {the JSON report} or null}`; lines of another `record` kind (the summary a watch
//! ends with) and fields this version does not know are skipped.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use super::sample::{AmountsDoc, NotAReport, Sample, Snapshot};
use crate::render::json::AmountsOut;
use crate::render::{Format, Renderer, TextStyle};
use crate::report::{Amounts, Report};

/// The `record` value of a sample line.
pub const SAMPLE_RECORD: &str = "sample";

#[derive(Serialize)]
struct SampleLine<'a> {
    record: &'static str,
    schema_version: u32,
    time_unix_ms: u64,
    pid: Option<i32>,
    /// The sample's number, from 1.
    index: u64,
    /// Whether the full smaps was read (else the totals are from `smaps_rollup`).
    full: bool,
    totals: AmountsOut,
    report: Option<&'a serde_json::Value>,
}

/// The JSON report of `report`, as a value to embed in a line.
pub fn report_value(report: &Report) -> io::Result<serde_json::Value> {
    let mut json = Vec::new();
    Renderer::new(Format::Json, TextStyle::default()).report(report, &mut json)?;
    serde_json::from_slice(&json).map_err(io::Error::from)
}

/// Writes one sample line (with its newline) in a single write.
pub fn write_sample(
    out: &mut dyn Write,
    time_unix_ms: u64,
    pid: Option<i32>,
    index: u64,
    totals: Amounts,
    report: Option<&serde_json::Value>,
) -> io::Result<()> {
    let line = SampleLine {
        record: SAMPLE_RECORD,
        schema_version: 1,
        time_unix_ms,
        pid,
        index,
        full: report.is_some(),
        totals: totals.into(),
        report,
    };
    write_line(out, &line)
}

/// Writes `value` as one compact JSON line in a single write. DEL and the C1 controls are
/// escaped as JSON's writer does not: they can only be inside strings, where `\u` escapes mean
/// the same, and a terminal could act on them raw.
pub fn write_line(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    let text = serde_json::to_string(value).map_err(io::Error::from)?;
    let mut line = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if ('\u{7f}'..='\u{9f}').contains(&c) {
            line.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            line.push(c);
        }
    }
    line.push('\n');
    out.write_all(line.as_bytes())?;
    out.flush()
}

#[derive(Deserialize)]
struct LineIn {
    time_unix_ms: u64,
    totals: AmountsDoc,
    #[serde(default)]
    report: Option<serde_json::Value>,
}

/// What reading a recording found besides its samples.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadSummary {
    /// Sample lines read.
    pub samples: u64,
    /// Lines of other kinds skipped (e.g. a watch's summary).
    pub skipped: u64,
    /// The last line was cut short (no newline, not valid JSON): its number. It was left out.
    pub cut_line: Option<u64>,
}

/// A line of a recording that is not a sample memanalyzer can read.
#[derive(Debug)]
pub enum RecordingError {
    /// Reading failed.
    Io(io::Error),
    /// A whole line (ending in a newline) is not a record.
    Line {
        /// Its number, from 1.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

impl std::fmt::Display for RecordingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordingError::Io(error) => write!(f, "cannot read the recording: {error}"),
            RecordingError::Line { line, reason } => write!(
                f,
                "line {line} is not a memanalyzer sample record ({reason}); a recording is \
                 what -record FILE or a piped -watch writes"
            ),
        }
    }
}

impl std::error::Error for RecordingError {}

/// Whether `start` (the first bytes of a file) looks like a recording rather than smaps text.
pub fn looks_like_recording(start: &[u8]) -> bool {
    let trimmed = start
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .map_or(&[][..], |at| &start[at..]);
    trimmed.starts_with(b"{")
}

/// Reads a recording, handing each sample to `each` in order. A last line cut short (no
/// newline and not valid JSON) is left out and reported in the summary; any other line that is
/// not a record is an error.
pub fn read_recording(
    mut reader: impl BufRead,
    mut each: impl FnMut(Sample),
) -> Result<ReadSummary, RecordingError> {
    let mut summary = ReadSummary::default();
    let mut number = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(RecordingError::Io)?
            == 0
        {
            return Ok(summary);
        }
        number += 1;
        let whole = line.ends_with(b"\n");
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = match parse_line(&line) {
            Parsed::Sample(record) => record,
            Parsed::Other => {
                summary.skipped += 1;
                continue;
            }
            Parsed::Bad(_) if !whole => {
                summary.cut_line = Some(number);
                return Ok(summary);
            }
            Parsed::Bad(reason) => {
                return Err(RecordingError::Line {
                    line: number,
                    reason,
                })
            }
        };
        let snapshot = match record.report {
            Some(serde_json::Value::Null) | None => None,
            Some(value) => Some(Snapshot::from_json_value(value).map_err(
                |NotAReport { reason }| RecordingError::Line {
                    line: number,
                    reason: format!("its report: {reason}"),
                },
            )?),
        };
        summary.samples += 1;
        each(Sample {
            time_unix_ms: record.time_unix_ms,
            totals: record.totals.amounts(),
            snapshot,
        });
    }
}

enum Parsed {
    Sample(LineIn),
    /// A record of another kind.
    Other,
    Bad(String),
}

fn parse_line(line: &[u8]) -> Parsed {
    let value: serde_json::Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(error) => return Parsed::Bad(error.to_string()),
    };
    match value.get("record").and_then(serde_json::Value::as_str) {
        Some(SAMPLE_RECORD) => match serde_json::from_value(value) {
            Ok(record) => Parsed::Sample(record),
            Err(error) => Parsed::Bad(error.to_string()),
        },
        Some(_) => Parsed::Other,
        None => Parsed::Bad("it has no \"record\" field".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let text =
            "55a000000000-55a000100000 rw-p 00000000 00:00 0 [heap]\nRss: 400 kB\nPss: 400 kB\n";
        crate::analyze_reader(text.as_bytes(), &crate::Options::default().region_groups()).unwrap()
    }

    #[test]
    fn samples_round_trip_and_a_cut_last_line_is_left_out() {
        let report = report();
        let value = report_value(&report).unwrap();
        let mut out = Vec::new();
        let rollup = Amounts {
            rss: 5,
            ..Amounts::default()
        };
        write_sample(&mut out, 1000, Some(7), 1, report.totals, Some(&value)).unwrap();
        write_sample(&mut out, 2000, Some(7), 2, rollup, None).unwrap();
        out.extend_from_slice(b"{\"record\":\"summary\",\"anything\":1}\n");
        let whole = out.len();
        write_sample(&mut out, 3000, Some(7), 3, rollup, None).unwrap();
        assert_eq!(
            out.iter().filter(|&&b| b == b'\n').count(),
            4,
            "one line each"
        );
        let mut samples = Vec::new();
        let summary = read_recording(&out[..], |sample| samples.push(sample)).unwrap();
        assert_eq!(
            (summary.samples, summary.skipped, summary.cut_line),
            (3, 1, None)
        );
        assert_eq!(samples[0].snapshot, Some(Snapshot::of_report(&report)));
        assert_eq!(samples[1].totals.rss, 5);
        assert_eq!(samples[2].time_unix_ms, 3000);

        let cut = &out[..whole + 20];
        let mut count = 0;
        let summary = read_recording(cut, |_| count += 1).unwrap();
        assert_eq!((count, summary.cut_line), (2, Some(4)));

        let bad = b"{\"record\":\"sample\"}\n{\"x\":1}\n";
        let error = read_recording(&bad[..], |_| {}).unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
        assert!(looks_like_recording(b"  \n{\"record\""));
        assert!(!looks_like_recording(b"00400000-00401000 r-xp"));
    }

    #[test]
    fn c1_controls_are_escaped_in_lines() {
        let mut out = Vec::new();
        write_line(&mut out, &serde_json::json!({"name": "a\u{9b}b\u{7f}"})).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"name\":\"a\\u009bb\\u007f\"}\n"
        );
    }
}
