//! The look-ahead window: a region is classified only once the next one has arrived, because
//! some rules look at both neighbours (a malloc arena is recognised by the reservation after
//! it). The region waiting for its successor is an owned copy in a buffer that is reused, so
//! the window costs no allocation per region.

use crate::classify::{Inspection, MapFlags, Neighbour, Neighbours};
use crate::report::Amounts;
use crate::smaps::{Header, Perms};

/// An owned copy of a region: the one awaiting its successor, or one kept for the listing.
#[derive(Clone, Debug, Default)]
pub(crate) struct OwnedRegion {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    pub offset: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub inode: u64,
    pub name: Vec<u8>,
    pub amounts: Amounts,
    /// What its `VmFlags` line says (see [`Neighbours::flags`]).
    pub flags: MapFlags,
    /// See [`Neighbours::inspection`].
    pub inspection: Inspection,
}

impl OwnedRegion {
    /// Overwrites `self` with the region, reusing the name's allocation.
    pub(crate) fn copy_from(&mut self, header: &Header<'_>, amounts: Amounts) {
        self.start = header.start;
        self.end = header.end;
        self.perms = header.perms;
        self.offset = header.offset;
        self.dev_major = header.dev_major;
        self.dev_minor = header.dev_minor;
        self.inode = header.inode;
        self.name.clear();
        self.name.extend_from_slice(header.name);
        self.amounts = amounts;
    }

    pub(crate) fn header(&self) -> Header<'_> {
        Header {
            start: self.start,
            end: self.end,
            perms: self.perms,
            offset: self.offset,
            dev_major: self.dev_major,
            dev_minor: self.dev_minor,
            inode: self.inode,
            name: &self.name,
        }
    }
}

#[derive(Default)]
pub(crate) struct Window {
    /// The region before `pending`, in address order.
    previous: Option<Neighbour>,
    /// The last region received, handed on when the next one arrives (or at the end).
    pending: Option<OwnedRegion>,
    /// A spare buffer swapped with `pending`, so that copies reuse allocations.
    spare: OwnedRegion,
}

impl Window {
    /// Takes the next region in address order and hands the one before it, with both its
    /// neighbours, to `ready`.
    pub(crate) fn push(
        &mut self,
        header: &Header<'_>,
        amounts: Amounts,
        flags: MapFlags,
        inspection: Inspection,
        ready: impl FnOnce(&OwnedRegion, &Neighbours),
    ) {
        if let Some(pending) = self.pending.take() {
            self.hand_on(&pending, Some(Neighbour::of(header)), ready);
            self.spare = pending;
        }
        let mut next = std::mem::take(&mut self.spare);
        next.copy_from(header, amounts);
        next.flags = flags;
        next.inspection = inspection;
        self.pending = Some(next);
    }

    /// Hands the last region to `ready`; call once the input has ended.
    pub(crate) fn flush(&mut self, ready: impl FnOnce(&OwnedRegion, &Neighbours)) {
        if let Some(pending) = self.pending.take() {
            self.hand_on(&pending, None, ready);
        }
    }

    fn hand_on(
        &mut self,
        region: &OwnedRegion,
        next: Option<Neighbour>,
        ready: impl FnOnce(&OwnedRegion, &Neighbours),
    ) {
        let around = Neighbours {
            previous: self.previous,
            next,
            flags: region.flags,
            inspection: region.inspection,
        };
        ready(region, &around);
        self.previous = Some(Neighbour::of(&region.header()));
    }
}
