//! The finished analysis: owned numbers in bytes, names as the raw bytes the kernel printed, and
//! typed identities (sections, categories, runtimes) whose stable keys JSON, Prometheus and diffs
//! use. Renderers only format it; nothing here is escaped or rounded.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::path::PathBuf;
use std::sync::Arc;

use crate::classify::CategoryDef;
use crate::smaps::{Fields, Perms};

/// Memory amounts in bytes, for one region, one category, one section or the whole process.
///
/// Adding saturates at `u64::MAX` and subtracting at 0, field by field, so arithmetic on
/// amounts never panics; real amounts are far from either bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Amounts {
    /// Virtual size of the mappings.
    pub size: u64,
    /// Resident set: pages in RAM (excludes swap and hugetlb pages).
    pub rss: u64,
    /// Proportional set: resident pages, shared pages divided among their sharers.
    pub pss: u64,
    /// Resident pages only this process maps (Private_Clean + Private_Dirty): USS.
    pub private: u64,
    /// Resident pages other processes map too (Shared_Clean + Shared_Dirty).
    pub shared: u64,
    /// Pages swapped out.
    pub swap: u64,
    /// Swapped-out pages, shared ones divided among their sharers.
    pub swap_pss: u64,
    /// hugetlbfs pages (Shared_Hugetlb + Private_Hugetlb), not part of RSS.
    pub hugetlb: u64,
}

impl Amounts {
    /// The amounts of one smaps record (its fields are in kB).
    pub fn of_fields(fields: &Fields) -> Amounts {
        let bytes = |kb: u64| kb.saturating_mul(1024);
        Amounts {
            size: bytes(fields.size),
            rss: bytes(fields.rss),
            pss: bytes(fields.pss),
            private: bytes(fields.private()),
            shared: bytes(fields.shared()),
            swap: bytes(fields.swap),
            swap_pss: bytes(fields.swap_pss),
            hugetlb: bytes(fields.hugetlb()),
        }
    }

    /// The amounts in their declared order (size, rss, pss, private, shared, swap, swap_pss,
    /// hugetlb): the order of the names in [`crate::render`]'s JSON keys.
    pub(crate) fn to_array(self) -> [u64; 8] {
        [
            self.size,
            self.rss,
            self.pss,
            self.private,
            self.shared,
            self.swap,
            self.swap_pss,
            self.hugetlb,
        ]
    }

    /// The inverse of [`Amounts::to_array`].
    pub(crate) fn from_array(
        [size, rss, pss, private, shared, swap, swap_pss, hugetlb]: [u64; 8],
    ) -> Amounts {
        Amounts {
            size,
            rss,
            pss,
            private,
            shared,
            swap,
            swap_pss,
            hugetlb,
        }
    }

    fn combine(self, other: Amounts, op: fn(u64, u64) -> u64) -> Amounts {
        Amounts {
            size: op(self.size, other.size),
            rss: op(self.rss, other.rss),
            pss: op(self.pss, other.pss),
            private: op(self.private, other.private),
            shared: op(self.shared, other.shared),
            swap: op(self.swap, other.swap),
            swap_pss: op(self.swap_pss, other.swap_pss),
            hugetlb: op(self.hugetlb, other.hugetlb),
        }
    }
}

impl Add for Amounts {
    type Output = Amounts;
    fn add(self, other: Amounts) -> Amounts {
        self.combine(other, u64::saturating_add)
    }
}

impl AddAssign for Amounts {
    fn add_assign(&mut self, other: Amounts) {
        *self = *self + other;
    }
}

impl Sub for Amounts {
    type Output = Amounts;
    fn sub(self, other: Amounts) -> Amounts {
        self.combine(other, u64::saturating_sub)
    }
}

impl SubAssign for Amounts {
    fn sub_assign(&mut self, other: Amounts) {
        *self = *self - other;
    }
}

impl Sum for Amounts {
    fn sum<I: Iterator<Item = Amounts>>(iter: I) -> Amounts {
        iter.fold(Amounts::default(), Add::add)
    }
}

impl<'a> Sum<&'a Amounts> for Amounts {
    fn sum<I: Iterator<Item = &'a Amounts>>(iter: I) -> Amounts {
        iter.copied().sum()
    }
}

/// The output's sections, in the order they are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SectionId {
    /// The runtime's and the C allocator's memory: heaps, stacks, metadata.
    Runtime,
    /// Anonymous memory the program named itself (`[anon:NAME]`).
    Named,
    /// Mapped files: the executable, shared libraries, other files.
    FileBacked,
    /// memfd, SysV, POSIX and shared anonymous memory.
    SharedMemory,
    /// Unnamed anonymous memory no rule explained.
    Anonymous,
    /// Kernel-provided pages, devices, huge pages, anything else.
    Other,
}

impl SectionId {
    /// Every section, in the order they are shown.
    pub const ALL: [SectionId; 6] = [
        SectionId::Runtime,
        SectionId::Named,
        SectionId::FileBacked,
        SectionId::SharedMemory,
        SectionId::Anonymous,
        SectionId::Other,
    ];

