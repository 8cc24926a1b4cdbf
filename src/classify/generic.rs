//! The rules no runtime owns: names the kernel gives, mapped files, shared memory, devices, and
//! unnamed memory by its permissions; with them the categories those rules fill, including the
//! runtime section's shared ones (the C heap, stacks, runtime metadata) that several runtimes'
//! rules use.

use super::{
    group_rule, rule, CategoryDef, Label, NameMatch::*, Neighbours, PermMatch, Rule, Stage,
};
use crate::report::SectionId;
use crate::smaps::Header;

use PermMatch::Any as AnyPerms;
use SectionId::{Anonymous, FileBacked, Other, Runtime, SharedMemory};

pub(crate) static C_HEAP: CategoryDef = CategoryDef::new(
    "c.heap",
    "Heap",
    Runtime,
    "the C allocator's heap: [heap] (brk), malloc arenas, bionic/scudo, PartitionAlloc",
);
pub(crate) static STACK: CategoryDef = CategoryDef::new(
    "stack",
    "Stack",
    Runtime,
    "the main thread's stack and thread stacks",
);
pub(crate) static RUNTIME_METADATA: CategoryDef = CategoryDef::new(
    "runtime.metadata",
    "Metadata",
    Runtime,
    "a runtime's or the C library's own bookkeeping",
);
pub(crate) static BINARY: CategoryDef = CategoryDef {
    key: "file.binary",
    label: Label::Executable,
    section: FileBacked,
    about: "the analyzed executable's own file mappings",
};
pub(crate) static SHARED_LIBRARIES: CategoryDef = CategoryDef::new(
    "file.libraries",
    "Shared Libraries",
    FileBacked,
    "shared libraries (*.so)",
);
pub(crate) static OTHER_FILES: CategoryDef = CategoryDef::new(
    "file.other",
    "Other Files",
    FileBacked,
    "other mapped files",
);
pub(crate) static DELETED_FILES: CategoryDef = CategoryDef::new(
    "file.deleted",
    "Deleted Files",
    FileBacked,
    "mapped files that have been deleted",
);
pub(crate) static MEMFD: CategoryDef =
    CategoryDef::new("shm.memfd", "memfd", SharedMemory, "memfd_create memory");
pub(crate) static SYSV: CategoryDef = CategoryDef::new(
    "shm.sysv",
    "SysV Shared Memory",
    SharedMemory,
    "System V shared memory segments (shmget)",
);
pub(crate) static POSIX_SHM: CategoryDef = CategoryDef::new(
    "shm.posix",
    "POSIX Shared Memory (/dev/shm)",
    SharedMemory,
    "POSIX shared memory (shm_open, files in /dev/shm)",
);
pub(crate) static SHARED_ANONYMOUS: CategoryDef = CategoryDef::new(
    "shm.anonymous",
    "Shared Anonymous",
    SharedMemory,
    "MAP_SHARED | MAP_ANONYMOUS memory (/dev/zero (deleted))",
);
pub(crate) static LARGE_BLOCKS: CategoryDef = CategoryDef::new(
    "anon.large",
    "Large Blocks (malloc'd or mmapped)",
    Anonymous,
    "unnamed read-write maps the size of a C allocator's large blocks: malloc serves a block above \
     its mmap threshold with a map of its own, exactly as the program's own mmap would look, so \
     the two cannot be told apart",
);
pub(crate) static ANON_READ_WRITE: CategoryDef = CategoryDef::new(
    "anon.rw",
    "Read-Write",
    Anonymous,
    "unnamed read-write anonymous memory no rule recognised",
);
pub(crate) static ANON_READ_ONLY: CategoryDef = CategoryDef::new(
    "anon.ro",
    "Read-Only",
    Anonymous,
    "unnamed read-only anonymous memory",
);
pub(crate) static ANON_EXECUTABLE: CategoryDef = CategoryDef::new(
    "anon.exec",
    "Executable",
    Anonymous,
    "unnamed executable anonymous memory (JIT code)",
);
pub(crate) static ANON_RESERVED: CategoryDef = CategoryDef::new(
    "anon.reserved",
    "Reserved",
    Anonymous,
    "no-access reservations and guards, which hold no resident pages",
);
pub(crate) static KERNEL: CategoryDef = CategoryDef::new(
    "other.kernel",
    "Kernel (vdso, vvar, vsyscall)",
    Other,
    "pages the kernel provides: [vdso], [vvar], [vsyscall], aio rings, secretmem",
);
pub(crate) static ANON_INODE: CategoryDef = CategoryDef::new(
    "other.anon_inode",
    "anon_inode",
    Other,
    "anon_inode mappings (io_uring, perf events)",
);
pub(crate) static DEVICES: CategoryDef = CategoryDef::new(
    "other.devices",
    "Devices",
    Other,
    "mapped devices (/dev/..., e.g. GPU memory)",
);
pub(crate) static HUGE_PAGES: CategoryDef = CategoryDef::new(
    "other.hugepages",
    "Huge Pages",
    Other,
    "anonymous hugetlbfs memory (/anon_hugepage)",
);
pub(crate) static UNRECOGNIZED: CategoryDef = CategoryDef::new(
    "other.unrecognized",
    "Unrecognized",
    Other,
    "a name no rule recognises; still counted, never dropped",
);

