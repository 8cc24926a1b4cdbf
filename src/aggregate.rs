//! Adds classified regions up into categories and keeps the largest regions, in memory that does
//! not grow with the number of regions (except with `-all`, which must keep every one).
//!
//! Each region is classified once the next one has arrived, because some rules look at both
//! neighbours (a malloc arena is recognised by the reservation that follows it). The region
//! waiting for its successor is copied into a buffer that is reused, so this costs no allocation.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;

use crate::classify::{
    group_key_into, is_shared_library, named_group_source, Category, Classifier, Kind, Neighbour,
    Neighbours, RuntimeFacts, Section, DELETED_SUFFIX,
};
use crate::escape::{escape_bytes, lossless_utf8};
use crate::parse::{Fields, Header, Perms, Region};
use crate::report::{
    Amounts, CategoryReport, Listing, RegionRow, Report, Runtime, SectionReport, SourceInfo,
};

/// Sums in kB, saturating so that hostile input cannot overflow them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sums {
    regions: u64,
    size: u64,
    rss: u64,
    pss: u64,
    private: u64,
    shared: u64,
    swap: u64,
    swap_pss: u64,
    hugetlb: u64,
}

impl Sums {
    fn of(fields: &Fields) -> Sums {
        Sums {
            regions: 1,
            size: fields.size,
            rss: fields.rss,
            pss: fields.pss,
            private: fields.private(),
            shared: fields.shared(),
            swap: fields.swap,
            swap_pss: fields.swap_pss,
            hugetlb: fields.hugetlb(),
        }
    }

    fn add(&mut self, other: &Sums) {
        self.combine(other, u64::saturating_add);
    }

    fn subtract(&mut self, other: &Sums) {
        self.combine(other, u64::saturating_sub);
    }

    fn combine(&mut self, other: &Sums, op: fn(u64, u64) -> u64) {
        self.regions = op(self.regions, other.regions);
        self.size = op(self.size, other.size);
        self.rss = op(self.rss, other.rss);
        self.pss = op(self.pss, other.pss);
        self.private = op(self.private, other.private);
        self.shared = op(self.shared, other.shared);
        self.swap = op(self.swap, other.swap);
        self.swap_pss = op(self.swap_pss, other.swap_pss);
        self.hugetlb = op(self.hugetlb, other.hugetlb);
    }

    fn bytes(&self) -> Amounts {
        let kib = |kb: u64| kb.saturating_mul(1024);
        Amounts {
            size: kib(self.size),
            rss: kib(self.rss),
            pss: kib(self.pss),
            private: kib(self.private),
            shared: kib(self.shared),
            swap: kib(self.swap),
            swap_pss: kib(self.swap_pss),
            hugetlb: kib(self.hugetlb),
        }
    }
}

/// Regions grouped by their `[anon:NAME]`, numbers folded (`TNC-0` … `TNC-511` → `TNC-*`).
struct NamedGroup {
    /// The name with digit runs folded to `*`.
    key: Vec<u8>,
    /// The first name seen; shown instead of the key while every member has exactly this name.
    first_name: Vec<u8>,
    uniform: bool,
    sums: Sums,
}

impl NamedGroup {
    /// The group's name: the one name all its regions share, else the folded key (`TNC-*`).
    /// Unique among groups, because groups are keyed by it.
    fn stable_name(&self) -> String {
        escape_bytes(if self.uniform {
            &self.first_name
        } else {
            &self.key
        })
    }

    /// The name shown to people, with the region count (`TNC-* (512 regions)`).
    fn label(&self) -> String {
        let name = self.stable_name();
        if self.sums.regions > 1 {
            format!("{name} ({} regions)", self.sums.regions)
        } else {
            name
        }
    }
}

/// An owned copy of a region: the one awaiting its successor, or one kept for the listing.
#[derive(Clone, Debug, Default)]
struct OwnedRegion {
    start: u64,
    end: u64,
    perms: Perms,
    name: Vec<u8>,
    sums: Sums,
}