    /// The stable key used by JSON and Prometheus (`runtime`, `named`, …).
    pub fn key(self) -> &'static str {
        match self {
            SectionId::Runtime => "runtime",
            SectionId::Named => "named",
            SectionId::FileBacked => "file",
            SectionId::SharedMemory => "shared",
            SectionId::Anonymous => "anonymous",
            SectionId::Other => "other",
        }
    }

    /// The section with this key.
    pub fn from_key(key: &str) -> Option<SectionId> {
        SectionId::ALL
            .into_iter()
            .find(|section| section.key() == key)
    }
}

/// The identity of a category, stable across runs and versions: what JSON's `id`, Prometheus's
/// `category` label and diffs go by. A category the rules define has a fixed key such as
/// `go.heap`; a group of regions the program named itself has `named:` and its name with runs of
/// digits folded to `*` (`named:TNC-*`), escaped so that different names never share a key.
#[derive(Clone)]
pub struct CategoryId(Repr);

#[derive(Clone)]
enum Repr {
    Known(&'static CategoryDef),
    /// The folded name, raw bytes.
    Named(Arc<[u8]>),
}

const NAMED_PREFIX: &str = "named:";

impl CategoryId {
    pub(crate) fn known(def: &'static CategoryDef) -> CategoryId {
        CategoryId(Repr::Known(def))
    }

    pub(crate) fn named(folded: Arc<[u8]>) -> CategoryId {
        CategoryId(Repr::Named(folded))
    }

    pub(crate) fn def(&self) -> Option<&'static CategoryDef> {
        match self.0 {
            Repr::Known(def) => Some(def),
            Repr::Named(_) => None,
        }
    }

    /// The stable key, e.g. `go.heap` or `named:TNC-*`.
    pub fn key(&self) -> Cow<'static, str> {
        match &self.0 {
            Repr::Known(def) => Cow::Borrowed(def.key),
            Repr::Named(folded) => Cow::Owned(format!(
                "{NAMED_PREFIX}{}",
                crate::render::escape::injective(folded)
            )),
        }
    }

    /// The category with this key, if it is one the rules define or a named group's key.
    pub fn from_key(key: &str) -> Option<CategoryId> {
        match key.strip_prefix(NAMED_PREFIX) {
            Some(escaped) => crate::render::escape::from_injective(escaped)
                .map(|folded| CategoryId::named(folded.into())),
            None => crate::runtime::category_by_key(key).map(CategoryId::known),
        }
    }

    /// The section the category is shown in.
    pub fn section(&self) -> SectionId {
        match &self.0 {
            Repr::Known(def) => def.section,
            Repr::Named(_) => SectionId::Named,
        }
    }

    /// For a named group: its name with runs of digits folded to `*`, raw bytes.
    pub fn named_key(&self) -> Option<&[u8]> {
        match &self.0 {
            Repr::Known(_) => None,
            Repr::Named(folded) => Some(folded),
        }
    }
}

impl PartialEq for CategoryId {
    fn eq(&self, other: &CategoryId) -> bool {
        match (&self.0, &other.0) {
            (Repr::Known(a), Repr::Known(b)) => a.key == b.key,
            (Repr::Named(a), Repr::Named(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for CategoryId {}

impl Hash for CategoryId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Repr::Known(def) => (0u8, def.key).hash(state),
            Repr::Named(folded) => (1u8, &**folded).hash(state),
        }
    }
}

impl fmt::Debug for CategoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CategoryId({})", self.key())
    }
}

impl fmt::Display for CategoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// A runtime or allocator memanalyzer knows (`go`, `glibc`, …).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuntimeId(&'static str);

impl RuntimeId {
    pub(crate) const fn new(key: &'static str) -> RuntimeId {
        RuntimeId(key)
    }

    /// The stable key, e.g. `go`.
    pub fn key(self) -> &'static str {
        self.0
    }

    /// The name people know it by, e.g. `Go`.
    pub fn name(self) -> &'static str {
        crate::runtime::def(self).name
    }
}

impl fmt::Debug for RuntimeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RuntimeId({})", self.0)
    }
}

impl fmt::Display for RuntimeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// How something was learned: from names, from the layout of the regions, or from the
/// executable file or the runtime's own data. Ordered from the most certain to the least.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Evidence {
    /// The kernel or the runtime named the memory (`[heap]`, `[anon: Go: heap]`, a file path).
    Name,
    /// The executable file says so (e.g. Go's build information).
    Executable,
    /// The runtime's own accounting says so (e.g. the JVM's hsperfdata, Go's MemStats).
    Runtime,
    /// Inferred from sizes, alignment, neighbours and permissions: a heuristic.
    Layout,
}

impl Evidence {
    /// The stable key used by JSON (`name`, `executable`, `layout`, `runtime`).
    pub fn key(self) -> &'static str {
        match self {
            Evidence::Name => "name",
            Evidence::Executable => "executable",
            Evidence::Layout => "layout",
            Evidence::Runtime => "runtime",
        }
    }
}

/// A runtime found in the process, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectedRuntime {
    /// Which runtime.
    pub id: RuntimeId,
    /// Its version, when the executable says (e.g. `go1.22.3`).
    pub version: Option<String>,
    /// What gave it away.
    pub evidence: Evidence,
}

