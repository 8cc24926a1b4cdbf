//! Go heap profiles, as `/debug/pprof/heap` serves them: the gzip'd protobuf (profile.proto,
//! decoded with prost from the message structs below, so no protoc at build time) and the
//! `?debug=1` text, whose `# runtime.MemStats` block holds the runtime's own totals. Both give
//! the live objects (`inuse_space`) and the allocation sites holding them.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

/// At most this much is inflated: a heap profile is kilobytes to a few megabytes; more is not
/// a heap profile (or a gzip bomb).
const MAX_INFLATED_BYTES: u64 = 256 << 20;

/// How many allocation sites a profile keeps, largest first: enough to name where the memory
/// went, few enough for one Prometheus series each.
pub const TOP_ALLOCATION_SITES: usize = 10;

/// Which form of `/debug/pprof/heap` the profile came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapProfileFormat {
    /// The gzip'd protobuf (the default of `/debug/pprof/heap`): no MemStats.
    Protobuf,
    /// The `?debug=1` text, with its `# runtime.MemStats` block.
    Text,
}

/// A Go heap profile: its live objects, where they were allocated, and (in the text form) the
/// runtime's MemStats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapProfile {
    /// Which form it came in.
    pub format: HeapProfileFormat,
    /// The bytes of live objects as of the last garbage collection (`inuse_space`): scaled for
    /// sampling in the protobuf form, as sampled in the text form's header line.
    pub inuse_space: u64,
    /// The allocation sites (the innermost frame of each stack: function, file and line)
    /// holding the most `inuse_space`, largest first, at most [`TOP_ALLOCATION_SITES`].
    pub sites: Vec<AllocationSite>,
    /// The runtime's own totals; only the text form has them.
    pub memstats: Option<GoMemStats>,
}

/// An allocation site: the function that allocated, where in its source, and the live memory
/// allocated there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationSite {
    /// The function's name (`main.allocateLarge`).
    pub function: String,
    /// The source file, when the profile names it.
    pub file: Option<String>,
    /// The line in `file`, when the profile has it.
    pub line: Option<u64>,
    /// Its live bytes (`inuse_space`).
    pub inuse_space: u64,
    /// Its live objects (`inuse_objects`).
    pub inuse_objects: u64,
}

/// The figures of Go's `runtime.MemStats` that split its memory, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)] // Each is the MemStats field of the same name.
pub struct GoMemStats {
    pub sys: u64,
    pub heap_alloc: u64,
    pub heap_sys: u64,
    pub heap_idle: u64,
    pub heap_inuse: u64,
    pub heap_released: u64,
    pub stack_inuse: u64,
    pub stack_sys: u64,
    pub mspan_sys: u64,
    pub mcache_sys: u64,
    pub buck_hash_sys: u64,
    pub gc_sys: u64,
    pub other_sys: u64,
}

impl GoMemStats {
    /// The runtime's own bookkeeping: GC bitmaps, spans, per-P caches, profiling buckets and
    /// the rest (GCSys + MSpanSys + MCacheSys + BuckHashSys + OtherSys).
    pub fn metadata(&self) -> u64 {
        self.gc_sys + self.mspan_sys + self.mcache_sys + self.buck_hash_sys + self.other_sys
    }
}

/// Why a heap profile could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PprofError {
    /// Nothing to read.
    Empty,
    /// Neither gzip nor the `heap profile:` text.
    NotAProfile,
    /// Gzip that ends early or is corrupt.
    BadGzip(String),
    /// Gzip holding something that is not profile.proto.
    NotProtobuf(String),
    /// A profile without an `inuse_space` sample type (a CPU or goroutine profile, …); the
    /// types it has.
    NoInuseSpace(Vec<String>),
    /// The text form, wrong on this line (1-based).
    BadText {
        /// The line.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// The text form without its `# runtime.MemStats` block, or without this field of it.
    MissingMemStat(&'static str),
}

impl fmt::Display for PprofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PprofError::Empty => f.write_str("the heap profile is empty"),
            PprofError::NotAProfile => f.write_str(
                "not a Go heap profile: neither gzip (/debug/pprof/heap) nor the text of \
                 /debug/pprof/heap?debug=1 (which starts with \"heap profile:\")",
            ),
            PprofError::BadGzip(why) => write!(
                f,
                "the gzip'd profile cannot be inflated ({why}): truncated or corrupt; fetch it \
                 again (curl -s -o heap.pb.gz http://HOST:PORT/debug/pprof/heap)"
            ),
            PprofError::NotProtobuf(why) => {
                write!(f, "gzip, but not a pprof profile (profile.proto): {why}")
            }
            PprofError::NoInuseSpace(types) => write!(
                f,
                "a profile of another kind (sample types: {}), not a heap profile: it has no \
                 inuse_space; fetch /debug/pprof/heap",
                if types.is_empty() {
                    "none".to_string()
                } else {
                    types.join(", ")
                }
            ),
            PprofError::BadText { line, why } => {
                write!(f, "line {line} of the heap profile text: {why}")
            }
            PprofError::MissingMemStat(field) => write!(
                f,
                "the heap profile text has no MemStats {field}: truncated, or not the output of \
                 /debug/pprof/heap?debug=1"
            ),
        }
    }
}

