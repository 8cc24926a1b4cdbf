//! CPython: the object allocator's arenas (pymalloc), recognised by their size, flags and
//! place, and the interpreter's detection from its library (`libpython3.*.so`), its
//! executable's symbols or name, and its extension modules.
//!
//! pymalloc serves objects of up to 512 bytes from arenas of 1 MiB (256 KiB before 3.10), each
//! its own anonymous `mmap`. The kernel merges adjacent arenas into one mapping, so a run of
//! arenas is an unnamed read-write mapping whose size is a whole number of MiB, with the flags
//! of a plain `mmap` (see [`is_arena_run`] for what keeps other such memory out). Larger
//! objects (NumPy arrays, big bytearrays, lists' item arrays) come from `malloc`: glibc serves
//! big ones with their own mappings, a page or so more than asked, which are not arenas: they
//! are shown as large blocks. When such a block lands right next to arenas the kernel merges
//! them too; that mapping is not a whole number of arenas, cannot be split by its layout, and
//! is shown with the large blocks — unless the process is live and its memory may be read:
//! then the headers of pymalloc's pools ([`POOLS`]) show where its arenas are, the mapping is
//! split there (`input/arenas.rs`), and a mapping of whole MiB that holds no arena is a large
//! block, whatever its layout.

use super::{glibc, ArenaFormat, Pool, Relabel, Role, RuntimeDef, Verdict};
use crate::classify::generic::{is_guarded_thread_stack, BINARY, C_HEAP, SHARED_LIBRARIES};
use crate::classify::{
    rule, CategoryDef, Condition, Inspection, NameMatch::*, Neighbours, PermMatch, Rule, Signal,
    Stage,
};
use crate::input::elf::ExecutableFacts;
use crate::report::{RuntimeId, SectionId};
use crate::smaps::Header;

pub(crate) const PYTHON: RuntimeId = RuntimeId::new("python");

pub(crate) static ARENAS: CategoryDef = CategoryDef::new(
    "python.arenas",
    "Object Arenas (pymalloc)",
    SectionId::Runtime,
    "CPython's small-object allocator: its arenas (1 MiB from 3.10, 256 KiB before), found in a live process by the headers of their pools (read-only, with process_vm_readv), also where the kernel merged them with other memory; otherwise runs of 1 MiB arenas, recognised by their size, their flags (a plain private map) and their place (not the kernel's 2 MiB grid for one map of whole 2 MiB); sys._debugmallocstats() counts them",
);
pub(crate) static LARGE_BLOCKS: CategoryDef = CategoryDef::new(
    "python.large",
    "Large Blocks (malloc/mmap)",
    SectionId::Runtime,
    "in a CPython process, other unnamed read-write mappings of 128 KiB or more: objects' large buffers that malloc mapped on their own (NumPy arrays, bytearrays, list storage), the program's own mmaps, and (where the process's memory could not be read) arenas the kernel merged with them",
);

/// Names in an executable's symbol tables that show CPython linked in (Debian's `python3.11`
/// is one static binary) or called (an embedding program, or a launcher that maps libpython:
/// `Py_BytesMain` from 3.8, `_Py_UnixMain` in 3.7, `Py_Main` before).
pub(crate) const SYMBOLS: &[&str] = &["Py_Initialize", "Py_BytesMain", "_Py_UnixMain", "Py_Main"];

const IS_PYTHON: &[Signal] = &[Signal::Runtime(PYTHON)];
const PYTHON_LIBRARY: &[Signal] = &[Signal::Runtime(PYTHON)];