/// Where the smaps text came from and what is known about the process. Names are raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The process, for a live analysis.
    pub pid: Option<i32>,
    /// `/proc/<pid>/smaps`, the file's path, or `-` for standard input.
    pub path: PathBuf,
    /// The executable's path (from `/proc/<pid>/exe`, or guessed from the regions of a file).
    pub exe: Option<Vec<u8>>,
    /// The process's name from `/proc/<pid>/comm`.
    pub comm: Option<Vec<u8>>,
}

/// One category of one section: e.g. the Go heap, or the regions named `TNC-*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryReport {
    /// Stable identity.
    pub id: CategoryId,
    /// What people read, raw bytes: a fixed label (`Heap`), a named group's name (the one name
    /// all its regions share, else the folded key), or `<executable> Binary`.
    pub label: Vec<u8>,
    /// Number of regions in the category.
    pub regions: u64,
    /// Their amounts.
    pub amounts: Amounts,
    /// The weakest evidence among the rules that put regions here: [`Evidence::Layout`] as soon
    /// as one region was placed by a heuristic, so a category is never shown as more certain
    /// than its least certain region; [`Evidence::Runtime`] instead where the runtime's own
    /// accounting confirms the category's size (`go.heap` against MemStats, `-pprof`).
    pub evidence: Evidence,
    /// The part of `amounts` placed by layout rules ([`Evidence::Layout`]); zero when every
    /// region was placed by its name.
    pub inferred: Amounts,
}

impl CategoryReport {
    /// The label as shown in the breakdown: a named group of several regions, or the remainder
    /// of the names not kept, adds their count (`TNC-* (512 regions)`).
    pub fn title(&self) -> Vec<u8> {
        let mut title = self.label.clone();
        if self.id.section() == SectionId::Named && self.regions > 1 {
            title.extend_from_slice(format!(" ({} regions)", self.regions).as_bytes());
        }
        title
    }
}

/// One section of the breakdown, with its categories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionReport {
    /// Stable identity.
    pub id: SectionId,
    /// The heading: the runtime section is named after the process's runtime (`Go Runtime`).
    pub title: &'static str,
    /// The sum of its categories.
    pub subtotal: Amounts,
    /// Fixed categories in a fixed order, then named groups largest first.
    pub categories: Vec<CategoryReport>,
}

/// One region of the listing of the largest (or all) regions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionRow {
    /// First address.
    pub start: u64,
    /// Exclusive end address.
    pub end: u64,
    /// Permissions.
    pub perms: Perms,
    /// Offset into the mapped file.
    pub offset: u64,
    /// Inode of the mapped file (0 for anonymous memory).
    pub inode: u64,
    /// The name as the kernel printed it: raw bytes, to be escaped by each renderer.
    pub name: Vec<u8>,
    /// The category the region is counted in.
    pub category: CategoryId,
    /// How its category is known.
    pub evidence: Evidence,
    /// Its amounts.
    pub amounts: Amounts,
}

impl RegionRow {
    /// The section the region is counted in.
    pub fn section(&self) -> SectionId {
        self.category.section()
    }
}

/// The listed regions ([`Report::regions`]): the N largest, or every one with
/// [`Listing::All`], largest RSS first (then largest size, then lowest address).
///
/// Stored packed, because `-all` keeps every region of the process until it is sorted: one
/// 64-byte row per region (amounts in whole kB), the names end to end in one buffer (a name
/// repeated from the region before is stored once), file offsets and inodes only for the
/// regions that have them, and each category once. A million anonymous regions take 64 MB this
/// way plus their names, a third of what a `Vec` of [`RegionRow`]s takes. [`RegionList::iter`] gives each region as a [`RegionRow`].
#[derive(Clone, Default)]
pub struct RegionList {
    rows: Vec<PackedRow>,
    /// The rows' names; a row holds where its name is.
    names: Names,
    /// The rows' distinct categories with how each was known; a row holds an index here.
    categories: Vec<(CategoryId, Evidence)>,
    /// Amounts a row cannot pack (see [`PackedAmounts`]).
    spilled: Vec<Amounts>,
    /// `(offset, inode)` of the rows that have either; a row holds an index here.
    files: Vec<(u64, u64)>,
}

/// Where a [`RegionList`] keeps its rows' names.
#[derive(Clone)]
enum Names {
    /// End to end in one buffer; a row's `name_at` is where its name starts. A list built
    /// region by region (`-all`) allocates once per doubling, not once per region.
    Packed(Vec<u8>),
    /// One buffer per row, `name_at` its index: a top-N list takes over the buffers its
    /// candidates already hold, since copying them end to end would hold every name twice at
    /// the peak (twenty 60 KB names: 1.2 MB more).
    PerRow(Vec<Vec<u8>>),
}

impl Default for Names {
    fn default() -> Names {
        Names::Packed(Vec::new())
    }
}

impl Names {
    fn get(&self, row: &PackedRow) -> &[u8] {
        match self {
            Names::Packed(names) => &names[row.name_at..row.name_at + row.name_len as usize],
            Names::PerRow(names) => &names[row.name_at],
        }
    }

    /// Stores `name` for a row appended after `last`, and says where it is.
    fn push(&mut self, name: &[u8], last: Option<&PackedRow>) -> usize {
        // The region before often has the same name (a library's segments, a thread's stack
        // and guard, numbered chunks): stored once.
        if let Some(last) = last {
            if self.get(last) == name {
                return last.name_at;
            }
        }
        match self {
            Names::Packed(names) => {
                names.extend_from_slice(name);
                names.len() - name.len()
            }
            Names::PerRow(names) => {
                names.push(name.to_vec());
                names.len() - 1
            }
        }
    }

