//! The committed man page and completions must be what the clap definition generates, and they
//! must work: the bash completion is run for real, and groff, zsh and fish (when installed) check
//! the other files.

use std::path::PathBuf;
use std::process::Command;

use xtask::{generated_files, repo_root, stale_files, GENERATE_COMMAND};

#[test]
fn committed_files_are_up_to_date() {
    let stale = stale_files(&repo_root());
    assert!(
        stale.is_empty(),
        "stale generated files: {}\nThe clap definition changed: run `{GENERATE_COMMAND}` and \
         commit the result.",
        stale
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn generated(name: &str) -> String {
    let (_, content) = generated_files()
        .into_iter()
        .find(|(path, _)| path.ends_with(name))
        .unwrap_or_else(|| panic!("{name} is not generated"));
    String::from_utf8(content).expect("generated files are text")
}

/// Writes the generated `name` to a scratch file, for a shell or groff to read.
fn scratch_copy(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, generated(name)).unwrap();
    path
}

fn installed(program: &str) -> bool {
    let found = Command::new(program).arg("--version").output().is_ok();
    if !found {
        eprintln!("{program} is not installed: check skipped");
    }
    found
}

#[test]
fn man_page_has_the_usual_sections_and_the_single_dash_spellings() {
    let man = generated("memanalyzer.1");
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
    for flag in memanalyzer::cli::LONG_FLAGS {
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
}

#[test]
fn groff_renders_the_man_page_without_warnings() {
    if !installed("groff") {
        return;
    }
    let page = scratch_copy("memanalyzer.1");
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
    let script = scratch_copy("memanalyzer.bash");
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
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_single_dash_options_values_and_pids() {
    assert_eq!(bash_complete(&["memanalyzer", "-pi"]), ["-pid"]);
    assert_eq!(
        bash_complete(&["memanalyzer", "-pid", "1", "-fo"]),
        ["-format"]
    );
    assert_eq!(bash_complete(&["memanalyzer", "--fo"]), ["--format"]);
    assert_eq!(
        bash_complete(&["memanalyzer", "-format", ""]),
        ["text", "json", "prometheus"]
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
    for (shell, name) in [("zsh", "memanalyzer.zsh"), ("fish", "memanalyzer.fish")] {
        if !installed(shell) {
            continue;
        }
        let script = scratch_copy(name);
        let output = Command::new(shell).arg("-n").arg(&script).output().unwrap();
        assert!(
            output.status.success(),
            "{shell} -n {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn fish_completes_single_dash_options_and_pids() {
    if !installed("fish") {
        return;
    }
    let script = scratch_copy("memanalyzer.fish");
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
    let zsh = generated("memanalyzer.zsh");
    assert!(zsh.contains(")-pid=[") && zsh.contains(":PID:_pids'"));
    assert!(zsh.contains(")-all[") && zsh.contains(")--all["));
    let powershell = generated("memanalyzer.ps1");
    assert!(powershell.contains("[CompletionResult]::new('-pid', '-pid', "));
    assert!(powershell.contains("Get-Process"));
    assert!(powershell.contains("'format' = @('text', 'json', 'prometheus')"));
}