#[rustfmt::skip]
static RULES: &[Rule] = &[
    rule(Stage::RuntimeFile, Library("libpython"), PermMatch::Any, &SHARED_LIBRARIES).signals(PYTHON_LIBRARY),
    rule(Stage::RuntimeFile, FileNameWhere(is_extension_module), PermMatch::Any, &SHARED_LIBRARIES).signals(PYTHON_LIBRARY),
    // The interpreter's code: for a saved file of a static `python3.11`, all that shows CPython.
    // It stays the executable's (the rules after this one decide which file that is).
    rule(Stage::RuntimeFile, FileNameWhere(is_interpreter), PermMatch::Executable, &BINARY)
        .when(Condition::Runtime(PYTHON)).signals(IS_PYTHON),
    rule(Stage::RuntimeLayout, UnnamedWhere(is_read_as_arenas), PermMatch::PrivateReadWrite, &ARENAS)
        .when(Condition::Runtime(PYTHON)).by_runtime_data(),
    rule(Stage::RuntimeLayout, UnnamedWhere(is_arena_run), PermMatch::PrivateReadWrite, &ARENAS)
        .when(Condition::Runtime(PYTHON)).by_layout(),
    rule(Stage::RuntimeFallback, UnnamedWhere(is_large_block), PermMatch::PrivateReadWrite, &LARGE_BLOCKS)
        .when(Condition::Runtime(PYTHON)).by_layout(),
];

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: PYTHON,
    name: "CPython",
    role: Role::Language,
    section_title: "CPython",
    categories: &[&ARENAS, &LARGE_BLOCKS],
    rules: RULES,
    relabel: &[Relabel {
        category: &C_HEAP,
        label: "C Heap (malloc)",
    }],
    executable: from_symbols,
    next_step: Some("start the program with PYTHONTRACEMALLOC=1 (or call tracemalloc.start()) and compare tracemalloc.get_traced_memory() and sys._debugmallocstats() with these lines"),
    arenas: Some(&POOLS),
};

/// An executable with its symbols has it; one without may still load it as a library.
fn from_symbols(facts: &ExecutableFacts) -> Verdict {
    super::linked_in(facts, SYMBOLS)
}

/// pymalloc's arena size from CPython 3.10 on (`ARENA_SIZE`, 1 << 20); earlier versions' 256 KiB
/// arenas count only where whole MiB of them are merged.
const ARENA_BYTES: u64 = 1024 * 1024;

/// The size and alignment of a transparent huge page (`PMD_SIZE` on x86-64 and arm64).
const HUGE_PAGE_BYTES: u64 = 2 * 1024 * 1024;

/// A whole number of arenas, mapped the way pymalloc maps them, and not a thread stack.
///
/// pymalloc maps each arena on its own with a plain `mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE |
/// MAP_ANONYMOUS)` and never advises it, so a run of arenas carries none of `hg` (NumPy's
/// large arrays), `nh` (thread stacks, `MADV_NOHUGEPAGE`) or `nr` (`MAP_NORESERVE`: jemalloc,
/// mimalloc, glibc's thread arenas). Nor does it start on a 2 MiB boundary with a size in whole
/// 2 MiB: that is how Linux 6.7 and later place one anonymous mapping of that size (aligned for
/// transparent huge pages: OpenBLAS's 128 MiB buffer, the program's own 2, 4, 8 MiB maps),
/// while arenas, 1 MiB each, land there only by chance. A glibc thread arena's head that the
/// kernel merged on top is left out of the count.
///
/// What stays indistinguishable: a map of the program's own, of whole MiB, made with the same
/// flags and merged by the kernel with adjacent arenas, or alone away from the 2 MiB grid.
fn is_arena_run(header: &Header<'_>, around: &Neighbours) -> bool {
    let end = glibc::merged_arena_head(header, around).unwrap_or(header.end);
    let size = end - header.start;
    around.inspection != Inspection::NoArenas(PYTHON)
        && size % ARENA_BYTES == 0
        && around.flags.plain()
        && !placed_for_huge_pages(header.start, size)
        && !is_guarded_thread_stack(header, around)
}

/// Arenas from end to end, as their pools' headers in the process's memory show.
fn is_read_as_arenas(_: &Header<'_>, around: &Neighbours) -> bool {
    around.inspection == Inspection::Arenas(PYTHON)
}

