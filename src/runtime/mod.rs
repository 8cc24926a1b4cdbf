//! The runtimes and allocators memanalyzer recognises, one file each, and the registry that
//! lists them. A runtime brings its identity, how it is detected (the executable file, the
//! libraries it maps, the names it gives its memory), its rules as data, its categories, its
//! section title, and the labels it gives other categories in its processes.
//!
//! To add a runtime: write `src/runtime/NAME.rs` with a `pub(crate) static RUNTIME: RuntimeDef`
//! and add one line to [`REGISTRY`]. Nothing else names a runtime.

mod bionic;
mod glibc;
mod go;
mod jemalloc;
mod jvm;
mod mimalloc;
mod partition_alloc;
mod python;
mod tcmalloc;
mod v8;

use crate::classify::{
    generic, rule, CategoryDef, NameMatch, Neighbours, PermMatch, Rule, Signal, Stage,
};
use crate::input::elf::{Clues, ExecutableFacts};
use crate::report::RuntimeId;
use crate::smaps::Header;

#[cfg(test)]
pub(crate) use glibc::GLIBC;
pub(crate) use go::GO;
#[cfg(test)]
pub(crate) use jvm::JVM;
#[cfg(test)]
pub(crate) use v8::NODE;

/// Every runtime, in the order their rules are tried within a stage and they are listed.
pub(crate) static REGISTRY: &[&RuntimeDef] = &[
    &go::RUNTIME,
    &glibc::RUNTIME,
    &bionic::RUNTIME,
    &jemalloc::RUNTIME,
    &mimalloc::RUNTIME,
    &tcmalloc::RUNTIME,
    &partition_alloc::RUNTIME,
    &jvm::RUNTIME,
    &v8::RUNTIME,
    &python::RUNTIME,
];

/// What shows a runtime linked into an executable, which the executable is searched for
/// (`input/elf.rs`): prefixes of symbol names, and texts in a stripped file's read-only data.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only live analysis reads an executable
pub(crate) fn executable_clues() -> Clues<'static> {
    static SYMBOL_PREFIXES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    static MARKERS: [&crate::input::elf::Marker; 1] = [&jemalloc::MESSAGE];
    Clues {
        symbol_prefixes: SYMBOL_PREFIXES
            .get_or_init(|| [python::SYMBOLS, jemalloc::SYMBOLS].concat()),
        markers: &MARKERS,
    }
}

/// The runtime section's title when no language runtime is found.
pub(crate) const NATIVE_TITLE: &str = "Native Runtime";
/// `source.runtime` in JSON when no language runtime is found.
pub(crate) const NATIVE_KEY: &str = "native";

/// The next step when much memory is unexplained and no runtime found offers one.
pub(crate) const GENERIC_NEXT_STEP: &str = "look at the largest regions (-top 50, or -all) and \
     the program's own mmap calls; a program can name its mappings with \
     prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, ...) so that they show here by name";

/// What a runtime is to the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A language runtime (Go, CPython): the runtime section is named after it.
    Language,
    /// A C library or memory allocator, beside any language runtime.
    Allocator,
}

/// What the executable file says about a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The file could not be read, or says nothing either way: the regions decide.
    Unknown,
    /// The file shows the runtime is not there, whatever the regions suggest.
    Absent,
    /// The file shows it is there.
    Present { version: Option<String> },
}

/// A category whose label a language runtime changes in its processes.
#[derive(Debug)]
pub(crate) struct Relabel {
    pub category: &'static CategoryDef,
    pub label: &'static str,
}

/// Everything memanalyzer knows about one runtime.
#[derive(Debug)]
pub(crate) struct RuntimeDef {
    pub id: RuntimeId,
    /// The name people know it by.
    pub name: &'static str,
    pub role: Role,
    /// The runtime section's title in its processes (language runtimes).
    pub section_title: &'static str,
    /// Its own categories, in the order they are shown.
    pub categories: &'static [&'static CategoryDef],
    /// Its rules; each takes its place in the table by its stage.
    pub rules: &'static [Rule],
    /// Labels it gives other categories in its processes (a language runtime).
    pub relabel: &'static [Relabel],
    /// What the executable file says, when a live process's executable can be read.
    pub executable: fn(&ExecutableFacts) -> Verdict,
    /// What to run to learn more when much of the process's memory is unexplained, worded as
    /// one step for a person (`-XX:NativeMemoryTracking=summary`, then `jcmd PID VM.native_memory
    /// summary`); `None` when the runtime has no such tool.
    pub next_step: Option<&'static str>,
    /// How its arenas show in its memory, for a live process: the runtime's own structures,
    /// which tell arenas from other memory where layout cannot.
    pub arenas: Option<&'static ArenaFormat>,
}

/// How a runtime's arenas show in a live process's memory (`input/arenas.rs` reads them):
/// arenas of one size, each carved into pools of one size from its first pool-aligned address
/// on, and each pool beginning with a header that says which arena it belongs to. One header
/// per pool-aligned page tells which part of an unnamed mapping is arenas, also where the
/// kernel merged arenas with other memory into one mapping.
#[derive(Debug)]
pub(crate) struct ArenaFormat {
    pub runtime: RuntimeId,
    /// The bytes of a pool header to read.
    pub header_bytes: usize,
    /// The largest pool size of all the runtime's versions: the step between headers read
    /// until the first one found shows its version's (pools are aligned to their size, so
    /// this grid holds pools of every version).
    pub largest_pool_bytes: u64,
    /// The smallest arena size of all its versions: smaller mappings are not read.
    pub smallest_arena_bytes: u64,
    /// What a pool header read at the pool-aligned address `at` says, or `None` when the bytes
    /// are not a pool header.
    pub pool: fn(header: &[u8], at: u64) -> Option<Pool>,
    /// The blocks that the allocator under the runtime maps on their own (glibc's malloc under
    /// CPython), which hold no arenas and need not be read through: the size of the one whose
    /// header (`block_header_bytes` at its first page) is `bytes`, or `None`.
    pub block: Option<BlockSize>,
    pub block_header_bytes: usize,
}

