//! Recognises a Go binary from its ELF file, reading only the headers and the few bytes of the
//! `.go.buildinfo` section it needs (production binaries are hundreds of MB; we never read them whole).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// What the executable says about its runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoBuildInfo {
    /// e.g. `go1.22.3`; `None` for the pre-1.18 layout, whose version sits behind pointers.
    pub version: Option<String>,
}

const GO_BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// Real binaries have tens of sections; more than this is not an ELF file we want to trust.
const MAX_SECTIONS: usize = 4096;
const MAX_SECTION_NAMES_BYTES: u64 = 1024 * 1024;

/// `Ok(Some(_))` for a Go binary, `Ok(None)` for any other ELF file (or a non-ELF file), and an
/// error only when the file cannot be read.
pub fn go_build_info(file: &File) -> io::Result<Option<GoBuildInfo>> {
    let mut ident = [0u8; 64];
    let read = read_up_to(file, 0, &mut ident)?;
    if read < 52 || &ident[..4] != b"\x7fELF" {
        return Ok(None);
    }
    let is_64 = match ident[4] {
        1 => false,
        2 => true,
        _ => return Ok(None),
    };
    let little = match ident[5] {
        1 => true,
        2 => false,
        _ => return Ok(None),
    };
    let endian = Endian { little };
    let (shoff, shentsize, shnum, shstrndx) = if is_64 {
        if read < 64 {
            return Ok(None);
        }
        (
            endian.u64(&ident[0x28..]),
            endian.u16(&ident[0x3a..]),
            endian.u16(&ident[0x3c..]),
            endian.u16(&ident[0x3e..]),
        )
    } else {
        (
            u64::from(endian.u32(&ident[0x20..])),
            endian.u16(&ident[0x2e..]),
            endian.u16(&ident[0x30..]),
            endian.u16(&ident[0x32..]),
        )
    };
    let (shentsize, shnum, shstrndx) = (
        usize::from(shentsize),
        usize::from(shnum),
        usize::from(shstrndx),
    );
    let min_entry = if is_64 { 64 } else { 40 };
    if shoff == 0
        || shnum == 0
        || shnum > MAX_SECTIONS
        || shentsize < min_entry
        || shstrndx >= shnum
    {
        return Ok(None);
    }
    let mut table = vec![0u8; shnum * shentsize];
    if read_up_to(file, shoff, &mut table)? < table.len() {
        return Ok(None);
    }
    let section = |index: usize| -> Section {
        let entry = &table[index * shentsize..];
        if is_64 {
            Section {
                name: endian.u32(entry),
                offset: endian.u64(&entry[0x18..]),
                size: endian.u64(&entry[0x20..]),
            }
        } else {
            Section {
                name: endian.u32(entry),
                offset: u64::from(endian.u32(&entry[0x10..])),
                size: u64::from(endian.u32(&entry[0x14..])),
            }
        }
    };
    let names = section(shstrndx);
    if names.size > MAX_SECTION_NAMES_BYTES {
        return Ok(None);
    }
    let mut name_bytes = vec![0u8; names.size as usize];
    let name_len = read_up_to(file, names.offset, &mut name_bytes)?;
    name_bytes.truncate(name_len);

    for index in 0..shnum {
        let candidate = section(index);
        let name = name_bytes
            .get(candidate.name as usize..)
            .unwrap_or_default();
        if !name.starts_with(b".go.buildinfo\0") {
            continue;
        }
        let mut head = [0u8; 32 + 10 + 64];
        let got = read_up_to(file, candidate.offset, &mut head)?;
        if got < 32 || !head.starts_with(GO_BUILDINFO_MAGIC) {
            return Ok(None);
        }
        return Ok(Some(GoBuildInfo {
            version: inline_version(&head[..got]),
        }));
    }
    Ok(None)
}

/// Go 1.18+ (flag bit 2): the version follows the 32-byte header as a varint-prefixed string.
fn inline_version(head: &[u8]) -> Option<String> {
    const FLAGS_VERSION_INLINE: u8 = 0x2;
    if head[15] & FLAGS_VERSION_INLINE == 0 {
        return None;
    }
    let (length, varint_len) = read_uvarint(&head[32..])?;
    let start = 32 + varint_len;
    let text = head.get(start..start.checked_add(usize::try_from(length).ok()?)?)?;
    let version = std::str::from_utf8(text).ok()?;
    (version.starts_with("go") || version.starts_with("devel")).then(|| version.to_string())
}

fn read_uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (index, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

struct Section {
    name: u32,
    offset: u64,
    size: u64,
}

#[derive(Clone, Copy)]
struct Endian {
    little: bool,
}

impl Endian {
    fn u16(self, bytes: &[u8]) -> u16 {
        let raw = [bytes[0], bytes[1]];
        if self.little {
            u16::from_le_bytes(raw)
        } else {
            u16::from_be_bytes(raw)
        }
    }
    fn u32(self, bytes: &[u8]) -> u32 {
        let raw = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if self.little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        }
    }
    fn u64(self, bytes: &[u8]) -> u64 {
        let raw: [u8; 8] = bytes[..8].try_into().expect("slice of 8 bytes");
        if self.little {
            u64::from_le_bytes(raw)
        } else {
            u64::from_be_bytes(raw)
        }
    }
}

/// Reads as much of `buf` as the file has at `offset`; returns how many bytes were read.
fn read_up_to(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_inline_version() {
        let mut head = Vec::from(GO_BUILDINFO_MAGIC);
        head.extend_from_slice(&[8, 2]);
        head.resize(32, 0);
        head.push(9);
        head.extend_from_slice(b"go1.25.1x");
        assert_eq!(inline_version(&head).as_deref(), Some("go1.25.1x"));
        head[15] = 0;
        assert_eq!(inline_version(&head), None);
    }

    #[test]
    fn a_c_binary_is_not_go() {
        let me = File::open("/bin/sh").expect("/bin/sh exists on Linux");
        assert_eq!(go_build_info(&me).unwrap(), None);
    }

    #[test]
    fn non_elf_files_are_not_go() {
        let file = tempfile::tempfile().unwrap();
        file.write_all_at(b"#!/bin/sh\necho hi\n", 0).unwrap();
        assert_eq!(go_build_info(&file).unwrap(), None);
    }
}
