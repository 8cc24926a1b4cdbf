//! The finished analysis: owned numbers in bytes, ready for any renderer. Renderers only format it.

use std::rc::Rc;

use crate::parse::Perms;

/// Memory amounts in bytes, for one region, one category, one section or the whole process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amounts {
    /// Virtual size of the mappings.
    pub size: u64,
    /// Resident set: pages in RAM (excludes swap and hugetlb pages).
    pub rss: u64,
    /// Proportional set: resident pages, shared pages divided among their sharers.
    pub pss: u64,
    /// Resident pages only this process maps (Private_Clean + Private_Dirty): USS.
    pub private: u64,
    /// Resident pages other processes map too (Shared_Clean + Shared_Dirty).
    pub shared: u64,
    pub swap: u64,
    pub swap_pss: u64,
    /// hugetlbfs pages (Shared_Hugetlb + Private_Hugetlb), not part of RSS.
    pub hugetlb: u64,
}

/// Which runtime the process was found to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Go,
    Native,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Go => "go",
            Runtime::Native => "native",
        }
    }
}

/// Where the smaps text came from and what is known about the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    pub pid: Option<i32>,
    /// `/proc/<pid>/smaps`, the file's path, or `-` for standard input.
    pub path: String,
    /// The executable's path (from `/proc/<pid>/exe`, or guessed from the regions of a file).
    pub exe: Option<String>,
    /// The process's name from `/proc/<pid>/comm`.
    pub comm: Option<String>,
    pub runtime: Runtime,
    /// e.g. `go1.22.3`, from the binary's build information.
    pub go_version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryReport {
    /// The name shown to people; for a named group it includes the region count.
    pub name: String,
    /// A stable name, unique within the section: `name` without a named group's region count.
    /// Used where a changing name would start a new series (Prometheus labels).
    pub label: String,
    pub regions: u64,
    pub amounts: Amounts,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionReport {
    pub name: String,
    pub subtotal: Amounts,
    pub categories: Vec<CategoryReport>,
}

/// One region of the listing of the largest (or all) regions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionRow {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    /// The name as the kernel printed it: raw bytes, to be escaped by each renderer.
    pub name: Vec<u8>,
    pub section: &'static str,
    /// Shared between the rows of one category, so that `-all` does not copy it per region.
    pub category: Rc<str>,
    pub amounts: Amounts,
}

/// Which regions the listing holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// The N largest by RSS.
    Top(usize),
    /// Every region, largest first.
    All,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub source: SourceInfo,
    pub totals: Amounts,
    pub region_count: u64,
    pub sections: Vec<SectionReport>,
    pub listing: Listing,
    /// Largest RSS first (then largest size, then lowest address).
    pub regions: Vec<RegionRow>,
    /// Things tolerated in the input that the user should know about.
    pub warnings: Vec<String>,
    /// Time taken to read and analyze.
    pub duration: std::time::Duration,
}
