//! jemalloc: detected from `libjemalloc.so`, from its symbols in the executable (Rust's
//! tikv-jemallocator links it statically with the `_rjem_` prefix) or, in a stripped one, its
//! messages in the read-only data, or from the name it gives its pages when built with
//! `--enable-pageid` (`[anon:jemalloc_pg]`); and its extents, recognised by their sizes and
//! their `MAP_NORESERVE` flag.
//!
//! jemalloc 5 (with `retain`, the default on 64-bit Linux) takes address space from the kernel
//! in steps of its page size classes from 2 MiB up, four per doubling (2, 2.5, 3, 3.5, 4, 5, …
//! MiB), and keeps it: freed extents are purged (`madvise`), not unmapped. Adjacent steps merge
//! into one mapping, so its memory is unnamed read-write mappings of whole multiples of 512
//! KiB. Its metadata (base allocations, 2 MiB-aligned blocks) lies among them and cannot be
//! told apart. A mapping where the kernel merged jemalloc's memory with a neighbour of another
//! size stays with the anonymous memory.

use super::{glibc, Role, RuntimeDef, Verdict};
use crate::classify::generic::{is_guarded_thread_stack, SHARED_LIBRARIES};
use crate::classify::{
    rule, CategoryDef, Condition, NameMatch::*, Neighbours, PermMatch, Rule, Signal, Stage,
};
use crate::input::elf::{ExecutableFacts, Marker};
use crate::report::{RuntimeId, SectionId};
use crate::smaps::Header;

pub(crate) const JEMALLOC: RuntimeId = RuntimeId::new("jemalloc");

pub(crate) static HEAP: CategoryDef = CategoryDef::new(
    "jemalloc.heap",
    "Heap (jemalloc)",
    SectionId::Runtime,
    "jemalloc's extents and its metadata among them: named [anon:jemalloc_pg], or unnamed read-write mappings of whole multiples of 512 KiB mapped with MAP_NORESERVE (VmFlags nr), as jemalloc maps them (by layout)",
);

/// Names in an executable's symbol tables that show jemalloc linked in: tikv-jemallocator's
/// prefixed functions (`_rjem_malloc`, `_rjem_mallctl`), and jemalloc's own control function.
pub(crate) const SYMBOLS: &[&str] = &["_rjem_", "mallctl"];

/// The prefix of jemalloc's own messages (`<jemalloc>: Error in munmap(): …`), in the read-only
/// data of every program that links it statically, stripped or not (a Rust service built with
/// `strip = true` keeps no `_rjem_` symbol).
pub(crate) static MESSAGE: Marker = Marker {
    name: "jemalloc",
    reversed: " :>collamej<",
};

const IS_JEMALLOC: &[Signal] = &[Signal::Runtime(JEMALLOC)];
const JEMALLOC_LIBRARY: &[Signal] = &[Signal::Runtime(JEMALLOC)];
/// In a saved file of a program that links jemalloc statically (a Rust service), nothing names
/// it: several extent runs stand for it there.
const SHAPED_LIKE_JEMALLOC: &[Signal] = &[Signal::LayoutHint(JEMALLOC)];

#[rustfmt::skip]
static RULES: &[Rule] = &[
    rule(Stage::RuntimeName, AnonPrefix("jemalloc"), PermMatch::Any, &HEAP).signals(IS_JEMALLOC),
    rule(Stage::RuntimeFile, Library("libjemalloc"), PermMatch::Any, &SHARED_LIBRARIES).signals(JEMALLOC_LIBRARY),
    rule(Stage::RuntimeLayout, UnnamedWhere(is_extent_run), PermMatch::PrivateReadWrite, &HEAP)
        .when(Condition::Runtime(JEMALLOC)).by_layout().signals(SHAPED_LIKE_JEMALLOC),
];

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: JEMALLOC,
    name: "jemalloc",
    role: Role::Allocator,
    section_title: "",
    categories: &[&HEAP],
    rules: RULES,
    relabel: &[],
    executable: from_symbols,
    next_step: Some("run the program with MALLOC_CONF=stats_print:true (_RJEM_MALLOC_CONF for Rust's tikv-jemallocator) to have jemalloc print its own statistics at exit"),
    arenas: None,
};

/// An executable with its symbols has it, or a stripped one with its messages; one without
/// may still load it as a library.
fn from_symbols(facts: &ExecutableFacts) -> Verdict {
    match &facts.elf {
        Some(elf) if elf.has_marker(MESSAGE.name) => Verdict::Present { version: None },
        _ => super::linked_in(facts, SYMBOLS),
    }
}

/// Every size jemalloc grows its address space by is a multiple of this: its page size classes
/// from 2 MiB (HUGEPAGE) up are four per doubling, so spaced by a quarter of 2 MiB or more.
const GROWTH_GRANULE_BYTES: u64 = 512 * 1024;

/// Mapped with `MAP_NORESERVE`, a whole number of growth steps, and not a thread stack (a Rust
/// thread's 2 MiB stack above its guard page is one too). jemalloc adds `MAP_NORESERVE` to
/// every map where the kernel overcommits (`vm.overcommit_memory` 0 or 1, the default), and a
/// plain `mmap` of the program's own does not: the kernel never merges the two, and the
/// program's maps stay out whatever their size. A glibc thread arena's head (threads still use
/// glibc's malloc for some of their own needs; its arenas are `MAP_NORESERVE` too) is not an
/// extent run, and one the kernel merged on top of a run is left out of the count.
fn is_extent_run(header: &Header<'_>, around: &Neighbours) -> bool {
    let end = glibc::merged_arena_head(header, around).unwrap_or(header.end);
    around.flags.no_reserve()
        && (end - header.start) % GROWTH_GRANULE_BYTES == 0
        && !glibc::is_malloc_arena(header, around)
        && !is_guarded_thread_stack(header, around)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::MapFlags;

    #[test]
    fn extent_runs_are_whole_growth_steps_but_not_stacks() {
        let header = |line: &'static str| crate::smaps::parse_header(line.as_bytes()).unwrap();
        let none = Neighbours {
            flags: MapFlags::of(b"rd wr mr mw me nr"),
            ..Neighbours::default()
        };
        // 6.5 MiB: 2 + 2.5 MiB of growth merged with 2 MiB.
        let run = header("7fa681180000-7fa681800000 rw-p 00000000 00:00 0 ");
        assert!(is_extent_run(&run, &none));
        // The binary's .bss after its data: 2 MiB and 40 KiB.
        let bss = header("557e7e292000-557e7e49c000 rw-p 00000000 00:00 0 ");
        assert!(!is_extent_run(&bss, &none));
        // The program's own 2 MiB mmap: accounted (`ac`), not MAP_NORESERVE.
        let own = Neighbours {
            flags: MapFlags::of(b"rd wr mr mw me ac"),
            ..Neighbours::default()
        };
        assert!(!is_extent_run(&run, &own));
        // No VmFlags line at all (a kernel before 3.8): nothing says it is jemalloc's.
        assert!(!is_extent_run(&run, &Neighbours::default()));
        let guard = header("7fa68217e000-7fa68217f000 ---p 00000000 00:00 0 ");
        let stack = header("7fa68217f000-7fa68237f000 rw-p 00000000 00:00 0 ");
        let above_guard = Neighbours {
            previous: Some(crate::classify::Neighbour::of(&guard)),
            ..none
        };
        assert!(!is_extent_run(&stack, &above_guard));
    }
}
