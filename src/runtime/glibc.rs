//! glibc: its malloc arenas (named with `glibc.mem.decorate_maps=1` from glibc 2.39, recognised
//! by their 64 MiB reservations before), the large blocks it serves with maps of their own, its
//! named thread stacks and metadata, and its detection from `libc.so.6`. The unnamed layouts
//! are taken only in a process that has glibc.

use super::{not_in_executable, Role, RuntimeDef};
use crate::classify::generic::{C_HEAP, LARGE_BLOCKS, RUNTIME_METADATA, SHARED_LIBRARIES, STACK};
use crate::classify::{
    rule, CategoryDef, Condition, NameMatch::*, Neighbours, PermMatch, Rule, Signal, Stage,
};
use crate::report::{RuntimeId, SectionId};
use crate::smaps::Header;

pub(crate) const GLIBC: RuntimeId = RuntimeId::new("glibc");

/// The bytes of the header glibc's malloc puts at the start of a chunk: `prev_size`, then
/// `size` with three flag bits.
pub(crate) const CHUNK_HEADER_BYTES: usize = 16;

/// The size of the chunk whose header `bytes` is, when it is one malloc mapped on its own:
/// glibc's `sysmalloc_mmap` puts the chunk at the start of its map, `prev_size` 0 and the map's
/// size (whole pages) with `IS_MMAPPED` (2) alone among the flags. (A chunk that `memalign`
/// moved into its map has another `prev_size`; it is not taken.)
pub(crate) fn mapped_chunk_bytes(bytes: &[u8]) -> Option<u64> {
    const FLAGS: u64 = 7;
    const IS_MMAPPED: u64 = 2;
    const PAGE_BYTES: u64 = 4096;
    let word = |at: usize| Some(u64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let (prev_size, size) = (word(0)?, word(8)?);
    let bytes = size & !FLAGS;
    (prev_size == 0 && size & FLAGS == IS_MMAPPED && bytes >= PAGE_BYTES && bytes % PAGE_BYTES == 0)
        .then_some(bytes)
}

/// Blocks malloc served with maps of their own, known by glibc's name for them. Unnamed ones
/// cannot be told from the program's own maps and go to the generic `LARGE_BLOCKS`.
pub(crate) static MAPPED_BLOCKS: CategoryDef = CategoryDef::new(
    "c.large",
    "Large Blocks (malloc)",
    SectionId::Runtime,
    "blocks above glibc's mmap threshold, each a map of its own, named [anon: glibc: malloc]",
);

const IS_GLIBC: &[Signal] = &[Signal::Runtime(GLIBC)];

#[rustfmt::skip]
static RULES: &[Rule] = &[
    rule(Stage::RuntimeName, AnonExact("glibc: malloc arena"),       PermMatch::Any, &C_HEAP).signals(IS_GLIBC),
    rule(Stage::RuntimeName, AnonExact("glibc: malloc"),             PermMatch::Any, &MAPPED_BLOCKS).signals(IS_GLIBC),
    rule(Stage::RuntimeName, AnonPrefix("glibc: pthread stack"),     PermMatch::Any, &STACK).signals(IS_GLIBC),
    rule(Stage::RuntimeName, AnonPrefix("glibc: pthread user stack"), PermMatch::Any, &STACK).signals(IS_GLIBC),
    rule(Stage::RuntimeName, AnonPrefix("glibc: unused stack"),      PermMatch::Any, &STACK).signals(IS_GLIBC),
    rule(Stage::RuntimeName, AnonPrefix("glibc: "),                  PermMatch::Any, &RUNTIME_METADATA).signals(IS_GLIBC),
    rule(Stage::RuntimeFile, Library("libc.so.6"), PermMatch::Any, &SHARED_LIBRARIES)
        .signals(IS_GLIBC),
    rule(Stage::RuntimeLayout, UnnamedWhere(is_malloc_arena), PermMatch::PrivateReadWrite, &C_HEAP)
        .when(Condition::Runtime(GLIBC)).by_layout(),
    // After every runtime's own rules, so that only maps no runtime recognised are taken.
    rule(Stage::AllocatorFallback, UnnamedWhere(is_large_block), PermMatch::PrivateReadWrite, &LARGE_BLOCKS)
        .when(Condition::Runtime(GLIBC)).by_layout(),
];

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: GLIBC,
    name: "glibc",
    role: Role::Allocator,
    section_title: "",
    categories: &[&MAPPED_BLOCKS],
    rules: RULES,
    relabel: &[],
    executable: not_in_executable,
    next_step: Some("with glibc 2.39 or later, run the program with GLIBC_TUNABLES=glibc.mem.decorate_maps=1 so that its arenas and thread stacks carry names"),
    arenas: None,
};

