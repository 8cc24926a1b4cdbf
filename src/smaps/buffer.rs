//! The streaming parser's one buffer: filled from any reader, it hands over whole records only,
//! so the parser on top never sees a record split between reads, and it refuses to grow past
//! the longest record real smaps text can hold.

use std::io::{self, Read};

use super::error::{ParseError, ParseErrorKind, StreamError};
use super::parser::{is_header_line, MAX_LINE_BYTES, MAX_RECORD_BYTES};

/// Starting size: big enough for ~60 typical records per read batch.
const INITIAL_BYTES: usize = 64 * 1024;

pub(crate) struct RecordBuffer {
    /// Storage; grows by doubling up to [`MAX_RECORD_BYTES`] when one record does not fit.
    buf: Vec<u8>,
    /// `buf[..filled]` holds data not yet consumed; always `filled <= buf.len()`.
    filled: usize,
    /// The reader returned end of input.
    at_eof: bool,
}

impl RecordBuffer {
    pub(crate) fn new() -> RecordBuffer {
        RecordBuffer {
            buf: vec![0u8; INITIAL_BYTES],
            filled: 0,
            at_eof: false,
        }
    }

    /// Whether the reader has ended; then [`RecordBuffer::complete`] is everything left.
    pub(crate) fn at_eof(&self) -> bool {
        self.at_eof
    }

    /// Reads once more from `reader`. `lines_before` (the lines already parsed) numbers the line
    /// named in an error. Returns the number of bytes read; 0 means the input ended.
    pub(crate) fn fill_from<R: Read>(
        &mut self,
        reader: &mut R,
        lines_before: u64,
    ) -> Result<usize, StreamError> {
        if self.filled == self.buf.len() {
            self.grow(lines_before)?;
        }
        loop {
            match reader.read(&mut self.buf[self.filled..]) {
                Ok(read) => {
                    self.filled += read;
                    self.at_eof = read == 0;
                    return Ok(read);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(StreamError::Io(err)),
            }
        }
    }

    /// Makes room when no record boundary fits in the buffer: the current record is unusually
    /// long. A line or record longer than real smaps text can hold is an error.
    fn grow(&mut self, lines_before: u64) -> Result<(), StreamError> {
        let data = &self.buf[..self.filled];
        let line_start = memchr::memrchr(b'\n', data).map_or(0, |pos| pos + 1);
        if self.filled - line_start > MAX_LINE_BYTES {
            let line =
                lines_before + 1 + memchr::memchr_iter(b'\n', &data[..line_start]).count() as u64;
            return Err(StreamError::Parse(ParseError::new(
                line,
                ParseErrorKind::LineTooLong,
            )));
        }
        if self.buf.len() >= MAX_RECORD_BYTES {
            return Err(StreamError::Parse(ParseError::new(
                lines_before + 1,
                ParseErrorKind::RecordTooLong,
            )));
        }
        self.buf.resize(self.buf.len() * 2, 0);
        Ok(())
    }

    /// The data that holds only whole records: everything at the end of input, otherwise up to
    /// the start of the last header line that follows at least one complete line.
    pub(crate) fn complete(&self) -> &[u8] {
        let data = &self.buf[..self.filled];
        if self.at_eof {
            data
        } else {
            &data[..last_record_boundary(data)]
        }
    }

    /// Drops the first `count` bytes, which the parser has taken.
    pub(crate) fn consume(&mut self, count: usize) {
        assert!(count <= self.filled, "cannot consume more than is buffered");
        self.buf.copy_within(count..self.filled, 0);
        self.filled -= count;
    }
}

/// Offset of the start of the last header line that follows at least one complete line, i.e.
/// the end of the records that are certainly complete; 0 when there are none yet.
fn last_record_boundary(data: &[u8]) -> usize {
    let Some(last_newline) = memchr::memrchr(b'\n', data) else {
        return 0;
    };
    let mut line_end = last_newline;
    loop {
        let line_start = memchr::memrchr(b'\n', &data[..line_end]).map_or(0, |pos| pos + 1);
        if line_start == 0 {
            return 0;
        }
        // Empty lines (skipped by the parser) are no boundary: the record goes on after them.
        let line = &data[line_start..line_end];
        if !line.is_empty() && line != b"\r" && is_header_line(line) {
            return line_start;
        }
        line_end = line_start - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_over_whole_records_only() {
        let data =
            b"1000-2000 rw-p 00000000 00:00 0 \nRss: 4 kB\n2000-3000 rw-p 00000000 00:00 0 \nRss:";
        let mut buffer = RecordBuffer::new();
        let mut reader = &data[..];
        buffer.fill_from(&mut reader, 0).unwrap();
        assert_eq!(
            buffer.complete(),
            b"1000-2000 rw-p 00000000 00:00 0 \nRss: 4 kB\n"
        );
        let taken = buffer.complete().len();
        buffer.consume(taken);
        assert_eq!(buffer.fill_from(&mut reader, 2).unwrap(), 0);
        assert!(buffer.at_eof());
        assert_eq!(buffer.complete(), b"2000-3000 rw-p 00000000 00:00 0 \nRss:");
    }
}
