//! memanalyzer explains where a Linux process's memory really goes: it reads
//! `/proc/<pid>/smaps` (or a saved copy), puts every region into exactly one category — the
//! runtime's heap, stacks, metadata, named regions, files, shared memory, anonymous memory — and
//! reports the categories, the totals and the largest regions, exactly and read-only.
//!
//! A service can print its own breakdown, as the original Go package's
//! `GetCompleteMemoryProfile()` and `FormatBreakdown()` did:
//!
//! ```
//! # #[cfg(target_os = "linux")] {
//! let report = memanalyzer::analyze_self(&memanalyzer::Options::default())?;
//! print!("{}", report.breakdown_text());
//! print!("{}", report.top_regions_text(5));
//! if let Some(cache) = report.named_group("TXMetaCache") {
//!     println!("cache: {} bytes resident", cache.amounts.rss);
//! }
//! assert_eq!(report.totals.rss, report.sections.iter().map(|s| s.subtotal.rss).sum::<u64>());
//! # }
//! # Ok::<(), memanalyzer::Error>(())
//! ```
//!
//! The data flows through one module per stage: input (live PID, file, reader) → [`smaps`]
//! (zero-copy parser) → classification (one rule table; runtimes bring their rules) →
//! aggregation → [`Report`] → [`render`] (text, JSON, Prometheus) → [`serve`] (the HTTP
//! endpoints, for any server). [`timeline`] compares reports over time: diffs, watches,
//! recordings and the growth verdict.
#![deny(missing_docs)]

mod aggregate;
mod classify;
mod container;
mod error;
mod input;
mod profile_proto;
mod reconcile;
pub mod render;
mod report;
mod runtime;
pub mod serve;
pub mod smaps;
pub mod timeline;

pub use container::{
    group_by_cgroup, read_container, CgroupFigures, CgroupFs, CgroupGroup, CgroupVersion,
    Container, ContainerError, Member, MemberMemory, MemoryEvents, OomVerdict, Pressure, Stall,
    SwapUsage, UsageRow,
};
pub use error::{Error, NoMemoryReason};
pub use input::{analyze, analyze_pid, analyze_reader, analyze_self, Input, Options};
pub use reconcile::{
    parse_heap_profile, parse_jemalloc_stats, parse_perfdata, reconcile_go, reconcile_jemalloc,
    Accounting, AccountingRow, AllocationSite, GoMemStats, HeapProfile, HeapProfileFormat,
    JemallocStats, JemallocStatsError, PerfData, PerfDataError, PerfValue, PprofError,
    TOP_ALLOCATION_SITES,
};
pub use report::{
    Amounts, CategoryId, CategoryReport, DetectedRuntime, Evidence, Listing, RegionGroup,
    RegionList, RegionRow, Report, RuntimeId, SectionId, SectionReport, Source, Unexplained,
    Warning,
};

/// `-ps`: the memory of every process this user can see, from `smaps_rollup`.
pub mod ps {
    pub use crate::input::ps::{
        list_processes, ProcessList, ProcessMemory, ProcessRow, Unreadable,
    };
}

/// A live process to analyze again and again: by PID, or by name across restarts (`-name`).
pub mod target {
    pub use crate::input::target::{processes_named, FollowedTarget, Target};
}
