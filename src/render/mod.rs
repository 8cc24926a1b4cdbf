//! Renderers: pure functions from finished data to bytes, one per output format, behind one
//! trait. Choosing the format and the destination happens elsewhere.

mod json;
mod prometheus;
mod text;
mod units;

use std::io::{self, Write};

pub use json::JsonRenderer;
pub use prometheus::PrometheusRenderer;
pub use text::TextRenderer;
pub use units::Unit;

use crate::ps::ProcessList;
use crate::report::Report;

/// Writes results in one output format.
pub trait Renderer {
    /// One process's analysis.
    fn render(&self, report: &Report, out: &mut dyn Write) -> io::Result<()>;
    /// The process list of `-ps`.
    fn render_processes(&self, list: &ProcessList, out: &mut dyn Write) -> io::Result<()>;
}

/// The output formats `-format` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Prometheus,
}

/// How text output looks, decided once from the command line and the environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextStyle {
    /// ANSI colours: `-color`, NO_COLOR, CLICOLOR_FORCE and whether stdout is a terminal.
    pub color: bool,
    pub unit: Unit,
}

/// The renderer for `format`.
pub fn renderer(format: Format, style: TextStyle) -> Box<dyn Renderer> {
    match format {
        Format::Text => Box::new(TextRenderer { style }),
        Format::Json => Box::new(JsonRenderer),
        Format::Prometheus => Box::new(PrometheusRenderer),
    }
}