/// The size of the block whose allocator header is `bytes`, if it is one (see
/// [`ArenaFormat::block`]).
pub(crate) type BlockSize = fn(bytes: &[u8]) -> Option<u64>;

/// What one pool header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pool {
    /// The arena it belongs to (an index the runtime keeps).
    pub arena: u32,
    /// The pool size of the runtime's version, which the header shows.
    pub pool_bytes: u64,
    /// The arena size that goes with it.
    pub arena_bytes: u64,
}

impl RuntimeDef {
    pub(crate) fn is_language(&self) -> bool {
        self.role == Role::Language
    }
}

/// A `RuntimeDef::executable` for runtimes the executable file says nothing about.
pub(crate) fn not_in_executable(_: &ExecutableFacts) -> Verdict {
    Verdict::Unknown
}

/// A JIT's code: executable private memory (HotSpot's code cache and V8's code range are the
/// only such unnamed memory in their processes; rwx, or r-x where the JIT flips permissions
/// to write, as Node 18's V8 does), and the no-access reservation right above it.
pub(crate) fn is_jit_code(header: &Header<'_>, around: &Neighbours) -> bool {
    let private_executable = |perms: crate::smaps::Perms| perms.executable() && !perms.shared();
    private_executable(header.perms)
        || (header.perms.no_access()
            && !header.perms.shared()
            && around.previous.is_some_and(|code| {
                code.unnamed && code.end == header.start && private_executable(code.perms)
            }))
}

/// The rules of an allocator known only by the names it gives its memory and by its library
/// (mimalloc, tcmalloc): memory named `name` is its `heap`, its library a shared library, and
/// either shows it (`signals`).
pub(crate) const fn named_allocator_rules(
    name: NameMatch,
    library: &'static str,
    heap: &'static CategoryDef,
    signals: &'static [Signal],
) -> [Rule; 2] {
    [
        rule(Stage::RuntimeName, name, PermMatch::Any, heap).signals(signals),
        rule(
            Stage::RuntimeFile,
            NameMatch::Library(library),
            PermMatch::Any,
            &generic::SHARED_LIBRARIES,
        )
        .signals(signals),
    ]
}

/// What the executable file says about a runtime that shows in its symbols: present when a
/// name in its symbol tables begins with one of `prefixes` (each must be among
/// [`executable_clues`]); otherwise unknown, as the runtime may still be loaded as a library.
pub(crate) fn linked_in(facts: &ExecutableFacts, prefixes: &[&str]) -> Verdict {
    match &facts.elf {
        Some(elf) if elf.has_symbol(prefixes) => Verdict::Present { version: None },
        _ => Verdict::Unknown,
    }
}

/// The arena format of the first runtime the executable shows that has one: a live process's
/// memory is read only for a runtime known before its regions are.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only live analysis reads memory
pub(crate) fn arena_format(facts: &ExecutableFacts) -> Option<&'static ArenaFormat> {
    REGISTRY
        .iter()
        .find_map(|runtime| match (runtime.executable)(facts) {
            Verdict::Present { .. } => runtime.arenas,
            Verdict::Unknown | Verdict::Absent => None,
        })
}

/// The runtime with this id. Ids are made only by the runtime files, so it is always there.
pub(crate) fn def(id: RuntimeId) -> &'static RuntimeDef {
    REGISTRY
        .iter()
        .copied()
        .find(|runtime| runtime.id == id)
        .expect("every RuntimeId belongs to a registered runtime")
}

/// Every category, in the order they are shown within a section: each runtime's own in
/// registry order, then the generic ones.
pub(crate) fn categories() -> impl Iterator<Item = &'static CategoryDef> {
    REGISTRY
        .iter()
        .flat_map(|runtime| runtime.categories.iter().copied())
        .chain(generic::CATEGORIES.iter().copied())
}

/// The category with this key.
pub(crate) fn category_by_key(key: &str) -> Option<&'static CategoryDef> {
    categories().find(|category| category.key == key)
}

/// Where a category is shown among the others of its section.
pub(crate) fn category_order(category: &CategoryDef) -> usize {
    categories()
        .position(|other| other.key == category.key)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{RuleTable, Target};
    use std::collections::HashSet;

    #[test]
    fn ids_and_category_keys_are_unique() {
        let ids: HashSet<&str> = REGISTRY.iter().map(|runtime| runtime.id.key()).collect();
        assert_eq!(ids.len(), REGISTRY.len());
        assert!(!ids.contains(NATIVE_KEY));
        let keys: Vec<&str> = categories().map(|category| category.key).collect();
        let unique: HashSet<&&str> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
        for key in keys {
            assert!(!key.starts_with("named:"), "{key} looks like a named group");
        }
    }

    #[test]
    fn every_rule_targets_a_listed_category() {
        for rule in RuleTable::get().rules() {
            if let Target::Category(category) = rule.target {
                assert!(
                    category_by_key(category.key).is_some(),
                    "{} is not in any category list",
                    category.key
                );
            }
        }
    }

    #[test]
    fn language_runtimes_have_a_section_title() {
        for runtime in REGISTRY {
            assert_eq!(runtime.is_language(), !runtime.section_title.is_empty());
        }
    }
}
