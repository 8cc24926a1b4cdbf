//! Maps the original Go tool's single-dash long flags (`-pid 1`, `-pid=1`, `-all`) onto clap's
//! GNU forms before parsing. Only known names are mapped, so a typo still gets clap's error and
//! suggestion; values (including `-file -`) are never touched.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::cli::{LONG_FLAGS, VALUE_FLAGS};

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
        let bytes = arg.as_bytes();
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
        if LONG_FLAGS.iter().any(|flag| flag.as_bytes() == name) {
            next_is_value = takes_separate_value(rest);
            let mut long = b"-".to_vec();
            long.extend_from_slice(bytes);
            out.push(OsString::from_vec(long));
        } else {
            out.push(arg);
        }
    }
    out
}

/// `pid` (without `=value`) is followed by its value as the next argument.
fn takes_separate_value(flag: &[u8]) -> bool {
    VALUE_FLAGS.iter().any(|name| name.as_bytes() == flag)
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
            ["m", "-pdi", "1", "-h", "-V"]
        );
        assert_eq!(normalize(&["m", "--", "-pid"]), ["m", "--", "-pid"]);
    }
}
