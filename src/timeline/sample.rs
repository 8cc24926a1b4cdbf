//! What is compared over time: a [`Snapshot`] holds the totals, the categories by their stable
//! keys and the region groups by their identity — made from a [`Report`], or read back from a
//! JSON report memanalyzer wrote (`-format json`, or a line of a `-record` file), tolerating the
//! fields it does not know. A [`Sample`] is a snapshot or just the totals, at a time.

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::render::escape::for_json;
use crate::render::json::AMOUNT_KEYS;
use crate::report::{Amounts, Report};

/// A process's memory at one moment, in a form two moments can be compared in. Names and
/// labels are the text JSON carries (valid UTF-8 kept, other bytes as `\xNN`), so a report
/// made now and one read back from JSON compare equal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The process, if it was a live one.
    pub pid: Option<i32>,
    /// Where the smaps text came from (`/proc/1234/smaps`, a file, or a JSON report's path).
    pub path: String,
    /// Sums over every region.
    pub totals: Amounts,
    /// Number of regions.
    pub region_count: u64,
    /// Every category, in the report's order.
    pub categories: Vec<CategoryAmounts>,
    /// Every region group; empty when the report carried none (an older memanalyzer's JSON).
    pub groups: Vec<GroupAmounts>,
    /// Whether region groups were available.
    pub has_groups: bool,
}

/// One category's amounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryAmounts {
    /// The stable key (`go.heap`, `named:TNC-*`).
    pub key: String,
    /// What people read (`Heap`, `TNC-*`).
    pub label: String,
    /// The section's stable key (`runtime`, `file`, …).
    pub section: String,
    /// Number of regions.
    pub regions: u64,
    /// Their amounts. From JSON written before categories carried `swap_pss_bytes` and
    /// `hugetlb_bytes`, those two are 0.
    pub amounts: Amounts,
}

/// What a group of regions is: its category, permissions, file offset, inode and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    /// The category's stable key.
    pub category: String,
    /// `rw-p`, …; empty for a `rest` group.
    pub perms: String,
    /// Offset into the file (0 without a file).
    pub offset: u64,
    /// The file's inode (0 without a file).
    pub inode: u64,
    /// The name as JSON carries it; digits folded in bracketed names.
    pub name: String,
    /// The category's regions beyond the groups kept.
    pub rest: bool,
}

/// One group's count and amounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupAmounts {
    /// What the regions are.
    pub key: GroupKey,
    /// How many.
    pub regions: u64,
    /// Their amounts.
    pub amounts: Amounts,
}

/// One moment of a watch or a recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub time_unix_ms: u64,
    /// The totals (from `smaps_rollup` when `snapshot` is `None`).
    pub totals: Amounts,
    /// The whole breakdown, on the samples that read the full smaps.
    pub snapshot: Option<Snapshot>,
}

/// Text that is not a memanalyzer JSON report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAReport {
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for NotAReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a memanalyzer JSON report: {}", self.reason)
    }
}

impl std::error::Error for NotAReport {}

impl Snapshot {
    /// The snapshot of a report.
    pub fn of_report(report: &Report) -> Snapshot {
        let categories = report
            .sections
            .iter()
            .flat_map(|section| {
                section
                    .categories
                    .iter()
                    .map(move |category| CategoryAmounts {
                        key: category.id.key().into_owned(),
                        label: for_json(&category.label),
                        section: section.id.key().to_string(),
                        regions: category.regions,
                        amounts: category.amounts,
                    })
            })
            .collect();
        let groups = report
            .groups
            .iter()
            .flatten()
            .map(|group| GroupAmounts {
                key: GroupKey {
                    category: group.category.key().into_owned(),
                    perms: if group.rest {
                        String::new()
                    } else {
                        group.perms.as_str().to_string()
                    },
                    offset: group.offset,
                    inode: group.inode,
                    name: for_json(&group.name),
                    rest: group.rest,
                },
                regions: group.regions,
                amounts: group.amounts,
            })
            .collect();
        Snapshot {
            pid: report.source.pid,
            path: for_json(report.source.path.as_os_str().as_encoded_bytes()),
            totals: report.totals,
            region_count: report.region_count,
            categories,
            groups,
            has_groups: report.groups.is_some(),
        }
    }

