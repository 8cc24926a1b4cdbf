//! The regions kept for the listing: the N largest in a min-heap that overwrites its smallest
//! entry in place (no allocation per region once full), or every region with `-all`, packed
//! into a [`RegionList`] as it arrives (no allocation per region, and about half the memory of
//! owned copies: `-all` keeps every region until the end).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use super::window::OwnedRegion;
use crate::classify::Chain;
use crate::report::{Amounts, Listing, RegionList};

/// A region kept for the listing, with how it was classified.
#[derive(Clone, Debug)]
pub(crate) struct KeptRegion {
    pub region: OwnedRegion,
    pub chain: Chain,
    /// The named group's index or the executable candidate's, as for the tally.
    pub subkey: u32,
}

/// Larger RSS first, then larger size, then lower address: a total order, so output is stable.
fn rank(amounts: &Amounts, start: u64) -> (u64, u64, Reverse<u64>) {
    (amounts.rss, amounts.size, Reverse(start))
}

impl KeptRegion {
    fn rank(&self) -> (u64, u64, Reverse<u64>) {
        rank(&self.region.amounts, self.region.start)
    }
}

impl PartialEq for KeptRegion {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
    }
}
impl Eq for KeptRegion {}
impl PartialOrd for KeptRegion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for KeptRegion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

pub(crate) enum Kept {
    Top {
        limit: usize,
        heap: BinaryHeap<Reverse<KeptRegion>>,
    },
    /// Every region, in address order, each tagged with its cell's index in `cells`.
    All { regions: RegionList, cells: Cells },
}

/// A classification (rule chain and subkey, as for the tally), the key of a tally cell.
pub(crate) type Cell = (Chain, u32);

/// The distinct classifications of the kept regions, each once: a kept region holds the index
/// of its own, so that the category is decided once per classification, not per region.
#[derive(Default)]
pub(crate) struct Cells {
    cells: Vec<Cell>,
    /// Built once there are more cells than a scan of `cells` finds quickly.
    index: HashMap<Cell, u32>,
}

impl Cells {
    /// A scan of this many cells costs less than hashing a chain.
    const SCANNED: usize = 16;

    fn intern(&mut self, cell: Cell) -> u32 {
        if self.cells.len() <= Cells::SCANNED {
            if let Some(at) = self.cells.iter().position(|known| *known == cell) {
                return at as u32;
            }
        } else if let Some(&at) = self.index.get(&cell) {
            return at;
        }
        let at = u32::try_from(self.cells.len()).expect("far fewer classifications than 2^32");
        self.cells.push(cell);
        if self.cells.len() > Cells::SCANNED {
            if self.index.is_empty() {
                self.index
                    .extend(self.cells.iter().zip(0..).map(|(c, i)| (*c, i)));
            } else {
                self.index.insert(cell, at);
            }
        }
        at
    }

    /// The cells, by the index the kept regions hold.
    pub(crate) fn into_vec(self) -> Vec<Cell> {
        self.cells
    }
}

impl Kept {
    pub(crate) fn new(listing: Listing) -> Kept {
        match listing {
            Listing::Top(limit) => Kept::Top {
                limit,
                heap: BinaryHeap::with_capacity(limit.min(4096) + 1),
            },
            Listing::All => Kept::All {
                regions: RegionList::default(),
                cells: Cells::default(),
            },
        }
    }

    pub(crate) fn offer(&mut self, region: &OwnedRegion, chain: Chain, subkey: u32) {
        match self {
            Kept::All { regions, cells } => {
                let cell = cells.intern((chain, subkey));
                regions.push(&region.header(), region.amounts, cell);
            }
            Kept::Top { limit, heap } => {
                if *limit == 0 {
                    return;
                }
                if heap.len() < *limit {
                    heap.push(Reverse(KeptRegion {
                        region: region.clone(),
                        chain,
                        subkey,
                    }));
                    return;
                }
                let mut smallest = heap.peek_mut().expect("the heap holds `limit` > 0 regions");
                if rank(&region.amounts, region.start) > smallest.0.rank() {
                    // Overwrite the evicted region in place: no allocation per region.
                    let slot = &mut smallest.0;
                    slot.region.copy_from(&region.header(), region.amounts);
                    slot.chain = chain;
                    slot.subkey = subkey;
                }
            }
        }
    }

    /// The kept regions, in no particular order, each tagged with its cell's index in the
    /// cells returned; [`RegionList::decide_categories`] sorts them.
    pub(crate) fn into_list(self) -> (RegionList, Vec<Cell>) {
        match self {
            Kept::All { regions, cells } => (regions, cells.into_vec()),
            Kept::Top { heap, .. } => {
                let mut regions = RegionList::owning_names(heap.len());
                let mut cells = Cells::default();
                for Reverse(mut kept) in heap {
                    let cell = cells.intern((kept.chain, kept.subkey));
                    let name = std::mem::take(&mut kept.region.name);
                    let header = kept.region.header();
                    regions.push_owning(&header, name, kept.region.amounts, cell);
                }
                (regions, cells.into_vec())
            }
        }
    }
}
