//! The zero-copy parser (`memanalyzer::smaps::parse_bytes`) against a deliberately simple
//! reference parser written here, region by region, on every fixture that parses and on
//! generated valid smaps: odd names, odd column widths, hex in either case, both field orders,
//! optional fields missing. The streaming parser (`parse_reader`, fed in small pieces) must
//! agree as well.
//!
//! The reference does the obvious thing and nothing more: split lines; a line whose first word
//! ends in `:` is a field, any other line a header; a header is the first 5 space-separated
//! fields, then the rest after skipping spaces is the name; a field is `Key: value [kB]`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use memanalyzer::smaps::{parse_bytes, parse_reader, FieldKey, Fields, Region, StreamError};
use proptest::prelude::*;

use crate::support::files::{fixtures_dir, CAPTURES};
use crate::support::readers::Pieces;
use crate::support::smaps::ORDER_6_18;

// ---------------------------------------------------------------------------------------------
// The reference parser
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct RefRegion {
    start: u64,
    end: u64,
    perms: String,
    offset: u64,
    dev_major: u32,
    dev_minor: u32,
    inode: u64,
    name: Vec<u8>,
    fields: HashMap<String, u64>,
    vm_flags: Option<Vec<u8>>,
    line: u64,
}

/// Splits off the text up to the first space, and skips the spaces after it.
fn next_word(rest: &[u8]) -> (&[u8], &[u8]) {
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let (word, mut after) = rest.split_at(end);
    while let Some(stripped) = after.strip_prefix(b" ") {
        after = stripped;
    }
    (word, after)
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("header fields are ASCII")
}

fn hex(bytes: &[u8]) -> u64 {
    u64::from_str_radix(text(bytes), 16).expect("hex number")
}

fn reference_parse(data: &[u8]) -> Vec<RefRegion> {
    let mut regions: Vec<RefRegion> = Vec::new();
    for (index, line) in data.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let (first, rest) = next_word(line);
        if first.ends_with(b":") {
            let key = text(&first[..first.len() - 1]).to_string();
            let region = regions.last_mut().expect("a header before the fields");
            if key == "VmFlags" {
                region.vm_flags = Some(rest.to_vec());
            } else if let Some(number) = std::str::from_utf8(next_word(rest).0)
                .ok()
                .and_then(|value| value.parse::<u64>().ok())
            {
                region.fields.insert(key, number);
            }
            continue;
        }
        let (range, rest) = (first, rest);
        let (perms, rest) = next_word(rest);
        let (offset, rest) = next_word(rest);
        let (device, rest) = next_word(rest);
        let (inode, name) = next_word(rest);
        let (start, end) = text(range).split_once('-').expect("START-END");
        let (major, minor) = text(device).split_once(':').expect("MAJ:MIN");
        regions.push(RefRegion {
            start: hex(start.as_bytes()),
            end: hex(end.as_bytes()),
            perms: text(perms).to_string(),
            offset: hex(offset),
            dev_major: u32::from_str_radix(major, 16).expect("hex major"),
            dev_minor: u32::from_str_radix(minor, 16).expect("hex minor"),
            inode: text(inode).parse().expect("decimal inode"),
            name: name.to_vec(),
            fields: HashMap::new(),
            vm_flags: None,
            line: index as u64 + 1,
        });
    }
    regions
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

/// Reads one numeric field out of [`Fields`].
type Getter = fn(&Fields) -> u64;

