//! What a live process's executable file says about its runtime, read from its ELF headers and
//! the few bytes of the sections that matter (production binaries are hundreds of MB; they are
//! never read whole): Go's `.go.buildinfo`, names in the symbol tables that show a runtime
//! or allocator linked in (CPython's `Py_…`, jemalloc's `_rjem_…` or `mallctl`), and, in a
//! stripped executable, texts in its read-only data that only a runtime linked in would bring
//! (jemalloc's `<jemalloc>: ` messages).

use std::fs::File;
use std::io;

/// What was learned from the executable file; `elf` is `None` when it could not be read (a
/// saved smaps file, another user's process).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ExecutableFacts {
    pub elf: Option<ElfFacts>,
}

/// What an ELF file (or a file that is not ELF at all) showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ElfFacts {
    /// Go's build information, for a Go binary.
    pub go: Option<GoBuildInfo>,
    /// The symbol-name prefixes asked for (see [`ExecutableFacts::read`]) that begin a name in
    /// the file's symbol tables.
    pub symbols: Vec<&'static str>,
    /// The names of the [`Marker`]s asked for whose text is in the read-only data of a stripped
    /// file (one without a full symbol table); never looked for in a file with one.
    pub markers: Vec<&'static str>,
}

/// What to look for in an executable: see [`ExecutableFacts::read`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clues<'a> {
    /// Prefixes of symbol names.
    pub symbol_prefixes: &'a [&'static str],
    /// Texts in the read-only data, looked for only when the file is stripped.
    pub markers: &'a [&'static Marker],
}

/// A text that shows a runtime linked into an executable whose symbols were stripped: it is in
/// the read-only data (`.rodata`) of every program that links the runtime's code, as the
/// runtime's own messages. The text is kept reversed and turned round only when looked for, so
/// that memanalyzer's own (stripped) binary does not carry it and show the runtime in itself
/// (text kept in parts is no help: the compiler lays string constants end to end).
#[derive(Debug)]
pub(crate) struct Marker {
    /// What [`ElfFacts::markers`] lists when the text is found.
    pub name: &'static str,
    /// The text, back to front.
    pub reversed: &'static str,
}

impl ElfFacts {
    /// Whether a name in the symbol tables begins with one of `prefixes` (each must be among
    /// those the file was read for).
    pub(crate) fn has_symbol(&self, prefixes: &[&str]) -> bool {
        prefixes.iter().any(|prefix| self.symbols.contains(prefix))
    }

    /// Whether the text of the marker named `name` (which must be among those the file was
    /// read for) is in the file's read-only data.
    pub(crate) fn has_marker(&self, name: &str) -> bool {
        self.markers.contains(&name)
    }
}

/// The facts of the executable read last, and the identity of the file they came from
/// (device, inode, size, times): `-watch` and `-http` analyze one process again and again, and
/// reading a stripped executable's read-only data costs up to 16 MiB each time.
pub(crate) struct LastRead<K> {
    last: std::sync::Mutex<Option<(K, ExecutableFacts)>>,
}

impl<K: PartialEq> LastRead<K> {
    pub(crate) const fn new() -> LastRead<K> {
        LastRead {
            last: std::sync::Mutex::new(None),
        }
    }

    /// The facts kept for `file`, or those `read` returns (then kept instead).
    pub(crate) fn get_or_read(
        &self,
        file: K,
        read: impl FnOnce() -> ExecutableFacts,
    ) -> ExecutableFacts {
        let lock = || {
            self.last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((known, facts)) = lock().as_ref() {
            if *known == file {
                return facts.clone();
            }
        }
        // Read without the lock held: another thread's different executable must not wait.
        let facts = read();
        *lock() = Some((file, facts.clone()));
        facts
    }
}

impl ExecutableFacts {
    /// Reads what matters from an open executable, looking for the clues that reveal the
    /// runtimes linked in; unreadable means nothing is known.
    pub(crate) fn read<F: ReadAt>(file: &F, clues: &Clues<'_>) -> ExecutableFacts {
        ExecutableFacts {
            elf: read_elf(file, clues).ok(),
        }
    }
}

/// What the executable says about Go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoBuildInfo {
    /// e.g. `go1.22.3`; `None` for the pre-1.18 layout, whose version sits behind pointers.
    pub version: Option<String>,
}

