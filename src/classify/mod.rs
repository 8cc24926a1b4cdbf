//! Puts every region into exactly one category with one ordered table of rules, first match
//! wins. The table is assembled from the generic rules (`generic.rs`: what the kernel names,
//! files, shared memory, unnamed memory by permissions) and each runtime's own (`runtime/`),
//! ordered by [`Stage`].
//!
//! Some rules hold only if a runtime turns out to be present, which may be learned after the
//! region was seen (the Go heap is recognised at its address, Go itself perhaps only by a later
//! name). Classification therefore returns a short [`Chain`] of matching rules ending in one
//! that always holds; once the whole input has been read, [`Facts`] pick the first whose
//! condition holds. Nothing is classified twice.

pub(crate) mod generic;

pub(crate) use generic::{fold_digits, fold_digits_into, named_group_source, DELETED_SUFFIX};

use std::sync::OnceLock;

use crate::report::{Evidence, RuntimeId, SectionId};
use crate::smaps::{Header, Perms};

/// A category the rules can put regions in.
#[derive(Debug)]
pub(crate) struct CategoryDef {
    /// Stable key (`go.heap`), unique over all categories.
    pub key: &'static str,
    /// What people read.
    pub label: Label,
    /// Where it is shown.
    pub section: SectionId,
    /// One line saying what it holds, for `--help` and the README.
    #[allow(dead_code)] // read by the tests that keep the documentation complete
    pub about: &'static str,
}

/// How a category's label is made.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Label {
    /// This text.
    Fixed(&'static str),
    /// `<executable's file name> Binary`.
    Executable,
}

impl CategoryDef {
    pub(crate) const fn new(
        key: &'static str,
        label: &'static str,
        section: SectionId,
        about: &'static str,
    ) -> CategoryDef {
        CategoryDef {
            key,
            label: Label::Fixed(label),
            section,
            about,
        }
    }
}

/// Where a rule puts the regions it matches.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// This category.
    Category(&'static CategoryDef),
    /// The group of regions with the same `[anon:NAME]`, digits folded (`TNC-*`).
    NamedGroup,
}

/// What must turn out to be true, once the whole input is known, for a rule to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// The runtime is present.
    Runtime(RuntimeId),
    /// For a saved file: this region's path is the one taken for the executable.
    ChosenExecutable,
}

/// What a matching region tells about the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The runtime is present.
    Runtime(RuntimeId),
    /// The region is shaped like the runtime's memory (its conditional layout rule matched).
    /// Several such regions stand for the runtime when nothing else can say: in a saved file,
    /// where the executable cannot be read (see [`LAYOUT_HINTS_FOR_RUNTIME`]).
    LayoutHint(RuntimeId),
}

/// Regions shaped like a runtime's memory that show the runtime where nothing else can. One or
/// two are within what a program maps of its own; real captures of programs without the
/// runtime have none.
pub(crate) const LAYOUT_HINTS_FOR_RUNTIME: u32 = 3;

/// The rule table's order: rules of an earlier stage are tried first, and within a stage the
/// generic rules first, then each runtime's in the registry's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    /// Names the kernel gives (`[heap]`, `[stack]`, `[vdso]`).
    KernelName,
    /// Names a runtime gives its anonymous memory (`[anon: Go: heap]`).
    RuntimeName,
    /// Any other `[anon:NAME]`.
    OtherName,
    /// Shared memory, devices and other special files.
    Special,
    /// Files a runtime is known by (its libraries).
    RuntimeFile,
    /// Any other file.
    File,
    /// Unnamed memory, no-access reservations included, that a runtime recognises as its own
    /// by its layout before the generic reservation and stack rules look at it (the Java heap's
    /// reserved tail).
    RuntimeReservation,
    /// Unnamed no-access reservations and guards.
    Reservation,
    /// Unnamed memory a runtime is recognised in by its layout.
    RuntimeLayout,
    /// Unnamed memory recognised by its layout whatever the runtime (thread stacks).
    Layout,
    /// What is left of a runtime's unnamed memory.
    RuntimeFallback,
    /// What is left for an allocator's judgement of unnamed memory (glibc's large blocks), after
    /// every language runtime had its say: a language runtime knows its own memory better.
    AllocatorFallback,
    /// Unnamed memory by its permissions, and anything else.
    Fallback,
}

