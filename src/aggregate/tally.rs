//! Sums per classification: one cell per chain of matching rules (and executable candidate),
//! so that the category each cell lands in can be decided once the whole input is known.

use crate::classify::Chain;
use crate::report::Amounts;

/// A number of regions and their amounts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Count {
    pub regions: u64,
    pub amounts: Amounts,
}

impl Count {
    pub(crate) fn add(&mut self, amounts: Amounts) {
        self.regions += 1;
        self.amounts += amounts;
    }

    pub(crate) fn merge(&mut self, other: &Count) {
        self.regions += other.regions;
        self.amounts += other.amounts;
    }
}

/// What a cell is keyed by: the chain, and for executable candidates their index.
pub(crate) type CellKey = (Chain, u32);

/// Few distinct chains occur (tens), so a vector searched from the most recent cell is faster
/// than hashing.
#[derive(Default)]
pub(crate) struct Tally {
    cells: Vec<(CellKey, Count)>,
    last: usize,
}

impl Tally {
    pub(crate) fn add(&mut self, key: CellKey, amounts: Amounts) {
        let index = match self.cells.get(self.last) {
            Some((last_key, _)) if *last_key == key => self.last,
            _ => match self.cells.iter().position(|(cell_key, _)| *cell_key == key) {
                Some(index) => index,
                None => {
                    self.cells.push((key, Count::default()));
                    self.cells.len() - 1
                }
            },
        };
        self.last = index;
        self.cells[index].1.add(amounts);
    }

    pub(crate) fn cells(&self) -> &[(CellKey, Count)] {
        &self.cells
    }
}
