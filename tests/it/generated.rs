//! The committed man page and completions must be what the binary generates from its clap
//! definition (`memanalyzer --generate man|bash|zsh|fish|powershell`, written into the tree by
//! `bash scripts/generate.sh`), and they must work: the bash and fish completions are run for
//! real, groff renders the man page without warnings, zsh and fish parse their scripts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use tempfile::TempDir;

use crate::support::prelude::*;
use crate::support::system::require_program;

const GENERATE_COMMAND: &str = "bash scripts/generate.sh";

/// What `--generate` makes, and where the result is committed.
const GENERATED: [(&str, &str); 5] = [
    ("man", "man/memanalyzer.1"),
    ("bash", "completions/memanalyzer.bash"),
    ("zsh", "completions/memanalyzer.zsh"),
    ("fish", "completions/memanalyzer.fish"),
    ("powershell", "completions/memanalyzer.ps1"),
];

/// `memanalyzer --generate WHAT`.
fn generated(what: &str) -> String {
    let assert = memanalyzer(&["--generate", what]).success().stderr("");
    utf8(&assert.get_output().stdout)
}

/// The generated `what` in a file of its own, for a shell or groff to read; written once per
/// test run, so that tests running side by side never see it half-written.
fn generated_file(what: &'static str) -> PathBuf {
    static FILES: OnceLock<(TempDir, Mutex<HashMap<&'static str, PathBuf>>)> = OnceLock::new();
    let (dir, files) = FILES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        (dir, Mutex::new(HashMap::new()))
    });
    let mut files = files.lock().unwrap();
    files
        .entry(what)
        .or_insert_with(|| {
            let (_, committed) = GENERATED.iter().find(|(name, _)| *name == what).unwrap();
            let name = Path::new(committed).file_name().unwrap();
            let path = dir.path().join(name);
            std::fs::write(&path, generated(what)).unwrap();
            path
        })
        .clone()
}

/// `program` if it is installed (it answers `--version`), else why not.
fn installed(program: &str) -> Result<(), String> {
    match Command::new(program).arg("--version").output() {
        Ok(_) => Ok(()),
        Err(error) => Err(format!("{program} is not installed ({error})")),
    }
}

#[test]
fn committed_files_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stale: Vec<&str> = GENERATED
        .iter()
        .filter(|(what, path)| {
            std::fs::read_to_string(root.join(path)).ok() != Some(generated(what))
        })
        .map(|(_, path)| *path)
        .collect();
    assert!(
        stale.is_empty(),
        "stale generated files: {}\nThe clap definition changed: run `{GENERATE_COMMAND}` and \
         commit the result.",
        stale.join(", ")
    );
}

#[test]
fn generate_names_what_it_can_make_when_asked_for_something_else() {
    let assert = memanalyzer(&["--generate", "nroff"]).code(2);
    let stderr = utf8(&assert.get_output().stderr);
    assert_eq!(
        stderr,
        "memanalyzer: error: --generate takes one of: man, bash, zsh, fish, powershell\n"
    );
    assert!(assert.get_output().stdout.is_empty());
}

/// The long flags `--help` lists (`--pid`, …, `--help`, `--version`).
fn long_flags() -> Vec<String> {
    let help = stdout_of(&["--help"]);
    let flags: Vec<String> = help
        .lines()
        .filter(|line| line.trim_start().starts_with('-'))
        .filter_map(|line| {
            let flag = line
                .split_whitespace()
                .find(|word| word.starts_with("--"))?;
            Some(
                flag.trim_start_matches('-')
                    .trim_end_matches(',')
                    .to_string(),
            )
        })
        .collect();
    for expected in ["pid", "file", "ps", "output", "help", "version"] {
        assert!(flags.iter().any(|flag| flag == expected), "{flags:?}");
    }
    flags
}

#[test]
fn man_page_has_the_usual_sections_and_the_single_dash_spellings() {
    let man = generated("man");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXAMPLES",
        ".SH \"SEE ALSO\"",
    ] {
        assert!(man.contains(section), "{section} is missing");
    }
    for flag in long_flags() {
        // roff writes every hyphen of a name as `\-`.
        let flag = flag.replace('-', r"\-");
        let both = format!(r"\fB\-{flag}\fR, \fB\-\-{flag}\fR");
        assert!(man.contains(&both), "OPTIONS lacks {both}");
    }
    for file in [
        "/proc/PID/smaps",
        "/proc/PID/smaps_rollup",
        "/proc/PID/exe",
        "/proc/PID/comm",
        "/proc/PID/stat",
        "/proc/PID/status",
        "/etc/passwd",
    ] {
        assert!(
            man.contains(&format!(r"\fB{file}\fR")),
            "FILES lacks {file}"
        );
    }
    assert!(man.is_ascii(), "non-ASCII is written as \\[uXXXX]");
    assert!(
        !man.contains(r"\-\-generate"),
        "--generate is for maintainers only"
    );
}

