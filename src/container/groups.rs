//! `-ps -cgroup`: the process list grouped by cgroup, each group with its cgroup's limit, usage
//! and working set, so that in a pod (or on a node) the containers and their processes show side
//! by side.

use std::collections::BTreeMap;

use super::locate::locate;
use super::read::read;
use super::{CgroupFs, ContainerError};
use crate::input::ps::ProcessList;

/// One cgroup of the process list, with its figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupGroup {
    /// The cgroup's path (raw bytes); empty when the processes' cgroup could not be read.
    pub path: Vec<u8>,
    /// The PIDs of the listed processes in it, in the list's order.
    pub pids: Vec<i32>,
    /// Its figures, or why they could not be read.
    pub figures: Result<CgroupFigures, String>,
}

/// A cgroup's memory at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupFigures {
    /// `memory.max`; `None` when unlimited.
    pub limit: Option<u64>,
    /// `memory.current`.
    pub usage: u64,
    /// Usage minus inactive page cache, as `kubectl top` shows it.
    pub working_set: u64,
}

/// Groups the readable and unreadable processes of `list` by their memory cgroup, largest usage
/// first; fills `list.cgroups`.
pub fn group_by_cgroup(list: &mut ProcessList, fs: &CgroupFs) {
    let mut groups: BTreeMap<Vec<u8>, CgroupGroup> = BTreeMap::new();
    for row in &list.processes {
        let (path, figures) = match locate(row.pid, fs) {
            Ok(located) => {
                let figures = read(&located)
                    .map(|container| CgroupFigures {
                        limit: container.limit,
                        usage: container.usage,
                        working_set: container.working_set,
                    })
                    .map_err(|error| error.to_string());
                (located.path, figures)
            }
            Err(ContainerError::NotInThisNamespace { path, .. }) => (
                path,
                Err("not reachable from this mount namespace".to_string()),
            ),
            Err(error) => (Vec::new(), Err(error.to_string())),
        };
        groups
            .entry(path.clone())
            .or_insert_with(|| CgroupGroup {
                path,
                pids: Vec::new(),
                figures,
            })
            .pids
            .push(row.pid);
    }
    let mut groups: Vec<CgroupGroup> = groups.into_values().collect();
    groups.sort_by_key(|group| {
        std::cmp::Reverse(group.figures.as_ref().map_or(0, |figures| figures.usage))
    });
    list.cgroups = groups;
}
