//! Files the tests read: the fixtures in `fixtures/`, and temporary files they write.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::{NamedTempFile, TempDir};

/// The real captures, each `fixtures/NAME/smaps` with the kernel's `smaps_rollup` beside it.
pub const CAPTURES: [&str; 20] = [
    "c-arenas",
    "c-jemalloc",
    "c-threads",
    "go",
    "go-cache",
    "go-cache-cgo",
    "go-cgo",
    "java",
    "java-g1-1g",
    "java-parallel",
    "java-serial",
    "java25-g1-4g",
    "node",
    "node-18-debian",
    "node-20",
    "python",
    "python-numpy",
    "python-own-maps",
    "rust-jemalloc",
    "rust-jemalloc-5.2",
];

/// The files in `fixtures/edge/` that are not smaps memanalyzer can analyze (each is rejected
/// with its own message, see `input_errors.rs`); every other `edge/*.smaps` analyzes.
pub const REJECTED_EDGE_FILES: [&str; 4] = [
    "bad-header.smaps",
    "empty.smaps",
    "overflow.smaps",
    "rollup.smaps",
];

/// The repository's `fixtures/` directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A file in `fixtures/`, as an absolute path (tests may run with another working directory).
pub fn fixture_path(relative: &str) -> PathBuf {
    let path = fixtures_dir().join(relative);
    assert!(path.is_file(), "missing fixture {}", path.display());
    path
}

/// [`fixture_path`] as a string, for a command line.
pub fn fixture(relative: &str) -> String {
    fixture_path(relative)
        .to_str()
        .expect("UTF-8 fixture path")
        .to_string()
}

/// The runtime's own statistics saved beside a capture (`fixtures/NAME/stats.json`), as the
/// program printed them right after the capture.
pub fn captured_stats(capture: &str) -> serde_json::Value {
    let path = fixture_path(&format!("{capture}/stats.json"));
    let text = fs::read_to_string(&path).expect("stats.json");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The Go + cgo capture: 64 regions, 234 MiB resident, a deterministic input.
pub fn go_cgo() -> String {
    fixture("go-cgo/smaps")
}

/// Every fixture that analyzes, relative to `fixtures/`: each capture's `smaps`, then every
/// `edge/*.smaps` but the [`REJECTED_EDGE_FILES`], sorted.
pub fn analyzable_fixtures() -> Vec<String> {
    let mut paths: Vec<String> = CAPTURES
        .iter()
        .map(|name| format!("{name}/smaps"))
        .collect();
    let mut edge: Vec<String> = fs::read_dir(fixtures_dir().join("edge"))
        .expect("fixtures/edge")
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".smaps") && !REJECTED_EDGE_FILES.contains(&name.as_str()))
        .map(|name| format!("edge/{name}"))
        .collect();
    edge.sort();
    paths.extend(edge);
    paths
}

/// A temporary file holding `contents`.
pub fn temp_file(contents: impl AsRef<[u8]>) -> NamedTempFile {
    let mut file = NamedTempFile::new().expect("temp file");
    file.write_all(contents.as_ref()).expect("write temp file");
    file.flush().unwrap();
    file
}

/// The path of a temporary file, for a command line.
pub fn path_of(file: &NamedTempFile) -> &str {
    file.path().to_str().expect("temp paths are UTF-8")
}

/// A directory for files that are executed: under Cargo's target directory rather than /tmp,
/// which may be mounted noexec.
pub fn exec_tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("it-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir in CARGO_TARGET_TMPDIR")
}

/// The names in `dir`, sorted (to see that no temporary file was left behind).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
