//! A deterministic generator of realistic `/proc/<pid>/smaps` text, in the Linux 6.18 format and
//! field order, for the `parse` benchmark and for tests that need a large input of a chosen size.
//!
//! Include it with `#[path = "../benches/synthetic.rs"] mod synthetic;` (or `#[path =
//! "synthetic.rs"]` from a bench): it uses nothing but `std`.
//!
//! The layout is that of a busy native process: the executable's segments and `.bss`, `[heap]`,
//! then the bulk of the regions (unnamed anonymous `rw-p` / `r--p` / `---p` maps, thread stacks
//! above their guard pages, glibc malloc arenas with their reservations, `[anon:NAME-<i>]`
//! chunks, memfd and SysV shared memory, a few data files), then shared libraries with their
//! usual five segments, `[vvar]`, `[vvar_vclock]`, `[vdso]`, the dynamic loader, `[stack]` and
//! `[vsyscall]`. Addresses increase and never overlap; neighbouring anonymous maps are kept
//! apart by a gap unless the kernel would really print them adjacent (a stack above its guard,
//! an arena above its reservation), so the text is what a kernel could print. Per region,
//! `Rss = Shared_Clean + Shared_Dirty + Private_Clean + Private_Dirty`, `Pss ≤ Rss`,
//! `Anonymous ≤ Rss`, `AnonHugePages ≤ Anonymous`, `SwapPss ≤ Swap`.
//!
//! The set of distinct names is bounded (a fixed list of libraries and files; numbered
//! `[anon:…]` names differ only in their digits), as in a real process, so that consumers that
//! group by name see a number of groups that does not grow with the number of regions.
#![allow(dead_code)]

use std::io::Write;

const PAGE: u64 = 4096;
const KB_PER_PAGE: u64 = PAGE / 1024;

/// Where the executable is mapped (a PIE executable's usual place).
const EXE_BASE: u64 = 0x5581_9a3c_0000;
const EXE_PATH: &str = "/usr/local/bin/app-server";
/// Where the bulk of the anonymous maps starts.
const MMAP_BASE: u64 = 0x7f10_0000_0000;
/// The main thread's stack, unless the regions above it reach that far.
const STACK_BASE: u64 = 0x7ffd_5a3b_1000;
const LIB_DIR: &str = "/usr/lib/x86_64-linux-gnu/";
const LIBRARIES: [&str; 32] = [
    "libc.so.6",
    "libm.so.6",
    "libgcc_s.so.1",
    "libstdc++.so.6.0.33",
    "libz.so.1.3.1",
    "libssl.so.3",
    "libcrypto.so.3",
    "libzstd.so.1.5.6",
    "liblzma.so.5.6.3",
    "libbz2.so.1.0.4",
    "libsystemd.so.0.40.0",
    "libcap.so.2.75",
    "libgcrypt.so.20.5.0",
    "libgpg-error.so.0.38.0",
    "liblz4.so.1.10.0",
    "libnss_files.so.2",
    "libresolv.so.2",
    "libffi.so.8.1.4",
    "libpcre2-8.so.0.13.0",
    "libselinux.so.1",
    "libuuid.so.1.3.0",
    "libcurl.so.4.8.0",
    "libnghttp2.so.14.28.3",
    "libidn2.so.0.4.0",
    "libunistring.so.5.1.0",
    "libpsl.so.5.3.5",
    "libssh2.so.1.0.1",
    "librtmp.so.1",
    "libbrotlidec.so.1.1.0",
    "libbrotlicommon.so.1.1.0",
    "libjemalloc.so.2",
    "libsqlite3.so.0.8.6",
];
/// Application-named anonymous memory; `{}` becomes a per-region number.
const ANON_NAMES: [&str; 6] = [
    "[anon:TNC-{}]",
    "[anon:cache-{}]",
    "[anon:TXMetaCache]",
    "[anon:arena-{}-slab]",
    "[anon: glibc: pthread stack: {}]",
    "[anon_shmem:ring-{}]",
];
const DATA_FILES: [&str; 6] = [
    "/usr/lib/locale/locale-archive",
    "/var/lib/app/index-0.db",
    "/var/lib/app/index-1.db",
    "/var/lib/app/blobs.pack",
    "/var/cache/app/model.bin",
    "/var/lib/app/wal-000017.log (deleted)",
];

