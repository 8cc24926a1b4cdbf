//! Running the real `memanalyzer` binary, the way a user or a script does, and reading the
//! outcome: a success, a usage error (exit 2) or a runtime error (exit 1, one line).

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::assert::Assert;
use serde_json::Value;

/// No single run may take longer than this; it only stops a hung test, it asserts no timing.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// The memanalyzer binary Cargo built for these tests.
pub fn memanalyzer_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_memanalyzer"))
}

/// A `memanalyzer` command with a closed stdin (unless the test writes one), a hang guard, and
/// none of the developer's colour settings: tests about colour set them themselves.
pub fn memanalyzer_cmd() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(memanalyzer_path());
    cmd.timeout(HANG_GUARD);
    for variable in ["CLICOLOR_FORCE", "NO_COLOR", "CLICOLOR", "TERM"] {
        cmd.env_remove(variable);
    }
    cmd
}

/// Runs `memanalyzer ARGS…` and returns the assertion handle.
pub fn memanalyzer(args: &[&str]) -> Assert {
    memanalyzer_cmd().args(args).assert()
}

/// Runs `memanalyzer ARGS…` in the repository's root, so that `fixtures/…` paths are relative
/// and the output is the same on every machine; asserts success and returns stdout.
pub fn stdout_in_repo(args: &[&str]) -> String {
    let assert = memanalyzer_cmd()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .assert()
        .success();
    utf8(&assert.get_output().stdout)
}

/// Runs `memanalyzer ARGS…`, asserts success, and returns its stdout.
pub fn stdout_of(args: &[&str]) -> String {
    utf8(&bytes_of(args))
}

/// Runs `memanalyzer ARGS…`, asserts success, and returns its stdout as bytes.
pub fn bytes_of(args: &[&str]) -> Vec<u8> {
    memanalyzer(args).success().get_output().stdout.clone()
}

/// Runs `memanalyzer ARGS…` (with `-format json` among them), asserts success, parses stdout.
pub fn json_of(args: &[&str]) -> Value {
    json(&bytes_of(args))
}

/// Asserts a usage error (exit 2, nothing on stdout, clap's `error:` on stderr); returns stderr.
pub fn usage_error(args: &[&str]) -> String {
    let assert = memanalyzer(args).code(2);
    let output = assert.get_output();
    assert!(output.stdout.is_empty(), "stdout for {args:?}: {output:?}");
    let stderr = utf8(&output.stderr);
    assert!(
        stderr.starts_with("error:"),
        "stderr for {args:?}: {stderr}"
    );
    stderr
}

/// Asserts a runtime failure (exit 1, exactly one `memanalyzer: error:` line on stderr, no panic
/// or backtrace even with RUST_BACKTRACE=1); returns that line.
pub fn runtime_error(args: &[&str]) -> String {
    runtime_error_of(memanalyzer_cmd().args(args))
}

/// [`runtime_error`] for a prepared command (extra environment, stdin, …).
pub fn runtime_error_of(cmd: &mut assert_cmd::Command) -> String {
    let assert = cmd.env("RUST_BACKTRACE", "1").assert().code(1);
    let output = assert.get_output();
    assert!(output.stdout.is_empty(), "stdout: {output:?}");
    let stderr = utf8(&output.stderr);
    assert_one_error_line(&stderr)
}

/// Checks stderr holds exactly one line `memanalyzer: error: …` and no sign of a panic.
pub fn assert_one_error_line(stderr: &str) -> String {
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "`{bad}` on stderr: {stderr}");
    }
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got: {stderr:?}"
    );
    assert!(
        lines[0].starts_with("memanalyzer: error: "),
        "stderr: {stderr:?}"
    );
    assert!(stderr.ends_with('\n'), "stderr: {stderr:?}");
    lines[0].to_string()
}

/// Checks stderr holds exactly one line `memanalyzer: warning: …` that mentions `about`.
pub fn assert_one_warning(stderr: &[u8], about: &str) {
    let stderr = utf8(stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr:?}");
    assert!(lines[0].starts_with("memanalyzer: warning: "), "{stderr:?}");
    assert!(lines[0].contains(about), "{stderr:?}");
}

pub fn utf8(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}):\n{}",
            String::from_utf8_lossy(bytes)
        )
    })
}