/// pymalloc's pools, as `Objects/obmalloc.c` lays them out (64-bit): arenas of 1 MiB with pools
/// of 16 KiB from 3.10 on, 256 KiB with 4 KiB pools before.
pub(crate) static POOLS: ArenaFormat = ArenaFormat {
    runtime: PYTHON,
    header_bytes: POOL_HEADER_BYTES,
    largest_pool_bytes: POOL_BYTES,
    smallest_arena_bytes: ARENA_BYTES_BEFORE_3_10,
    pool: pool_header,
    // Large objects come from malloc (`PyMem_RawMalloc`): glibc's where it is the C library.
    block: Some(glibc::mapped_chunk_bytes),
    block_header_bytes: glibc::CHUNK_HEADER_BYTES,
};

/// pymalloc's pool size from 3.10 on (`POOL_BITS` 14), and before (the 4 KiB page).
const POOL_BYTES: u64 = 16 * 1024;
const POOL_BYTES_BEFORE_3_10: u64 = 4096;
const ARENA_BYTES_BEFORE_3_10: u64 = 256 * 1024;

/// `struct pool_header`: the block count (a uint, in a union with a pointer), the free list,
/// the next and previous pool, then four uints: the arena's index, the size class, the offset
/// of the first block never used, and the largest that offset may be.
const POOL_HEADER_BYTES: usize = 48;

/// Blocks are multiples of `ALIGNMENT`, up to 512 bytes (`SMALL_REQUEST_THRESHOLD`): 16 bytes
/// on 64-bit in every CPython 3 measured here (3.6 to 3.13, `scripts/python-versions.sh`), 8 in
/// older builds, whose pools are 4 KiB.
const BLOCK_ALIGNMENTS: [(u64, Option<u64>); 2] = [(16, None), (8, Some(POOL_BYTES_BEFORE_3_10))];
const LARGEST_BLOCK: u64 = 512;

/// What a pool header read at `at` says, if it is one: every field must hold what
/// `init_pool` and the allocations after it can leave there, which the bytes of other memory
/// (zeros, text, numbers, pointers) practically never do all at once. The pool size is the one
/// the header itself implies (`maxnextoffset` is the pool size less one block).
fn pool_header(header: &[u8], at: u64) -> Option<Pool> {
    let bytes = |offset: usize, len: usize| header.get(offset..offset + len);
    let uint = |offset| {
        Some(u64::from(u32::from_ne_bytes(
            bytes(offset, 4)?.try_into().ok()?,
        )))
    };
    let pointer = |offset| Some(u64::from_ne_bytes(bytes(offset, 8)?.try_into().ok()?));
    let (count, free_block, arena) = (uint(0)?, pointer(8)?, uint(32)?);
    let (size_class, next_offset, max_next_offset) = (uint(36)?, uint(40)?, uint(44)?);
    BLOCK_ALIGNMENTS.iter().find_map(|&(alignment, only_pool)| {
        let block = (size_class + 1) * alignment;
        let pool_bytes = max_next_offset + block;
        let arena_bytes = match pool_bytes {
            POOL_BYTES => ARENA_BYTES,
            POOL_BYTES_BEFORE_3_10 => ARENA_BYTES_BEFORE_3_10,
            _ => return None,
        };
        let first_block = POOL_HEADER_BYTES as u64;
        let blocks_carved = next_offset.checked_sub(first_block)? / block;
        let holds = block <= LARGEST_BLOCK
            && only_pool.is_none_or(|only| only == pool_bytes)
            && (first_block..=max_next_offset + block).contains(&next_offset)
            && (next_offset - first_block) % block == 0
            && count <= blocks_carved
            && (free_block == 0 || (at + first_block..at + pool_bytes).contains(&free_block));
        holds.then_some(Pool {
            arena: u32::try_from(arena).ok()?,
            pool_bytes,
            arena_bytes,
        })
    })
}