    /// Reads back a JSON report memanalyzer wrote; fields it does not know are ignored.
    pub fn from_json(text: &str) -> Result<Snapshot, NotAReport> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|error| NotAReport {
            reason: error.to_string(),
        })?;
        Snapshot::from_json_value(value)
    }

    /// [`Snapshot::from_json`] on parsed JSON.
    pub fn from_json_value(value: serde_json::Value) -> Result<Snapshot, NotAReport> {
        let missing = |what: &str| NotAReport {
            reason: format!("it has no {what}"),
        };
        let object = value
            .as_object()
            .ok_or_else(|| missing("JSON object at the top"))?;
        if !object.contains_key("schema_version") {
            return Err(missing("\"schema_version\""));
        }
        if !object.contains_key("sections") {
            return Err(missing("\"sections\" (is it a -ps list or a recording?)"));
        }
        let document: ReportDoc = serde_json::from_value(value).map_err(|error| NotAReport {
            reason: error.to_string(),
        })?;
        Ok(document.into_snapshot())
    }
}

/// The parts of the JSON report a snapshot needs. serde ignores the fields not named here, so
/// reports from later versions (which only add fields) read back.
#[derive(Deserialize)]
struct ReportDoc {
    #[serde(default)]
    source: SourceDoc,
    totals: TotalsDoc,
    sections: Vec<SectionDoc>,
    region_groups: Option<Vec<GroupDoc>>,
}

#[derive(Deserialize)]
struct TotalsDoc {
    #[serde(flatten)]
    amounts: AmountsDoc,
    #[serde(default)]
    regions: u64,
}

#[derive(Deserialize, Default)]
struct SourceDoc {
    pid: Option<i32>,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct SectionDoc {
    id: String,
    categories: Vec<CategoryDoc>,
}

#[derive(Deserialize)]
struct CategoryDoc {
    id: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    regions: u64,
    #[serde(flatten)]
    amounts: AmountsDoc,
}

#[derive(Deserialize)]
struct GroupDoc {
    category_id: String,
    #[serde(default)]
    perms: String,
    #[serde(default)]
    offset: u64,
    #[serde(default)]
    inode: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    rest: bool,
    #[serde(default)]
    regions: u64,
    #[serde(flatten)]
    amounts: AmountsDoc,
}

/// Amounts as JSON writes them (`rss_bytes`, …, the names of [`AMOUNT_KEYS`]): `rss_bytes` is
/// required, the others are 0 when absent (reports of older versions lack some), and other
/// fields beside them are skipped.
#[derive(Default, Clone, Copy)]
pub(crate) struct AmountsDoc(Amounts);

/// The one field every amounts object has had since the first version.
const REQUIRED_AMOUNT: &str = "rss_bytes";

impl<'de> Deserialize<'de> for AmountsDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AmountsDoc, D::Error> {
        deserializer.deserialize_map(AmountsVisitor)
    }
}

struct AmountsVisitor;

