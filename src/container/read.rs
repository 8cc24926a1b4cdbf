//! Reads a located cgroup's memory files into the [`Container`] model: cgroup v2
//! (`memory.current`, `memory.max`, `memory.stat`, …) or v1 (`memory.usage_in_bytes`,
//! `memory.limit_in_bytes`, `total_*` in `memory.stat`, `memory.kmem.*`), and decomposes the
//! usage into rows that add up to it exactly.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use super::locate::{file_error, Located};
use super::parse::{parse_flat_keyed, parse_limit, parse_number, parse_pressure};
use super::{CgroupVersion, Container, ContainerError, MemoryEvents, SwapUsage, UsageRow};

/// The rows `memory.stat` itemizes, in the order shown: (key, label, v2 stat keys, v1 stat keys).
/// v1 has no kernel-memory breakdown in `memory.stat`; its kernel memory is one row from
/// `memory.kmem.usage_in_bytes`.
const ROWS: [(&str, &str, &[&str], &[&str]); 12] = [
    ("anon", "Anonymous memory", &["anon"], &["total_rss"]),
    (
        "file.active",
        "Page cache, active",
        &["active_file"],
        &["total_active_file"],
    ),
    (
        "file.inactive",
        "Page cache, inactive",
        &["inactive_file"],
        &["total_inactive_file"],
    ),
    (
        "shmem",
        "Shared memory, tmpfs",
        &["shmem"],
        &["total_shmem"],
    ),
    ("kernel.stack", "Kernel stacks", &["kernel_stack"], &[]),
    (
        "kernel.pagetables",
        "Page tables",
        &["pagetables", "sec_pagetables"],
        &[],
    ),
    (
        "kernel.slab_reclaimable",
        "Slab, reclaimable",
        &["slab_reclaimable"],
        &[],
    ),
    (
        "kernel.slab_unreclaimable",
        "Slab, unreclaimable",
        &["slab_unreclaimable"],
        &[],
    ),
    ("kernel.percpu", "Per-CPU", &["percpu"], &[]),
    ("kernel.vmalloc", "vmalloc", &["vmalloc"], &[]),
    ("sock", "Socket buffers", &["sock"], &[]),
    ("zswap", "zswap", &["zswap"], &[]),
];

/// The row that makes the decomposition add up: what `memory.stat` does not itemize.
const OTHER: (&str, &str) = ("other", "Other (not itemized)");