/// glibc's HEAP_MAX_SIZE on 64-bit: each thread arena reserves this much, aligned to it.
const MALLOC_ARENA_BYTES: u64 = 64 * 1024 * 1024;

/// 64 MiB-aligned and followed by a no-access tail that ends the 64 MiB reservation: the part
/// of an arena glibc has committed. A 64 MiB map alone is not enough: a program's own 64 MiB
/// mmap may land on such a boundary too (the kernel fills the holes glibc's alignment leaves).
/// An arena grown to the full 64 MiB has no tail left and is not recognised.
pub(crate) fn is_malloc_arena(header: &Header<'_>, around: &Neighbours) -> bool {
    header.start % MALLOC_ARENA_BYTES == 0
        && around.next.is_some_and(|tail| {
            tail.unnamed_no_access
                && tail.start == header.end
                // Checked: hostile input may put an arena at the very top.
                && header.start.checked_add(MALLOC_ARENA_BYTES) == Some(tail.end)
        })
}

/// glibc's smallest mmap threshold (`DEFAULT_MMAP_THRESHOLD_MIN`): blocks from this size on may
/// be served by a map of their own (the threshold rises with freed blocks, up to 32 MiB).
const MMAP_THRESHOLD_MIN_BYTES: u64 = 128 * 1024;
/// A mapped block carries a header, so its map is at least a page larger than the threshold.
const LARGE_BLOCK_MIN_BYTES: u64 = MMAP_THRESHOLD_MIN_BYTES + 4096;

/// An unnamed read-write map as large as a block malloc serves with mmap. Adjacent maps with
/// the same permissions are merged by the kernel, so one region may hold several blocks, or a
/// block and a map of the program's own: they cannot be told apart.
fn is_large_block(header: &Header<'_>, _: &Neighbours) -> bool {
    header.size() >= LARGE_BLOCK_MIN_BYTES
}

/// Where a thread arena's read-write head starts inside this region, when the kernel merged it
/// with memory right below it (another allocator's, of the same permissions): the region
/// crosses a 64 MiB boundary and the arena's no-access tail follows, ending 64 MiB after it.
/// Allocators recognised by their sizes measure the part below.
pub(super) fn merged_arena_head(header: &Header<'_>, around: &Neighbours) -> Option<u64> {
    let tail = around.next?;
    let boundary = tail.end.checked_sub(MALLOC_ARENA_BYTES)?;
    (tail.unnamed_no_access
        && tail.start == header.end
        && boundary % MALLOC_ARENA_BYTES == 0
        && header.start < boundary
        && boundary < header.end)
        .then_some(boundary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Neighbour;
    use crate::smaps::parse_header;

    #[test]
    fn mapped_chunks_are_told_by_their_header() {
        let header =
            |prev_size: u64, size: u64| [prev_size.to_ne_bytes(), size.to_ne_bytes()].concat();
        assert_eq!(
            mapped_chunk_bytes(&header(0, ((30 << 20) + 4096) | 2)),
            Some((30 << 20) + 4096)
        );
        for (prev_size, size) in [
            (0, (1 << 20) | 1),     // in use in an arena, not mapped
            (0, (1 << 20) | 2 | 4), // a thread arena's
            (16, (1 << 20) | 2),    // moved by memalign
            (0, 4000 | 2),          // not whole pages
            (0, 2),
        ] {
            assert_eq!(
                mapped_chunk_bytes(&header(prev_size, size)),
                None,
                "{size:#x}"
            );
        }
        assert_eq!(mapped_chunk_bytes(&[0; 8]), None);
    }

    #[test]
    fn an_arena_head_merged_with_memory_below_is_found() {
        let header = |line: &'static str| parse_header(line.as_bytes()).unwrap();
        let merged = header("7f424ec00000-7f4250021000 rw-p 00000000 00:00 0 ");
        let tail = header("7f4250021000-7f4254000000 ---p 00000000 00:00 0 ");
        let around = Neighbours {
            next: Some(Neighbour::of(&tail)),
            ..Neighbours::default()
        };
        assert_eq!(merged_arena_head(&merged, &around), Some(0x7f42_5000_0000));
        // An arena on its own is no merge.
        let alone = header("7f4250000000-7f4250021000 rw-p 00000000 00:00 0 ");
        assert_eq!(merged_arena_head(&alone, &around), None);
        assert_eq!(merged_arena_head(&merged, &Neighbours::default()), None);
    }
}
