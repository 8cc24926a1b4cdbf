//! The field lines of an smaps record: every key the parser knows, written once in
//! `smaps_fields!` (below), which generates the key enum, the kernel's order, the printed names,
//! the units and the [`Fields`] struct that holds the values.

/// What follows a key's value on its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// ` kB` (KiB, as the kernel writes it).
    Kb,
    /// Nothing: a plain count or flag (`THPeligible`, `ProtectionKey`).
    Count,
    /// Two-letter codes, each followed by a space (`VmFlags`); not a number.
    Flags,
}

/// Declares every known key once: `Variant => field, "Name", Unit;`, in the order Linux 6.18
/// prints them. Older kernels print a subset in another order; the parser looks keys up by name
/// and only uses this order to guess the next key.
macro_rules! smaps_fields {
    ($( $(#[$doc:meta])* $variant:ident => $field:ident, $name:literal, $unit:ident; )*) => {
        /// A field key the parser knows. Any other key is skipped.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum FieldKey {
            $( $(#[$doc])* $variant, )*
            /// `VmFlags:`, the mapping's two-letter flag codes (kept as bytes, see
            /// [`Region::vm_flags`](crate::smaps::Region::vm_flags)).
            VmFlags,
        }

        impl FieldKey {
            /// Every key, in the order Linux 6.18 prints them (which is also declaration order).
            pub const ALL: [FieldKey; smaps_fields!(@count $($variant)*) + 1] =
                [$(FieldKey::$variant,)* FieldKey::VmFlags];

            /// The key as the kernel prints it, without the colon.
            pub const fn name(self) -> &'static str {
                match self {
                    $(FieldKey::$variant => $name,)*
                    FieldKey::VmFlags => "VmFlags",
                }
            }

            pub(crate) fn unit(self) -> Unit {
                match self {
                    $(FieldKey::$variant => Unit::$unit,)*
                    FieldKey::VmFlags => Unit::Flags,
                }
            }
        }

        /// The numeric fields of one record, in kB (KiB) as the kernel prints them, except the
        /// unit-less `thp_eligible` and `protection_key`. Keys absent from the input stay 0;
        /// [`Fields::has`] tells which were present.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct Fields {
            $( $(#[$doc])* pub $field: u64, )*
            /// Bit set of the keys seen, indexed by [`FieldKey`].
            present: u32,
        }

        impl Fields {
            /// The value of a numeric key; 0 for `VmFlags`, which is not a number.
            pub fn get(&self, key: FieldKey) -> u64 {
                match key {
                    $(FieldKey::$variant => self.$field,)*
                    FieldKey::VmFlags => 0,
                }
            }

            /// Where a numeric key's value is stored; `None` for `VmFlags`.
            #[inline]
            pub(crate) fn slot(&mut self, key: FieldKey) -> Option<&mut u64> {
                match key {
                    $(FieldKey::$variant => Some(&mut self.$field),)*
                    FieldKey::VmFlags => None,
                }
            }
        }
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + smaps_fields!(@count $($tail)*) };
}

smaps_fields! {
    /// `Size:` virtual size of the mapping.
    Size => size, "Size", Kb;
    /// `KernelPageSize:` page size the kernel uses for the mapping.
    KernelPageSize => kernel_page_size, "KernelPageSize", Kb;
    /// `MMUPageSize:` page size the MMU uses for the mapping.
    MmuPageSize => mmu_page_size, "MMUPageSize", Kb;
    /// `Rss:` resident pages (not swap, not hugetlb).
    Rss => rss, "Rss", Kb;
    /// `Pss:` resident pages, shared ones divided among their sharers.
    Pss => pss, "Pss", Kb;
    /// `Pss_Dirty:` the dirty part of `Pss` (Linux 6.0+).
    PssDirty => pss_dirty, "Pss_Dirty", Kb;
    /// `Shared_Clean:` unmodified resident pages other processes map too.
    SharedClean => shared_clean, "Shared_Clean", Kb;
    /// `Shared_Dirty:` modified resident pages other processes map too.
    SharedDirty => shared_dirty, "Shared_Dirty", Kb;
    /// `Private_Clean:` unmodified resident pages only this process maps.
    PrivateClean => private_clean, "Private_Clean", Kb;
    /// `Private_Dirty:` modified resident pages only this process maps.
    PrivateDirty => private_dirty, "Private_Dirty", Kb;
    /// `Referenced:` pages recently accessed.
    Referenced => referenced, "Referenced", Kb;
    /// `Anonymous:` pages not backed by a file (including copy-on-write copies of file pages).
    Anonymous => anonymous, "Anonymous", Kb;
    /// `KSM:` pages merged by kernel same-page merging (Linux 6.6+).
    Ksm => ksm, "KSM", Kb;
    /// `LazyFree:` pages freed with `MADV_FREE`, reclaimable without writing them out.
    LazyFree => lazy_free, "LazyFree", Kb;
    /// `AnonHugePages:` anonymous memory in transparent huge pages.
    AnonHugePages => anon_huge_pages, "AnonHugePages", Kb;
    /// `ShmemPmdMapped:` shared memory mapped with huge pages.
    ShmemPmdMapped => shmem_pmd_mapped, "ShmemPmdMapped", Kb;
    /// `FilePmdMapped:` file pages mapped with huge pages.
    FilePmdMapped => file_pmd_mapped, "FilePmdMapped", Kb;
    /// `Shared_Hugetlb:` hugetlbfs pages other processes map too (not part of `Rss`).
    SharedHugetlb => shared_hugetlb, "Shared_Hugetlb", Kb;
    /// `Private_Hugetlb:` hugetlbfs pages only this process maps (not part of `Rss`).
    PrivateHugetlb => private_hugetlb, "Private_Hugetlb", Kb;
    /// `Swap:` pages swapped out.
    Swap => swap, "Swap", Kb;
    /// `SwapPss:` swapped-out pages, shared ones divided among their sharers.
    SwapPss => swap_pss, "SwapPss", Kb;
    /// `Locked:` pages locked in memory (`mlock`).
    Locked => locked, "Locked", Kb;
    /// `THPeligible:` 1 when the mapping may use transparent huge pages.
    ThpEligible => thp_eligible, "THPeligible", Count;
    /// `ProtectionKey:` the memory protection key (only on machines with pkeys).
    ProtectionKey => protection_key, "ProtectionKey", Count;
}

/// A key and its colon as the start of a line, compared in one 16-byte load: the bytes, and a
/// mask of the ones the key covers. Every key with its colon fits in 16 bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyPattern {
    pub bytes: u128,
    pub mask: u128,
    /// The 16 columns the kernel prints before a value: the key, its colon and spaces.
    pub padded: u128,
    /// Length of the key with its colon.
    pub len: usize,
}

impl KeyPattern {
    const fn of(name: &str) -> KeyPattern {
        let name = name.as_bytes();
        assert!(name.len() < 16, "a key with its colon fits in 16 bytes");
        let mut bytes = [0u8; 16];
        let mut mask = [0u8; 16];
        let mut index = 0;
        while index < name.len() {
            bytes[index] = name[index];
            mask[index] = 0xff;
            index += 1;
        }
        bytes[index] = b':';
        mask[index] = 0xff;
        let mut padded = bytes;
        let mut column = index + 1;
        while column < 16 {
            padded[column] = b' ';
            column += 1;
        }
        KeyPattern {
            bytes: u128::from_le_bytes(bytes),
            mask: u128::from_le_bytes(mask),
            padded: u128::from_le_bytes(padded),
            len: index + 1,
        }
    }

    /// Whether `start`, the first 16 bytes of a line, begins with the key and its colon.
    #[inline]
    pub(crate) fn matches(&self, start: &[u8; 16]) -> bool {
        u128::from_le_bytes(*start) & self.mask == self.bytes
    }
}

impl FieldKey {
    /// [`KeyPattern`]s, indexed by [`FieldKey`].
    pub(crate) const PATTERNS: [KeyPattern; FieldKey::ALL.len()] = {
        let mut patterns = [KeyPattern {
            bytes: 0,
            mask: 0,
            padded: 0,
            len: 0,
        }; FieldKey::ALL.len()];
        let mut index = 0;
        while index < FieldKey::ALL.len() {
            patterns[index] = KeyPattern::of(FieldKey::ALL[index].name());
            index += 1;
        }
        patterns
    };

    /// The key whose printed name is `name` (without the colon).
    pub fn from_name(name: &[u8]) -> Option<FieldKey> {
        FieldKey::ALL
            .iter()
            .copied()
            .find(|key| key.name().as_bytes() == name)
    }

    /// The key's position in [`FieldKey::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The position in [`FieldKey::ALL`] of the key the kernel prints after this one (the first
    /// after the last).
    pub(crate) fn next_index(self) -> usize {
        (self.index() + 1) % FieldKey::ALL.len()
    }
}

impl Fields {
    /// Private memory: pages mapped by this process only (the basis of USS).
    pub fn private(&self) -> u64 {
        self.private_clean + self.private_dirty
    }

    /// Resident pages that at least one other process also maps.
    pub fn shared(&self) -> u64 {
        self.shared_clean + self.shared_dirty
    }

    /// Huge pages from hugetlbfs, which the kernel leaves out of `Rss`.
    pub fn hugetlb(&self) -> u64 {
        self.shared_hugetlb + self.private_hugetlb
    }

    /// Whether the record had a line for `key`.
    pub fn has(&self, key: FieldKey) -> bool {
        self.present & (1 << key.index()) != 0
    }

    /// Whether the record had any field line at all.
    pub fn is_empty(&self) -> bool {
        self.present == 0
    }

    /// The keys present, as a bit set indexed by [`FieldKey`].
    pub(crate) fn present_keys(&self) -> u32 {
        self.present
    }

    #[inline]
    pub(crate) fn mark_present(&mut self, key: FieldKey) {
        self.present |= 1 << key.index();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_table_is_in_declaration_order_and_names_round_trip() {
        for (index, key) in FieldKey::ALL.iter().enumerate() {
            assert_eq!(key.index(), index);
            assert_eq!(FieldKey::from_name(key.name().as_bytes()), Some(*key));
        }
        assert_eq!(FieldKey::from_name(b"Rs"), None);
        assert!(FieldKey::ALL.len() <= 32, "the present bit set is a u32");
    }

    #[test]
    fn every_numeric_key_has_its_own_slot() {
        let mut fields = Fields::default();
        for (value, key) in FieldKey::ALL.iter().enumerate() {
            if let Some(slot) = fields.slot(*key) {
                *slot = value as u64 + 1;
            }
        }
        for (value, key) in FieldKey::ALL.iter().enumerate() {
            let expected = if *key == FieldKey::VmFlags {
                0
            } else {
                value as u64 + 1
            };
            assert_eq!(fields.get(*key), expected, "{key:?}");
        }
    }
}
