//! One policy for names chosen by the analyzed process (region names, paths, comm, user names):
//! the report keeps them as raw bytes, and each output escapes them its own way, here and only
//! here. Text for a terminal shows controls and invalid UTF-8 as visible `\xNN`; JSON keeps valid
//! UTF-8 (its writer escapes controls) and shows invalid bytes as `\xNN`; keys and label values
//! use an injective form, so two different names can never print the same.

use std::fmt::Write;

/// For a terminal or a pipe: valid printable UTF-8 is kept; control characters (C0, DEL, C1)
/// and bytes that are not valid UTF-8 become visible `\xNN` escapes.
pub fn for_terminal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    push_escaped(&mut out, bytes, Policy::Terminal);
    out
}

/// For a JSON string: valid UTF-8 is kept as is (the JSON writer escapes control characters as
/// JSON requires); bytes that are not valid UTF-8 become the text `\xNN`.
pub fn for_json(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            push_escaped(&mut out, bytes, Policy::Json);
            out
        }
    }
}

/// For keys and Prometheus label values: printable UTF-8 is kept, `\` becomes `\\`, controls and
/// invalid bytes become `\xNN`. Different byte strings always give different text, and
/// [`from_injective`] gives the bytes back.
pub(crate) fn injective(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    push_escaped(&mut out, bytes, Policy::Injective);
    out
}

/// The bytes [`injective`] made `text` from; `None` if it is not such text.
pub(crate) fn from_injective(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte != b'\\' {
            out.push(byte);
            rest = tail;
            continue;
        }
        match tail {
            [b'\\', after @ ..] => {
                out.push(b'\\');
                rest = after;
            }
            [b'x', high, low, after @ ..]
                if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() =>
            {
                let digit =
                    |byte: u8| (byte as char).to_digit(16).expect("checked hex digit") as u8;
                out.push(digit(*high) << 4 | digit(*low));
                rest = after;
            }
            _ => return None,
        }
    }
    Some(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Terminal,
    Json,
    Injective,
}

fn push_escaped(out: &mut String, mut bytes: &[u8], policy: Policy) {
    while !bytes.is_empty() {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                push_chars(out, valid, policy);
                return;
            }
            Err(error) => {
                let (valid, after_valid) = bytes.split_at(error.valid_up_to());
                push_chars(
                    out,
                    std::str::from_utf8(valid).expect("prefix checked by valid_up_to"),
                    policy,
                );
                let invalid_len = error.error_len().unwrap_or(after_valid.len());
                for byte in &after_valid[..invalid_len] {
                    push_hex(out, *byte);
                }
                bytes = &after_valid[invalid_len..];
            }
        }
    }
}

fn push_hex(out: &mut String, byte: u8) {
    write!(out, "\\x{byte:02x}").expect("writing to a String cannot fail");
}

fn push_chars(out: &mut String, text: &str, policy: Policy) {
    for c in text.chars() {
        match policy {
            Policy::Json => out.push(c),
            Policy::Injective if c == '\\' => out.push_str("\\\\"),
            Policy::Terminal | Policy::Injective if c.is_control() => {
                let mut utf8 = [0u8; 4];
                for byte in c.encode_utf8(&mut utf8).as_bytes() {
                    push_hex(out, *byte);
                }
            }
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_invalid_utf8_visibly() {
        assert_eq!(for_terminal(b"/tmp/\x1b[31mred"), "/tmp/\\x1b[31mred");
        assert_eq!(for_terminal(b"a\x7fb\tc"), "a\\x7fb\\x09c");
        assert_eq!(for_terminal(b"bad\xff\xfename"), "bad\\xff\\xfename");
        assert_eq!(
            for_terminal("caf\u{e9} \u{85}".as_bytes()),
            "caf\u{e9} \\xc2\\x85"
        );
        assert_eq!(for_terminal(b"/lib/x.so (deleted)"), "/lib/x.so (deleted)");
        assert_eq!(for_terminal(b"cut\xe2\x82"), "cut\\xe2\\x82");
    }

    #[test]
    fn json_text_keeps_valid_utf8_and_escapes_only_invalid_bytes() {
        assert_eq!(for_json(b"\x1b[31m"), "\x1b[31m");
        assert_eq!(for_json(b"x\xffy"), "x\\xffy");
    }

    #[test]
    fn injective_text_keeps_names_apart_and_round_trips() {
        let byte = injective(b"a\xffb");
        let text = injective(br"a\xffb");
        assert_ne!(byte, text);
        assert_eq!(byte, r"a\xffb");
        assert_eq!(text, r"a\\xffb");
        for sample in [
            &b"plain"[..],
            b"a\\b",
            b"\x1b[31m\n",
            b"\xff\xfe",
            "caf\u{e9}".as_bytes(),
            b"",
        ] {
            assert_eq!(from_injective(&injective(sample)).as_deref(), Some(sample));
        }
        assert_eq!(from_injective(r"bad\q"), None);
    }
}