/// xorshift64*: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// The per-region figures, in kB.
#[derive(Clone, Copy, Default)]
struct Counts {
    rss: u64,
    pss: u64,
    pss_dirty: u64,
    shared_clean: u64,
    shared_dirty: u64,
    private_clean: u64,
    private_dirty: u64,
    referenced: u64,
    anonymous: u64,
    anon_huge: u64,
    swap: u64,
    swap_pss: u64,
    thp_eligible: bool,
}

impl Counts {
    /// Private anonymous memory: `resident` pages dirty, `swapped` pages in swap.
    fn anon(resident: u64, swapped: u64, huge_kb: u64, thp_eligible: bool) -> Counts {
        let rss = resident * KB_PER_PAGE;
        Counts {
            rss,
            pss: rss,
            pss_dirty: rss,
            private_dirty: rss,
            referenced: rss,
            anonymous: rss,
            anon_huge: huge_kb.min(rss) / 2048 * 2048,
            swap: swapped * KB_PER_PAGE,
            swap_pss: swapped * KB_PER_PAGE,
            thp_eligible,
            ..Counts::default()
        }
    }

    /// Clean file pages: `shared` of them also mapped by `sharers - 1` other processes.
    fn file_clean(resident: u64, shared: u64, sharers: u64) -> Counts {
        let shared = shared.min(resident);
        let shared_kb = shared * KB_PER_PAGE;
        let private_kb = (resident - shared) * KB_PER_PAGE;
        Counts {
            rss: shared_kb + private_kb,
            pss: private_kb + shared_kb / sharers.max(1),
            shared_clean: shared_kb,
            private_clean: private_kb,
            referenced: shared_kb + private_kb,
            ..Counts::default()
        }
    }

    /// MAP_SHARED memory (memfd, SysV): dirty, optionally mapped by another process too.
    fn shmem(resident: u64, sharers: u64) -> Counts {
        let rss = resident * KB_PER_PAGE;
        let (shared_dirty, private_dirty, pss) = if sharers > 1 {
            (rss, 0, rss / sharers)
        } else {
            (0, rss, rss)
        };
        Counts {
            rss,
            pss,
            pss_dirty: pss,
            shared_dirty,
            private_dirty,
            referenced: rss,
            ..Counts::default()
        }
    }
}

struct Mapping<'a> {
    start: u64,
    end: u64,
    perms: &'a str,
    offset: u64,
    dev: (u32, u32),
    inode: u64,
    name: &'a str,
    counts: Counts,
    vm_flags: &'a str,
}

struct Generator {
    out: Vec<u8>,
    /// Records still to write.
    left: usize,
    /// Lowest free address.
    cursor: u64,
    /// End of the last record written.
    last_end: u64,
    rng: Rng,
    next_inode: u64,
    next_tid: u64,
    named_chunk: u64,
    arenas: u32,
}

impl Generator {
    fn record(&mut self, m: &Mapping<'_>) {
        if self.left == 0 {
            return;
        }
        self.left -= 1;
        assert!(m.start < m.end && m.start >= self.last_end, "maps overlap");
        let c = &m.counts;
        debug_assert_eq!(
            c.rss,
            c.shared_clean + c.shared_dirty + c.private_clean + c.private_dirty
        );
        let out = &mut self.out;
        let line_start = out.len();
        write!(
            out,
            "{:08x}-{:08x} {} {:08x} {:02x}:{:02x} {} ",
            m.start, m.end, m.perms, m.offset, m.dev.0, m.dev.1, m.inode
        )
        .unwrap();
        if !m.name.is_empty() {
            // The kernel pads the prefix to 72 columns, then adds one space.
            let width = out.len() - line_start;
            if width < 72 {
                out.resize(out.len() + 72 - width, b' ');
            }
            out.push(b' ');
            out.extend_from_slice(m.name.as_bytes());
        }
        out.push(b'\n');
        let size = (m.end - m.start) / 1024;
        let kb_fields: [(&str, u64); 22] = [
            ("Size:", size),
            ("KernelPageSize:", KB_PER_PAGE),
            ("MMUPageSize:", KB_PER_PAGE),
            ("Rss:", c.rss),
            ("Pss:", c.pss),
            ("Pss_Dirty:", c.pss_dirty),
            ("Shared_Clean:", c.shared_clean),
            ("Shared_Dirty:", c.shared_dirty),
            ("Private_Clean:", c.private_clean),
            ("Private_Dirty:", c.private_dirty),
            ("Referenced:", c.referenced),
            ("Anonymous:", c.anonymous),
            ("KSM:", 0),
            ("LazyFree:", 0),
            ("AnonHugePages:", c.anon_huge),
            ("ShmemPmdMapped:", 0),
            ("FilePmdMapped:", 0),
            ("Shared_Hugetlb:", 0),
            ("Private_Hugetlb:", 0),
            ("Swap:", c.swap),
            ("SwapPss:", c.swap_pss),
            ("Locked:", 0),
        ];
        for (key, value) in kb_fields {
            writeln!(out, "{key:<16}{value:>8} kB").unwrap();
        }
        writeln!(
            out,
            "{:<16}{:>8}",
            "THPeligible:",
            u64::from(c.thp_eligible)
        )
        .unwrap();
        writeln!(out, "VmFlags: {}", m.vm_flags).unwrap();
        self.cursor = self.cursor.max(m.end);
        self.last_end = m.end;
    }

