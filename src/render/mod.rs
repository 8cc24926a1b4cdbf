//! Renderers: pure functions from a finished [`Report`] or [`ProcessList`] to bytes, one file
//! per output format behind one private trait; [`Renderer`] picks the format. Choosing the
//! destination happens elsewhere. Names are escaped here (`escape.rs`), never earlier.

pub mod escape;
pub(crate) mod json;
mod pprof;
pub(crate) mod prometheus;
pub(crate) mod text;
pub mod timeline;
mod units;

use std::io::{self, Write};

pub use units::Unit;

use crate::input::ps::ProcessList;
use crate::report::Report;

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The breakdown and region table for people and grep/awk: a contract for scripts.
    Text,
    /// One JSON object with exact byte counts (schema in the README).
    Json,
    /// Prometheus text exposition format.
    Prometheus,
    /// A pprof profile (gzip'd profile.proto) of the whole process's memory, for `go tool pprof`.
    Pprof,
}

impl Format {
    /// Every format, in the order `-format` lists them.
    pub const ALL: [Format; 4] = [
        Format::Text,
        Format::Json,
        Format::Prometheus,
        Format::Pprof,
    ];

    /// The name `-format` and the HTTP mode's `?format=` take: `text`, `json`, `prometheus`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Prometheus => "prometheus",
            Format::Pprof => "pprof",
        }
    }

    /// The format with this name.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.name() == name)
    }

    /// The HTTP `Content-Type` of output in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Json => "application/json",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::Pprof => "application/octet-stream",
        }
    }
}

/// How text output looks, decided once from the command line and the environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextStyle {
    /// ANSI colours (never for a pipe, unless asked for).
    pub color: bool,
    /// The unit sizes are shown in.
    pub unit: Unit,
}

/// Writes reports and process lists in one output format.
///
/// ```
/// use memanalyzer::render::{Format, Renderer, TextStyle};
/// let text = b"7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]\nRss: 12 kB\n";
/// let report = memanalyzer::analyze_reader(&text[..], &Default::default())?;
/// let mut json = Vec::new();
/// Renderer::new(Format::Json, TextStyle::default()).report(&report, &mut json)?;
/// assert!(String::from_utf8(json)?.contains("\"rss_bytes\": 12288"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Renderer {
    format: Format,
    style: TextStyle,
}

/// What each output format implements.
trait Render {
    fn report(&self, report: &Report, out: &mut dyn Write) -> io::Result<()>;
    fn processes(&self, list: &ProcessList, out: &mut dyn Write) -> io::Result<()>;
}

impl Renderer {
    /// A renderer for `format`; `style` matters to text only.
    pub fn new(format: Format, style: TextStyle) -> Renderer {
        Renderer { format, style }
    }

    fn format(&self) -> Box<dyn Render> {
        match self.format {
            Format::Text => Box::new(text::TextRenderer { style: self.style }),
            Format::Json => Box::new(json::JsonRenderer),
            Format::Prometheus => Box::new(prometheus::PrometheusRenderer),
            Format::Pprof => Box::new(pprof::PprofRenderer),
        }
    }

    /// Writes one process's analysis.
    pub fn report(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.format().report(report, out)
    }

    /// Writes the process list of `-ps`.
    pub fn processes(&self, list: &ProcessList, out: &mut dyn Write) -> io::Result<()> {
        self.format().processes(list, out)
    }
}
