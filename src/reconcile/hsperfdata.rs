//! The JVM's PerfData file (`/tmp/hsperfdata_USER/PID`): the counters HotSpot publishes for jstat
//! to read without attaching. A prologue (magic `0xCAFEC0C0`, byte order, version 2, entry
//! offset and count) is followed by entries of a name and a value: a 64-bit number (`J`) or a
//! byte string (`B`). Parsed without I/O; every offset is checked, so a hostile or torn file
//! gives an error, never a panic.

use std::fmt;

const MAGIC: [u8; 4] = [0xca, 0xfe, 0xc0, 0xc0];
const PROLOGUE_BYTES: usize = 32;
const ENTRY_HEADER_BYTES: usize = 20;
/// More entries than any JVM publishes (about 200 here); a bound against a hostile count.
const MAX_ENTRIES: usize = 100_000;

/// Why a file is not a PerfData file this parser can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerfDataError {
    /// The file does not start with PerfData's magic number.
    NotPerfData,
    /// A major version other than 2 (every HotSpot since JDK 6).
    UnsupportedVersion(u8),
    /// The byte-order flag is neither 0 (big) nor 1 (little endian).
    BadByteOrder(u8),
    /// The file ends inside the prologue or the entry with this index.
    Truncated {
        /// The entry cut short, or `None` for the prologue.
        entry: Option<usize>,
    },
    /// The entry with this index has offsets or lengths outside itself.
    BadEntry {
        /// Its index.
        entry: usize,
    },
}

impl fmt::Display for PerfDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PerfDataError::NotPerfData => f.write_str("not a JVM PerfData (hsperfdata) file"),
            PerfDataError::UnsupportedVersion(version) => {
                write!(f, "PerfData version {version} is not supported (only 2)")
            }
            PerfDataError::BadByteOrder(flag) => write!(f, "byte-order flag {flag} is invalid"),
            PerfDataError::Truncated { entry: None } => {
                f.write_str("the file ends in its prologue")
            }
            PerfDataError::Truncated { entry: Some(entry) } => {
                write!(f, "the file ends inside entry {entry}")
            }
            PerfDataError::BadEntry { entry } => {
                write!(f, "entry {entry} points outside itself")
            }
        }
    }
}

impl std::error::Error for PerfDataError {}

/// One counter's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerfValue {
    /// A number (`J`).
    Long(i64),
    /// A byte string (`B`), up to its first NUL.
    Text(Vec<u8>),
}

/// The counters of a PerfData file, in the file's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerfData {
    /// Name and value of each counter.
    pub counters: Vec<(String, PerfValue)>,
}

impl PerfData {
    /// The number named `name`, if the file has it.
    pub fn long(&self, name: &str) -> Option<i64> {
        self.counters
            .iter()
            .find_map(|(counter, value)| match value {
                PerfValue::Long(number) if counter == name => Some(*number),
                _ => None,
            })
    }

    /// The text named `name`, if the file has it.
    pub fn text(&self, name: &str) -> Option<&[u8]> {
        self.counters
            .iter()
            .find_map(|(counter, value)| match value {
                PerfValue::Text(text) if counter == name => Some(text.as_slice()),
                _ => None,
            })
    }

    /// The sum of the numbers whose names match `pattern`, where `*` stands for one dotted
    /// segment (`sun.gc.generation.*.space.*.used`), and how many matched.
    pub fn sum(&self, pattern: &str) -> (i64, usize) {
        self.counters
            .iter()
            .filter_map(|(name, value)| match value {
                PerfValue::Long(number) if matches_pattern(name, pattern) => Some(*number),
                _ => None,
            })
            .fold((0, 0), |(sum, count), number| {
                (sum.saturating_add(number), count + 1)
            })
    }
}

fn matches_pattern(name: &str, pattern: &str) -> bool {
    let mut names = name.split('.');
    let mut parts = pattern.split('.');
    loop {
        match (names.next(), parts.next()) {
            (None, None) => return true,
            (Some(_), Some("*")) => {}
            (Some(segment), Some(part)) if segment == part => {}
            _ => return false,
        }
    }
}

