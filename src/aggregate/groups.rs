//! Regions grouped by the name the program gave them (`[anon:NAME]`), runs of digits folded so
//! that `TNC-0` … `TNC-511` are one group `TNC-*`.

use std::collections::HashMap;
use std::sync::Arc;

use super::tally::Count;
use crate::classify::fold_digits_into;
use crate::report::Amounts;

pub(crate) struct NamedGroup {
    /// The name with digit runs folded to `*`: the group's identity.
    pub key: Arc<[u8]>,
    /// The first name seen; shown instead of the key while every member has exactly this name.
    pub first_name: Vec<u8>,
    pub uniform: bool,
    pub count: Count,
}

impl NamedGroup {
    /// What people read: the one name all its regions share, else the folded key (`TNC-*`).
    pub(crate) fn label(&self) -> &[u8] {
        if self.uniform {
            &self.first_name
        } else {
            &self.key
        }
    }
}

#[derive(Default)]
pub(crate) struct NamedGroups {
    groups: Vec<NamedGroup>,
    index: HashMap<Arc<[u8]>, usize>,
    /// Scratch space for folded names, reused for every named region.
    scratch: Vec<u8>,
}

impl NamedGroups {
    /// Counts a region named `name` (the NAME of `[anon:NAME]`); returns its group's index.
    pub(crate) fn add(&mut self, name: &[u8], amounts: Amounts) -> usize {
        fold_digits_into(name, &mut self.scratch);
        let index = match self.index.get(&self.scratch[..]) {
            Some(&index) => index,
            None => {
                let key: Arc<[u8]> = Arc::from(&self.scratch[..]);
                self.groups.push(NamedGroup {
                    key: key.clone(),
                    first_name: name.to_vec(),
                    uniform: true,
                    count: Count::default(),
                });
                self.index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[index];
        group.uniform &= group.first_name == name;
        group.count.add(amounts);
        index
    }

    pub(crate) fn get(&self, index: usize) -> &NamedGroup {
        &self.groups[index]
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &NamedGroup> {
        self.groups.iter()
    }
}
