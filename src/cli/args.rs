//! Maps the original Go tool's single-dash long flags (`-pid 1`, `-pid=1`, `-all`) onto clap's
//! GNU forms before parsing; values (including `-file -`) are never touched. A mistyped
//! single-dash word (`-pdi`) is passed on whole as `--pdi`, so that clap reports it as one
//! unknown flag rather than a cluster of short ones, and [`add_flag_suggestion`] names the flag
//! that was probably meant.

use std::ffi::OsString;

use super::flags::long_flags;

/// Returns `args` (program name first) with `-name` / `-name=value` rewritten to `--name…`.
pub fn normalize_go_style<I>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = OsString>,
{
    let mut out = Vec::new();
    let mut args = args.into_iter();
    out.extend(args.next());
    let mut next_is_value = false;
    let mut after_double_dash = false;
    for arg in args {
        if next_is_value || after_double_dash {
            next_is_value = false;
            out.push(arg);
            continue;
        }
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            after_double_dash = true;
            out.push(arg);
            continue;
        }
        let Some(rest) = bytes
            .strip_prefix(b"-")
            .filter(|rest| !rest.starts_with(b"-"))
        else {
            if let Some(name) = bytes.strip_prefix(b"--") {
                next_is_value = takes_separate_value(name);
            }
            out.push(arg);
            continue;
        };
        let name = rest.split(|&b| b == b'=').next().unwrap_or(rest);
        let known = long_flags().iter().any(|flag| flag.name.as_bytes() == name);
        // `-h` and `-V` are the only short flags; a longer word starting with a letter is a
        // long flag, known or mistyped.
        let word = name.len() >= 2 && name[0].is_ascii_alphabetic();
        if known || word {
            next_is_value = takes_separate_value(rest);
            let mut long = OsString::from("-");
            long.push(&arg);
            out.push(long);
        } else {
            out.push(arg);
        }
    }
    out
}

/// Adds "a similar argument exists" to clap's error for an unknown flag when clap found none,
/// or replaces clap's when ours is closer: clap's own similarity test misses transpositions such
/// as `-pdi` (which it takes for `--diff` rather than `--pid`).
pub fn add_flag_suggestion(mut error: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::UnknownArgument {
        return error;
    }
    let Some(ContextValue::String(unknown)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let Some(flag) = similar_flag(unknown) else {
        return error;
    };
    let name = unknown.trim_start_matches('-');
    let name = name.split('=').next().unwrap_or(name);
    let closer = match error.get(ContextKind::SuggestedArg) {
        Some(ContextValue::String(suggested)) => {
            strsim::osa_distance(name, flag)
                < strsim::osa_distance(name, suggested.trim_start_matches('-'))
        }
        _ => true,
    };
    if closer {
        error.insert(
            ContextKind::SuggestedArg,
            ContextValue::String(format!("--{flag}")),
        );
        if error.get(ContextKind::Usage).is_some() {
            use clap::CommandFactory;
            let usage = super::flags::Cli::command().render_usage();
            error.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
        }
    }
    error
}

/// The known flag closest to `unknown` (`--pdi`, `-fromat=json`), if it is one or two edits away
/// (insertions, deletions, substitutions, transpositions).
fn similar_flag(unknown: &str) -> Option<&'static str> {
    let name = unknown.trim_start_matches('-');
    let name = name.split('=').next().unwrap_or(name);
    long_flags()
        .iter()
        .map(|flag| (strsim::osa_distance(name, &flag.name), flag.name.as_str()))
        .filter(|&(distance, flag)| distance > 0 && distance <= 2 && distance < flag.len() / 2 + 1)
        .min()
        .map(|(_, flag)| flag)
}

/// `pid` (without `=value`) is followed by its value as the next argument.
fn takes_separate_value(flag: &[u8]) -> bool {
    super::flags::takes_value(flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(args: &[&str]) -> Vec<String> {
        normalize_go_style(args.iter().map(OsString::from))
            .into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect()
    }

    #[test]
    fn maps_known_single_dash_flags() {
        assert_eq!(
            normalize(&["m", "-pid", "1", "-top", "5"]),
            ["m", "--pid", "1", "--top", "5"]
        );
        assert_eq!(
            normalize(&["m", "-pid=1", "-all"]),
            ["m", "--pid=1", "--all"]
        );
        assert_eq!(
            normalize(&["m", "-format", "json", "-help"]),
            ["m", "--format", "json", "--help"]
        );
        assert_eq!(normalize(&["m", "-version"]), ["m", "--version"]);
    }

    #[test]
    fn leaves_values_gnu_forms_and_unknown_flags_alone() {
        assert_eq!(normalize(&["m", "-file", "-"]), ["m", "--file", "-"]);
        assert_eq!(normalize(&["m", "-file", "-pid"]), ["m", "--file", "-pid"]);
        assert_eq!(normalize(&["m", "--file", "-all"]), ["m", "--file", "-all"]);
        assert_eq!(normalize(&["m", "--pid", "-1"]), ["m", "--pid", "-1"]);
        assert_eq!(
            normalize(&["m", "-pdi", "1", "-h", "-V"]),
            ["m", "--pdi", "1", "-h", "-V"]
        );
        assert_eq!(normalize(&["m", "--", "-pid"]), ["m", "--", "-pid"]);
    }

    #[test]
    fn suggests_flags_one_or_two_edits_away() {
        assert_eq!(similar_flag("--pdi"), Some("pid"));
        assert_eq!(similar_flag("--pidd"), Some("pid"));
        assert_eq!(similar_flag("--fromat=json"), Some("format"));
        assert_eq!(similar_flag("--tpo"), Some("top"));
        assert_eq!(similar_flag("--xyz"), None);
        assert_eq!(similar_flag("--pid"), None);
    }
}
