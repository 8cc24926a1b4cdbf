//! A live process's runtime arenas, found by reading the runtime's own pool headers in its
//! memory (read-only: `/proc/<pid>/pagemap` for which pages are resident, `process_vm_readv`
//! for one header per resident pool-aligned page, never a page that is not resident), and the
//! unnamed mappings that hold them split into arenas and the rest.
//!
//! Why: the kernel merges adjacent anonymous mappings of the same flags, so pymalloc's 1 MiB
//! arenas and a block that malloc mapped beside them (a bytearray's 30 MiB) become one mapping
//! that layout cannot split ("k arenas and a block of r bytes" has the shape of "k − 1 arenas
//! and a block of 1 MiB + r"). The headers can: each pool starts with one that names its
//! arena. Where a block may begin, the allocator's own header at its start (glibc's for a
//! chunk it mapped) tells its size, and the block is skipped whole. A split mapping's figures
//! are shared out by the pages pagemap shows resident (and swapped) in each piece, so the
//! pieces add up exactly to the mapping.
//!
//! What a runtime's arenas look like in memory is the runtime's knowledge
//! ([`ArenaFormat`], e.g. `runtime/python.rs`); this file only reads and splits.

use crate::aggregate::Aggregator;
use crate::classify::{Inspection, MapFlags};
use crate::runtime::ArenaFormat;
use crate::smaps::{FieldKey, Fields, Region};

/// The page size pagemap counts in (4 KiB on x86-64 and on arm64 as Linux distributions
/// build it).
const PAGE_BYTES: u64 = 4096;

/// Headers read per analysis at most: 65,536 reads cover 1 GiB of memory that is not arenas at
/// the 16 KiB step (or 64 GiB of arenas). Beyond, mappings stay as their layout says.
const MAX_HEADER_READS: u32 = 1 << 16;

/// What pagemap says of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageState {
    /// Never touched, or given back: holds no header.
    Absent,
    Resident,
    /// Swapped out: reading it would bring it back in, so it is not read.
    Swapped,
}

/// A live process's memory as far as it may be read.
pub(crate) trait Memory {
    /// The states of the pages from `start` (page-aligned) on, one per slot of `states`;
    /// `false` when pagemap cannot be read.
    fn page_states(&mut self, start: u64, states: &mut [PageState]) -> bool;
    /// Reads `bytes.len() / addresses.len()` bytes at each of `addresses` into `bytes`, one
    /// after the other, in as few calls as it can; how many were read whole, from the first.
    fn read_each(&mut self, addresses: &[u64], bytes: &mut [u8]) -> usize;
    /// Whether reading may still succeed: `false` once the kernel refused it.
    fn readable(&self) -> bool {
        true
    }
}

/// One piece of a mapping: arenas from end to end, or memory between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Piece {
    start: u64,
    end: u64,
    inspection: Inspection,
}

/// An arena found: the address of the first of its pools found, its id, its size.
#[derive(Clone, Copy, Debug)]
struct Found {
    first_pool: u64,
    arena: u32,
    arena_bytes: u64,
}

/// Reads the arenas of one runtime in the unnamed mappings of one live process, as its regions
/// arrive in address order, and hands each region on to the aggregator: whole when it is all
/// arenas or none, else in pieces.
pub(crate) struct ArenaReader<M> {
    format: &'static ArenaFormat,
    memory: M,
    /// The pool and arena sizes of the runtime's version, once a header showed them.
    sizes: Option<(u64, u64)>,
    reads_left: u32,
    /// Buffers reused from mapping to mapping.
    found: Vec<Found>,
    /// Address ranges that hold slots that could not be read, joined where they meet: a
    /// swapped-out mapping is one range, not a slot each.
    unread: Vec<(u64, u64)>,
    /// The blocks skipped whole (see [`ArenaReader::skip_block`]): where each begins and ends.
    blocks: Vec<(u64, u64)>,
    pieces: Vec<Piece>,
    pages: PageCursor,
    headers: Headers,
}

impl<M: Memory> ArenaReader<M> {
    pub(crate) fn new(format: &'static ArenaFormat, memory: M) -> ArenaReader<M> {
        ArenaReader {
            format,
            memory,
            sizes: None,
            reads_left: MAX_HEADER_READS,
            found: Vec::new(),
            unread: Vec::new(),
            blocks: Vec::new(),
            pieces: Vec::new(),
            pages: PageCursor::default(),
            headers: Headers::default(),
        }
    }

    /// Whether the kernel refused the reads (the right to trace the process).
    pub(crate) fn refused(&self) -> bool {
        !self.memory.readable()
    }

    /// Hands `region` on to `aggregator`, read and split where it may hold arenas.
    pub(crate) fn add(&mut self, region: &Region<'_>, aggregator: &mut Aggregator) {
        // smaps just showed every page resident (as arenas in use are): no need for pagemap.
        // Should a page leave RAM in the meantime, reading its header brings it back.
        let fields = &region.fields;
        self.pages.all_resident = fields.rss == fields.size && fields.swap == 0;
        if !self.may_hold_arenas(region)
            || !self.find_pieces(region.header.start, region.header.end)
        {
            aggregator.add(region);
            return;
        }
        if let [whole] = self.pieces[..] {
            aggregator.add_inspected(region, whole.inspection);
            return;
        }
        let pieces = std::mem::take(&mut self.pieces);
        for (piece, fields) in pieces.iter().zip(self.share_out(region, &pieces)) {
            let mut part = *region;
            part.header.start = piece.start;
            part.header.end = piece.end;
            part.fields = fields;
            aggregator.add_inspected(&part, piece.inspection);
        }
        self.pieces = pieces;
    }