impl OwnedRegion {
    /// Overwrites `self` with `region`, reusing the name's allocation.
    fn copy_from(&mut self, header: &Header<'_>, sums: Sums) {
        self.start = header.start;
        self.end = header.end;
        self.perms = header.perms;
        self.name.clear();
        self.name.extend_from_slice(header.name);
        self.sums = sums;
    }

    fn header(&self) -> Header<'_> {
        Header {
            start: self.start,
            end: self.end,
            perms: self.perms,
            offset: 0,
            dev_major: 0,
            dev_minor: 0,
            inode: 0,
            name: &self.name,
        }
    }
}

/// A region kept for the listing, with what it was classified as.
#[derive(Clone, Debug)]
struct KeptRegion {
    region: OwnedRegion,
    kind: Kind,
    /// Index into the named groups, for `Kind::Named`.
    group: usize,
}

/// Larger RSS first, then larger size, then lower address: a total order, so output is stable.
fn rank(sums: &Sums, start: u64) -> (u64, u64, Reverse<u64>) {
    (sums.rss, sums.size, Reverse(start))
}

impl KeptRegion {
    fn rank(&self) -> (u64, u64, Reverse<u64>) {
        rank(&self.region.sums, self.region.start)
    }
}

impl PartialEq for KeptRegion {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
    }
}
impl Eq for KeptRegion {}
impl PartialOrd for KeptRegion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for KeptRegion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

/// The regions kept for the listing: the N largest in a min-heap, or all of them.
enum Kept {
    Top {
        limit: usize,
        heap: BinaryHeap<Reverse<KeptRegion>>,
    },
    All(Vec<KeptRegion>),
}

/// Facts gathered from the regions about which runtime made them.
#[derive(Default)]
struct Evidence {
    go_names: bool,
    go_first_arena: bool,
    shared_libraries: bool,
    last_was_vsyscall: bool,
}

/// For a saved file, where `/proc/<pid>/exe` is unknown: sums per mapped path that could be the
/// executable, and the first such path mapped executable, which is taken for it.
#[derive(Default)]
struct ExecutableGuess {
    sums_by_path: HashMap<Vec<u8>, (Kind, Sums)>,
    first_executable_path: Option<Vec<u8>>,
}

/// What the caller knows about the process beyond its smaps text.
#[derive(Clone, Debug, Default)]
pub struct ProcessFacts {
    pub pid: Option<i32>,
    pub path: String,
    /// The executable's path as smaps prints it (`/proc/<pid>/exe`'s target).
    pub exe: Option<Vec<u8>>,
    pub comm: Option<String>,
    /// From the executable's ELF file: `Some(true)` for a Go binary, `None` when it could not be read.
    pub exe_is_go: Option<bool>,
    pub go_version: Option<String>,
}

/// Accumulates regions one at a time; [`Aggregator::finish`] turns them into a [`Report`].
pub struct Aggregator {
    classifier: Classifier,
    /// The region before `pending`, in address order.
    previous: Option<Neighbour>,
    /// The last region received, classified when the next one arrives (or at the end).
    pending: Option<OwnedRegion>,
    /// A spare buffer swapped with `pending`, so that copies reuse allocations.
    spare: OwnedRegion,
    totals: Sums,
    by_kind: [Sums; Kind::ALL.len()],
    groups: Vec<NamedGroup>,
    group_index: HashMap<Vec<u8>, usize>,
    /// Scratch space for group keys, reused for every named region.
    key_scratch: Vec<u8>,
    kept: Kept,
    evidence: Evidence,
    /// `None` when the executable is known.
    guess: Option<ExecutableGuess>,
}

