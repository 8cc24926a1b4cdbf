//! The record parser: lines are `&[u8]` slices into the caller's buffer; numbers are parsed
//! straight from bytes, so parsing allocates nothing per line or per region.
//! [`parse_reader`] streams any `Read` through one bounded buffer, so memory does not grow with
//! the input's size; [`parse_bytes`] parses text already in memory.

use std::io::Read;

use super::buffer::{first_record_boundary, last_record_boundary, Carry, Chunks, ReadChunks};
use super::error::{ParseError, ParseErrorKind, StreamError, Warning};
use super::fields::{FieldKey, Fields, Unit};
use super::header::{parse_decimal, parse_header, trim_leading_spaces, Header};

/// Longest line accepted. Real smaps lines are under 4.2 KiB (PATH_MAX plus the header prefix).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Longest record (header plus field lines) the streaming buffer grows to hold.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Largest kB value accepted, for one field and for its sum over all records (8 EiB): the sum of
/// two such sums (e.g. Private_Clean + Private_Dirty) converted to bytes (× 1024) still fits a
/// u64, so totals never saturate and the categories always add up to them exactly.
pub(crate) const MAX_KB: u64 = u64::MAX / 1024 / 2;

/// One complete record: the mapping header, its numeric fields and its VmFlags bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region<'a> {
    /// The header line.
    pub header: Header<'a>,
    /// The numeric field lines.
    pub fields: Fields,
    /// The two-letter VmFlags codes, space separated, as printed (empty on kernels before 3.8).
    pub vm_flags: &'a [u8],
    /// 1-based line number of the header in the whole input.
    pub line: u64,
}

impl Region<'_> {
    /// Whether VmFlags holds the two-letter `code` (`hg`: advised for huge pages).
    pub fn has_vm_flag(&self, code: [u8; 2]) -> bool {
        // Most records lack the code's first letter altogether: one quick search says so.
        memchr::memchr(code[0], self.vm_flags).is_some()
            && self
                .vm_flags
                .split(|&byte| byte == b' ')
                .any(|flag| flag == code)
    }
}

/// What a whole parse saw, besides the regions themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseSummary {
    /// Records parsed.
    pub regions: u64,
    /// Lines read.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// What was tolerated.
    pub warnings: Vec<Warning>,
}