/// On the 2 MiB grid and whole 2 MiB in size: where Linux 6.7 and later put one anonymous map
/// of that size.
fn placed_for_huge_pages(start: u64, size: u64) -> bool {
    start % HUGE_PAGE_BYTES == 0 && size % HUGE_PAGE_BYTES == 0
}

/// glibc's smallest mmap threshold (`M_MMAP_THRESHOLD`, 128 KiB): a block from malloc this large
/// may be a mapping of its own.
const LARGE_BLOCK_BYTES: u64 = 128 * 1024;

/// Reached only by memory that no earlier rule took (arenas, stacks, glibc's arenas).
fn is_large_block(header: &Header<'_>, _: &Neighbours) -> bool {
    header.size() >= LARGE_BLOCK_BYTES
}

/// `python`, `python3`, `python3.11`, `python3.13t`, `python2.7`: the interpreter's file names.
fn is_interpreter(file: &[u8]) -> bool {
    let Some(version) = file.strip_prefix(b"python") else {
        return false;
    };
    let digits_end = version
        .iter()
        .position(|byte| !(byte.is_ascii_digit() || *byte == b'.'))
        .unwrap_or(version.len());
    let (number, suffix) = version.split_at(digits_end);
    !number.starts_with(b".")
        && !number.ends_with(b".")
        && suffix.len() <= 2
        && suffix.iter().all(u8::is_ascii_lowercase)
        && (suffix.is_empty() || !number.is_empty())
}