    /// Skips a gap of 1..=max_pages pages, so that the next map does not touch the last one.
    fn gap(&mut self, max_pages: u64) {
        self.cursor += self.rng.between(1, max_pages) * PAGE;
    }

    fn anon(&mut self, pages: u64, perms: &str, name: &str, counts: Counts, vm_flags: &str) {
        let start = self.cursor;
        self.record(&Mapping {
            start,
            end: start + pages * PAGE,
            perms,
            offset: 0,
            dev: (0, 0),
            inode: 0,
            name,
            counts,
            vm_flags,
        });
    }

    /// The five segments of an ELF object (`r--p`, `r-xp`, `r--p`, relro `r--p`, `rw-p`).
    fn elf_object(&mut self, path: &str, sharers: u64) {
        let inode = self.next_inode;
        self.next_inode += self.rng.between(1, 5000);
        let dev = (0xfe, 0);
        let pages = [
            self.rng.between(4, 64),
            self.rng.between(16, 512),
            self.rng.between(8, 160),
            self.rng.between(1, 8),
            self.rng.between(1, 4),
        ];
        let mut offset = 0;
        for (segment, &n) in pages.iter().enumerate() {
            let resident = match segment {
                1 => self.rng.between(n / 4, n),
                0 | 2 => self.rng.between(1, n),
                _ => n,
            };
            let (perms, counts, flags) = match segment {
                0 | 2 => (
                    "r--p",
                    Counts::file_clean(resident, resident * 3 / 4, sharers),
                    "rd mr mw me ",
                ),
                1 => (
                    "r-xp",
                    Counts::file_clean(resident, resident - resident / 8, sharers),
                    "rd ex mr mw me ",
                ),
                // RELRO and .data: copy-on-write pages, anonymous and private.
                3 => (
                    "r--p",
                    Counts::anon(resident, 0, 0, false),
                    "rd mr mw me ac ",
                ),
                _ => (
                    "rw-p",
                    Counts::anon(resident, 0, 0, false),
                    "rd wr mr mw me ac ",
                ),
            };
            let start = self.cursor;
            self.record(&Mapping {
                start,
                end: start + n * PAGE,
                perms,
                offset,
                dev,
                inode,
                name: path,
                counts,
                vm_flags: flags,
            });
            offset += n * PAGE;
        }
    }

    fn executable(&mut self) {
        self.cursor = EXE_BASE;
        self.elf_object(EXE_PATH, 1);
        // .bss continues right after .data.
        let pages = self.rng.between(2, 40);
        self.anon(
            pages,
            "rw-p",
            "",
            Counts::anon(pages / 2, 0, 0, false),
            "rd wr mr mw me ac ",
        );
    }

    fn heap(&mut self) {
        self.cursor = (self.cursor + 0x0100_0000) & !(PAGE - 1);
        self.gap(4096);
        let pages = self.rng.between(256, 8192);
        let resident = self.rng.between(pages / 2, pages);
        self.anon(
            pages,
            "rw-p",
            "[heap]",
            Counts::anon(resident, 0, 0, false),
            "rd wr mr mw me ac ",
        );
    }

    /// How many records [`Generator::body_item`] may write at most.
    const MAX_ITEM_RECORDS: usize = 2;

