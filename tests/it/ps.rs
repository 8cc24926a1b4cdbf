//! `-ps`: every process this user can see, largest PSS first, from `smaps_rollup`, in text,
//! JSON and Prometheus; processes it cannot read are listed with the reason, `?` or null for
//! their memory, and left out of the totals.

use std::fs;

use serde_json::Value;

use crate::support::prelude::*;
use crate::support::prometheus::*;
use crate::support::ps_text::*;
use crate::support::system::{my_user_name, user_name, Nobody};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Readable processes first, largest PSS first; the unreadable ones after them.
fn assert_sorted_by_pss<T>(rows: &[T], pss: impl Fn(&T) -> Option<u64>, describe: impl Fn(&T)) {
    let readable = rows.iter().take_while(|row| pss(row).is_some()).count();
    for row in &rows[readable..] {
        if pss(row).is_some() {
            describe(row);
            panic!("a readable process after an unreadable one");
        }
    }
    for pair in rows[..readable].windows(2) {
        if pss(&pair[0]) < pss(&pair[1]) {
            describe(&pair[0]);
            describe(&pair[1]);
            panic!("not sorted by PSS, largest first");
        }
    }
}

fn rollup_pss(pid: i32) -> u64 {
    let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .expect("a Pss line in smaps_rollup")
        * KIB
}

#[test]
fn ps_text_lists_our_child_sorted_by_pss_with_a_total() {
    let workload = Workload::spawn(&["--anon-rw-mb", "16"]);
    let text = stdout_of(&["-ps", "-unit", "B"]);
    let list = parse_ps_text(&text);

    let row = list.row(workload.pid);
    assert_eq!(row.command, "workload", "{row:?}");
    assert_eq!(row.user, my_user_name(), "{row:?}");
    assert_eq!(row.status, "", "{row:?}");
    let [rss, pss, uss, _swap] = row.memory.expect("our own child is readable");
    assert!(
        rss >= 16 * MIB && pss >= 16 * MIB && uss >= 16 * MIB,
        "{row:?}"
    );
    assert!(uss <= pss && pss <= rss, "{row:?}");

    let me = std::process::id() as i32;
    assert!(
        list.rows.iter().any(|row| row.pid == me),
        "the test process itself is not listed"
    );

    assert_sorted_by_pss(
        &list.rows,
        |row| row.memory.map(|m| m[1]),
        |row| eprintln!("{}", row.line),
    );

    let readable: Vec<&PsRow> = list.rows.iter().filter(|r| r.memory.is_some()).collect();
    assert_eq!(list.total_count, readable.len(), "TOTAL (N processes)");
    for (index, name) in ["RSS", "PSS", "USS", "SWAP"].iter().enumerate() {
        let sum: u64 = readable.iter().map(|r| r.memory.unwrap()[index]).sum();
        assert_eq!(list.total[index], sum, "TOTAL {name}");
    }
    let unreadable: Vec<&PsRow> = list.rows.iter().filter(|r| r.memory.is_none()).collect();
    for row in &unreadable {
        assert!(row.status.len() > "cannot read: ".len(), "{row:?}");
    }
    if !unreadable.is_empty() {
        let expected = format!(
            "{} {} could not be read (not in the total)",
            unreadable.len(),
            if unreadable.len() == 1 {
                "process"
            } else {
                "processes"
            }
        );
        assert!(
            list.trailer.iter().any(|line| line.starts_with(&expected)),
            "no `{expected}` line in {:?}",
            list.trailer
        );
    }
}

#[test]
fn ps_text_uses_the_unit_everywhere() {
    let workload = Workload::spawn(&["--anon-rw-mb", "4"]);
    let pid = workload.pid_arg();
    for (args, unit) in [
        (&[][..], "MB"), // the default
        (&["-unit", "kB"], "kB"),
        (&["-unit", "GB"], "GB"),
    ] {
        let text = stdout_of(&[&["-ps"][..], args].concat());
        let row = text
            .lines()
            .find(|line| line.split_whitespace().next() == Some(pid.as_str()))
            .unwrap_or_else(|| panic!("workload not listed:\n{text}"));
        let fields: Vec<&str> = row.split_whitespace().collect();
        let units: Vec<&str> = fields[fields.len() - 8..]
            .iter()
            .skip(1)
            .step_by(2)
            .copied()
            .collect();
        assert_eq!(units, [unit; 4], "{row:?}");
        let total = text
            .lines()
            .find(|line| line.starts_with("TOTAL ("))
            .unwrap();
        assert_eq!(total.matches(&format!(" {unit}")).count(), 4, "{total:?}");
    }
}