/// A test of an unnamed region's layout: its size, alignment, address and neighbours.
pub(crate) type LayoutTest = fn(&Header<'_>, &Neighbours) -> bool;

/// How a rule matches a region's name (and, for unnamed memory, its place).
#[derive(Clone, Copy, Debug)]
pub(crate) enum NameMatch {
    /// The whole name.
    Exact(&'static str),
    /// The name's beginning.
    Prefix(&'static str),
    /// The name's end (`.jsa`, `/lib/modules`), for files known by their name wherever they are.
    Suffix(&'static str),
    /// `[anon:NAME]` whose NAME, without surrounding spaces, equals this.
    AnonExact(&'static str),
    /// `[anon:NAME]` whose NAME, without leading spaces, starts with this.
    AnonPrefix(&'static str),
    /// Any `[anon:NAME]` or `[anon_shmem:NAME]`.
    AnyAnonName,
    /// A path whose file name is this library (`libc.so.6`), or a versioned form of it.
    Library(&'static str),
    /// A path, not deleted, whose file name passes the test (`python3.11`).
    FileNameWhere(FileNameTest),
    /// The path of the analyzed executable, when it is known.
    Executable,
    /// When the executable is not known (a saved file): a path that could be it.
    ExecutableCandidate,
    /// A shared library's path ending in ` (deleted)`.
    DeletedSharedLibrary,
    /// A path ending in ` (deleted)`.
    DeletedPath,
    /// A path whose file name is `*.so` or `*.so.N…`.
    SharedLibrary,
    /// Any other path.
    Path,
    /// No name, and the layout test holds (sizes, alignment, neighbours).
    UnnamedWhere(LayoutTest),
    /// No name.
    Unnamed,
    /// Anything.
    Any,
}

/// A test of a mapped file's name (without ` (deleted)`).
pub(crate) type FileNameTest = fn(&[u8]) -> bool;

/// Which permissions a rule needs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PermMatch {
    /// Any permissions.
    Any,
    /// Readable and writable, private.
    PrivateReadWrite,
    /// Executable.
    Executable,
    /// Readable.
    Readable,
    /// No access at all.
    NoAccess,
}

/// One line of a rule table.
#[derive(Debug)]
pub(crate) struct Rule {
    pub stage: Stage,
    pub name: NameMatch,
    pub perms: PermMatch,
    pub target: Target,
    /// `None`: the rule always holds when it matches.
    pub when: Option<Condition>,
    pub signals: &'static [Signal],
    pub evidence: Evidence,
}

/// A rule: in `stage`, regions whose name and permissions match go to `category`. Holds
/// unconditionally, signals nothing, known by name; the methods below change that.
pub(crate) const fn rule(
    stage: Stage,
    name: NameMatch,
    perms: PermMatch,
    category: &'static CategoryDef,
) -> Rule {
    Rule {
        stage,
        name,
        perms,
        target: Target::Category(category),
        when: None,
        signals: &[],
        evidence: Evidence::Name,
    }
}

/// A rule: in `stage`, regions whose name matches go to the group of regions of the same
/// `[anon:NAME]` (digits folded).
pub(crate) const fn group_rule(stage: Stage, name: NameMatch) -> Rule {
    Rule {
        stage,
        name,
        perms: PermMatch::Any,
        target: Target::NamedGroup,
        when: None,
        signals: &[],
        evidence: Evidence::Name,
    }
}

impl Rule {
    /// Holds only if `condition` turns out true.
    pub(crate) const fn when(mut self, condition: Condition) -> Rule {
        self.when = Some(condition);
        self
    }

    /// A matching region is evidence of these.
    pub(crate) const fn signals(mut self, signals: &'static [Signal]) -> Rule {
        self.signals = signals;
        self
    }

    /// The rule infers from layout (sizes, alignment, neighbours), not from a name.
    pub(crate) const fn by_layout(mut self) -> Rule {
        self.evidence = Evidence::Layout;
        self
    }

    /// The rule goes by the runtime's own structures, read in the process's memory
    /// ([`Neighbours::inspection`]).
    pub(crate) const fn by_runtime_data(mut self) -> Rule {
        self.evidence = Evidence::Runtime;
        self
    }
}

/// Index of a rule in the assembled table.
pub(crate) type RuleIndex = u16;

/// Longest chain of matching rules kept for one region (the last one always holds). Each
/// runtime may add conditional layout rules for unnamed memory, so the chain must hold one or
/// two per runtime; `RuleTable::get` checks that every conditional rule fits.
const MAX_CHAIN: usize = 24;

/// The rules that matched one region, in table order: every one but the last has a condition;
/// the last always holds. Compared and hashed by the used slots only (one or two, mostly).
#[derive(Clone, Copy, Debug, Eq)]
pub(crate) struct Chain {
    rules: [RuleIndex; MAX_CHAIN],
    len: u8,
}

impl PartialEq for Chain {
    #[inline]
    fn eq(&self, other: &Chain) -> bool {
        // A loop, not a slice comparison: that calls memcmp, far slower for one or two slots.
        self.len == other.len
            && self
                .rules()
                .iter()
                .zip(other.rules())
                .all(|(mine, theirs)| mine == theirs)
    }
}

impl std::hash::Hash for Chain {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.rules().hash(state);
    }
}

impl Chain {
    /// The matching rules, first match first.
    pub(crate) fn rules(&self) -> &[RuleIndex] {
        &self.rules[..usize::from(self.len)]
    }

    /// The first rule that matched, whether or not it holds.
    pub(crate) fn first(&self) -> RuleIndex {
        self.rules[0]
    }
}

/// The regions around the one being classified, which some rules look at, and what the
/// region's own `VmFlags` line adds to its header.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Neighbours {
    pub previous: Option<Neighbour>,
    pub next: Option<Neighbour>,
    /// What the region's own `VmFlags` line says.
    pub flags: MapFlags,
    /// What the runtime's own structures in the live process's memory say about the region.
    pub inspection: Inspection,
}

/// What reading a runtime's own structures in a live process's memory (`input/arenas.rs`)
/// found in an unnamed mapping, or in the piece of one it was split into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Inspection {
    /// Not read: a saved file, another runtime, reads refused, or pages that were swapped out.
    #[default]
    NotRead,
    /// Arenas of this runtime, from end to end: its pool headers say so.
    Arenas(RuntimeId),
    /// Every place where an arena of this runtime would show its headers was read, and none
    /// did: no arena lies here, whatever the layout suggests.
    NoArenas(RuntimeId),
}

/// The few `VmFlags` codes of a region that rules look at. Two mappings whose flags differ are
/// never merged by the kernel, so a flag an allocator always sets (or never sets) keeps its
/// memory apart from the program's own maps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MapFlags {
    bits: u8,
}

impl MapFlags {
    const HUGE_PAGE: u8 = 1;
    const NO_HUGE_PAGE: u8 = 1 << 1;
    const NO_RESERVE: u8 = 1 << 2;

    /// From a `VmFlags` line's value (two-letter codes, space separated; empty when the kernel
    /// printed none, before 3.8).
    pub(crate) fn of(vm_flags: &[u8]) -> MapFlags {
        let mut bits = 0;
        for code in vm_flags.split(|&byte| byte == b' ') {
            bits |= match code {
                b"hg" => MapFlags::HUGE_PAGE,
                b"nh" => MapFlags::NO_HUGE_PAGE,
                b"nr" => MapFlags::NO_RESERVE,
                _ => 0,
            };
        }
        MapFlags { bits }
    }

    /// Advised for transparent huge pages (`hg`): a program asked for that with
    /// `madvise(MADV_HUGEPAGE)`, as NumPy does for large arrays.
    pub(crate) fn huge_page_advised(self) -> bool {
        self.bits & MapFlags::HUGE_PAGE != 0
    }

    /// Kept from transparent huge pages (`nh`): `madvise(MADV_NOHUGEPAGE)`, or `MAP_STACK`
    /// (thread stacks, from Linux 6.7).
    pub(crate) fn no_huge_page_advised(self) -> bool {
        self.bits & MapFlags::NO_HUGE_PAGE != 0
    }

    /// Mapped with `MAP_NORESERVE` (`nr`): no swap space is accounted for it. jemalloc,
    /// mimalloc and glibc's thread arenas map their memory so; a plain `mmap` does not.
    pub(crate) fn no_reserve(self) -> bool {
        self.bits & MapFlags::NO_RESERVE != 0
    }

    /// None of the three: a plain `mmap`, never advised (as pymalloc maps its arenas and malloc
    /// its large blocks).
    pub(crate) fn plain(self) -> bool {
        !(self.huge_page_advised() || self.no_huge_page_advised() || self.no_reserve())
    }
}

/// A region's neighbour in address order.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Neighbour {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    /// It has no name (unnamed anonymous memory, or a file's `.bss` continuation).
    pub unnamed: bool,
    pub unnamed_no_access: bool,
}

impl Neighbour {
    pub(crate) fn of(header: &Header<'_>) -> Neighbour {
        Neighbour {
            start: header.start,
            end: header.end,
            perms: header.perms,
            unnamed: header.name.is_empty(),
            unnamed_no_access: header.name.is_empty() && header.perms.no_access(),
        }
    }

    /// Size of the address range in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.end - self.start
    }
}