    /// Stores `name` as [`Names::push`] does, taking the buffer over where names are kept one
    /// per row (each row its own, as the list asked for).
    fn push_owned(&mut self, name: Vec<u8>, last: Option<&PackedRow>) -> usize {
        match self {
            Names::PerRow(names) => {
                names.push(name);
                names.len() - 1
            }
            Names::Packed(_) => self.push(&name, last),
        }
    }

    /// Bytes held for names.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        match self {
            Names::Packed(names) => names.len(),
            Names::PerRow(names) => names.iter().map(Vec::len).sum(),
        }
    }
}

/// One region of a [`RegionList`].
#[derive(Clone, Copy)]
struct PackedRow {
    start: u64,
    end: u64,
    name_at: usize,
    name_len: u32,
    /// Index into the list's `files`, or [`PackedRow::NO_FILE`]: offset and inode 0.
    file: u32,
    /// Index into the list's categories; while the aggregator is still adding regions, the tag
    /// it gave (see [`RegionList::push`]).
    category: u32,
    amounts: PackedAmounts,
    perms: Perms,
}

impl PackedRow {
    const NO_FILE: u32 = u32::MAX;
}

/// Size, RSS, PSS, private, shared and swap in whole kB, one `u32` each (smaps counts in kB,
/// and no field of a real region reaches 4 TiB). Amounts that do not fit, or that have SwapPss
/// or hugetlb pages (which the row has no room for), are kept whole in the list's `spilled`,
/// and `[SPILLED, low, high, …]` holds their index.
#[derive(Clone, Copy)]
struct PackedAmounts([u32; 6]);

impl PackedAmounts {
    const SPILLED: u32 = u32::MAX;

    /// The packed form, or `None` when a field is not whole kB or too large.
    fn pack(amounts: &Amounts) -> Option<PackedAmounts> {
        let kb = |bytes: u64| -> Option<u32> {
            if bytes % 1024 != 0 {
                return None;
            }
            u32::try_from(bytes / 1024)
                .ok()
                .filter(|&kb| kb != PackedAmounts::SPILLED)
        };
        if amounts.swap_pss != 0 || amounts.hugetlb != 0 {
            return None;
        }
        Some(PackedAmounts([
            kb(amounts.size)?,
            kb(amounts.rss)?,
            kb(amounts.pss)?,
            kb(amounts.private)?,
            kb(amounts.shared)?,
            kb(amounts.swap)?,
        ]))
    }

    fn spilled(index: usize) -> PackedAmounts {
        let index = index as u64;
        let mut words = [0; 6];
        words[0] = PackedAmounts::SPILLED;
        words[1] = index as u32; // the low half
        words[2] = (index >> 32) as u32;
        PackedAmounts(words)
    }

    /// `(rss, size)` of [`PackedAmounts::unpack`], what the listing is sorted by.
    fn rss_and_size(self, spilled: &[Amounts]) -> (u64, u64) {
        let [size, rss, ..] = self.0;
        if size == PackedAmounts::SPILLED {
            let amounts = self.unpack(spilled);
            return (amounts.rss, amounts.size);
        }
        (u64::from(rss) * 1024, u64::from(size) * 1024)
    }

    fn unpack(self, spilled: &[Amounts]) -> Amounts {
        let [size, rss, pss, private, shared, swap] = self.0;
        if size == PackedAmounts::SPILLED {
            let index = u64::from(rss) | u64::from(pss) << 32;
            return spilled[index as usize];
        }
        let bytes = |kb: u32| u64::from(kb) * 1024;
        Amounts {
            size: bytes(size),
            rss: bytes(rss),
            pss: bytes(pss),
            private: bytes(private),
            shared: bytes(shared),
            swap: bytes(swap),
            swap_pss: 0,
            hugetlb: 0,
        }
    }
}

/// One region of a [`RegionList`], borrowed: what renderers read, without copying the name.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RegionRef<'a> {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    pub offset: u64,
    pub inode: u64,
    pub name: &'a [u8],
    pub category: &'a CategoryId,
    /// The category's index in [`RegionList::categories`]: renderers look up what they show
    /// of it once per category.
    pub category_index: usize,
    pub evidence: Evidence,
    pub amounts: Amounts,
}

impl RegionRef<'_> {
    /// The section the region is counted in.
    pub fn section(&self) -> SectionId {
        self.category.section()
    }

    fn to_row(self) -> RegionRow {
        RegionRow {
            start: self.start,
            end: self.end,
            perms: self.perms,
            offset: self.offset,
            inode: self.inode,
            name: self.name.to_vec(),
            category: self.category.clone(),
            evidence: self.evidence,
            amounts: self.amounts,
        }
    }
}

impl RegionList {
    /// Number of regions listed.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no region is listed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The region at `index` (0 is the largest).
    pub fn get(&self, index: usize) -> Option<RegionRow> {
        self.rows.get(index).map(|row| self.view(row).to_row())
    }