pub(super) fn read(located: &Located) -> Result<Container, ContainerError> {
    let directory = &located.directory;
    let stat = &located.stat;
    let (usage, limit, high, peak, swap, events, pressure, oom_group, kernel_v1, sockets_v1) =
        match located.version {
            CgroupVersion::V2 => {
                let usage = if located.is_root {
                    None
                } else {
                    Some(number(directory, "memory.current")?)
                };
                let swap = optional(directory, "memory.swap.current", parse_number)?.map(
                    |current| -> Result<SwapUsage, ContainerError> {
                        Ok(SwapUsage {
                            current,
                            max: optional(directory, "memory.swap.max", parse_limit)?.flatten(),
                        })
                    },
                );
                let events = read_keyed(directory, "memory.events")?.map_or_else(
                    MemoryEvents::default,
                    |events| MemoryEvents {
                        high: events.get("high").copied(),
                        max: events.get("max").copied(),
                        oom: events.get("oom").copied(),
                        oom_kill: events.get("oom_kill").copied(),
                    },
                );
                (
                    usage,
                    optional(directory, "memory.max", parse_limit)?.flatten(),
                    optional(directory, "memory.high", parse_limit)?.flatten(),
                    optional(directory, "memory.peak", parse_number)?,
                    swap.transpose()?,
                    events,
                    read_text(directory, "memory.pressure")?
                        .as_deref()
                        .and_then(parse_pressure),
                    optional(directory, "memory.oom.group", parse_number)? == Some(1),
                    None,
                    None,
                )
            }
            CgroupVersion::V1 => {
                let usage = number(directory, "memory.usage_in_bytes")?;
                let memsw = optional(directory, "memory.memsw.usage_in_bytes", parse_number)?;
                let swap_limit = optional(directory, "memory.memsw.limit_in_bytes", parse_limit)?;
                let oom_control = read_keyed(directory, "memory.oom_control")?;
                (
                    Some(usage),
                    optional(directory, "memory.limit_in_bytes", parse_limit)?.flatten(),
                    None,
                    optional(directory, "memory.max_usage_in_bytes", parse_number)?,
                    memsw.map(|memsw| SwapUsage {
                        current: memsw.saturating_sub(usage),
                        max: swap_limit.flatten(),
                    }),
                    MemoryEvents {
                        oom_kill: oom_control.and_then(|control| control.get("oom_kill").copied()),
                        ..MemoryEvents::default()
                    },
                    None,
                    false,
                    optional(directory, "memory.kmem.usage_in_bytes", parse_number)?,
                    optional(directory, "memory.kmem.tcp.usage_in_bytes", parse_number)?,
                )
            }
        };
    let Some(usage) = usage else {
        return Err(ContainerError::Malformed {
            file: directory.join("memory.current"),
            reason: "the process is in the root cgroup, which has no memory.current: \
                     no container limit applies, only the node's memory"
                .to_string(),
        });
    };
    let rows = decompose(located.version, stat, usage, kernel_v1);
    let inactive_file = row(&rows, "file.inactive");
    let reclaimable =
        row(&rows, "file.active") + inactive_file + row(&rows, "kernel.slab_reclaimable");
    Ok(Container {
        version: located.version,
        path: located.path.clone(),
        directory: directory.clone(),
        is_root: located.is_root,
        limit,
        high,
        usage,
        peak,
        swap,
        events,
        pressure,
        working_set: usage.saturating_sub(inactive_file),
        reclaimable: reclaimable.min(usage),
        rows,
        sockets_outside_usage: sockets_v1,
        members: Vec::new(),
        outside_processes: Vec::new(),
        oom_group,
    })
}

/// The usage as rows from `memory.stat` (and v1's kernel memory), with `other` making them add
/// up to `usage` exactly. The counters are per-CPU batched, so their sum may run a little ahead of
/// `usage`: then the largest rows are trimmed by the excess, never shown larger than the usage.
fn decompose(
    version: CgroupVersion,
    stat: &HashMap<String, u64>,
    usage: u64,
    kernel_v1: Option<u64>,
) -> Vec<UsageRow> {
    let mut rows: Vec<UsageRow> = ROWS
        .iter()
        .filter_map(|&(key, label, v2_keys, v1_keys)| {
            let keys = match version {
                CgroupVersion::V2 => v2_keys,
                CgroupVersion::V1 => v1_keys,
            };
            let values: Vec<u64> = keys.iter().filter_map(|k| stat.get(*k).copied()).collect();
            (!values.is_empty()).then(|| UsageRow {
                key,
                label,
                bytes: values.iter().sum(),
            })
        })
        .collect();
    if let Some(kernel) = kernel_v1 {
        rows.push(UsageRow {
            key: "kernel",
            label: "Kernel memory",
            bytes: kernel,
        });
    }
    let mut excess = rows
        .iter()
        .map(|row| row.bytes)
        .sum::<u64>()
        .saturating_sub(usage);
    while excess > 0 {
        let largest = rows
            .iter_mut()
            .max_by_key(|row| row.bytes)
            .expect("rows sum to more than zero");
        let trim = excess.min(largest.bytes);
        largest.bytes -= trim;
        excess -= trim;
    }
    let itemized: u64 = rows.iter().map(|row| row.bytes).sum();
    rows.push(UsageRow {
        key: OTHER.0,
        label: OTHER.1,
        bytes: usage - itemized,
    });
    rows
}

fn row(rows: &[UsageRow], key: &str) -> u64 {
    rows.iter()
        .find(|row| row.key == key)
        .map_or(0, |row| row.bytes)
}

