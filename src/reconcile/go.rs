//! Go's own accounting (`-pprof`): a heap profile and, in its `?debug=1` text, the runtime's
//! MemStats, reconciled with the process's RSS. The rows add up exactly to RSS: the Go
//! runtime's figures, each as far as it is resident in Go's categories (`go.heap`,
//! `runtime.metadata`); then every section of memory that is not Go's; then what is resident in
//! Go's categories beyond its figures.

use super::pprof::{GoMemStats, HeapProfile, HeapProfileFormat};
use super::{Accounting, AccountingRow};
use crate::report::{Evidence, Report, SectionId};

/// The runtime id of Go processes.
const GO: &str = "go";
/// Go's heap arenas, goroutine stacks included.
const GO_HEAP: &str = "go.heap";
/// The runtime's metadata smaps can tell (named from Go 1.25; inside its reservations before).
const METADATA: &str = "runtime.metadata";
/// The C allocator's heap (cgo, or C libraries).
const C_HEAP: &str = "c.heap";

/// One mebibyte, for notes.
const MIB: u64 = 1 << 20;

/// Adds the reconciliation of `profile` with `report`'s RSS to [`Report::accounting`] (`source`
/// names where the profile came from). Where MemStats confirms the size of the Go heap that
/// layout rules found (within 5% of HeapSys − HeapReleased), the `go.heap` category and the Go
/// runtime are marked as known from the runtime's own accounting ([`Evidence::Runtime`]).
/// An error when the profile cannot be this process's: MemStats claiming more than its whole
/// virtual size, or more than twice its memory in live objects.
pub fn reconcile_go(
    report: &mut Report,
    source: Vec<u8>,
    profile: &HeapProfile,
) -> Result<(), String> {
    let mut accounting = accounting(source, profile, report)?;
    if let Some(memstats) = &profile.memstats {
        if let Some(note) = confirm_heap(report, memstats) {
            accounting.notes.push(note);
        }
    }
    report.accounting.push(accounting);
    Ok(())
}

/// Whether MemStats confirms the `go.heap` category's size; if so it takes
/// [`Evidence::Runtime`] where it had only layout. A note when it does not.
fn confirm_heap(report: &mut Report, memstats: &GoMemStats) -> Option<String> {
    let held = memstats.heap_sys.saturating_sub(memstats.heap_released);
    let category = report
        .sections
        .iter_mut()
        .flat_map(|section| section.categories.iter_mut())
        .find(|category| category.id.key() == GO_HEAP)?;
    let resident = category.amounts.rss;
    if resident.abs_diff(held) * 20 > held {
        return Some(format!(
            "{GO_HEAP} holds {} MiB resident where Go holds {} MiB of heap (HeapSys - \
             HeapReleased): more than 5% apart, so its layout-placed regions stay unconfirmed",
            resident / MIB,
            held / MIB
        ));
    }
    if category.evidence == Evidence::Layout {
        category.evidence = Evidence::Runtime;
    }
    for runtime in &mut report.runtimes {
        if runtime.id.key() == GO && runtime.evidence == Evidence::Layout {
            runtime.evidence = Evidence::Runtime;
        }
    }
    None
}