    /// The regions, largest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RegionRow> + '_ {
        self.refs().map(RegionRef::to_row)
    }

    /// The regions as a `Vec`, largest first.
    pub fn to_vec(&self) -> Vec<RegionRow> {
        self.iter().collect()
    }

    /// Keeps the `len` largest regions (all of them if there are fewer).
    pub fn truncate(&mut self, len: usize) {
        self.rows.truncate(len);
    }

    /// The `len` largest regions (all of them if there are fewer), holding only their names.
    pub fn largest(&self, len: usize) -> RegionList {
        let mut list = RegionList {
            categories: self.categories.clone(),
            ..RegionList::default()
        };
        for row in self.rows.iter().take(len) {
            let name = self.name(row);
            let last = list.rows.last();
            let mut row = *row;
            row.name_at = list.names.push(name, last);
            if row.file != PackedRow::NO_FILE {
                list.files.push(self.files[row.file as usize]);
                row.file = (list.files.len() - 1) as u32;
            }
            if row.amounts.0[0] == PackedAmounts::SPILLED {
                list.spilled.push(row.amounts.unpack(&self.spilled));
                row.amounts = PackedAmounts::spilled(list.spilled.len() - 1);
            }
            list.rows.push(row);
        }
        list
    }

    /// The regions, borrowed, largest first.
    pub(crate) fn refs(&self) -> impl ExactSizeIterator<Item = RegionRef<'_>> + '_ {
        self.rows.iter().map(|row| self.view(row))
    }

    /// The distinct categories of the regions, with how each was known.
    pub(crate) fn categories(&self) -> &[(CategoryId, Evidence)] {
        &self.categories
    }

    fn name(&self, row: &PackedRow) -> &[u8] {
        self.names.get(row)
    }

    fn view<'a>(&'a self, row: &PackedRow) -> RegionRef<'a> {
        let (category, evidence) = &self.categories[row.category as usize];
        let (offset, inode) = match row.file {
            PackedRow::NO_FILE => (0, 0),
            file => self.files[file as usize],
        };
        RegionRef {
            start: row.start,
            end: row.end,
            perms: row.perms,
            offset,
            inode,
            name: self.name(row),
            category,
            category_index: row.category as usize,
            evidence: *evidence,
            amounts: row.amounts.unpack(&self.spilled),
        }
    }

    /// Adds a region whose category is not decided yet: `tag` says to the caller of
    /// [`RegionList::decide_categories`] how it was classified.
    pub(crate) fn push(&mut self, header: &crate::smaps::Header<'_>, amounts: Amounts, tag: u32) {
        let name_at = self.names.push(header.name, self.rows.last());
        self.push_row(header, amounts, tag, name_at, header.name.len());
    }

    /// An empty list whose rows will each bring their own name buffer
    /// ([`RegionList::push_owning`]).
    pub(crate) fn owning_names(rows: usize) -> RegionList {
        RegionList {
            rows: Vec::with_capacity(rows),
            names: Names::PerRow(Vec::with_capacity(rows)),
            ..RegionList::default()
        }
    }

    /// Adds the region `header` describes, named `name` (`header.name` is not read), as
    /// [`RegionList::push`] does, taking over `name` instead of copying it when the list came
    /// from [`RegionList::owning_names`].
    pub(crate) fn push_owning(
        &mut self,
        header: &crate::smaps::Header<'_>,
        name: Vec<u8>,
        amounts: Amounts,
        tag: u32,
    ) {
        let name_len = name.len();
        let name_at = self.names.push_owned(name, self.rows.last());
        self.push_row(header, amounts, tag, name_at, name_len);
    }

    fn push_row(
        &mut self,
        header: &crate::smaps::Header<'_>,
        amounts: Amounts,
        tag: u32,
        name_at: usize,
        name_len: usize,
    ) {
        let amounts = PackedAmounts::pack(&amounts).unwrap_or_else(|| {
            self.spilled.push(amounts);
            PackedAmounts::spilled(self.spilled.len() - 1)
        });
        let file = if header.offset == 0 && header.inode == 0 {
            PackedRow::NO_FILE
        } else {
            self.files.push((header.offset, header.inode));
            u32::try_from(self.files.len() - 1)
                .ok()
                .filter(|&file| file != PackedRow::NO_FILE)
                .expect("fewer than 4 billion regions: each takes a VMA, or 100 bytes of input")
        };
        let name_len = u32::try_from(name_len).expect("smaps lines are at most 64 KiB");
        self.rows.push(PackedRow {
            start: header.start,
            end: header.end,
            name_at,
            name_len,
            file,
            category: tag,
            amounts,
            perms: header.perms,
        });
    }

    /// Replaces every region's tag with `decide(tag, name)`: the index of its category in the
    /// table [`RegionList::finish`] then takes.
    pub(crate) fn decide_categories(&mut self, mut decide: impl FnMut(u32, &[u8]) -> u32) {
        let names = &self.names;
        for row in &mut self.rows {
            row.category = decide(row.category, names.get(row));
        }
    }

    /// Takes the table of categories the regions' indices point into, and sorts the regions
    /// largest first.
    pub(crate) fn finish(&mut self, categories: Vec<(CategoryId, Evidence)>) {
        assert!(
            self.rows
                .iter()
                .all(|row| (row.category as usize) < categories.len()),
            "every region's category is in the table"
        );
        self.categories = categories;
        let spilled = &self.spilled;
        // Larger RSS first, then larger size, then lower address: a total order (no two
        // regions listed start at one address), so output is stable.
        // In place: a sort by cached keys costs 32 bytes more per region at the peak.
        self.rows.sort_unstable_by_key(|row| {
            let (rss, size) = row.amounts.rss_and_size(spilled);
            (std::cmp::Reverse(rss), std::cmp::Reverse(size), row.start)
        });
        if let Names::Packed(names) = &mut self.names {
            names.shrink_to_fit();
        }
    }
}

