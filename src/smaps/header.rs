//! The header line of an smaps record: `START-END PERMS OFFSET MAJ:MIN INODE [NAME]`, parsed
//! straight from bytes. The name is borrowed from the input, never copied.

use std::fmt;

/// The permissions of a mapping, as the four characters the kernel prints (`rw-p`).
///
/// Only valid combinations can exist: the field is private, and a `Perms` is made only by
/// parsing four valid characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms {
    bits: u8,
}

const READ: u8 = 1;
const WRITE: u8 = 2;
const EXECUTE: u8 = 4;
const SHARED: u8 = 8;

impl Perms {
    /// Parses the four permission characters (`r|-`, `w|-`, `x|-`, `s|p`).
    pub fn parse(text: &[u8]) -> Option<Perms> {
        let &[read, write, execute, sharing] = text else {
            return None;
        };
        let flag = |byte: u8, set: u8, bit: u8| match byte {
            b'-' => Some(0),
            _ if byte == set => Some(bit),
            _ => None,
        };
        let sharing = match sharing {
            b's' => SHARED,
            b'p' => 0,
            _ => return None,
        };
        Some(Perms {
            bits: flag(read, b'r', READ)?
                | flag(write, b'w', WRITE)?
                | flag(execute, b'x', EXECUTE)?
                | sharing,
        })
    }

    /// Readable (`r`).
    pub fn readable(self) -> bool {
        self.bits & READ != 0
    }

    /// Writable (`w`).
    pub fn writable(self) -> bool {
        self.bits & WRITE != 0
    }

    /// Executable (`x`).
    pub fn executable(self) -> bool {
        self.bits & EXECUTE != 0
    }

    /// MAP_SHARED (`s`), as opposed to private copy-on-write (`p`).
    pub fn shared(self) -> bool {
        self.bits & SHARED != 0
    }

    /// No access at all (`---p`): a reservation or guard that can hold no resident pages.
    pub fn no_access(self) -> bool {
        self.bits & (READ | WRITE | EXECUTE) == 0
    }

    /// A number below [`Perms::COUNT`] that tells permissions apart, for tables indexed by them.
    pub(crate) fn index(self) -> usize {
        usize::from(self.bits)
    }

    /// How many different permissions there are.
    pub(crate) const COUNT: usize = 16;

    /// Every valid permission set, in [`Perms::index`] order.
    pub(crate) fn every() -> impl Iterator<Item = Perms> {
        (0..Self::COUNT as u8).map(|bits| Perms { bits })
    }

    /// The four characters, as the kernel prints them.
    pub fn as_str(self) -> &'static str {
        const TEXT: [&str; 16] = [
            "---p", "r--p", "-w-p", "rw-p", "--xp", "r-xp", "-wxp", "rwxp", "---s", "r--s", "-w-s",
            "rw-s", "--xs", "r-xs", "-wxs", "rwxs",
        ];
        TEXT[usize::from(self.bits)]
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
    /// First address of the mapping.
    pub start: u64,
    /// Exclusive end address.
    pub end: u64,
    /// Access permissions and sharing.
    pub perms: Perms,
    /// Offset into the mapped file (0 for anonymous memory).
    pub offset: u64,
    /// Major number of the mapped file's device.
    pub dev_major: u32,
    /// Minor number of the mapped file's device.
    pub dev_minor: u32,
    /// Inode of the mapped file (0 for anonymous memory).
    pub inode: u64,
    /// The name exactly as the kernel printed it: bytes, not necessarily UTF-8, with `\012` for
    /// newlines and a ` (deleted)` suffix for deleted files. Empty for unnamed anonymous memory.
    pub name: &'a [u8],
}

impl Header<'_> {
    /// Size of the address range in bytes.
    pub fn size(&self) -> u64 {
        self.end - self.start
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

/// Marks a byte that is no hex digit in [`HEX_VALUES`].
const NOT_HEX: u8 = 0xff;

/// The value of every byte as a hex digit (either case), or [`NOT_HEX`].
static HEX_VALUES: [u8; 256] = {
    let mut values = [NOT_HEX; 256];
    let mut byte = 0;
    while byte < 256 {
        values[byte] = match byte as u8 {
            digit @ b'0'..=b'9' => digit - b'0',
            letter @ b'a'..=b'f' => letter - b'a' + 10,
            letter @ b'A'..=b'F' => letter - b'A' + 10,
            _ => NOT_HEX,
        };
        byte += 1;
    }
    values
};

struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    /// A hex number of 1–16 digits, then `separator`, which is consumed.
    fn hex_until(&mut self, separator: u8) -> Option<u64> {
        let rest = self.rest;
        let mut value: u64 = 0;
        let mut digits = 0;
        while let Some(&byte) = rest.get(digits) {
            let digit = HEX_VALUES[usize::from(byte)];
            if digit == NOT_HEX {
                break;
            }
            // Past 16 digits the value is wrong, but it is refused below.
            value = (value << 4) | u64::from(digit);
            digits += 1;
        }
        if digits == 0 || digits > 16 || rest.get(digits) != Some(&separator) {
            return None;
        }
        self.rest = &rest[digits + 1..];
        Some(value)
    }

    fn perms(&mut self) -> Option<Perms> {
        let (text, rest) = self.rest.split_at_checked(4)?;
        let perms = Perms::parse(text)?;
        self.rest = rest.strip_prefix(b" ")?;
        Some(perms)
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
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
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

/// `bytes` without its leading spaces. The kernel pads names and values with many: they are
/// skipped eight at a time.
#[inline]
pub(crate) fn trim_leading_spaces(bytes: &[u8]) -> &[u8] {
    const SPACES: u64 = u64::from_le_bytes([b' '; 8]);
    let mut rest = bytes;
    while let Some((word, after)) = rest.split_first_chunk::<8>() {
        let not_spaces = u64::from_le_bytes(*word) ^ SPACES;
        if not_spaces != 0 {
            return &rest[(not_spaces.trailing_zeros() / 8) as usize..];
        }
        rest = after;
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    &rest[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(parse_header(b"1000-2000 rw-p").is_err());
    }

    #[test]
    fn perms_round_trip_every_valid_combination() {
        let mut seen = 0;
        for read in [b'r', b'-'] {
            for write in [b'w', b'-'] {
                for execute in [b'x', b'-'] {
                    for sharing in [b's', b'p'] {
                        let text = [read, write, execute, sharing];
                        let perms = Perms::parse(&text).unwrap();
                        assert_eq!(perms.as_str().as_bytes(), text);
                        assert_eq!(perms.readable(), read == b'r');
                        assert_eq!(perms.writable(), write == b'w');
                        assert_eq!(perms.executable(), execute == b'x');
                        assert_eq!(perms.shared(), sharing == b's');
                        seen += 1;
                    }
                }
            }
        }
        assert_eq!(seen, 16);
        assert_eq!(Perms::parse(b"rw-x"), None);
        assert_eq!(Perms::parse(b"rw-"), None);
        assert!(Perms::parse(b"---p").unwrap().no_access());
    }
}
