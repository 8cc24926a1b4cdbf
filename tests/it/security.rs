//! memanalyzer faced with a hostile or broken target: names chosen by the analyzed process (or
//! bytes in a file) never reach the terminal unescaped, bad input ends with one clear error and
//! bounded memory, and the target is only ever read — never written, signalled or traced.
//!
//! Peak memory is measured with `wait4(2)`'s `ru_maxrss` by a small helper process,
//! `examples/peak_rss.rs` (see there why it cannot be this test process).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::support::prelude::*;
use crate::support::runtime_program::{python3, python_objects_script, RuntimeProgram};
use crate::support::synthetic;
use crate::support::system::require_program;

/// No single run may take longer than this; it only stops a hung test, it asserts no timing.
const HANG_GUARD: Duration = Duration::from_secs(180);
/// The most memanalyzer may use on any input in top-N mode (its peak RSS, in KiB).
const PEAK_RSS_LIMIT_KIB: u64 = 16 * 1024;
/// The most memory memanalyzer may add, in the default mode with its default (text) output,
/// to what it uses at rest (on a tiny input), whatever the names in the input (in KiB). The
/// tests run the debug binary, which needs about 3.3 MiB here on 60 KB names (its larger code
/// touches more pages) and up to 0.4 MiB more when the machine is busy (the read-ahead thread
/// then fills more of its buffers); the release binary's peak on the same inputs is measured
/// against issue 15's 8 MiB by `scripts/bench.sh` (7.1 MiB at most). The bound catches what
/// matters: names kept per region or per group would add hundreds of MiB.
const DEFAULT_MODE_WORKING_KIB: u64 = 4096;
/// Endless input stops after this many bytes if memanalyzer keeps reading.
const ENDLESS_INPUT_LIMIT: u64 = 100 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Characters that are not control characters but that a terminal obeys: they reorder what
/// follows ("Trojan Source": U+202E writes `gpj.exe` as `exe.jpg`) or break the line.
const LAYOUT_CONTROLS: [char; 15] = [
    '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}', '\u{85}',
];

/// Checks that `bytes` are text a terminal cannot act on: UTF-8 with no control character
/// (C0 such as ESC, BEL and CR, DEL, or C1 such as U+009B CSI) other than the line end, and
/// none of the [`LAYOUT_CONTROLS`].
fn assert_terminal_safe(what: &str, bytes: &[u8]) -> String {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|error| {
        panic!(
            "{what} is not UTF-8 ({error}): {:?}",
            String::from_utf8_lossy(bytes)
        )
    });
    if let Some((at, c)) = text
        .char_indices()
        .find(|&(_, c)| (c.is_control() && c != '\n') || LAYOUT_CONTROLS.contains(&c))
    {
        panic!("{what} holds the control character {c:?} at byte {at}: {text:?}");
    }
    text.to_string()
}

/// Checks that raw JSON output holds no C0 control byte but line ends (JSON escapes them all).
fn assert_no_raw_c0(what: &str, bytes: &[u8]) {
    if let Some(at) = bytes.iter().position(|&b| b < 0x20 && b != b'\n') {
        panic!(
            "{what} holds the raw byte {:#04x} at {at}: {:?}",
            bytes[at],
            String::from_utf8_lossy(bytes)
        );
    }
}

/// Waits for `child` for at most `limit`, killing it (and failing) if it hangs.
fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}; killed");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn read_all_in_background(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut data = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut data);
        }
        data
    })
}

