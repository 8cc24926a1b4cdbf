//! Node.js and its V8 engine: the V8 heap (256 KiB pages, `kPageSizeBits = 18`, which V8 maps
//! at random addresses below 64 TiB), its large objects, the JIT code (V8's code space) and
//! WebAssembly memories (each in a 10 GiB reservation); detected from the `node` executable or `libnode.so` among the mapped files. V8 names
//! none of its memory, so its heap is known by its layout. Buffers and ArrayBuffers are
//! malloc'd outside the V8 heap (glibc serves large ones with their own mmap); thread stacks
//! are found by the generic thread-stack rule.

use super::{is_jit_code, not_in_executable, Relabel, Role, RuntimeDef};
use crate::classify::generic::{BINARY, C_HEAP, SHARED_LIBRARIES};
use crate::classify::{
    rule, CategoryDef, Condition, NameMatch::*, Neighbours, PermMatch, Rule, Signal, Stage,
};
use crate::report::{RuntimeId, SectionId};
use crate::smaps::Header;

pub(crate) const NODE: RuntimeId = RuntimeId::new("node");

pub(crate) static V8_HEAP: CategoryDef = CategoryDef::new(
    "v8.heap",
    "V8 Heap",
    SectionId::Runtime,
    "V8's heap pages (256 KiB each): new, old, code, map and read-only space, and the reserved \
     pages of the pointer-compression cage",
);
pub(crate) static V8_LARGE_OBJECTS: CategoryDef = CategoryDef::new(
    "v8.large_objects",
    "V8 Large Objects",
    SectionId::Runtime,
    "V8's large-object space: objects above the page size, each on a page of its own size",
);
pub(crate) static V8_CODE: CategoryDef = CategoryDef::new(
    "v8.code",
    "JIT Code",
    SectionId::Runtime,
    "V8's code range: JIT-compiled code (rwx, or r-x where V8 flips permissions to write) and \
     its reservation",
);

pub(crate) static WASM_MEMORY: CategoryDef = CategoryDef::new(
    "v8.wasm",
    "WebAssembly Memory",
    SectionId::Runtime,
    "WebAssembly memories: the accessible part of each 10 GiB reservation V8 makes for one (a \
     2 GiB guard below it, the rest above)",
);

const IS_NODE: &[Signal] = &[Signal::Runtime(NODE)];
const IN_NODE: Condition = Condition::Runtime(NODE);

#[rustfmt::skip]
static RULES: &[Rule] = &[
    // Debian builds node against a shared libnode.so; other builds link V8 into the executable.
    rule(Stage::RuntimeFile, Library("libnode.so"), PermMatch::Any, &SHARED_LIBRARIES)
        .signals(&[Signal::Runtime(NODE)]),
    rule(Stage::RuntimeFile, Suffix("/node"), PermMatch::Executable, &BINARY).when(IN_NODE).signals(IS_NODE),
    rule(Stage::RuntimeReservation, UnnamedWhere(is_v8_page_run), PermMatch::Any, &V8_HEAP)
        .when(IN_NODE).by_layout(),
    rule(Stage::RuntimeReservation, UnnamedWhere(is_v8_large_page), PermMatch::Any, &V8_LARGE_OBJECTS)
        .when(IN_NODE).by_layout(),
    rule(Stage::RuntimeReservation, UnnamedWhere(is_jit_code), PermMatch::Any, &V8_CODE)
        .when(IN_NODE).by_layout(),
    rule(Stage::RuntimeReservation, UnnamedWhere(is_wasm_memory), PermMatch::PrivateReadWrite, &WASM_MEMORY)
        .when(IN_NODE).by_layout(),
];

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: NODE,
    name: "Node.js (V8)",
    role: Role::Language,
    section_title: "Node.js (V8)",
    categories: &[&V8_HEAP, &V8_LARGE_OBJECTS, &V8_CODE, &WASM_MEMORY],
    rules: RULES,
    relabel: &[Relabel {
        category: &C_HEAP,
        label: "Native Heap (malloc)",
    }],
    executable: not_in_executable,
    next_step: Some("print process.memoryUsage() (heapTotal, external, arrayBuffers) and v8.getHeapSpaceStatistics() from the program, or run node --heap-prof to see what holds the heap"),
    arenas: None,
};

/// V8's page size, `1 << kPageSizeBits`; pages are aligned to it.
const V8_PAGE_BYTES: u64 = 256 * 1024;
/// V8 asks for its pages at random hint addresses masked to `0x3FFFFFFFF000`
/// (`GetRandomMmapAddr`), far below where Linux puts mmaps without a hint (`0x7f…`) and
/// position-independent executables (`0x55…`).
const V8_HINT_LIMIT: u64 = 1 << 46;

/// Unnamed private memory at a page boundary below V8's hint limit, and not the unnamed
/// continuation (`.bss`) of a file mapped right below it, such as a non-PIE executable's.
fn at_v8_page(header: &Header<'_>, around: &Neighbours) -> bool {
    let perms = header.perms;
    !perms.shared()
        && !perms.executable()
        && header.start % V8_PAGE_BYTES == 0
        && header.end <= V8_HINT_LIMIT
        && !around
            .previous
            .is_some_and(|below| !below.unnamed && below.end == header.start)
}

/// Whole pages (neighbours merge into runs of them), or a page V8 trimmed (read-only space).
fn is_v8_page_run(header: &Header<'_>, around: &Neighbours) -> bool {
    at_v8_page(header, around)
        && (header.size() % V8_PAGE_BYTES == 0 || header.size() < V8_PAGE_BYTES)
}

/// A large object's page: page-aligned, its size the object's rounded to the OS page.
fn is_v8_large_page(header: &Header<'_>, around: &Neighbours) -> bool {
    at_v8_page(header, around)
        && header.size() > V8_PAGE_BYTES
        && header.size() % V8_PAGE_BYTES != 0
}

/// V8 reserves this much address space for each WebAssembly memory (`kFullGuardSize`), so that
/// every 32-bit index plus offset lands in it: bounds checks cost nothing.
const WASM_RESERVATION_BYTES: u64 = 10 << 30;
/// The no-access guard below the memory's start, within that reservation.
const WASM_GUARD_BELOW_BYTES: u64 = 2 << 30;

/// The accessible part of a WebAssembly memory: exactly 2 GiB of no-access guard below it, and
/// no-access address space above it up to the end of the 10 GiB reservation.
fn is_wasm_memory(header: &Header<'_>, around: &Neighbours) -> bool {
    let (Some(below), Some(above)) = (around.previous, around.next) else {
        return false;
    };
    below.unnamed_no_access
        && below.end == header.start
        && below.size() == WASM_GUARD_BELOW_BYTES
        && above.unnamed_no_access
        && above.start == header.end
        // Checked: hostile input need not be in address order.
        && above.end.checked_sub(below.start) == Some(WASM_RESERVATION_BYTES)
}
