//! Regions grouped by the name the program gave them (`[anon:NAME]`), runs of digits folded so
//! that `TNC-0` … `TNC-511` are one group `TNC-*`.
//!
//! The number of groups, and the bytes of their names, are bounded: a process (or a file) with
//! a million distinct names must not cost a million groups' memory. Past the bound, the largest
//! groups are kept and every other region is counted in one remainder, `[other names]`. The sums
//! stay exact: a kept group holds every region of its name (a name is never kept after any of
//! its regions went to the remainder), and the remainder holds exactly the rest.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::tally::Count;
use crate::classify::{fold_digits_into, generic};
use crate::report::Amounts;

/// Most groups kept; more distinct names than this share the remainder.
pub(crate) const MAX_GROUPS: usize = 256;
/// Most bytes of names (keys and first names) the kept groups may hold.
pub(crate) const MAX_NAME_BYTES: usize = 256 * 1024;
/// The remainder's label: a saved file's name that folds to exactly this is counted in the
/// remainder, so that labels stay unique.
const OTHER_NAMES_LABEL: &[u8] = generic::OTHER_NAMES_LABEL.as_bytes();

pub(crate) struct NamedGroup {
    /// The name with digit runs folded to `*`: the group's identity.
    pub key: Arc<[u8]>,
    /// The first name seen, when it differs from the key (it has digits).
    first_name: Option<Vec<u8>>,
    uniform: bool,
    pub count: Count,
}

impl NamedGroup {
    /// What people read: the one name all its regions share, else the folded key (`TNC-*`).
    pub(crate) fn label(&self) -> &[u8] {
        match &self.first_name {
            Some(first) if self.uniform => first,
            _ => &self.key,
        }
    }

    fn name_bytes(&self) -> usize {
        self.key.len() + self.first_name.as_ref().map_or(0, Vec::len)
    }

    /// The order groups are kept by: resident memory, then size.
    fn rank(&self) -> (u64, u64) {
        rank(&self.count.amounts)
    }
}

fn rank(amounts: &Amounts) -> (u64, u64) {
    (amounts.rss, amounts.size)
}

#[derive(Default)]
pub(crate) struct NamedGroups {
    groups: Vec<NamedGroup>,
    index: HashMap<Arc<[u8]>, usize>,
    /// Bytes of names the kept groups hold.
    name_bytes: usize,
    /// Every region of a name that is not kept.
    other: Count,
    /// The names sent to the remainder (see [`Dropped`]).
    dropped: Dropped,
    /// Scratch space for folded names, reused for every named region.
    scratch: Vec<u8>,
    /// The kept group with the least memory, once looked for: it stays the smallest until it
    /// grows or the kept groups change, since groups only grow.
    smallest: Option<usize>,
}

impl NamedGroups {
    /// Counts a region named `name` (the NAME of `[anon:NAME]`).
    pub(crate) fn add(&mut self, name: &[u8], amounts: Amounts) {
        fold_digits_into(name, &mut self.scratch);
        if let Some(&index) = self.index.get(&self.scratch[..]) {
            if self.smallest == Some(index) {
                self.smallest = None;
            }
            let group = &mut self.groups[index];
            group.uniform &= group.first_name.as_deref().unwrap_or(&group.key) == name;
            group.count.add(amounts);
            return;
        }
        if self.scratch == OTHER_NAMES_LABEL || self.dropped.may_hold(&self.scratch) {
            self.other.add(amounts);
            return;
        }
        let first_name = (name != &self.scratch[..]).then(|| name.to_vec());
        let needed = self.scratch.len() + first_name.as_ref().map_or(0, Vec::len);
        while self.groups.len() >= MAX_GROUPS || self.name_bytes + needed > MAX_NAME_BYTES {
            match self.smallest() {
                Some(smallest) if self.groups[smallest].rank() < rank(&amounts) => {
                    self.drop_group(smallest)
                }
                _ => {
                    // Smaller than every kept group: this name goes to the remainder for good.
                    self.dropped.insert(&self.scratch);
                    self.other.add(amounts);
                    return;
                }
            }
        }
        let key: Arc<[u8]> = Arc::from(&self.scratch[..]);
        let mut count = Count::default();
        count.add(amounts);
        let group = NamedGroup {
            key: key.clone(),
            first_name,
            uniform: true,
            count,
        };
        self.name_bytes += group.name_bytes();
        self.groups.push(group);
        self.index.insert(key, self.groups.len() - 1);
        self.smallest = None;
    }

    /// The kept group with the least memory (the earliest of equals).
    fn smallest(&mut self) -> Option<usize> {
        if self.smallest.is_none() {
            self.smallest = (0..self.groups.len()).min_by_key(|&index| self.groups[index].rank());
        }
        self.smallest
    }

    /// Moves a kept group's sums to the remainder; its name goes there from now on.
    fn drop_group(&mut self, index: usize) {
        self.smallest = None;
        let group = self.groups.swap_remove(index);
        self.index.remove(&group.key);
        if let Some(moved) = self.groups.get(index) {
            *self
                .index
                .get_mut(&moved.key)
                .expect("every kept group is indexed") = index;
        }
        self.name_bytes -= group.name_bytes();
        self.dropped.insert(&group.key);
        self.other.merge(&group.count);
    }

    /// The kept group a region named `name` was counted in; `None` if it is in the remainder.
    pub(crate) fn group_of(&self, name: &[u8]) -> Option<&NamedGroup> {
        let mut key = Vec::with_capacity(name.len());
        fold_digits_into(name, &mut key);
        self.index.get(&key[..]).map(|&index| &self.groups[index])
    }