    /// Unnamed, private, read-write, mapped plainly (no huge-page advice, no `MAP_NORESERVE`:
    /// arenas are merged only with memory of the same flags), and as large as an arena.
    fn may_hold_arenas(&self, region: &Region<'_>) -> bool {
        let header = &region.header;
        let perms = header.perms;
        let smallest_arena = self
            .sizes
            .map_or(self.format.smallest_arena_bytes, |(_, arena)| arena);
        header.name.is_empty()
            && perms.readable()
            && perms.writable()
            && !perms.executable()
            && !perms.shared()
            && MapFlags::of(region.vm_flags).plain()
            && header.size() >= smallest_arena
            && self.reads_left > 0
            && self.memory.readable()
    }

    /// Reads the headers in `start..end` and fills `self.pieces`; `false` when the mapping
    /// could not be read through (pagemap refused, or the reads ran out).
    fn find_pieces(&mut self, start: u64, end: u64) -> bool {
        self.found.clear();
        self.unread.clear();
        self.blocks.clear();
        self.pieces.clear();
        if !self.scan(start, end) {
            return false;
        }
        let bases = self.arena_bases(start, end);
        let runtime = self.format.runtime;
        let mut at = start;
        let mut arenas = bases.iter().peekable();
        while at < end {
            match arenas.peek() {
                Some(&&(base, bytes)) if base == at => {
                    arenas.next();
                    self.push_piece(at, at + bytes, Inspection::Arenas(runtime));
                    at += bytes;
                }
                next => {
                    let gap_end = next.map_or(end, |&&(base, _)| base);
                    let unread = self
                        .unread
                        .iter()
                        .any(|&(first, last)| first < gap_end && at <= last);
                    let inspection = if unread {
                        Inspection::NotRead
                    } else {
                        Inspection::NoArenas(runtime)
                    };
                    self.push_piece(at, gap_end, inspection);
                    at = gap_end;
                }
            }
        }
        true
    }

    /// Adds a piece, joined to the one before when both say the same (adjacent arenas).
    fn push_piece(&mut self, start: u64, end: u64, inspection: Inspection) {
        match self.pieces.last_mut() {
            Some(last) if last.end == start && last.inspection == inspection => last.end = end,
            _ => self.pieces.push(Piece {
                start,
                end,
                inspection,
            }),
        }
    }

    /// Reads a header at every resident pool-aligned page of `start..end`, skipping the rest
    /// of an arena once its first pool is found, into `self.found`; pages that could not be
    /// read go to `self.unread`. Until a header shows the runtime's version, the step is the
    /// largest pool size, on whose grid the pools of every version lie (pools are aligned to
    /// their size).
    fn scan(&mut self, start: u64, end: u64) -> bool {
        let header_bytes = self.format.header_bytes as u64;
        let largest_pool = self.format.largest_pool_bytes;
        let step = |sizes: Option<(u64, u64)>| sizes.map_or(largest_pool, |(pool, _)| pool);
        let mut at = start.next_multiple_of(step(self.sizes));
        // Whether the slot before `at` is known to hold no pool of the arena a header at `at`
        // names: then that header is its arena's first pool, and the rest can be skipped.
        let mut before_is_known = true;
        let mut expect_arena = true;
        // Where a block the allocator mapped may begin (its first page, within this range):
        // the mapping's start, right after an arena, right after such a block.
        let mut block_may_begin = Some((start, start));
        self.pages.reset(start, end);
        self.headers.clear();
        while at + header_bytes <= end {
            let Some(state) = self.pages.state(&mut self.memory, at) else {
                return false;
            };
            let header = match state {
                PageState::Absent => Some(None),
                PageState::Swapped => None,
                PageState::Resident => {
                    if !self.headers.holds(at) {
                        if self.reads_left == 0 {
                            return false;
                        }
                        // Right after an arena (or at the start), the next arena's first pool
                        // is an arena's size on if the arenas are adjacent, as they mostly are:
                        // read there ahead; between arenas, read every slot, a little ahead.
                        let (stride, most) = match self.sizes {
                            Some((_, arena)) if expect_arena => (arena, HEADERS_PER_READ),
                            _ => (step(self.sizes), HEADERS_AHEAD_BETWEEN_ARENAS),
                        };
                        let batch = self.resident_slots(at, end, stride, most);
                        self.reads_left = self.reads_left.saturating_sub(batch);
                        self.headers
                            .read(&mut self.memory, self.format.header_bytes);
                    }
                    self.headers
                        .get(at)
                        .map(|bytes| (self.format.pool)(bytes, at))
                }
            };
            let Some(header) = header else {
                self.mark_unread(at);
                before_is_known = false;
                expect_arena = false;
                block_may_begin = None;
                at += step(self.sizes);
                continue;
            };
            let pool = header.filter(|pool| {
                at % pool.pool_bytes == 0
                    && self
                        .sizes
                        .is_none_or(|sizes| sizes == (pool.pool_bytes, pool.arena_bytes))
            });
            let Some(pool) = pool else {
                if let Some(block_end) = block_may_begin
                    .take()
                    .and_then(|(lowest, highest)| self.skip_block(lowest, highest, end))
                {
                    // Nothing inside the block needs reading; what follows may be another.
                    block_may_begin = Some((block_end, block_end));
                    at = block_end.next_multiple_of(step(self.sizes));
                    before_is_known = true;
                    expect_arena = true;
                    continue;
                }
                before_is_known = true;
                expect_arena = false;
                at += step(self.sizes);
                continue;
            };
            if self.sizes.is_none() {
                self.sizes = Some((pool.pool_bytes, pool.arena_bytes));
                if pool.pool_bytes != largest_pool {
                    // Read ahead at the old step, they would skip pools of the new one.
                    self.headers.clear();
                }
            }
            let same_arena = self.found.last().is_some_and(|last| {
                last.arena == pool.arena && at < last.first_pool + pool.arena_bytes
            });
            if !same_arena {
                self.found.push(Found {
                    first_pool: at,
                    arena: pool.arena,
                    arena_bytes: pool.arena_bytes,
                });
            }
            // The arena began less than a pool before its first pool, so the next arena's
            // first pool is an arena's size on at the earliest.
            expect_arena = before_is_known && !same_arena;
            at += if expect_arena {
                pool.arena_bytes
            } else {
                pool.pool_bytes
            };
            // The arena ends within a pool before `at`, where a block may begin.
            block_may_begin = expect_arena.then(|| {
                let lowest = at - (pool.pool_bytes - PAGE_BYTES);
                (lowest.max(start), at)
            });
            before_is_known = true;
        }
        true
    }