const GO_BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// Real binaries have tens of sections; more than this is not an ELF file we want to trust.
const MAX_SECTIONS: usize = 4096;
const MAX_SECTION_NAMES_BYTES: u64 = 1024 * 1024;

/// Reading at an offset, as `pread` does: how the ELF file is read, so tests can count the bytes.
pub(crate) trait ReadAt {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for File {
    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }

    #[cfg(not(unix))]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self;
        file.seek(SeekFrom::Start(offset))?;
        file.read(buf)
    }
}

/// `Ok(Some(_))` for a Go binary, `Ok(None)` for any other ELF file (or a non-ELF file), and an
/// error only when the file cannot be read.
#[cfg(test)]
fn go_build_info<F: ReadAt>(file: &F) -> io::Result<Option<GoBuildInfo>> {
    match SectionTable::read(file)? {
        Some(sections) => sections.go_build_info(file),
        None => Ok(None),
    }
}

/// Everything learned from one ELF file: Go's build information, which of the clues' prefixes
/// begin a name in its symbol tables and, if it is stripped, which markers its read-only data
/// holds. A file that is not ELF says nothing.
fn read_elf<F: ReadAt>(file: &F, clues: &Clues<'_>) -> io::Result<ElfFacts> {
    let Some(sections) = SectionTable::read(file)? else {
        return Ok(ElfFacts::default());
    };
    let go = sections.go_build_info(file)?;
    // A Go program allocates with Go's runtime; stripped ones (`-ldflags=-s`) are common and
    // their `.rodata` large, so it is not read for other allocators' messages.
    let markers = match go {
        Some(_) => Vec::new(),
        None => sections.markers(file, clues.markers)?,
    };
    Ok(ElfFacts {
        go,
        symbols: sections.symbol_prefixes(file, clues.symbol_prefixes)?,
        markers,
    })
}

/// The section headers of an ELF file and the names of its sections.
struct SectionTable {
    sections: Vec<Section>,
    names: Vec<u8>,
}

impl SectionTable {
    /// `Ok(None)` for a file that is not ELF, or whose section table is not one to trust.
    fn read<F: ReadAt>(file: &F) -> io::Result<Option<SectionTable>> {
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
        let sections: Vec<Section> = table
            .chunks_exact(shentsize)
            .map(|entry| {
                if is_64 {
                    Section {
                        name: endian.u32(entry),
                        kind: endian.u32(&entry[0x04..]),
                        offset: endian.u64(&entry[0x18..]),
                        size: endian.u64(&entry[0x20..]),
                        link: endian.u32(&entry[0x28..]),
                    }
                } else {
                    Section {
                        name: endian.u32(entry),
                        kind: endian.u32(&entry[0x04..]),
                        offset: u64::from(endian.u32(&entry[0x10..])),
                        size: u64::from(endian.u32(&entry[0x14..])),
                        link: endian.u32(&entry[0x18..]),
                    }
                }
            })
            .collect();
        let names = &sections[shstrndx];
        if names.size > MAX_SECTION_NAMES_BYTES {
            return Ok(None);
        }
        let mut name_bytes = vec![0u8; names.size as usize];
        let name_len = read_up_to(file, names.offset, &mut name_bytes)?;
        name_bytes.truncate(name_len);
        Ok(Some(SectionTable {
            sections,
            names: name_bytes,
        }))
    }

    fn name(&self, section: &Section) -> &[u8] {
        self.names.get(section.name as usize..).unwrap_or_default()
    }

    fn go_build_info<F: ReadAt>(&self, file: &F) -> io::Result<Option<GoBuildInfo>> {
        let Some(buildinfo) = self
            .sections
            .iter()
            .find(|section| self.name(section).starts_with(b".go.buildinfo\0"))
        else {
            return Ok(None);
        };
        let mut head = [0u8; 32 + 10 + 64];
        let got = read_up_to(file, buildinfo.offset, &mut head)?;
        if got < 32 || !head.starts_with(GO_BUILDINFO_MAGIC) {
            return Ok(None);
        }
        Ok(Some(GoBuildInfo {
            version: inline_version(&head[..got]),
        }))
    }