/// Parses a whole smaps text held in memory, calling `on_region` for each record in order.
pub fn parse_bytes<F>(data: &[u8], mut on_region: F) -> Result<ParseSummary, ParseError>
where
    F: FnMut(&Region<'_>),
{
    let mut parser = Parser::default();
    parser.feed(data, true, &mut on_region)?;
    Ok(parser.finish(data.len() as u64))
}

/// Streams smaps text from `reader` through one bounded buffer, calling `on_region` for each
/// record in order. Memory use is bounded by the longest record, not by the input's size.
pub fn parse_reader<R, F>(reader: R, on_region: F) -> Result<ParseSummary, StreamError>
where
    R: Read,
    F: FnMut(&Region<'_>),
{
    parse_chunks(ReadChunks::new(reader), on_region)
}

/// Streams smaps text handed over in pieces, calling `on_region` for each record in order. Each
/// piece is parsed where it lies; only a record cut by a piece's end is copied, so memory use
/// is bounded by the longest record, not by the input's size.
pub fn parse_chunks<C, F>(mut chunks: C, mut on_region: F) -> Result<ParseSummary, StreamError>
where
    C: Chunks,
    F: FnMut(&Region<'_>),
{
    let mut parser = Parser::default();
    let mut carry = Carry::default();
    let mut total_bytes = 0u64;
    loop {
        let mut chunk = chunks.next_chunk().map_err(StreamError::Io)?;
        total_bytes += chunk.len() as u64;
        if chunk.is_empty() {
            if !carry.bytes().is_empty() {
                parser
                    .feed(carry.bytes(), true, &mut on_region)
                    .map_err(StreamError::Parse)?;
            }
            return Ok(parser.finish(total_bytes));
        }
        if !carry.bytes().is_empty() {
            // The carried record goes on in this piece, up to the piece's first record start.
            let at_line_start = carry.bytes().ends_with(b"\n");
            let Some(boundary) = first_record_boundary(chunk, at_line_start) else {
                // No whole record start in this piece: it all goes to the carry, where a record
                // start may now be whole (small pieces cut header lines).
                carry.push(chunk, parser.line_no)?;
                let boundary = last_record_boundary(carry.bytes());
                if boundary > 0 {
                    parser
                        .feed(&carry.bytes()[..boundary], false, &mut on_region)
                        .map_err(StreamError::Parse)?;
                    carry.consume(boundary);
                }
                continue;
            };
            carry.push(&chunk[..boundary], parser.line_no)?;
            parser
                .feed(carry.bytes(), false, &mut on_region)
                .map_err(StreamError::Parse)?;
            carry.clear();
            chunk = &chunk[boundary..];
        }
        let boundary = last_record_boundary(chunk);
        if boundary > 0 {
            parser
                .feed(&chunk[..boundary], false, &mut on_region)
                .map_err(StreamError::Parse)?;
        }
        carry.push(&chunk[boundary..], parser.line_no)?;
    }
}

/// Whether `line` is a mapping header rather than a field line. Field lines start with a
/// capital letter (`Rss:`); mapping headers start with a hex address, which the kernel prints in
/// lower case but which may be upper case (`A0000000-A0001000 …`) in a capture that went through
/// other hands: a line whose hex digits run into a `-` is a header whatever its first letter.
/// Anything else that does not start with a capital letter is taken for a header, so that a
/// line that is neither is reported as a bad header.
pub(crate) fn is_header_line(line: &[u8]) -> bool {
    if !line.first().is_some_and(u8::is_ascii_uppercase) {
        return true;
    }
    let hex_digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    hex_digits > 0 && line.get(hex_digits) == Some(&b'-')
}

/// The key of a field line: letters, digits and `_` (every key the kernel prints), ended by `:`.
/// `None` when the line does not start with such a key.
fn field_key_of(line: &[u8]) -> Option<&[u8]> {
    let key_len = line
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    (key_len > 0 && line.get(key_len) == Some(&b':')).then(|| &line[..key_len])
}

/// Length of a kB line as the kernel prints it with a value below 10^8: the key, its colon and
/// spaces in 16 columns, the value right-aligned in 8, then ` kB` and the newline.
const KERNEL_KB_LINE: usize = 28;

fn first_columns(line: &[u8; KERNEL_KB_LINE]) -> &[u8; 16] {
    line.first_chunk::<16>()
        .expect("a kernel kB line is longer than its 16 key columns")
}

/// The value of a kB line laid out exactly as the kernel prints it (see [`KERNEL_KB_LINE`]),
/// its key columns already checked: the 8 value columns are read in one word, with no loop
/// over digits. `None` for any other layout.
#[inline]
fn kernel_columns_kb(line: &[u8; KERNEL_KB_LINE]) -> Option<(u64, usize)> {
    let (value, end) = line[16..]
        .split_first_chunk::<8>()
        .expect("a kernel kB line has 8 value columns after its key");
    if end != b" kB\n" {
        return None;
    }
    Some((right_aligned_decimal(*value)?, KERNEL_KB_LINE))
}

/// The number in 8 columns of spaces then 1 to 8 decimal digits (`"     132"`), as SWAR: the
/// spaces read as leading zeros, every byte is checked to be a digit at once, and the digits
/// are combined pairwise in three multiplications. `None` if the columns are anything else.
#[inline]
fn right_aligned_decimal(columns: [u8; 8]) -> Option<u64> {
    const SPACES: u64 = u64::from_le_bytes([b' '; 8]);
    const ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);
    const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);
    // Little-endian: the first column is the lowest byte.
    let word = u64::from_le_bytes(columns);
    let spaces = (word ^ SPACES).trailing_zeros() / 8;
    if spaces == 8 {
        return None;
    }
    let digits = (word ^ ZEROS) & (u64::MAX << (8 * spaces));
    // A byte is a digit's value (0 to 9) exactly when neither it nor it plus 0x76 reaches 0x80
    // (no byte carries into the next: every byte is below 0x80 before the addition).
    if (digits | digits.wrapping_add(0x7676_7676_7676_7676)) & HIGH_BITS != 0 {
        return None;
    }
    let pairs = (digits.wrapping_mul(10) + (digits >> 8)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs.wrapping_mul(100) + (pairs >> 16)) & 0x0000_ffff_0000_ffff;
    Some((quads.wrapping_mul(10_000) + (quads >> 32)) & 0xffff_ffff)
}

/// The value of a kB line whose key (`pattern`) may be followed by any number of spaces, and
/// whose decimal has at most 15 digits; with the line's length and its newline.
fn any_spacing_kb(pattern: &super::fields::KeyPattern, rest: &[u8]) -> Option<(u64, usize)> {
    const MAX_DIGITS: usize = 15;
    if !pattern.matches(rest.first_chunk::<16>()?) {
        return None;
    }
    let value = trim_leading_spaces(&rest[pattern.len..]);
    let mut at = rest.len() - value.len();
    let digits_start = at;
    let mut number = 0u64;
    while let Some(digit) = rest.get(at).map(|byte| byte.wrapping_sub(b'0')) {
        if digit > 9 {
            break;
        }
        // Wraps only past MAX_DIGITS digits, which are refused below.
        number = number.wrapping_mul(10).wrapping_add(u64::from(digit));
        at += 1;
    }
    let digits = at - digits_start;
    let unit_and_end = rest.get(at..).and_then(<[u8]>::first_chunk::<4>);
    if digits == 0 || digits > MAX_DIGITS || unit_and_end != Some(b" kB\n") {
        return None;
    }
    Some((number, at + 4))
}

/// Parser state carried across the chunks of one input.
#[derive(Default)]
pub(crate) struct Parser {
    line_no: u64,
    regions: u64,
    crlf: Option<bool>,
    /// Keys present in the previous complete record, to notice a final record cut short.
    previous_present: u32,
    /// Index in [`FieldKey::ALL`] of the key most likely on the next field line.
    next_key: usize,
    /// Index of the key of the last field line read.
    last_key: usize,
    /// Which key follows which in this input.
    successors: Successors,
    /// Sums in kB of each key's values over all records so far, bounded by [`MAX_KB`];
    /// indexed by [`FieldKey`].
    totals: [u64; FieldKey::ALL.len()],
    /// Header line of a record without field lines that ended a chunk: the next chunk starts
    /// with a header, so the input is a maps file (reported as a whole parse would report it).
    fieldless_record: Option<u64>,
    warnings: Vec<Warning>,
}

/// The index in [`FieldKey::ALL`] of the key expected after each key: the kernel's order at
/// first, then the order this input showed. A kernel without memory protection keys prints no
/// `ProtectionKey` line, so there `VmFlags` follows `THPeligible`; predicting it keeps that line
/// off the search by name.
struct Successors([u8; FieldKey::ALL.len()]);

impl Default for Successors {
    fn default() -> Successors {
        Successors(std::array::from_fn(|index| {
            u8::try_from(FieldKey::ALL[index].next_index()).expect("fewer than 256 keys")
        }))
    }
}

/// What became of a final line that has no newline.
enum PartialLine {
    /// It read as a whole field line and was used.
    Used,
    /// It was cut and is left out.
    LeftOut,
    /// It goes through the usual handling (and its usual error).
    AsUsual,
}

/// A record whose header has been seen and whose fields are still being read.
pub(crate) struct OpenRecord<'a> {
    header: Header<'a>,
    pub(crate) fields: Fields,
    vm_flags: &'a [u8],
    line: u64,
}