/// What kind of name a region has: it decides which rules can match it at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NameKind {
    /// No name.
    Unnamed,
    /// A path (`/…`).
    Path,
    /// `[anon:NAME]` or `[anon_shmem:NAME]`.
    Anon,
    /// Any other name (`[heap]`, `anon_inode:…`).
    Other,
}

impl NameKind {
    const ALL: [NameKind; 4] = [
        NameKind::Unnamed,
        NameKind::Path,
        NameKind::Anon,
        NameKind::Other,
    ];
}

impl NameMatch {
    /// Whether a name of `kind` can match at all: false only when it certainly cannot.
    fn may_match(self, kind: NameKind) -> bool {
        use NameMatch::*;
        match self {
            Exact(text) | Prefix(text) => match text.as_bytes().first() {
                None => true,
                Some(b'/') => kind == NameKind::Path,
                Some(_) => !matches!(kind, NameKind::Unnamed | NameKind::Path),
            },
            Suffix(text) => text.is_empty() || kind != NameKind::Unnamed,
            AnonExact(_) | AnonPrefix(_) | AnyAnonName => kind == NameKind::Anon,
            Library(_) | FileNameWhere(_) | ExecutableCandidate | DeletedSharedLibrary
            | DeletedPath | SharedLibrary | Path => kind == NameKind::Path,
            UnnamedWhere(_) | Unnamed => kind == NameKind::Unnamed,
            Executable | Any => true,
        }
    }
}

