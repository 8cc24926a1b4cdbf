//! Parsed regions copied out of the parser's buffer in batches, to cross to the thread that
//! aggregates them (`prefetch.rs`): the header's numbers, the fields, and the name and VmFlags
//! bytes end to end in one buffer. Batches are reused, so nothing is allocated per region once
//! their buffers have grown.

use std::ops::Range;

use crate::smaps::{Fields, Header, Region};

/// A batch is handed over once it holds this many regions…
const BATCH_REGIONS: usize = 256;
/// …or this many bytes of names and flags (a 60 KB name fills one alone).
const BATCH_BYTES: usize = 32 * 1024;

/// A region copied out of the parser's buffer.
struct Parked {
    /// The header, its name left empty: the name is `name` in the batch's bytes.
    header: Header<'static>,
    name: Range<usize>,
    vm_flags: Range<usize>,
    fields: Fields,
    line: u64,
}

/// Regions in the order the parser gave them, owning copies of their bytes.
#[derive(Default)]
pub(crate) struct Batch {
    regions: Vec<Parked>,
    bytes: Vec<u8>,
}

impl Batch {
    pub(crate) fn push(&mut self, region: &Region<'_>) {
        let name = self.append(region.header.name);
        let vm_flags = self.append(region.vm_flags);
        self.regions.push(Parked {
            header: Header {
                name: &[],
                ..region.header
            },
            name,
            vm_flags,
            fields: region.fields,
            line: region.line,
        });
    }

    fn append(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.regions.len() >= BATCH_REGIONS || self.bytes.len() >= BATCH_BYTES
    }

    pub(crate) fn for_each(&self, mut on_region: impl FnMut(&Region<'_>)) {
        for parked in &self.regions {
            on_region(&Region {
                header: Header {
                    name: &self.bytes[parked.name.clone()],
                    ..parked.header
                },
                fields: parked.fields,
                vm_flags: &self.bytes[parked.vm_flags.clone()],
                line: parked.line,
            });
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.regions.clear();
        self.bytes.clear();
    }
}
