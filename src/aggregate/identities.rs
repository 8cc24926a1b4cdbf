//! Regions grouped by what they are rather than where they are — their classification, name,
//! permissions and, for files, offset and inode — with a count and sums per group: what a diff
//! matches between two snapshots, since addresses change from run to run. Many unnamed regions
//! of one kind (thread stacks, anonymous maps) are one group, so a thread leak shows as a count.
//!
//! Bounded: at most [`MAX_IDENTITIES`] groups and [`MAX_NAME_BYTES`] of names; regions of any
//! further identity are counted in one "rest" group per classification, so memory does not grow
//! with the number of regions or the length of their names.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use super::tally::{CellKey, Count};
use super::window::OwnedRegion;
use crate::classify::fold_digits_into;
use crate::smaps::Perms;

/// Most distinct identities kept. A typical process has a few hundred (one per mapped file
/// segment, one per kind of anonymous memory); 60,000 anonymous maps of one kind are one.
pub(crate) const MAX_IDENTITIES: usize = 4096;
/// Most bytes of names kept over all identities: names may be 64 KiB long, and a report's
/// memory must not grow with them (identities past it join their classification's rest).
pub(crate) const MAX_NAME_BYTES: usize = 256 * 1024;

/// What a region is, apart from its classification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Identity {
    pub perms: Perms,
    /// Offset into the file; 0 for memory without a file.
    pub offset: u64,
    pub inode: u64,
    /// The name; in a bracketed name (`[anon:TNC-7]`, `[anon: glibc: pthread stack: 4242]`)
    /// runs of digits are folded to `*`, so chunks and thread ids do not make new identities.
    pub name: Vec<u8>,
}

/// One group: its classification (with the subkey the tally and the listing use), its identity
/// (`None` for the rest of a classification once the limit is reached), and its count.
pub(crate) struct IdentityGroup {
    pub cell: CellKey,
    pub identity: Option<Identity>,
    pub count: Count,
}

#[derive(Default)]
pub(crate) struct Identities {
    groups: Vec<IdentityGroup>,
    /// Groups by the hash of their cell and identity; a bucket lists the indexes that share it.
    index: HashMap<u64, Vec<usize>, BuildHasherDefault<AlreadyHashed>>,
    hasher: std::collections::hash_map::RandomState,
    /// The identity of the region being counted, reused for every region.
    scratch: Identity,
    /// The bytes of the names kept.
    name_bytes: usize,
    /// The group of the region counted last: the next region is often of the same (the
    /// segments of one file, runs of anonymous maps), and comparing costs less than hashing.
    last: Option<usize>,
}