/// `cmd.output()` with a hang guard; stdin is /dev/null.
fn output_bounded(cmd: &mut Command, what: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
    let stdout = read_all_in_background(child.stdout.take());
    let stderr = read_all_in_background(child.stderr.take());
    let status = wait_bounded(&mut child, HANG_GUARD, what);
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

// ---------------------------------------------------------------------------------------------
// Running memanalyzer with its peak memory measured
// ---------------------------------------------------------------------------------------------

/// What memanalyzer gets on standard input.
enum Feed {
    /// /dev/null.
    Nothing,
    /// These bytes, then end of input.
    Bytes(Vec<u8>),
    /// `prefix`, then `unit` over and over until memanalyzer stops reading or
    /// [`ENDLESS_INPUT_LIMIT`] bytes were written.
    Endless { prefix: Vec<u8>, unit: Vec<u8> },
}

impl Feed {
    /// Writes into `stdin` until done or the reader goes away; returns the bytes written.
    fn write(self, mut stdin: ChildStdin) -> u64 {
        let mut written = 0u64;
        match self {
            Feed::Nothing => {}
            Feed::Bytes(data) => {
                send(&mut stdin, &data, &mut written);
            }
            Feed::Endless { prefix, unit } => {
                let block: Vec<u8> = unit.iter().copied().cycle().take(64 * 1024).collect();
                if send(&mut stdin, &prefix, &mut written) {
                    while written < ENDLESS_INPUT_LIMIT && send(&mut stdin, &block, &mut written) {}
                }
            }
        }
        written
    }
}

/// Writes `data`, counting into `written`; false once the reader has gone away (EPIPE).
fn send(stdin: &mut ChildStdin, data: &[u8], written: &mut u64) -> bool {
    for chunk in data.chunks(64 * 1024) {
        if stdin.write_all(chunk).is_err() {
            return false;
        }
        *written += chunk.len() as u64;
    }
    true
}

/// One memanalyzer run, with its peak resident set size.
struct Measured {
    /// The exit code (`None` if a signal ended it).
    code: Option<i32>,
    /// `ru_maxrss` from `wait4`, in KiB.
    max_rss_kib: u64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Bytes written to its standard input before it stopped reading.
    stdin_written: u64,
}

impl Measured {
    /// Asserts exit 1 with one `memanalyzer: error:` line; returns the line.
    fn runtime_error(&self) -> String {
        assert_eq!(self.code, Some(1), "{}", self.describe());
        assert!(self.stdout.is_empty(), "{}", self.describe());
        let stderr = assert_terminal_safe("stderr", &self.stderr);
        assert_one_error_line(&stderr)
    }

    fn assert_bounded_memory(&self) {
        assert!(
            self.max_rss_kib < PEAK_RSS_LIMIT_KIB,
            "peak RSS {} KiB, limit {PEAK_RSS_LIMIT_KIB} KiB: {}",
            self.max_rss_kib,
            self.describe()
        );
    }

    fn describe(&self) -> String {
        format!(
            "exit {:?}, peak RSS {} KiB, {} bytes written to stdin, stderr {:?}, stdout {} bytes",
            self.code,
            self.max_rss_kib,
            self.stdin_written,
            String::from_utf8_lossy(&self.stderr),
            self.stdout.len()
        )
    }
}

/// Runs `memanalyzer ARGS…` with `feed` on its stdin and measures its peak RSS.
fn run_measured(args: &[&str], feed: Feed) -> Measured {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(peak_rss_path());
    cmd.arg(dir.path())
        .arg(memanalyzer_path())
        .args(args)
        .stdin(match feed {
            Feed::Nothing => Stdio::null(),
            _ => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut helper = cmd.spawn().expect("start examples/peak_rss");
    let writer = helper
        .stdin
        .take()
        .map(|stdin| thread::spawn(move || feed.write(stdin)));
    let log = read_all_in_background(helper.stdout.take());
    let log_err = read_all_in_background(helper.stderr.take());
    let status = wait_bounded(
        &mut helper,
        HANG_GUARD + Duration::from_secs(30),
        "peak_rss",
    );
    let stdin_written = writer.map_or(0, |writer| writer.join().expect("stdin writer"));
    let (log, log_err) = (log.join().unwrap(), log_err.join().unwrap());
    let result = fs::read_to_string(dir.path().join("result")).unwrap_or_else(|error| {
        panic!(
            "peak_rss left no result ({error}); it ended with {status:?}:\n{}\n{}",
            String::from_utf8_lossy(&log),
            String::from_utf8_lossy(&log_err)
        )
    });
    let fields: Vec<&str> = result.split_whitespace().collect();
    let [how, value, max_rss_kib] = fields[..] else {
        panic!("unexpected peak_rss result {result:?}");
    };
    Measured {
        code: (how == "exit").then(|| value.parse().unwrap()),
        max_rss_kib: max_rss_kib.parse().unwrap(),
        stdout: fs::read(dir.path().join("stdout")).unwrap(),
        stderr: fs::read(dir.path().join("stderr")).unwrap(),
        stdin_written,
    }
}

// ---------------------------------------------------------------------------------------------
// Names chosen by the target never reach the terminal unescaped
// ---------------------------------------------------------------------------------------------

/// The workload's `--file-name`: an escape sequence, BEL, DEL, TAB, CR, the C1 control CSI
/// (U+009B, which some terminals obey) and a byte that is not UTF-8.
const HOSTILE_NAME: &[u8] = b"evil\x1b[31m\x07\x7f\t\r-\xc2\x9b-name\xff";
/// [`HOSTILE_NAME`] as the text output shows it.
const HOSTILE_NAME_ESCAPED: &str = r"evil\x1b[31m\x07\x7f\x09\x0d-\xc2\x9b-name\xff";
/// [`HOSTILE_NAME`] as a JSON string holds it (after parsing): valid UTF-8 kept, `\xff` as text.
const HOSTILE_NAME_JSON: &str = "evil\u{1b}[31m\u{7}\u{7f}\t\r-\u{9b}-name\\xff";

#[test]
fn a_hostile_file_name_is_escaped_in_text_and_exact_in_json() {
    let marker = format!("memanalyzer-security-{}-", std::process::id());
    let mut name = marker.clone().into_bytes();
    name.extend_from_slice(HOSTILE_NAME);
    let name = OsString::from_vec(name);
    let workload = Workload::spawn_os(&[OsStr::new("--file-name"), &name]);
    let pid = workload.pid_arg();

    let assert = memanalyzer_cmd()
        .args(["-pid", &pid, "-all"])
        .assert()
        .success();
    let output = assert.get_output();
    assert_eq!(utf8(&output.stderr), "");
    let stdout = &output.stdout;
    for byte in [0x1b, 0x07, 0x7f] {
        assert!(
            !stdout.contains(&byte),
            "raw {byte:#04x} in {:?}",
            String::from_utf8_lossy(stdout)
        );
    }
    assert!(
        !stdout.windows(2).any(|pair| pair == [0xc2, 0x9b]),
        "raw U+009B in {:?}",
        String::from_utf8_lossy(stdout)
    );
    let text = assert_terminal_safe("text output", stdout);
    let rows: Vec<&str> = table_rows(&text)
        .into_iter()
        .filter(|row| row.contains(&marker))
        .collect();
    assert_eq!(rows.len(), 1, "the mapped file's row in:\n{text}");
    let expected = format!("/{marker}{HOSTILE_NAME_ESCAPED}");
    assert!(
        rows[0].ends_with(&expected),
        "{:?} should end with {expected:?}",
        rows[0]
    );

    let assert = memanalyzer_cmd()
        .args(["-pid", &pid, "-all", "-format", "json"])
        .assert()
        .success();
    let raw = &assert.get_output().stdout;
    assert!(!raw.contains(&0x1b), "{:?}", String::from_utf8_lossy(raw));
    assert_no_raw_c0("JSON output", raw);
    let doc = json(raw);
    let names: Vec<&str> = top_regions(&doc)
        .iter()
        .filter_map(|region| region["name"].as_str())
        .filter(|name| name.contains(&marker))
        .collect();
    assert_eq!(names.len(), 1, "{:#}", doc["top_regions"]);
    let expected = format!("/{marker}{HOSTILE_NAME_JSON}");
    assert!(
        names[0].ends_with(&expected),
        "{:?} should end with {expected:?}",
        names[0]
    );
    assert!(names[0].contains('\u{1b}') && names[0].ends_with("-name\\xff"));
}

#[test]
fn control_bytes_in_a_files_path_are_escaped_in_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = OsStr::from_bytes(b"p\x1b]0;x\x07\x7f\t\xc2\x9b\xff");
    let escaped = r"p\x1b]0;x\x07\x7f\x09\xc2\x9b\xff";
    let sub = dir.path().join(hostile);
    fs::create_dir(&sub).unwrap();
    let run = |path: &Path, args: &[&str]| {
        let mut cmd = memanalyzer_cmd();
        cmd.arg("-file").arg(path).args(args);
        cmd
    };

    // Errors naming the path: missing file, a directory, a file that is not smaps.
    let garbage = sub.join("garbage.smaps");
    fs::write(&garbage, "hello\n").unwrap();
    for (path, about) in [
        (sub.join("missing.smaps"), "no such file"),
        (sub.clone(), "directory"),
        (garbage, "not valid smaps text"),
    ] {
        let line = runtime_error_of(&mut run(&path, &[]));
        assert_terminal_safe("the error line", line.as_bytes());
        assert!(line.contains(about), "{line}");
        assert!(
            line.contains(escaped),
            "{line:?} should contain {escaped:?}"
        );
    }

    // A warning naming the path, and the report's `Source:` line.
    let cut = sub.join("cut.smaps");
    let sample = sample_smaps();
    fs::write(&cut, &sample[..sample.len() - 5]).unwrap();
    let assert = run(&cut, &[]).assert().success();
    let stderr = assert_terminal_safe("stderr", &assert.get_output().stderr);
    assert!(
        stderr.starts_with("memanalyzer: warning: ") && stderr.contains(escaped),
        "{stderr:?}"
    );
    let stdout = assert_terminal_safe("stdout", &assert.get_output().stdout);
    let source = stdout.lines().next().unwrap();
    assert!(
        source.starts_with("Source: ") && source.contains(escaped),
        "{source:?}"
    );

    let assert = run(&cut, &["-format", "json"]).assert().success();
    assert_terminal_safe("stderr", &assert.get_output().stderr);
    let raw = &assert.get_output().stdout;
    assert_no_raw_c0("JSON output", raw);
    let doc = json(raw);
    let path = doc["source"]["path"].as_str().expect("source.path");
    assert!(path.ends_with("/cut.smaps"), "{path:?}");
    assert_eq!(doc["warnings"].as_array().map(Vec::len), Some(1), "{doc:#}");
}

/// Bidirectional overrides and line separators in a region's name, a mapped file's path, the
/// process's comm and executable, a `-file` path and a named region: text shows them as the
/// bytes of their UTF-8 (`\xe2\x80\xae`), as it does control characters; JSON escapes them
/// (`\u202e`), so the raw output holds none, and parses back to the exact name.
#[test]
fn bidirectional_overrides_and_line_separators_are_escaped_everywhere() {
    use std::os::unix::fs::PermissionsExt;

    let dir = exec_tempdir();
    let program = dir.path().join("wl\u{202e}\u{2028}x");
    fs::copy(workload_path(), &program).expect("copy the workload");
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let marker = format!("memanalyzer-bidi-{}-", std::process::id());
    let file_name = format!("{marker}gpj\u{2067}\u{200f}.exe\u{2029}");
    let workload = Workload::spawn_program(&program, &["--file-name", &file_name]);
    let pid = workload.pid_arg();

    let text = assert_terminal_safe("text output", &bytes_of(&["-pid", &pid, "-all"]));
    let source = text.lines().next().unwrap();
    assert!(
        source.contains(r"wl\xe2\x80\xae\xe2\x80\xa8x"),
        "comm and exe not escaped: {source:?}"
    );
    let escaped_file = format!(r"{marker}gpj\xe2\x81\xa7\xe2\x80\x8f.exe\xe2\x80\xa9");
    assert!(
        table_rows(&text)
            .iter()
            .any(|row| row.ends_with(&escaped_file)),
        "no row ends with {escaped_file:?}:\n{text}"
    );
    assert_terminal_safe("-ps", &bytes_of(&["-ps"]));
    assert_terminal_safe(
        "Prometheus",
        &bytes_of(&["-pid", &pid, "-format", "prometheus"]),
    );

    let raw = bytes_of(&["-pid", &pid, "-all", "-format", "json"]);
    let doc = json(assert_terminal_safe("JSON output", &raw).as_bytes());
    assert_eq!(doc["source"]["comm"], "wl\u{202e}\u{2028}x");
    assert!(top_regions(&doc)
        .iter()
        .any(|region| region["name"].as_str().unwrap().ends_with(&file_name)));

    // A saved file's path in an error, and a named region in the breakdown.
    let sub = tempfile::tempdir().unwrap();
    let hostile_dir = sub.path().join("rtl\u{202e}\u{2066}");
    fs::create_dir(&hostile_dir).unwrap();
    let line = runtime_error_of(
        memanalyzer_cmd()
            .arg("-file")
            .arg(hostile_dir.join("missing.smaps")),
    );
    assert_terminal_safe("the error line", line.as_bytes());
    assert!(line.contains(r"rtl\xe2\x80\xae\xe2\x81\xa6"), "{line}");
    let named = sample_smaps().replace("[anon:TXMetaCache]", "[anon:cache\u{202e}\u{85}]");
    let file = temp_file(named);
    let text = assert_terminal_safe("text output", &bytes_of(&["-file", path_of(&file)]));
    assert!(text.contains(r"cache\xe2\x80\xae\xc2\x85"), "{text}");
}

#[test]
fn input_quoted_in_a_parse_error_is_escaped() {
    let hostile_header = b"\x1b]2;owned\x07\x00\xc2\x9b\x7f\xff 00400000\n".to_vec();
    let mut hostile_field = Vec::new();
    let mut replaced = false;
    for line in sample_smaps().lines() {
        if line.starts_with("Rss:") && !replaced {
            replaced = true;
            hostile_field.extend_from_slice(b"Rss:   \x1b[2J\x07\xc2\x9b kB");
        } else {
            hostile_field.extend_from_slice(line.as_bytes());
        }
        hostile_field.push(b'\n');
    }
    let hostile_first_field = b"Rss:\x1b[31m\x07 4 kB\n".to_vec();
    for (input, quoted) in [
        (hostile_header, r"\x1b]2;owned\x07\x00\xc2\x9b\x7f\xff"),
        (hostile_field, r"\x1b[2J\x07\xc2\x9b"),
        (hostile_first_field, r"\x1b[31m\x07"),
    ] {
        let file = temp_file(&input);
        let line = runtime_error(&["-file", path_of(&file)]);
        assert_terminal_safe("the error line", line.as_bytes());
        assert!(line.contains("not valid smaps text"), "{line}");
        assert!(line.contains(quoted), "{line:?} should quote {quoted:?}");
        // The same through standard input.
        let line = runtime_error_of(memanalyzer_cmd().args(["-file", "-"]).write_stdin(input));
        assert_terminal_safe("the error line", line.as_bytes());
        assert!(line.contains(quoted), "{line:?} should quote {quoted:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input: one clear error, bounded memory
// ---------------------------------------------------------------------------------------------

const MIB: usize = 1024 * 1024;

#[test]
fn a_10_mib_line_is_rejected_with_bounded_memory() {
    let file = temp_file(vec![b'a'; 10 * MIB]);
    let run = run_measured(&["-file", path_of(&file)], Feed::Nothing);
    let line = run.runtime_error();
    assert!(line.contains("line 1 is longer than 64 KiB"), "{line}");
    run.assert_bounded_memory();

    // The same as a mapping's name, after a complete record.
    let mut text = sample_smaps().into_bytes();
    text.extend_from_slice(b"7fff00000000-7fff00001000 r--p 00000000 00:00 0 /");
    text.extend(std::iter::repeat_n(b'x', 10 * MIB));
    text.push(b'\n');
    let file = temp_file(&text);
    let run = run_measured(&["-file", path_of(&file)], Feed::Nothing);
    let line = run.runtime_error();
    let header_line = sample_smaps().lines().count() + 1;
    assert!(
        line.contains(&format!("line {header_line} is longer than 64 KiB")),
        "{line}"
    );
    run.assert_bounded_memory();
}

#[test]
fn endless_input_without_a_newline_stops_early_with_bounded_memory() {
    let feed = Feed::Endless {
        prefix: Vec::new(),
        unit: b"a".to_vec(),
    };
    let run = run_measured(&["-file", "-"], feed);
    let line = run.runtime_error();
    assert!(line.contains("line 1 is longer than 64 KiB"), "{line}");
    assert!(
        run.stdin_written < ENDLESS_INPUT_LIMIT,
        "memanalyzer read the whole endless line: {}",
        run.describe()
    );
    run.assert_bounded_memory();
}

#[test]
fn an_endless_record_stops_early_with_bounded_memory() {
    // A header, then field lines for ever: no record boundary ever comes.
    let feed = Feed::Endless {
        prefix: b"00400000-00401000 r--p 00000000 00:00 0 /x\n".to_vec(),
        unit: b"Rss:                   4 kB\n".to_vec(),
    };
    let run = run_measured(&["-file", "-"], feed);
    let line = run.runtime_error();
    assert!(
        line.contains("line 1") && line.contains("longer than"),
        "{line}"
    );
    assert!(
        run.stdin_written < ENDLESS_INPUT_LIMIT,
        "memanalyzer read the whole endless record: {}",
        run.describe()
    );
    run.assert_bounded_memory();
}

#[test]
fn long_names_up_to_the_line_limit_are_analyzed() {
    // A 4000-byte path (PATH_MAX is 4096).
    let long: String = "/data/".to_string() + &"segment-0123456789/".repeat(210);
    let long = format!("{long}{}", "f".repeat(4000 - long.len()));
    assert_eq!(long.len(), 4000);
    let file = temp_file(sample_with_name(&long));
    let assert = memanalyzer(&["-file", path_of(&file), "-all", "-format", "json"])
        .success()
        .stderr("");
    let doc = json(&assert.get_output().stdout);
    assert_eq!(
        u64_at(&doc, "/totals/regions"),
        SAMPLE_REGIONS.len() as u64 + 1
    );
    assert!(
        top_regions(&doc)
            .iter()
            .any(|region| region["name"] == long),
        "the 4000-byte name is missing or cut"
    );
    let text = stdout_of(&["-file", path_of(&file), "-all"]);
    assert!(
        table_rows(&text).iter().any(|row| row.ends_with(&long)),
        "{text}"
    );

    // A header line of exactly MAX_LINE_BYTES is accepted; one byte more is not.
    let header_len = |name: &str| smaps_record(0x7ffe_0000_0000, 8, "r--p", name, 8, 0).find('\n');
    let prefix = header_len("/").unwrap() - 1;
    let at_limit = format!("/{}", "y".repeat(64 * 1024 - prefix - 1));
    assert_eq!(header_len(&at_limit), Some(64 * 1024));
    let file = temp_file(sample_with_name(&at_limit));
    let doc = json_of(&["-file", path_of(&file), "-all", "-format", "json"]);
    assert!(top_regions(&doc)
        .iter()
        .any(|region| region["name"] == at_limit));

    let over = format!("{at_limit}y");
    let file = temp_file(sample_with_name(&over));
    let line = runtime_error(&["-file", path_of(&file)]);
    assert!(line.contains("longer than 64 KiB"), "{line}");
}

#[test]
fn two_hundred_thousand_regions_stream_through_bounded_memory() {
    const REGIONS: usize = 200_000;
    let run = run_measured(
        &["-file", "-"],
        Feed::Bytes(synthetic::synthetic_smaps(REGIONS)),
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(utf8(&run.stderr), "");
    let text = utf8(&run.stdout);
    assert_eq!(regions_total(&text), REGIONS as u64);
    assert_eq!(table_rows(&text).len(), 20, "{text}");
    eprintln!(
        "note: peak RSS for {REGIONS} regions: {} KiB",
        run.max_rss_kib
    );
    run.assert_bounded_memory();
}

/// `-all` keeps every region until the input has ended (the listing is sorted by size): each
/// costs a packed row of 64 bytes and its name (once for a run of regions of one name). Owned
/// copies of every region once cost about 200 bytes each plus a copy of each name.
#[test]
fn every_region_listed_costs_a_bounded_few_bytes() {
    const REGIONS: usize = 120_000;
    const MOST_BYTES_PER_REGION: u64 = 120;
    let input = synthetic::synthetic_smaps(REGIONS);
    let top = run_measured(&["-file", "-"], Feed::Bytes(input.clone()));
    assert_eq!(top.code, Some(0), "{}", top.describe());
    let all = run_measured(&["-file", "-", "-all"], Feed::Bytes(input));
    assert_eq!(all.code, Some(0), "{}", all.describe());
    assert_eq!(table_rows(&utf8(&all.stdout)).len(), REGIONS);
    let per_region = all.max_rss_kib.saturating_sub(top.max_rss_kib) * 1024 / REGIONS as u64;
    eprintln!(
        "note: -all costs {per_region} bytes per region (peak RSS {} KiB for {REGIONS} regions, \
         {} KiB without -all)",
        all.max_rss_kib, top.max_rss_kib
    );
    assert!(
        per_region <= MOST_BYTES_PER_REGION,
        "-all costs {per_region} bytes per region, at most {MOST_BYTES_PER_REGION} expected: {}",
        all.describe()
    );
}

/// The inputs of distinct names the reliability issue lists, smaller: what they are, how many
/// regions, and the smaps text (each region's name is distinct letters in a prefix and suffix).
fn hostile_names() -> impl Iterator<Item = (&'static str, usize, Vec<u8>)> {
    let long = "x".repeat(60_000);
    [
        ("anonymous names", 100_000, "[anon:", "]".to_string()),
        ("file paths", 100_000, "/data/", String::new()),
        ("60 KB anonymous names", 300, "[anon:", format!("{long}]")),
        ("60 KB file paths", 300, "/data/", long),
    ]
    .into_iter()
    .map(|(what, regions, prefix, suffix)| {
        let name = |i| format!("{prefix}{}{suffix}", synthetic::letters(i));
        (
            what,
            regions,
            synthetic::distinct_names_smaps(regions, name),
        )
    })
}

/// A million distinct names once cost a million groups (563 MiB for `[anon:…]` names, 900 MiB
/// for 3,000 names of 60 KB). In the default mode the largest groups are kept and the rest is
/// summed in `[other names]`: memory stays bounded, and every region is still counted once.
#[test]
fn distinct_names_stream_through_bounded_memory() {
    for (what, regions, input) in hostile_names() {
        let run = run_measured(&["-file", "-", "-format", "json"], Feed::Bytes(input));
        assert_eq!(run.code, Some(0), "{what}: {}", run.describe());
        eprintln!(
            "note: peak RSS for {regions} distinct {what}: {} KiB",
            run.max_rss_kib
        );
        run.assert_bounded_memory();
        let doc = json(&run.stdout);
        assert_eq!(u64_at(&doc, "/totals/regions"), regions as u64, "{what}");
        assert_json_sums_are_consistent(&doc);
        assert_keys_unique(&doc);
        if what.contains("anonymous") {
            let other = category_by_id(&doc, "named.other").expect("a remainder");
            let shown = section(&doc, "Named Memory Regions (mmap)").unwrap()["categories"]
                .as_array()
                .unwrap()
                .len();
            assert!(shown <= 257, "{what}: {shown} named categories");
            assert_eq!(
                u64_at(other, "/regions") + shown as u64 - 1,
                regions as u64,
                "{what}: each name not shown is in the remainder"
            );
        }
    }
}

/// The default mode and output stay under 8 MiB whatever the names: many distinct names, and
/// names of 60 KB (the longest line is 64 KiB), anonymous or paths, add at most
/// [`DEFAULT_MODE_WORKING_KIB`] to the peak of a tiny input. The regions' count, the 20-row
/// listing and the remainder line are checked too, so a run that gave up early cannot pass.
#[test]
fn the_default_mode_stays_under_8_mib_on_hostile_names() {
    // The least peak of three runs: what a run needs, without the few hundred KiB a busy machine
    // sometimes adds (a peak can only be raised by the scheduling of the read-ahead thread).
    let least_peak = |input: Vec<u8>| {
        (0..3)
            .map(|_| run_measured(&["-file", "-"], Feed::Bytes(input.clone())))
            .min_by_key(|run| run.max_rss_kib)
            .expect("three runs")
    };
    let at_rest = least_peak(synthetic::synthetic_smaps(20));
    assert_eq!(at_rest.code, Some(0), "{}", at_rest.describe());
    for (what, regions, input) in hostile_names() {
        let run = least_peak(input);
        assert_eq!(run.code, Some(0), "{what}: {}", run.describe());
        let working = run.max_rss_kib.saturating_sub(at_rest.max_rss_kib);
        eprintln!(
            "note: default mode, {regions} distinct {what}: peak RSS {} KiB, {working} KiB \
             above the {} KiB at rest",
            run.max_rss_kib, at_rest.max_rss_kib
        );
        assert!(
            working <= DEFAULT_MODE_WORKING_KIB,
            "{what}: {working} KiB above the {} KiB at rest, limit {DEFAULT_MODE_WORKING_KIB} \
             KiB: {}",
            at_rest.max_rss_kib,
            run.describe()
        );
        let text = utf8(&run.stdout);
        assert_eq!(regions_total(&text), regions as u64, "{what}");
        assert_eq!(table_rows(&text).len(), 20, "{what}");
        if what.contains("anonymous") {
            assert!(text.contains("[other names]"), "{what}: no remainder line");
        }
    }
}

/// A deterministic stream of bytes with every value, NUL included.
fn pseudo_random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn garbage_on_stdin_is_rejected_with_bounded_memory() {
    // Random bytes (NULs, ESC, invalid UTF-8, a newline every 256 bytes or so), past the first
    // read-ahead buffer.
    let mut garbage = b"\x00\x00\x1b[2J\x00".to_vec();
    garbage.extend(pseudo_random_bytes(4 * MIB));
    let run = run_measured(&["-file", "-"], Feed::Bytes(garbage));
    let line = run.runtime_error();
    assert!(
        line.contains("line 1") && line.contains("not valid smaps text"),
        "{line}"
    );
    assert!(line.contains(r"\x00\x00\x1b[2J\x00"), "{line}");
    run.assert_bounded_memory();

    // Nothing but NULs: no line end at all.
    let run = run_measured(&["-file", "-"], Feed::Bytes(vec![0; 4 * MIB]));
    let line = run.runtime_error();
    assert!(line.contains("line 1 is longer than 64 KiB"), "{line}");
    run.assert_bounded_memory();
}

#[test]
fn no_standard_input_at_all_is_an_empty_input() {
    // /dev/null, as in CI and cron jobs.
    let output = output_bounded(
        Command::new(memanalyzer_path()).args(["-file", "-"]),
        "memanalyzer",
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let line = assert_one_error_line(&assert_terminal_safe("stderr", &output.stderr));
    assert!(line.contains("empty"), "{line}");

    // Descriptor 0 not open at all.
    let mut cmd = Command::new(memanalyzer_path());
    cmd.args(["-file", "-"]);
    // SAFETY: close(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(0);
            Ok(())
        });
    }
    let output = output_bounded(&mut cmd, "memanalyzer");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_one_error_line(&assert_terminal_safe("stderr", &output.stderr));
}

// ---------------------------------------------------------------------------------------------
// Read-only toward the target
// ---------------------------------------------------------------------------------------------

/// Opens, and every call that could signal, trace or touch another process's memory. `?`: no
/// error if this architecture or strace version does not know the call.
const TRACED: [&str; 15] = [
    "openat",
    "?open",
    "?openat2",
    "?creat",
    "ptrace",
    "kill",
    "?tkill",
    "tgkill",
    "?rt_sigqueueinfo",
    "?rt_tgsigqueueinfo",
    "?pidfd_send_signal",
    "?pidfd_getfd",
    "process_vm_readv",
    "process_vm_writev",
    "?process_madvise",
];
const OPENS: [&str; 4] = ["openat", "open", "openat2", "creat"];

/// One system call from `strace -f -y` output: its name and its arguments' text.
struct TracedCall<'a> {
    line: &'a str,
    name: &'a str,
    args: &'a str,
}

fn parse_trace(trace: &str) -> Vec<TracedCall<'_>> {
    trace
        .lines()
        .filter_map(|line| {
            let rest = line
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            if let Some(resumed) = rest.strip_prefix("<... ") {
                // `<... openat resumed>) = 3`: the arguments were on the `<unfinished ...>` line.
                let name = resumed.split_whitespace().next()?;
                return Some(TracedCall {
                    line,
                    name,
                    args: "",
                });
            }
            let (name, args) = rest.split_once('(')?;
            let is_name =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            is_name.then_some(TracedCall { line, name, args })
        })
        .collect()
}

/// The quoted string at the start of `text` (strace's C escapes left as they are) and the text
/// after it.
fn quoted_prefix(text: &str) -> Option<(&str, &str)> {
    let body = text.strip_prefix('"')?;
    let mut escaped = false;
    for (at, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some((&body[..at], &body[at + 1..])),
            _ => {}
        }
    }
    None
}

/// The absolute path an open call names (made absolute with `-y`'s `FD</dir>` annotation) and
/// the text of its flags.
fn opened_path(call: &TracedCall<'_>, cwd: &Path) -> Option<(String, String)> {
    let (dir_fd, rest) = if matches!(call.name, "open" | "creat") {
        ("", call.args)
    } else {
        let at = call.args.find(", \"")?;
        (&call.args[..at], &call.args[at + 2..])
    };
    let (path, after) = quoted_prefix(rest)?;
    let flags_end = after
        .find(") = ")
        .or_else(|| after.find(" <unfinished"))
        .unwrap_or(after.len());
    let flags = after[..flags_end].to_string();
    if path.starts_with('/') {
        return Some((path.to_string(), flags));
    }
    let base = match dir_fd.split_once('<') {
        Some((_, dir)) => dir.strip_suffix('>')?.to_string(),
        None => cwd.to_str()?.to_string(),
    };
    Some((format!("{base}/{path}"), flags))
}

/// The state letter and `TracerPid` of a live process.
fn state_and_tracer(pid: i32) -> (char, String) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let state = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .next()
        .and_then(|state| state.chars().next())
        .expect("a state letter");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let tracer = status
        .lines()
        .find_map(|line| line.strip_prefix("TracerPid:"))
        .expect("a TracerPid line")
        .trim()
        .to_string();
    (state, tracer)
}