fn assert_process_entry(entry: &Value) {
    assert!(entry["pid"].as_i64().is_some_and(|pid| pid > 0), "{entry}");
    assert!(entry["user"].is_string(), "{entry}");
    let readable = entry["readable"].as_bool().expect("readable is a bool");
    // The command is unknown only where /proc hides the process (hidepid).
    assert!(
        entry["command"].is_string() || (!readable && entry["command"].is_null()),
        "{entry}"
    );
    let numbers = ["rss_bytes", "pss_bytes", "uss_bytes", "swap_bytes"];
    if readable {
        assert!(entry["error"].is_null(), "{entry}");
        for key in numbers {
            assert!(entry[key].is_u64(), "{key} of a readable process: {entry}");
        }
    } else {
        let error = entry["error"]
            .as_str()
            .expect("an unreadable process has an error");
        assert!(!error.is_empty(), "{entry}");
        for key in numbers {
            // Present and null: never 0, never missing.
            assert!(
                entry.get(key).is_some_and(Value::is_null),
                "{key} of an unreadable process: {entry}"
            );
        }
    }
}

/// The entry of process `pid` in a `-ps -format json` document; panics if it is not listed.
fn process_entry(doc: &Value, pid: i32) -> &Value {
    doc["processes"]
        .as_array()
        .expect("processes array")
        .iter()
        .find(|entry| entry["pid"] == pid)
        .unwrap_or_else(|| panic!("process {pid} not in {doc:#}"))
}

fn assert_process_list_json(doc: &Value) {
    assert_eq!(doc["schema_version"], 1);
    let processes = doc["processes"].as_array().expect("processes array");
    assert!(!processes.is_empty());
    for entry in processes {
        assert_process_entry(entry);
    }
    assert_sorted_by_pss(
        processes,
        |entry| entry["pss_bytes"].as_u64(),
        |entry| eprintln!("{entry}"),
    );
    let readable: Vec<&Value> = processes
        .iter()
        .filter(|entry| entry["readable"] == true)
        .collect();
    for key in ["rss_bytes", "pss_bytes", "uss_bytes", "swap_bytes"] {
        let sum: u64 = readable
            .iter()
            .map(|entry| u64_at(entry, &format!("/{key}")))
            .sum();
        assert_eq!(
            u64_at(doc, &format!("/totals/{key}")),
            sum,
            "totals.{key} vs the readable processes"
        );
    }
    assert_eq!(u64_at(doc, "/totals/processes") as usize, processes.len());
    assert_eq!(
        u64_at(doc, "/totals/unreadable") as usize,
        processes.len() - readable.len()
    );
    u64_at(doc, "/totals/kernel_threads_not_listed");
}

#[test]
fn ps_json_follows_the_schema_and_matches_smaps_rollup() {
    let workload = Workload::spawn(&["--anon-rw-mb", "16"]);
    let before = rollup_pss(workload.pid);
    let doc = json_of(&["-ps", "-format", "json"]);
    let after = rollup_pss(workload.pid);
    assert_process_list_json(&doc);

    let entry = process_entry(&doc, workload.pid);
    assert_eq!(entry["command"], "workload");
    assert_eq!(entry["user"], my_user_name().as_str());
    assert_eq!(entry["readable"], true);
    let pss = u64_at(entry, "/pss_bytes");
    // The shared pages' share moves as other processes come and go; the 16 MiB are private.
    let (low, high) = (before.min(after), before.max(after));
    assert!(
        pss as f64 >= low as f64 * 0.95 && pss as f64 <= high as f64 * 1.05,
        "PSS {pss} vs smaps_rollup {before}..{after}"
    );
    assert!(u64_at(entry, "/rss_bytes") >= 16 * MIB);
}

#[test]
fn ps_prometheus_passes_promtool_and_lists_our_child() {
    let workload = Workload::spawn(&["--anon-rw-mb", "8"]);
    let text = stdout_of(&["-ps", "-format", "prometheus"]);
    let mut promtool = Promtool::new();
    let exposition = assert_process_list_exposition(&mut promtool, &text);
    let pid = workload.pid_arg();
    let pss = exposition
        .samples("memanalyzer_process_pss_bytes")
        .iter()
        .find(|sample| sample.label("pid") == Some(pid.as_str()))
        .unwrap_or_else(|| panic!("workload {pid} not in:\n{text}"));
    assert_eq!(pss.label("comm"), Some("workload"));
    assert!(pss.whole() >= 8 * MIB, "{pss:?}");
    or_skip!(promtool.finish());
}