    /// Where a block that the allocator mapped on its own, beginning on a resident page of
    /// `lowest..=highest`, ends (within `..end`); `None` when there is none, or the runtime's
    /// allocator headers are not known.
    fn skip_block(&mut self, lowest: u64, highest: u64, end: u64) -> Option<u64> {
        let block = self.format.block?;
        let header_bytes = self.format.block_header_bytes;
        let mut pages = Vec::with_capacity(4);
        let mut page = lowest;
        while page <= highest && page + header_bytes as u64 <= end {
            if self.pages.state(&mut self.memory, page) == Some(PageState::Resident) {
                pages.push(page);
            }
            page += PAGE_BYTES;
        }
        let reads = u32::try_from(pages.len()).ok()?;
        if pages.is_empty() || self.reads_left < reads {
            return None;
        }
        self.reads_left -= reads;
        let mut bytes = vec![0; pages.len() * header_bytes];
        let read = self.memory.read_each(&pages, &mut bytes);
        pages
            .iter()
            .zip(bytes.chunks_exact(header_bytes))
            .take(read)
            .find_map(|(&page, header)| {
                let block_end = page.checked_add(block(header)?)?;
                (block_end <= end).then_some((page, block_end))
            })
            .map(|(block_start, block_end)| {
                self.blocks.push((block_start, block_end));
                block_end
            })
    }

    /// Sets `self.headers` to read the resident slots from `at` (resident itself) on, every
    /// `stride`: at most `most`, up to the end of the mapping or of the pagemap entries loaded,
    /// and up to the first slot not resident. Returns how many.
    fn resident_slots(&mut self, at: u64, end: u64, stride: u64, most: usize) -> u32 {
        let header_bytes = self.format.header_bytes as u64;
        let until = end.min(self.pages.loaded_end());
        self.headers.clear();
        let mut slot = at;
        while slot + header_bytes <= until
            && self.headers.addresses.len() < most
            && self.pages.state(&mut self.memory, slot) == Some(PageState::Resident)
        {
            self.headers.addresses.push(slot);
            slot += stride;
        }
        self.headers.addresses.len() as u32
    }

    /// Where each arena found begins, and its size. An arena begins on the page of its first
    /// pool or up to a pool before it (pools are aligned, arenas only to pages): where it meets
    /// the mapping's edge, an arena beside it or a block skipped whole, that is its beginning;
    /// otherwise the first pool's page (off by less than a pool). Arenas that cannot fit are
    /// left out, their pages unread.
    fn arena_bases(&mut self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let pool_bytes = self.sizes.map_or(PAGE_BYTES, |(pool, _)| pool);
        let candidates = |found: &Found| {
            let lowest = found
                .first_pool
                .saturating_sub(pool_bytes - PAGE_BYTES)
                .max(start);
            let highest = found.first_pool.min(end.saturating_sub(found.arena_bytes));
            lowest..=highest
        };
        let mut bases: Vec<Option<u64>> = vec![None; self.found.len()];
        let blocks = &self.blocks;
        // From the bottom: an arena at the mapping's start, right after the one before, or
        // right after a block.
        let mut previous_end = Some(start);
        for (found, base) in self.found.iter().zip(bases.iter_mut()) {
            let range = candidates(found);
            *base = previous_end.filter(|end| range.contains(end)).or_else(|| {
                blocks
                    .iter()
                    .map(|&(_, end)| end)
                    .find(|end| range.contains(end))
            });
            previous_end = base.map(|base| base + found.arena_bytes);
        }
        // From the top: an arena at the mapping's end, right before the one after, or right
        // before a block.
        let mut next_start = Some(end);
        for (found, base) in self.found.iter().zip(bases.iter_mut()).rev() {
            let range = candidates(found);
            let below = |start: u64| start.checked_sub(found.arena_bytes);
            *base = base.or_else(|| {
                next_start
                    .and_then(below)
                    .filter(|base| range.contains(base))
                    .or_else(|| {
                        blocks
                            .iter()
                            .filter_map(|&(start, _)| below(start))
                            .find(|base| range.contains(base))
                    })
            });
            next_start = *base;
        }
        let mut placed = Vec::with_capacity(self.found.len());
        let mut left_out = Vec::new();
        let mut previous_end = start;
        for (found, base) in self.found.iter().zip(bases) {
            let range = candidates(found);
            let base = base.unwrap_or(*range.end());
            if range.contains(&base) && base >= previous_end {
                placed.push((base, found.arena_bytes));
                previous_end = base + found.arena_bytes;
            } else {
                left_out.push(found.first_pool);
            }
        }
        for first_pool in left_out {
            self.mark_unread(first_pool);
        }
        placed
    }

