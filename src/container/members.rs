//! The processes in a cgroup and its children (`cgroup.procs`, in this PID namespace), each with
//! its memory from `smaps_rollup` and what the OOM killer goes by (`oom_score`, `oom_score_adj`).

use std::fs;
use std::path::Path;

use super::locate::describe;
use super::{CgroupFs, Member, MemberMemory};
use crate::report::Amounts;
use crate::smaps::parse_rollup;

/// Most cgroups walked below the target's (a pod's tree has a handful).
const MAX_CGROUPS: usize = 4096;
/// Most processes read: enough for any container; the rest would only cost the kernel work.
const MAX_MEMBERS: usize = 10_000;

pub(super) fn read_members(fs: &CgroupFs, directory: &Path) -> Vec<Member> {
    let mut pids = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    let mut walked = 0;
    while let Some(cgroup) = pending.pop() {
        walked += 1;
        if walked > MAX_CGROUPS {
            break;
        }
        if let Ok(procs) = fs::read_to_string(cgroup.join("cgroup.procs")) {
            pids.extend(
                procs
                    .lines()
                    .filter_map(|line| line.trim().parse::<i32>().ok()),
            );
        }
        if let Ok(entries) = fs::read_dir(&cgroup) {
            pending.extend(
                entries
                    .flatten()
                    .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
                    .map(|entry| entry.path()),
            );
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids.truncate(MAX_MEMBERS);
    pids.into_iter().map(|pid| read_member(fs, pid)).collect()
}

fn read_member(fs: &CgroupFs, pid: i32) -> Member {
    let file = |name: &str| fs.path(format!("/proc/{pid}/{name}").as_bytes());
    let number = |name: &str| {
        fs::read_to_string(file(name))
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
    };
    let memory = match fs::read(file("smaps_rollup")) {
        Ok(text) => match parse_rollup(&text) {
            Ok(fields) => {
                let amounts = Amounts::of_fields(&fields);
                Ok(MemberMemory {
                    rss: amounts.rss,
                    pss: amounts.pss,
                })
            }
            Err(_) => Err("no memory (a zombie or kernel thread)".to_string()),
        },
        Err(error) => Err(describe(&error)),
    };
    Member {
        pid,
        comm: fs::read(file("comm")).ok().map(|mut comm| {
            if comm.last() == Some(&b'\n') {
                comm.pop();
            }
            comm
        }),
        memory,
        oom_score: number("oom_score"),
        oom_score_adj: number("oom_score_adj"),
    }
}