#[test]
fn the_target_is_opened_read_only_and_never_signalled_or_traced() {
    let workload = Workload::spawn(&["--mappings", "50", "--threads", "2", "--memfd-kb", "64"]);
    let args = ["-pid", &workload.pid_arg(), "-all", "-format", "json"];
    let trace = or_skip!(trace_memanalyzer(workload.pid, &args));
    assert_read_only(workload.pid, &trace, HeaderReads::None);
}

/// In a CPython process memanalyzer reads pymalloc's pool headers (and malloc's at the start
/// of a block): with `process_vm_readv` (which neither stops nor attaches), 48 or 16 bytes at a
/// time, from this process only, and after opening pagemap read-only. With
/// `-no-memory-reads`, not at all.
#[test]
fn in_a_cpython_process_only_pool_headers_are_read() {
    let python = or_skip!(python3());
    let mut command = Command::new(python);
    command.arg(python_objects_script());
    let program = RuntimeProgram::spawn(command);
    let pid = program.pid.to_string();
    let trace = or_skip!(trace_memanalyzer(
        program.pid,
        &["-pid", &pid, "-format", "json"]
    ));
    assert_read_only(program.pid, &trace, HeaderReads::PoolHeaders);
    let args = ["-pid", &pid, "-format", "json", "-no-memory-reads"];
    let trace = or_skip!(trace_memanalyzer(program.pid, &args));
    assert_read_only(program.pid, &trace, HeaderReads::None);
}