    /// Notes that the slot at `at` could not be read, joined to the range of the one before
    /// when no read slot can lie between them.
    fn mark_unread(&mut self, at: u64) {
        let reach = self
            .sizes
            .map_or(self.format.largest_pool_bytes, |(pool, _)| pool);
        match self.unread.last_mut() {
            Some(last) if (last.0..=last.1.saturating_add(reach)).contains(&at) => {
                last.1 = last.1.max(at);
            }
            _ => self.unread.push((at, at)),
        }
    }

    /// `region`'s fields shared out among the pieces: each amount of resident memory by the
    /// pages resident in each, swap by the pages swapped, sizes by the addresses; the last
    /// piece takes what rounding left, so the pieces add up to the region exactly.
    fn share_out(&mut self, region: &Region<'_>, pieces: &[Piece]) -> Vec<Fields> {
        let counts = self.count_pages(region.header.start, region.header.end, pieces);
        let (resident, swapped): (Vec<u64>, Vec<u64>) = counts.iter().copied().unzip();
        let sizes: Vec<u64> = pieces.iter().map(|piece| piece.end - piece.start).collect();
        let mut parts = vec![region.fields; pieces.len()];
        for key in FieldKey::ALL {
            let weights = match key {
                FieldKey::KernelPageSize
                | FieldKey::MmuPageSize
                | FieldKey::ThpEligible
                | FieldKey::ProtectionKey
                | FieldKey::VmFlags => continue,
                FieldKey::Size => &sizes,
                FieldKey::Swap | FieldKey::SwapPss => &swapped,
                _ => &resident,
            };
            let weights = if weights.iter().sum::<u64>() == 0 {
                &sizes
            } else {
                weights
            };
            let shares = share(region.fields.get(key), weights);
            for (part, value) in parts.iter_mut().zip(shares) {
                if let Some(slot) = part.slot(key) {
                    *slot = value;
                }
            }
        }
        parts
    }

    /// The pages resident and swapped in each piece, by pagemap (read again: the pieces are
    /// known only now). A page pagemap cannot tell counts as neither.
    fn count_pages(&mut self, start: u64, end: u64, pieces: &[Piece]) -> Vec<(u64, u64)> {
        let mut counts = vec![(0, 0); pieces.len()];
        self.pages.reset(start, end);
        for (piece, count) in pieces.iter().zip(counts.iter_mut()) {
            let mut page = piece.start;
            while page < piece.end {
                match self.pages.state(&mut self.memory, page) {
                    Some(PageState::Resident) => count.0 += 1,
                    Some(PageState::Swapped) => count.1 += 1,
                    Some(PageState::Absent) | None => {}
                }
                page += PAGE_BYTES;
            }
        }
        counts
    }
}

/// `value` shared out in proportion to `weights` (not all zero), rounded down but for the last
/// share, which takes the rest.
fn share(value: u64, weights: &[u64]) -> Vec<u64> {
    let whole: u128 = weights.iter().map(|&weight| u128::from(weight)).sum();
    let mut left = value;
    let mut shares: Vec<u64> = weights
        .iter()
        .map(|&weight| {
            let part = u128::from(value) * u128::from(weight) / whole.max(1);
            let part = u64::try_from(part)
                .expect("a share of a u64 fits in a u64")
                .min(left);
            left -= part;
            part
        })
        .collect();
    if let Some(last) = shares.last_mut() {
        *last += left;
    }
    shares
}

/// Headers read at most in one call (the kernel's `IOV_MAX`).
const HEADERS_PER_READ: usize = 1024;

/// Headers read ahead in one call between arenas, where each slot is read: 1 MiB of 16 KiB
/// slots, not many more than the arenas met there need.
const HEADERS_AHEAD_BETWEEN_ARENAS: usize = 64;

/// Pool headers read ahead, in one call, at the resident slots that follow the one asked for:
/// a call per header would cost more than the reading.
#[derive(Default)]
struct Headers {
    /// Where each was read, in rising order.
    addresses: Vec<u64>,
    /// Their bytes, one header after the other.
    bytes: Vec<u8>,
    /// How many of `addresses`, from the first, were read.
    read: usize,
    header_bytes: usize,
}