impl<'a> IntoIterator for &'a RegionList {
    type Item = RegionRow;
    type IntoIter = Box<dyn ExactSizeIterator<Item = RegionRow> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl FromIterator<RegionRow> for RegionList {
    /// A list of these regions in this order (which should be largest first).
    fn from_iter<I: IntoIterator<Item = RegionRow>>(rows: I) -> RegionList {
        let mut list = RegionList::default();
        let mut index: HashMap<(CategoryId, Evidence), u32> = HashMap::new();
        for row in rows {
            let next = list.categories.len() as u32;
            let category = *index
                .entry((row.category.clone(), row.evidence))
                .or_insert_with(|| {
                    list.categories.push((row.category.clone(), row.evidence));
                    next
                });
            let header = crate::smaps::Header {
                start: row.start,
                end: row.end,
                perms: row.perms,
                offset: row.offset,
                dev_major: 0,
                dev_minor: 0,
                inode: row.inode,
                name: &row.name,
            };
            list.push(&header, row.amounts, category);
        }
        list
    }
}

impl PartialEq for RegionList {
    fn eq(&self, other: &RegionList) -> bool {
        self.len() == other.len()
            && self.refs().zip(other.refs()).all(|(a, b)| {
                (
                    a.start, a.end, a.perms, a.offset, a.inode, a.name, a.category,
                ) == (
                    b.start, b.end, b.perms, b.offset, b.inode, b.name, b.category,
                ) && (a.evidence, a.amounts) == (b.evidence, b.amounts)
            })
    }
}

impl Eq for RegionList {}

impl fmt::Debug for RegionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.refs()).finish()
    }
}

/// Regions that are the same thing — one category, one name, permissions, file offset and inode
/// — with their count and sums: what a diff matches between two snapshots, since addresses
/// change from run to run. All of a process's unnamed thread stacks are one group, so a thread
/// leak shows as a count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionGroup {
    /// The category its regions are counted in.
    pub category: CategoryId,
    /// Permissions.
    pub perms: Perms,
    /// Offset into the mapped file; 0 for memory without a file.
    pub offset: u64,
    /// Inode of the mapped file (0 for anonymous memory).
    pub inode: u64,
    /// The name as the kernel printed it, raw bytes; in a bracketed name (`[anon:TNC-7]`) runs
    /// of digits are folded to `*`, so numbered chunks and thread ids are one group.
    pub name: Vec<u8>,
    /// `true` for the regions of the category beyond the number of groups kept (see
    /// [`Report::groups`]); such a group's identity fields are empty.
    pub rest: bool,
    /// Number of regions.
    pub regions: u64,
    /// Their amounts.
    pub amounts: Amounts,
}

/// Which regions the listing holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// The N largest by RSS.
    Top(usize),
    /// Every region, largest first.
    All,
}

impl Default for Listing {
    /// The 20 largest, as the original tool showed.
    fn default() -> Listing {
        Listing::Top(20)
    }
}

/// Something about the input the user should know, though the analysis is whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// The parser tolerated something in the text.
    Input(crate::smaps::Warning),
    /// Records whose address range overlaps or precedes one already counted were left out, so
    /// that no memory is counted twice: the mappings changed while smaps was being read (it is
    /// read in pieces, and the process runs on between them), or the text joins several
    /// captures. The figures are a moving picture rather than one moment's snapshot.
    Overlapping {
        /// Records left out.
        records: u64,
        /// Line of the first one.
        first_line: u64,
    },
    /// The process's main thread has exited while other threads run on: the kernel shows no
    /// memory through the main thread, so it was read through a live one.
    ReadThroughThread {
        /// The process.
        pid: i32,
        /// The thread whose view was read.
        tid: i32,
    },
    /// The kernel refused to let memanalyzer read the runtime's own headers in the process's
    /// memory (CPython's pool headers; see [`crate::Options::no_memory_reads`]): its arenas are
    /// placed by their layout alone.
    MemoryReadsRefused {
        /// The process.
        pid: i32,
    },
}

