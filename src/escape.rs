//! Makes names chosen by the analyzed process safe to show: region names are raw bytes that may
//! hold terminal escape sequences or invalid UTF-8, and must never reach a terminal unescaped.

use std::fmt::Write;

/// Text for a terminal or a pipe: valid printable UTF-8 is kept; control characters (C0, DEL,
/// C1) and bytes that are not valid UTF-8 become visible `\xNN` escapes.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    push_escaped(&mut out, bytes, false);
    out
}

/// Text for a JSON string: valid UTF-8 is kept as is (the JSON writer escapes control
/// characters as JSON requires); bytes that are not valid UTF-8 become the text `\xNN`.
pub fn lossless_utf8(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            push_escaped(&mut out, bytes, true);
            out
        }
    }
}

/// Whether `escape_bytes` would change anything, so callers can skip the copy.
pub fn needs_escape(bytes: &[u8]) -> bool {
    bytes.iter().any(|b| !(0x20..0x7f).contains(b))
        && std::str::from_utf8(bytes).map_or(true, |text| text.chars().any(is_control))
}

fn is_control(c: char) -> bool {
    c.is_control()
}

fn push_escaped(out: &mut String, mut bytes: &[u8], keep_controls: bool) {
    while !bytes.is_empty() {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                push_chars(out, valid, keep_controls);
                return;
            }
            Err(error) => {
                let (valid, after_valid) = bytes.split_at(error.valid_up_to());
                push_chars(
                    out,
                    std::str::from_utf8(valid).expect("prefix checked by valid_up_to"),
                    keep_controls,
                );
                let invalid_len = error.error_len().unwrap_or(after_valid.len());
                for byte in &after_valid[..invalid_len] {
                    write!(out, "\\x{byte:02x}").expect("writing to a String cannot fail");
                }
                bytes = &after_valid[invalid_len..];
            }
        }
    }
}

fn push_chars(out: &mut String, text: &str, keep_controls: bool) {
    for c in text.chars() {
        if !keep_controls && is_control(c) {
            let mut utf8 = [0u8; 4];
            for byte in c.encode_utf8(&mut utf8).as_bytes() {
                write!(out, "\\x{byte:02x}").expect("writing to a String cannot fail");
            }
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_invalid_utf8_visibly() {
        assert_eq!(escape_bytes(b"/tmp/\x1b[31mred"), "/tmp/\\x1b[31mred");
        assert_eq!(escape_bytes(b"a\x7fb\tc"), "a\\x7fb\\x09c");
        assert_eq!(escape_bytes(b"bad\xff\xfename"), "bad\\xff\\xfename");
        assert_eq!(
            escape_bytes("caf\u{e9} \u{85}".as_bytes()),
            "caf\u{e9} \\xc2\\x85"
        );
        assert_eq!(escape_bytes(b"/lib/x.so (deleted)"), "/lib/x.so (deleted)");
        assert_eq!(escape_bytes(b"cut\xe2\x82"), "cut\\xe2\\x82");
    }

    #[test]
    fn json_text_keeps_valid_utf8_and_escapes_only_invalid_bytes() {
        assert_eq!(lossless_utf8(b"\x1b[31m"), "\x1b[31m");
        assert_eq!(lossless_utf8(b"x\xffy"), "x\\xffy");
    }

    #[test]
    fn needs_escape_matches_escape_bytes() {
        for sample in [
            &b"plain"[..],
            b"\x1b",
            b"\xff",
            "\u{e9}".as_bytes(),
            "\u{85}".as_bytes(),
            b"",
        ] {
            assert_eq!(
                needs_escape(sample),
                escape_bytes(sample).as_bytes() != sample,
                "{sample:?}"
            );
        }
    }
}