    /// One item of the bulk: one or two records, chosen at random.
    fn body_item(&mut self) {
        self.gap(16);
        let roll = self.rng.below(1000);
        match roll {
            // Unnamed private anonymous memory: malloc'd chunks, caches, runtime structures.
            0..=419 => {
                let pages = if self.rng.percent(95) {
                    self.rng.between(1, 256)
                } else {
                    self.rng.between(257, 8192)
                };
                let resident = self.rng.between(0, pages);
                let swapped = if self.rng.percent(5) {
                    self.rng.between(0, pages - resident)
                } else {
                    0
                };
                let big = pages >= 512;
                let huge = if big && self.rng.percent(30) {
                    resident * KB_PER_PAGE
                } else {
                    0
                };
                let flags = if big {
                    "rd wr mr mw me ac hg "
                } else {
                    "rd wr mr mw me ac "
                };
                self.anon(
                    pages,
                    "rw-p",
                    "",
                    Counts::anon(resident, swapped, huge, big),
                    flags,
                );
            }
            // Read-only anonymous memory (mprotect'ed tables), mostly untouched.
            420..=549 => {
                let pages = self.rng.between(1, 64);
                let resident = if self.rng.percent(20) {
                    self.rng.between(0, pages)
                } else {
                    0
                };
                self.anon(
                    pages,
                    "r--p",
                    "",
                    Counts::anon(resident, 0, 0, false),
                    "rd mr mw me ac ",
                );
            }
            // A reservation: no access, no pages.
            550..=659 => {
                let pages = self.rng.between(1, 4096);
                self.anon(pages, "---p", "", Counts::default(), "mr mw me nr ");
            }
            // A glibc thread stack: a one-page guard directly below the stack.
            660..=729 => {
                self.anon(1, "---p", "", Counts::default(), "mr mw me nh ");
                let pages = 2048;
                let resident = self.rng.between(2, 64);
                self.anon(
                    pages,
                    "rw-p",
                    "",
                    Counts::anon(resident, 0, 0, true),
                    "rd wr mr mw me ac nh ",
                );
            }
            // A glibc malloc arena: 64 MiB aligned, its rw-p head followed by its reservation.
            730..=739 if self.arenas < 16 => {
                self.arenas += 1;
                let align = 64 << 20;
                self.cursor = (self.cursor + align - 1) & !(align - 1);
                let head = self.rng.between(33, 4096);
                let resident = self.rng.between(head / 4, head);
                self.anon(
                    head,
                    "rw-p",
                    "",
                    Counts::anon(resident, 0, 0, true),
                    "rd wr mr mw me ac ",
                );
                self.anon(
                    (align / PAGE) - head,
                    "---p",
                    "",
                    Counts::default(),
                    "mr mw me nr ",
                );
            }
            // Application-named anonymous memory, numbered chunks mostly.
            740..=899 => {
                let pattern = ANON_NAMES[self.rng.below(ANON_NAMES.len() as u64) as usize];
                let number = if pattern.contains("pthread stack") {
                    self.next_tid += 1;
                    self.next_tid
                } else {
                    self.named_chunk += 1;
                    self.named_chunk
                };
                let name = pattern.replace("{}", &number.to_string());
                let pages = self.rng.between(16, 256);
                let resident = self.rng.between(pages / 2, pages);
                let (perms, counts, flags) = if name.starts_with("[anon_shmem:") {
                    ("rw-s", Counts::shmem(resident, 1), "rd wr sh mr mw me ms ")
                } else {
                    (
                        "rw-p",
                        Counts::anon(resident, 0, 0, false),
                        "rd wr mr mw me ac ",
                    )
                };
                self.anon(pages, perms, &name, counts, flags);
            }
            // memfd and SysV shared memory.
            900..=949 => {
                let pages = self.rng.between(1, 512);
                let resident = self.rng.between(0, pages);
                let sharers = self.rng.between(1, 3);
                let (name, inode) = if self.rng.percent(70) {
                    ("/memfd:pool (deleted)", self.rng.between(1000, 99_999))
                } else {
                    (
                        ["/SYSV000004d2 (deleted)", "/SYSV6502a1f3 (deleted)"]
                            [self.rng.below(2) as usize],
                        self.rng.between(0, 32_768),
                    )
                };
                let start = self.cursor;
                self.record(&Mapping {
                    start,
                    end: start + pages * PAGE,
                    perms: "rw-s",
                    offset: 0,
                    dev: (0, 1),
                    inode,
                    name,
                    counts: Counts::shmem(resident, sharers),
                    vm_flags: "rd wr sh mr mw me ms ",
                });
            }
            // Mapped data files.
            _ => {
                let which = self.rng.below(DATA_FILES.len() as u64) as usize;
                let pages = self.rng.between(1, 2048);
                let resident = self.rng.between(0, pages);
                let shared = self.rng.percent(50);
                let offset = self.rng.below(1 << 16) * PAGE;
                let start = self.cursor;
                self.record(&Mapping {
                    start,
                    end: start + pages * PAGE,
                    perms: if shared { "r--s" } else { "r--p" },
                    offset,
                    dev: (0xfe, 1),
                    inode: 500_000 + which as u64,
                    name: DATA_FILES[which],
                    counts: Counts::file_clean(resident, resident / 2, 2),
                    vm_flags: if shared {
                        "rd sh mr mw me ms "
                    } else {
                        "rd mr mw me "
                    },
                });
            }
        }
    }