impl Warning {
    /// A stable id for machines (JSON's `warning_details`): the input's
    /// ([`smaps::Warning::kind`](crate::smaps::Warning::kind)), `overlapping_records` or
    /// `read_through_thread` or `memory_reads_refused`.
    pub fn kind(&self) -> &'static str {
        match self {
            Warning::Input(warning) => warning.kind(),
            Warning::Overlapping { .. } => "overlapping_records",
            Warning::ReadThroughThread { .. } => "read_through_thread",
            Warning::MemoryReadsRefused { .. } => "memory_reads_refused",
        }
    }

    /// The input line the warning is about, if it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Warning::Input(warning) => warning.line(),
            Warning::Overlapping { first_line, .. } => Some(*first_line),
            Warning::ReadThroughThread { .. } | Warning::MemoryReadsRefused { .. } => None,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Input(warning) => warning.fmt(f),
            Warning::Overlapping {
                records,
                first_line,
            } => write!(
                f,
                "{records} record(s) overlap the addresses of records before them (first at line \
                 {first_line}): the mappings changed while smaps was being read, or the text joins \
                 several captures; they were left out so that nothing is counted twice, and the \
                 figures are a moving picture, not one moment's snapshot"
            ),
            Warning::ReadThroughThread { pid, tid } => write!(
                f,
                "the main thread of process {pid} has exited while its other threads run on \
                 (the kernel then shows no memory through /proc/{pid}/smaps); the memory was read \
                 through thread {tid} (/proc/{pid}/task/{tid}/smaps)"
            ),
            Warning::MemoryReadsRefused { pid } => write!(
                f,
                "the kernel refused to let memanalyzer read the headers of CPython's memory \
                 pools in process {pid} (process_vm_readv needs the right to trace it: \
                 CAP_SYS_PTRACE where Yama's ptrace_scope is 1, or a security policy refused \
                 it); its arenas are placed by their layout alone (marked *), and arenas the \
                 kernel merged with other memory count as large blocks (-no-memory-reads \
                 does without the reads and this warning)"
            ),
        }
    }
}

/// The memory no rule could attribute to a runtime, a name or a file: what is still in the
/// generic categories, i.e. the whole Anonymous Memory section (unnamed anonymous memory by its
/// permissions, and large blocks that may be malloc'd or mapped by the program) and
/// Other / Unrecognized (names no rule knows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unexplained {
    /// Sums over those categories.
    pub amounts: Amounts,
    /// The share of RSS is at least [`Unexplained::LARGE_PERCENT`]: worth a next step.
    pub large: bool,
    /// When `large`: what to run to learn more, for the runtime named in `next_step_for`.
    pub next_step: Option<&'static str>,
    /// The runtime whose tool `next_step` names; `None` for the generic advice.
    pub next_step_for: Option<RuntimeId>,
    /// For a live analysis on Linux: whether the running kernel can name anonymous mappings
    /// (`CONFIG_ANON_VMA_NAME`, checked on a scratch mapping of memanalyzer's own). Without it
    /// neither runtimes nor the program can name their memory. `None` when not checked (a
    /// saved file, or another system).
    pub kernel_names_mappings: Option<bool>,
}

impl Unexplained {
    /// From this share of RSS (in percent) on, the unexplained memory is called large and a
    /// next step is given.
    pub const LARGE_PERCENT: u64 = 25;

    /// The share of `total_rss` (0.0 to 1.0; 0.0 when the process has no RSS).
    pub fn share(&self, total_rss: u64) -> f64 {
        if total_rss == 0 {
            0.0
        } else {
            self.amounts.rss as f64 / total_rss as f64
        }
    }
}

/// The analysis of one process or smaps capture.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Where the text came from.
    pub source: Source,
    /// The runtimes found, in the order memanalyzer knows them.
    pub runtimes: Vec<DetectedRuntime>,
    /// Sums over every region.
    pub totals: Amounts,
    /// Number of regions.
    pub region_count: u64,
    /// The breakdown: every region is in exactly one category of one section.
    pub sections: Vec<SectionReport>,
    /// What is still in generic categories, and what to do about it.
    pub unexplained: Unexplained,
    /// Which regions `regions` holds.
    pub listing: Listing,
    /// Largest RSS first (then largest size, then lowest address).
    pub regions: RegionList,
    /// Things tolerated in the input that the user should know about.
    pub warnings: Vec<Warning>,
    /// Time taken to read and analyze.
    pub duration: std::time::Duration,
    /// The container view of the process's cgroup, when asked for ([`crate::read_container`]).
    pub container: Option<crate::container::Container>,
    /// What the runtime's own accounting says (the JVM's PerfData), where it can be read
    /// without attaching.
    pub accounting: Vec<crate::reconcile::Accounting>,
    /// Every region in a group of its kind, largest RSS first (at most a few thousand groups;
    /// identities beyond that are one `rest` group per category), for diffs; `None` unless
    /// [`crate::Options::region_groups`] asked for them.
    pub groups: Option<Vec<RegionGroup>>,
}

impl Report {
    /// The language runtime the process runs on (`Go`), if one was found; `None` for native code.
    pub fn primary_runtime(&self) -> Option<&DetectedRuntime> {
        self.runtimes
            .iter()
            .find(|runtime| crate::runtime::def(runtime.id).is_language())
    }

    /// The section with this id, if any region is in it.
    pub fn section(&self, id: SectionId) -> Option<&SectionReport> {
        self.sections.iter().find(|section| section.id == id)
    }

    /// Every category of every section.
    pub fn categories(&self) -> impl Iterator<Item = &CategoryReport> {
        self.sections
            .iter()
            .flat_map(|section| section.categories.iter())
    }

    /// The category with this key (`go.heap`, `named:TNC-*`), if any region is in it.
    pub fn category(&self, key: &str) -> Option<&CategoryReport> {
        self.categories().find(|category| category.id.key() == key)
    }