    /// The kept groups.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &NamedGroup> {
        self.groups.iter()
    }

    /// The regions of every name not kept; `None` when every name was kept.
    pub(crate) fn other(&self) -> Option<&Count> {
        (self.other.regions > 0).then_some(&self.other)
    }
}

/// The names sent to the remainder, as a Bloom filter of fixed size (128 KiB, allocated only once
/// a name is dropped): it may say a name was dropped when it was not (that name then goes to
/// the remainder too, which keeps every sum exact), never the reverse.
#[derive(Default)]
struct Dropped {
    bits: Vec<u64>,
}

impl Dropped {
    const WORDS: usize = 16 * 1024;
    const BITS: u64 = (Self::WORDS * 64) as u64;

    /// Two bit positions from one hash. `DefaultHasher::new()` has fixed keys, so the same
    /// input always gives the same output.
    fn positions(key: &[u8]) -> [usize; 2] {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let hash = hasher.finish();
        [
            (hash % Self::BITS) as usize,
            ((hash >> 32) % Self::BITS) as usize,
        ]
    }

    fn insert(&mut self, key: &[u8]) {
        if self.bits.is_empty() {
            self.bits = vec![0; Self::WORDS];
        }
        for bit in Self::positions(key) {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
    }

    fn may_hold(&self, key: &[u8]) -> bool {
        !self.bits.is_empty()
            && Self::positions(key)
                .iter()
                .all(|&bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(rss: u64) -> Amounts {
        Amounts {
            rss,
            size: rss,
            ..Amounts::default()
        }
    }

    /// Distinct names without digits (digits would fold them together).
    fn letters(mut n: usize) -> Vec<u8> {
        let mut name = b"n-".to_vec();
        loop {
            name.push(b'a' + (n % 26) as u8);
            n /= 26;
            if n == 0 {
                return name;
            }
        }
    }

    fn total(groups: &NamedGroups) -> Count {
        let mut sum = groups.other().copied().unwrap_or_default();
        for group in groups.iter() {
            sum.merge(&group.count);
        }
        sum
    }

    #[test]
    fn past_the_bound_the_largest_names_are_kept_and_the_rest_summed_exactly() {
        let mut groups = NamedGroups::default();
        let mut expected = Count::default();
        // Many small names, then a few large ones that must displace them, each seen twice.
        for n in 0..5 * MAX_GROUPS {
            groups.add(&letters(n), amounts(1));
            expected.add(amounts(1));
        }
        for round in 0..2 {
            for n in 0..10 {
                let name = letters(100_000 + n);
                groups.add(&name, amounts(1000 + round));
                expected.add(amounts(1000 + round));
            }
        }
        assert_eq!(groups.iter().count(), MAX_GROUPS);
        assert_eq!(
            total(&groups),
            expected,
            "every region counted exactly once"
        );
        for n in 0..10 {
            let group = groups
                .group_of(&letters(100_000 + n))
                .expect("a large name is kept");
            assert_eq!(group.count.regions, 2, "with every one of its regions");
            assert_eq!(group.count.amounts.rss, 2001);
        }
        let other = groups.other().expect("a remainder");
        assert_eq!(other.regions, (5 * MAX_GROUPS - (MAX_GROUPS - 10)) as u64);
        assert!(groups.name_bytes <= MAX_NAME_BYTES);
    }

    #[test]
    fn a_dropped_name_never_comes_back_with_part_of_its_regions() {
        let mut groups = NamedGroups::default();
        for n in 0..MAX_GROUPS {
            groups.add(&letters(n), amounts(10));
        }
        // A larger newcomer drops one of the equals; that name's later regions stay in the
        // remainder even when it grows past the others.
        groups.add(b"big", amounts(100));
        let dropped = (0..MAX_GROUPS)
            .map(letters)
            .find(|name| groups.group_of(name).is_none())
            .expect("one name was dropped");
        groups.add(&dropped, amounts(1_000_000));
        assert!(groups.group_of(&dropped).is_none());
        assert_eq!(groups.other().unwrap().regions, 2);
        assert_eq!(groups.other().unwrap().amounts.rss, 1_000_010);
    }

    #[test]
    fn long_names_are_bounded_by_their_bytes() {
        let mut groups = NamedGroups::default();
        for n in 0..100 {
            let mut name = letters(n);
            name.extend(std::iter::repeat_n(b'x', 60_000));
            groups.add(&name, amounts(n as u64 + 1));
        }
        assert!(groups.name_bytes <= MAX_NAME_BYTES);
        let kept = groups.iter().count();
        assert!((1..100).contains(&kept), "{kept} groups kept");
        assert!(
            groups
                .iter()
                .all(|group| group.count.amounts.rss > 100 - kept as u64),
            "the largest are kept"
        );
        assert_eq!(total(&groups).regions, 100);
    }

    #[test]
    fn a_name_that_folds_to_the_remainders_label_is_counted_there() {
        let mut groups = NamedGroups::default();
        groups.add(OTHER_NAMES_LABEL, amounts(5));
        groups.add(b"TNC-1", amounts(5));
        assert!(groups.group_of(OTHER_NAMES_LABEL).is_none());
        assert_eq!(groups.other().unwrap().regions, 1);
        let tnc = groups.group_of(b"TNC-2").unwrap();
        assert_eq!((&*tnc.key, tnc.label()), (&b"TNC-*"[..], &b"TNC-1"[..]));
    }
}
