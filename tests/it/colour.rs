//! Colour: only for a terminal, unless asked for (`-color always`, CLICOLOR_FORCE), never with
//! NO_COLOR (unless `-color always`), CLICOLOR=0 or TERM=dumb, never in JSON or Prometheus, and
//! nothing but SGR escapes: the text without them is the uncoloured text, byte for byte.

use std::fs;

use crate::support::prelude::*;

#[test]
fn piped_output_has_no_colour() {
    let text = memanalyzer(&[]).success().get_output().stdout.clone();
    assert!(!text.contains(&0x1b), "{}", String::from_utf8_lossy(&text));
    let text = memanalyzer_cmd()
        .env("NO_COLOR", "1")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(!text.contains(&0x1b), "{}", String::from_utf8_lossy(&text));
}

/// Runs memanalyzer on the sample with stdout on a new pseudo-terminal, TERM=xterm-256color and
/// the colour variables in `env` (no others); `Err` when this machine has no pseudo-terminals.
fn run_on_terminal(env: &[(&str, &str)]) -> Result<Vec<u8>, String> {
    let file = temp_file(sample_smaps());
    crate::support::terminal::run_on_terminal(&["-file", path_of(&file), "-top", "3"], env)
}

#[test]
fn a_terminal_gets_colour_unless_the_environment_says_no() {
    let coloured = or_skip!(run_on_terminal(&[]));
    assert!(
        has_escape(&coloured),
        "{}",
        String::from_utf8_lossy(&coloured)
    );
    for (env, expect_colour) in [
        (&[("NO_COLOR", "1")][..], false),
        // An empty NO_COLOR does not count (no-color.org).
        (&[("NO_COLOR", "")][..], true),
        (&[("CLICOLOR", "0")][..], false),
        (&[("CLICOLOR", "1")][..], true),
        (&[("TERM", "dumb")][..], false),
        (&[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")][..], true),
    ] {
        let out = run_on_terminal(env).expect("pty worked a moment ago");
        assert_eq!(
            has_escape(&out),
            expect_colour,
            "{env:?}:\n{}",
            String::from_utf8_lossy(&out)
        );
    }
}

/// Runs memanalyzer with a piped stdout, none of the colour variables set but those in `env`;
/// returns stdout.
fn run_with_colour_env(args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
    let mut cmd = memanalyzer_cmd();
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}

#[test]
fn colour_always_changes_nothing_but_the_escapes() {
    let sample = temp_file(sample_smaps()); // has a deleted memfd: a red row in the table
    let inputs = [
        go_cgo(),
        fixture("edge/swap.smaps"), // swap: red Swap lines
        fixture("java/smaps"),
        path_of(&sample).to_string(),
    ];
    for path in &inputs {
        for unit in ["MB", "auto", "B"] {
            let args = ["-file", path, "-all", "-unit", unit];
            let plain = run_with_colour_env(&[&args[..], &["-color", "never"]].concat(), &[]);
            let coloured = run_with_colour_env(&[&args[..], &["-color", "always"]].concat(), &[]);
            assert!(!has_escape(&plain), "{path}: -color never has escapes");
            assert!(
                has_escape(&coloured),
                "{path}: -color always into a pipe has no escapes"
            );
            assert!(
                strip_sgr(&coloured) == plain,
                "{path} -unit {unit}: -color always, escapes removed, differs from -color never:\n\
                 {}\n---\n{}",
                String::from_utf8_lossy(&strip_sgr(&coloured)),
                String::from_utf8_lossy(&plain)
            );
        }
    }
}

/// Extra flags, environment variables set, whether colour is expected.
type ColourCase = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    bool,
);

#[test]
fn colour_in_a_pipe_follows_the_flag_then_no_color_then_clicolor_force() {
    let path = go_cgo();
    let args = ["-file", path.as_str(), "-top", "5"];
    let with = |extra: &[&str], env: &[(&str, &str)]| {
        run_with_colour_env(&[&args[..], extra].concat(), env)
    };
    let plain = with(&["-color", "never"], &[]);
    assert!(!has_escape(&plain));

    // (flag, environment, colour expected)
    let cases: [ColourCase; 11] = [
        (&[], &[], false),
        (&["-color", "auto"], &[], false),
        (&["-color", "auto"], &[("NO_COLOR", "1")], false),
        (&["-color", "auto"], &[("CLICOLOR_FORCE", "1")], true),
        (&[], &[("CLICOLOR_FORCE", "1")], true),
        (&["-color", "auto"], &[("CLICOLOR_FORCE", "0")], false),
        (
            &["-color", "auto"],
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
            false,
        ),
        (&["-color", "never"], &[("CLICOLOR_FORCE", "1")], false),
        (&["-color", "always"], &[], true),
        (&["-color", "always"], &[("NO_COLOR", "1")], true),
        (&["--color=always"], &[], true),
    ];
    for (flag, env, expect_colour) in cases {
        let out = with(flag, env);
        assert_eq!(
            has_escape(&out),
            expect_colour,
            "{flag:?} with {env:?}:\n{}",
            String::from_utf8_lossy(&out)
        );
        assert!(
            strip_sgr(&out) == plain,
            "{flag:?} with {env:?}: the text differs from -color never beyond escapes"
        );
    }
}

#[test]
fn colour_never_reaches_json_or_prometheus() {
    for format in ["json", "prometheus"] {
        let out = run_with_colour_env(
            &["-file", &go_cgo(), "-format", format, "-color", "always"],
            &[("CLICOLOR_FORCE", "1")],
        );
        assert!(!has_escape(&out), "-format {format} -color always");
    }
    // Process names are escaped: whatever colour -ps uses, no other escape reaches the terminal.
    let out = run_with_colour_env(&["-ps", "-color", "always"], &[]);
    assert!(
        !has_escape(&strip_sgr(&out)),
        "-ps has an escape that is not colour:\n{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn output_file_gets_colour_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = go_cgo();
    let plain = run_with_colour_env(&["-file", &path, "-color", "never"], &[]);

    let coloured_file = dir.path().join("coloured.txt");
    let stdout = run_with_colour_env(
        &[
            "-file",
            &path,
            "-color",
            "always",
            "-output",
            coloured_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(stdout.is_empty(), "-output writes nothing to stdout");
    let coloured = fs::read(&coloured_file).unwrap();
    assert!(has_escape(&coloured), "-color always -output: no escapes");
    assert!(strip_sgr(&coloured) == plain);

    let default_file = dir.path().join("default.txt");
    run_with_colour_env(
        &["-file", &path, "-output", default_file.to_str().unwrap()],
        &[],
    );
    let default = fs::read(&default_file).unwrap();
    assert!(!has_escape(&default), "default -output has escapes");
    assert!(default == plain);
}