impl Aggregator {
    pub fn new(listing: Listing, executable: Option<&[u8]>) -> Aggregator {
        let kept = match listing {
            Listing::Top(limit) => Kept::Top {
                limit,
                heap: BinaryHeap::with_capacity(limit.min(4096) + 1),
            },
            Listing::All => Kept::All(Vec::new()),
        };
        Aggregator {
            classifier: Classifier::new(executable),
            previous: None,
            pending: None,
            spare: OwnedRegion::default(),
            totals: Sums::default(),
            by_kind: [Sums::default(); Kind::ALL.len()],
            groups: Vec::new(),
            group_index: HashMap::new(),
            key_scratch: Vec::new(),
            kept,
            evidence: Evidence::default(),
            guess: executable.is_none().then(ExecutableGuess::default),
        }
    }

    /// Takes the next region in address order.
    pub fn add(&mut self, region: &Region<'_>) {
        let header = &region.header;
        let sums = Sums::of(&region.fields);
        self.totals.add(&sums);
        self.evidence.last_was_vsyscall = header.name == b"[vsyscall]";
        if let Some(pending) = self.pending.take() {
            self.classify_and_add(&pending, Some(Neighbour::of(header)));
            self.spare = pending;
        }
        let mut next = std::mem::take(&mut self.spare);
        next.copy_from(header, sums);
        self.pending = Some(next);
    }

