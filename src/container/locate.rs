//! Finds the directory of the target's memory cgroup. `/proc/<pid>/cgroup` names the cgroup; the
//! cgroup mounts in `mountinfo` say where its hierarchy is. In a sidecar that does not share the
//! target's mounts, the target's own view is reachable through `/proc/<pid>/root` with the same
//! permission as its smaps; a directory found that way is taken only if it lists the target.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use super::parse::{parse_flat_keyed, parse_membership, parse_mounts, CgroupMount};
use super::{CgroupFs, CgroupVersion, ContainerError};

/// The cgroup found, with its `memory.stat`.
pub(super) struct Located {
    pub version: CgroupVersion,
    pub path: Vec<u8>,
    pub directory: PathBuf,
    pub is_root: bool,
    pub stat: HashMap<String, u64>,
}

/// The file each version always has in a non-root memory cgroup.
fn usage_file(version: CgroupVersion) -> &'static str {
    match version {
        CgroupVersion::V2 => "memory.current",
        CgroupVersion::V1 => "memory.usage_in_bytes",
    }
}

pub(super) fn locate(pid: i32, fs: &CgroupFs) -> Result<Located, ContainerError> {
    let proc_dir = format!("/proc/{pid}");
    let membership_text =
        fs::read(fs.path(format!("{proc_dir}/cgroup").as_bytes())).map_err(|error| {
            ContainerError::Membership {
                pid,
                reason: describe(&error),
            }
        })?;
    let membership = parse_membership(&membership_text);
    let our_mounts = fs::read(fs.path(b"/proc/self/mountinfo"))
        .map(|text| parse_mounts(&text))
        .unwrap_or_default();

    // cgroup v2 when its hierarchy has the memory controller; else v1's memory hierarchy.
    let choices = [
        (CgroupVersion::V2, membership.unified.as_deref()),
        (CgroupVersion::V1, membership.v1_memory.as_deref()),
    ];
    for (version, path) in choices {
        let Some(path) = path else { continue };
        let Some(mount) = memory_mount(fs, &our_mounts, version) else {
            continue;
        };
        let is_root = path == b"/";
        // In this mount namespace.
        if let Some(directory) = directory_in(fs, &[], mount, path) {
            if is_root || directory.join(usage_file(version)).exists() {
                return finish(version, path, directory, is_root);
            }
        }
        // Through the target's own root: its mounts, or its own cgroup namespace's view.
        let target_root = format!("{proc_dir}/root");
        let target_mounts = fs::read(fs.path(format!("{proc_dir}/mountinfo").as_bytes()))
            .map(|text| parse_mounts(&text))
            .unwrap_or_default();
        for mount in target_mounts
            .iter()
            .filter(|mount| is_memory_mount(mount, version))
        {
            let candidates = [
                directory_in(fs, target_root.as_bytes(), mount, path),
                Some(fs.path(&[target_root.as_bytes(), &mount.mount_point].concat())),
            ];
            for directory in candidates.into_iter().flatten() {
                if directory.join(usage_file(version)).exists() && lists(&directory, pid) {
                    return finish(version, path, directory, false);
                }
            }
        }
        return Err(ContainerError::NotInThisNamespace {
            pid,
            path: path.to_vec(),
        });
    }
    Err(ContainerError::NoCgroupFs)
}

fn finish(
    version: CgroupVersion,
    path: &[u8],
    directory: PathBuf,
    is_root: bool,
) -> Result<Located, ContainerError> {
    let stat_file = directory.join("memory.stat");
    let stat = match fs::read_to_string(&stat_file) {
        Ok(text) => parse_flat_keyed(&text),
        // The v2 root cgroup has no memory.stat: the node's memory is its only limit.
        Err(error) if is_root && error.kind() == io::ErrorKind::NotFound => HashMap::new(),
        Err(error) => return Err(file_error(stat_file, &error)),
    };
    Ok(Located {
        version,
        path: path.to_vec(),
        directory,
        is_root,
        stat,
    })
}

/// A mount of `version`'s hierarchy with the memory controller in it.
fn memory_mount<'a>(
    fs: &CgroupFs,
    mounts: &'a [CgroupMount],
    version: CgroupVersion,
) -> Option<&'a CgroupMount> {
    mounts.iter().find(|mount| {
        is_memory_mount(mount, version)
            && (version == CgroupVersion::V1
                || fs::read_to_string(fs.path(&mount.mount_point).join("cgroup.controllers"))
                    .is_ok_and(|controllers| controllers.split_whitespace().any(|c| c == "memory")))
    })
}

fn is_memory_mount(mount: &CgroupMount, version: CgroupVersion) -> bool {
    match version {
        CgroupVersion::V2 => mount.unified,
        CgroupVersion::V1 => mount.memory,
    }
}

/// `prefix` + the mount point + the part of `path` below the mount's root, when `path` is in
/// the part of the hierarchy the mount shows.
fn directory_in(fs: &CgroupFs, prefix: &[u8], mount: &CgroupMount, path: &[u8]) -> Option<PathBuf> {
    let root = mount.root.strip_suffix(b"/").unwrap_or(&mount.root);
    let below = path.strip_prefix(root)?;
    if !below.is_empty() && !below.starts_with(b"/") {
        return None; // `/kubepods1` is not below `/kubepods`
    }
    Some(fs.path(&[prefix, &mount.mount_point, below].concat()))
}

/// Whether `pid` is in the cgroup at `directory` (PIDs in `cgroup.procs` are in our namespace).
fn lists(directory: &std::path::Path, pid: i32) -> bool {
    fs::read_to_string(directory.join("cgroup.procs")).is_ok_and(|procs| {
        procs
            .lines()
            .any(|line| line.trim().parse::<i32>() == Ok(pid))
    })
}

pub(super) fn describe(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such process or file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

pub(super) fn file_error(file: PathBuf, error: &io::Error) -> ContainerError {
    match error.kind() {
        io::ErrorKind::PermissionDenied => ContainerError::PermissionDenied { file },
        _ => ContainerError::Malformed {
            file,
            reason: describe(error),
        },
    }
}
