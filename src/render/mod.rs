//! Renderers: pure functions from a finished [`Report`] to bytes, one per output format, behind
//! one trait. Choosing the format and the destination happens elsewhere.

mod json;
mod text;

use std::io::{self, Write};

pub use json::JsonRenderer;
pub use text::TextRenderer;

use crate::report::Report;

/// Writes a report in one output format.
pub trait Renderer {
    fn render(&self, report: &Report, out: &mut dyn Write) -> io::Result<()>;
}

/// The output formats `-format` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// How text output looks, decided once from the command line and the environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextStyle {
    /// ANSI colours; only for a terminal, and never when NO_COLOR is set.
    pub color: bool,
}

/// The renderer for `format`.
pub fn renderer(format: Format, style: TextStyle) -> Box<dyn Renderer> {
    match format {
        Format::Text => Box::new(TextRenderer { style }),
        Format::Json => Box::new(JsonRenderer),
    }
}