impl Parser {
    /// Parses `data`, which holds only complete records unless `is_final`.
    pub(crate) fn feed<'a, F>(
        &mut self,
        data: &'a [u8],
        is_final: bool,
        on_region: &mut F,
    ) -> Result<(), ParseError>
    where
        F: FnMut(&Region<'_>),
    {
        let mut open: Option<OpenRecord<'a>> = None;
        let ended_without_newline = data.last().is_some_and(|&last| last != b'\n');
        // A final line without its newline was cut (e.g. a dropped `kubectl exec … cat`): it is
        // used only if it reads as a whole field line, and otherwise left out with a warning.
        let mut partial_line_left_out = false;
        let mut line_start = 0;
        while line_start < data.len() {
            // Most lines are `Key:  value kB` with the key the kernel prints next: they are
            // read where they stand, without searching for their end first.
            if let (Some(record), Some(false)) = (open.as_mut(), self.crlf) {
                while let Some(length) =
                    self.take_kernel_kb_line(&data[line_start..], &mut record.fields)
                {
                    line_start += length;
                }
                if line_start == data.len() {
                    break;
                }
            }
            let line_end =
                memchr::memchr(b'\n', &data[line_start..]).map_or(data.len(), |at| line_start + at);
            let mut line = &data[line_start..line_end];
            line_start = line_end + 1;
            self.line_no += 1;
            if line.len() > MAX_LINE_BYTES {
                return Err(self.error(ParseErrorKind::LineTooLong));
            }
            let crlf = *self.crlf.get_or_insert_with(|| {
                let crlf = line.last() == Some(&b'\r');
                if crlf {
                    self.warnings.push(Warning::CrlfLineEnds);
                }
                crlf
            });
            if crlf {
                line = line.strip_suffix(b"\r").unwrap_or(line);
            }
            if line.is_empty() {
                continue;
            }
            let is_partial = is_final && ended_without_newline && line_end == data.len();
            if is_partial && self.line_no > 1 {
                match self.take_partial_line(line, open.as_mut()) {
                    PartialLine::Used => continue,
                    PartialLine::LeftOut => {
                        partial_line_left_out = true;
                        self.warnings
                            .push(Warning::FinalLineCut { line: self.line_no });
                        continue;
                    }
                    PartialLine::AsUsual => {}
                }
            }
            if is_header_line(line) {
                let header = parse_header(line).map_err(|expected| {
                    self.error(ParseErrorKind::BadHeader { expected })
                        .found(line)
                })?;
                if header.name == b"[rollup]" {
                    return Err(self.error(ParseErrorKind::LooksLikeRollup));
                }
                if let Some(line) = self.fieldless_record.take() {
                    return Err(ParseError::new(line, ParseErrorKind::LooksLikeMaps));
                }
                if let Some(previous) = open.take() {
                    if previous.fields.is_empty() {
                        return Err(ParseError::new(
                            previous.line,
                            ParseErrorKind::LooksLikeMaps,
                        ));
                    }
                    self.emit(previous, on_region);
                }
                open = Some(OpenRecord {
                    header,
                    fields: Fields::default(),
                    vm_flags: &[],
                    line: self.line_no,
                });
            } else {
                let Some(record) = open.as_mut() else {
                    return Err(self.error(ParseErrorKind::FieldBeforeHeader).found(line));
                };
                self.parse_field_line(line, record)?;
            }
        }
        if let Some(last) = open {
            if is_final {
                let cut_short = !partial_line_left_out
                    && (ended_without_newline
                        || (self.regions > 0
                            && last.fields.present_keys() & self.previous_present
                                != self.previous_present));
                if last.fields.is_empty() && self.regions == 0 && !partial_line_left_out {
                    return Err(ParseError::new(last.line, ParseErrorKind::LooksLikeMaps));
                }
                if cut_short {
                    self.warnings
                        .push(Warning::FinalRecordCutShort { line: last.line });
                }
            } else if last.fields.is_empty() {
                // The next chunk starts with a header, which will make this an error.
                self.fieldless_record = Some(last.line);
                return Ok(());
            }
            self.emit(last, on_region);
        }
        Ok(())
    }

    /// Handles the input's last line when it ends without a newline, after at least one whole
    /// line: the text was cut there. A field line of the open record that still reads as a
    /// whole field (a kB value proves itself whole with its unit) is used; anything else — a
    /// header, whose name may be cut, or a field cut mid-value — is left out. A field line with
    /// no record open is left to [`Parser::feed`]'s usual error.
    fn take_partial_line<'a>(
        &mut self,
        line: &'a [u8],
        open: Option<&mut OpenRecord<'a>>,
    ) -> PartialLine {
        if is_header_line(line) {
            return PartialLine::LeftOut;
        }
        let Some(record) = open else {
            return PartialLine::AsUsual;
        };
        // Parsed into a copy, so that a line cut mid-value leaves the record as it was.
        let mut fields = record.fields;
        match self.parse_field(line, &mut fields) {
            Ok(vm_flags) => {
                record.fields = fields;
                if let Some(vm_flags) = vm_flags {
                    record.vm_flags = vm_flags;
                }
                PartialLine::Used
            }
            Err(_) => PartialLine::LeftOut,
        }
    }

    fn emit<F>(&mut self, record: OpenRecord<'_>, on_region: &mut F)
    where
        F: FnMut(&Region<'_>),
    {
        self.regions += 1;
        self.previous_present = record.fields.present_keys();
        on_region(&Region {
            header: record.header,
            fields: record.fields,
            vm_flags: record.vm_flags,
            line: record.line,
        });
    }

    /// The fast path for the lines that make up most of smaps text: the key the kernel prints
    /// next, its colon, spaces, a decimal of at most 15 digits (below [`MAX_KB`]), ` kB` and the
    /// line end. Such a line is taken into `fields` exactly as [`Parser::parse_field`] takes it,
    /// and its length with the newline is returned; `None` (any other line, or one whose value
    /// would make a total overflow) changes nothing and leaves the line to the general path.
    /// Only for input whose lines end in a bare `\n`.
    #[inline]
    fn take_kernel_kb_line(&mut self, rest: &[u8], fields: &mut Fields) -> Option<usize> {
        let index = self.next_key;
        let (pattern, &key) = FieldKey::PATTERNS
            .get(index)
            .zip(FieldKey::ALL.get(index))?;
        if key.unit() != Unit::Kb {
            return None;
        }
        let (number, length) = match rest.first_chunk::<KERNEL_KB_LINE>() {
            Some(line) if u128::from_le_bytes(*first_columns(line)) == pattern.padded => {
                kernel_columns_kb(line).or_else(|| any_spacing_kb(pattern, rest))?
            }
            _ => any_spacing_kb(pattern, rest)?,
        };
        let slot = fields.slot(key).expect("a kB key has a numeric slot");
        // A repeated key replaces its earlier value in the record, and so in the total.
        let total = &mut self.totals[index];
        let sum = (*total - *slot)
            .checked_add(number)
            .filter(|&sum| sum <= MAX_KB)?;
        *total = sum;
        *slot = number;
        fields.mark_present(key);
        self.line_no += 1;
        self.last_key = index;
        self.next_key = usize::from(self.successors.0[index]);
        Some(length)
    }

    /// Reads one `Key: value` line into `fields`; returns the VmFlags bytes when it is that line.
    /// Unknown keys are skipped.
    pub(crate) fn parse_field<'a>(
        &mut self,
        line: &'a [u8],
        fields: &mut Fields,
    ) -> Result<Option<&'a [u8]>, ParseError> {
        // The kernel prints keys in a fixed order: try the one after the last key first.
        let predicted_index = self.next_key % FieldKey::ALL.len();
        let predicted = FieldKey::ALL[predicted_index];
        let pattern = &FieldKey::PATTERNS[predicted_index];
        let predicted_name = predicted.name().as_bytes();
        let is_predicted = match line.first_chunk::<16>() {
            Some(start) => pattern.matches(start),
            None => {
                line.starts_with(predicted_name) && line.get(predicted_name.len()) == Some(&b':')
            }
        };
        let (key, colon) = if is_predicted {
            (predicted, predicted_name.len())
        } else {
            let Some(name) = field_key_of(line) else {
                return Err(self.error(ParseErrorKind::NotAField).found(line));
            };
            let Some(key) = FieldKey::from_name(name) else {
                return Ok(None); // Unknown keys come and go between kernel versions and vendors.
            };
            (key, name.len())
        };
        if !is_predicted {
            self.successors.0[self.last_key] =
                u8::try_from(key.index()).expect("fewer than 256 keys");
        }
        self.last_key = key.index();
        self.next_key = usize::from(self.successors.0[key.index()]);
        let value = trim_leading_spaces(&line[colon + 1..]);
        fields.mark_present(key);
        let Some(slot) = fields.slot(key) else {
            return Ok(Some(value)); // VmFlags: kept as bytes
        };
        let bad_value = || self.error(ParseErrorKind::BadField { key }).found(value);
        let digits_end = value
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(value.len());
        let (digits, unit) = value.split_at(digits_end);
        if digits.is_empty() {
            return Err(bad_value());
        }
        let unit_ok = match key.unit() {
            Unit::Kb => unit == b" kB",
            Unit::Count | Unit::Flags => unit.is_empty(),
        };
        if !unit_ok {
            return Err(bad_value());
        }
        let number = parse_decimal(digits)
            .filter(|&number| number <= MAX_KB)
            .ok_or_else(|| self.error(ParseErrorKind::Overflow { key }))?;
        if key.unit() == Unit::Kb {
            // A repeated key replaces its earlier value in the record, and so in the total.
            let total = &mut self.totals[key.index()];
            let sum = *total - *slot + number;
            if sum > MAX_KB {
                return Err(ParseError::new(
                    self.line_no,
                    ParseErrorKind::TotalOverflow { key },
                ));
            }
            *total = sum;
        }
        *slot = number;
        Ok(None)
    }

    fn parse_field_line<'a>(
        &mut self,
        line: &'a [u8],
        record: &mut OpenRecord<'a>,
    ) -> Result<(), ParseError> {
        if let Some(vm_flags) = self.parse_field(line, &mut record.fields)? {
            record.vm_flags = vm_flags;
        }
        Ok(())
    }

    /// Counts one more line (for callers that split lines themselves, like the rollup parser).
    pub(crate) fn next_line(&mut self) -> u64 {
        self.line_no += 1;
        self.line_no
    }

    pub(crate) fn error(&self, kind: ParseErrorKind) -> ParseError {
        ParseError::new(self.line_no, kind)
    }

    pub(crate) fn finish(self, bytes: u64) -> ParseSummary {
        ParseSummary {
            regions: self.regions,
            lines: self.line_no,
            bytes,
            warnings: self.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn eight_columns_read_as_one_word_equal_the_digits_read_one_by_one() {
        let mut values: Vec<u64> = vec![
            0, 1, 9, 10, 99, 100, 4096, 9_999_999, 10_000_000, 99_999_999,
        ];
        // Every length, and every digit in every column, by a fixed pseudo-random walk.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(state % 10u64.pow(1 + (state >> 60) as u32 % 8));
        }
        for value in values {
            let columns = format!("{value:>8}");
            let expected = parse_decimal(columns.trim_start().as_bytes());
            let columns: [u8; 8] = columns.as_bytes().try_into().unwrap();
            assert_eq!(right_aligned_decimal(columns), expected, "{columns:?}");
        }
        // Leading zeros are digits like any other.
        assert_eq!(right_aligned_decimal(*b"   00132"), Some(132));
        assert_eq!(right_aligned_decimal(*b"00000000"), Some(0));
    }

    #[test]
    fn eight_columns_that_are_not_spaces_then_digits_are_refused() {
        for columns in [
            *b"        ",
            *b"   1 2 3",
            *b"123     ",
            *b"  -12345",
            *b"     1:2",
            *b"    12/3",
            *b"     12\x80",
            *b"     12\xb0",
            *b"     12\xff",
            *b"\t     12",
            *b"     1a2",
            *b"\x00    123",
        ] {
            assert_eq!(right_aligned_decimal(columns), None, "{columns:?}");
        }
    }

    const TWO_RECORDS: &str = "\
00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon
Size:                328 kB
Rss:                 300 kB
Pss:                 150 kB
Shared_Clean:        300 kB
Shared_Dirty:          0 kB
Private_Clean:         0 kB
Private_Dirty:         0 kB
Swap:                  0 kB
THPeligible:    0
VmFlags: rd ex mr mw me dw 
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 
Size:                132 kB
Rss:                  12 kB
Pss:                  12 kB
Shared_Clean:          0 kB
Shared_Dirty:          0 kB
Private_Clean:         0 kB
Private_Dirty:        12 kB
Swap:                  4 kB
THPeligible:    0
VmFlags: rd wr mr mw me ac 
";

    /// Parses `data` and returns each region's header with an owned copy of its name.
    fn collect(data: &[u8]) -> Result<(Vec<(Header<'static>, Fields)>, ParseSummary), ParseError> {
        let mut regions = Vec::new();
        let summary = parse_bytes(data, |region| {
            let name: &'static [u8] = Box::leak(region.header.name.to_vec().into_boxed_slice());
            regions.push((
                Header {
                    name,
                    ..region.header
                },
                region.fields,
            ));
        })?;
        Ok((regions, summary))
    }

    #[test]
    fn parses_records_and_fields() {
        let (regions, summary) = collect(TWO_RECORDS.as_bytes()).unwrap();
        assert_eq!(summary.regions, 2);
        assert!(summary.warnings.is_empty());
        let (first, fields) = regions[0];
        assert_eq!(first.name, b"/usr/bin/dbus-daemon");
        assert_eq!(
            (fields.size, fields.rss, fields.pss, fields.shared()),
            (328, 300, 150, 300)
        );
        let (_, second) = regions[1];
        assert_eq!((second.rss, second.private(), second.swap), (12, 12, 4));
        assert!(second.has(FieldKey::Swap));
        assert!(!second.has(FieldKey::Locked));
    }

    #[test]
    fn keys_in_an_order_learned_and_then_changed_are_all_read() {
        // The first record teaches that VmFlags follows THPeligible (no ProtectionKey); the
        // second has ProtectionKey again and its own order; the third drops it once more.
        let record = |start: u64, middle: &str| {
            format!(
                "{start:08x}-{:08x} rw-p 00000000 00:00 0\n\
                 Size:                  8 kB\n\
                 Rss:                   {start} kB\n\
                 {middle}\
                 VmFlags: rd wr mr mw me ac\n",
                start + 0x1000
            )
        };
        let input = record(1, "Locked:                0 kB\nTHPeligible:           1\n")
            + &record(
                2,
                "THPeligible:           0\nProtectionKey:         3\nLocked:                4 kB\n",
            )
            + &record(3, "Locked:                5 kB\nTHPeligible:           1\n");
        let (regions, _) = collect(input.as_bytes()).unwrap();
        let read: Vec<_> = regions
            .iter()
            .map(|(_, fields)| {
                (
                    fields.rss,
                    fields.locked,
                    fields.thp_eligible,
                    fields.protection_key,
                )
            })
            .collect();
        assert_eq!(read, [(1, 0, 1, 0), (2, 4, 0, 3), (3, 5, 1, 0)]);
    }

    #[test]
    fn keeps_vm_flags_as_bytes() {
        let mut flags = Vec::new();
        parse_bytes(TWO_RECORDS.as_bytes(), |region| {
            flags.push(region.vm_flags.to_vec())
        })
        .unwrap();
        assert_eq!(flags, [&b"rd ex mr mw me dw "[..], b"rd wr mr mw me ac "]);
        let mut advised = Vec::new();
        parse_bytes(TWO_RECORDS.as_bytes(), |region| {
            advised.push((region.has_vm_flag(*b"wr"), region.has_vm_flag(*b"hg")))
        })
        .unwrap();
        assert_eq!(advised, [(false, false), (true, false)]);
    }

    #[test]
    fn streaming_matches_whole_input_at_every_buffer_split() {
        let data = TWO_RECORDS.repeat(3000);
        let mut whole = Vec::new();
        parse_bytes(data.as_bytes(), |region| {
            whole.push((region.header.start, region.fields))
        })
        .unwrap();
        let mut streamed = Vec::new();
        // A reader returning odd-sized pieces exercises every split position over the input.
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.1 = self.1 % 997 + 1;
                let take = self.1.min(out.len()).min(self.0.len());
                out[..take].copy_from_slice(&self.0[..take]);
                self.0 = &self.0[take..];
                Ok(take)
            }
        }
        let summary = parse_reader(Trickle(data.as_bytes(), 0), |region| {
            streamed.push((region.header.start, region.fields))
        })
        .unwrap();
        assert_eq!(summary.regions, 6000);
        assert_eq!(summary.bytes, data.len() as u64);
        assert_eq!(whole, streamed);
    }

    #[test]
    fn tolerates_crlf_and_unknown_keys() {
        let crlf = TWO_RECORDS
            .replace('\n', "\r\n")
            .replace("Swap:", "Vendor_Thing:   7 kB\r\nSwap:");
        let (regions, summary) = collect(crlf.as_bytes()).unwrap();
        assert_eq!(regions.len(), 2);
        assert_eq!(regions[1].1.swap, 4);
        assert_eq!(summary.warnings, vec![Warning::CrlfLineEnds]);
    }

    #[test]
    fn warns_about_a_final_record_cut_short() {
        let cut = &TWO_RECORDS[..TWO_RECORDS.find("Pss:                  12").unwrap() - 1];
        let (regions, summary) = collect(cut.as_bytes()).unwrap();
        assert_eq!(regions.len(), 2);
        assert_eq!(regions[1].1.rss, 12);
        assert_eq!(
            summary.warnings,
            vec![Warning::FinalRecordCutShort { line: 12 }]
        );
    }

    #[test]
    fn headers_with_upper_case_hex_addresses_are_headers() {
        // Issue 10, item 3: `A`–`F` start a header too, not an unknown field line whose Size and
        // Rss would overwrite the previous record's.
        let upper = "\
7f0000000000-7f0000001000 rw-p 00000000 00:00 0 
Size:                  4 kB
Rss:                   4 kB
A0000000-A0002000 rw-p 00000000 00:00 0 
Size:                  8 kB
Rss:                   8 kB
FFFF0000-FFFF1000 r--P 00000000 00:00 0 
";
        let upper = upper.replace("r--P", "r--p") + "Size: 4 kB\nRss: 2 kB\n";
        let (regions, summary) = collect(upper.as_bytes()).unwrap();
        let starts: Vec<u64> = regions.iter().map(|(header, _)| header.start).collect();
        assert_eq!(starts, [0x7f00_0000_0000, 0xa000_0000, 0xffff_0000]);
        let rss: Vec<u64> = regions.iter().map(|(_, fields)| fields.rss).collect();
        assert_eq!(rss, [4, 8, 2]);
        assert!(summary.warnings.is_empty());
        // The streaming parser finds the same record boundaries, wherever the reads end.
        for piece in [1, 7, 40, 1000] {
            assert_eq!(collect_streamed(upper.as_bytes(), piece).unwrap().len(), 3);
        }
        // A bad header in upper case is a bad header.
        let bad = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \nRss: 4 kB\nABC-XYZ rw-p\n";
        let error = collect(bad.as_bytes()).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(matches!(error.kind, ParseErrorKind::BadHeader { .. }));
    }

    #[test]
    fn a_field_line_must_be_a_key_and_a_colon() {
        let record = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \nRss: 4 kB\n";
        for line in [
            "Rss 4 kB",
            "ABCDEF",
            "Not a field: 4 kB",
            "Vendor-Thing: 4 kB",
        ] {
            let text = format!("{record}{line}\n");
            let error = collect(text.as_bytes()).unwrap_err();
            assert_eq!(
                (error.line, error.kind),
                (3, ParseErrorKind::NotAField),
                "{line}"
            );
            assert_eq!(error.found.as_bytes(), line.as_bytes());
        }
        // Unknown keys that look like keys are skipped.
        let text = format!("{record}Vendor_Thing2: whatever\nKSM_x:\n");
        assert_eq!(collect(text.as_bytes()).unwrap().0.len(), 1);
    }

    #[test]
    fn a_final_line_cut_mid_line_is_left_out_with_a_warning() {
        // Issue 10, item 15: what a dropped `kubectl exec … cat /proc/1/smaps` leaves.
        let third = "7fff00000000-7fff00001000 rw-p 00000000 00:00 0 \nSize: 4 kB\nRss: 4 kB\n";
        let cut = format!("{TWO_RECORDS}{third}FilePmdMapped:");
        let (regions, summary) = collect(cut.as_bytes()).unwrap();
        assert_eq!(regions.len(), 3);
        assert_eq!((regions[2].1.size, regions[2].1.rss), (4, 4));
        assert!(!regions[2].1.has(FieldKey::FilePmdMapped));
        assert_eq!(summary.warnings, vec![Warning::FinalLineCut { line: 26 }]);
        // The same malformed line, ending in a newline, is an error.
        let malformed = format!("{cut}\n");
        let error = collect(malformed.as_bytes()).unwrap_err();
        assert_eq!(error.line, 26);
        assert_eq!(
            error.kind,
            ParseErrorKind::BadField {
                key: FieldKey::FilePmdMapped
            }
        );
        // A value cut before its unit is left out, not taken for a smaller number.
        let cut_value = format!("{TWO_RECORDS}{third}Pss:    12");
        let (regions, summary) = collect(cut_value.as_bytes()).unwrap();
        assert_eq!(regions[2].1.pss, 0);
        assert!(!regions[2].1.has(FieldKey::Pss));
        assert_eq!(summary.warnings, vec![Warning::FinalLineCut { line: 26 }]);
        // A header cut in its name is left out: the record before it is whole.
        let cut_header =
            format!("{TWO_RECORDS}7fff00000000-7fff00001000 r--p 00000000 08:01 7 /usr/li");
        let (regions, summary) = collect(cut_header.as_bytes()).unwrap();
        assert_eq!(regions.len(), 2);
        assert_eq!(summary.warnings, vec![Warning::FinalLineCut { line: 23 }]);
        // Streaming, in any piece size, gives the same.
        for piece in [1, 5, 64, 4096] {
            assert_eq!(collect_streamed(cut.as_bytes(), piece).unwrap().len(), 3);
        }
        // A single line cut short is still judged as what it is.
        assert!(matches!(
            collect(b"zz").unwrap_err().kind,
            ParseErrorKind::BadHeader { .. }
        ));
    }

    #[test]
    fn reports_errors_with_line_numbers() {
        let overflow = TWO_RECORDS.replace(
            "Rss:                 300 kB",
            "Rss: 99999999999999999999999 kB",
        );
        let error = collect(overflow.as_bytes()).unwrap_err();
        assert_eq!(error.line, 3);
        assert_eq!(error.kind, ParseErrorKind::Overflow { key: FieldKey::Rss });

        let bad_unit =
            TWO_RECORDS.replace("Rss:                 300 kB", "Rss:                 300 MB");
        let error = collect(bad_unit.as_bytes()).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.to_string().contains("after `Rss:`"), "{error}");
        assert!(error.to_string().contains("found `300 MB`"), "{error}");

        let no_colon = TWO_RECORDS.replace("Pss:                 150 kB", "Pss 150 kB");
        let error = collect(no_colon.as_bytes()).unwrap_err();
        assert_eq!((error.line, error.kind), (4, ParseErrorKind::NotAField));

        let maps = "00400000-00452000 r-xp 00000000 08:02 1 /bin/x\n00452000-00453000 rw-p 00000000 00:00 0 \n";
        let error = collect(maps.as_bytes()).unwrap_err();
        assert_eq!(error.kind, ParseErrorKind::LooksLikeMaps);

        let rollup = "00400000-7fff00000000 ---p 00000000 00:00 0                          [rollup]\nRss: 4 kB\n";
        assert_eq!(
            collect(rollup.as_bytes()).unwrap_err().kind,
            ParseErrorKind::LooksLikeRollup
        );

        let field_first = "Rss: 4 kB\n";
        assert_eq!(
            collect(field_first.as_bytes()).unwrap_err().kind,
            ParseErrorKind::FieldBeforeHeader
        );
    }

    #[test]
    fn rejects_values_whose_sum_is_too_large() {
        let record = |rss: &str| format!("1000-2000 rw-p 00000000 00:00 0 \nRss: {rss} kB\n");
        let half = (MAX_KB / 2 + 1).to_string();
        let error = collect((record(&half) + &record(&half)).as_bytes()).unwrap_err();
        assert_eq!(error.line, 4);
        assert_eq!(
            error.kind,
            ParseErrorKind::TotalOverflow { key: FieldKey::Rss }
        );
        assert!(error.to_string().contains("add up to"), "{error}");
        // A repeated key replaces its value in the total too.
        let repeated = record(&MAX_KB.to_string()) + "Rss: 1 kB\n" + &record(&half);
        assert!(collect(repeated.as_bytes()).is_ok());
        let too_big = record(&(MAX_KB + 1).to_string());
        assert!(matches!(
            collect(too_big.as_bytes()).unwrap_err().kind,
            ParseErrorKind::Overflow { .. }
        ));
    }

    /// Parses `data` through `parse_reader`, `piece` bytes per read.
    fn collect_streamed(data: &[u8], piece: usize) -> Result<Vec<(u64, Fields)>, ParseError> {
        struct Pieces<'a>(&'a [u8], usize);
        impl Read for Pieces<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let take = self.1.min(out.len()).min(self.0.len());
                out[..take].copy_from_slice(&self.0[..take]);
                self.0 = &self.0[take..];
                Ok(take)
            }
        }
        let mut regions = Vec::new();
        match parse_reader(Pieces(data, piece), |region| {
            regions.push((region.header.start, region.fields))
        }) {
            Ok(_) => Ok(regions),
            Err(StreamError::Parse(error)) => Err(error),
            Err(StreamError::Io(error)) => panic!("{error}"),
        }
    }

    #[test]
    fn streaming_agrees_with_whole_input_on_empty_lines_and_maps_files() {
        // An empty line inside a record is skipped, wherever the reads end.
        let gap = "1000-2000 rw-p 00000000 00:00 0 \nSize: 4 kB\n\nRss: 4 kB\n\
                   3000-4000 rw-p 00000000 00:00 0 \nRss: 8 kB\n";
        let (whole, _) = collect(gap.as_bytes()).unwrap();
        assert_eq!(whole[0].1.rss, 4);
        // A maps file is rejected at its first header, wherever the reads end.
        let maps = "1000-2000 rw-p 00000000 00:00 0 \n2000-3000 rw-p 00000000 00:00 0 \n\
                    3000-4000 rw-p 00000000 00:00 0 \n";
        let maps_error = collect(maps.as_bytes()).unwrap_err();
        for piece in 1..=gap.len() {
            let streamed = collect_streamed(gap.as_bytes(), piece).unwrap();
            let expected: Vec<_> = whole.iter().map(|(h, f)| (h.start, *f)).collect();
            assert_eq!(streamed, expected, "pieces of {piece}");
            assert_eq!(
                collect_streamed(maps.as_bytes(), piece).unwrap_err(),
                maps_error,
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn a_total_overflow_is_found_on_the_kernels_own_lines_too() {
        // Fifteen-digit values, which the fast path reads: the tenth record's Rss overflows.
        let mut text = String::new();
        for record in 0..10u64 {
            let start = 0x1000 * (record + 1);
            text.push_str(&format!(
                "{start:x}-{:x} rw-p 00000000 00:00 0 \nSize:               4 kB\n\
                 Rss:   999999999999999 kB\n",
                start + 0x1000
            ));
        }
        let error = parse_bytes(text.as_bytes(), |_| {}).unwrap_err();
        assert_eq!(error.line, 30);
        assert_eq!(
            error.kind,
            ParseErrorKind::TotalOverflow { key: FieldKey::Rss }
        );
    }

    #[test]
    fn bounds_lines_when_streaming() {
        let endless = std::io::repeat(b'a').take(10 * 1024 * 1024);
        let error = parse_reader(endless, |_| {}).unwrap_err();
        match error {
            StreamError::Parse(error) => assert_eq!(error.kind, ParseErrorKind::LineTooLong),
            other => panic!("unexpected {other}"),
        }
    }
}
