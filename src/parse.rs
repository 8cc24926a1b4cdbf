//! Zero-copy parser for `/proc/<pid>/smaps` text.
//!
//! Lines are `&[u8]` slices into the caller's buffer; header fields, names and numbers are parsed
//! straight from bytes, so parsing allocates nothing per line or per region. [`parse_reader`]
//! streams any `Read` through one bounded buffer, so memory does not grow with the input's size.
//! The parser does no I/O of its own beyond that reader and knows nothing about the command line.

use std::fmt;
use std::io::{self, Read};

/// Longest line accepted. Real smaps lines are under 4.2 KiB (PATH_MAX plus the header prefix).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Longest record (header plus field lines) the streaming buffer grows to hold.
const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Starting size of the streaming buffer: big enough for ~60 typical records per read batch.
const INITIAL_BUFFER_BYTES: usize = 64 * 1024;
/// Largest kB value accepted, for one field and for its sum over all records (8 EiB): the sum of
/// two such sums (e.g. Private_Clean + Private_Dirty) converted to bytes (× 1024) still fits a
/// u64, so totals never saturate and the categories always add up to them exactly.
const MAX_KB: u64 = u64::MAX / 1024 / 2;

/// The four permission characters of a mapping, e.g. `rw-p`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms(pub [u8; 4]);

impl Perms {
    pub fn readable(self) -> bool {
        self.0[0] == b'r'
    }
    pub fn writable(self) -> bool {
        self.0[1] == b'w'
    }
    pub fn executable(self) -> bool {
        self.0[2] == b'x'
    }
    /// MAP_SHARED (`s`), as opposed to private copy-on-write (`p`).
    pub fn shared(self) -> bool {
        self.0[3] == b's'
    }
    /// No access at all (`---p`): a reservation or guard that can hold no resident pages.
    pub fn no_access(self) -> bool {
        !self.readable() && !self.writable() && !self.executable()
    }
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes from "rwxsp-" are ever stored (checked in parse_header).
        std::str::from_utf8(&self.0).expect("perms hold only ASCII characters")
    }
}

