//! Where the output goes: `-output FILE` is replaced atomically (a temporary file in the same
//! directory renamed into place), so node_exporter's textfile collector or any reader sees the
//! old file or the new one, never a half-written one, and no temporary file is left behind; a
//! closed pipe ends quietly; a full disk is an error.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::support::prelude::*;
use crate::support::prometheus::*;

#[test]
fn output_file_holds_exactly_what_stdout_would() {
    let dir = tempfile::tempdir().unwrap();
    let path = go_cgo();
    for (format, name) in [("text", "out.txt"), ("json", "out.json")] {
        let target = dir.path().join(name);
        let args = ["-file", path.as_str(), "-all", "-format", format];
        let stdout = memanalyzer(&args).success().get_output().stdout.clone();
        let assert =
            memanalyzer(&[&args[..], &["-output", target.to_str().unwrap()]].concat()).success();
        assert!(assert.get_output().stdout.is_empty(), "{format}: stdout");
        assert!(assert.get_output().stderr.is_empty(), "{format}: stderr");
        assert!(
            fs::read(&target).unwrap() == stdout,
            "{format}: the file differs from stdout"
        );
    }
    assert_eq!(
        names_in(dir.path()),
        ["out.json", "out.txt"],
        "temporary files left"
    );
}

#[test]
fn output_replaces_an_existing_file_by_renaming() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("memanalyzer.prom");
    let old = "old contents, longer than nothing\n".repeat(1000);
    fs::write(&target, &old).unwrap();
    let old_inode = fs::metadata(&target).unwrap().ino();
    let mut reader = fs::File::open(&target).unwrap(); // opened before the replacement

    let path = go_cgo();
    let args = ["-file", path.as_str()];
    let expected = memanalyzer(&args).success().get_output().stdout.clone();
    memanalyzer(&[&args[..], &["-output", target.to_str().unwrap()]].concat()).success();

    assert!(fs::read(&target).unwrap() == expected, "not replaced");
    assert_ne!(
        fs::metadata(&target).unwrap().ino(),
        old_inode,
        "the file was rewritten in place, not replaced by a rename"
    );
    let mut seen_by_old_reader = String::new();
    reader.read_to_string(&mut seen_by_old_reader).unwrap();
    assert_eq!(
        seen_by_old_reader, old,
        "a reader of the old file saw it change"
    );
    assert_eq!(
        names_in(dir.path()),
        ["memanalyzer.prom"],
        "temporary files left"
    );
}

#[test]
fn output_relative_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = go_cgo();
    let expected = stdout_of(&["-file", &path]);
    memanalyzer_cmd()
        .current_dir(dir.path())
        .args(["-file", &path, "-output", "relative.txt"])
        .assert()
        .success();
    assert_eq!(
        fs::read_to_string(dir.path().join("relative.txt")).unwrap(),
        expected
    );
    assert_eq!(names_in(dir.path()), ["relative.txt"]);
}

/// A reader polling the file while it is rewritten over and over only ever sees one of the
/// complete versions: never a missing, empty or half-written file.
#[test]
fn output_file_is_never_seen_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("watched.txt");
    let target_arg = target.to_str().unwrap().to_string();
    let (java, node) = (fixture("java/smaps"), fixture("node/smaps"));
    let versions = [
        memanalyzer(&["-file", &java, "-all", "-unit", "B"])
            .success()
            .get_output()
            .stdout
            .clone(),
        memanalyzer(&["-file", &node, "-all", "-unit", "B"])
            .success()
            .get_output()
            .stdout
            .clone(),
    ];
    assert_ne!(versions[0], versions[1]);
    memanalyzer(&["-file", &java, "-all", "-unit", "B", "-output", &target_arg]).success();

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, target, versions) = (stop.clone(), target.clone(), versions.clone());
        std::thread::spawn(move || {
            let (mut reads, mut bad) = (0u64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match fs::read(&target) {
                    Ok(bytes) if versions.contains(&bytes) => reads += 1,
                    Ok(bytes) => bad.push(format!("{} bytes", bytes.len())),
                    Err(error) => bad.push(error.to_string()),
                }
                std::thread::yield_now();
            }
            (reads, bad)
        })
    };
    for round in 0..12 {
        let input = if round % 2 == 0 { &node } else { &java };
        memanalyzer(&["-file", input, "-all", "-unit", "B", "-output", &target_arg]).success();
    }
    stop.store(true, Ordering::Relaxed);
    let (reads, bad) = reader.join().unwrap();
    assert!(
        bad.is_empty(),
        "the reader saw {bad:?} ({reads} good reads)"
    );
    assert!(reads > 0, "the reader never got to read");
    assert_eq!(
        names_in(dir.path()),
        ["watched.txt"],
        "temporary files left"
    );
}