    /// Which of `prefixes` begin a symbol's name: the string tables of the dynamic symbol table
    /// (`.dynsym`, kept by `strip`) and of the full one (`.symtab`, when not stripped) are
    /// scanned for `\0PREFIX`, each at most [`MAX_SCANNED_BYTES`] far.
    fn symbol_prefixes<F: ReadAt>(
        &self,
        file: &F,
        prefixes: &[&'static str],
    ) -> io::Result<Vec<&'static str>> {
        let needles: Vec<(&'static str, Vec<u8>)> = prefixes
            .iter()
            .map(|&prefix| (prefix, [b"\0", prefix.as_bytes()].concat()))
            .collect();
        let mut found = Vec::new();
        for symbols in &self.sections {
            if found.len() == prefixes.len() {
                break;
            }
            if symbols.kind != SHT_SYMTAB && symbols.kind != SHT_DYNSYM {
                continue;
            }
            let Some(strings) = self.sections.get(symbols.link as usize) else {
                continue;
            };
            if strings.kind != SHT_STRTAB {
                continue;
            }
            scan_section(file, strings, &needles, &mut found)?;
        }
        Ok(found)
    }

    /// Which `markers` are in `.rodata`, at most [`MAX_SCANNED_BYTES`] into it; looked for only
    /// in a stripped file: one with a full symbol table shows a linked-in runtime by its symbols,
    /// and is not read further.
    fn markers<F: ReadAt>(
        &self,
        file: &F,
        markers: &[&'static Marker],
    ) -> io::Result<Vec<&'static str>> {
        let mut found = Vec::new();
        if markers.is_empty()
            || self
                .sections
                .iter()
                .any(|section| section.kind == SHT_SYMTAB)
        {
            return Ok(found);
        }
        let Some(rodata) = self.sections.iter().find(|section| {
            section.kind == SHT_PROGBITS && self.name(section).starts_with(b".rodata\0")
        }) else {
            return Ok(found);
        };
        let needles: Vec<(&'static str, Vec<u8>)> = markers
            .iter()
            .map(|marker| (marker.name, marker.reversed.bytes().rev().collect()))
            .collect();
        scan_section(file, rodata, &needles, &mut found)?;
        Ok(found)
    }
}

const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_DYNSYM: u32 = 11;
/// How far into one section (a string table, `.rodata`) texts are looked for: `.dynstr` is
/// usually well under 1 MiB; a large unstripped Rust binary's `.strtab` can pass 50 MiB, and is
/// not read past this.
const MAX_SCANNED_BYTES: u64 = 16 * 1024 * 1024;
/// Sections are read in pieces of this size.
const SCAN_CHUNK_BYTES: usize = 64 * 1024;

/// Adds to `found` the name of each needle (not already in it) whose bytes are in the section,
/// read at most [`MAX_SCANNED_BYTES`] far.
fn scan_section<F: ReadAt>(
    file: &F,
    section: &Section,
    needles: &[(&'static str, Vec<u8>)],
    found: &mut Vec<&'static str>,
) -> io::Result<()> {
    let patterns: Vec<&(&'static str, Vec<u8>)> = needles
        .iter()
        .filter(|(name, _)| !found.contains(name))
        .collect();
    let Some(overlap) = patterns.iter().map(|(_, pattern)| pattern.len() - 1).max() else {
        return Ok(());
    };
    let length = section.size.min(MAX_SCANNED_BYTES);
    let mut buffer = vec![0u8; SCAN_CHUNK_BYTES + overlap];
    // `kept` bytes at the buffer's start are the end of the previous piece, so that a name
    // split between two pieces is still seen.
    let mut kept = 0;
    let mut offset = 0u64;
    while offset < length {
        let want = SCAN_CHUNK_BYTES.min((length - offset) as usize);
        let got = read_up_to(
            file,
            section.offset + offset,
            &mut buffer[kept..kept + want],
        )?;
        if got == 0 {
            break;
        }
        let window = &buffer[..kept + got];
        for (prefix, pattern) in &patterns {
            if !found.contains(prefix) && memchr::memmem::find(window, pattern).is_some() {
                found.push(prefix);
            }
        }
        if patterns.iter().all(|(prefix, _)| found.contains(prefix)) {
            break;
        }
        let filled = window.len();
        let next_kept = overlap.min(filled);
        buffer.copy_within(filled - next_kept..filled, 0);
        kept = next_kept;
        offset += got as u64;
    }
    Ok(())
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
    kind: u32,
    offset: u64,
    size: u64,
    /// For a symbol table: the index of its string table.
    link: u32,
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
fn read_up_to<F: ReadAt>(file: &F, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
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
    fn the_executable_read_last_is_read_again_only_once_its_file_changes() {
        let cache: LastRead<(u64, u64)> = LastRead::new();
        let reads = std::cell::Cell::new(0);
        let facts = |marker: &'static str| {
            reads.set(reads.get() + 1);
            ExecutableFacts {
                elf: Some(ElfFacts {
                    markers: vec![marker],
                    ..ElfFacts::default()
                }),
            }
        };
        let first = cache.get_or_read((1, 100), || facts("first"));
        assert_eq!(cache.get_or_read((1, 100), || facts("again")), first);
        assert_eq!(reads.get(), 1);
        let rewritten = cache.get_or_read((1, 101), || facts("rewritten"));
        assert!(rewritten.elf.unwrap().has_marker("rewritten"));
        assert_eq!(reads.get(), 2);
        assert!(cache
            .get_or_read((1, 100), || facts("first again"))
            .elf
            .unwrap()
            .has_marker("first again"));
    }

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

    /// A sparse, 300 MB "binary": an ELF header, section headers near the end, and a few
    /// sections' contents; every other byte reads as zero. Counts the bytes read.
    struct SparseBinary {
        pieces: Vec<(u64, Vec<u8>)>,
        bytes_read: std::cell::Cell<u64>,
    }

    const SPARSE_SIZE: u64 = 300 * 1024 * 1024;

    impl SparseBinary {
        /// With a Go 1.18+ `.go.buildinfo` section.
        fn go(version: &str) -> SparseBinary {
            let shoff: u64 = SPARSE_SIZE - 4096;
            let names_offset: u64 = SPARSE_SIZE - 8192;
            let buildinfo_offset: u64 = 150 * 1024 * 1024;
            let mut header = vec![0u8; 64];
            header[..4].copy_from_slice(b"\x7fELF");
            header[4] = 2; // 64-bit
            header[5] = 1; // little-endian
            header[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
            header[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
            header[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
            header[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
            let names = b"\0.shstrtab\0.go.buildinfo\0".to_vec();
            let section = |name: u32, offset: u64, size: u64| {
                let mut entry = vec![0u8; 64];
                entry[..4].copy_from_slice(&name.to_le_bytes());
                entry[0x18..0x20].copy_from_slice(&offset.to_le_bytes());
                entry[0x20..0x28].copy_from_slice(&size.to_le_bytes());
                entry
            };
            let mut table = section(0, 0, 0);
            table.extend(section(1, names_offset, names.len() as u64));
            table.extend(section(11, buildinfo_offset, 64 * 1024));
            let mut buildinfo = Vec::from(GO_BUILDINFO_MAGIC);
            buildinfo.extend_from_slice(&[8, 2]);
            buildinfo.resize(32, 0);
            buildinfo.push(version.len() as u8);
            buildinfo.extend_from_slice(version.as_bytes());
            SparseBinary {
                pieces: vec![
                    (0, header),
                    (shoff, table),
                    (names_offset, names),
                    (buildinfo_offset, buildinfo),
                ],
                bytes_read: std::cell::Cell::new(0),
            }
        }
    }

    /// A 64-bit little-endian ELF header whose `sections` section headers start at `shoff`,
    /// the first of them naming the others.
    fn elf_header(shoff: u64, sections: u16) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = 2; // 64-bit
        header[5] = 1; // little-endian
        header[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        header[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        header[0x3c..0x3e].copy_from_slice(&sections.to_le_bytes());
        header[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        header
    }

    /// A 64-bit section header.
    fn section(name: u32, kind: u32, offset: u64, size: u64, link: u32) -> Vec<u8> {
        let mut entry = vec![0u8; 64];
        entry[..4].copy_from_slice(&name.to_le_bytes());
        entry[4..8].copy_from_slice(&kind.to_le_bytes());
        entry[0x18..0x20].copy_from_slice(&offset.to_le_bytes());
        entry[0x20..0x28].copy_from_slice(&size.to_le_bytes());
        entry[0x28..0x2c].copy_from_slice(&link.to_le_bytes());
        entry
    }

    impl SparseBinary {
        /// With a dynamic symbol table whose strings are `dynstr`, and a full one whose string
        /// table is `strtab_size` bytes (zeros) ending in `strtab_tail`.
        fn with_symbols(dynstr: &[u8], strtab_size: u64, strtab_tail: &[u8]) -> SparseBinary {
            let shoff: u64 = SPARSE_SIZE - 4096;
            let names_offset: u64 = SPARSE_SIZE - 8192;
            let dynstr_offset: u64 = 4096;
            let strtab_offset: u64 = 1024 * 1024;
            let header = elf_header(shoff, 6);
            let names = b"\0.shstrtab\0.dynsym\0.dynstr\0.symtab\0.strtab\0".to_vec();
            let mut table = section(0, 0, 0, 0, 0);
            table.extend(section(1, SHT_STRTAB, names_offset, names.len() as u64, 0));
            table.extend(section(11, SHT_DYNSYM, 2048, 24, 3));
            table.extend(section(
                19,
                SHT_STRTAB,
                dynstr_offset,
                dynstr.len() as u64,
                0,
            ));
            table.extend(section(27, SHT_SYMTAB, 3072, 24, 5));
            table.extend(section(35, SHT_STRTAB, strtab_offset, strtab_size, 0));
            let tail_offset = strtab_offset + strtab_size - strtab_tail.len() as u64;
            SparseBinary {
                pieces: vec![
                    (0, header),
                    (shoff, table),
                    (names_offset, names),
                    (dynstr_offset, dynstr.to_vec()),
                    (tail_offset, strtab_tail.to_vec()),
                ],
                bytes_read: std::cell::Cell::new(0),
            }
        }

        /// Without a full symbol table (stripped), with `rodata` as its `.rodata`, the text
        /// ending `rodata_size` bytes into the section (zeros before it).
        fn stripped(rodata_size: u64, rodata_tail: &[u8]) -> SparseBinary {
            let shoff: u64 = SPARSE_SIZE - 4096;
            let names_offset: u64 = SPARSE_SIZE - 8192;
            let rodata_offset: u64 = 1024 * 1024;
            let header = elf_header(shoff, 3);
            let names = b"\0.shstrtab\0.rodata\0".to_vec();
            let mut table = section(0, 0, 0, 0, 0);
            table.extend(section(1, SHT_STRTAB, names_offset, names.len() as u64, 0));
            table.extend(section(11, SHT_PROGBITS, rodata_offset, rodata_size, 0));
            let tail_offset = rodata_offset + rodata_size - rodata_tail.len() as u64;
            SparseBinary {
                pieces: vec![
                    (0, header),
                    (shoff, table),
                    (names_offset, names),
                    (tail_offset, rodata_tail.to_vec()),
                ],
                bytes_read: std::cell::Cell::new(0),
            }
        }

        fn facts(&self) -> ElfFacts {
            let clues = Clues {
                symbol_prefixes: &["Py_Initialize", "_rjem_", "mallctl"],
                markers: &[&JEMALLOC_MESSAGE],
            };
            read_elf(self, &clues).unwrap()
        }
    }

    static JEMALLOC_MESSAGE: Marker = Marker {
        name: "jemalloc",
        reversed: " :>collamej<",
    };

    #[test]
    fn a_stripped_file_shows_a_marker_in_its_read_only_data() {
        let text = b"\0<jemalloc>: Error in munmap(): %s\0";
        let binary = SparseBinary::stripped(4096, text);
        let facts = binary.facts();
        assert_eq!(facts.markers, ["jemalloc"]);
        assert!(facts.has_marker("jemalloc"));
        assert!(facts.symbols.is_empty());
        // Only a part of the text, or the text back to front: not the marker.
        let binary = SparseBinary::stripped(4096, b"\0<jemalloc\0 :>collamej<\0");
        assert!(binary.facts().markers.is_empty());
    }

    #[test]
    fn markers_are_not_looked_for_in_a_file_with_its_symbols() {
        // The full symbol table says what is linked in; its .strtab here even holds the text.
        let binary = SparseBinary::with_symbols(b"\0", 64, b"\0<jemalloc>: \0");
        assert!(binary.facts().markers.is_empty());
    }

    #[test]
    fn a_huge_read_only_data_section_is_read_only_so_far() {
        let size = 200 * 1024 * 1024;
        let binary = SparseBinary::stripped(size, b"\0<jemalloc>: x\0");
        assert!(binary.facts().markers.is_empty());
        let read = binary.bytes_read.get();
        assert!(
            read <= MAX_SCANNED_BYTES + 64 * 1024,
            "read {read} bytes of a {size}-byte .rodata"
        );
    }

    #[test]
    fn finds_symbol_prefixes_in_the_dynamic_symbol_table() {
        let binary = SparseBinary::with_symbols(b"\0free\0Py_InitializeEx\0malloc\0", 1, b"\0");
        let facts = binary.facts();
        assert_eq!(facts.symbols, ["Py_Initialize"]);
        assert!(facts.has_symbol(&["Py_Initialize", "Py_BytesMain"]));
        assert!(!facts.has_symbol(&["mallctl"]));
        assert_eq!(facts.go, None);
    }

    #[test]
    fn a_prefix_must_begin_a_name() {
        let binary = SparseBinary::with_symbols(b"\0my_mallctl\0x_rjem_malloc\0", 1, b"\0");
        assert!(binary.facts().symbols.is_empty());
    }

    #[test]
    fn names_split_between_pieces_are_found() {
        // `_rjem_malloc` straddles the first 64 KiB piece of the full string table.
        let mut tail = vec![0u8; 106];
        tail[..13].copy_from_slice(b"\0_rjem_malloc");
        let size = SCAN_CHUNK_BYTES as u64 + 100; // the name starts 6 bytes before the piece ends
        let binary = SparseBinary::with_symbols(b"\0", size, &tail);
        assert_eq!(binary.facts().symbols, ["_rjem_"]);
    }

    #[test]
    fn a_huge_string_table_is_read_only_so_far() {
        // 200 MB of names, `mallctl` at the very end: past the limit, so not seen.
        let size = 200 * 1024 * 1024;
        let binary = SparseBinary::with_symbols(b"\0", size, b"\0mallctl\0");
        assert!(binary.facts().symbols.is_empty());
        let read = binary.bytes_read.get();
        assert!(
            read <= MAX_SCANNED_BYTES + 64 * 1024,
            "read {read} bytes of a {size}-byte string table"
        );
    }

    impl ReadAt for SparseBinary {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let length = (buf.len() as u64).min(SPARSE_SIZE.saturating_sub(offset)) as usize;
            buf[..length].fill(0);
            for (start, bytes) in &self.pieces {
                let end = start + bytes.len() as u64;
                let (from, to) = (offset.max(*start), (offset + length as u64).min(end));
                if from < to {
                    let (from, to) = ((from - start) as usize, (to - start) as usize);
                    let at = (start + from as u64 - offset) as usize;
                    buf[at..at + (to - from)].copy_from_slice(&bytes[from..to]);
                }
            }
            self.bytes_read.set(self.bytes_read.get() + length as u64);
            Ok(length)
        }
    }

    #[test]
    fn reads_only_the_headers_of_a_large_binary() {
        let binary = SparseBinary::go("go1.25.4");
        let info = go_build_info(&binary).unwrap().expect("a Go binary");
        assert_eq!(info.version.as_deref(), Some("go1.25.4"));
        let read = binary.bytes_read.get();
        assert!(
            read < 4096,
            "read {read} bytes of a {SPARSE_SIZE}-byte binary"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_c_binary_is_not_go() {
        let me = File::open("/bin/sh").expect("/bin/sh exists on Linux");
        assert_eq!(go_build_info(&me).unwrap(), None);
    }

    #[test]
    fn non_elf_files_are_not_go() {
        use std::io::Write;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(go_build_info(&file).unwrap(), None);
    }
}