/// The assembled rule table.
pub(crate) struct RuleTable {
    rules: Vec<&'static Rule>,
    /// For each kind of name and each permission set, the rules that may match such a region,
    /// in table order: indexed by `kind * Perms::COUNT + perms.index()`. A region is tried
    /// against these only, which gives the same chain as trying it against every rule.
    candidates: Vec<Vec<RuleIndex>>,
}

impl RuleTable {
    /// The generic rules and every runtime's, in stage order; built once.
    pub(crate) fn get() -> &'static RuleTable {
        static TABLE: OnceLock<RuleTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            let mut rules: Vec<&'static Rule> = generic::RULES.iter().collect();
            for runtime in crate::runtime::REGISTRY {
                rules.extend(runtime.rules.iter());
            }
            // Stable: within a stage, generic rules first, then runtimes in registry order.
            rules.sort_by_key(|rule| rule.stage);
            assert!(
                matches!(
                    rules.last(),
                    Some(Rule {
                        name: NameMatch::Any,
                        when: None,
                        ..
                    })
                ),
                "the last rule matches every region"
            );
            assert!(rules.len() < usize::from(RuleIndex::MAX));
            // Every conditional rule fits in a chain, with room for the one that always holds.
            assert!(
                rules.iter().filter(|rule| rule.when.is_some()).count() < MAX_CHAIN,
                "raise MAX_CHAIN: more conditional rules than a chain can hold"
            );
            // A named region's chain is its one group rule, so group sums never depend on facts.
            assert!(rules
                .iter()
                .all(|rule| rule.when.is_none() || rule.stage > Stage::OtherName));
            let candidates = NameKind::ALL
                .iter()
                .flat_map(|&kind| {
                    let rules = &rules;
                    Perms::every().map(move |perms| {
                        (0..rules.len())
                            .filter(|&index| {
                                let rule = rules[index];
                                rule.name.may_match(kind) && perms_match(rule.perms, perms)
                            })
                            .map(|index| index as RuleIndex)
                            .collect()
                    })
                })
                .collect();
            RuleTable { rules, candidates }
        })
    }

    /// The rules that may match a region with a name of `kind` and these permissions.
    fn candidates(&self, kind: NameKind, perms: Perms) -> &[RuleIndex] {
        &self.candidates[kind as usize * Perms::COUNT + perms.index()]
    }

    pub(crate) fn rule(&self, index: RuleIndex) -> &'static Rule {
        self.rules[usize::from(index)]
    }

    #[cfg(test)]
    pub(crate) fn rules(&self) -> &[&'static Rule] {
        &self.rules
    }
}

