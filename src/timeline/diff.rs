//! `-diff`: what changed between two snapshots. Categories are matched by their stable keys, and
//! their changes add up exactly to the change of the totals, because each snapshot's categories
//! add up to its totals. Regions are matched by what they are (category, name, permissions,
//! file offset, inode), never by address; the many unnamed regions of one kind are compared as a
//! group by count and sums, so "+120 regions" of thread stacks shows a thread leak.

use std::collections::HashMap;

use super::sample::{GroupKey, Snapshot};
use crate::report::Amounts;

/// A signed change of every amount, in bytes: `now − base`, field by field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Virtual size.
    pub size: i64,
    /// Resident set.
    pub rss: i64,
    /// Proportional set.
    pub pss: i64,
    /// Private (USS).
    pub private: i64,
    /// Shared.
    pub shared: i64,
    /// Swap.
    pub swap: i64,
    /// Proportional swap.
    pub swap_pss: i64,
    /// hugetlbfs pages.
    pub hugetlb: i64,
}

impl Change {
    /// The changes in the order of [`Amounts::to_array`].
    pub(crate) fn to_array(self) -> [i64; 8] {
        [
            self.size,
            self.rss,
            self.pss,
            self.private,
            self.shared,
            self.swap,
            self.swap_pss,
            self.hugetlb,
        ]
    }

    /// `now − base`, from the saturating differences in both directions (one is zero).
    pub fn between(base: Amounts, now: Amounts) -> Change {
        let (up, down) = (now - base, base - now);
        let signed = |up: u64, down: u64| {
            i64::try_from(up).unwrap_or(i64::MAX) - i64::try_from(down).unwrap_or(i64::MAX)
        };
        Change {
            size: signed(up.size, down.size),
            rss: signed(up.rss, down.rss),
            pss: signed(up.pss, down.pss),
            private: signed(up.private, down.private),
            shared: signed(up.shared, down.shared),
            swap: signed(up.swap, down.swap),
            swap_pss: signed(up.swap_pss, down.swap_pss),
            hugetlb: signed(up.hugetlb, down.hugetlb),
        }
    }

    /// Whether nothing changed.
    pub fn is_zero(&self) -> bool {
        *self == Change::default()
    }
}

impl std::ops::Add for Change {
    type Output = Change;
    fn add(self, other: Change) -> Change {
        Change {
            size: self.size.saturating_add(other.size),
            rss: self.rss.saturating_add(other.rss),
            pss: self.pss.saturating_add(other.pss),
            private: self.private.saturating_add(other.private),
            shared: self.shared.saturating_add(other.shared),
            swap: self.swap.saturating_add(other.swap),
            swap_pss: self.swap_pss.saturating_add(other.swap_pss),
            hugetlb: self.hugetlb.saturating_add(other.hugetlb),
        }
    }
}

impl std::iter::Sum for Change {
    fn sum<I: Iterator<Item = Change>>(iter: I) -> Change {
        iter.fold(Change::default(), std::ops::Add::add)
    }
}

/// One category before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryChange {
    /// The stable key.
    pub key: String,
    /// What people read.
    pub label: String,
    /// The section's stable key.
    pub section: String,
    /// Regions in the baseline.
    pub base_regions: u64,
    /// Regions now.
    pub now_regions: u64,
    /// Amounts in the baseline (zero if the category is new).
    pub base: Amounts,
    /// Amounts now (zero if it is gone).
    pub now: Amounts,
    /// `now − base`.
    pub change: Change,
}

impl CategoryChange {
    /// Regions now minus regions in the baseline.
    pub fn region_change(&self) -> i64 {
        self.now_regions as i64 - self.base_regions as i64
    }
}

/// How a group of regions changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupChangeKind {
    /// None in the baseline.
    Appeared,
    /// None now.
    Vanished,
    /// A different number of regions (e.g. more thread stacks).
    Count,
    /// The same number of regions, more memory.
    Grew,
    /// The same number of regions, less memory.
    Shrank,
}

impl GroupChangeKind {
    /// The stable key used by text and JSON (`appeared`, `vanished`, `count`, `grew`, `shrank`).
    pub fn key(self) -> &'static str {
        match self {
            GroupChangeKind::Appeared => "appeared",
            GroupChangeKind::Vanished => "vanished",
            GroupChangeKind::Count => "count",
            GroupChangeKind::Grew => "grew",
            GroupChangeKind::Shrank => "shrank",
        }
    }
}