/// As user nobody, root's processes cannot be read: they are listed with the reason, with `?`
/// in text and nulls in JSON, left out of the totals, and counted in Prometheus.
#[test]
fn ps_lists_processes_it_cannot_read_with_the_reason() {
    let nobody = or_skip!(Nobody::memanalyzer());
    let workload = Workload::spawn(&["--anon-rw-mb", "4"]); // owned by root
    let root = user_name(0);

    let output = or_skip!(nobody.run_ok(&["-ps", "-unit", "B"]));
    let text = utf8(&output.stdout);
    let list = parse_ps_text(&text);
    let row = list.row(workload.pid);
    assert_eq!(row.memory, None, "{row:?}");
    assert_eq!(row.status, "cannot read: permission denied", "{row:?}");
    assert_eq!(row.command, "workload", "{row:?}");
    assert_eq!(row.user, root, "{row:?}");
    let readable = list.rows.iter().filter(|r| r.memory.is_some()).count();
    assert_eq!(list.total_count, readable);
    for (index, name) in ["RSS", "PSS", "USS", "SWAP"].iter().enumerate() {
        let sum: u64 = list
            .rows
            .iter()
            .filter_map(|r| r.memory)
            .map(|m| m[index])
            .sum();
        assert_eq!(
            list.total[index], sum,
            "TOTAL {name} counts only readable processes"
        );
    }
    let unreadable = list.rows.len() - readable;
    assert!(
        list.trailer
            .iter()
            .any(|line| line.starts_with(&format!("{unreadable} process"))
                && line.contains("could not be read")),
        "{:?}",
        list.trailer
    );
    // Its own process is readable to nobody.
    assert!(readable >= 1, "{text}");

    let output = nobody.run_ok(&["-ps", "-format", "json"]).unwrap();
    let doc = json(&output.stdout);
    assert_process_list_json(&doc);
    let entry = process_entry(&doc, workload.pid);
    assert_eq!(entry["readable"], false, "{entry}");
    assert_eq!(entry["error"], "permission denied", "{entry}");
    assert_eq!(entry["user"], root.as_str(), "{entry}");
    for key in ["rss_bytes", "pss_bytes", "uss_bytes", "swap_bytes"] {
        assert!(entry.get(key).is_some_and(Value::is_null), "{key}: {entry}");
    }
    assert!(u64_at(&doc, "/totals/unreadable") >= 1);

    let output = nobody.run_ok(&["-ps", "-format", "prometheus"]).unwrap();
    let mut promtool = Promtool::new();
    let exposition = assert_process_list_exposition(&mut promtool, &utf8(&output.stdout));
    let pid = workload.pid_arg();
    for family in [
        "memanalyzer_process_rss_bytes",
        "memanalyzer_process_pss_bytes",
    ] {
        assert!(
            exposition
                .samples(family)
                .iter()
                .all(|sample| sample.label("pid") != Some(pid.as_str())),
            "{family}: an unreadable process has a value"
        );
    }
    assert!(
        exposition
            .single("memanalyzer_processes_unreadable")
            .whole()
            >= 1
    );
    or_skip!(promtool.finish());
}