/// An extension module built for CPython: `_ssl.cpython-311-x86_64-linux-gnu.so`.
fn is_extension_module(file: &[u8]) -> bool {
    memchr::memmem::find(file, b".cpython-").is_some() && file.ends_with(b".so")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::MapFlags;

    #[test]
    fn interpreter_names() {
        for name in [
            "python",
            "python3",
            "python3.11",
            "python3.13t",
            "python2.7",
            "python3.11d",
        ] {
            assert!(is_interpreter(name.as_bytes()), "{name}");
        }
        for name in [
            "pythonista",
            "python3.",
            "python-config",
            "python3.11-config",
            "py",
            "python.so",
        ] {
            assert!(!is_interpreter(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn extension_modules() {
        assert!(is_extension_module(
            b"_multiarray_umath.cpython-311-x86_64-linux-gnu.so"
        ));
        assert!(!is_extension_module(b"libpython3.11.so.1.0"));
        assert!(!is_extension_module(b"cpython-notes.txt"));
    }

    /// A header as `init_pool` leaves it, then `carved` more blocks handed out.
    fn pool_header_bytes(
        at: u64,
        arena: u32,
        size_class: u32,
        pool_bytes: u32,
        carved: u32,
    ) -> Vec<u8> {
        let block = (size_class + 1) * 16;
        let mut header = Vec::new();
        header.extend_from_slice(&(1 + carved).to_ne_bytes());
        header.extend_from_slice(&[0; 4]);
        header.extend_from_slice(&(at + 48 + u64::from(block)).to_ne_bytes());
        header.extend_from_slice(&0x7f00_1234_5000u64.to_ne_bytes());
        header.extend_from_slice(&0x7f00_1234_5000u64.to_ne_bytes());
        for uint in [
            arena,
            size_class,
            48 + (2 + carved) * block,
            pool_bytes - block,
        ] {
            header.extend_from_slice(&uint.to_ne_bytes());
        }
        header
    }

    #[test]
    fn pool_headers_are_told_from_other_memory() {
        let at = 0x7f00_0010_0000;
        let header = pool_header_bytes(at, 311, 3, 16384, 10);
        let expected = Pool {
            arena: 311,
            pool_bytes: 16384,
            arena_bytes: ARENA_BYTES,
        };
        assert_eq!(pool_header(&header, at), Some(expected));
        let older = pool_header_bytes(at, 2, 31, 4096, 0);
        assert_eq!(
            pool_header(&older, at).map(|pool| pool.arena_bytes),
            Some(256 * 1024)
        );
        // Before 3.8, blocks of 8 bytes' alignment (with 4 KiB pools only).
        let mut aligned_8 = pool_header_bytes(at, 5, 0, 4096, 2);
        aligned_8[44..48].copy_from_slice(&(4096u32 - 8).to_ne_bytes());
        aligned_8[40..44].copy_from_slice(&(48u32 + 4 * 8).to_ne_bytes());
        assert_eq!(pool_header(&aligned_8, at).map(|pool| pool.arena), Some(5));
        let mut aligned_8_large_pool = aligned_8.clone();
        aligned_8_large_pool[44..48].copy_from_slice(&(16384u32 - 8).to_ne_bytes());
        assert_eq!(pool_header(&aligned_8_large_pool, at), None);
        // The free list pointing outside the pool, a pool size no version has, a size class
        // beyond 512 bytes, more blocks used than carved, zeros, filler.
        let mut elsewhere = header.clone();
        elsewhere[8..16].copy_from_slice(&(at + 16384).to_ne_bytes());
        let odd_size = pool_header_bytes(at, 1, 3, 8192, 0);
        let mut too_big = header.clone();
        too_big[36..40].copy_from_slice(&64u32.to_ne_bytes());
        let mut overused = header.clone();
        overused[..4].copy_from_slice(&100u32.to_ne_bytes());
        for bytes in [
            elsewhere,
            odd_size,
            too_big,
            overused,
            vec![0; 48],
            vec![0x5a; 48],
        ] {
            assert_eq!(pool_header(&bytes, at), None, "{bytes:x?}");
        }
        assert_eq!(pool_header(&header[..40], at), None);
    }

    #[test]
    fn arena_runs_are_whole_mebibytes_but_not_stacks_or_huge_page_buffers() {
        let header = |line: &'static str| crate::smaps::parse_header(line.as_bytes()).unwrap();
        let plain = Neighbours {
            flags: MapFlags::of(b"rd wr mr mw me ac"),
            ..Neighbours::default()
        };
        let run = header("7f0000001000-7f0001d01000 rw-p 00000000 00:00 0 ");
        assert!(is_arena_run(&run, &plain));
        let read_empty = Neighbours {
            inspection: Inspection::NoArenas(PYTHON),
            ..plain
        };
        assert!(!is_arena_run(&run, &read_empty));
        let odd = header("7f0000001000-7f0001d02000 rw-p 00000000 00:00 0 ");
        assert!(!is_arena_run(&odd, &plain));
        for advised in [
            "rd wr mr mw me ac hg",
            "rd wr mr mw me ac nh",
            "rd wr mr mw me nr",
        ] {
            let around = Neighbours {
                flags: MapFlags::of(advised.as_bytes()),
                ..Neighbours::default()
            };
            assert!(!is_arena_run(&run, &around), "{advised}");
        }
        // OpenBLAS's 128 MiB buffer, placed on the 2 MiB grid by the kernel.
        let aligned = header("7f0064000000-7f006c000000 rw-p 00000000 00:00 0 ");
        assert!(!is_arena_run(&aligned, &plain));
        // 3 MiB on a 2 MiB boundary is not a size the kernel aligns: arenas may start there.
        let three = header("7f0064000000-7f0064300000 rw-p 00000000 00:00 0 ");
        assert!(is_arena_run(&three, &plain));
        let guard = header("7f0000000000-7f0000001000 ---p 00000000 00:00 0 ");
        let stack = header("7f0000001000-7f0000801000 rw-p 00000000 00:00 0 ");
        let above_guard = Neighbours {
            previous: Some(crate::classify::Neighbour::of(&guard)),
            ..plain
        };
        assert!(!is_arena_run(&stack, &above_guard));
        assert!(is_arena_run(&stack, &plain));
    }
}
