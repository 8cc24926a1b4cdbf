//! Reconciliation: what the runtime's own accounting says beside what smaps shows, so that
//! "RSS is 7 GB, the heap says 2 GB — where is the rest?" gets rows instead of a guess. Each
//! runtime whose accounting memanalyzer can read without attaching has a file here: `jvm.rs`
//! reads the JVM's PerfData file (`hsperfdata.rs` parses it), as jstat does; `jemalloc.rs`
//! reads the statistics jemalloc prints (`-jemalloc-stats FILE`); `go.rs` reconciles a Go heap
//! profile (`-pprof`, `pprof.rs` parses it) with RSS.

mod go;
mod hsperfdata;
mod jemalloc;
mod jvm;
mod pprof;

pub use go::reconcile_go;
pub use hsperfdata::{parse_perfdata, PerfData, PerfDataError, PerfValue};
pub use jemalloc::{parse_jemalloc_stats, reconcile_jemalloc, JemallocStats, JemallocStatsError};
pub(crate) use jvm::reconcile_jvm;
pub use pprof::{
    parse_heap_profile, AllocationSite, GoMemStats, HeapProfile, HeapProfileFormat, PprofError,
    TOP_ALLOCATION_SITES,
};

/// One row: a figure of the runtime's own accounting, and, where one corresponds, the resident
/// memory of the category smaps puts that memory in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingRow {
    /// Stable key (`heap.used`, `heap.committed`, `metaspace.committed`, …).
    pub key: &'static str,
    /// What people read.
    pub label: &'static str,
    /// What the runtime says, in bytes.
    pub runtime_bytes: u64,
    /// The stable id of the category holding this memory, and its resident bytes, when the row
    /// has one.
    pub resident: Option<(&'static str, u64)>,
    /// What the runtime counts for this row beyond `runtime_bytes`: the part of its figure that
    /// is not resident where smaps puts that memory, left out of `runtime_bytes` so that rows
    /// meant to add up to RSS do (Go's MemStats figures, `-pprof`). 0 when the row is the
    /// runtime's whole figure.
    pub beyond_resident: u64,
}

/// What a runtime's own accounting says about the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounting {
    /// The runtime (`jvm`, `jemalloc`).
    pub runtime: &'static str,
    /// Where its figures came from (the PerfData or statistics file's path), raw bytes; empty when none was
    /// read.
    pub source: Vec<u8>,
    /// The rows, or why there are none.
    pub rows: Result<Vec<AccountingRow>, String>,
    /// What the rows mean together, one sentence each (e.g. committed heap that is not resident).
    pub notes: Vec<String>,
    /// The allocation sites holding the most live memory, largest first, at most
    /// [`TOP_ALLOCATION_SITES`] (a Go heap profile's `inuse_space`); empty for runtimes
    /// without them.
    pub sites: Vec<AllocationSite>,
}
