//! The HotSpot JVM (OpenJDK): the Java heap (recognised by where compressed oops put it, or by
//! ZGC's memfd), the code cache (its executable reservation), Metaspace (its committed
//! granules), the class data it maps from files (the CDS archive and `lib/modules`) and the
//! hsperfdata file; detected from `libjvm.so`, the CDS archive or the
//! hsperfdata file among the mapped files. HotSpot names none of its anonymous memory, so
//! everything but the files is known by its layout. Java thread stacks (a 16 KiB no-access
//! guard zone below each 1 MiB stack) are found by the generic thread-stack rule.

use super::{is_jit_code, not_in_executable, Relabel, Role, RuntimeDef};
use crate::classify::generic::{C_HEAP, SHARED_LIBRARIES};
use crate::classify::{
    rule, CategoryDef, Condition, NameMatch::*, Neighbour, Neighbours, PermMatch, Rule, Signal,
    Stage,
};
use crate::report::{RuntimeId, SectionId};
use crate::smaps::Header;

pub(crate) const JVM: RuntimeId = RuntimeId::new("jvm");

pub(crate) static JAVA_HEAP: CategoryDef = CategoryDef::new(
    "jvm.heap",
    "Java Heap",
    SectionId::Runtime,
    "the Java heap's reservation (-Xmx): committed part and reserved tail, where compressed oops \
     put it (between 2 and 32 GiB; -Xmx below 32 GiB); ZGC's /memfd:java_heap",
);
pub(crate) static CODE_CACHE: CategoryDef = CategoryDef::new(
    "jvm.code_cache",
    "Code Cache",
    SectionId::Runtime,
    "HotSpot's code cache: JIT-compiled code, interpreter and stubs (its executable parts and \
     the reservation above each, -XX:ReservedCodeCacheSize)",
);
pub(crate) static METASPACE: CategoryDef = CategoryDef::new(
    "jvm.metaspace",
    "Metaspace",
    SectionId::Runtime,
    "class metadata: the committed parts of Metaspace and the compressed class space (NMT's \
     Metaspace and Class) that lie beside an uncommitted part",
);
pub(crate) static CLASS_DATA: CategoryDef = CategoryDef::new(
    "jvm.class_data",
    "Class Data (CDS, modules)",
    SectionId::Runtime,
    "class data mapped from files: the CDS archive (classes.jsa, NMT's Shared class space, with \
     its archived heap objects) and the runtime image lib/modules",
);
pub(crate) static PERF_DATA: CategoryDef = CategoryDef::new(
    "jvm.perfdata",
    "PerfData (hsperfdata)",
    SectionId::Runtime,
    "the JVM's performance counters, /tmp/hsperfdata_USER/PID, which jstat reads without attaching",
);

const IS_JVM: &[Signal] = &[Signal::Runtime(JVM)];
const IN_JVM: Condition = Condition::Runtime(JVM);

#[rustfmt::skip]
static RULES: &[Rule] = &[
    // ZGC maps its heap from a memfd it names (several views of the same pages).
    rule(Stage::RuntimeName, Prefix("/memfd:java_heap"), PermMatch::Any, &JAVA_HEAP).signals(IS_JVM),
    rule(Stage::RuntimeFile, Library("libjvm.so"), PermMatch::Any, &SHARED_LIBRARIES)
        .signals(&[Signal::Runtime(JVM)]),
    rule(Stage::RuntimeFile, Prefix("/tmp/hsperfdata_"), PermMatch::Any, &PERF_DATA).signals(IS_JVM),
    rule(Stage::RuntimeFile, Suffix(".jsa"), PermMatch::Any, &CLASS_DATA).signals(IS_JVM),
    rule(Stage::RuntimeFile, Suffix("/lib/modules"), PermMatch::Any, &CLASS_DATA).when(IN_JVM),
    rule(Stage::RuntimeReservation, UnnamedWhere(in_compressed_oops_heap), PermMatch::Any, &JAVA_HEAP)
        .when(IN_JVM).by_layout(),
    rule(Stage::RuntimeReservation, UnnamedWhere(is_jit_code), PermMatch::Any, &CODE_CACHE)
        .when(IN_JVM).by_layout(),
    rule(Stage::RuntimeReservation, UnnamedWhere(is_metaspace_granules), PermMatch::PrivateReadWrite, &METASPACE)
        .when(IN_JVM).by_layout(),
];

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: JVM,
    name: "JVM (HotSpot)",
    role: Role::Language,
    section_title: "JVM (HotSpot)",
    categories: &[&JAVA_HEAP, &CODE_CACHE, &METASPACE, &CLASS_DATA, &PERF_DATA],
    rules: RULES,
    relabel: &[Relabel {
        category: &C_HEAP,
        label: "Native Heap (malloc)",
    }],
    executable: not_in_executable,
    next_step: Some("start the JVM with -XX:NativeMemoryTracking=summary, then run jcmd PID VM.native_memory summary (GC, Metaspace, Class, Thread, Code, Internal); jcmd PID GC.heap_info prints the heap's address range"),
    arenas: None,
};

