//! What can be wrong with smaps text, and what the parser tolerates: small `Copy` types with a
//! line number and a hand-written `Display` that says what was expected.

use std::fmt;
use std::io;

use super::fields::{FieldKey, Unit};
use super::parser::{MAX_LINE_BYTES, MAX_RECORD_BYTES};

/// The first bytes of a bad line or value, kept for the error message (escaped when shown).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Excerpt {
    bytes: [u8; Excerpt::CAPACITY],
    len: u8,
    /// The original was longer than what is kept.
    cut: bool,
}

impl Excerpt {
    const CAPACITY: usize = 60;

    pub(crate) fn of(text: &[u8]) -> Excerpt {
        let len = text.len().min(Excerpt::CAPACITY);
        let mut bytes = [0u8; Excerpt::CAPACITY];
        bytes[..len].copy_from_slice(&text[..len]);
        Excerpt {
            bytes,
            len: len as u8,
            cut: text.len() > len,
        }
    }

    /// The bytes kept, raw.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Default for Excerpt {
    fn default() -> Excerpt {
        Excerpt::of(b"")
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Escaped for a terminal, with `…` when the original was longer.
impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::render::escape::for_terminal(self.as_bytes()))?;
        if self.cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// Why the input is not smaps text, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number in the whole input.
    pub line: u64,
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// The offending text (the line, or the value after the key), for the message.
    pub found: Excerpt,
}

/// What is wrong with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A line that should be a mapping header is not one; says what was expected.
    BadHeader {
        /// The part of the header that could not be read, e.g. "a hex file offset".
        expected: &'static str,
    },
    /// A line that starts like a field (a capital letter) but has no `Key:`.
    NotAField,
    /// A field line of a known key whose value is not what the key needs.
    BadField {
        /// The key whose value is malformed.
        key: FieldKey,
    },
    /// A number too large to be a real amount of memory.
    Overflow {
        /// The key whose value is too large.
        key: FieldKey,
    },
    /// A key whose values over all records add up to more than any real amount of memory.
    TotalOverflow {
        /// The key whose sum is too large.
        key: FieldKey,
    },
    /// A field line before any mapping header.
    FieldBeforeHeader,
    /// A header followed directly by another header: a `/proc/<pid>/maps` file.
    LooksLikeMaps,
    /// A `[rollup]` record: a `/proc/<pid>/smaps_rollup` file.
    LooksLikeRollup,
    /// An `smaps_rollup` file without its `[rollup]` record.
    NotARollup,
    /// A line longer than any smaps line can be.
    LineTooLong,
    /// A record longer than any smaps record can be.
    RecordTooLong,
}

impl ParseError {
    pub(crate) fn new(line: u64, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line,
            kind,
            found: Excerpt::default(),
        }
    }

    pub(crate) fn found(mut self, text: &[u8]) -> ParseError {
        self.found = Excerpt::of(text);
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        let found = &self.found;
        match self.kind {
            ParseErrorKind::BadHeader { expected } => write!(
                f,
                "line {line}: expected a mapping header such as \
                 `7f0000000000-7f0000021000 rw-p 00000000 00:00 0` ({expected}), found `{found}`"
            ),
            ParseErrorKind::NotAField => write!(
                f,
                "line {line}: expected a field line such as `Rss:  4 kB` or a mapping header, \
                 found `{found}`"
            ),
            ParseErrorKind::BadField { key } => write!(
                f,
                "line {line}: expected a decimal number{} after `{}:`, found `{found}`",
                if key.unit() == Unit::Kb {
                    " followed by ` kB`"
                } else {
                    ""
                },
                key.name()
            ),
            ParseErrorKind::Overflow { key } => write!(
                f,
                "line {line}: the value of `{}` is too large to be an amount of memory",
                key.name()
            ),
            ParseErrorKind::TotalOverflow { key } => write!(
                f,
                "line {line}: the values of `{}` add up to more than any amount of memory",
                key.name()
            ),
            ParseErrorKind::FieldBeforeHeader => write!(
                f,
                "line {line}: expected a mapping header before the first field line, found `{found}`"
            ),
            ParseErrorKind::LooksLikeMaps => write!(
                f,
                "line {line}: a mapping header with no field lines after it: this looks like \
                 /proc/PID/maps, which has no sizes; pass /proc/PID/smaps instead"
            ),
            ParseErrorKind::LooksLikeRollup => write!(
                f,
                "line {line}: this is /proc/PID/smaps_rollup (totals only, no regions); \
                 pass /proc/PID/smaps instead"
            ),
            ParseErrorKind::NotARollup => write!(
                f,
                "line {line}: expected the `[rollup]` record of /proc/PID/smaps_rollup"
            ),
            ParseErrorKind::LineTooLong => write!(
                f,
                "line {line} is longer than {} KiB: this is not smaps text",
                MAX_LINE_BYTES / 1024
            ),
            ParseErrorKind::RecordTooLong => write!(
                f,
                "the record starting at line {line} is longer than {} KiB: this is not smaps text",
                MAX_RECORD_BYTES / 1024
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// Something the parser tolerated but the user should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    /// The input uses CRLF line ends (e.g. a capture saved on Windows).
    CrlfLineEnds,
    /// The last record lacks fields the others have, or the input ends mid-line.
    FinalRecordCutShort {
        /// Line of the last record's header.
        line: u64,
    },
    /// The input ends in the middle of a line that does not read as a whole line; it was left
    /// out, and everything before it counted.
    FinalLineCut {
        /// The line left out.
        line: u64,
    },
}

impl Warning {
    /// A stable id for machines (JSON's `warning_details`): `crlf_line_ends`,
    /// `final_record_cut_short`, `final_line_cut`.
    pub fn kind(&self) -> &'static str {
        match self {
            Warning::CrlfLineEnds => "crlf_line_ends",
            Warning::FinalRecordCutShort { .. } => "final_record_cut_short",
            Warning::FinalLineCut { .. } => "final_line_cut",
        }
    }

    /// The input line the warning is about, if it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Warning::CrlfLineEnds => None,
            Warning::FinalRecordCutShort { line } | Warning::FinalLineCut { line } => Some(*line),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::CrlfLineEnds => write!(f, "the input has CRLF line ends; they were ignored"),
            Warning::FinalRecordCutShort { line } => write!(
                f,
                "the final record (line {line}) is cut short; its figures are counted as far as they go"
            ),
            Warning::FinalLineCut { line } => write!(
                f,
                "the input ends in the middle of line {line}, which was left out; \
                 everything before it is counted"
            ),
        }
    }
}

/// Failure of a streaming parse: the reader failed, or the text is not smaps.
#[derive(Debug)]
pub enum StreamError {
    /// Reading failed.
    Io(io::Error),
    /// The text is not smaps.
    Parse(ParseError),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Io(_) => f.write_str("cannot read the smaps text"),
            StreamError::Parse(_) => f.write_str("the input is not smaps text"),
        }
    }
}

impl std::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Io(err) => Some(err),
            StreamError::Parse(err) => Some(err),
        }
    }
}
