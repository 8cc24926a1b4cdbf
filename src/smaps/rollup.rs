//! `/proc/<pid>/smaps_rollup`: one `[rollup]` record with the process's totals, in the same field
//! syntax as smaps, read by the same field parser. About four times cheaper for the kernel than
//! smaps, so `-ps` reads it for every process.

use super::error::{ParseError, ParseErrorKind};
use super::fields::Fields;
use super::header::parse_header;
use super::parser::{is_header_line, Parser};

/// Parses `smaps_rollup` text: its `[rollup]` header, then field lines. Keys only the rollup has
/// (`Pss_Anon`, `Pss_File`, `Pss_Shmem`) are skipped like any unknown key.
pub fn parse_rollup(text: &[u8]) -> Result<Fields, ParseError> {
    let mut parser = Parser::default();
    let mut fields = Fields::default();
    let mut seen_header = false;
    for line in text.split(|&byte| byte == b'\n') {
        parser.next_line();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if is_header_line(line) {
            let is_rollup = parse_header(line).is_ok_and(|header| header.name == b"[rollup]");
            if seen_header || !is_rollup {
                return Err(parser.error(ParseErrorKind::NotARollup).found(line));
            }
            seen_header = true;
        } else if !seen_header {
            return Err(parser.error(ParseErrorKind::NotARollup).found(line));
        } else {
            parser.parse_field(line, &mut fields)?;
        }
    }
    if !seen_header || fields.is_empty() {
        return Err(ParseError::new(1, ParseErrorKind::NotARollup));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smaps::FieldKey;

    const ROLLUP: &[u8] =
        b"00400000-7ffd00000000 ---p 00000000 00:00 0                          [rollup]\n\
Rss:                1000 kB\nPss:                 800 kB\nPss_Anon:            700 kB\n\
Private_Clean:       100 kB\nPrivate_Dirty:       600 kB\nSwap:                 20 kB\n";

    #[test]
    fn parses_the_rollup_record() {
        let fields = parse_rollup(ROLLUP).unwrap();
        assert_eq!(
            (fields.rss, fields.pss, fields.private(), fields.swap),
            (1000, 800, 700, 20)
        );
        assert!(!fields.has(FieldKey::Size));
    }

    #[test]
    fn rejects_what_is_not_a_rollup() {
        assert_eq!(
            parse_rollup(b"").unwrap_err().kind,
            ParseErrorKind::NotARollup
        );
        let smaps = b"1000-2000 rw-p 00000000 00:00 0 \nRss: 4 kB\n";
        assert_eq!(
            parse_rollup(smaps).unwrap_err().kind,
            ParseErrorKind::NotARollup
        );
        let bad = [ROLLUP, b"Rss: x kB\n"].concat();
        assert_eq!(parse_rollup(&bad).unwrap_err().line, 8);
    }
}