impl<'de> Visitor<'de> for AmountsVisitor {
    type Value = AmountsDoc;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an object with byte counts (rss_bytes, …)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AmountsDoc, A::Error> {
        let mut values = [0; AMOUNT_KEYS.len()];
        let mut has_required = false;
        while let Some(key) = map.next_key::<String>()? {
            match AMOUNT_KEYS.iter().position(|known| *known == key) {
                Some(index) => {
                    values[index] = map.next_value()?;
                    has_required |= key == REQUIRED_AMOUNT;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !has_required {
            return Err(de::Error::missing_field(REQUIRED_AMOUNT));
        }
        Ok(AmountsDoc(Amounts::from_array(values)))
    }
}

impl AmountsDoc {
    pub(crate) fn amounts(&self) -> Amounts {
        self.0
    }
}

impl ReportDoc {
    fn into_snapshot(self) -> Snapshot {
        let categories = self
            .sections
            .into_iter()
            .flat_map(|section| {
                let section_key = section.id;
                section
                    .categories
                    .into_iter()
                    .map(move |category| CategoryAmounts {
                        label: if category.label.is_empty() {
                            category.id.clone()
                        } else {
                            category.label
                        },
                        key: category.id,
                        section: section_key.clone(),
                        regions: category.regions,
                        amounts: category.amounts.amounts(),
                    })
            })
            .collect();
        let has_groups = self.region_groups.is_some();
        let groups = self
            .region_groups
            .unwrap_or_default()
            .into_iter()
            .map(|group| GroupAmounts {
                key: GroupKey {
                    category: group.category_id,
                    perms: group.perms,
                    offset: group.offset,
                    inode: group.inode,
                    name: group.name,
                    rest: group.rest,
                },
                regions: group.regions,
                amounts: group.amounts.amounts(),
            })
            .collect();
        Snapshot {
            pid: self.source.pid,
            path: self.source.path,
            totals: self.totals.amounts.amounts(),
            region_count: self.totals.regions,
            categories,
            groups,
            has_groups,
        }
    }
}

/// A live process followed by a watch, through one PID-reuse-safe handle on `/proc/<pid>`: its
/// totals from the cheap `smaps_rollup` (one page-table walk, no per-region text), and whether
/// it is still there.
#[cfg(target_os = "linux")]
pub struct LiveTarget {
    pid: i32,
    process: crate::input::process::ProcessDir,
}

#[cfg(target_os = "linux")]
impl LiveTarget {
    /// Opens `/proc/<pid>`.
    pub fn open(pid: i32) -> Result<LiveTarget, crate::Error> {
        use nix::errno::Errno;
        let process =
            crate::input::process::ProcessDir::open(pid).map_err(|errno| match errno {
                Errno::EACCES | Errno::EPERM => crate::Error::PermissionDenied { pid },
                _ => crate::Error::NoSuchProcess { pid },
            })?;
        Ok(LiveTarget { pid, process })
    }

    /// The process's totals from `smaps_rollup` (no `size`: the rollup has no Size line).
    /// [`crate::Error::Open`] when the kernel has no `smaps_rollup` (before 4.14).
    pub fn rollup(&self) -> Result<Amounts, crate::Error> {
        use nix::errno::Errno;
        let pid = self.pid;
        let path = || std::path::PathBuf::from(format!("/proc/{pid}/smaps_rollup"));
        let text = self.process.read("smaps_rollup").map_err(|source| {
            match crate::input::process::errno_of(source) {
                Errno::EACCES | Errno::EPERM => crate::Error::PermissionDenied { pid },
                // Before Linux 4.14 there is no smaps_rollup: the process is still there.
                Errno::ENOENT if !self.has_exited() => crate::Error::Open {
                    path: path(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                },
                _ => crate::Error::NoSuchProcess { pid },
            }
        })?;
        if text.is_empty() || self.has_exited() {
            return Err(crate::Error::NoSuchProcess { pid });
        }
        let fields = crate::smaps::parse_rollup(&text).map_err(|source| crate::Error::Parse {
            path: path(),
            source,
        })?;
        Ok(Amounts::of_fields(&fields))
    }

    /// Whether the process has exited (or is exiting, or is a zombie).
    pub fn has_exited(&self) -> bool {
        self.process
            .status()
            .map_or(true, |status| status.has_exited())
    }

    /// The memory limit of the process's cgroup, if it has one and it can be read: `memory.max`
    /// (cgroup v2), or `memory.limit_in_bytes` of the memory controller (v1). The limit is the
    /// whole cgroup's, not this process's alone.
    pub fn cgroup_memory_max(&self) -> Option<u64> {
        let text = String::from_utf8(self.process.read("cgroup").ok()?).ok()?;
        let read = |path: String| std::fs::read_to_string(path).ok();
        let limit = cgroup_limit(&text, read)?;
        // v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages, rounded).
        (limit < 1 << 62).then_some(limit)
    }
}

/// The memory limit named by `/proc/<pid>/cgroup` text, read through `read` (a path → its text).
#[cfg(target_os = "linux")]
fn cgroup_limit(cgroup: &str, read: impl Fn(String) -> Option<String>) -> Option<u64> {
    let v1 = cgroup.lines().find_map(|line| {
        let (_, rest) = line.split_once(':')?;
        let (controllers, path) = rest.split_once(':')?;
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    });
    let text = match v1 {
        Some(path) => read(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"))?,
        None => {
            let path = cgroup.lines().find_map(|line| line.strip_prefix("0::"))?;
            read(format!("/sys/fs/cgroup{path}/memory.max"))?
        }
    };
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURE: &str = "\
55a000000000-55a000100000 rw-p 00000000 00:00 0 [heap]
Size: 1024 kB
Rss: 400 kB
Pss: 400 kB
Private_Dirty: 400 kB
Swap: 8 kB
SwapPss: 8 kB
7f0000200000-7f0000400000 rw-s 00000000 00:10 5 /dev/hugepages/buffer
Size: 2048 kB
Private_Hugetlb: 2048 kB
7f0000b00000-7f0000c00000 r-xp 00000000 08:01 9 /lib/libc.so.6
Size: 1024 kB
Rss: 200 kB
Pss: 100 kB
Shared_Clean: 200 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
Size: 132 kB
Rss: 12 kB
Pss: 12 kB
Private_Dirty: 12 kB
";

    fn report() -> Report {
        crate::analyze_reader(
            CAPTURE.as_bytes(),
            &crate::Options::default().region_groups(),
        )
        .unwrap()
    }

    #[test]
    fn a_json_report_reads_back_to_the_same_snapshot() {
        let report = report();
        let mut json = Vec::new();
        crate::render::Renderer::new(crate::render::Format::Json, Default::default())
            .report(&report, &mut json)
            .unwrap();
        let text = String::from_utf8(json).unwrap();
        let back = Snapshot::from_json(&text).unwrap();
        let made = Snapshot::of_report(&report);
        assert_eq!(back.totals, made.totals);
        assert_eq!(back.groups, made.groups);
        assert_eq!(back.region_count, 4);
        assert!(back.has_groups);
        // Every amount of every category, swap_pss and hugetlb too.
        assert_eq!(back.categories, made.categories);
        let amounts = |key: &str| {
            back.categories
                .iter()
                .find(|category| category.key == key)
                .map(|category| category.amounts)
        };
        assert_eq!(amounts("c.heap").map(|a| a.swap_pss), Some(8 * 1024));
        let hugetlb: u64 = back.categories.iter().map(|c| c.amounts.hugetlb).sum();
        assert_eq!(hugetlb, 2048 * 1024);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_cgroup_limit_from_v1_and_v2() {
        let files = |path: String| match path.as_str() {
            "/sys/fs/cgroup/memory/app/memory.limit_in_bytes" => Some("536870912\n".to_string()),
            "/sys/fs/cgroup/app.slice/memory.max" => Some("max\n".to_string()),
            "/sys/fs/cgroup/web.slice/memory.max" => Some("1073741824\n".to_string()),
            _ => None,
        };
        let v1 = "5:cpu,cpuacct:/\n4:memory:/app\n0::/\n";
        assert_eq!(super::cgroup_limit(v1, files), Some(512 << 20));
        assert_eq!(
            super::cgroup_limit("0::/app.slice\n", files),
            None,
            "max: no limit"
        );
        assert_eq!(super::cgroup_limit("0::/web.slice\n", files), Some(1 << 30));
        assert_eq!(super::cgroup_limit("0::/gone\n", files), None);
    }

    #[test]
    fn unknown_fields_are_ignored_and_other_json_is_refused() {
        let mut value: serde_json::Value = serde_json::json!({
            "schema_version": 1,
            "source": {"pid": 7, "path": "/proc/7/smaps", "new_field": [1, 2]},
            "totals": {"rss_bytes": 100, "pss_bytes": 90, "regions": 2, "unexplained_share": 0.5},
            "sections": [{"id": "runtime", "evidence": {"name": 3}, "categories": [
                {"id": "c.heap", "label": "Heap", "regions": 2, "rss_bytes": 100,
                 "evidence_per_category": "x"}]}],
            "a_field_from_the_future": {"nested": true}
        });
        let snapshot = Snapshot::from_json_value(value.clone()).unwrap();
        assert_eq!(snapshot.pid, Some(7));
        assert_eq!(snapshot.categories[0].amounts.rss, 100);
        assert!(!snapshot.has_groups);
        value.as_object_mut().unwrap().remove("sections");
        assert!(Snapshot::from_json_value(value)
            .unwrap_err()
            .reason
            .contains("sections"));
        assert!(Snapshot::from_json("{\"processes\": []}").is_err());
        assert!(Snapshot::from_json("not json").is_err());
    }
}