/// The rows, as [`reconcile_go`] adds them.
fn accounting(
    source: Vec<u8>,
    profile: &HeapProfile,
    report: &Report,
) -> Result<Accounting, String> {
    let rss_of = |key: &str| {
        report
            .category(key)
            .map_or(0, |category| category.amounts.rss)
    };
    let virtual_size = report.totals.size;
    if let Some(memstats) = &profile.memstats {
        if memstats.heap_sys > virtual_size || memstats.sys > virtual_size {
            return Err(format!(
                "the MemStats are from another process: Go says it has mapped {} MiB (Sys; \
                 HeapSys {} MiB), more than this process's whole virtual size of {} MiB",
                memstats.sys / MIB,
                memstats.heap_sys / MIB,
                virtual_size / MIB
            ));
        }
    }
    let go_heap = rss_of(GO_HEAP);
    let go_metadata = rss_of(METADATA);
    // The protobuf's inuse_space is scaled up for sampling: an estimate that may exceed the
    // heap a little, never twice the whole process.
    let whole = report.totals.rss + report.totals.swap;
    if profile.inuse_space > whole.saturating_mul(2) {
        return Err(format!(
            "the profile is from another process: its live objects ({} MiB inuse_space) are \
             more than twice this process's whole memory ({} MiB RSS and swap)",
            profile.inuse_space / MIB,
            whole / MIB
        ));
    }
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    if profile.inuse_space > go_heap {
        notes.push(format!(
            "the profile's inuse_space ({} MiB), an estimate scaled up for sampling, is more \
             than the Go heap's resident {} MiB: the live-object row shows the latter, the \
             rest is beyond resident",
            profile.inuse_space / MIB,
            go_heap / MIB
        ));
    }
    // What is left of Go's resident categories once each figure took its share.
    let mut heap_left = go_heap;
    let take = |wanted: u64, left: &mut u64| {
        let taken = wanted.min(*left);
        *left -= taken;
        taken
    };
    let live = take(profile.inuse_space, &mut heap_left);
    rows.push(AccountingRow {
        key: "go.live_objects",
        label: "Go: live objects (profile inuse_space)",
        runtime_bytes: live,
        resident: None,
        beyond_resident: profile.inuse_space - live,
    });
    let mut metadata_left = go_metadata;
    match &profile.memstats {
        Some(memstats) => {
            memstats_rows(
                memstats,
                profile,
                &mut rows,
                &mut notes,
                &mut |wanted, metadata| {
                    if metadata {
                        take(wanted, &mut metadata_left)
                    } else {
                        take(wanted, &mut heap_left)
                    }
                },
            );
        }
        None => notes.push(
            "a protobuf profile has no MemStats: free heap, idle heap, goroutine stacks and \
             runtime metadata are not split; fetch /debug/pprof/heap?debug=1 for the full split"
                .to_string(),
        ),
    }
    for row in &mut rows {
        row.resident = match row.key {
            "go.live_objects" => Some((GO_HEAP, go_heap)),
            "go.metadata" => Some((METADATA, go_metadata)),
            _ => None,
        };
    }
    rows.extend(not_go_rows(report));
    rows.push(AccountingRow {
        key: "go.beyond_figures",
        label: "Go: resident beyond the figures above",
        runtime_bytes: heap_left + metadata_left,
        resident: None,
        beyond_resident: 0,
    });
    let go_figures: u64 = rows
        .iter()
        .filter(|row| row.key.starts_with("go."))
        .map(|row| row.runtime_bytes)
        .sum();
    notes.push(format!(
        "the rows add up to RSS ({} MiB): {} MiB in Go's categories ({GO_HEAP}, {METADATA}), the \
         rest outside them",
        report.totals.rss / MIB,
        go_figures / MIB
    ));
    if !report.runtimes.iter().any(|runtime| runtime.id.key() == GO) {
        notes.push("smaps shows no Go runtime in this process".to_string());
    }
    if profile.format == HeapProfileFormat::Text {
        notes.push(
            "the text form's inuse_space is as sampled (not scaled up for sampling, as the \
             protobuf form's is); objects live as of the last garbage collection"
                .to_string(),
        );
    }
    Ok(Accounting {
        runtime: GO,
        source,
        rows: Ok(rows),
        notes,
        sites: profile.sites.clone(),
    })
}