/// The label of the remainder of named regions. The kernel never puts `[` or `]` in the name it
/// gives anonymous memory, so no real group is called this.
pub(crate) const OTHER_NAMES_LABEL: &str = "[other names]";
pub(crate) static OTHER_NAMES: CategoryDef = CategoryDef::new(
    "named.other",
    OTHER_NAMES_LABEL,
    SectionId::Named,
    "named regions beyond the largest names, when there are too many distinct names to keep",
);

/// The generic categories, in the order they are shown (after each runtime's own).
pub(crate) static CATEGORIES: &[&CategoryDef] = &[
    &C_HEAP,
    &STACK,
    &RUNTIME_METADATA,
    &SHARED_LIBRARIES,
    &BINARY,
    &OTHER_FILES,
    &DELETED_FILES,
    &OTHER_NAMES,
    &MEMFD,
    &SYSV,
    &POSIX_SHM,
    &SHARED_ANONYMOUS,
    &LARGE_BLOCKS,
    &ANON_READ_WRITE,
    &ANON_READ_ONLY,
    &ANON_EXECUTABLE,
    &ANON_RESERVED,
    &KERNEL,
    &ANON_INODE,
    &DEVICES,
    &HUGE_PAGES,
    &UNRECOGNIZED,
];

/// Whether a category is generic — no rule attributed its memory to a runtime, a name or a
/// file: the whole Anonymous Memory section and Other / Unrecognized. Their RSS is the
/// unexplained share.
pub(crate) fn is_unexplained(category: &CategoryDef) -> bool {
    category.section == Anonymous || category.key == UNRECOGNIZED.key
}

/// The generic rules. Within each stage they come before the runtimes' rules.
#[rustfmt::skip]
pub(crate) static RULES: &[Rule] = &[
    rule(Stage::KernelName, Exact("[heap]"),          AnyPerms, &C_HEAP),
    rule(Stage::KernelName, Exact("[stack]"),         AnyPerms, &STACK),
    rule(Stage::KernelName, Prefix("[stack:"),        AnyPerms, &STACK), // Linux 3.4–4.5 thread stacks
    rule(Stage::KernelName, Exact("[vdso]"),          AnyPerms, &KERNEL),
    rule(Stage::KernelName, Exact("[vvar]"),          AnyPerms, &KERNEL),
    rule(Stage::KernelName, Exact("[vvar_vclock]"),   AnyPerms, &KERNEL),
    rule(Stage::KernelName, Exact("[vsyscall]"),      AnyPerms, &KERNEL),
    rule(Stage::KernelName, Exact("[uprobes]"),       AnyPerms, &KERNEL),
    group_rule(Stage::OtherName, AnyAnonName),
    rule(Stage::Special,    Prefix("/memfd:"),        AnyPerms, &MEMFD),
    rule(Stage::Special,    Prefix("/SYSV"),          AnyPerms, &SYSV),
    rule(Stage::Special,    Prefix("/dev/shm/"),      AnyPerms, &POSIX_SHM),
    rule(Stage::Special,    Exact("/dev/zero (deleted)"), AnyPerms, &SHARED_ANONYMOUS),
    rule(Stage::Special,    Prefix("/anon_hugepage"), AnyPerms, &HUGE_PAGES),
    rule(Stage::Special,    Prefix("/dev/"),          AnyPerms, &DEVICES),
    rule(Stage::Special,    Prefix("anon_inode:"),    AnyPerms, &ANON_INODE),
    rule(Stage::Special,    Prefix("/[aio]"),         AnyPerms, &KERNEL),
    rule(Stage::Special,    Prefix("/secretmem"),     AnyPerms, &KERNEL),
    rule(Stage::File,       Executable,               AnyPerms, &BINARY),
    rule(Stage::File,       ExecutableCandidate,      AnyPerms, &BINARY).when(super::Condition::ChosenExecutable),
    rule(Stage::File,       DeletedSharedLibrary,     AnyPerms, &DELETED_FILES),
    rule(Stage::File,       DeletedPath,              AnyPerms, &DELETED_FILES),
    rule(Stage::File,       SharedLibrary,            AnyPerms, &SHARED_LIBRARIES),
    rule(Stage::File,       Path,                     AnyPerms, &OTHER_FILES),
    rule(Stage::Reservation, Unnamed,                 PermMatch::NoAccess, &ANON_RESERVED),
    rule(Stage::Layout,     UnnamedWhere(is_guarded_thread_stack), PermMatch::PrivateReadWrite, &STACK).by_layout(),
    rule(Stage::Fallback,   Unnamed,                  PermMatch::Executable, &ANON_EXECUTABLE),
    rule(Stage::Fallback,   Unnamed,                  PermMatch::PrivateReadWrite, &ANON_READ_WRITE),
    rule(Stage::Fallback,   Unnamed,                  PermMatch::Readable, &ANON_READ_ONLY),
    rule(Stage::Fallback,   Any,                      AnyPerms, &UNRECOGNIZED),
];