/// Classifies regions; holds what the rules need besides the region and its neighbours.
pub(crate) struct Classifier {
    table: &'static RuleTable,
    /// The executable's path as smaps prints it, when known (a live process).
    executable: Option<Vec<u8>>,
}

impl Classifier {
    /// `executable` is the analyzed binary's path as `/proc/<pid>/exe` gives it, when known.
    pub(crate) fn new(executable: Option<&[u8]>) -> Classifier {
        Classifier {
            table: RuleTable::get(),
            executable: executable.map(<[u8]>::to_vec),
        }
    }

    pub(crate) fn table(&self) -> &'static RuleTable {
        self.table
    }

    /// The rules that match, up to and including the first that always holds.
    pub(crate) fn classify(&self, header: &Header<'_>, around: &Neighbours) -> Chain {
        let name = NameView::of(header.name);
        let mut chain = Chain {
            rules: [0; MAX_CHAIN],
            len: 0,
        };
        for &index in self.table.candidates(name.kind, header.perms) {
            let rule = self.table.rule(index);
            if !self.name_matches(rule.name, &name, header, around) {
                continue;
            }
            chain.rules[usize::from(chain.len)] = index;
            chain.len += 1;
            if rule.when.is_none() {
                return chain;
            }
        }
        unreachable!("the last rule matches every region")
    }

    fn name_matches(
        &self,
        pattern: NameMatch,
        name: &NameView<'_>,
        header: &Header<'_>,
        around: &Neighbours,
    ) -> bool {
        use NameMatch::*;
        let raw = name.raw;
        match pattern {
            Exact(text) => raw == text.as_bytes(),
            Prefix(text) => raw.starts_with(text.as_bytes()),
            Suffix(text) => raw.ends_with(text.as_bytes()),
            AnonExact(text) => name.anon.is_some_and(|anon| anon == text.as_bytes()),
            AnonPrefix(text) => name
                .anon
                .is_some_and(|anon| anon.starts_with(text.as_bytes())),
            AnyAnonName => name.group.is_some(),
            Library(file) => {
                name.is_path
                    && !name.is_deleted
                    && name.is_shared_library
                    && name.file_name.starts_with(file.as_bytes())
            }
            FileNameWhere(test) => name.is_path && !name.is_deleted && test(name.file_name),
            Executable => self.executable.as_deref() == Some(raw),
            ExecutableCandidate => {
                self.executable.is_none() && name.is_path && !name.is_shared_library
            }
            DeletedSharedLibrary => name.is_path && name.is_deleted && name.is_shared_library,
            DeletedPath => name.is_path && name.is_deleted,
            SharedLibrary => name.is_path && name.is_shared_library,
            Path => name.is_path,
            UnnamedWhere(test) => raw.is_empty() && test(header, around),
            Unnamed => raw.is_empty(),
            Any => true,
        }
    }
}

