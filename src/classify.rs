//! Puts every region into exactly one [`Kind`], using the ordered rule table [`RULES`].
//!
//! A kind is what the region *is* (a Go heap arena, a thread stack, a shared library, …) and does
//! not depend on facts learned later in the input. Which section and category a kind is shown
//! under can depend on the runtime (a Go process's unnamed read-write maps are runtime metadata);
//! [`Kind::placement`] makes that choice once the whole input has been seen.

use crate::parse::{Header, Perms};

/// What a region is. Every region gets exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A runtime's own heap: `[anon: Go: heap]`.
    RuntimeHeap,
    /// Unnamed read-write anonymous memory in Go's arena address range (Go before 1.25).
    GoArena,
    /// The C allocator's heap: `[heap]` (brk), glibc malloc arenas, bionic/scudo, PartitionAlloc.
    MallocHeap,
    /// An unnamed glibc malloc arena, recognised by its 64 MiB alignment and reservation.
    MallocArena,
    /// The main thread's stack and named thread stacks.
    Stack,
    /// An unnamed read-write map right above a small no-access guard: a thread stack.
    GuardedThreadStack,
    /// Other runtime-named memory: Go and glibc metadata.
    RuntimeMetadata,
    /// `[anon:NAME]` / `[anon_shmem:NAME]` not claimed by a runtime rule.
    Named,
    /// The analyzed executable's own file mappings.
    Binary,
    SharedLibrary,
    /// A mapped file that has been deleted (other than the binary).
    DeletedFile,
    OtherFile,
    Memfd,
    SysV,
    PosixShm,
    /// `MAP_SHARED | MAP_ANONYMOUS`, shown as `/dev/zero (deleted)`.
    SharedAnonymous,
    AnonReadWrite,
    AnonReadOnly,
    AnonExecutable,
    /// No access at all: reservations and guards, which hold no resident pages.
    AnonReserved,
    /// `[vdso]`, `[vvar]`, `[vsyscall]` and similar kernel-provided pages.
    Kernel,
    AnonInode,
    Device,
    HugePages,
    /// A name no rule recognises. Still counted, never dropped.
    Unrecognized,
}

impl Kind {
    pub const ALL: [Kind; 25] = [
        Kind::RuntimeHeap,
        Kind::GoArena,
        Kind::MallocHeap,
        Kind::MallocArena,
        Kind::Stack,
        Kind::GuardedThreadStack,
        Kind::RuntimeMetadata,
        Kind::Named,
        Kind::Binary,
        Kind::SharedLibrary,
        Kind::DeletedFile,
        Kind::OtherFile,
        Kind::Memfd,
        Kind::SysV,
        Kind::PosixShm,
        Kind::SharedAnonymous,
        Kind::AnonReadWrite,
        Kind::AnonReadOnly,
        Kind::AnonExecutable,
        Kind::AnonReserved,
        Kind::Kernel,
        Kind::AnonInode,
        Kind::Device,
        Kind::HugePages,
        Kind::Unrecognized,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Where this kind is shown, given what the whole input said about the runtime.
    pub fn placement(self, runtime: &RuntimeFacts) -> (Section, Category) {
        use Category as C;
        use Section as S;
        match self {
            Kind::RuntimeHeap => (S::Runtime, C::Heap),
            Kind::GoArena if runtime.is_go => (S::Runtime, C::Heap),
            Kind::GoArena => (S::Anonymous, C::ReadWrite),
            Kind::MallocHeap | Kind::MallocArena if runtime.is_go => (S::Runtime, C::CHeap),
            Kind::MallocHeap | Kind::MallocArena => (S::Runtime, C::Heap),
            Kind::Stack | Kind::GuardedThreadStack => (S::Runtime, C::Stack),
            Kind::RuntimeMetadata => (S::Runtime, C::Metadata),
            Kind::AnonReadWrite if runtime.is_pure_go() => (S::Runtime, C::Metadata),
            Kind::Named => (S::Named, C::NamedGroup),
            Kind::Binary => (S::FileBacked, C::Binary),
            Kind::SharedLibrary => (S::FileBacked, C::SharedLibraries),
            Kind::DeletedFile => (S::FileBacked, C::DeletedFiles),
            Kind::OtherFile => (S::FileBacked, C::OtherFiles),
            Kind::Memfd => (S::SharedMemory, C::Memfd),
            Kind::SysV => (S::SharedMemory, C::SysV),
            Kind::PosixShm => (S::SharedMemory, C::PosixShm),
            Kind::SharedAnonymous => (S::SharedMemory, C::SharedAnonymous),
            Kind::AnonReadWrite => (S::Anonymous, C::ReadWrite),
            Kind::AnonReadOnly => (S::Anonymous, C::ReadOnly),
            Kind::AnonExecutable => (S::Anonymous, C::Executable),
            Kind::AnonReserved => (S::Anonymous, C::Reserved),
            Kind::Kernel => (S::Other, C::Kernel),
            Kind::AnonInode => (S::Other, C::AnonInode),
            Kind::Device => (S::Other, C::Devices),
            Kind::HugePages => (S::Other, C::HugePages),
            Kind::Unrecognized => (S::Other, C::Unrecognized),
        }
    }
}

/// The output's sections, in the order they are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    Runtime,
    Named,
    FileBacked,
    SharedMemory,
    Anonymous,
    Other,
}

