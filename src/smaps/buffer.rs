//! How streamed input reaches the parser in whole records. Input arrives in pieces of any size
//! ([`Chunks`]); each piece is parsed where it lies, up to its last record boundary, and only a
//! record cut by a piece's end is copied (into the [`Carry`]) to be completed by the next piece.
//! The carry refuses to grow past the longest line and record real smaps text can hold.

use std::io::{self, Read};

use super::error::{ParseError, ParseErrorKind, StreamError};
use super::parser::{is_header_line, MAX_LINE_BYTES, MAX_RECORD_BYTES};

/// Input handed over in pieces, each borrowed until the next one is asked for.
pub trait Chunks {
    /// The next piece of input: any length, cut anywhere; empty once the input has ended.
    fn next_chunk(&mut self) -> io::Result<&[u8]>;
}

/// Size of [`ReadChunks`]' buffer.
const READ_BYTES: usize = 64 * 1024;

/// [`Chunks`] from any reader, one read into one reused buffer at a time.
pub(crate) struct ReadChunks<R> {
    reader: R,
    buf: Vec<u8>,
}

impl<R: Read> ReadChunks<R> {
    pub(crate) fn new(reader: R) -> ReadChunks<R> {
        ReadChunks {
            reader,
            buf: vec![0; READ_BYTES],
        }
    }
}

impl<R: Read> Chunks for ReadChunks<R> {
    fn next_chunk(&mut self) -> io::Result<&[u8]> {
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(read) => return Ok(&self.buf[..read]),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }
}

/// The start of a record cut by the end of a piece of input, completed from the next pieces.
#[derive(Default)]
pub(crate) struct Carry {
    /// Whole lines and at most one partial line at the end; no more than [`MAX_RECORD_BYTES`].
    bytes: Vec<u8>,
}

impl Carry {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Drops the first `count` bytes, which the parser has taken.
    pub(crate) fn consume(&mut self, count: usize) {
        self.bytes.drain(..count);
    }

    /// Appends `more`. `lines_before` (the lines already parsed, which the carry follows)
    /// numbers the line named in an error: a line longer than [`MAX_LINE_BYTES`], or a record
    /// longer than [`MAX_RECORD_BYTES`], is refused before it is copied.
    pub(crate) fn push(&mut self, more: &[u8], lines_before: u64) -> Result<(), StreamError> {
        let partial_line = match memchr::memrchr(b'\n', more) {
            Some(last_newline) => more.len() - last_newline - 1,
            None => {
                let carried = memchr::memrchr(b'\n', &self.bytes).map_or(0, |at| at + 1);
                self.bytes.len() - carried + more.len()
            }
        };
        if partial_line > MAX_LINE_BYTES {
            let whole_lines = memchr::memchr_iter(b'\n', &self.bytes).count()
                + memchr::memchr_iter(b'\n', more).count();
            return Err(StreamError::Parse(ParseError::new(
                lines_before + 1 + whole_lines as u64,
                ParseErrorKind::LineTooLong,
            )));
        }
        if self.bytes.len() + more.len() > MAX_RECORD_BYTES {
            return Err(StreamError::Parse(ParseError::new(
                lines_before + 1,
                ParseErrorKind::RecordTooLong,
            )));
        }
        self.bytes.extend_from_slice(more);
        Ok(())
    }
}

/// Whether `line` (without its newline) starts a record; empty lines, which the parser skips,
/// do not.
fn starts_record(line: &[u8]) -> bool {
    !line.is_empty() && line != b"\r" && is_header_line(line)
}

/// Offset in `data` of the first whole line that starts a record, where `data` continues text
/// that ended with a newline if `at_line_start`, and in the middle of a line otherwise.
pub(crate) fn first_record_boundary(data: &[u8], at_line_start: bool) -> Option<usize> {
    let mut line_start = if at_line_start {
        0
    } else {
        memchr::memchr(b'\n', data)? + 1
    };
    loop {
        let line_end = line_start + memchr::memchr(b'\n', &data[line_start..])?;
        if starts_record(&data[line_start..line_end]) {
            return Some(line_start);
        }
        line_start = line_end + 1;
    }
}

/// Offset of the start of the last header line that follows at least one complete line, i.e.
/// the end of the records that are certainly complete; 0 when there are none yet.
pub(crate) fn last_record_boundary(data: &[u8]) -> usize {
    let Some(last_newline) = memchr::memrchr(b'\n', data) else {
        return 0;
    };
    let mut line_end = last_newline;
    loop {
        let line_start = memchr::memrchr(b'\n', &data[..line_end]).map_or(0, |pos| pos + 1);
        if line_start == 0 {
            return 0;
        }
        if starts_record(&data[line_start..line_end]) {
            return line_start;
        }
        line_end = line_start - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_whole_header_lines() {
        let data =
            b"1000-2000 rw-p 00000000 00:00 0 \nRss: 4 kB\n2000-3000 rw-p 00000000 00:00 0 \nRss:";
        assert_eq!(last_record_boundary(data), 43);
        assert_eq!(first_record_boundary(data, true), Some(0));
        assert_eq!(first_record_boundary(data, false), Some(43));
        // The last header's line is not whole: no boundary yet.
        assert_eq!(first_record_boundary(&data[..50], false), None);
        assert_eq!(last_record_boundary(&data[..50]), 0);
    }

    #[test]
    fn the_carry_refuses_long_lines_and_records_before_copying_them() {
        let mut carry = Carry::default();
        carry
            .push(b"1000-2000 rw-p 00000000 00:00 0 \n", 7)
            .unwrap();
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        match carry.push(&long, 7) {
            Err(StreamError::Parse(error)) => {
                assert_eq!((error.line, error.kind), (9, ParseErrorKind::LineTooLong))
            }
            other => panic!("unexpected {other:?}"),
        }
        let lines = b"Rss: 4 kB\n".repeat(MAX_RECORD_BYTES / 10);
        match carry.push(&lines, 7) {
            Err(StreamError::Parse(error)) => {
                assert_eq!((error.line, error.kind), (8, ParseErrorKind::RecordTooLong))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(carry.bytes().len(), 33, "nothing refused was copied");
    }
}