    /// Classifies the last region; call once the input has ended.
    pub fn flush(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.classify_and_add(&pending, None);
        }
    }

    fn classify_and_add(&mut self, region: &OwnedRegion, next: Option<Neighbour>) {
        let header = region.header();
        let around = Neighbours {
            previous: self.previous,
            next,
        };
        let kind = self.classifier.classify(&header, &around);
        self.previous = Some(Neighbour::of(&header));
        self.note_evidence(kind, &header);
        self.by_kind[kind.index()].add(&region.sums);
        if let Some(guess) = &mut self.guess {
            guess.consider(kind, &header, &region.sums);
        }
        let group = if kind == Kind::Named {
            self.add_to_group(&region.name, &region.sums)
        } else {
            0
        };
        self.keep(region, kind, group);
    }

    fn note_evidence(&mut self, kind: Kind, header: &Header<'_>) {
        match kind {
            Kind::RuntimeHeap => self.evidence.go_names = true,
            Kind::RuntimeMetadata
                if header.name.starts_with(b"[anon: Go:")
                    || header.name.starts_with(b"[anon:Go:") =>
            {
                self.evidence.go_names = true;
            }
            // Go's first heap arena starts exactly at a hint address such as 0xc000000000.
            Kind::GoArena if header.start & 0xff_ffff_ffff == 0xc0_0000_0000 => {
                self.evidence.go_first_arena = true;
            }
            Kind::SharedLibrary => self.evidence.shared_libraries = true,
            Kind::DeletedFile if is_shared_library(header.name) => {
                self.evidence.shared_libraries = true;
            }
            _ => {}
        }
    }

    fn add_to_group(&mut self, name: &[u8], sums: &Sums) -> usize {
        let source = named_group_source(name).expect("Kind::Named is given only to [anon:…] names");
        group_key_into(source, &mut self.key_scratch);
        let index = match self.group_index.get(&self.key_scratch) {
            Some(&index) => index,
            None => {
                self.groups.push(NamedGroup {
                    key: self.key_scratch.clone(),
                    first_name: source.to_vec(),
                    uniform: true,
                    sums: Sums::default(),
                });
                self.group_index
                    .insert(self.key_scratch.clone(), self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[index];
        group.uniform &= group.first_name == source;
        group.sums.add(sums);
        index
    }

    fn keep(&mut self, region: &OwnedRegion, kind: Kind, group: usize) {
        match &mut self.kept {
            Kept::All(all) => all.push(KeptRegion {
                region: region.clone(),
                kind,
                group,
            }),
            Kept::Top { limit, heap } => {
                if *limit == 0 {
                    return;
                }
                if heap.len() < *limit {
                    heap.push(Reverse(KeptRegion {
                        region: region.clone(),
                        kind,
                        group,
                    }));
                    return;
                }
                let mut smallest = heap.peek_mut().expect("the heap holds `limit` > 0 regions");
                if rank(&region.sums, region.start) > smallest.0.rank() {
                    // Overwrite the evicted region in place: no allocation per region.
                    let slot = &mut smallest.0;
                    slot.region.copy_from(&region.header(), region.sums);
                    slot.kind = kind;
                    slot.group = group;
                }
            }
        }
    }

    /// Whether the last region was `[vsyscall]`, which the kernel always prints last on x86-64:
    /// proof that a live read was not cut short.
    pub fn ended_with_vsyscall(&self) -> bool {
        self.evidence.last_was_vsyscall
    }

    pub fn region_count(&self) -> u64 {
        self.totals.regions
    }

    pub fn finish(
        mut self,
        process: ProcessFacts,
        listing: Listing,
        warnings: Vec<String>,
    ) -> Report {
        self.flush();
        let facts = RuntimeFacts {
            is_go: process
                .exe_is_go
                .unwrap_or(self.evidence.go_names || self.evidence.go_first_arena),
            maps_shared_libraries: self.evidence.shared_libraries,
        };
        let exe = match process.exe.clone() {
            Some(exe) => Some(exe),
            None => self.adopt_guessed_executable(),
        };
        let binary_label = format!("{} Binary", binary_name(exe.as_deref()));
        let is_binary = |kind: Kind, name: &[u8]| {
            matches!(kind, Kind::OtherFile | Kind::DeletedFile) && exe.as_deref() == Some(name)
        };

        let label_of = |category: Category, group: usize| -> String {
            match category {
                Category::NamedGroup => self.groups[group].label(),
                Category::Binary => binary_label.clone(),
                other => other
                    .label()
                    .expect("fixed categories have labels")
                    .to_string(),
            }
        };
        let sections = self.sections(&facts, &label_of);

        let mut kept: Vec<KeptRegion> =
            match std::mem::replace(&mut self.kept, Kept::All(Vec::new())) {
                Kept::Top { heap, .. } => heap.into_iter().map(|Reverse(region)| region).collect(),
                Kept::All(all) => all,
            };
        kept.sort_unstable_by(|a, b| b.cmp(a));
        // One shared label per (category, group), not one String per region.
        let mut labels: HashMap<(Category, usize), Rc<str>> = HashMap::new();
        let regions = kept
            .into_iter()
            .map(|kept| {
                let region = kept.region;
                let kind = if is_binary(kept.kind, &region.name) {
                    Kind::Binary
                } else {
                    kept.kind
                };
                let (section, category) = kind.placement(&facts);
                let group = if category == Category::NamedGroup {
                    kept.group
                } else {
                    0
                };
                let label = labels
                    .entry((category, group))
                    .or_insert_with(|| Rc::from(label_of(category, group)))
                    .clone();
                RegionRow {
                    start: region.start,
                    end: region.end,
                    perms: region.perms,
                    section: section.title(&facts),
                    category: label,
                    name: region.name,
                    amounts: region.sums.bytes(),
                }
            })
            .collect();

        Report {
            source: SourceInfo {
                pid: process.pid,
                path: process.path,
                exe: exe.as_deref().map(lossless_utf8),
                comm: process.comm,
                runtime: if facts.is_go {
                    Runtime::Go
                } else {
                    Runtime::Native
                },
                go_version: process.go_version,
            },
            totals: self.totals.bytes(),
            region_count: self.totals.regions,
            sections,
            listing,
            regions,
            warnings,
            duration: std::time::Duration::ZERO,
        }
    }

    /// For a saved file: takes the first path mapped executable (other than a library) for the
    /// executable, and moves its sums from the file category it was counted in to the binary's.
    fn adopt_guessed_executable(&mut self) -> Option<Vec<u8>> {
        let guess = self.guess.take()?;
        let path = guess.first_executable_path?;
        let (kind, sums) = guess.sums_by_path.get(&path)?;
        self.by_kind[kind.index()].subtract(sums);
        self.by_kind[Kind::Binary.index()].add(sums);
        Some(path)
    }

    fn sections(
        &self,
        facts: &RuntimeFacts,
        label_of: &dyn Fn(Category, usize) -> String,
    ) -> Vec<SectionReport> {
        // Gather (section, category, group) → sums; several kinds can share one category.
        let mut cells: Vec<(Section, Category, usize, Sums)> = Vec::new();
        for kind in Kind::ALL {
            let sums = self.by_kind[kind.index()];
            if sums.regions == 0 || kind == Kind::Named {
                continue;
            }
            let (section, category) = kind.placement(facts);
            match cells
                .iter_mut()
                .find(|cell| cell.0 == section && cell.1 == category)
            {
                Some(cell) => cell.3.add(&sums),
                None => cells.push((section, category, 0, sums)),
            }
        }
        let (named_section, named_category) = Kind::Named.placement(facts);
        for (index, group) in self.groups.iter().enumerate() {
            cells.push((named_section, named_category, index, group.sums));
        }

        Section::ALL
            .iter()
            .filter_map(|&section| {
                let mut in_section: Vec<&(Section, Category, usize, Sums)> =
                    cells.iter().filter(|cell| cell.0 == section).collect();
                if in_section.is_empty() {
                    return None;
                }
                // Fixed categories in their declared order; named groups largest first.
                in_section.sort_by(|a, b| {
                    a.1.cmp(&b.1)
                        .then(b.3.rss.cmp(&a.3.rss))
                        .then(b.3.size.cmp(&a.3.size))
                });
                let mut subtotal = Sums::default();
                let categories = in_section
                    .iter()
                    .map(|(_, category, group, sums)| {
                        subtotal.add(sums);
                        let name = label_of(*category, *group);
                        CategoryReport {
                            label: if *category == Category::NamedGroup {
                                self.groups[*group].stable_name()
                            } else {
                                name.clone()
                            },
                            name,
                            regions: sums.regions,
                            amounts: sums.bytes(),
                        }
                    })
                    .collect();
                Some(SectionReport {
                    name: section.title(facts).to_string(),
                    subtotal: subtotal.bytes(),
                    categories,
                })
            })
            .collect()
    }
}

impl ExecutableGuess {
    fn consider(&mut self, kind: Kind, header: &Header<'_>, sums: &Sums) {
        if !matches!(kind, Kind::OtherFile | Kind::DeletedFile) || is_shared_library(header.name) {
            return;
        }
        match self.sums_by_path.get_mut(header.name) {
            Some((_, path_sums)) => path_sums.add(sums),
            None => {
                self.sums_by_path
                    .insert(header.name.to_vec(), (kind, *sums));
            }
        }
        if self.first_executable_path.is_none() && header.perms.executable() {
            self.first_executable_path = Some(header.name.to_vec());
        }
    }
}

/// The executable's file name, for the `<name> Binary` label.
fn binary_name(exe: Option<&[u8]>) -> String {
    let Some(path) = exe else {
        return "Executable".to_string();
    };
    let path = path.strip_suffix(DELETED_SUFFIX).unwrap_or(path);
    let file = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    escape_bytes(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_bytes;

    fn record(header: &str, rss_kb: u64) -> String {
        format!(
            "{header}\nSize: {size} kB\nRss: {rss_kb} kB\nPss: {rss_kb} kB\nShared_Clean: 0 kB\nShared_Dirty: 0 kB\n\
             Private_Clean: 0 kB\nPrivate_Dirty: {rss_kb} kB\nSwap: 0 kB\nSwapPss: 0 kB\nVmFlags: rd wr \n",
            size = rss_kb.max(4)
        )
    }

    fn analyze(text: &str, listing: Listing) -> Report {
        let mut aggregator = Aggregator::new(listing, None);
        parse_bytes(text.as_bytes(), |region| aggregator.add(region)).unwrap();
        aggregator.finish(ProcessFacts::default(), listing, Vec::new())
    }

    #[test]
    fn folds_numbered_chunks_into_one_group() {
        let mut text = String::new();
        for chunk in 0..512u64 {
            text += &record(
                &format!(
                    "{:x}-{:x} rw-p 00000000 00:00 0 [anon:TNC-{chunk}]",
                    0x7f0000000000 + chunk * 0x2000,
                    0x7f0000001000 + chunk * 0x2000
                ),
                4,
            );
        }
        text += &record(
            "7f1000000000-7f1000100000 rw-p 00000000 00:00 0 [anon: TXMetaCache]",
            100,
        );
        text += &record(
            "7f1000200000-7f1000300000 rw-p 00000000 00:00 0 [anon:TXMetaCache]",
            50,
        );
        let report = analyze(&text, Listing::Top(3));
        let named = report
            .sections
            .iter()
            .find(|s| s.name == "Named Memory Regions (mmap)")
            .unwrap();
        let labels: Vec<&str> = named.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(labels, ["TNC-* (512 regions)", "TXMetaCache (2 regions)"]);
        assert_eq!(named.categories[0].amounts.rss, 512 * 4 * 1024);
        assert_eq!(report.regions.len(), 3);
        assert_eq!(report.regions[0].amounts.rss, 100 * 1024);
        assert_eq!(report.regions[1].amounts.rss, 50 * 1024);
    }

    #[test]
    fn categories_add_up_to_the_totals() {
        let text = [
            record("00400000-00401000 r-xp 00000000 08:01 7 /usr/bin/app", 4),
            record(
                "55a000000000-55a000100000 rw-p 00000000 00:00 0 [heap]",
                400,
            ),
            record("7f0000000000-7f0000001000 ---p 00000000 00:00 0 ", 0),
            record("7f0000001000-7f0000801000 rw-p 00000000 00:00 0 ", 64),
            record("7f0000900000-7f0000a00000 rw-p 00000000 00:00 0 ", 32),
            record(
                "7f0000b00000-7f0000c00000 r-xp 00000000 08:01 9 /lib/libc.so.6",
                200,
            ),
            record(
                "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]",
                12,
            ),
        ]
        .concat();
        let report = analyze(&text, Listing::All);
        assert_eq!(report.source.runtime, Runtime::Native);
        let mut sum = Amounts::default();
        for section in &report.sections {
            let rss: u64 = section.categories.iter().map(|c| c.amounts.rss).sum();
            assert_eq!(rss, section.subtotal.rss, "{}", section.name);
            sum.rss += section.subtotal.rss;
            sum.size += section.subtotal.size;
        }
        assert_eq!(sum.rss, report.totals.rss);
        assert_eq!(sum.size, report.totals.size);
        assert_eq!(report.regions.len(), 7);
        let runtime = &report.sections[0];
        assert_eq!(runtime.name, "Native Runtime");
        let stack = runtime
            .categories
            .iter()
            .find(|c| c.name == "Stack")
            .unwrap();
        assert_eq!((stack.regions, stack.amounts.rss), (2, 76 * 1024));
        let file_backed = report
            .sections
            .iter()
            .find(|s| s.name == "File-Backed Memory")
            .unwrap();
        assert!(file_backed
            .categories
            .iter()
            .any(|c| c.name == "app Binary"));
    }

    #[test]
    fn a_go_arena_makes_the_process_go_and_its_unnamed_memory_metadata() {
        let text = [
            record(
                "00400000-00401000 r-xp 00000000 08:01 7 /usr/local/bin/server",
                4,
            ),
            record("c000000000-c004000000 rw-p 00000000 00:00 0 ", 2048),
            record("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 ", 300),
        ]
        .concat();
        let report = analyze(&text, Listing::Top(20));
        assert_eq!(report.source.runtime, Runtime::Go);
        let runtime = &report.sections[0];
        assert_eq!(runtime.name, "Go Runtime");
        let labels: Vec<(&str, u64)> = runtime
            .categories
            .iter()
            .map(|c| (c.name.as_str(), c.amounts.rss / 1024))
            .collect();
        assert_eq!(labels, [("Heap", 2048), ("Metadata", 300)]);
    }
}