#[test]
fn groff_renders_the_man_page_without_warnings() {
    or_skip!(installed("groff"));
    let page = generated_file("man");
    let output = Command::new("groff")
        .args(["-man", "-ww", "-z"])
        .arg(&page)
        .output()
        .unwrap();
    let warnings = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && warnings.is_empty(), "{warnings}");
}

/// Runs the generated bash completion for `words` (the last one being completed).
fn bash_complete(words: &[&str]) -> Vec<String> {
    let script = generated_file("bash");
    let quoted: Vec<String> = words.iter().map(|word| format!("'{word}'")).collect();
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; _memanalyzer; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // `printf '%s\n'` of no words prints one empty line.
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_single_dash_options_values_and_pids() {
    or_skip!(require_program("bash", "bash"));
    assert_eq!(bash_complete(&["memanalyzer", "-pi"]), ["-pid"]);
    assert_eq!(
        bash_complete(&["memanalyzer", "-pid", "1", "-fo"]),
        ["-format"]
    );
    assert_eq!(bash_complete(&["memanalyzer", "--fo"]), ["--format"]);
    assert_eq!(
        bash_complete(&["memanalyzer", "-format", ""]),
        ["text", "json", "prometheus", "pprof"]
    );
    assert_eq!(bash_complete(&["memanalyzer", "--unit", "G"]), ["GB"]);
    assert_eq!(
        bash_complete(&["memanalyzer", "-color", "="]),
        ["auto", "always", "never"]
    );
    assert_eq!(
        bash_complete(&["memanalyzer", "-color", "=", "n"]),
        ["never"]
    );
    assert!(
        bash_complete(&["memanalyzer", "--gen"]).is_empty(),
        "--generate is not offered"
    );

    let pids = bash_complete(&["memanalyzer", "-pid", ""]);
    assert!(
        pids.iter().all(|pid| pid.parse::<u32>().is_ok()),
        "{pids:?}"
    );
    assert!(pids.contains(&std::process::id().to_string()), "{pids:?}");
    let pids = bash_complete(&["memanalyzer", "--pid", &std::process::id().to_string()]);
    assert!(pids.contains(&std::process::id().to_string()), "{pids:?}");
}

#[test]
fn zsh_and_fish_load_the_completions() {
    let mut missing = Vec::new();
    for (shell, what) in [("zsh", "zsh"), ("fish", "fish")] {
        if let Err(why) = installed(shell) {
            missing.push(why);
            continue;
        }
        let script = generated_file(what);
        let output = Command::new(shell).arg("-n").arg(&script).output().unwrap();
        assert!(
            output.status.success(),
            "{shell} -n {}: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if !missing.is_empty() {
        skip!("{}", missing.join("; "));
    }
}

#[test]
fn fish_completes_single_dash_options_and_pids() {
    or_skip!(installed("fish"));
    let script = generated_file("fish");
    let complete = |line: &str| -> Vec<String> {
        let program = format!("source '{}'; complete -C '{line}'", script.display());
        let output = Command::new("fish")
            .arg("-c")
            .arg(program)
            .output()
            .unwrap();
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| line.split('\t').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(complete("memanalyzer -pi"), ["-pid"]);
    assert_eq!(complete("memanalyzer -format j"), ["json"]);
    let pids = complete("memanalyzer -pid ");
    assert!(pids.contains(&std::process::id().to_string()), "{pids:?}");
}

#[test]
fn zsh_and_powershell_scripts_carry_the_single_dash_options_and_pids() {
    let zsh = generated("zsh");
    assert!(zsh.contains(")-pid=[") && zsh.contains(":PID:_pids'"));
    assert!(zsh.contains(")-all[") && zsh.contains(")--all["));
    let powershell = generated("powershell");
    assert!(powershell.contains("[CompletionResult]::new('-pid', '-pid', "));
    assert!(powershell.contains("Get-Process"));
    assert!(powershell.contains("'format' = @('text', 'json', 'prometheus', 'pprof')"));
}
