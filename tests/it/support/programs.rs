//! Programs in other languages that the tests build from `fixtures/sources/` and run as live
//! processes of a known shape (a Go service with its own mmap'd cache, a C program with glibc
//! arenas). Each is built once per `cargo test` run into Cargo's scratch directory for tests, and
//! rebuilt when a source file is newer than the binary. A missing compiler is a reason to skip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use super::files::fixtures_dir;
use super::system::require_program;
use super::workload::is_newer_than;

/// A Go program in `fixtures/sources/<dir>`, built with cgo on or off (`CGO_ENABLED`).
pub fn go_program(dir: &str, cgo: bool) -> Result<PathBuf, String> {
    let go = require_program("go", "golang-go")?;
    let source = fixtures_dir().join("sources").join(dir);
    let name = format!("{dir}-{}", if cgo { "cgo" } else { "static" });
    build(&name, &source, |out| {
        let mut command = Command::new(&go);
        command
            .args(["build", "-o"])
            .arg(out)
            .arg(".")
            .current_dir(&source)
            .env("CGO_ENABLED", if cgo { "1" } else { "0" })
            // The sources sit in a git work tree; stamping its state needs nothing from it.
            .env("GOFLAGS", "-buildvcs=false");
        if std::env::var_os("HOME").is_none() {
            command.env("GOCACHE", scratch_dir().join("go-cache"));
        }
        command
    })
}

/// A C program `fixtures/sources/<path>`, built with `gcc -O2 -pthread`.
pub fn c_program(path: &str) -> Result<PathBuf, String> {
    let gcc = require_program("gcc", "gcc")?;
    let source = fixtures_dir().join("sources").join(path);
    let name = Path::new(path)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .expect("a C source file name")
        .to_string();
    build(&name, &source, |out| {
        let mut command = Command::new(&gcc);
        command
            .args(["-O2", "-Wall", "-pthread", "-o"])
            .arg(out)
            .arg(&source);
        command
    })
}

fn scratch_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("programs")
}

/// Builds `name` from `source` (a file or a directory) with the command `make` returns for the
/// output path, unless a binary newer than every source file exists. One build at a time: tests
/// run in parallel and may ask for the same program.
fn build(
    name: &str,
    source: &Path,
    make: impl FnOnce(&Path) -> Command,
) -> Result<PathBuf, String> {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(path) = built.get(name) {
        return Ok(path.clone());
    }
    let dir = scratch_dir();
    std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let out = dir.join(name);
    let sources: Vec<PathBuf> = if source.is_dir() {
        std::fs::read_dir(source)
            .expect("the program's source directory")
            .map(|entry| entry.expect("a directory entry").path())
            .collect()
    } else {
        vec![source.to_path_buf()]
    };
    if !sources.iter().all(|file| is_newer_than(&out, file)) {
        let output = make(&out)
            .output()
            .map_err(|error| format!("cannot run the compiler for {name}: {error}"))?;
        assert!(
            output.status.success(),
            "building {name} from {} failed ({}):\n{}",
            source.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    built.insert(name.to_string(), out.clone());
    Ok(out)
}