/// A comm that is not UTF-8 and holds control bytes (the workload copied under the name
/// `wl<0xff><ESC>[7m<BEL>`): `-pid` JSON keeps it (never null), `-ps` shows the owner's user
/// name (never `?`), and `-pid` and `-ps` Prometheus write the same, escaped `comm` label.
#[test]
fn a_comm_that_is_not_utf8_is_shown_the_same_everywhere() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;

    let raw_name = b"wl\xff\x1b[7m\x07";
    let dir = exec_tempdir();
    let program = dir.path().join(OsStr::from_bytes(raw_name));
    fs::copy(workload_path(), &program).expect("copy the workload");
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let workload = Workload::spawn_program(&program, &["--mappings", "20"]);
    let pid = workload.pid_arg();
    assert_eq!(
        fs::read(format!("/proc/{pid}/comm")).unwrap(),
        [&raw_name[..], b"\n"].concat(),
        "the kernel took the copy's name as comm"
    );

    let doc = json_of(&["-pid", &pid, "-format", "json"]);
    assert_eq!(doc["source"]["comm"], "wl\\xff\u{1b}[7m\u{7}");

    let list = json_of(&["-ps", "-format", "json"]);
    let entry = process_entry(&list, workload.pid);
    assert_eq!(entry["user"], my_user_name().as_str(), "{entry}");
    assert_eq!(entry["command"], "wl\\xff\u{1b}[7m\u{7}", "{entry}");
    let text = stdout_of(&["-ps", "-unit", "B"]);
    let parsed = parse_ps_text(&text);
    let row = parsed.row(workload.pid);
    assert_eq!(row.user, my_user_name(), "{row:?}");
    assert_eq!(row.command, r"wl\xff\x1b[7m\x07", "{row:?}");

    let mut promtool = Promtool::new();
    let single = stdout_of(&["-pid", &pid, "-format", "prometheus"]);
    let all = stdout_of(&["-ps", "-format", "prometheus"]);
    for (text, what) in [(&single, "-pid"), (&all, "-ps")] {
        promtool.check(text, what);
        assert!(
            !text.bytes().any(|byte| byte < 0x20 && byte != b'\n'),
            "{what}: a raw control byte in {text:?}"
        );
    }
    let from_pid = parse_exposition(&single)
        .single("memanalyzer_rss_bytes")
        .label("comm")
        .map(str::to_string);
    let from_ps = parse_exposition(&all)
        .samples("memanalyzer_process_rss_bytes")
        .iter()
        .find(|sample| sample.label("pid") == Some(pid.as_str()))
        .and_then(|sample| sample.label("comm"))
        .map(str::to_string);
    assert_eq!(from_pid.as_deref(), Some(r"wl\xff\x1b[7m\x07"));
    assert_eq!(from_pid, from_ps);
    or_skip!(promtool.finish());
}

/// With /proc mounted `hidepid=1` (or its newer spelling `noaccess`), another user's
/// `/proc/<pid>` is listed but cannot be looked into (reading `stat` fails with EPERM). Such a
/// process is unreadable, never absent: as user nobody, PID 1 (root's) is listed, unreadable,
/// with its owner. With `hidepid=2` (`invisible`) the kernel hides it altogether, and the list
/// says so. Runs in a private mount namespace with a procfs of its own, so the machine's /proc
/// is never remounted.
#[test]
fn ps_counts_processes_hidden_by_hidepid_as_unreadable() {
    let nobody = or_skip!(Nobody::memanalyzer());
    let unshare = or_skip!(crate::support::system::require_program(
        "unshare",
        "util-linux"
    ));
    for option in [
        "hidepid=1",
        "hidepid=noaccess",
        "hidepid=2",
        "hidepid=invisible",
    ] {
        let output = std::process::Command::new(&unshare)
            .args([
                "--mount",
                "--propagation",
                "private",
                "--fork",
                "--",
                "sh",
                "-c",
            ])
            .arg(format!(
                "mount -t proc -o {option} proc /proc || exit 99; exec \"$@\""
            ))
            .arg("sh")
            .args(nobody.command_line(&["-ps", "-format", "json"]))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run unshare");
        match output.status.code() {
            Some(0) => {}
            Some(99) => skip!(
                "cannot mount a procfs with {option} here: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            _ if String::from_utf8_lossy(&output.stderr).starts_with("unshare:") => skip!(
                "cannot make a mount namespace here: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            _ => panic!("{option}: {output:?}"),
        }
        let doc = json(&output.stdout);
        assert_process_list_json(&doc);
        let invisible = option.ends_with('2') || option.ends_with("invisible");
        assert_eq!(doc["totals"]["others_hidden"], invisible, "{option}");
        if invisible {
            let listed = doc["processes"].as_array().unwrap();
            assert!(listed.iter().all(|entry| entry["pid"] != 1), "{option}");
            continue;
        }
        let init = process_entry(&doc, 1);
        assert_eq!(init["readable"], false, "{option}: {init}");
        assert_eq!(init["error"], "permission denied", "{option}: {init}");
        assert_eq!(init["user"], user_name(0).as_str(), "{option}: {init}");
        assert!(
            doc["totals"]["unreadable"].as_u64().unwrap() >= 1,
            "{option}: {}",
            doc["totals"]
        );
    }
}