/// Reads the counters of a PerfData file.
pub fn parse_perfdata(bytes: &[u8]) -> Result<PerfData, PerfDataError> {
    if bytes.len() < 4 || bytes[..4] != MAGIC {
        return Err(PerfDataError::NotPerfData);
    }
    if bytes.len() < PROLOGUE_BYTES {
        return Err(PerfDataError::Truncated { entry: None });
    }
    let little = match bytes[4] {
        0 => false,
        1 => true,
        other => return Err(PerfDataError::BadByteOrder(other)),
    };
    if bytes[5] != 2 {
        return Err(PerfDataError::UnsupportedVersion(bytes[5]));
    }
    let read = Reader { bytes, little };
    let entry_offset = read
        .u32(24)
        .ok_or(PerfDataError::Truncated { entry: None })? as usize;
    let entries = read
        .u32(28)
        .ok_or(PerfDataError::Truncated { entry: None })? as usize;
    let mut data = PerfData::default();
    let mut offset = entry_offset;
    for index in 0..entries.min(MAX_ENTRIES) {
        let truncated = PerfDataError::Truncated { entry: Some(index) };
        let bad = PerfDataError::BadEntry { entry: index };
        let length = read.u32(offset).ok_or(truncated)? as usize;
        let name_offset = read.u32(offset + 4).ok_or(truncated)? as usize;
        let vector_length = read.u32(offset + 8).ok_or(truncated)? as usize;
        let data_type = *bytes.get(offset + 12).ok_or(truncated)?;
        let data_offset = read.u32(offset + 16).ok_or(truncated)? as usize;
        if length < ENTRY_HEADER_BYTES {
            return Err(bad);
        }
        let end = offset.checked_add(length).ok_or(bad)?;
        let entry = bytes.get(offset..end).ok_or(truncated)?;
        let name_bytes = entry.get(name_offset..).ok_or(bad)?;
        let name_end = name_bytes.iter().position(|&b| b == 0).ok_or(bad)?;
        let name = String::from_utf8_lossy(&name_bytes[..name_end]).into_owned();
        let value = match (data_type, vector_length) {
            (b'J', 0) => {
                let raw = entry
                    .get(data_offset..data_offset.checked_add(8).ok_or(bad)?)
                    .ok_or(bad)?;
                let raw: [u8; 8] = raw.try_into().expect("a slice of 8 bytes");
                PerfValue::Long(if little {
                    i64::from_le_bytes(raw)
                } else {
                    i64::from_be_bytes(raw)
                })
            }
            (b'B', length) => {
                let raw = entry
                    .get(data_offset..data_offset.checked_add(length).ok_or(bad)?)
                    .ok_or(bad)?;
                let text = raw.split(|&b| b == 0).next().unwrap_or_default();
                PerfValue::Text(text.to_vec())
            }
            // Vectors of numbers and other types: not needed, skipped.
            _ => {
                offset = end;
                continue;
            }
        };
        data.counters.push((name, value));
        offset = end;
    }
    Ok(data)
}