impl Section {
    pub const ALL: [Section; 6] = [
        Section::Runtime,
        Section::Named,
        Section::FileBacked,
        Section::SharedMemory,
        Section::Anonymous,
        Section::Other,
    ];

    /// The heading, as the original tool printed it (the runtime section is named after the runtime).
    pub fn title(self, runtime: &RuntimeFacts) -> &'static str {
        match self {
            Section::Runtime if runtime.is_go => "Go Runtime",
            Section::Runtime => "Native Runtime",
            Section::Named => "Named Memory Regions (mmap)",
            Section::FileBacked => "File-Backed Memory",
            Section::SharedMemory => "Shared Memory",
            Section::Anonymous => "Anonymous Memory",
            Section::Other => "Other",
        }
    }
}

/// The categories within sections, in the order they are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Heap,
    CHeap,
    Stack,
    Metadata,
    /// One line per group of `[anon:NAME]` regions; the label is the group's name.
    NamedGroup,
    SharedLibraries,
    /// Labelled `<executable name> Binary`.
    Binary,
    OtherFiles,
    DeletedFiles,
    Memfd,
    SysV,
    PosixShm,
    SharedAnonymous,
    ReadWrite,
    ReadOnly,
    Executable,
    Reserved,
    Kernel,
    AnonInode,
    Devices,
    HugePages,
    Unrecognized,
}

impl Category {
    /// The fixed label; `None` for the categories labelled from the input (named groups, binary).
    pub fn label(self) -> Option<&'static str> {
        Some(match self {
            Category::Heap => "Heap",
            Category::CHeap => "C Heap (cgo/malloc)",
            Category::Stack => "Stack",
            Category::Metadata => "Metadata",
            Category::NamedGroup | Category::Binary => return None,
            Category::SharedLibraries => "Shared Libraries",
            Category::OtherFiles => "Other Files",
            Category::DeletedFiles => "Deleted Files",
            Category::Memfd => "memfd",
            Category::SysV => "SysV Shared Memory",
            Category::PosixShm => "POSIX Shared Memory (/dev/shm)",
            Category::SharedAnonymous => "Shared Anonymous",
            Category::ReadWrite => "Read-Write",
            Category::ReadOnly => "Read-Only",
            Category::Executable => "Executable",
            Category::Reserved => "Reserved",
            Category::Kernel => "Kernel (vdso, vvar, vsyscall)",
            Category::AnonInode => "anon_inode",
            Category::Devices => "Devices",
            Category::HugePages => "Huge Pages",
            Category::Unrecognized => "Unrecognized",
        })
    }
}

/// What the whole input (and, for a live process, its executable) says about the runtime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeFacts {
    pub is_go: bool,
    /// Any shared library is mapped: a Go process with one uses cgo or a C library.
    pub maps_shared_libraries: bool,
}

