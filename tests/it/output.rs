//! Where the output goes: `-output FILE` is replaced atomically (a temporary file in the same
//! directory renamed into place), so node_exporter's textfile collector or any reader sees the
//! old file or the new one, never a half-written one, and no temporary file is left behind; a
//! closed pipe ends quietly; a full disk is an error.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::mkfifo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::support::prelude::*;
use crate::support::prometheus::*;
use crate::support::system::is_root;

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

/// `memanalyzer >&-`: the output has nowhere to go, which is an error (one line on stderr, exit
/// 1), not a silent success; with `-output FILE` a closed standard output does not matter.
#[test]
fn a_closed_standard_output_is_an_error() {
    let input = go_cgo();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.txt");
    let run = |args: &[&str]| {
        let mut cmd = Command::new(memanalyzer_path());
        cmd.args(args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: close is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::close(1);
                Ok(())
            });
        }
        cmd.output().unwrap()
    };
    for args in [
        &["-file", input.as_str()][..],
        &["-file", input.as_str(), "-format", "json"],
        &["-ps"],
        &["--help"],
        &["-file", input.as_str(), "-output", "/dev/stdout"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        let line = assert_one_error_line(&utf8(&output.stderr));
        assert!(
            line.contains("standard output is closed"),
            "{args:?}: {line}"
        );
    }
    let output = run(&["-file", &input, "-output", target.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert!(fs::read(&target).unwrap() == bytes_of(&["-file", &input]));
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

// ---------------------------------------------------------------------------------------------
// Devices, FIFOs and links: written, never replaced
// ---------------------------------------------------------------------------------------------

/// A character device node made for the test in `dir` (never the machine's own `/dev`, which
/// a broken memanalyzer would replace): `null` is (1, 3), `full` is (1, 7).
fn device_node(dir: &Path, name: &str, minor: u64) -> Result<PathBuf, String> {
    if !is_root() {
        return Err("not root, so cannot make device nodes".to_string());
    }
    let path = dir.join(name);
    mknod(
        &path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, minor),
    )
    .map_err(|error| format!("cannot make a device node here: {error}"))?;
    Ok(path)
}

/// The device numbers of a character device, or what else `path` is.
fn char_device(path: &Path) -> Result<u64, String> {
    let metadata = fs::symlink_metadata(path).map_err(|error| error.to_string())?;
    if metadata.file_type().is_char_device() {
        Ok(metadata.rdev())
    } else {
        Err(format!(
            "{} is now {:?}",
            path.display(),
            metadata.file_type()
        ))
    }
}

#[test]
fn output_onto_a_device_writes_it_and_never_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let null = or_skip!(device_node(dir.path(), "null", 3));
    let full = or_skip!(device_node(dir.path(), "full", 7));
    let link = dir.path().join("null-link");
    symlink(&null, &link).unwrap();
    let null_rdev = char_device(&null).unwrap();
    let full_rdev = char_device(&full).unwrap();
    let input = go_cgo();

    for target in [&null, &link] {
        let target = target.to_str().unwrap();
        let assert = memanalyzer(&["-file", &input, "-output", target]).success();
        assert!(assert.get_output().stdout.is_empty() && assert.get_output().stderr.is_empty());
    }
    assert_eq!(char_device(&null), Ok(null_rdev), "the device was replaced");
    assert!(
        fs::symlink_metadata(&link).unwrap().is_symlink(),
        "the link was replaced"
    );

    let line = runtime_error(&["-file", &input, "-output", full.to_str().unwrap()]);
    assert!(
        line.contains("cannot write") && line.contains("No space left on device"),
        "{line}"
    );
    assert_eq!(char_device(&full), Ok(full_rdev), "the device was replaced");
    assert_eq!(names_in(dir.path()), ["full", "null", "null-link"]);
}

#[test]
fn output_onto_a_fifo_writes_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
    // Opened here, so that nothing blocks if memanalyzer never opens the FIFO; a writer of our
    // own holds the end of input back until memanalyzer is done.
    let mut reader = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    fcntl(&reader, FcntlArg::F_SETFL(OFlag::empty())).unwrap();
    let holder = File::options().write(true).open(&fifo).unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let input = go_cgo();
    let expected = bytes_of(&["-file", &input]);
    memanalyzer(&["-file", &input, "-output", fifo.to_str().unwrap()]).success();
    drop(holder);
    assert!(
        reader.join().unwrap() == expected,
        "the reader got other bytes"
    );
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(names_in(dir.path()), ["pipe"]);
}