    /// The group of regions the program named `name` (`[anon:NAME]`), as the original tool's
    /// `NamedRegions["TXMetaCache"]`. Names differing only in their numbers are one group, so
    /// `TNC-0` finds the group of `TNC-0`, `TNC-1`, …. `None` also for a name counted in the
    /// remainder (`named.other`), which a process with more distinct names than are kept has.
    pub fn named_group(&self, name: &str) -> Option<&CategoryReport> {
        let folded = crate::classify::fold_digits(name.as_bytes());
        self.section(SectionId::Named)?
            .categories
            .iter()
            .find(|category| category.id.named_key() == Some(&folded[..]))
    }

    /// Everything mapped from files: the executable, libraries and other files.
    pub fn file_backed(&self) -> Amounts {
        self.section(SectionId::FileBacked)
            .map(|section| section.subtotal)
            .unwrap_or_default()
    }

    /// The breakdown and totals as the text output shows them, as the original tool's
    /// `FormatBreakdown()`.
    pub fn breakdown_text(&self) -> String {
        crate::render::text::breakdown(self)
    }

    /// The listing of the `count` largest regions (at most those the report holds), as the
    /// original tool's `FormatTopRegions(n)`.
    pub fn top_regions_text(&self, count: usize) -> String {
        crate::render::text::top_regions(self, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(base: u64) -> Amounts {
        Amounts {
            size: base,
            rss: base + 1,
            pss: base + 2,
            private: base + 3,
            shared: base + 4,
            swap: base + 5,
            swap_pss: base + 6,
            hugetlb: base + 7,
        }
    }

    #[test]
    fn amounts_add_subtract_and_sum_field_by_field() {
        let (a, b) = (amounts(10), amounts(100));
        let sum = a + b;
        assert_eq!(
            sum,
            Amounts {
                size: 110,
                rss: 112,
                pss: 114,
                private: 116,
                shared: 118,
                swap: 120,
                swap_pss: 122,
                hugetlb: 124,
            }
        );
        assert_eq!(sum - b, a);
        assert_eq!(a - b, Amounts::default(), "subtraction stops at zero");
        let mut total = Amounts::default();
        total += a;
        total += b;
        assert_eq!(total, sum);
        total -= b;
        assert_eq!(total, a);
        assert_eq!([a, b].iter().sum::<Amounts>(), sum);
        assert_eq!(vec![a, b].into_iter().sum::<Amounts>(), sum);
        let max = Amounts {
            rss: u64::MAX,
            ..Amounts::default()
        };
        assert_eq!((max + max).rss, u64::MAX, "addition saturates");
    }

    #[test]
    fn reports_and_errors_cross_threads() {
        // A service renders its report on another thread (an HTTP handler, a metrics task).
        fn crosses_threads<T: Send + Sync + 'static>() {}
        crosses_threads::<Report>();
        crosses_threads::<crate::Error>();
        crosses_threads::<crate::ps::ProcessList>();
    }

    #[test]
    fn region_lists_give_back_the_rows_they_were_made_of() {
        let row = |start: u64, name: &[u8], amounts: Amounts| RegionRow {
            start,
            end: start + 0x1000,
            perms: Perms::parse(b"rw-p").unwrap(),
            offset: start / 2,
            inode: start / 3,
            name: name.to_vec(),
            category: CategoryId::known(&crate::classify::generic::ANON_READ_WRITE),
            evidence: Evidence::Layout,
            amounts,
        };
        let rows = vec![
            // Not whole kB, and beyond what 32 bits of kB hold: kept whole.
            row(0x1000, b"[heap]", amounts(u64::MAX - 10)),
            row(0x3000, b"", amounts(5 << 40)),
            // Whole kB: packed.
            row(
                0x5000,
                b"/lib/x.so",
                Amounts {
                    rss: 8192,
                    size: 4096,
                    ..Amounts::default()
                },
            ),
            row(0x7000, b"\xff\x1b", Amounts::default()),
            // Whole kB but with hugetlb pages: kept whole. The same name as the row before.
            row(
                0x9000,
                b"\xff\x1b",
                Amounts {
                    hugetlb: 2048,
                    ..Amounts::default()
                },
            ),
        ];
        let list: RegionList = rows.iter().cloned().collect();
        assert_eq!(list.len(), 5);
        assert_eq!(
            list.names.bytes(),
            b"[heap]/lib/x.so\xff\x1b".len(),
            "names once"
        );
        assert_eq!(list.spilled.len(), 3);
        assert_eq!(std::mem::size_of::<PackedRow>(), 64);
        assert_eq!(list.to_vec(), rows);
        assert_eq!(list.get(2), Some(rows[2].clone()));
        assert_eq!(list.get(5), None);
        assert_eq!((&list).into_iter().count(), 5);
        let largest = list.largest(3);
        assert_eq!(largest.to_vec(), rows[..3]);
        assert_eq!(
            largest.names.bytes(),
            b"[heap]/lib/x.so".len(),
            "only their names"
        );
        let mut truncated = list.clone();
        truncated.truncate(3);
        assert_eq!(truncated, largest);
        assert_ne!(truncated, list);
    }

    #[test]
    fn section_keys_round_trip() {
        for section in SectionId::ALL {
            assert_eq!(SectionId::from_key(section.key()), Some(section));
        }
    }
}