/// What the rules ask of a name, worked out once per region (each only for the kind of name
/// that needs it: a rule for paths never sees another name, see [`NameMatch::may_match`]).
struct NameView<'a> {
    raw: &'a [u8],
    kind: NameKind,
    /// NAME of `[anon:NAME]`, without leading or trailing spaces.
    anon: Option<&'a [u8]>,
    /// NAME of `[anon:NAME]` or `[anon_shmem:NAME]`: what named regions are grouped by.
    group: Option<&'a [u8]>,
    is_path: bool,
    is_deleted: bool,
    is_shared_library: bool,
    /// For a path, its file name without ` (deleted)`.
    file_name: &'a [u8],
}

impl<'a> NameView<'a> {
    fn of(raw: &'a [u8]) -> NameView<'a> {
        let mut view = NameView {
            raw,
            kind: NameKind::Unnamed,
            anon: None,
            group: None,
            is_path: false,
            is_deleted: false,
            is_shared_library: false,
            file_name: &[],
        };
        match raw.first() {
            None => {}
            Some(b'/') => {
                view.kind = NameKind::Path;
                view.is_path = true;
                view.is_deleted = raw.ends_with(DELETED_SUFFIX);
                view.file_name = generic::file_name(raw);
                view.is_shared_library = generic::is_shared_library_file(view.file_name);
            }
            Some(_) => {
                view.anon = generic::anon_name(raw);
                view.group = named_group_source(raw);
                view.kind = if view.group.is_some() {
                    NameKind::Anon
                } else {
                    NameKind::Other
                };
            }
        }
        view
    }
}

fn perms_match(pattern: PermMatch, perms: Perms) -> bool {
    match pattern {
        PermMatch::Any => true,
        PermMatch::PrivateReadWrite => perms.readable() && perms.writable() && !perms.shared(),
        PermMatch::Executable => perms.executable(),
        PermMatch::Readable => perms.readable(),
        PermMatch::NoAccess => perms.no_access(),
    }
}

/// What the whole input (and, for a live process, the executable) turned out to say: decides
/// which rule of each [`Chain`] holds.
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts {
    /// The runtimes present.
    pub runtimes: Vec<RuntimeId>,
    /// For a saved file: the candidate taken for the executable (see the aggregator).
    pub chosen_executable: Option<u32>,
}

impl Facts {
    fn holds(&self, condition: Condition, subkey: u32) -> bool {
        match condition {
            Condition::Runtime(id) => self.runtimes.contains(&id),
            Condition::ChosenExecutable => self.chosen_executable == Some(subkey),
        }
    }

    /// The rule of `chain` that holds. `subkey` identifies the region's executable candidate.
    pub(crate) fn resolve(&self, table: &RuleTable, chain: &Chain, subkey: u32) -> &'static Rule {
        chain
            .rules()
            .iter()
            .map(|&index| table.rule(index))
            .find(|rule| {
                rule.when
                    .is_none_or(|condition| self.holds(condition, subkey))
            })
            .expect("the last rule of a chain always holds")
    }
}

#[cfg(test)]
mod tests;