impl std::error::Error for PprofError {}

/// Reads a heap profile in either form, told apart by its first bytes.
pub fn parse_heap_profile(bytes: &[u8]) -> Result<HeapProfile, PprofError> {
    if bytes.is_empty() {
        return Err(PprofError::Empty);
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return parse_protobuf(&inflate(bytes)?);
    }
    if bytes.starts_with(b"heap profile:") {
        return parse_text(bytes);
    }
    Err(PprofError::NotAProfile)
}

fn inflate(bytes: &[u8]) -> Result<Vec<u8>, PprofError> {
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut inflated)
        .map_err(|error| PprofError::BadGzip(error.to_string()))?;
    if inflated.len() as u64 > MAX_INFLATED_BYTES {
        return Err(PprofError::NotProtobuf(format!(
            "it inflates to more than {} MiB",
            MAX_INFLATED_BYTES >> 20
        )));
    }
    Ok(inflated)
}

use crate::profile_proto as proto;

fn parse_protobuf(bytes: &[u8]) -> Result<HeapProfile, PprofError> {
    use prost::Message;
    let profile = proto::Profile::decode(bytes)
        .map_err(|error| PprofError::NotProtobuf(error.to_string()))?;
    let string = |index: i64| -> &str {
        usize::try_from(index)
            .ok()
            .and_then(|index| profile.string_table.get(index))
            .map_or("?", String::as_str)
    };
    let Some(inuse) = profile
        .sample_type
        .iter()
        .position(|value_type| string(value_type.r#type) == "inuse_space")
    else {
        return Err(PprofError::NoInuseSpace(
            profile
                .sample_type
                .iter()
                .map(|value_type| string(value_type.r#type).to_string())
                .collect(),
        ));
    };
    let objects = profile
        .sample_type
        .iter()
        .position(|value_type| string(value_type.r#type) == "inuse_objects");
    let functions: HashMap<u64, (&str, &str)> = profile
        .function
        .iter()
        .map(|function| {
            (
                function.id,
                (string(function.name), string(function.filename)),
            )
        })
        .collect();
    // A location's lines run from the innermost inlined function out: the first is the site.
    let locations: HashMap<u64, SiteKey> = profile
        .location
        .iter()
        .map(|location| {
            let key = location.line.first().map_or(UNKNOWN_SITE, |line| {
                let (function, file) = functions
                    .get(&line.function_id)
                    .copied()
                    .unwrap_or(("?", ""));
                SiteKey {
                    function,
                    file: (!file.is_empty()).then_some(file),
                    line: u64::try_from(line.line).ok().filter(|&line| line > 0),
                }
            });
            (location.id, key)
        })
        .collect();
    let value = |sample: &proto::Sample, index: usize| {
        sample
            .value
            .get(index)
            .map_or(0, |&value| u64::try_from(value).unwrap_or(0))
    };
    let mut total: u64 = 0;
    let mut sites: HashMap<SiteKey, (u64, u64)> = HashMap::new();
    for sample in &profile.sample {
        let bytes = value(sample, inuse);
        if bytes == 0 {
            continue;
        }
        total = total.saturating_add(bytes);
        let site = sample
            .location_id
            .first()
            .and_then(|id| locations.get(id).copied())
            .unwrap_or(UNKNOWN_SITE);
        let held = sites.entry(site).or_default();
        held.0 = held.0.saturating_add(bytes);
        held.1 = held
            .1
            .saturating_add(objects.map_or(0, |index| value(sample, index)));
    }
    Ok(HeapProfile {
        format: HeapProfileFormat::Protobuf,
        inuse_space: total,
        sites: top_sites(sites),
        memstats: None,
    })
}

/// Where an allocation happened, borrowed from the profile while it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SiteKey<'a> {
    function: &'a str,
    file: Option<&'a str>,
    line: Option<u64>,
}

/// A stack without frames, or a frame the profile does not resolve.
const UNKNOWN_SITE: SiteKey<'static> = SiteKey {
    function: "?",
    file: None,
    line: None,
};

/// The sites holding the most live bytes, largest first (ties by name, so the order is stable).
fn top_sites(sites: HashMap<SiteKey, (u64, u64)>) -> Vec<AllocationSite> {
    let mut sites: Vec<AllocationSite> = sites
        .into_iter()
        .map(|(site, (inuse_space, inuse_objects))| AllocationSite {
            function: site.function.to_string(),
            file: site.file.map(str::to_string),
            line: site.line,
            inuse_space,
            inuse_objects,
        })
        .collect();
    sites.sort_by(|a, b| {
        b.inuse_space
            .cmp(&a.inuse_space)
            .then_with(|| a.function.cmp(&b.function))
            .then_with(|| a.file.cmp(&b.file))
            .then_with(|| a.line.cmp(&b.line))
    });
    sites.truncate(TOP_ALLOCATION_SITES);
    sites
}

/// The text form: `heap profile: N: BYTES [N: BYTES] @ heap/RATE`, records `N: BYTES [N: BYTES]
/// @ ADDRESSES` each followed by `#\tADDRESS\tFUNCTION+OFFSET\tFILE:LINE` lines (innermost
/// first), then `# runtime.MemStats` and `# Field = value` lines.
fn parse_text(bytes: &[u8]) -> Result<HeapProfile, PprofError> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().ok_or(PprofError::Empty)?;
    let (_, inuse_space) =
        record_counts(header.trim_start_matches("heap profile:")).ok_or_else(|| {
            PprofError::BadText {
                line: 1,
                why: "expected \"heap profile: OBJECTS: BYTES [...]\"".to_string(),
            }
        })?;
    let mut sites: HashMap<SiteKey, (u64, u64)> = HashMap::new();
    // The live objects and bytes of the record whose first frame has not been read yet.
    let mut pending: Option<(u64, u64)> = None;
    let mut fields: HashMap<&str, &str> = HashMap::new();
    let mut in_memstats = false;
    for (_, line) in lines {
        if in_memstats {
            if let Some((key, value)) = line
                .strip_prefix("# ")
                .and_then(|field| field.split_once(" = "))
            {
                fields.insert(key, value);
            }
        } else if line == "# runtime.MemStats" {
            in_memstats = true;
        } else if let Some(frame) = line.strip_prefix("#\t") {
            if let Some((objects, bytes)) = pending.take() {
                let held = sites.entry(text_frame(frame)).or_default();
                held.0 = held.0.saturating_add(bytes);
                held.1 = held.1.saturating_add(objects);
            }
        } else if let Some((objects, bytes)) = record_counts(line) {
            pending = (bytes > 0).then_some((objects, bytes));
        }
    }
    let field = |name: &'static str| -> Result<u64, PprofError> {
        fields
            .get(name)
            .and_then(|value| value.trim().parse().ok())
            .ok_or(PprofError::MissingMemStat(name))
    };
    // `# Stack = StackInuse / StackSys`, likewise MSpan and MCache.
    let pair = |name: &'static str| -> Result<(u64, u64), PprofError> {
        fields
            .get(name)
            .and_then(|value| value.split_once(" / "))
            .and_then(|(inuse, sys)| Some((inuse.trim().parse().ok()?, sys.trim().parse().ok()?)))
            .ok_or(PprofError::MissingMemStat(name))
    };
    // In the order the text has them, so that a cut text names the first field missing.
    let (sys, heap_alloc, heap_sys) = (field("Sys")?, field("HeapAlloc")?, field("HeapSys")?);
    let (heap_idle, heap_inuse) = (field("HeapIdle")?, field("HeapInuse")?);
    let heap_released = field("HeapReleased")?;
    let (stack_inuse, stack_sys) = pair("Stack")?;
    let (_, mspan_sys) = pair("MSpan")?;
    let (_, mcache_sys) = pair("MCache")?;
    let memstats = GoMemStats {
        sys,
        heap_alloc,
        heap_sys,
        heap_idle,
        heap_inuse,
        heap_released,
        stack_inuse,
        stack_sys,
        mspan_sys,
        mcache_sys,
        buck_hash_sys: field("BuckHashSys")?,
        gc_sys: field("GCSys")?,
        other_sys: field("OtherSys")?,
    };
    Ok(HeapProfile {
        format: HeapProfileFormat::Text,
        inuse_space,
        sites: top_sites(sites),
        memstats: Some(memstats),
    })
}

/// The live objects and bytes of ` N: BYTES [N: BYTES] …` (a record, or the header after its
/// prefix).
fn record_counts(line: &str) -> Option<(u64, u64)> {
    let (counts, _) = line.split_once('[')?;
    let (objects, bytes) = counts.split_once(':')?;
    Some((objects.trim().parse().ok()?, bytes.trim().parse().ok()?))
}

/// A frame of the text form, `ADDRESS\tFUNCTION+OFFSET\tFILE:LINE` (after its `#\t`).
fn text_frame(frame: &str) -> SiteKey<'_> {
    let mut fields = frame.split('\t');
    let function = fields.nth(1).unwrap_or("?");
    let function = function
        .rsplit_once("+0x")
        .map_or(function, |(name, _)| name);
    // tabwriter pads with more tabs after short names: the place is the next non-empty field.
    let (file, line) = match fields.map(str::trim).find(|field| !field.is_empty()) {
        Some(place) => match place.rsplit_once(':') {
            Some((file, line)) if line.parse::<u64>().is_ok() => (Some(file), line.parse().ok()),
            _ => (Some(place).filter(|place| !place.is_empty()), None),
        },
        None => (None, None),
    };
    SiteKey {
        function,
        file,
        line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pprof");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).expect("the fixture")
    }

    #[test]
    fn text_form_has_the_header_total_and_memstats() {
        let profile = parse_heap_profile(&fixture("go1.19-heap-debug1.txt")).expect("a profile");
        assert_eq!(profile.format, HeapProfileFormat::Text);
        assert_eq!(profile.inuse_space, 89572096);
        let memstats = profile.memstats.expect("MemStats");
        assert!(memstats.heap_inuse >= memstats.heap_alloc);
        assert!(memstats.heap_sys == memstats.heap_idle + memstats.heap_inuse);
        assert_eq!(profile.sites[0].function, "main.allocateLarge");
    }

    #[test]
    fn protobuf_form_sums_inuse_space() {
        let profile = parse_heap_profile(&fixture("go1.19-heap.pb.gz")).expect("a profile");
        assert_eq!(profile.format, HeapProfileFormat::Protobuf);
        // `go tool pprof -raw go1.19-heap.pb.gz`: the inuse_space column's sum.
        assert_eq!(profile.inuse_space, 107001539);
        assert_eq!(profile.sites[0].function, "main.allocateLarge");
        assert_eq!(profile.sites[0].inuse_space, 103079214);
        assert_eq!(profile.memstats, None);
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(parse_heap_profile(b""), Err(PprofError::Empty));
        assert_eq!(
            parse_heap_profile(b"{\"json\": 1}"),
            Err(PprofError::NotAProfile)
        );
        let gzip = fixture("go1.19-heap.pb.gz");
        assert!(matches!(
            parse_heap_profile(&gzip[..gzip.len() / 2]),
            Err(PprofError::BadGzip(_))
        ));
        assert!(matches!(
            parse_heap_profile(&fixture("go1.19-goroutine.pb.gz")),
            Err(PprofError::NoInuseSpace(types)) if types == ["goroutine"]
        ));
        let text = fixture("go1.19-heap-debug1.txt");
        let cut = String::from_utf8_lossy(&text)
            .find("# HeapIdle")
            .expect("HeapIdle");
        assert_eq!(
            parse_heap_profile(&text[..cut]),
            Err(PprofError::MissingMemStat("HeapIdle"))
        );
        let mut not_proto = Vec::new();
        {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(&mut not_proto, flate2::Compression::fast());
            encoder.write_all(b"\xff\xff\xff plain text").expect("gzip");
            encoder.finish().expect("gzip");
        }
        assert!(matches!(
            parse_heap_profile(&not_proto),
            Err(PprofError::NotProtobuf(_))
        ));
    }
}