impl Headers {
    fn clear(&mut self) {
        self.addresses.clear();
        self.read = 0;
    }

    /// Reads the headers at `self.addresses`.
    fn read(&mut self, memory: &mut impl Memory, header_bytes: usize) {
        self.header_bytes = header_bytes;
        self.bytes.resize(self.addresses.len() * header_bytes, 0);
        self.read = memory.read_each(&self.addresses, &mut self.bytes);
    }

    /// Whether `at` is among the addresses of the last batch (read, or failed).
    fn holds(&self, at: u64) -> bool {
        self.addresses.binary_search(&at).is_ok()
    }

    /// The header read at `at`; `None` when it failed or was not asked for.
    fn get(&self, at: u64) -> Option<&[u8]> {
        let index = self.addresses.binary_search(&at).ok()?;
        (index < self.read)
            .then(|| &self.bytes[index * self.header_bytes..(index + 1) * self.header_bytes])
    }
}

/// Pagemap entries of one mapping, read ahead in batches as addresses rise.
#[derive(Default)]
struct PageCursor {
    /// The first page of `states`.
    first: u64,
    states: Vec<PageState>,
    /// The mapping's end: no state is read beyond it.
    end: u64,
    /// smaps showed every page of the mapping resident: pagemap need not be read.
    all_resident: bool,
}

/// Pages per pagemap read: 8,192 entries of 8 bytes, 32 MiB of addresses.
const PAGES_PER_READ: u64 = 8192;

impl PageCursor {
    /// Starts on the mapping `start..end` (`all_resident` is set for it beforehand).
    fn reset(&mut self, start: u64, end: u64) {
        self.first = start;
        self.states.clear();
        self.end = end;
    }

    /// The end of the addresses whose pagemap entries are loaded.
    fn loaded_end(&self) -> u64 {
        if self.all_resident {
            return self.end;
        }
        self.first + self.states.len() as u64 * PAGE_BYTES
    }

    /// The state of the page holding `at`; `None` when pagemap cannot be read.
    fn state(&mut self, memory: &mut impl Memory, at: u64) -> Option<PageState> {
        if self.all_resident {
            return (at < self.end).then_some(PageState::Resident);
        }
        let page = at - at % PAGE_BYTES;
        let loaded = self.first..self.first + self.states.len() as u64 * PAGE_BYTES;
        if !loaded.contains(&page) {
            let pages = ((self.end.max(page + PAGE_BYTES) - page) / PAGE_BYTES).min(PAGES_PER_READ);
            self.first = page;
            self.states.clear();
            self.states
                .resize(usize::try_from(pages).ok()?, PageState::Absent);
            if !memory.page_states(page, &mut self.states) {
                self.states.clear();
                return None;
            }
        }
        let index = usize::try_from((page - self.first) / PAGE_BYTES).ok()?;
        self.states.get(index).copied()
    }
}

#[cfg(target_os = "linux")]
pub(crate) use live::ProcessMemory;

#[cfg(target_os = "linux")]
mod live {
    use std::fs::File;
    use std::io::IoSliceMut;
    use std::os::unix::fs::FileExt;

    use nix::errno::Errno;
    use nix::sys::uio::{process_vm_readv, RemoteIoVec};
    use nix::unistd::Pid;

    use super::{Memory, PageState, PAGE_BYTES};
    use crate::input::process::ProcessDir;

    /// A live process's `pagemap` (opened through its `/proc/<pid>` handle) and memory (read
    /// with `process_vm_readv`, which neither stops nor attaches to it).
    pub(crate) struct ProcessMemory {
        pid: Pid,
        pagemap: File,
        entries: Vec<u8>,
        /// The kernel refused to let us read the memory: asking again is no use.
        refused: bool,
    }

    impl ProcessMemory {
        /// `None` when pagemap may not be opened.
        pub(crate) fn open(process: &ProcessDir, pid: i32) -> Option<ProcessMemory> {
            Some(ProcessMemory {
                pid: Pid::from_raw(pid),
                pagemap: process.open_file("pagemap").ok()?,
                entries: Vec::new(),
                refused: false,
            })
        }
    }

    /// Pagemap's bits: the page is present in RAM (63), or swapped (62).
    const PRESENT: u64 = 1 << 63;
    const SWAPPED: u64 = 1 << 62;

    impl Memory for ProcessMemory {
        fn page_states(&mut self, start: u64, states: &mut [PageState]) -> bool {
            self.entries.resize(states.len() * 8, 0);
            let offset = start / PAGE_BYTES * 8;
            if self
                .pagemap
                .read_exact_at(&mut self.entries, offset)
                .is_err()
            {
                return false;
            }
            for (state, entry) in states.iter_mut().zip(self.entries.chunks_exact(8)) {
                let entry = u64::from_ne_bytes(entry.try_into().expect("chunks of 8 bytes"));
                *state = if entry & PRESENT != 0 {
                    PageState::Resident
                } else if entry & SWAPPED != 0 {
                    PageState::Swapped
                } else {
                    PageState::Absent
                };
            }
            true
        }