/// A group of regions that changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupChange {
    /// What the regions are.
    pub key: GroupKey,
    /// Their category's label.
    pub label: String,
    /// How they changed.
    pub kind: GroupChangeKind,
    /// Regions in the baseline.
    pub base_regions: u64,
    /// Regions now.
    pub now_regions: u64,
    /// `now − base`.
    pub change: Change,
}

impl GroupChange {
    /// Regions now minus regions in the baseline.
    pub fn region_change(&self) -> i64 {
        self.now_regions as i64 - self.base_regions as i64
    }
}

/// Everything that changed from `base` to `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diff {
    /// The baseline's source path.
    pub base_path: String,
    /// The current source path.
    pub now_path: String,
    /// Baseline totals.
    pub base_totals: Amounts,
    /// Current totals.
    pub now_totals: Amounts,
    /// `now − base` of the totals; equal to the sum of the categories' changes.
    pub change: Change,
    /// Regions in the baseline.
    pub base_regions: u64,
    /// Regions now.
    pub now_regions: u64,
    /// Every category of either snapshot, largest change of RSS first (then of PSS, swap).
    pub categories: Vec<CategoryChange>,
    /// Groups of regions that changed, largest change of RSS first; empty when either snapshot
    /// has no groups (see `groups_compared`).
    pub groups: Vec<GroupChange>,
    /// Whether both snapshots had region groups to compare.
    pub groups_compared: bool,
}

/// Compares `now` with `base`.
pub fn diff(base: &Snapshot, now: &Snapshot) -> Diff {
    let mut categories: Vec<CategoryChange> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (side, snapshot) in [(0, base), (1, now)] {
        for category in &snapshot.categories {
            let at = *index.entry(category.key.as_str()).or_insert_with(|| {
                categories.push(CategoryChange {
                    key: category.key.clone(),
                    label: category.label.clone(),
                    section: category.section.clone(),
                    base_regions: 0,
                    now_regions: 0,
                    base: Amounts::default(),
                    now: Amounts::default(),
                    change: Change::default(),
                });
                categories.len() - 1
            });
            let entry = &mut categories[at];
            if side == 0 {
                entry.base_regions += category.regions;
                entry.base += category.amounts;
            } else {
                entry.now_regions += category.regions;
                entry.now += category.amounts;
                entry.label = category.label.clone();
            }
        }
    }
    for category in &mut categories {
        category.change = Change::between(category.base, category.now);
    }
    categories.sort_by(|a, b| {
        let size =
            |c: &CategoryChange| (c.change.rss.abs(), c.change.pss.abs(), c.change.swap.abs());
        size(b).cmp(&size(a)).then_with(|| a.key.cmp(&b.key))
    });
    let labels: HashMap<&str, &str> = categories
        .iter()
        .map(|c| (c.key.as_str(), c.label.as_str()))
        .collect();
    let groups_compared = base.has_groups && now.has_groups;
    let groups = if groups_compared {
        group_changes(base, now, &labels)
    } else {
        Vec::new()
    };
    Diff {
        base_path: base.path.clone(),
        now_path: now.path.clone(),
        base_totals: base.totals,
        now_totals: now.totals,
        change: Change::between(base.totals, now.totals),
        base_regions: base.region_count,
        now_regions: now.region_count,
        categories,
        groups,
        groups_compared,
    }
}