/// `/dev/stdout` is a link to `/proc/self/fd/1` (a link of the same kind, in the test's own
/// directory, stands for it here): the output goes to standard output, appended to a file
/// opened for appending, and the link is left alone.
#[test]
fn output_onto_standard_output_through_a_link_writes_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("stdout");
    symlink("/proc/self/fd/1", &link).unwrap();
    let input = go_cgo();
    let expected = bytes_of(&["-file", &input]);
    let to_link = ["-file", &input, "-output", link.to_str().unwrap()];
    assert!(bytes_of(&to_link) == expected, "not on standard output");

    let log = dir.path().join("log");
    fs::write(&log, "previous line\n").unwrap();
    let appending = File::options().append(true).open(&log).unwrap();
    let status = Command::new(memanalyzer_path())
        .args(to_link)
        .stdin(Stdio::null())
        .stdout(appending)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        fs::read(&log).unwrap() == [&b"previous line\n"[..], &expected].concat(),
        "not appended to what standard output was opened on"
    );
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("/proc/self/fd/1"));

    // Another descriptor (`-output /dev/fd/3 3>>log`) is appended to as well.
    let appending = File::options().append(true).open(&log).unwrap();
    let mut cmd = Command::new(memanalyzer_path());
    cmd.args(["-file", &input, "-output", "/dev/fd/3"])
        .stdin(Stdio::null());
    // SAFETY: dup2 is async-signal-safe; `appending` outlives the spawn.
    unsafe {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&appending);
        cmd.pre_exec(move || match libc::dup2(fd, 3) {
            3 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    assert!(cmd.status().unwrap().success());
    assert!(
        fs::read(&log).unwrap() == [&b"previous line\n"[..], &expected, &expected].concat(),
        "not appended to descriptor 3"
    );
    assert_eq!(names_in(dir.path()), ["log", "stdout"]);
}

/// A link to a regular file is followed: the file it points to is replaced atomically and
/// keeps its permissions; the link stays a link.
#[test]
fn output_through_a_link_replaces_the_file_it_points_to() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.prom");
    let link = dir.path().join("link.prom");
    fs::write(&real, "previous\n").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
    symlink("real.prom", &link).unwrap();
    let input = go_cgo();
    let expected = bytes_of(&["-file", &input]);
    memanalyzer(&["-file", &input, "-output", link.to_str().unwrap()]).success();
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("real.prom"));
    assert!(
        fs::read(&real).unwrap() == expected,
        "the file was not replaced"
    );
    assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o640);
    assert_eq!(names_in(dir.path()), ["link.prom", "real.prom"]);
}

/// As with `> FILE`: a new file is readable by others (0666 less the umask), so that
/// node_exporter, running as another user, can read what root wrote.
#[test]
fn a_new_output_file_gets_the_mode_a_shell_redirect_gives() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("new.prom");
    let mut cmd = Command::new(memanalyzer_path());
    cmd.args(["-file", &go_cgo(), "-output", target.to_str().unwrap()]);
    // SAFETY: umask is async-signal-safe and cannot fail.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    assert!(cmd.status().unwrap().success());
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o644);
}

// ---------------------------------------------------------------------------------------------
// Signals during -output
// ---------------------------------------------------------------------------------------------

/// SIGINT, SIGTERM, SIGHUP or SIGQUIT while the output is being written: the temporary file is
/// removed, the process ends by that signal, and the target holds its old contents (or, if the
/// signal came during the rename, the whole new ones). A signal the caller ignores (SIGHUP under
/// `nohup`) stays ignored: the run completes.
#[test]
fn a_signal_while_writing_the_output_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap(); // the child's working directory, for any core file
    let input = temp_file(crate::support::synthetic::synthetic_smaps(20_000));
    let target = dir.path().join("big.json");
    let args = ["-file", path_of(&input), "-all", "-format", "json"];
    let whole = bytes_of(&args);
    let mut interrupted = 0;
    let cases = [
        (Signal::SIGINT, false),
        (Signal::SIGTERM, false),
        (Signal::SIGHUP, false),
        (Signal::SIGQUIT, false),
        (Signal::SIGHUP, true),
    ];
    for (signal, ignored) in cases {
        fs::write(&target, "previous\n").unwrap();
        let mut cmd = Command::new(memanalyzer_path());
        cmd.args(args)
            .args(["-output", target.to_str().unwrap()])
            .current_dir(work.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: setrlimit and signal are async-signal-safe; no core file for SIGQUIT.
        unsafe {
            cmd.pre_exec(move || {
                let none = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &none);
                if ignored {
                    libc::signal(signal as i32, libc::SIG_IGN);
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = std::time::Instant::now() + HANG_GUARD;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status; // ended before its temporary file was seen: no signal sent
            }
            if names_in(dir.path()).len() > 1 {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                kill(pid, signal).unwrap();
                break child.wait().unwrap();
            }
            assert!(std::time::Instant::now() < deadline, "memanalyzer hung");
            std::thread::sleep(std::time::Duration::from_micros(200));
        };
        assert_eq!(
            names_in(dir.path()),
            ["big.json"],
            "{signal}: temporary file left ({status:?})"
        );
        let now = fs::read(&target).unwrap();
        assert!(
            now == b"previous\n" || now == whole,
            "{signal}: the target holds {} bytes of something else",
            now.len()
        );
        if ignored {
            assert!(status.success(), "{signal} ignored: {status:?}");
            assert!(now == whole, "{signal} ignored: the output is not whole");
        } else if status.signal() == Some(signal as i32) {
            interrupted += 1;
        } else {
            assert!(status.success(), "{signal}: {status:?}");
        }
    }
    eprintln!("note: {interrupted} of 4 signals came while the output was written");
    assert!(
        interrupted >= 2,
        "only {interrupted} of 4 signals came while the output was written"
    );
}