/// The rows only MemStats gives. `take(bytes, is_metadata)` caps a figure to what is left
/// resident in Go's heap or metadata category.
fn memstats_rows(
    memstats: &GoMemStats,
    profile: &HeapProfile,
    rows: &mut Vec<AccountingRow>,
    notes: &mut Vec<String>,
    take: &mut dyn FnMut(u64, bool) -> u64,
) {
    let figures: [(&'static str, &'static str, u64, bool); 5] = [
        (
            "go.not_yet_collected",
            "Go: not yet collected or sampled (HeapAlloc-inuse)",
            memstats.heap_alloc.saturating_sub(profile.inuse_space),
            false,
        ),
        (
            "go.heap_free",
            "Go: heap held but free (HeapInuse-HeapAlloc)",
            memstats.heap_inuse.saturating_sub(memstats.heap_alloc),
            false,
        ),
        (
            "go.stacks",
            "Go: goroutine stacks (StackInuse)",
            memstats.stack_inuse,
            false,
        ),
        (
            "go.heap_idle",
            "Go: idle heap kept (HeapIdle-HeapReleased)",
            memstats.heap_idle.saturating_sub(memstats.heap_released),
            false,
        ),
        (
            "go.metadata",
            "Go: metadata (GCSys, MSpanSys, ..., OtherSys)",
            memstats.metadata(),
            true,
        ),
    ];
    let mut short = 0;
    for (key, label, wanted, is_metadata) in figures {
        let taken = take(wanted, is_metadata);
        short += wanted - taken;
        rows.push(AccountingRow {
            key,
            label,
            runtime_bytes: taken,
            resident: None,
            beyond_resident: wanted - taken,
        });
    }
    if short > 0 {
        notes.push(format!(
            "{} MiB of what Go counts is not resident in its categories (each row's \"not \
             resident\" part): mapped but not yet touched or given back, or (before Go 1.25, \
             whose runtime names its maps) metadata smaps cannot tell from the program's own \
             maps, counted with anonymous memory",
            short / MIB
        ));
    }
    notes.push(format!(
        "MemStats: Sys {} MiB, HeapSys {} MiB, HeapReleased {} MiB, StackSys {} MiB, metadata {} MiB \
         (mapped by Go; resident is at most this)",
        memstats.sys / MIB,
        memstats.heap_sys / MIB,
        memstats.heap_released / MIB,
        memstats.stack_sys / MIB,
        memstats.metadata() / MIB
    ));
}

/// Every part of the process that is not the Go runtime's, by section; the runtime section's
/// categories besides Go's own (the C heap, thread stacks) each on its own row.
fn not_go_rows(report: &Report) -> Vec<AccountingRow> {
    let rss_of = |key: &str| {
        report
            .category(key)
            .map_or(0, |category| category.amounts.rss)
    };
    let section_rss = |id: SectionId| report.section(id).map_or(0, |section| section.subtotal.rss);
    let runtime_rest =
        section_rss(SectionId::Runtime) - rss_of(GO_HEAP) - rss_of(METADATA) - rss_of(C_HEAP);
    let rows: [(&'static str, &'static str, u64, Option<&'static str>); 7] = [
        (
            "not_go.c_heap",
            "Not Go: C heap (cgo, C libraries)",
            rss_of(C_HEAP),
            None,
        ),
        (
            "not_go.runtime_other",
            "Not Go: thread stacks, other allocators",
            runtime_rest,
            None,
        ),
        (
            "not_go.named",
            "Not Go: regions the program named",
            section_rss(SectionId::Named),
            None,
        ),
        (
            "not_go.files",
            "Not Go: mapped files (executable, libraries)",
            section_rss(SectionId::FileBacked),
            None,
        ),
        (
            "not_go.shared",
            "Not Go: shared memory",
            section_rss(SectionId::SharedMemory),
            None,
        ),
        (
            "not_go.anonymous",
            "Not Go: unnamed anonymous (the program's mmaps)",
            section_rss(SectionId::Anonymous),
            None,
        ),
        (
            "not_go.other",
            "Not Go: kernel pages, devices, other",
            section_rss(SectionId::Other),
            None,
        ),
    ];
    rows.into_iter()
        .map(|(key, label, bytes, category)| AccountingRow {
            key,
            label,
            runtime_bytes: bytes,
            resident: category.map(|category| (category, bytes)),
            beyond_resident: 0,
        })
        .collect()
}