/// Every numeric field of [`Fields`], by the key the kernel prints.
const NUMERIC: [(FieldKey, Getter); 24] = [
    (FieldKey::Size, |f| f.size),
    (FieldKey::KernelPageSize, |f| f.kernel_page_size),
    (FieldKey::MmuPageSize, |f| f.mmu_page_size),
    (FieldKey::Rss, |f| f.rss),
    (FieldKey::Pss, |f| f.pss),
    (FieldKey::PssDirty, |f| f.pss_dirty),
    (FieldKey::SharedClean, |f| f.shared_clean),
    (FieldKey::SharedDirty, |f| f.shared_dirty),
    (FieldKey::PrivateClean, |f| f.private_clean),
    (FieldKey::PrivateDirty, |f| f.private_dirty),
    (FieldKey::Referenced, |f| f.referenced),
    (FieldKey::Anonymous, |f| f.anonymous),
    (FieldKey::Ksm, |f| f.ksm),
    (FieldKey::LazyFree, |f| f.lazy_free),
    (FieldKey::AnonHugePages, |f| f.anon_huge_pages),
    (FieldKey::ShmemPmdMapped, |f| f.shmem_pmd_mapped),
    (FieldKey::FilePmdMapped, |f| f.file_pmd_mapped),
    (FieldKey::SharedHugetlb, |f| f.shared_hugetlb),
    (FieldKey::PrivateHugetlb, |f| f.private_hugetlb),
    (FieldKey::Swap, |f| f.swap),
    (FieldKey::SwapPss, |f| f.swap_pss),
    (FieldKey::Locked, |f| f.locked),
    (FieldKey::ThpEligible, |f| f.thp_eligible),
    (FieldKey::ProtectionKey, |f| f.protection_key),
];

/// What the real parser reported for one region, owned.
#[derive(Debug, Clone)]
struct Parsed {
    start: u64,
    end: u64,
    perms: String,
    offset: u64,
    dev_major: u32,
    dev_minor: u32,
    inode: u64,
    name: Vec<u8>,
    fields: Fields,
    vm_flags: Vec<u8>,
    line: u64,
}

impl Parsed {
    fn of(region: &Region<'_>) -> Parsed {
        let header = &region.header;
        Parsed {
            start: header.start,
            end: header.end,
            perms: header.perms.as_str().to_string(),
            offset: header.offset,
            dev_major: header.dev_major,
            dev_minor: header.dev_minor,
            inode: header.inode,
            name: header.name.to_vec(),
            fields: region.fields,
            vm_flags: region.vm_flags.to_vec(),
            line: region.line,
        }
    }
}

/// Compares the parsers on `data`, which must parse; `what` names the input in messages.
fn compare(data: &[u8], what: &str) -> Result<(), String> {
    let mut parsed = Vec::new();
    parse_bytes(data, |region| parsed.push(Parsed::of(region)))
        .map_err(|error| format!("{what}: parse_bytes rejected it: {error}"))?;
    let reference = reference_parse(data);
    if parsed.len() != reference.len() {
        return Err(format!(
            "{what}: {} regions, the reference found {}",
            parsed.len(),
            reference.len()
        ));
    }
    for (index, (got, want)) in parsed.iter().zip(&reference).enumerate() {
        let at = format!("{what}: region {index} (line {})", want.line);
        let header_got = (
            got.start,
            got.end,
            &got.perms,
            got.offset,
            got.dev_major,
            got.dev_minor,
            got.inode,
            got.line,
        );
        let header_want = (
            want.start,
            want.end,
            &want.perms,
            want.offset,
            want.dev_major,
            want.dev_minor,
            want.inode,
            want.line,
        );
        if header_got != header_want {
            return Err(format!("{at}: header {header_got:?} != {header_want:?}"));
        }
        if got.name != want.name {
            return Err(format!(
                "{at}: name {:?} != {:?}",
                String::from_utf8_lossy(&got.name),
                String::from_utf8_lossy(&want.name)
            ));
        }
        for (key, value_of) in NUMERIC {
            let want_value = want.fields.get(key.name()).copied();
            let got_value = value_of(&got.fields);
            if got_value != want_value.unwrap_or(0) {
                return Err(format!(
                    "{at}: {} = {got_value}, the reference read {want_value:?}",
                    key.name()
                ));
            }
            if got.fields.has(key) != want_value.is_some() {
                return Err(format!("{at}: {} present bit is wrong", key.name()));
            }
        }
        if got.fields.has(FieldKey::VmFlags) != want.vm_flags.is_some()
            || got.vm_flags != want.vm_flags.clone().unwrap_or_default()
        {
            return Err(format!(
                "{at}: VmFlags {:?} != {:?}",
                String::from_utf8_lossy(&got.vm_flags),
                want.vm_flags.as_deref().map(String::from_utf8_lossy)
            ));
        }
    }
    compare_streaming(data, &parsed, what)
}

