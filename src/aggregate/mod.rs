//! Adds classified regions up, in memory that does not grow with the number of regions (except
//! with `-all`, which must keep every one), and builds the [`Report`] once the input has ended.
//! Each part does one job: `window.rs` waits for a region's successor, `tally.rs` sums per
//! classification, `groups.rs` groups named regions, `top.rs` keeps the largest regions,
//! `evidence.rs` notes what the regions reveal, `identities.rs` groups regions by what they are
//! (for diffs), and `build.rs` decides categories and builds the
//! report.

mod build;
mod evidence;
mod groups;
mod identities;
mod tally;
mod top;
mod window;

use std::path::PathBuf;

use crate::classify::{named_group_source, Classifier, Condition, Inspection, MapFlags, Target};
use crate::input::elf::ExecutableFacts;
use crate::report::{Amounts, Listing, Report, Warning};
use crate::smaps::Region;

use evidence::{Candidates, Signals, NO_CANDIDATE};
use groups::NamedGroups;
use identities::Identities;
use tally::{Count, Tally};
use top::Kept;
use window::{OwnedRegion, Window};

/// What the caller knows about the process beyond its smaps text.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProcessInfo {
    pub pid: Option<i32>,
    /// `/proc/<pid>/smaps`, the file's path, or `-`.
    pub path: PathBuf,
    /// The executable's path as smaps prints it (`/proc/<pid>/exe`'s target).
    pub exe: Option<Vec<u8>>,
    pub comm: Option<Vec<u8>>,
    /// What the executable file says, for a live process.
    pub executable: ExecutableFacts,
    /// For a live analysis: whether the running kernel can name anonymous mappings.
    pub kernel_names_mappings: Option<bool>,
}

/// Accumulates regions one at a time; [`Aggregator::finish`] turns them into a [`Report`].
pub(crate) struct Aggregator {
    classifier: Classifier,
    window: Window,
    totals: Count,
    tally: Tally,
    groups: NamedGroups,
    kept: Kept,
    /// Identity groups, when asked for (`collect_groups`).
    identities: Option<Identities>,
    signals: Signals,
    candidates: Candidates,
    /// End of the highest address range counted so far: records arrive in address order, so a
    /// record starting below it overlaps (or precedes) one already counted.
    counted_end: u64,
    /// Records left out because they overlap one already counted, and the line of the first.
    overlapping: Option<(u64, u64)>,
}

impl Aggregator {
    pub(crate) fn new(listing: Listing, executable: Option<&[u8]>) -> Aggregator {
        Aggregator {
            classifier: Classifier::new(executable),
            window: Window::default(),
            totals: Count::default(),
            tally: Tally::default(),
            groups: NamedGroups::default(),
            kept: Kept::new(listing),
            identities: None,
            signals: Signals::default(),
            candidates: Candidates::default(),
            counted_end: 0,
            overlapping: None,
        }
    }

    /// Also groups the regions by identity for diffs ([`crate::Report::groups`]): at most a few
    /// thousand groups, so memory stays bounded, but it is work and memory the plain report
    /// does not need.
    pub(crate) fn collect_groups(&mut self) {
        self.identities.get_or_insert_with(Identities::default);
    }

    /// Takes the next region in address order. A region that starts below the end of one
    /// already counted is left out (and noted): its figures cover addresses already counted,
    /// and smaps gives no way to split them.
    pub(crate) fn add(&mut self, region: &Region<'_>) {
        self.add_inspected(region, Inspection::NotRead);
    }

    /// [`Aggregator::add`], for a region (or a piece of one) whose memory was read
    /// (`input/arenas.rs`).
    pub(crate) fn add_inspected(&mut self, region: &Region<'_>, inspection: Inspection) {
        if region.header.start < self.counted_end {
            let (records, _) = self.overlapping.get_or_insert((0, region.line));
            *records += 1;
            return;
        }
        self.counted_end = region.header.end;
        let amounts = Amounts::of_fields(&region.fields);
        self.totals.add(amounts);
        self.signals.last_was_vsyscall = region.header.name == b"[vsyscall]";
        let Aggregator {
            window,
            classifier,
            tally,
            groups,
            kept,
            identities,
            signals,
            candidates,
            ..
        } = self;
        let flags = MapFlags::of(region.vm_flags);
        window.push(
            &region.header,
            amounts,
            flags,
            inspection,
            |ready, around| {
                count(
                    classifier, tally, groups, kept, identities, signals, candidates, ready, around,
                )
            },
        );
    }

    /// Counts the last region; call once the input has ended.
    pub(crate) fn flush(&mut self) {
        let Aggregator {
            window,
            classifier,
            tally,
            groups,
            kept,
            identities,
            signals,
            candidates,
            ..
        } = self;
        window.flush(|ready, around| {
            count(
                classifier, tally, groups, kept, identities, signals, candidates, ready, around,
            )
        });
    }

    /// Whether the last region was `[vsyscall]`, which the kernel always prints last on x86-64:
    /// proof that a live read was not cut short.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only live reads check this
    pub(crate) fn ended_with_vsyscall(&self) -> bool {
        self.signals.last_was_vsyscall
    }

    /// What the user should know about the regions added: records left out as overlapping.
    pub(crate) fn warning(&self) -> Option<Warning> {
        self.overlapping
            .map(|(records, first_line)| Warning::Overlapping {
                records,
                first_line,
            })
    }

    pub(crate) fn region_count(&self) -> u64 {
        self.totals.regions
    }

    /// Builds the report; `flush` must have been called.
    pub(crate) fn finish(
        self,
        process: ProcessInfo,
        listing: Listing,
        warnings: Vec<Warning>,
    ) -> Report {
        build::report(self, process, listing, warnings)
    }
}

/// Classifies one region and counts it everywhere it belongs.
#[allow(clippy::too_many_arguments)] // the aggregator's parts, borrowed apart
fn count(
    classifier: &Classifier,
    tally: &mut Tally,
    groups: &mut NamedGroups,
    kept: &mut Kept,
    identities: &mut Option<Identities>,
    signals: &mut Signals,
    candidates: &mut Candidates,
    region: &OwnedRegion,
    around: &crate::classify::Neighbours,
) {
    let header = region.header();
    let chain = classifier.classify(&header, around);
    let table = classifier.table();
    let first = table.rule(chain.first());
    // Every matching rule's signals count, not only the first's: a runtime's conditional
    // layout rule tried earlier must not hide what a later rule knows (Go's first arena is
    // also 256 KiB-aligned like a V8 page).
    for &index in chain.rules() {
        signals.note(table.rule(index));
    }
    let subkey = if let Target::NamedGroup = first.target {
        let name = named_group_source(&region.name).expect("group rules match only named regions");
        groups.add(name, region.amounts);
        NO_CANDIDATE // the group is found again by name (`NamedGroups::group_of`)
    } else if chain
        .rules()
        .iter()
        .any(|&index| table.rule(index).when == Some(Condition::ChosenExecutable))
    {
        candidates.subkey(&region.name, region.perms)
    } else {
        NO_CANDIDATE
    };
    // Named groups keep their own sums; their one cell holds them all.
    tally.add((chain, subkey), region.amounts);
    if let Some(identities) = identities {
        identities.add((chain, subkey), region);
    }
    kept.offer(region, chain, subkey);
}

#[cfg(test)]
mod tests;