/// The largest no-access map taken for a thread stack's guard (glibc uses one page, HotSpot 16 KiB).
pub(crate) const MAX_GUARD_BYTES: u64 = 64 * 1024;
/// Bounds for an unnamed map above a guard to be taken for a thread stack: glibc's smallest
/// (PTHREAD_STACK_MIN) and twice its usual default (RLIMIT_STACK, 8 MiB). Larger guarded maps
/// are buffers that an allocator or application fenced in.
const STACK_BYTES: std::ops::RangeInclusive<u64> = 16 * 1024..=16 * 1024 * 1024;

/// An unnamed map directly above a small no-access guard, of a thread stack's size.
pub(crate) fn is_guarded_thread_stack(header: &Header<'_>, around: &Neighbours) -> bool {
    around.previous.is_some_and(|guard| {
        guard.unnamed_no_access && guard.end == header.start && guard.size() <= MAX_GUARD_BYTES
    }) && STACK_BYTES.contains(&header.size())
}

pub(crate) const DELETED_SUFFIX: &[u8] = b" (deleted)";

/// The NAME of `[anon:NAME]`, without leading or trailing spaces (`[anon: Go: heap]` gives
/// `Go: heap`).
pub(super) fn anon_name(name: &[u8]) -> Option<&[u8]> {
    let inner = name.strip_prefix(b"[anon:")?.strip_suffix(b"]")?;
    Some(trim_spaces(inner))
}

/// The NAME of `[anon:NAME]` or `[anon_shmem:NAME]`, trimmed: what named regions are grouped by.
pub(crate) fn named_group_source(name: &[u8]) -> Option<&[u8]> {
    anon_name(name).or_else(|| {
        let inner = name.strip_prefix(b"[anon_shmem:")?.strip_suffix(b"]")?;
        Some(trim_spaces(inner))
    })
}

fn trim_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |pos| pos + 1);
    &bytes[start..end]
}

/// A named group's key: runs of digits become `*`, so chunks named `TNC-0`, `TNC-1`, … form
/// one group `TNC-*`.
pub(crate) fn fold_digits(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    fold_digits_into(name, &mut out);
    out
}

/// [`fold_digits`] into `out`, reusing its allocation.
pub(crate) fn fold_digits_into(name: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut in_digits = false;
    for &byte in name {
        if byte.is_ascii_digit() {
            if !in_digits {
                out.push(b'*');
            }
            in_digits = true;
        } else {
            out.push(byte);
            in_digits = false;
        }
    }
}

/// The file name of a path, without ` (deleted)`.
pub(crate) fn file_name(path: &[u8]) -> &[u8] {
    let path = path.strip_suffix(DELETED_SUFFIX).unwrap_or(path);
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// Whether a file name (see [`file_name`]) is `*.so` or `*.so.N…` (e.g. `libc.so.6`,
/// `libssl.so.3.0.2`).
pub(super) fn is_shared_library_file(file: &[u8]) -> bool {
    let Some(pos) = memchr::memmem::rfind(file, b".so") else {
        return false;
    };
    let after = &file[pos + 3..];
    after.is_empty()
        || (after[0] == b'.' && after[1..].iter().all(|&b| b.is_ascii_digit() || b == b'.'))
}