/// The streaming parser, fed in pieces of a few sizes, must report the same regions.
fn compare_streaming(data: &[u8], whole: &[Parsed], what: &str) -> Result<(), String> {
    let key = |p: &Parsed| {
        (
            p.start,
            p.end,
            p.name.clone(),
            p.fields,
            p.vm_flags.clone(),
            p.line,
        )
    };
    let expected: Vec<_> = whole.iter().map(key).collect();
    for piece in [11, 128, 4096, usize::MAX] {
        let mut streamed = Vec::new();
        parse_reader(Pieces::new(data, piece), |region| {
            streamed.push(key(&Parsed::of(region)))
        })
        .map_err(|error: StreamError| {
            format!("{what}: parse_reader ({piece}-byte reads): {error}")
        })?;
        if streamed != expected {
            return Err(format!(
                "{what}: parse_reader ({piece}-byte reads) differs from parse_bytes"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Every fixture
// ---------------------------------------------------------------------------------------------

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable fixtures directory") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn every_fixture_that_parses_matches_the_reference() {
    let root = fixtures_dir();
    let mut files = Vec::new();
    files_under(&root, &mut files);
    files.sort();
    let mut compared = Vec::new();
    for path in &files {
        let data = fs::read(path).expect("readable fixture");
        let what = path.strip_prefix(&root).unwrap().display().to_string();
        if parse_bytes(&data, |_| {}).is_err() {
            continue; // Not smaps (rollup, maps, garbage, …): nothing to compare.
        }
        if let Err(message) = compare(&data, &what) {
            panic!("{message}");
        }
        compared.push(what);
    }
    // The real captures and every edge file with known totals must be among them.
    for capture in CAPTURES {
        let name = format!("{capture}/smaps");
        assert!(compared.contains(&name), "{name} was not compared");
    }
    for path in &files {
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        if let Some(stem) = name.strip_suffix(".expected") {
            if stem.starts_with("edge/") {
                let smaps = format!("{stem}.smaps");
                assert!(compared.contains(&smaps), "{smaps} was not compared");
            }
        }
    }
    assert!(compared.contains(&"edge/truncated.smaps".to_string()));
}

// ---------------------------------------------------------------------------------------------
// Generated valid smaps
// ---------------------------------------------------------------------------------------------

/// Keys that older or differently configured kernels leave out of the 6.18 layout.
const OPTIONAL_6_18: [&str; 5] = [
    "Pss_Dirty",
    "KSM",
    "LazyFree",
    "THPeligible",
    "ProtectionKey",
];

/// Field order of RHEL 7 (Linux 3.10).
const ORDER_3_10: [&str; 15] = [
    "Size",
    "Rss",
    "Pss",
    "Shared_Clean",
    "Shared_Dirty",
    "Private_Clean",
    "Private_Dirty",
    "Referenced",
    "Anonymous",
    "AnonHugePages",
    "Swap",
    "KernelPageSize",
    "MMUPageSize",
    "Locked",
    "VmFlags",
];

/// A name as the kernel may print it: never starting with a space, never holding `\n` (printed
/// as the four characters `\012`), anything else possible, non-UTF-8 included.
fn name() -> impl Strategy<Value = Vec<u8>> {
    let any_bytes = prop::collection::vec(any::<u8>(), 1..40).prop_map(|mut bytes| {
        bytes.retain(|&b| b != b'\n' && b != b'\r');
        while bytes.first() == Some(&b' ') {
            bytes.remove(0);
        }
        bytes
    });
    prop_oneof![
        3 => Just(Vec::new()),
        1 => Just(b"[heap]".to_vec()),
        1 => Just(b"[vsyscall]".to_vec()),
        2 => "/[a-z]{1,8}( [a-z]{1,8}){0,3}".prop_map(String::into_bytes),
        1 => "/[a-z/]{1,20}\\.so\\.[0-9] \\(deleted\\)".prop_map(String::into_bytes),
        1 => "/tmp/[a-z]{1,5}\\\\012[a-z]{1,5}".prop_map(String::into_bytes),
        1 => "/tmp/[a-z]{1,8} {1,3}".prop_map(String::into_bytes),
        1 => "\\[anon:[ -Z^-~]{0,79}\\]".prop_map(String::into_bytes),
        1 => "\\[anon: Go: [a-z ]{1,20}\\]".prop_map(String::into_bytes),
        1 => "\\[anon_shmem:[a-z]{1,10}\\]".prop_map(String::into_bytes),
        2 => any_bytes,
    ]
}

/// A hex number printed with at least `width` digits, in upper case if `upper` (as a capture
/// that went through other tools may have it; the kernel prints lower case).
fn hex_field(value: u64, width: usize, upper: bool) -> String {
    if upper {
        format!("{value:0width$X}")
    } else {
        format!("{value:0width$x}")
    }
}

/// One record: its header and the values of the keys it prints.
#[derive(Debug, Clone)]
struct GenRecord {
    size_pages: u64,
    gap_pages: u64,
    address_width: usize,
    perms: String,
    offset: (u64, usize),
    device: (u32, u32, usize),
    inode: u64,
    name: Vec<u8>,
    /// Extra spaces before the name, beyond the one that ends the prefix.
    padding: Option<usize>,
    values: Vec<(u64, usize)>,
    vm_flags: Vec<&'static str>,
    vendor_key: bool,
}

const VM_FLAGS: [&str; 12] = [
    "rd", "wr", "ex", "sh", "mr", "mw", "me", "ms", "gd", "ac", "dw", "sd",
];

fn gen_record() -> impl Strategy<Value = GenRecord> {
    (
        (1u64..1 << 20, 0u64..1 << 20, 8usize..=16),
        "[r-][w-][x-][ps]",
        (any::<u32>().prop_map(u64::from), 8usize..=16),
        (0u32..0x1000, 0u32..0x1000, 2usize..=4),
        prop_oneof![Just(0u64), any::<u64>(), 0u64..10_000_000],
        name(),
        prop::option::of(0usize..80),
        prop::collection::vec(
            (
                prop_oneof![4 => 0u64..10_000, 1 => 0u64..1 << 40],
                0usize..20,
            ),
            ORDER_6_18.len(),
        ),
        prop::collection::vec(prop::sample::select(&VM_FLAGS[..]), 0..8),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(
                (size_pages, gap_pages, address_width),
                perms,
                offset,
                device,
                inode,
                name,
                padding,
                values,
                vm_flags,
                vendor_key,
            )| GenRecord {
                size_pages,
                gap_pages,
                address_width,
                perms,
                offset,
                device,
                inode,
                name,
                padding,
                values,
                vm_flags,
                vendor_key,
            },
        )
}

/// A whole smaps text: records in ascending address order, one field layout for the file, hex
/// in lower case (as the kernel prints it) or sometimes upper case.
fn gen_smaps() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::bool::ANY,
        prop::collection::vec(prop::bool::ANY, OPTIONAL_6_18.len()),
        0u64..1 << 36,
        prop::collection::vec(gen_record(), 1..25),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(old_layout, optional_present, first_page, records, upper)| {
                let order: Vec<&str> = if old_layout {
                    ORDER_3_10.to_vec()
                } else {
                    ORDER_6_18
                        .iter()
                        .copied()
                        .filter(|key| {
                            OPTIONAL_6_18
                                .iter()
                                .position(|optional| optional == key)
                                .is_none_or(|index| optional_present[index])
                        })
                        .collect()
                };
                let mut text = Vec::new();
                let mut page = first_page;
                for record in &records {
                    let start = (page + record.gap_pages) * 4096;
                    let end = start + record.size_pages * 4096;
                    page = end / 4096;
                    let prefix = format!(
                        "{}-{} {} {} {}:{} {} ",
                        hex_field(start, record.address_width, upper),
                        hex_field(end, record.address_width, upper),
                        record.perms,
                        hex_field(record.offset.0, record.offset.1, upper),
                        hex_field(u64::from(record.device.0), record.device.2, upper),
                        hex_field(u64::from(record.device.1), 2, upper),
                        record.inode,
                    );
                    text.extend_from_slice(prefix.as_bytes());
                    if !record.name.is_empty() {
                        // The kernel pads to column 73; `padding` tries other widths too.
                        let pad = record
                            .padding
                            .unwrap_or_else(|| 72usize.saturating_sub(prefix.len()));
                        text.extend(std::iter::repeat_n(b' ', pad));
                        text.extend_from_slice(&record.name);
                    }
                    text.push(b'\n');
                    for (index, key) in order.iter().enumerate() {
                        let (value, spaces) = record.values[index];
                        let line = match *key {
                            "VmFlags" => {
                                let mut flags = String::new();
                                for flag in &record.vm_flags {
                                    flags += flag;
                                    flags.push(' ');
                                }
                                format!("VmFlags: {flags}")
                            }
                            "THPeligible" => {
                                format!("THPeligible:{}{}", " ".repeat(spaces + 1), value % 2)
                            }
                            "ProtectionKey" => {
                                format!("ProtectionKey:{}{}", " ".repeat(spaces + 1), value % 16)
                            }
                            "Size" => format!(
                                "Size:{}{} kB",
                                " ".repeat(spaces + 1),
                                record.size_pages * 4
                            ),
                            _ => format!("{key}:{}{value} kB", " ".repeat(spaces + 1)),
                        };
                        text.extend_from_slice(line.as_bytes());
                        text.push(b'\n');
                        if record.vendor_key && index == 3 {
                            text.extend_from_slice(b"Vendor_Extra_Pages:     3 kB\n");
                        }
                    }
                }
                text
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_smaps_match_the_reference(data in gen_smaps()) {
        if let Err(message) = compare(&data, "generated") {
            return Err(TestCaseError::fail(format!(
                "{message}\n--- input ---\n{}",
                String::from_utf8_lossy(&data)
            )));
        }
    }
}

/// The reference itself, on the cases it exists for: spaces in names, a trailing space, a
/// one-space separator, an unnamed region with and without its trailing space.
#[test]
fn the_reference_reads_names_as_the_notes_describe() {
    let data = b"7f00-7f01 r--p 00000000 103:02 99                          /a b (deleted)\n\
                 Rss: 4 kB\n\
                 7f01-7f02 r--p 00000000 00:00 5 /tmp/trail \n\
                 Rss: 4 kB\n\
                 7f02-7f03 rw-p 00000000 00:00 0 \n\
                 Rss: 4 kB\n\
                 7f03-7f04 rw-p 00000000 00:00 0\n\
                 Rss: 4 kB\n";
    let regions = reference_parse(data);
    let names: Vec<&[u8]> = regions.iter().map(|r| &r.name[..]).collect();
    assert_eq!(names, [&b"/a b (deleted)"[..], b"/tmp/trail ", b"", b""]);
    assert_eq!((regions[0].dev_major, regions[0].dev_minor), (0x103, 2));
    compare(data, "names").unwrap();
}