struct Reader<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl Reader<'_> {
    fn u32(&self, offset: usize) -> Option<u32> {
        let raw: [u8; 4] = self
            .bytes
            .get(offset..offset.checked_add(4)?)?
            .try_into()
            .ok()?;
        Some(if self.little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PerfData file with these counters, as HotSpot lays it out.
    pub(crate) fn perfdata(little: bool, counters: &[(&str, PerfValue)]) -> Vec<u8> {
        let u32b = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let mut entries = Vec::new();
        for (name, value) in counters {
            let name_offset = ENTRY_HEADER_BYTES as u32;
            let mut name_bytes = name.as_bytes().to_vec();
            name_bytes.push(0);
            while name_bytes.len() % 8 != 4 {
                name_bytes.push(0);
            }
            let data_offset = name_offset + name_bytes.len() as u32;
            let (kind, vector, data) = match value {
                PerfValue::Long(n) => (
                    b'J',
                    0u32,
                    if little {
                        n.to_le_bytes()
                    } else {
                        n.to_be_bytes()
                    }
                    .to_vec(),
                ),
                PerfValue::Text(t) => {
                    let mut data = t.clone();
                    data.push(0);
                    (b'B', data.len() as u32, data)
                }
            };
            let length = data_offset + data.len() as u32;
            entries.extend(u32b(length));
            entries.extend(u32b(name_offset));
            entries.extend(u32b(vector));
            entries.extend([kind, 0, 1, 3]);
            entries.extend(u32b(data_offset));
            entries.extend(name_bytes);
            entries.extend(data);
        }
        let mut file = MAGIC.to_vec();
        file.extend([u8::from(little), 2, 0, 1]);
        file.extend(u32b((PROLOGUE_BYTES + entries.len()) as u32));
        file.extend(u32b(0));
        file.extend([0u8; 8]);
        file.extend(u32b(PROLOGUE_BYTES as u32));
        file.extend(u32b(counters.len() as u32));
        file.extend(entries);
        file
    }

    #[test]
    fn reads_numbers_and_text_in_both_byte_orders() {
        for little in [true, false] {
            let file = perfdata(
                little,
                &[
                    (
                        "sun.gc.policy.name",
                        PerfValue::Text(b"GarbageFirst".to_vec()),
                    ),
                    ("sun.gc.generation.0.capacity", PerfValue::Long(35651608)),
                    ("sun.gc.generation.1.capacity", PerfValue::Long(501219336)),
                    (
                        "sun.gc.generation.1.space.0.used",
                        PerfValue::Long(420494336),
                    ),
                ],
            );
            let data = parse_perfdata(&file).unwrap();
            assert_eq!(data.text("sun.gc.policy.name"), Some(&b"GarbageFirst"[..]));
            assert_eq!(
                data.long("sun.gc.generation.1.space.0.used"),
                Some(420494336)
            );
            assert_eq!(data.sum("sun.gc.generation.*.capacity"), (536870944, 2));
            assert_eq!(data.sum("sun.gc.generation.*.space.*.used"), (420494336, 1));
            assert_eq!(
                data.sum("sun.gc.*.capacity"),
                (0, 0),
                "one segment per star"
            );
        }
    }

    #[test]
    fn real_files_cut_short_are_truncated() {
        for jvm in ["jdk17-g1", "jdk25-g1"] {
            let path = format!(
                "{}/fixtures/hsperfdata/{jvm}.hsperfdata",
                env!("CARGO_MANIFEST_DIR")
            );
            let bytes = std::fs::read(path).expect("the fixture");
            assert!(parse_perfdata(&bytes).is_ok(), "{jvm}");
            assert_eq!(parse_perfdata(&bytes[..2]), Err(PerfDataError::NotPerfData));
            assert_eq!(
                parse_perfdata(&bytes[..PROLOGUE_BYTES - 1]),
                Err(PerfDataError::Truncated { entry: None })
            );
            assert!(
                matches!(
                    parse_perfdata(&bytes[..bytes.len() / 4]),
                    Err(PerfDataError::Truncated { entry: Some(_) })
                ),
                "{jvm}"
            );
        }
    }

    #[test]
    fn hostile_files_are_errors() {
        assert_eq!(parse_perfdata(b"hello"), Err(PerfDataError::NotPerfData));
        assert_eq!(
            parse_perfdata(&MAGIC),
            Err(PerfDataError::Truncated { entry: None })
        );
        let good = perfdata(true, &[("a.b", PerfValue::Long(1))]);
        for cut in 0..good.len() {
            let _ = parse_perfdata(&good[..cut]);
        }
        let mut bad_version = good.clone();
        bad_version[5] = 3;
        assert_eq!(
            parse_perfdata(&bad_version),
            Err(PerfDataError::UnsupportedVersion(3))
        );
        let mut bad_offset = good.clone();
        bad_offset[PROLOGUE_BYTES + 16..PROLOGUE_BYTES + 20]
            .copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            parse_perfdata(&bad_offset),
            Err(PerfDataError::BadEntry { entry: 0 })
        );
    }
}
