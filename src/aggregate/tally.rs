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

/// Few distinct chains occur (tens), so a vector is enough; the cell last used for each first
/// rule is tried before the vector is searched (neighbouring regions alternate between a few
/// cells: a map and its guard, a library's segments).
#[derive(Default)]
pub(crate) struct Tally {
    cells: Vec<(CellKey, Count)>,
    /// Indexed by a chain's first rule: the cell last used for it.
    last_by_first_rule: Vec<usize>,
}

impl Tally {
    pub(crate) fn add(&mut self, key: CellKey, amounts: Amounts) {
        let first = usize::from(key.0.first());
        if first >= self.last_by_first_rule.len() {
            self.last_by_first_rule.resize(first + 1, usize::MAX);
        }
        let last = self.last_by_first_rule[first];
        let index = match self.cells.get(last) {
            Some((last_key, _)) if *last_key == key => last,
            _ => match self.cells.iter().position(|(cell_key, _)| *cell_key == key) {
                Some(index) => index,
                None => {
                    self.cells.push((key, Count::default()));
                    self.cells.len() - 1
                }
            },
        };
        self.last_by_first_rule[first] = index;
        self.cells[index].1.add(amounts);
    }

    pub(crate) fn cells(&self) -> &[(CellKey, Count)] {
        &self.cells
    }
}
