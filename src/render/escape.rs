//! One policy for names chosen by the analyzed process (region names, paths, comm, user names):
//! the report keeps them as raw bytes, and each output escapes them its own way, here and only
//! here. Text for a terminal shows controls, characters that reorder or break lines (see
//! [`is_layout_control`]) and invalid UTF-8 as visible `\xNN` (the UTF-8 bytes of the
//! character); JSON keeps valid UTF-8 (its writer escapes those characters as `\uXXXX`) and shows
//! invalid bytes as `\xNN`; keys and label values use an injective form, so two different names
//! can never print the same.

use std::fmt::Write;

/// For a terminal or a pipe: valid printable UTF-8 is kept; control characters (C0, DEL, C1),
/// layout controls ([`is_layout_control`]) and bytes that are not valid UTF-8 become visible
/// `\xNN` escapes (U+202E is `\xe2\x80\xae`).
pub fn for_terminal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    push_escaped(&mut out, bytes, Policy::Terminal);
    out
}

/// For a JSON string: valid UTF-8 is kept as is (the JSON writer escapes control characters as
/// JSON requires); bytes that are not valid UTF-8 become the text `\xNN`.
pub fn for_json(bytes: &[u8]) -> String {
    for_json_borrowed(bytes).into_owned()
}

/// [`for_json`] without a copy when the bytes are valid UTF-8: names can be 60 KB.
pub(crate) fn for_json_borrowed(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            push_escaped(&mut out, bytes, Policy::Json);
            std::borrow::Cow::Owned(out)
        }
    }
}

/// For keys and Prometheus label values: printable UTF-8 is kept, `\` becomes `\\`, controls,
/// layout controls and invalid bytes become `\xNN`. Different byte strings always give different text, and
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

/// Characters that are not control characters but change how a terminal lays text out, so a
/// name holding one can reorder or break what is shown around it ("Trojan Source"): the
/// bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069) and the line and paragraph separators (U+2028, U+2029). NEL
/// (U+0085) is a C1 control already.
pub fn is_layout_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Terminal,
    Json,
    Injective,
}

/// [`for_terminal`], appended to `out`.
pub(crate) fn push_for_terminal(out: &mut String, bytes: &[u8]) {
    push_escaped(out, bytes, Policy::Terminal);
}

/// The number of characters [`for_terminal`] makes of `bytes`.
pub(crate) fn terminal_width(bytes: &[u8]) -> usize {
    if is_printable_ascii(bytes) {
        bytes.len()
    } else {
        for_terminal(bytes).chars().count()
    }
}

/// Printable ASCII (space to `~`): what every policy but the injective one (for `\`) keeps
/// as it is. Most names are; checking bytes is much cheaper than decoding characters.
fn is_printable_ascii(bytes: &[u8]) -> bool {
    bytes.iter().all(|byte| (b' '..=b'~').contains(byte))
}

fn push_escaped(out: &mut String, mut bytes: &[u8], policy: Policy) {
    if policy != Policy::Injective && is_printable_ascii(bytes) {
        out.push_str(std::str::from_utf8(bytes).expect("ASCII is UTF-8"));
        return;
    }
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
            Policy::Terminal | Policy::Injective if c.is_control() || is_layout_control(c) => {
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
    fn escapes_characters_that_reorder_or_break_lines() {
        assert_eq!(
            for_terminal("evil\u{202e}txt.exe".as_bytes()),
            "evil\\xe2\\x80\\xaetxt.exe"
        );
        for c in [
            '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}',
            '\u{85}',
        ] {
            let name = format!("a{c}b");
            for shown in [for_terminal(name.as_bytes()), injective(name.as_bytes())] {
                assert!(!shown.contains(c), "{c:?} kept in {shown:?}");
                assert!(
                    shown.starts_with("a\\x") && shown.ends_with('b'),
                    "{shown:?}"
                );
            }
            assert_eq!(
                from_injective(&injective(name.as_bytes())).as_deref(),
                Some(name.as_bytes())
            );
        }
        // Ordinary right-to-left text is kept: only the invisible controls are escaped.
        assert_eq!(for_terminal("שלום".as_bytes()), "שלום");
        assert_eq!(for_terminal("\u{200d}".as_bytes()), "\u{200d}");
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