/// What no process's PSS accounts for: the gap between usage and the processes' PSS, decomposed
/// into page cache and tmpfs no process maps, kernel memory, socket buffers, and the rest
/// (charges left by exited processes, pages shared with processes elsewhere). The rows add up to
/// the gap.
pub(super) fn outside_processes(
    container: &Container,
    stat: &HashMap<String, u64>,
) -> Vec<UsageRow> {
    let mut gap = container.usage.saturating_sub(container.members_pss());
    let mapped = stat
        .get("file_mapped")
        .or_else(|| stat.get("total_mapped_file"))
        .copied()
        .unwrap_or(0);
    let file = row(&container.rows, "file.active")
        + row(&container.rows, "file.inactive")
        + row(&container.rows, "shmem");
    let unmapped = file.saturating_sub(mapped);
    let shmem = row(&container.rows, "shmem").min(unmapped);
    let kernel: u64 = container
        .rows
        .iter()
        .filter(|row| row.key.starts_with("kernel") || row.key == "zswap")
        .map(|row| row.bytes)
        .sum();
    let parts = [
        (
            "file.unmapped",
            "Page cache no process maps",
            unmapped - shmem,
        ),
        (
            "shmem.unmapped",
            "tmpfs and shared memory no process maps",
            shmem,
        ),
        ("kernel", "Kernel memory", kernel),
        ("sock", "Socket buffers", row(&container.rows, "sock")),
    ];
    let mut rows = Vec::new();
    for (key, label, bytes) in parts {
        let bytes = bytes.min(gap);
        gap -= bytes;
        rows.push(UsageRow { key, label, bytes });
    }
    rows.push(UsageRow {
        key: "other",
        label: "Other (exited processes, shared pages)",
        bytes: gap,
    });
    rows
}

fn read_text(directory: &Path, name: &str) -> Result<Option<String>, ContainerError> {
    let file = directory.join(name);
    match fs::read_to_string(&file) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(file_error(file, &error)),
    }
}

fn read_keyed(
    directory: &Path,
    name: &str,
) -> Result<Option<HashMap<String, u64>>, ContainerError> {
    Ok(read_text(directory, name)?.map(|text| parse_flat_keyed(&text)))
}

/// A file that may be missing (older kernels, disabled features), parsed.
fn optional<T>(
    directory: &Path,
    name: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ContainerError> {
    read_text(directory, name)?
        .map(|text| {
            parse(&text).map_err(|reason| ContainerError::Malformed {
                file: directory.join(name),
                reason,
            })
        })
        .transpose()
}

/// A file that must be there.
fn number(directory: &Path, name: &str) -> Result<u64, ContainerError> {
    optional(directory, name, parse_number)?.ok_or_else(|| ContainerError::Malformed {
        file: directory.join(name),
        reason: "the file is missing".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn rows_add_up_to_the_usage() {
        let stat = stat(&[
            ("anon", 100),
            ("active_file", 50),
            ("inactive_file", 30),
            ("shmem", 10),
            ("kernel_stack", 4),
            ("pagetables", 3),
            ("sec_pagetables", 1),
            ("sock", 2),
        ]);
        let rows = decompose(CgroupVersion::V2, &stat, 210, None);
        assert_eq!(rows.iter().map(|r| r.bytes).sum::<u64>(), 210);
        assert_eq!(row(&rows, "kernel.pagetables"), 4);
        assert_eq!(row(&rows, "other"), 10);
        // Counters running ahead of the usage: trimmed, still adding up, nothing negative.
        let rows = decompose(CgroupVersion::V2, &stat, 195, None);
        assert_eq!(rows.iter().map(|r| r.bytes).sum::<u64>(), 195);
        assert_eq!(row(&rows, "other"), 0);
        assert_eq!(row(&rows, "anon"), 95);
    }

    #[test]
    fn v1_rows_take_totals_and_kernel_memory() {
        let stat = stat(&[
            ("rss", 1),
            ("total_rss", 433520640),
            ("total_active_file", 700997632),
            ("total_inactive_file", 928653312),
            ("total_shmem", 0),
        ]);
        let rows = decompose(CgroupVersion::V1, &stat, 2174640128, Some(111181824));
        assert_eq!(row(&rows, "anon"), 433520640);
        assert_eq!(row(&rows, "kernel"), 111181824);
        assert_eq!(row(&rows, "other"), 286720);
        assert_eq!(rows.iter().map(|r| r.bytes).sum::<u64>(), 2174640128);
    }
}