impl Identities {
    /// Counts `region`, classified as `cell`.
    pub(crate) fn add(&mut self, cell: CellKey, region: &OwnedRegion) {
        let scratch = &mut self.scratch;
        scratch.perms = region.perms;
        scratch.inode = region.inode;
        scratch.offset = if region.inode == 0 { 0 } else { region.offset };
        if region.name.starts_with(b"[") {
            fold_digits_into(&region.name, &mut scratch.name);
        } else {
            scratch.name.clear();
            scratch.name.extend_from_slice(&region.name);
        }
        if let Some(last) = self.last {
            let group = &mut self.groups[last];
            if group.cell == cell && group.identity.as_ref() == Some(&self.scratch) {
                group.count.add(region.amounts);
                return;
            }
        }
        let full = self.groups.len() >= MAX_IDENTITIES
            || self.name_bytes + self.scratch.name.len() > MAX_NAME_BYTES;
        let hash = self.hash(&cell, Some(&self.scratch));
        if let Some(index) = self.find(hash, &cell, Some(&self.scratch)) {
            self.groups[index].count.add(region.amounts);
            self.last = Some(index);
            return;
        }
        let (hash, identity) = if full {
            (self.hash(&cell, None), None)
        } else {
            self.name_bytes += self.scratch.name.len();
            (hash, Some(self.scratch.clone()))
        };
        let index = match self.find(hash, &cell, identity.as_ref()) {
            Some(index) => index,
            None => {
                self.groups.push(IdentityGroup {
                    cell,
                    identity,
                    count: Count::default(),
                });
                self.index
                    .entry(hash)
                    .or_default()
                    .push(self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        self.groups[index].count.add(region.amounts);
        // A rest group matches regions of other identities too: only its cell is compared.
        self.last = self.groups[index].identity.is_some().then_some(index);
    }

    fn hash(&self, cell: &CellKey, identity: Option<&Identity>) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        cell.hash(&mut hasher);
        identity.hash(&mut hasher);
        hasher.finish()
    }

    fn find(&self, hash: u64, cell: &CellKey, identity: Option<&Identity>) -> Option<usize> {
        self.index.get(&hash)?.iter().copied().find(|&index| {
            let group = &self.groups[index];
            group.cell == *cell && group.identity.as_ref() == identity
        })
    }

    pub(crate) fn into_groups(self) -> Vec<IdentityGroup> {
        self.groups
    }
}

/// The hasher of a map whose keys are already hashes, made with a random key (`RandomState`, so
/// a target's names cannot be chosen to collide): it uses the key as it is, instead of hashing
/// every region's identity a second time.
#[derive(Default)]
struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    /// Only `u64` keys are hashed here; other bytes are mixed in all the same.
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Amounts;

    fn region(name: &str, perms: &str, offset: u64, inode: u64, rss: u64) -> OwnedRegion {
        OwnedRegion {
            start: 0x1000,
            end: 0x2000,
            perms: Perms::parse(perms.as_bytes()).unwrap(),
            offset,
            inode,
            name: name.as_bytes().to_vec(),
            amounts: Amounts {
                rss,
                ..Amounts::default()
            },
            ..OwnedRegion::default()
        }
    }

    fn cell(subkey: u32) -> CellKey {
        let classifier = crate::classify::Classifier::new(None);
        let region = region("", "rw-p", 0, 0, 0);
        let around = crate::classify::Neighbours::default();
        (classifier.classify(&region.header(), &around), subkey)
    }

    #[test]
    fn groups_by_identity_and_folds_numbers_in_bracketed_names_only() {
        let mut identities = Identities::default();
        let cell = cell(0);
        for tid in [100, 200, 300] {
            let name = format!("[anon: glibc: pthread stack: {tid}]");
            identities.add(cell, &region(&name, "rw-p", 0, 0, 8));
        }
        identities.add(cell, &region("", "rw-p", 0x55, 0, 4));
        identities.add(cell, &region("", "rw-p", 0x99, 0, 4));
        identities.add(cell, &region("", "---p", 0, 0, 0));
        identities.add(cell, &region("/lib/libc.so.6", "r--p", 0, 7, 1));
        identities.add(cell, &region("/lib/libc.so.6", "r--p", 0x1000, 7, 1));
        identities.add(cell, &region("/lib/libc.so.7", "r--p", 0, 8, 1));
        let groups = identities.into_groups();
        let summary: Vec<(String, &str, u64, u64)> = groups
            .iter()
            .map(|group| {
                let identity = group.identity.as_ref().unwrap();
                (
                    String::from_utf8(identity.name.clone()).unwrap(),
                    identity.perms.as_str(),
                    group.count.regions,
                    group.count.amounts.rss,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("[anon: glibc: pthread stack: *]".to_string(), "rw-p", 3, 24),
                (String::new(), "rw-p", 2, 8),
                (String::new(), "---p", 1, 0),
                ("/lib/libc.so.6".to_string(), "r--p", 1, 1),
                ("/lib/libc.so.6".to_string(), "r--p", 1, 1),
                ("/lib/libc.so.7".to_string(), "r--p", 1, 1),
            ]
        );
    }

    #[test]
    fn the_same_identity_in_another_cell_or_after_another_identity_finds_its_own_group() {
        let mut identities = Identities::default();
        let (heap, other) = (cell(0), cell(1));
        for (cell, name) in [
            (heap, "a"),
            (other, "a"),
            (heap, "b"),
            (heap, "a"),
            (heap, "a"),
        ] {
            identities.add(cell, &region(name, "rw-p", 0, 0, 1));
        }
        let counts: Vec<(u32, String, u64)> = identities
            .into_groups()
            .iter()
            .map(|group| {
                let name = group.identity.as_ref().unwrap().name.clone();
                (
                    group.cell.1,
                    String::from_utf8(name).unwrap(),
                    group.count.regions,
                )
            })
            .collect();
        assert_eq!(
            counts,
            [(0, "a".into(), 3), (1, "a".into(), 1), (0, "b".into(), 1)]
        );
    }

    #[test]
    fn identities_beyond_the_limit_go_to_one_rest_group_per_classification() {
        let mut identities = Identities::default();
        let cell = cell(0);
        let extra = 10u64;
        for inode in 1..=(MAX_IDENTITIES as u64 + extra) {
            identities.add(cell, &region("/data", "r--p", 0, inode, 1));
        }
        // A known identity is still counted in its own group once full.
        identities.add(cell, &region("/data", "r--p", 0, 1, 1));
        let groups = identities.into_groups();
        assert_eq!(groups.len(), MAX_IDENTITIES + 1);
        let rest = groups.last().unwrap();
        assert!(rest.identity.is_none());
        assert_eq!(rest.count.regions, extra);
        assert_eq!(groups[0].count.regions, 2);
        let total: u64 = groups.iter().map(|group| group.count.regions).sum();
        assert_eq!(total, MAX_IDENTITIES as u64 + extra + 1);
    }
}