/// HotSpot's default `HeapBaseMinAddress` on Linux (x86-64 and aarch64): no heap starts lower.
const HEAP_BASE_MIN_ADDRESS: u64 = 2 << 30;
/// `UnscaledOopHeapMax`: a heap of up to about 2 GiB ends here (unscaled compressed oops).
const UNSCALED_OOP_HEAP_MAX: u64 = 4 << 30;
/// `OopEncodingHeapMax`: with compressed oops (the default below -Xmx32g) HotSpot places the
/// heap so that it ends at 4 GiB (unscaled oops) or at most at 32 GiB (zero-based oops).
const OOP_ENCODING_HEAP_MAX: u64 = 32 << 30;
/// `CompressedClassSpaceSize`'s default: without a CDS archive (JDK 11, `-Xshare:off`) HotSpot
/// reserves the class space right above a heap that ends at 4 GiB.
const CLASS_SPACE_BYTES: u64 = 1 << 30;

/// Read-write or reserved memory where compressed oops put the Java heap. Nothing else in a
/// JVM lives there but the class space that HotSpot puts right above a heap ending at 4 GiB
/// when there is no CDS archive: memory entirely within that gigabyte is left out (a zero-based
/// heap, from -Xmx27g, reaches it only with its bottom, which the kernel usually merges with
/// the rest of the heap). The CDS archive and the class space beside it start at 32 GiB or
/// among the mmap addresses; thread stacks and malloc arenas are among the mmap addresses.
fn in_compressed_oops_heap(header: &Header<'_>, _: &Neighbours) -> bool {
    let perms = header.perms;
    let heap_perms = !perms.shared()
        && !perms.executable()
        && (perms.no_access() || (perms.readable() && perms.writable()));
    let class_space_above_4_gib = header.start >= UNSCALED_OOP_HEAP_MAX
        && header.end <= UNSCALED_OOP_HEAP_MAX + CLASS_SPACE_BYTES;
    heap_perms
        && header.start >= HEAP_BASE_MIN_ADDRESS
        && header.end <= OOP_ENCODING_HEAP_MAX
        && !class_space_above_4_gib
}

/// Metaspace commits its reservations (64 MiB nodes, the 1 GiB class space) in granules of
/// this size (`Settings::commit_granule_bytes()`).
const METASPACE_GRANULE_BYTES: u64 = 64 * 1024;

/// Committed granules of Metaspace or the class space: a read-write piece on granule
/// boundaries right beside a no-access piece on granule boundaries (the uncommitted rest of the
/// reservation). Thread stacks' guards and the code heaps' maps are not on granule boundaries;
/// a glibc malloc arena (64 MiB-aligned, with its tail) is left to glibc.
fn is_metaspace_granules(header: &Header<'_>, around: &Neighbours) -> bool {
    let on_granules = |start: u64, end: u64| {
        start % METASPACE_GRANULE_BYTES == 0 && end % METASPACE_GRANULE_BYTES == 0
    };
    let uncommitted =
        |piece: &Neighbour| piece.unnamed_no_access && on_granules(piece.start, piece.end);
    let header_perms = header.perms;
    !header_perms.executable()
        && on_granules(header.start, header.end)
        && (around
            .next
            .is_some_and(|next| next.start == header.end && uncommitted(&next))
            || around
                .previous
                .is_some_and(|previous| previous.end == header.start && uncommitted(&previous)))
        && !super::glibc::is_malloc_arena(header, around)
}
