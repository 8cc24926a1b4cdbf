//! `-cgroup`: the container view. Live on cgroup v1 here (a child memory cgroup with a limit,
//! and a process in it holding anonymous memory, page cache, a tmpfs file and socket buffers),
//! every row checked against the cgroup's own files read by the test; live on v2 where v2 has the
//! memory controller; and on cgroup v2 trees in `fixtures/cgroup/` (see its README for where
//! each shape comes from) through the library's configurable root.

use std::fs;
use std::path::{Path, PathBuf};

use memanalyzer::{read_container, CgroupFs, CgroupVersion, ContainerError, OomVerdict};
use serde_json::Value;

use crate::support::prelude::*;
use crate::support::system::is_root;

const MIB: u64 = 1 << 20;

/// A child memory cgroup the test makes, removed when dropped (after its processes exit).
struct TestCgroup {
    directory: PathBuf,
}

impl TestCgroup {
    fn create(parent: &Path) -> Result<TestCgroup, String> {
        let directory = parent.join(format!("memanalyzer-test-{}", std::process::id()));
        let _ = fs::remove_dir(&directory);
        fs::create_dir(&directory)
            .map_err(|error| format!("cannot create {}: {error}", directory.display()))?;
        Ok(TestCgroup { directory })
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.directory.join(name))
            .unwrap_or_else(|error| panic!("read {name}: {error}"))
    }

    fn stat(&self) -> std::collections::HashMap<String, u64> {
        self.read("memory.stat")
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once(' ')?;
                Some((key.to_string(), value.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for _ in 0..200 {
            if fs::remove_dir(&self.directory).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

fn row(rows: &Value, id: &str) -> u64 {
    rows.as_array()
        .expect("rows")
        .iter()
        .find(|row| row["id"] == id)
        .unwrap_or_else(|| panic!("no row {id} in {rows}"))["bytes"]
        .as_u64()
        .expect("bytes")
}

fn sum(rows: &Value) -> u64 {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|row| row["bytes"].as_u64().expect("bytes"))
        .sum()
}

fn assert_within(actual: u64, expected: u64, share: f64, what: &str) {
    let difference = actual.abs_diff(expected) as f64;
    assert!(
        difference <= expected as f64 * share,
        "{what}: {actual} is not within {share} of {expected}"
    );
}

#[test]
fn cgroup_v1_rows_match_the_kernels_files() {
    let v1 = Path::new("/sys/fs/cgroup/memory");
    if !v1.join("memory.stat").exists() {
        skip!("no cgroup v1 memory controller at {}", v1.display());
    }
    if !is_root() {
        skip!("making a child cgroup needs root");
    }
    let cgroup = or_skip!(TestCgroup::create(v1));
    fs::write(
        cgroup.directory.join("memory.limit_in_bytes"),
        (512 * MIB).to_string(),
    )
    .expect("set the limit");
    // cgroup v1 accounts TCP buffers only once a TCP limit is set.
    let tcp_accounted = fs::write(
        cgroup.directory.join("memory.kmem.tcp.limit_in_bytes"),
        (64 * MIB).to_string(),
    )
    .is_ok();
    let files = tempfile::tempdir_in("/var/tmp").expect("a directory on disk");
    let cache_file = files.path().join("cache.bin");
    let tmpfs_file = format!("/dev/shm/memanalyzer-test-{}", std::process::id());
    let directory = cgroup.directory.to_str().expect("UTF-8 path").to_string();
    let load = Workload::spawn_container_load(&[
        "--join",
        &directory,
        "--anon-mb",
        "48",
        "--cache-file",
        cache_file.to_str().expect("UTF-8 path"),
        "--cache-mb",
        "64",
        "--tmpfs-file",
        &tmpfs_file,
        "--tmpfs-mb",
        "32",
        "--socket-kb",
        "512",
    ]);

    // The load is idle, so memory.stat holds still; a read that raced a change is taken again.
    let pid = load.pid_arg();
    let (doc, after) = (0..20)
        .find_map(|_| {
            let before = cgroup.stat();
            let doc = json_of(&["-pid", &pid, "-cgroup", "-top", "0", "-format", "json"]);
            let after = cgroup.stat();
            (before == after).then_some((doc, after))
        })
        .expect("memory.stat held still across one analysis in 20 tries");
    let usage: u64 = cgroup
        .read("memory.usage_in_bytes")
        .trim()
        .parse()
        .expect("usage");
    let container = &doc["container"];
    assert_eq!(container["cgroup_version"], "v1");
    assert_eq!(container["limit_bytes"], 512 * MIB);
    let reported_usage = u64_at(container, "/usage_bytes");
    assert_within(reported_usage, usage, 0.01, "usage");

    let rows = &container["usage_by_kind"];
    assert_eq!(sum(rows), reported_usage, "the rows add up to the usage");
    // Every row is exactly what memory.stat says.
    for (id, key) in [
        ("anon", "total_rss"),
        ("file.active", "total_active_file"),
        ("file.inactive", "total_inactive_file"),
        ("shmem", "total_shmem"),
    ] {
        assert_eq!(row(rows, id), after[key], "{id} against {key}");
    }
    assert!(
        row(rows, "anon") >= 48 * MIB,
        "the anonymous memory is there"
    );
    let page_cache = row(rows, "file.active") + row(rows, "file.inactive");
    assert_within(
        page_cache,
        64 * MIB,
        0.10,
        "page cache against the file's size",
    );
    assert_within(
        row(rows, "shmem"),
        32 * MIB,
        0.10,
        "tmpfs against the file's size",
    );
    let kernel: u64 = cgroup
        .read("memory.kmem.usage_in_bytes")
        .trim()
        .parse()
        .expect("kmem");
    assert_within(row(rows, "kernel"), kernel, 0.10, "kernel memory");
    if tcp_accounted {
        let sockets: u64 = cgroup
            .read("memory.kmem.tcp.usage_in_bytes")
            .trim()
            .parse()
            .expect("tcp");
        assert!(sockets > 0, "unread data sits in socket buffers");
        // The stack may collapse a queue that nobody reads between the two reads: close, not equal.
        let reported = u64_at(container, "/sockets_outside_usage_bytes");
        assert_within(reported, sockets, 0.5, "socket buffers");
    }

    let inactive = row(rows, "file.inactive");
    assert_eq!(
        u64_at(container, "/working_set_bytes"),
        reported_usage - inactive
    );
    assert_eq!(
        u64_at(container, "/headroom_bytes"),
        512 * MIB - reported_usage
    );

    let processes = container["processes"].as_array().expect("processes");
    assert_eq!(
        processes.len(),
        1,
        "only the load is in the cgroup: {processes:?}"
    );
    let member = &processes[0];
    assert_eq!(member["pid"], load.pid);
    let oom_score: i64 = fs::read_to_string(format!("/proc/{}/oom_score", load.pid))
        .expect("oom_score")
        .trim()
        .parse()
        .expect("a number");
    assert_within(
        member["oom_score"].as_i64().expect("score") as u64,
        oom_score as u64,
        0.05,
        "oom_score",
    );
    assert_eq!(container["oom"]["kills"], "process");
    assert_eq!(container["oom"]["pid"], load.pid);
    let outside = &container["not_in_processes"];
    assert_eq!(
        sum(outside),
        reported_usage - u64_at(container, "/processes_pss_bytes"),
        "what no process accounts for adds up to the gap"
    );
    assert!(
        row(outside, "shmem.unmapped") >= 30 * MIB,
        "the tmpfs file is mapped by nobody"
    );

    // Text: one record per line, the working set where awk finds it.
    let text = stdout_of(&[
        "-pid",
        &load.pid_arg(),
        "-cgroup",
        "-top",
        "0",
        "-unit",
        "B",
    ]);
    let working_set_line = text
        .lines()
        .find(|line| line.starts_with("Working Set:"))
        .expect("a Working Set line");
    let value: u64 = working_set_line
        .split_whitespace()
        .nth(2)
        .expect("a number")
        .parse()
        .expect("bytes");
    assert_within(value, reported_usage - inactive, 0.05, "text working set");
    assert!(text.contains("=== Container (cgroup v1) ==="));

    // -ps -cgroup: the load is listed under its cgroup, with the cgroup's figures.
    let list = json_of(&["-ps", "-cgroup", "-format", "json"]);
    let name = cgroup
        .directory
        .file_name()
        .expect("a name")
        .to_str()
        .expect("UTF-8");
    let group = list["cgroups"]
        .as_array()
        .expect("cgroups")
        .iter()
        .find(|group| {
            group["path"]
                .as_str()
                .is_some_and(|path| path.ends_with(name))
        })
        .unwrap_or_else(|| panic!("no group for {name}: {}", list["cgroups"]));
    assert_eq!(group["pids"], serde_json::json!([load.pid]));
    assert_eq!(group["limit_bytes"], 512 * MIB);
    assert_within(
        u64_at(group, "/usage_bytes"),
        usage,
        0.01,
        "-ps -cgroup usage",
    );
    let text = stdout_of(&["-ps", "-cgroup"]);
    let heading = text
        .lines()
        .find(|line| line.starts_with("=== cgroup ") && line.contains(name))
        .expect("a heading for the test's cgroup");
    assert!(heading.contains("1 process; limit 512 MB"), "{heading}");
    drop(load);
    let _ = fs::remove_file(&tmpfs_file);
}

#[test]
fn cgroup_v2_live_where_v2_has_the_memory_controller() {
    let controllers = fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .or_else(|_| fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers"))
        .unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "memory") {
        skip_on_this_machine!(
            "this machine's cgroup v2 hierarchy has no memory controller (cgroup v1 has it)"
        );
    }
    let doc = json_of(&["-cgroup", "-top", "0", "-format", "json"]);
    let container = &doc["container"];
    assert_eq!(container["cgroup_version"], "v2");
    assert_eq!(
        sum(&container["usage_by_kind"]),
        u64_at(container, "/usage_bytes")
    );
}

#[test]
fn cgroup_with_a_file_is_a_usage_error() {
    let message = usage_error(&["-file", &go_cgo(), "-cgroup"]);
    assert!(
        message.contains("--cgroup") || message.contains("-cgroup"),
        "{message}"
    );
}

/// The fixture trees: `fixtures/cgroup/NAME/` is a root holding `proc/` and `sys/fs/cgroup/`.
fn fixture_fs(name: &str) -> CgroupFs {
    CgroupFs::at(fixtures_dir().join("cgroup").join(name))
}

#[test]
fn cgroup_v2_kubernetes_pod_tree() {
    let container = read_container(4242, &fixture_fs("v2-burstable-pod")).expect("the view");
    assert_eq!(container.version, CgroupVersion::V2);
    assert_eq!(container.limit, Some(536870912));
    assert_eq!(container.usage, 404_955_136);
    let total: u64 = container.rows.iter().map(|row| row.bytes).sum();
    assert_eq!(total, container.usage, "the rows add up");
    let inactive_file = container
        .rows
        .iter()
        .find(|row| row.key == "file.inactive")
        .unwrap();
    assert_eq!(container.working_set, container.usage - inactive_file.bytes);
    assert_eq!(container.events.oom_kill, Some(2));
    let pressure = container.pressure.expect("PSI");
    assert_eq!(pressure.some.avg10, 1.25);
    assert_eq!(container.members.len(), 2);
    assert!(matches!(
        container.oom_verdict(),
        OomVerdict::Kills { pid: 4242, .. }
    ));
    let outside: u64 = container
        .outside_processes
        .iter()
        .map(|row| row.bytes)
        .sum();
    assert_eq!(outside, container.usage - container.members_pss());
}

#[test]
fn cgroup_v2_oom_group_and_no_limit() {
    let container = read_container(77, &fixture_fs("v2-oom-group")).expect("the view");
    assert_eq!(container.limit, None, "memory.max reads max");
    assert_eq!(container.headroom(), None);
    assert_eq!(container.oom_verdict(), OomVerdict::WholeGroup);
}

#[test]
fn cgroup_v2_errors_say_what_to_do() {
    let missing = read_container(4242, &fixture_fs("v2-missing-cgroup")).unwrap_err();
    assert!(
        matches!(missing, ContainerError::NotInThisNamespace { .. }),
        "{missing:?}"
    );
    assert!(
        missing.to_string().contains("shareProcessNamespace"),
        "{missing}"
    );
    let none = read_container(4242, &fixture_fs("no-cgroupfs")).unwrap_err();
    assert_eq!(none, ContainerError::NoCgroupFs);
    let root = read_container(1, &fixture_fs("v2-root-cgroup")).unwrap_err();
    assert!(root.to_string().contains("root cgroup"), "{root}");
}