impl RuntimeFacts {
    /// A Go binary with no C code: its unnamed anonymous memory is the Go runtime's own.
    pub fn is_pure_go(&self) -> bool {
        self.is_go && !self.maps_shared_libraries
    }
}

/// How a rule matches a region's name.
#[derive(Clone, Copy, Debug)]
enum NameMatch {
    Exact(&'static str),
    Prefix(&'static str),
    /// `[anon:NAME]` whose NAME, without leading spaces, equals this.
    AnonExact(&'static str),
    /// `[anon:NAME]` whose NAME, without leading spaces, starts with this.
    AnonPrefix(&'static str),
    /// Any `[anon:NAME]` or `[anon_shmem:NAME]`.
    AnyAnonName,
    /// The path of the analyzed executable.
    Executable,
    /// A path ending in ` (deleted)`.
    DeletedPath,
    /// A path whose file name is `*.so` or `*.so.N…`.
    SharedLibrary,
    /// Any other path.
    Path,
    /// No name, in Go's heap arena address range.
    UnnamedInGoArena,
    /// No name, 64 MiB-aligned, filling a 64 MiB reservation together with a no-access tail:
    /// a glibc malloc arena of a thread (HEAP_MAX_SIZE on 64-bit).
    UnnamedMallocArena,
    /// No name, directly above a small no-access mapping.
    UnnamedAboveGuard,
    /// No name.
    Unnamed,
    /// Anything.
    Any,
}

/// Which permissions a rule needs.
#[derive(Clone, Copy, Debug)]
enum PermMatch {
    Any,
    /// Readable and writable, private.
    PrivateReadWrite,
    Executable,
    Readable,
    NoAccess,
}

struct Rule {
    name: NameMatch,
    perms: PermMatch,
    kind: Kind,
}

const fn rule(name: NameMatch, perms: PermMatch, kind: Kind) -> Rule {
    Rule { name, perms, kind }
}

use NameMatch::*;
use PermMatch::Any as AnyPerms;

/// The classification rules, first match wins. The last rule matches everything, so every
/// region gets a kind.
#[rustfmt::skip]
const RULES: &[Rule] = &[
    // Kernel-named regions.
    rule(Exact("[heap]"),                  AnyPerms,                   Kind::MallocHeap),
    rule(Exact("[stack]"),                 AnyPerms,                   Kind::Stack),
    rule(Prefix("[stack:"),                AnyPerms,                   Kind::Stack), // Linux 3.4–4.5 thread stacks
    rule(Exact("[vdso]"),                  AnyPerms,                   Kind::Kernel),
    rule(Exact("[vvar]"),                  AnyPerms,                   Kind::Kernel),
    rule(Exact("[vvar_vclock]"),           AnyPerms,                   Kind::Kernel),
    rule(Exact("[vsyscall]"),              AnyPerms,                   Kind::Kernel),
    rule(Exact("[uprobes]"),               AnyPerms,                   Kind::Kernel),
    // Go 1.25+ names its mappings `[anon: Go: …]`.
    rule(AnonExact("Go: heap"),            AnyPerms,                   Kind::RuntimeHeap),
    rule(AnonPrefix("Go: "),               AnyPerms,                   Kind::RuntimeMetadata),
    // glibc 2.39+ with glibc.mem.decorate_maps=1.
    rule(AnonExact("glibc: malloc arena"), AnyPerms,                   Kind::MallocHeap),
    rule(AnonExact("glibc: malloc"),       AnyPerms,                   Kind::MallocHeap),
    rule(AnonPrefix("glibc: pthread stack"), AnyPerms,                 Kind::Stack),
    rule(AnonPrefix("glibc: pthread user stack"), AnyPerms,            Kind::Stack),
    rule(AnonPrefix("glibc: unused stack"), AnyPerms,                  Kind::Stack),
    rule(AnonPrefix("glibc: "),            AnyPerms,                   Kind::RuntimeMetadata),
    // Android bionic, scudo, jemalloc and Chromium's allocator.
    rule(AnonExact("libc_malloc"),         AnyPerms,                   Kind::MallocHeap),
    rule(AnonPrefix("scudo:"),             AnyPerms,                   Kind::MallocHeap),
    rule(AnonPrefix("jemalloc"),           AnyPerms,                   Kind::MallocHeap),
    rule(AnonExact("partition_alloc"),     AnyPerms,                   Kind::MallocHeap),
    rule(AnonPrefix("stack_and_tls:"),     AnyPerms,                   Kind::Stack),
    rule(AnonPrefix("thread signal stack"), AnyPerms,                  Kind::Stack),
    // Every other name an application gave its anonymous memory.
    rule(AnyAnonName,                      AnyPerms,                   Kind::Named),
    // Shared memory.
    rule(Prefix("/memfd:"),                AnyPerms,                   Kind::Memfd),
    rule(Prefix("/SYSV"),                  AnyPerms,                   Kind::SysV),
    rule(Prefix("/dev/shm/"),              AnyPerms,                   Kind::PosixShm),
    rule(Exact("/dev/zero (deleted)"),     AnyPerms,                   Kind::SharedAnonymous),
    rule(Prefix("/anon_hugepage"),         AnyPerms,                   Kind::HugePages),
    rule(Prefix("/dev/"),                  AnyPerms,                   Kind::Device),
    rule(Prefix("anon_inode:"),            AnyPerms,                   Kind::AnonInode),
    rule(Prefix("/[aio]"),                 AnyPerms,                   Kind::Kernel),
    rule(Prefix("/secretmem"),             AnyPerms,                   Kind::Kernel),
    // Files.
    rule(Executable,                       AnyPerms,                   Kind::Binary),
    rule(DeletedPath,                      AnyPerms,                   Kind::DeletedFile),
    rule(SharedLibrary,                    AnyPerms,                   Kind::SharedLibrary),
    rule(Path,                             AnyPerms,                   Kind::OtherFile),
    // Unnamed anonymous memory.
    rule(Unnamed,                          PermMatch::NoAccess,        Kind::AnonReserved),
    rule(UnnamedInGoArena,                 PermMatch::PrivateReadWrite, Kind::GoArena),
    rule(UnnamedMallocArena,               PermMatch::PrivateReadWrite, Kind::MallocArena),
    rule(UnnamedAboveGuard,                PermMatch::PrivateReadWrite, Kind::GuardedThreadStack),
    rule(Unnamed,                          PermMatch::Executable,      Kind::AnonExecutable),
    rule(Unnamed,                          PermMatch::PrivateReadWrite, Kind::AnonReadWrite),
    rule(Unnamed,                          PermMatch::Readable,        Kind::AnonReadOnly),
    rule(Any,                              AnyPerms,                   Kind::Unrecognized),
];

/// The largest no-access map taken for a thread stack's guard (glibc uses one page, HotSpot 16 KiB).
const MAX_GUARD_BYTES: u64 = 64 * 1024;
/// Bounds for an unnamed map above a guard to be taken for a thread stack: glibc's smallest
/// (PTHREAD_STACK_MIN) and twice its usual default (RLIMIT_STACK, 8 MiB). Larger guarded maps
/// are buffers that an allocator or application fenced in.
const MIN_STACK_BYTES: u64 = 16 * 1024;
const MAX_STACK_BYTES: u64 = 16 * 1024 * 1024;
/// glibc's HEAP_MAX_SIZE on 64-bit: each thread arena reserves this much, aligned to it.
const MALLOC_ARENA_BYTES: u64 = 64 * 1024 * 1024;

/// A region's neighbour in address order (the one before or after), which some rules look at.
#[derive(Clone, Copy, Debug, Default)]
pub struct Neighbour {
    pub start: u64,
    pub end: u64,
    pub unnamed_no_access: bool,
}

impl Neighbour {
    pub fn of(header: &Header<'_>) -> Neighbour {
        Neighbour {
            start: header.start,
            end: header.end,
            unnamed_no_access: header.name.is_empty() && header.perms.no_access(),
        }
    }

    fn size(&self) -> u64 {
        self.end - self.start
    }
}

/// The regions around the one being classified.
#[derive(Clone, Copy, Debug, Default)]
pub struct Neighbours {
    pub previous: Option<Neighbour>,
    pub next: Option<Neighbour>,
}

/// Classifies regions; holds what the rules need besides the region and its neighbours.
#[derive(Debug, Default, Clone)]
pub struct Classifier {
    /// The executable's path as smaps prints it, when known (a live process). For a saved file
    /// the aggregator picks the executable once it has seen every region.
    executable: Option<Vec<u8>>,
}

impl Classifier {
    /// `executable` is the analyzed binary's path as `/proc/<pid>/exe` gives it, when known.
    pub fn new(executable: Option<&[u8]>) -> Classifier {
        Classifier {
            executable: executable.map(<[u8]>::to_vec),
        }
    }

    pub fn executable(&self) -> Option<&[u8]> {
        self.executable.as_deref()
    }

    pub fn classify(&self, header: &Header<'_>, around: &Neighbours) -> Kind {
        RULES
            .iter()
            .find(|rule| {
                perms_match(rule.perms, header.perms)
                    && self.name_matches(rule.name, header, around)
            })
            .map(|rule| rule.kind)
            .expect("the last rule matches every region")
    }

    fn name_matches(&self, pattern: NameMatch, header: &Header<'_>, around: &Neighbours) -> bool {
        let name = header.name;
        match pattern {
            Exact(text) => name == text.as_bytes(),
            Prefix(text) => name.starts_with(text.as_bytes()),
            AnonExact(text) => anon_name(name).is_some_and(|anon| anon == text.as_bytes()),
            AnonPrefix(text) => {
                anon_name(name).is_some_and(|anon| anon.starts_with(text.as_bytes()))
            }
            AnyAnonName => named_group_source(name).is_some(),
            Executable => self.executable.as_deref() == Some(name),
            DeletedPath => name.starts_with(b"/") && name.ends_with(DELETED_SUFFIX),
            SharedLibrary => name.starts_with(b"/") && is_shared_library(name),
            Path => name.starts_with(b"/"),
            UnnamedInGoArena => name.is_empty() && in_go_arena_range(header.start),
            UnnamedMallocArena => {
                let size = header.end - header.start;
                name.is_empty()
                    && header.start % MALLOC_ARENA_BYTES == 0
                    && (size == MALLOC_ARENA_BYTES
                        || around.next.is_some_and(|tail| {
                            tail.unnamed_no_access
                                && tail.start == header.end
                                // Checked: hostile input may put an arena at the very top.
                                && header.start.checked_add(MALLOC_ARENA_BYTES) == Some(tail.end)
                        }))
            }
            UnnamedAboveGuard => {
                name.is_empty()
                    && around.previous.is_some_and(|guard| {
                        guard.unnamed_no_access
                            && guard.end == header.start
                            && guard.size() <= MAX_GUARD_BYTES
                    })
                    && (MIN_STACK_BYTES..=MAX_STACK_BYTES).contains(&(header.end - header.start))
            }
            Unnamed => name.is_empty(),
            Any => true,
        }
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

pub const DELETED_SUFFIX: &[u8] = b" (deleted)";

/// The NAME of `[anon:NAME]`, without leading spaces (`[anon: Go: heap]` gives `Go: heap`).
pub fn anon_name(name: &[u8]) -> Option<&[u8]> {
    let inner = name.strip_prefix(b"[anon:")?.strip_suffix(b"]")?;
    Some(trim_spaces(inner))
}

/// The NAME of `[anon:NAME]` or `[anon_shmem:NAME]`, trimmed: what named regions are grouped by.
pub fn named_group_source(name: &[u8]) -> Option<&[u8]> {
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

/// Writes the group key of a named region: runs of digits become `*`, so chunks named `TNC-0`,
/// `TNC-1`, … form one group `TNC-*`. Reuses `out`'s allocation.
pub fn group_key_into(name: &[u8], out: &mut Vec<u8>) {
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

/// `*.so` or `*.so.N…` (e.g. `libc.so.6`, `libssl.so.3.0.2`), with or without ` (deleted)`.
pub fn is_shared_library(name: &[u8]) -> bool {
    let path = name.strip_suffix(DELETED_SUFFIX).unwrap_or(name);
    let file = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let Some(pos) = memchr::memmem::rfind(file, b".so") else {
        return false;
    };
    let after = &file[pos + 3..];
    after.is_empty()
        || (after[0] == b'.' && after[1..].iter().all(|&b| b.is_ascii_digit() || b == b'.'))
}

/// Go's heap arenas on 64-bit Linux start at hint addresses `0x00c0 << 32`, `0x01c0 << 32`, …
/// and grow upward in 64 MiB steps. Only the hints below 16 TiB are taken: higher ones (up to
/// `0x7fc0 << 32`) fall among ordinary mmap addresses, where a C allocation would be mistaken
/// for Go heap one time in 256.
pub fn in_go_arena_range(address: u64) -> bool {
    address < 0x1000_0000_0000 && (address >> 32) & 0xff == 0xc0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_header;

    fn kind_of(line: &str) -> Kind {
        Classifier::new(Some(b"/usr/bin/app")).classify(
            &parse_header(line.as_bytes()).unwrap(),
            &Neighbours::default(),
        )
    }

    #[test]
    fn recognises_kernel_and_runtime_names() {
        assert_eq!(
            kind_of("55a000000000-55a000021000 rw-p 00000000 00:00 0 [heap]"),
            Kind::MallocHeap
        );
        assert_eq!(
            kind_of("7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]"),
            Kind::Stack
        );
        assert_eq!(
            kind_of("7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack:1234]"),
            Kind::Stack
        );
        assert_eq!(
            kind_of("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]"),
            Kind::Kernel
        );
        assert_eq!(
            kind_of("c000000000-c004000000 rw-p 00000000 00:00 0 [anon: Go: heap]"),
            Kind::RuntimeHeap
        );
        assert_eq!(
            kind_of("c004000000-c008000000 ---p 00000000 00:00 0 [anon: Go: heap reservation]"),
            Kind::RuntimeMetadata
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:Go: gc bits]"),
            Kind::RuntimeMetadata
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon: glibc: malloc arena]"),
            Kind::MallocHeap
        );
        assert_eq!(
            kind_of(
                "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon: glibc: pthread stack: 42]"
            ),
            Kind::Stack
        );
        assert_eq!(
            kind_of(
                "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon: glibc: getrandom states]"
            ),
            Kind::RuntimeMetadata
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:stack_and_tls:77]"),
            Kind::Stack
        );
    }

    #[test]
    fn recognises_named_shared_and_file_memory() {
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:TNC-3]"),
            Kind::Named
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-s 00000000 00:01 9 [anon_shmem:pool]"),
            Kind::Named
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-s 00000000 00:01 9 /memfd:buf (deleted)"),
            Kind::Memfd
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-s 00000000 00:01 9 /SYSV0000abcd (deleted)"),
            Kind::SysV
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-s 00000000 00:01 9 /dev/shm/ring"),
            Kind::PosixShm
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-s 00000000 00:01 9 /dev/zero (deleted)"),
            Kind::SharedAnonymous
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-s 00000000 00:05 9 /dev/nvidia0"),
            Kind::Device
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-s 00000000 00:0f 9 anon_inode:[io_uring]"),
            Kind::AnonInode
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-s 00000000 00:0f 9 /anon_hugepage (deleted)"),
            Kind::HugePages
        );
        assert_eq!(
            kind_of("00400000-00401000 r-xp 00000000 08:01 7 /usr/bin/app"),
            Kind::Binary
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 r-xp 00000000 08:01 7 /lib/libc.so.6"),
            Kind::SharedLibrary
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 r-xp 00000000 08:01 7 /lib/ld-linux-x86-64.so.2"),
            Kind::SharedLibrary
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 r--p 00000000 08:01 7 /lib/old.so.1 (deleted)"),
            Kind::DeletedFile
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 r--p 00000000 08:01 7 /usr/share/zoneinfo/UTC"),
            Kind::OtherFile
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 r--p 00000000 08:01 7 /data/app.json.so.bak"),
            Kind::OtherFile
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 r--p 00000000 00:00 0 [weird]"),
            Kind::Unrecognized
        );
    }

    #[test]
    fn splits_unnamed_anonymous_memory_by_permissions_and_neighbours() {
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 "),
            Kind::AnonReadWrite
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 r--p 00000000 00:00 0 "),
            Kind::AnonReadOnly
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 r-xp 00000000 00:00 0 "),
            Kind::AnonExecutable
        );
        assert_eq!(
            kind_of("7f0000000000-7f0000100000 ---p 00000000 00:00 0 "),
            Kind::AnonReserved
        );
        assert_eq!(
            kind_of("c000000000-c004000000 rw-p 00000000 00:00 0 "),
            Kind::GoArena
        );
        assert_eq!(
            kind_of("1c000000000-1c004000000 rw-p 00000000 00:00 0 "),
            Kind::GoArena
        );
        assert_eq!(
            kind_of("7fc000000000-7fc000100000 rw-p 00000000 00:00 0 "),
            Kind::AnonReadWrite
        );

        let classifier = Classifier::new(None);
        let after = |header: &Header<'_>| Neighbours {
            previous: Some(Neighbour::of(header)),
            next: None,
        };
        let before = |header: &Header<'_>| Neighbours {
            previous: None,
            next: Some(Neighbour::of(header)),
        };
        let guard = parse_header(b"7f0000000000-7f0000001000 ---p 00000000 00:00 0 ").unwrap();
        let stack = parse_header(b"7f0000001000-7f0000801000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(
            classifier.classify(&stack, &after(&guard)),
            Kind::GuardedThreadStack
        );
        let far = parse_header(b"7f0000002000-7f0000801000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(
            classifier.classify(&far, &after(&guard)),
            Kind::AnonReadWrite
        );
        let fenced = parse_header(b"7f0000001000-7f0004001000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(
            classifier.classify(&fenced, &after(&guard)),
            Kind::AnonReadWrite
        );
        let tiny = parse_header(b"7f0000001000-7f0000003000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(
            classifier.classify(&tiny, &after(&guard)),
            Kind::AnonReadWrite
        );

        let arena = parse_header(b"7fcf74000000-7fcf74021000 rw-p 00000000 00:00 0 ").unwrap();
        let tail = parse_header(b"7fcf74021000-7fcf78000000 ---p 00000000 00:00 0 ").unwrap();
        assert_eq!(
            classifier.classify(&arena, &before(&tail)),
            Kind::MallocArena
        );
        let short = parse_header(b"7fcf74021000-7fcf77000000 ---p 00000000 00:00 0 ").unwrap();
        assert_eq!(
            classifier.classify(&arena, &before(&short)),
            Kind::AnonReadWrite
        );
        let full = parse_header(b"7fcf74000000-7fcf78000000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(
            classifier.classify(&full, &Neighbours::default()),
            Kind::MallocArena
        );

        // An aligned map at the top of the address space: no arena fits, and no overflow.
        let top =
            parse_header(b"fffffffffc000000-fffffffffc001000 rw-p 00000000 00:00 0 ").unwrap();
        let above =
            parse_header(b"fffffffffc001000-ffffffffffff0000 ---p 00000000 00:00 0 ").unwrap();
        assert_eq!(
            classifier.classify(&top, &before(&above)),
            Kind::AnonReadWrite
        );
    }

    #[test]
    fn groups_names_that_differ_only_in_numbers() {
        let mut key = Vec::new();
        group_key_into(b"TNC-511", &mut key);
        assert_eq!(key, b"TNC-*");
        group_key_into(b"cache v2 shard 17", &mut key);
        assert_eq!(key, b"cache v* shard *");
        assert_eq!(
            named_group_source(b"[anon: TXMetaCache]"),
            Some(&b"TXMetaCache"[..])
        );
        assert_eq!(
            named_group_source(b"[anon:TXMetaCache]"),
            Some(&b"TXMetaCache"[..])
        );
    }

    #[test]
    fn every_kind_has_a_placement_for_every_runtime() {
        for is_go in [false, true] {
            for maps_shared_libraries in [false, true] {
                let facts = RuntimeFacts {
                    is_go,
                    maps_shared_libraries,
                };
                for kind in Kind::ALL {
                    let (section, _) = kind.placement(&facts);
                    assert!(Section::ALL.contains(&section));
                }
            }
        }
        for (index, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), index);
        }
    }
}