    fn kernel_pages(&mut self) {
        self.gap(64);
        self.anon(4, "r--p", "[vvar]", Counts::default(), "rd mr pf io de dd ");
        self.anon(
            2,
            "r--p",
            "[vvar_vclock]",
            Counts::default(),
            "rd mr pf io de dd ",
        );
        self.anon(
            2,
            "r-xp",
            "[vdso]",
            Counts::file_clean(1, 1, 50),
            "rd ex mr mw me de ",
        );
    }

    fn stack(&mut self) {
        self.cursor = STACK_BASE.max(self.cursor + 0x1000_0000);
        let pages = self.rng.between(33, 256);
        let resident = self.rng.between(8, 33);
        self.anon(
            pages,
            "rw-p",
            "[stack]",
            Counts::anon(resident, 0, 0, false),
            "rd wr mr mw me gd ac ",
        );
    }

    fn vsyscall(&mut self) {
        self.cursor = 0xffff_ffff_ff60_0000;
        self.anon(1, "--xp", "[vsyscall]", Counts::default(), "ex ");
    }
}

/// Realistic smaps text with exactly `regions` records (for very small counts, the first
/// `regions` records of the layout). The same `regions` always gives the same bytes.
pub fn synthetic_smaps(regions: usize) -> Vec<u8> {
    let mut g = Generator {
        out: Vec::with_capacity(regions * 760 + 4096),
        left: regions,
        cursor: 0,
        last_end: 0,
        rng: Rng(0x9e37_79b9_7f4a_7c15),
        next_inode: 1_310_721,
        next_tid: 4_100,
        named_chunk: 0,
        arenas: 0,
    };
    // Executable (5 segments + .bss) and heap.
    g.executable();
    g.heap();
    // Libraries at the top: up to all of them, fewer for small inputs.
    let libraries = LIBRARIES.len().min(regions / 40);
    // Libraries, vvar/vvar_vclock/vdso, the loader, [stack], [vsyscall].
    let tail = libraries * 5 + 3 + 5 + 2;
    g.cursor = MMAP_BASE;
    while g.left > tail {
        if g.left - tail < Generator::MAX_ITEM_RECORDS {
            // Room for one record only: a plain anonymous map.
            g.gap(16);
            g.anon(
                1,
                "rw-p",
                "",
                Counts::anon(1, 0, 0, false),
                "rd wr mr mw me ac ",
            );
        } else {
            g.body_item();
        }
    }
    for library in &LIBRARIES[..libraries] {
        g.gap(16);
        let path = format!("{LIB_DIR}{library}");
        let sharers = g.rng.between(2, 40);
        g.elf_object(&path, sharers);
    }
    g.kernel_pages();
    g.gap(4);
    g.elf_object(&format!("{LIB_DIR}ld-linux-x86-64.so.2"), 40);
    g.stack();
    g.vsyscall();
    debug_assert_eq!(g.left, 0);
    g.out
}

/// A name made of lowercase letters only, different for every `n`: names that differ in their
/// digits would be one group (`TNC-*`), these never are.
pub fn letters(mut n: usize) -> String {
    let mut name = String::new();
    loop {
        name.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            return name;
        }
    }
}

/// Hostile smaps text: `regions` one-page private maps, each with its own name `name(i)` (a
/// million distinct `[anon:…]` names, say), every one resident. Only the fields that matter are
/// printed, so that large counts stay quick to write and to read.
pub fn distinct_names_smaps(regions: usize, name: impl Fn(usize) -> String) -> Vec<u8> {
    let mut out = Vec::with_capacity(regions * 120);
    for index in 0..regions {
        let start = MMAP_BASE + index as u64 * 2 * PAGE;
        let _ = write!(
            out,
            "{start:08x}-{end:08x} rw-p 00000000 00:00 0 {name}\nSize: 4 kB\nRss: 4 kB\n\
             Pss: 4 kB\nPrivate_Dirty: 4 kB\n",
            end = start + PAGE,
            name = name(index),
        );
    }
    out
}
