//! Go: the heap arenas (named `[anon: Go: heap]` from Go 1.25, recognised by their address
//! before; goroutine stacks live inside them), the runtime's metadata (named from Go 1.25,
//! before that only what it commits inside its own reservations), and its detection from the
//! executable's build information or its names.

use super::{Relabel, Role, RuntimeDef, Verdict};
use crate::classify::generic::{C_HEAP, MAX_GUARD_BYTES, RUNTIME_METADATA};
use crate::classify::{
    rule, CategoryDef, Condition, NameMatch::*, Neighbour, Neighbours, PermMatch, Rule, Signal,
    Stage,
};
use crate::input::elf::ExecutableFacts;
use crate::report::{RuntimeId, SectionId};
use crate::smaps::Header;

pub(crate) const GO: RuntimeId = RuntimeId::new("go");

pub(crate) static HEAP: CategoryDef = CategoryDef::new(
    "go.heap",
    "Heap",
    SectionId::Runtime,
    "Go's heap arenas; goroutine stacks live inside them (Go allocates stacks from heap spans)",
);

const IS_GO: &[Signal] = &[Signal::Runtime(GO)];

#[rustfmt::skip]
static RULES: &[Rule] = &[
    rule(Stage::RuntimeName, AnonExact("Go: heap"), PermMatch::Any, &HEAP).signals(IS_GO),
    rule(Stage::RuntimeName, AnonPrefix("Go: "),    PermMatch::Any, &RUNTIME_METADATA).signals(IS_GO),
    rule(Stage::RuntimeLayout, UnnamedWhere(at_first_arena_hint), PermMatch::PrivateReadWrite, &HEAP)
        .when(Condition::Runtime(GO)).signals(IS_GO).by_layout(),
    rule(Stage::RuntimeLayout, UnnamedWhere(in_arena_range), PermMatch::PrivateReadWrite, &HEAP)
        .when(Condition::Runtime(GO)).by_layout(),
    // Before Go 1.25 the runtime's metadata is unnamed; only the part it commits inside its own
    // no-access reservations is recognisable. Its other maps (the arena index, per-arena
    // bitmaps, span and GC-bit chunks) look exactly like the program's own mmaps and stay in
    // the generic categories rather than take the program's maps with them.
    rule(Stage::RuntimeFallback, UnnamedWhere(in_runtime_reservation), PermMatch::PrivateReadWrite, &RUNTIME_METADATA)
        .when(Condition::Runtime(GO)).by_layout(),
];

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: GO,
    name: "Go",
    role: Role::Language,
    section_title: "Go Runtime",
    categories: &[&HEAP],
    rules: RULES,
    relabel: &[Relabel {
        category: &C_HEAP,
        label: "C Heap (cgo/malloc)",
    }],
    executable: from_build_info,
    next_step: Some("Go 1.25 or later names its mappings ([anon: Go: heap], …) on kernels that allow it; compare with the heap profile (/debug/pprof/heap) and runtime.MemStats"),
    arenas: None,
};

/// A Go binary carries build information (`.go.buildinfo`); its absence is proof of another
/// language.
fn from_build_info(facts: &ExecutableFacts) -> Verdict {
    match &facts.elf {
        None => Verdict::Unknown,
        Some(elf) => match &elf.go {
            Some(info) => Verdict::Present {
                version: info.version.clone(),
            },
            None => Verdict::Absent,
        },
    }
}

/// Go's heap arenas on 64-bit Linux start at hint addresses `0x00c0 << 32`, `0x01c0 << 32`, …
/// and grow upward in 64 MiB steps. Only the hints below 16 TiB are taken: higher ones (up to
/// `0x7fc0 << 32`) fall among ordinary mmap addresses, where a C allocation would be mistaken
/// for Go heap one time in 256.
fn in_arena_range(header: &Header<'_>, _: &Neighbours) -> bool {
    header.start < 0x1000_0000_0000 && (header.start >> 32) & 0xff == 0xc0
}

/// A read-write map touching a no-access reservation that is neither a guard page nor a 64 MiB
/// reservation: what Go commits piece by piece inside the reservations it makes at start-up
/// for its page allocator's summaries (128 KiB, 1 MiB, 8 MiB, 64 MiB and 512 MiB) and its
/// scavenger index (8 MiB). Guards (up to 64 KiB) sit below thread stacks; reservations ending
/// on a 64 MiB boundary are glibc's malloc arenas and Go's own heap arenas, whose maps other
/// rules take.
fn in_runtime_reservation(header: &Header<'_>, around: &Neighbours) -> bool {
    let is_runtime_reservation = |neighbour: &Neighbour| {
        neighbour.unnamed_no_access
            && neighbour.size() > MAX_GUARD_BYTES
            && neighbour.end % HEAP_ARENA_BYTES != 0
    };
    around
        .previous
        .is_some_and(|below| below.end == header.start && is_runtime_reservation(&below))
        || around
            .next
            .is_some_and(|above| above.start == header.end && is_runtime_reservation(&above))
}

/// Go's heap arenas on 64-bit Linux (`heapArenaBytes`).
const HEAP_ARENA_BYTES: u64 = 64 * 1024 * 1024;

/// The first heap arena starts exactly at a hint address such as `0xc000000000`: evidence that
/// the process is Go.
fn at_first_arena_hint(header: &Header<'_>, around: &Neighbours) -> bool {
    in_arena_range(header, around) && header.start & 0xff_ffff_ffff == 0xc0_0000_0000
}