        /// One `process_vm_readv` for them all. It needs the right to trace the process (the
        /// same user, and under Yama's `ptrace_scope` 1 also CAP_SYS_PTRACE); without, nothing
        /// is read. It stops at the first address it cannot read (the mapping went away).
        fn readable(&self) -> bool {
            !self.refused
        }

        fn read_each(&mut self, addresses: &[u64], bytes: &mut [u8]) -> usize {
            if self.refused || addresses.is_empty() {
                return 0;
            }
            let each = bytes.len() / addresses.len();
            let remote: Vec<RemoteIoVec> = addresses
                .iter()
                .map(|&at| RemoteIoVec {
                    base: at as usize,
                    len: each,
                })
                .collect();
            match process_vm_readv(self.pid, &mut [IoSliceMut::new(bytes)], &remote) {
                Ok(read) => read / each,
                Err(Errno::EPERM | Errno::EACCES) => {
                    self.refused = true;
                    0
                }
                Err(_) => 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::report::RuntimeId;
    use crate::runtime::Pool;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const RUNTIME: RuntimeId = RuntimeId::new("python");

    /// A toy format: a header is `b"POOL"`, the arena's id and the pool size's log2.
    static TOY: ArenaFormat = ArenaFormat {
        runtime: RUNTIME,
        header_bytes: 12,
        largest_pool_bytes: 16 * KIB,
        smallest_arena_bytes: 256 * KIB,
        pool: toy_pool,
        block: Some(toy_block),
        block_header_bytes: 8,
    };

    /// A toy allocator's block: `b"BLCK"` and its size in pages.
    fn toy_block(header: &[u8]) -> Option<u64> {
        let pages = u32::from_le_bytes(header[4..8].try_into().unwrap());
        (&header[..4] == b"BLCK").then_some(u64::from(pages) * PAGE_BYTES)
    }

    fn toy_pool(header: &[u8], _at: u64) -> Option<Pool> {
        let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
        (&header[..4] == b"POOL").then(|| {
            let pool_bytes = 1u64 << word(8);
            Pool {
                arena: word(4),
                pool_bytes,
                arena_bytes: pool_bytes * 64,
            }
        })
    }

    /// Pages that hold something (resident or swapped), by address.
    #[derive(Default)]
    struct FakeMemory {
        resident: BTreeMap<u64, Vec<u8>>,
        swapped: BTreeSet<u64>,
        calls: u32,
        reads: u32,
    }

    impl FakeMemory {
        /// Touches every page of `start..end` with filler.
        fn block(&mut self, start: u64, end: u64) {
            for page in (start..end).step_by(PAGE_BYTES as usize) {
                self.resident.insert(page, vec![0x5a; PAGE_BYTES as usize]);
            }
        }

        /// A block the toy allocator mapped: its header, then filler.
        fn allocated(&mut self, start: u64, end: u64) {
            self.block(start, end);
            let pages = u32::try_from((end - start) / PAGE_BYTES).unwrap();
            let header = self.resident.get_mut(&start).unwrap();
            header[..4].copy_from_slice(b"BLCK");
            header[4..8].copy_from_slice(&pages.to_le_bytes());
        }

        /// An arena at `base` with `pools` of its pools carved, each page of them resident.
        fn arena(&mut self, base: u64, id: u32, pool_bytes: u64, pools: u64) {
            let first = base.next_multiple_of(pool_bytes);
            for pool in 0..pools {
                let at = first + pool * pool_bytes;
                self.block(at, at + pool_bytes);
                let mut header = b"POOL".to_vec();
                header.extend_from_slice(&id.to_le_bytes());
                header.extend_from_slice(&pool_bytes.trailing_zeros().to_le_bytes());
                self.resident.get_mut(&at).unwrap()[..12].copy_from_slice(&header);
            }
        }
    }

    impl Memory for &mut FakeMemory {
        fn page_states(&mut self, start: u64, states: &mut [PageState]) -> bool {
            for (index, state) in states.iter_mut().enumerate() {
                let page = start + index as u64 * PAGE_BYTES;
                *state = if self.resident.contains_key(&page) {
                    PageState::Resident
                } else if self.swapped.contains(&page) {
                    PageState::Swapped
                } else {
                    PageState::Absent
                };
            }
            true
        }

        fn read_each(&mut self, addresses: &[u64], bytes: &mut [u8]) -> usize {
            self.calls += 1;
            self.reads += addresses.len() as u32;
            let each = bytes.len() / addresses.len();
            for (&at, bytes) in addresses.iter().zip(bytes.chunks_exact_mut(each)) {
                let page = &self.resident[&(at - at % PAGE_BYTES)];
                let offset = (at % PAGE_BYTES) as usize;
                bytes.copy_from_slice(&page[offset..offset + each]);
            }
            addresses.len()
        }
    }

    fn pieces(memory: &mut FakeMemory, start: u64, end: u64) -> Vec<(u64, u64, Inspection)> {
        let mut reader = ArenaReader::new(&TOY, memory);
        assert!(reader.find_pieces(start, end));
        reader
            .pieces
            .iter()
            .map(|piece| (piece.start, piece.end, piece.inspection))
            .collect()
    }

    const BASE: u64 = 0x7f00_0000_0000;
    const ARENAS: Inspection = Inspection::Arenas(RUNTIME);
    const NONE: Inspection = Inspection::NoArenas(RUNTIME);

    #[test]
    fn arenas_merged_with_a_block_above_them_are_split_off() {
        let mut memory = FakeMemory::default();
        for id in 0..3 {
            memory.arena(BASE + u64::from(id) * MIB, 7 + id, 16 * KIB, 64);
        }
        let end = BASE + 3 * MIB + 64 * KIB;
        memory.block(BASE + 3 * MIB, end);
        assert_eq!(
            pieces(&mut memory, BASE, end),
            [(BASE, BASE + 3 * MIB, ARENAS), (BASE + 3 * MIB, end, NONE)]
        );
        // Four calls: the first MiB slot by slot (the version is not known yet), then a MiB
        // apart where the next arenas begin, where a block may begin after the last, then the
        // rest of the filler slot by slot.
        assert_eq!(memory.calls, 4);
    }

    #[test]
    fn a_block_the_allocator_mapped_is_not_read_through() {
        // Arenas (one off the pool grid), a block of 30 MiB and a page, two more arenas.
        let mut memory = FakeMemory::default();
        let base = BASE + 4 * KIB;
        memory.arena(base, 0, 16 * KIB, 64);
        memory.arena(base + MIB, 1, 16 * KIB, 64);
        let block_end = base + 32 * MIB + 4 * KIB;
        memory.allocated(base + 2 * MIB, block_end);
        memory.arena(block_end, 2, 16 * KIB, 64);
        memory.arena(block_end + MIB, 3, 16 * KIB, 1);
        let end = block_end + 2 * MIB;
        assert_eq!(
            pieces(&mut memory, base, end),
            [
                (base, base + 2 * MIB, ARENAS),
                (base + 2 * MIB, block_end, NONE),
                (block_end, end, ARENAS)
            ]
        );
        // Not the block's 1,920 pool-aligned pages: the first MiB slot by slot (the version is
        // not known yet), then a MiB apart (read ahead, through the block too), and its header.
        assert!(memory.reads < 128, "{} reads", memory.reads);
    }

    #[test]
    fn an_arena_between_blocks_begins_where_the_block_below_ends() {
        let mut memory = FakeMemory::default();
        let arena = BASE + 100 * KIB; // off the pool grid: its first pool is 12 KiB on
        let end = arena + MIB + 200 * KIB;
        memory.allocated(BASE, arena);
        memory.arena(arena, 9, 16 * KIB, 3);
        memory.allocated(arena + MIB, end);
        assert_eq!(
            pieces(&mut memory, BASE, end),
            [
                (BASE, arena, NONE),
                (arena, arena + MIB, ARENAS),
                (arena + MIB, end, NONE)
            ]
        );
    }

    #[test]
    fn arenas_above_a_block_are_placed_from_the_mapping_end() {
        // A block of 20 KiB below: the arenas begin off the pool grid (first pools 12 KiB in).
        let mut memory = FakeMemory::default();
        let block_end = BASE + 20 * KIB;
        memory.block(BASE, block_end);
        memory.arena(block_end, 1, 16 * KIB, 63);
        memory.arena(block_end + MIB, 0, 16 * KIB, 2);
        let end = block_end + 2 * MIB;
        assert_eq!(
            pieces(&mut memory, BASE, end),
            [(BASE, block_end, NONE), (block_end, end, ARENAS)]
        );
    }

    #[test]
    fn an_arena_between_blocks_begins_at_its_first_pool_page() {
        let mut memory = FakeMemory::default();
        let arena = BASE + 200 * KIB; // off the 16 KiB grid: the first pool is 8 KiB on
        let end = arena + MIB + 300 * KIB;
        memory.block(BASE, arena);
        memory.arena(arena, 4, 16 * KIB, 10);
        memory.block(arena + MIB, end);
        let first_pool = arena + 8 * KIB;
        assert_eq!(
            pieces(&mut memory, BASE, end),
            [
                (BASE, first_pool, NONE),
                (first_pool, first_pool + MIB, ARENAS),
                (first_pool + MIB, end, NONE)
            ]
        );
    }

    #[test]
    fn a_mapping_of_whole_mebibytes_without_headers_holds_no_arenas() {
        let mut memory = FakeMemory::default();
        memory.block(BASE, BASE + 2 * MIB);
        assert_eq!(
            pieces(&mut memory, BASE, BASE + 2 * MIB),
            [(BASE, BASE + 2 * MIB, NONE)]
        );
    }

    #[test]
    fn swapped_pages_leave_their_part_unread() {
        let mut memory = FakeMemory::default();
        memory.arena(BASE, 0, 16 * KIB, 64);
        let end = BASE + 3 * MIB;
        for page in (BASE + MIB + 16 * KIB..end).step_by(PAGE_BYTES as usize) {
            memory.swapped.insert(page);
        }
        let mut reader = ArenaReader::new(&TOY, &mut memory);
        assert!(reader.find_pieces(BASE, end));
        let pieces: Vec<_> = reader
            .pieces
            .iter()
            .map(|piece| (piece.start, piece.end, piece.inspection))
            .collect();
        assert_eq!(
            pieces,
            [
                (BASE, BASE + MIB, ARENAS),
                (BASE + MIB, end, Inspection::NotRead)
            ]
        );
        // 127 swapped slots, one range.
        assert_eq!(reader.unread, [(BASE + MIB + 16 * KIB, end - 16 * KIB)]);
    }

    #[test]
    fn the_first_header_sets_the_pool_size_of_older_versions() {
        // 4 KiB pools, 256 KiB arenas (CPython before 3.10).
        let mut memory = FakeMemory::default();
        memory.arena(BASE, 0, 4 * KIB, 64);
        memory.arena(BASE + 256 * KIB, 1, 4 * KIB, 3);
        let end = BASE + 768 * KIB;
        memory.block(BASE + 512 * KIB, end);
        assert_eq!(
            pieces(&mut memory, BASE, end),
            [
                (BASE, BASE + 512 * KIB, ARENAS),
                (BASE + 512 * KIB, end, NONE)
            ]
        );
    }

    #[test]
    fn the_pieces_share_the_mapping_out_exactly() {
        let mut memory = FakeMemory::default();
        memory.arena(BASE, 0, 16 * KIB, 64);
        let end = BASE + MIB + 256 * KIB;
        memory.block(BASE + MIB, BASE + MIB + 128 * KIB); // half the block resident
        memory.swapped.insert(BASE + MIB + 200 * KIB);
        let mut fields = Fields::default();
        fields.size = (end - BASE) / KIB;
        fields.kernel_page_size = 4;
        fields.rss = 1024 + 128;
        fields.pss = 1000 + 128;
        fields.private_dirty = 1024 + 128;
        fields.swap = 4;
        let text = format!("{BASE:x}-{end:x} rw-p 00000000 00:00 0 ");
        let region = Region {
            header: crate::smaps::parse_header(text.as_bytes()).unwrap(),
            fields,
            vm_flags: b"rd wr mr mw me ac",
            line: 1,
        };
        let mut reader = ArenaReader::new(&TOY, &mut memory);
        assert!(reader.find_pieces(BASE, end));
        let pieces = reader.pieces.clone();
        let parts = reader.share_out(&region, &pieces);
        let [arenas, rest] = parts[..] else {
            panic!("{parts:?}")
        };
        assert_eq!((arenas.size, rest.size), (1024, 256));
        assert_eq!((arenas.rss, rest.rss), (1024, 128));
        assert_eq!((arenas.private_dirty, rest.private_dirty), (1024, 128));
        assert_eq!((arenas.swap, rest.swap), (0, 4));
        assert_eq!(arenas.pss + rest.pss, fields.pss);
        assert_eq!((arenas.kernel_page_size, rest.kernel_page_size), (4, 4));
    }

    /// Memory whose reads the kernel refuses (no right to trace the process).
    struct Refused;

    impl Memory for Refused {
        fn page_states(&mut self, _: u64, states: &mut [PageState]) -> bool {
            states.fill(PageState::Resident);
            true
        }

        fn read_each(&mut self, _: &[u64], _: &mut [u8]) -> usize {
            0
        }
    }

    /// Memory whose reads the kernel refuses at the first try; counts pagemap reads.
    #[derive(Default)]
    struct RefusedOnce {
        refused: bool,
        pagemap_reads: u32,
    }

    impl Memory for RefusedOnce {
        fn page_states(&mut self, _: u64, states: &mut [PageState]) -> bool {
            self.pagemap_reads += 1;
            states.fill(PageState::Resident);
            true
        }

        fn read_each(&mut self, _: &[u64], _: &mut [u8]) -> usize {
            self.refused = true;
            0
        }

        fn readable(&self) -> bool {
            !self.refused
        }
    }

    #[test]
    fn once_reads_are_refused_no_more_mappings_are_read() {
        let mut aggregator = Aggregator::new(crate::report::Listing::All, None);
        let mut reader = ArenaReader::new(&TOY, RefusedOnce::default());
        for start in [BASE, BASE + 8 * MIB] {
            let text = format!("{start:x}-{:x} rw-p 00000000 00:00 0 ", start + 2 * MIB);
            let mut fields = Fields::default();
            fields.size = 2048;
            fields.rss = 1024;
            let region = Region {
                header: crate::smaps::parse_header(text.as_bytes()).unwrap(),
                fields,
                vm_flags: b"rd wr mr mw me ac",
                line: 1,
            };
            reader.add(&region, &mut aggregator);
        }
        assert_eq!(aggregator.region_count(), 2);
        assert_eq!(reader.memory.pagemap_reads, 1);
    }

    #[test]
    fn memory_that_cannot_be_read_leaves_the_mapping_to_its_layout() {
        let mut reader = ArenaReader::new(&TOY, Refused);
        assert!(reader.find_pieces(BASE, BASE + 3 * MIB));
        let inspections: Vec<Inspection> =
            reader.pieces.iter().map(|piece| piece.inspection).collect();
        assert_eq!(inspections, [Inspection::NotRead]);
    }

    #[test]
    fn shares_add_up() {
        assert_eq!(share(10, &[1, 1, 1]), [3, 3, 4]);
        assert_eq!(share(0, &[5, 0]), [0, 0]);
        assert_eq!(share(u64::MAX, &[u64::MAX, 1]), [u64::MAX - 1, 1]);
    }
}
