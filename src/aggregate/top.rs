//! The regions kept for the listing: the N largest in a min-heap that overwrites its smallest
//! entry in place (no allocation per region once full), or every region with `-all`.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::window::OwnedRegion;
use crate::classify::Chain;
use crate::report::{Amounts, Listing};

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
    All(Vec<KeptRegion>),
}

impl Kept {
    pub(crate) fn new(listing: Listing) -> Kept {
        match listing {
            Listing::Top(limit) => Kept::Top {
                limit,
                heap: BinaryHeap::with_capacity(limit.min(4096) + 1),
            },
            Listing::All => Kept::All(Vec::new()),
        }
    }

    pub(crate) fn offer(&mut self, region: &OwnedRegion, chain: Chain, subkey: u32) {
        let kept = |region: &OwnedRegion| KeptRegion {
            region: region.clone(),
            chain,
            subkey,
        };
        match self {
            Kept::All(all) => all.push(kept(region)),
            Kept::Top { limit, heap } => {
                if *limit == 0 {
                    return;
                }
                if heap.len() < *limit {
                    heap.push(Reverse(kept(region)));
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

    /// The kept regions, largest first.
    pub(crate) fn into_sorted(self) -> Vec<KeptRegion> {
        let mut kept: Vec<KeptRegion> = match self {
            Kept::Top { heap, .. } => heap.into_iter().map(|Reverse(region)| region).collect(),
            Kept::All(all) => all,
        };
        kept.sort_unstable_by(|a, b| b.cmp(a));
        kept
    }
}