#[test]
fn output_into_a_missing_directory_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("missing/sub/out.prom");
    let target_arg = target.to_str().unwrap();
    let line = runtime_error(&["-file", &go_cgo(), "-output", target_arg]);
    assert!(
        line.starts_with("memanalyzer: error: cannot write "),
        "{line}"
    );
    assert!(line.contains(target_arg), "the path is not named: {line}");
    assert!(names_in(dir.path()).is_empty(), "something was created");
}

#[test]
fn a_failed_analysis_leaves_the_output_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("memanalyzer.prom");
    fs::write(&target, "previous\n").unwrap();
    let missing = dir.path().join("no-such.smaps");
    runtime_error(&[
        "-file",
        missing.to_str().unwrap(),
        "-format",
        "prometheus",
        "-output",
        target.to_str().unwrap(),
    ]);
    assert_eq!(fs::read_to_string(&target).unwrap(), "previous\n");
    assert_eq!(names_in(dir.path()), ["memanalyzer.prom"]);
}

#[test]
fn output_onto_a_directory_fails_without_leaving_a_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("a-directory");
    fs::create_dir(&target).unwrap();
    let line = runtime_error(&["-file", &go_cgo(), "-output", target.to_str().unwrap()]);
    assert!(line.contains("cannot write"), "{line}");
    assert_eq!(
        names_in(dir.path()),
        ["a-directory"],
        "a temporary file was left"
    );
}

#[test]
fn prometheus_output_file_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("memanalyzer.prom");
    let target_arg = target.to_str().unwrap();
    memanalyzer(&[
        "-file",
        &go_cgo(),
        "-format",
        "prometheus",
        "-output",
        target_arg,
    ])
    .success();
    let mut promtool = Promtool::new();
    let text = fs::read_to_string(&target).unwrap();
    promtool.check(&text, "the -output file");
    let exposition = parse_exposition(&text);
    assert_eq!(
        exposition.single("memanalyzer_rss_bytes").whole(),
        245_424_128
    );

    // Live, as the README's cron example does it, and the -ps list too.
    let workload = Workload::spawn(&["--mappings", "50"]);
    memanalyzer(&[
        "-pid",
        &workload.pid_arg(),
        "-format",
        "prometheus",
        "-output",
        target_arg,
    ])
    .success();
    promtool.check(&fs::read_to_string(&target).unwrap(), "a live -output file");
    memanalyzer(&["-ps", "-format", "prometheus", "-output", target_arg]).success();
    assert_process_list_exposition(&mut promtool, &fs::read_to_string(&target).unwrap());
    assert_eq!(names_in(dir.path()), ["memanalyzer.prom"]);
    or_skip!(promtool.finish());
}

// ---------------------------------------------------------------------------------------------
// Standard output
// ---------------------------------------------------------------------------------------------

#[test]
fn closed_pipe_ends_quietly() {
    let workload = Workload::spawn(&["--mappings", "2000"]);
    let mut child = Command::new(memanalyzer_path())
        .args(["-pid", &workload.pid_arg(), "-all"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn memanalyzer");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("Source: "), "{first:?}");
    drop(stdout); // `| head -1`
    let output = child.wait_with_output().expect("wait for memanalyzer");
    assert!(
        output.status.success() || output.status.signal() == Some(libc::SIGPIPE),
        "{:?}",
        output.status
    );
    assert_eq!(utf8(&output.stderr), "");
}

#[test]
fn full_disk_is_an_error() {
    let full = or_skip!(File::options()
        .write(true)
        .open("/dev/full")
        .map_err(|error| format!("cannot open /dev/full: {error}")));
    let output = Command::new(memanalyzer_path())
        .args(["-pid", &std::process::id().to_string()])
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .expect("run memanalyzer");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let line = assert_one_error_line(&utf8(&output.stderr));
    assert!(line.contains("cannot write"), "{line}");
}