fn group_changes(
    base: &Snapshot,
    now: &Snapshot,
    labels: &HashMap<&str, &str>,
) -> Vec<GroupChange> {
    let mut both: HashMap<&GroupKey, [(u64, Amounts); 2]> = HashMap::new();
    for (side, snapshot) in [(0, base), (1, now)] {
        for group in &snapshot.groups {
            let entry = both.entry(&group.key).or_default();
            entry[side].0 += group.regions;
            entry[side].1 += group.amounts;
        }
    }
    let mut changes: Vec<GroupChange> = both
        .into_iter()
        .filter_map(|(key, [(base_regions, base), (now_regions, now)])| {
            let change = Change::between(base, now);
            let kind = if base_regions == 0 {
                GroupChangeKind::Appeared
            } else if now_regions == 0 {
                GroupChangeKind::Vanished
            } else if base_regions != now_regions {
                GroupChangeKind::Count
            } else if change.is_zero() {
                return None;
            } else {
                let grew = (change.rss, change.swap, change.size) > (0, 0, 0);
                if grew {
                    GroupChangeKind::Grew
                } else {
                    GroupChangeKind::Shrank
                }
            };
            Some(GroupChange {
                key: key.clone(),
                label: labels
                    .get(key.category.as_str())
                    .map_or_else(|| key.category.clone(), |label| label.to_string()),
                kind,
                base_regions,
                now_regions,
                change,
            })
        })
        .collect();
    changes.sort_by(|a, b| {
        let size = |c: &GroupChange| {
            (
                c.change.rss.abs(),
                c.region_change().abs(),
                c.change.size.abs(),
            )
        };
        size(b).cmp(&size(a)).then_with(|| a.key.cmp(&b.key))
    });
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(text: &str) -> Snapshot {
        let report =
            crate::analyze_reader(text.as_bytes(), &crate::Options::default().region_groups())
                .unwrap();
        Snapshot::of_report(&report)
    }

    fn region(
        start: u64,
        perms: &str,
        inode: u64,
        name: &str,
        rss_kb: u64,
        swap_kb: u64,
    ) -> String {
        format!(
            "{start:x}-{end:x} {perms} 00000000 08:01 {inode} {name}\nSize: 2048 kB\nRss: {rss_kb} kB\n\
             Pss: {rss_kb} kB\nPrivate_Dirty: {rss_kb} kB\nSwap: {swap_kb} kB\n",
            end = start + 0x200000
        )
    }

    /// A process with `threads` unnamed glibc-style thread stacks (guard page, then the stack),
    /// the first at `stacks_at`.
    fn process(threads: u64, heap_kb: u64, cache: bool, stacks_at: u64) -> String {
        let mut text = region(0x5500_0000_0000, "rw-p", 0, "[heap]", heap_kb, 4);
        text += &region(0x7f00_0000_0000, "r-xp", 9, "/lib/libc.so.6", 300, 0);
        for thread in 0..threads {
            let base = stacks_at + thread * 0x1000_0000;
            text += &format!(
                "{base:x}-{end:x} ---p 00000000 00:00 0 \nSize: 4 kB\nRss: 0 kB\n",
                end = base + 0x1000
            );
            text += &region(base + 0x1000, "rw-p", 0, "", 16, 0);
        }
        if cache {
            text += &region(0x7f20_0000_0000, "rw-p", 0, "[anon:cache]", 1024, 0);
        }
        text += &region(0x7ffd_0000_0000, "rw-p", 0, "[stack]", 12, 0);
        text
    }

    #[test]
    fn category_changes_add_up_to_the_totals_and_a_thread_leak_is_a_count() {
        let base = analyze(&process(2, 400, false, 0x7f10_0000_0000));
        // The stacks' addresses differ in the second run (still in address order, as smaps
        // lists them): matching never uses addresses.
        let now = analyze(&process(122, 900, true, 0x7f11_0800_0000));
        let diff = diff(&base, &now);
        let sum: Change = diff.categories.iter().map(|c| c.change).sum();
        assert_eq!(sum.rss, diff.change.rss);
        assert_eq!(sum.pss, diff.change.pss);
        assert_eq!(sum.swap, diff.change.swap);
        assert_eq!(diff.change.rss, ((120 * 16 + 500 + 1024) * 1024) as i64);
        let stacks = diff
            .groups
            .iter()
            .find(|g| g.key.perms == "rw-p" && g.key.name.is_empty())
            .expect("the thread stacks' group");
        assert_eq!(stacks.kind, GroupChangeKind::Count);
        assert_eq!(stacks.region_change(), 120);
        assert_eq!(stacks.change.rss, 120 * 16 * 1024);
        let kinds: Vec<(&str, GroupChangeKind)> = diff
            .groups
            .iter()
            .map(|g| (g.key.name.as_str(), g.kind))
            .collect();
        assert!(
            kinds.contains(&("[anon:cache]", GroupChangeKind::Appeared)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("[heap]", GroupChangeKind::Grew)),
            "{kinds:?}"
        );
        assert!(
            !kinds.iter().any(|(name, _)| *name == "/lib/libc.so.6"),
            "unchanged"
        );
        let back = super::diff(&now, &base);
        assert_eq!(back.change.rss, -diff.change.rss);
        assert!(back
            .groups
            .iter()
            .any(|g| g.key.name == "[anon:cache]" && g.kind == GroupChangeKind::Vanished));
    }

    #[test]
    fn signed_changes_from_saturating_amounts() {
        let a = Amounts {
            rss: 10,
            swap: 5,
            ..Amounts::default()
        };
        let b = Amounts {
            rss: 4,
            swap: 9,
            ..Amounts::default()
        };
        let change = Change::between(a, b);
        assert_eq!((change.rss, change.swap, change.pss), (-6, 4, 0));
    }
}