impl fmt::Debug for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The header line of one record: `START-END PERMS OFFSET MAJ:MIN INODE [NAME]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub start: u64,
    /// Exclusive end address.
    pub end: u64,
    pub perms: Perms,
    pub offset: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub inode: u64,
    /// The name exactly as the kernel printed it: bytes, not necessarily UTF-8, with `\012` for
    /// newlines and a ` (deleted)` suffix for deleted files. Empty for unnamed anonymous memory.
    pub name: &'a [u8],
}

/// The numeric fields of a record, in kB (KiB) as the kernel prints them, except the unit-less
/// `THPeligible` and `ProtectionKey`. Keys absent from the input stay 0 (see [`Fields::present`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    pub size: u64,
    pub kernel_page_size: u64,
    pub mmu_page_size: u64,
    pub rss: u64,
    pub pss: u64,
    pub pss_dirty: u64,
    pub shared_clean: u64,
    pub shared_dirty: u64,
    pub private_clean: u64,
    pub private_dirty: u64,
    pub referenced: u64,
    pub anonymous: u64,
    pub ksm: u64,
    pub lazy_free: u64,
    pub anon_huge_pages: u64,
    pub shmem_pmd_mapped: u64,
    pub file_pmd_mapped: u64,
    pub shared_hugetlb: u64,
    pub private_hugetlb: u64,
    pub swap: u64,
    pub swap_pss: u64,
    pub locked: u64,
    pub thp_eligible: u64,
    pub protection_key: u64,
    /// Bit set of the keys seen, indexed by [`FieldKey`].
    pub present: u32,
}

impl Fields {
    /// Private memory: pages mapped by this process only (the basis of USS).
    pub fn private(&self) -> u64 {
        self.private_clean + self.private_dirty
    }
    /// Resident pages that at least one other process also maps.
    pub fn shared(&self) -> u64 {
        self.shared_clean + self.shared_dirty
    }
    /// Huge pages from hugetlbfs, which the kernel leaves out of Rss.
    pub fn hugetlb(&self) -> u64 {
        self.shared_hugetlb + self.private_hugetlb
    }
    pub fn has(&self, key: FieldKey) -> bool {
        self.present & (1 << key as u32) != 0
    }
}

/// The field keys the parser knows. Any other key is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKey {
    Size,
    KernelPageSize,
    MmuPageSize,
    Rss,
    Pss,
    PssDirty,
    SharedClean,
    SharedDirty,
    PrivateClean,
    PrivateDirty,
    Referenced,
    Anonymous,
    Ksm,
    LazyFree,
    AnonHugePages,
    ShmemPmdMapped,
    FilePmdMapped,
    SharedHugetlb,
    PrivateHugetlb,
    Swap,
    SwapPss,
    Locked,
    ThpEligible,
    ProtectionKey,
    VmFlags,
}

impl FieldKey {
    /// Every key, in the order Linux 6.18 prints them (and in declaration order).
    const IN_KERNEL_ORDER: [FieldKey; 25] = [
        FieldKey::Size,
        FieldKey::KernelPageSize,
        FieldKey::MmuPageSize,
        FieldKey::Rss,
        FieldKey::Pss,
        FieldKey::PssDirty,
        FieldKey::SharedClean,
        FieldKey::SharedDirty,
        FieldKey::PrivateClean,
        FieldKey::PrivateDirty,
        FieldKey::Referenced,
        FieldKey::Anonymous,
        FieldKey::Ksm,
        FieldKey::LazyFree,
        FieldKey::AnonHugePages,
        FieldKey::ShmemPmdMapped,
        FieldKey::FilePmdMapped,
        FieldKey::SharedHugetlb,
        FieldKey::PrivateHugetlb,
        FieldKey::Swap,
        FieldKey::SwapPss,
        FieldKey::Locked,
        FieldKey::ThpEligible,
        FieldKey::ProtectionKey,
        FieldKey::VmFlags,
    ];

    /// The key as the kernel prints it, without the colon.
    pub fn name(self) -> &'static str {
        match self {
            FieldKey::Size => "Size",
            FieldKey::KernelPageSize => "KernelPageSize",
            FieldKey::MmuPageSize => "MMUPageSize",
            FieldKey::Rss => "Rss",
            FieldKey::Pss => "Pss",
            FieldKey::PssDirty => "Pss_Dirty",
            FieldKey::SharedClean => "Shared_Clean",
            FieldKey::SharedDirty => "Shared_Dirty",
            FieldKey::PrivateClean => "Private_Clean",
            FieldKey::PrivateDirty => "Private_Dirty",
            FieldKey::Referenced => "Referenced",
            FieldKey::Anonymous => "Anonymous",
            FieldKey::Ksm => "KSM",
            FieldKey::LazyFree => "LazyFree",
            FieldKey::AnonHugePages => "AnonHugePages",
            FieldKey::ShmemPmdMapped => "ShmemPmdMapped",
            FieldKey::FilePmdMapped => "FilePmdMapped",
            FieldKey::SharedHugetlb => "Shared_Hugetlb",
            FieldKey::PrivateHugetlb => "Private_Hugetlb",
            FieldKey::Swap => "Swap",
            FieldKey::SwapPss => "SwapPss",
            FieldKey::Locked => "Locked",
            FieldKey::ThpEligible => "THPeligible",
            FieldKey::ProtectionKey => "ProtectionKey",
            FieldKey::VmFlags => "VmFlags",
        }
    }

    fn from_bytes(key: &[u8]) -> Option<FieldKey> {
        FieldKey::IN_KERNEL_ORDER
            .iter()
            .copied()
            .find(|key_name| key_name.name().as_bytes() == key)
    }

    /// Whether the value is followed by ` kB`.
    fn has_kb_unit(self) -> bool {
        !matches!(
            self,
            FieldKey::ThpEligible | FieldKey::ProtectionKey | FieldKey::VmFlags
        )
    }

    fn slot(self, fields: &mut Fields) -> &mut u64 {
        match self {
            FieldKey::Size => &mut fields.size,
            FieldKey::KernelPageSize => &mut fields.kernel_page_size,
            FieldKey::MmuPageSize => &mut fields.mmu_page_size,
            FieldKey::Rss => &mut fields.rss,
            FieldKey::Pss => &mut fields.pss,
            FieldKey::PssDirty => &mut fields.pss_dirty,
            FieldKey::SharedClean => &mut fields.shared_clean,
            FieldKey::SharedDirty => &mut fields.shared_dirty,
            FieldKey::PrivateClean => &mut fields.private_clean,
            FieldKey::PrivateDirty => &mut fields.private_dirty,
            FieldKey::Referenced => &mut fields.referenced,
            FieldKey::Anonymous => &mut fields.anonymous,
            FieldKey::Ksm => &mut fields.ksm,
            FieldKey::LazyFree => &mut fields.lazy_free,
            FieldKey::AnonHugePages => &mut fields.anon_huge_pages,
            FieldKey::ShmemPmdMapped => &mut fields.shmem_pmd_mapped,
            FieldKey::FilePmdMapped => &mut fields.file_pmd_mapped,
            FieldKey::SharedHugetlb => &mut fields.shared_hugetlb,
            FieldKey::PrivateHugetlb => &mut fields.private_hugetlb,
            FieldKey::Swap => &mut fields.swap,
            FieldKey::SwapPss => &mut fields.swap_pss,
            FieldKey::Locked => &mut fields.locked,
            FieldKey::ThpEligible => &mut fields.thp_eligible,
            FieldKey::ProtectionKey => &mut fields.protection_key,
            FieldKey::VmFlags => unreachable!("VmFlags is kept as bytes, not a number"),
        }
    }
}

/// One complete record: the mapping header, its numeric fields and its VmFlags bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region<'a> {
    pub header: Header<'a>,
    pub fields: Fields,
    /// The two-letter VmFlags codes, space separated, as printed (empty on kernels before 3.8).
    pub vm_flags: &'a [u8],
    /// 1-based line number of the header in the whole input.
    pub line: u64,
}

/// Why the input is not smaps text, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number in the whole input.
    pub line: u64,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A line that should be a mapping header is not one; `found` is an escaped excerpt.
    BadHeader {
        expected: &'static str,
        found: String,
    },
    /// A field line of a known key whose value is not what the key needs.
    BadField {
        key: String,
        found: String,
    },
    /// A number too large to be a real amount of memory.
    Overflow {
        key: String,
    },
    /// A key whose values over all records add up to more than any real amount of memory.
    TotalOverflow {
        key: String,
    },
    /// A field line before any mapping header.
    FieldBeforeHeader {
        found: String,
    },
    /// A header followed directly by another header: a `/proc/<pid>/maps` file.
    LooksLikeMaps,
    /// A `[rollup]` record: a `/proc/<pid>/smaps_rollup` file.
    LooksLikeRollup,
    LineTooLong,
    RecordTooLong,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        match &self.kind {
            ParseErrorKind::BadHeader { expected, found } => write!(
                f,
                "line {line}: expected a mapping header such as \
                 `7f0000000000-7f0000021000 rw-p 00000000 00:00 0` ({expected}), found `{found}`"
            ),
            ParseErrorKind::BadField { key, found } => write!(
                f,
                "line {line}: expected a decimal number{} after `{key}:`, found `{found}`",
                if FieldKey::from_bytes(key.as_bytes()).is_some_and(FieldKey::has_kb_unit) {
                    " followed by ` kB`"
                } else {
                    ""
                }
            ),
            ParseErrorKind::Overflow { key } => write!(
                f,
                "line {line}: the value of `{key}` is too large to be an amount of memory"
            ),
            ParseErrorKind::TotalOverflow { key } => write!(
                f,
                "line {line}: the values of `{key}` add up to more than any amount of memory"
            ),
            ParseErrorKind::FieldBeforeHeader { found } => write!(
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The input uses CRLF line ends (e.g. a capture saved on Windows).
    CrlfLineEnds,
    /// The last record lacks fields the others have, or the input ends mid-line.
    FinalRecordCutShort { line: u64 },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::CrlfLineEnds => write!(f, "the input has CRLF line ends; they were ignored"),
            Warning::FinalRecordCutShort { line } => write!(
                f,
                "the final record (line {line}) is cut short; its figures are counted as far as they go"
            ),
        }
    }
}

/// What a whole parse saw, besides the regions themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseSummary {
    pub regions: u64,
    pub lines: u64,
    pub bytes: u64,
    pub warnings: Vec<Warning>,
}

/// Failure of a streaming parse: the reader failed, or the text is not smaps.
#[derive(Debug)]
pub enum StreamError {
    Io(io::Error),
    Parse(ParseError),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Io(err) => write!(f, "{err}"),
            StreamError::Parse(err) => write!(f, "{err}"),
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
pub fn parse_reader<R, F>(mut reader: R, mut on_region: F) -> Result<ParseSummary, StreamError>
where
    R: Read,
    F: FnMut(&Region<'_>),
{
    let mut parser = Parser::default();
    let mut buf = vec![0u8; INITIAL_BUFFER_BYTES];
    let mut filled = 0usize;
    let mut total_bytes = 0u64;
    loop {
        if filled == buf.len() {
            // No record boundary fits in the buffer: the current record is unusually long.
            let line_start = memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |pos| pos + 1);
            if filled - line_start > MAX_LINE_BYTES {
                let line = parser.line_no
                    + 1
                    + memchr::memchr_iter(b'\n', &buf[..line_start]).count() as u64;
                return Err(StreamError::Parse(ParseError {
                    line,
                    kind: ParseErrorKind::LineTooLong,
                }));
            }
            if buf.len() >= MAX_RECORD_BYTES {
                return Err(StreamError::Parse(ParseError {
                    line: parser.line_no + 1,
                    kind: ParseErrorKind::RecordTooLong,
                }));
            }
            buf.resize(buf.len() * 2, 0);
        }
        let read = match reader.read(&mut buf[filled..]) {
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(StreamError::Io(err)),
        };
        let at_eof = read == 0;
        filled += read;
        total_bytes += read as u64;
        let complete = if at_eof {
            filled
        } else {
            last_record_boundary(&buf[..filled])
        };
        if complete > 0 {
            parser
                .feed(&buf[..complete], at_eof, &mut on_region)
                .map_err(StreamError::Parse)?;
            buf.copy_within(complete..filled, 0);
            filled -= complete;
        }
        if at_eof {
            return Ok(parser.finish(total_bytes));
        }
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

/// Field lines start with a capital letter (`Rss:`); mapping headers start with a hex digit.
fn is_header_line(line: &[u8]) -> bool {
    !line.first().is_some_and(u8::is_ascii_uppercase)
}

/// Parser state carried across the chunks of one input.
#[derive(Default)]
struct Parser {
    line_no: u64,
    regions: u64,
    crlf: Option<bool>,
    /// Keys present in the previous complete record, to notice a final record cut short.
    previous_present: u32,
    /// Index in [`FieldKey::IN_KERNEL_ORDER`] of the key most likely on the next field line.
    next_key: usize,
    /// Sums in kB of each key's values over all records so far, bounded by [`MAX_KB`];
    /// indexed by [`FieldKey`].
    totals: [u64; FieldKey::IN_KERNEL_ORDER.len()],
    /// Header line of a record without field lines that ended a chunk: the next chunk starts
    /// with a header, so the input is a maps file (reported as a whole parse would report it).
    fieldless_record: Option<u64>,
    warnings: Vec<Warning>,
}

/// A record whose header has been seen and whose fields are still being read.
struct OpenRecord<'a> {
    header: Header<'a>,
    fields: Fields,
    vm_flags: &'a [u8],
    line: u64,
}

impl Parser {
    /// Parses `data`, which holds only complete records unless `is_final`.
    fn feed<'a, F>(
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
        // One pass over the chunk finds every line end; far cheaper than a search per line.
        let mut line_start = 0;
        let line_ends =
            memchr::memchr_iter(b'\n', data).chain(ended_without_newline.then_some(data.len()));
        for line_end in line_ends {
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
            if is_header_line(line) {
                let header = parse_header(line).map_err(|expected| {
                    self.error(ParseErrorKind::BadHeader {
                        expected,
                        found: excerpt(line),
                    })
                })?;
                if header.name == b"[rollup]" {
                    return Err(self.error(ParseErrorKind::LooksLikeRollup));
                }
                if let Some(line) = self.fieldless_record.take() {
                    return Err(ParseError {
                        line,
                        kind: ParseErrorKind::LooksLikeMaps,
                    });
                }
                if let Some(previous) = open.take() {
                    if previous.fields.present == 0 {
                        return Err(ParseError {
                            line: previous.line,
                            kind: ParseErrorKind::LooksLikeMaps,
                        });
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
                    return Err(self.error(ParseErrorKind::FieldBeforeHeader {
                        found: excerpt(line),
                    }));
                };
                self.parse_field_line(line, record)?;
            }
        }
        if let Some(last) = open {
            if is_final {
                let cut_short = ended_without_newline
                    || (self.regions > 0
                        && last.fields.present & self.previous_present != self.previous_present);
                if last.fields.present == 0 && self.regions == 0 {
                    return Err(ParseError {
                        line: last.line,
                        kind: ParseErrorKind::LooksLikeMaps,
                    });
                }
                if cut_short {
                    self.warnings
                        .push(Warning::FinalRecordCutShort { line: last.line });
                }
            } else if last.fields.present == 0 {
                // The next chunk starts with a header, which will make this an error.
                self.fieldless_record = Some(last.line);
                return Ok(());
            }
            self.emit(last, on_region);
        }
        Ok(())
    }

    fn emit<F>(&mut self, record: OpenRecord<'_>, on_region: &mut F)
    where
        F: FnMut(&Region<'_>),
    {
        self.regions += 1;
        self.previous_present = record.fields.present;
        on_region(&Region {
            header: record.header,
            fields: record.fields,
            vm_flags: record.vm_flags,
            line: record.line,
        });
    }

    fn parse_field_line<'a>(
        &mut self,
        line: &'a [u8],
        record: &mut OpenRecord<'a>,
    ) -> Result<(), ParseError> {
        // The kernel prints keys in a fixed order: try the one after the last key first.
        let predicted = FieldKey::IN_KERNEL_ORDER[self.next_key % FieldKey::IN_KERNEL_ORDER.len()];
        let predicted_name = predicted.name().as_bytes();
        let (key, colon) =
            if line.starts_with(predicted_name) && line.get(predicted_name.len()) == Some(&b':') {
                (predicted, predicted_name.len())
            } else {
                let Some(colon) = memchr::memchr(b':', line) else {
                    return Err(self.error(ParseErrorKind::BadField {
                        key: excerpt(line),
                        found: "no `:` on the line".to_string(),
                    }));
                };
                let Some(key) = FieldKey::from_bytes(&line[..colon]) else {
                    return Ok(()); // Unknown keys come and go between kernel versions and vendors.
                };
                (key, colon)
            };
        self.next_key = key as usize + 1;
        let value = trim_leading_spaces(&line[colon + 1..]);
        record.fields.present |= 1 << key as u32;
        if key == FieldKey::VmFlags {
            record.vm_flags = value;
            return Ok(());
        }
        let bad_value = || {
            self.error(ParseErrorKind::BadField {
                key: String::from_utf8_lossy(&line[..colon]).into_owned(),
                found: excerpt(value),
            })
        };
        let digits_end = value
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(value.len());
        let (digits, unit) = value.split_at(digits_end);
        if digits.is_empty() {
            return Err(bad_value());
        }
        let unit_ok = if key.has_kb_unit() {
            unit == b" kB"
        } else {
            unit.is_empty()
        };
        if !unit_ok {
            return Err(bad_value());
        }
        let number = parse_decimal(digits)
            .filter(|&number| number <= MAX_KB)
            .ok_or_else(|| {
                self.error(ParseErrorKind::Overflow {
                    key: String::from_utf8_lossy(&line[..colon]).into_owned(),
                })
            })?;
        let slot = key.slot(&mut record.fields);
        if key.has_kb_unit() {
            // A repeated key replaces its earlier value in the record, and so in the total.
            let total = &mut self.totals[key as usize];
            let sum = *total - *slot + number;
            if sum > MAX_KB {
                return Err(self.error(ParseErrorKind::TotalOverflow {
                    key: key.name().to_string(),
                }));
            }
            *total = sum;
        }
        *slot = number;
        Ok(())
    }

    fn error(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: self.line_no,
            kind,
        }
    }

    fn finish(self, bytes: u64) -> ParseSummary {
        ParseSummary {
            regions: self.regions,
            lines: self.line_no,
            bytes,
            warnings: self.warnings,
        }
    }
}

/// Parses one mapping header line (without its line end). The error names what was expected.
pub fn parse_header(line: &[u8]) -> Result<Header<'_>, &'static str> {
    let mut cursor = Cursor { rest: line };
    let start = cursor
        .hex_until(b'-')
        .ok_or("a hex start address followed by `-`")?;
    let end = cursor
        .hex_until(b' ')
        .ok_or("a hex end address followed by a space")?;
    if end < start {
        return Err("an end address not below the start address");
    }
    let perms = cursor
        .perms()
        .ok_or("four permission characters such as `rw-p`")?;
    let offset = cursor.hex_until(b' ').ok_or("a hex file offset")?;
    let dev_major = cursor
        .hex_until(b':')
        .ok_or("a device number such as `fd:01`")?;
    let dev_minor = cursor
        .hex_until(b' ')
        .ok_or("a device number such as `fd:01`")?;
    let (dev_major, dev_minor) = match (u32::try_from(dev_major), u32::try_from(dev_minor)) {
        (Ok(major), Ok(minor)) => (major, minor),
        _ => return Err("a device number such as `fd:01`"),
    };
    let inode = cursor.inode().ok_or("a decimal inode number")?;
    Ok(Header {
        start,
        end,
        perms,
        offset,
        dev_major,
        dev_minor,
        inode,
        name: trim_leading_spaces(cursor.rest),
    })
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A hex number of 1–16 digits, then `separator`, which is consumed.
    fn hex_until(&mut self, separator: u8) -> Option<u64> {
        let mut value: u64 = 0;
        let mut digits = 0;
        for (index, &byte) in self.rest.iter().enumerate() {
            let digit = match byte {
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                b'A'..=b'F' => byte - b'A' + 10,
                _ if byte == separator && digits > 0 => {
                    self.rest = &self.rest[index + 1..];
                    return Some(value);
                }
                _ => return None,
            };
            digits += 1;
            if digits > 16 {
                return None;
            }
            value = (value << 4) | u64::from(digit);
        }
        None
    }

    fn perms(&mut self) -> Option<Perms> {
        let bytes: [u8; 5] = self.rest.get(..5)?.try_into().ok()?;
        let valid = matches!(bytes[0], b'r' | b'-')
            && matches!(bytes[1], b'w' | b'-')
            && matches!(bytes[2], b'x' | b'-')
            && matches!(bytes[3], b's' | b'p')
            && bytes[4] == b' ';
        if !valid {
            return None;
        }
        self.rest = &self.rest[5..];
        Some(Perms([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// A decimal inode, ended by a space or the end of the line.
    fn inode(&mut self) -> Option<u64> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(self.rest.len());
        let value = parse_decimal(&self.rest[..end])?;
        self.rest = &self.rest[end..];
        Some(value)
    }
}

/// A decimal number of ASCII digits with overflow checked; `None` if empty, not digits or too big.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(value)
}

fn trim_leading_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ').unwrap_or(bytes.len());
    &bytes[start..]
}

/// A short, printable excerpt of a bad line for an error message.
fn excerpt(line: &[u8]) -> String {
    const MAX: usize = 60;
    let shown = &line[..line.len().min(MAX)];
    let mut text = crate::escape::escape_bytes(shown);
    if line.len() > MAX {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn key_table_matches_the_declaration_order_and_names() {
        for (index, key) in FieldKey::IN_KERNEL_ORDER.iter().enumerate() {
            assert_eq!(*key as usize, index);
            assert_eq!(FieldKey::from_bytes(key.name().as_bytes()), Some(*key));
        }
        assert_eq!(FieldKey::from_bytes(b"Rs"), None);
    }

    #[test]
    fn parses_header_with_and_without_name() {
        let header =
            parse_header(b"00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon")
                .unwrap();
        assert_eq!(header.start, 0x400000);
        assert_eq!(header.end, 0x452000);
        assert_eq!(header.perms.as_str(), "r-xp");
        assert_eq!(
            (header.dev_major, header.dev_minor, header.inode),
            (8, 2, 173521)
        );
        assert_eq!(header.name, b"/usr/bin/dbus-daemon");

        let unnamed = parse_header(b"7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(unnamed.name, b"");
        let no_trailing_space =
            parse_header(b"7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0").unwrap();
        assert_eq!(no_trailing_space.name, b"");
    }

    #[test]
    fn keeps_spaces_inside_and_at_the_end_of_names() {
        let header =
            parse_header(b"7f0000000000-7f0000001000 r--s 00000000 103:02 99 /tmp/a b (deleted)")
                .unwrap();
        assert_eq!(header.name, b"/tmp/a b (deleted)");
        assert_eq!((header.dev_major, header.dev_minor), (0x103, 2));
        let trailing =
            parse_header(b"7f0000000000-7f0000001000 r--p 00000000 00:00 5 /tmp/trail ").unwrap();
        assert_eq!(trailing.name, b"/tmp/trail ");
    }

    #[test]
    fn rejects_malformed_headers() {
        assert!(parse_header(b"zzzz-7f00 rw-p 00000000 00:00 0").is_err());
        assert!(parse_header(b"1000-2000 rwzp 00000000 00:00 0").is_err());
        assert!(parse_header(b"2000-1000 rw-p 00000000 00:00 0").is_err());
        assert!(parse_header(b"1000-2000 rw-p 00000000 00:00 x").is_err());
        assert!(parse_header(b"11112222333344445-2000 rw-p 00000000 00:00 0").is_err());
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
    fn reports_errors_with_line_numbers() {
        let overflow = TWO_RECORDS.replace(
            "Rss:                 300 kB",
            "Rss: 99999999999999999999999 kB",
        );
        let error = collect(overflow.as_bytes()).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(
            matches!(error.kind, ParseErrorKind::Overflow { .. }),
            "{error}"
        );

        let bad_unit =
            TWO_RECORDS.replace("Rss:                 300 kB", "Rss:                 300 MB");
        let error = collect(bad_unit.as_bytes()).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.to_string().contains("after `Rss:`"), "{error}");

        let maps = "00400000-00452000 r-xp 00000000 08:02 1 /bin/x\n00452000-00453000 rw-p 00000000 00:00 0 \n";
        let error = collect(maps.as_bytes()).unwrap_err();
        assert_eq!(error.kind, ParseErrorKind::LooksLikeMaps);

        let rollup = "00400000-7fff00000000 ---p 00000000 00:00 0                          [rollup]\nRss: 4 kB\n";
        assert_eq!(
            collect(rollup.as_bytes()).unwrap_err().kind,
            ParseErrorKind::LooksLikeRollup
        );

        let field_first = "Rss: 4 kB\n";
        assert!(matches!(
            collect(field_first.as_bytes()).unwrap_err().kind,
            ParseErrorKind::FieldBeforeHeader { .. }
        ));
    }

    #[test]
    fn rejects_values_whose_sum_is_too_large() {
        let record = |rss: &str| format!("1000-2000 rw-p 00000000 00:00 0 \nRss: {rss} kB\n");
        let half = (MAX_KB / 2 + 1).to_string();
        let error = collect((record(&half) + &record(&half)).as_bytes()).unwrap_err();
        assert_eq!(error.line, 4);
        assert_eq!(
            error.kind,
            ParseErrorKind::TotalOverflow {
                key: "Rss".to_string()
            }
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
    fn bounds_lines_when_streaming() {
        let endless = std::io::repeat(b'a').take(10 * 1024 * 1024);
        let error = parse_reader(endless, |_| {}).unwrap_err();
        match error {
            StreamError::Parse(error) => assert_eq!(error.kind, ParseErrorKind::LineTooLong),
            other => panic!("unexpected {other}"),
        }
    }
}