/// Which reads of the target's memory a trace may show.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HeaderReads {
    None,
    /// `process_vm_readv` of headers (CPython's pools', malloc's blocks').
    PoolHeaders,
}

/// The trace of `memanalyzer ARGS` (JSON output) analyzing `pid` under `strace`, of the calls
/// in [`TRACED`]; an error (to skip) when strace cannot trace here.
fn trace_memanalyzer(pid: i32, args: &[&str]) -> Result<String, String> {
    let strace = require_program("strace", "strace")?;
    if state_and_tracer(pid).1 != "0" {
        return Err(
            "the test itself runs under a tracer (strace -f, gdb), so strace cannot trace".into(),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("trace");
    let output = output_bounded(
        Command::new(&strace)
            .args(["-f", "-qq", "-y", "-e"])
            .arg(format!("trace={}", TRACED.join(",")))
            .arg("-o")
            .arg(&trace_path)
            .arg(memanalyzer_path())
            .args(args)
            // Relative paths in the trace are then relative to `/`.
            .current_dir("/"),
        "strace memanalyzer",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success()
        && stderr.starts_with("strace:")
        && (stderr.contains("ptrace") || stderr.contains("Operation not permitted"))
    {
        return Err(format!(
            "strace cannot trace here, ptrace is not allowed ({stderr})"
        ));
    }
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stderr, "", "{output:?}");
    let doc = json(&output.stdout);
    assert_eq!(doc["source"]["pid"], pid);
    Ok(fs::read_to_string(&trace_path).expect("the strace log"))
}

/// The trace opened the target's files read-only, never traced or signalled it, read its
/// memory only as `reads` allows, and left it running untraced.
fn assert_read_only(pid: i32, trace: &str, reads: HeaderReads) {
    let target = format!("/proc/{pid}");
    let mut target_opens = Vec::new();
    let mut violations = Vec::new();
    let mut header_reads = 0;
    for call in parse_trace(trace) {
        if call.name == "process_vm_readv" && reads == HeaderReads::PoolHeaders {
            header_reads += 1;
            if let Some(problem) = not_a_pool_header_read(&call, pid) {
                violations.push(format!("{problem}: {}", call.line));
            }
            continue;
        }
        if !OPENS.contains(&call.name) {
            violations.push(format!("forbidden call: {}", call.line));
            continue;
        }
        if call.args.is_empty() {
            continue; // `<... openat resumed>`
        }
        let Some((path, flags)) = opened_path(&call, Path::new("/")) else {
            violations.push(format!("cannot read this open call: {}", call.line));
            continue;
        };
        if path != target && !path.starts_with(&format!("{target}/")) {
            continue;
        }
        let read_only = flags.contains("O_RDONLY")
            && !["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
                .iter()
                .any(|flag| flags.contains(flag));
        if !read_only {
            violations.push(format!("not read-only: {}", call.line));
        }
        if path.ends_with("/mem") {
            violations.push(format!("opens the target's memory file: {}", call.line));
        }
        if path.ends_with("/pagemap") && reads == HeaderReads::None {
            violations.push(format!("reads pagemap: {}", call.line));
        }
        target_opens.push(path);
    }
    assert!(
        violations.is_empty(),
        "{violations:#?}\nwhole trace:\n{trace}"
    );
    assert!(
        target_opens.contains(&format!("{target}/smaps")),
        "the trace shows no open of {target}/smaps; is it complete?\n{trace}"
    );
    if reads == HeaderReads::PoolHeaders {
        assert!(header_reads > 0, "no pool header was read:\n{trace}");
    }

    // The target runs on, untraced and unstopped.
    let (state, tracer) = state_and_tracer(pid);
    assert!(matches!(state, 'S' | 'R'), "state {state:?}");
    assert_eq!(tracer, "0");
}

/// The headers memanalyzer reads in a CPython process: pymalloc's pools' (48 bytes), and
/// glibc's malloc's at the start of a block it mapped (16 bytes).
const HEADER_LENGTHS: [&str; 2] = ["48", "16"];

/// What is wrong with a `process_vm_readv` call, if anything, for a read of headers of `pid`:
/// another process, or remote pieces of other lengths than [`HEADER_LENGTHS`]. strace prints the
/// remote pieces as `[{iov_base=0x…, iov_len=48}, …]` (abbreviated with `...` when there are
/// many); a call that another thread's interrupted shows its process on the `<unfinished ...>`
/// line and its pieces nowhere.
fn not_a_pool_header_read(call: &TracedCall<'_>, pid: i32) -> Option<String> {
    if call.args.is_empty() {
        return None; // `<... process_vm_readv resumed>`: checked on its `<unfinished ...>` line
    }
    let target = call.args.split(',').next()?.trim();
    let target = target.split('<').next()?.trim();
    if target != pid.to_string() {
        return Some(format!("reads process {target}"));
    }
    // The remote array: its addresses are numbers, the local one's base is the data read.
    let remote = &call.args[call.args.find(", [{iov_base=0x")?..];
    let lengths: Vec<&str> = remote
        .split("iov_len=")
        .skip(1)
        .map(|rest| rest.split(['}', ',']).next().unwrap_or(""))
        .collect();
    if lengths.is_empty() {
        return Some("no remote pieces shown".into());
    }
    lengths
        .iter()
        .find(|length| !HEADER_LENGTHS.contains(length))
        .map(|length| format!("reads {length} bytes at once"))
}
