//! Sizes for people: the unit chosen with `-unit`. Every size is written as a number, a space
//! and a unit, so that `awk` finds the number in the same field whatever the unit.

use std::fmt::Write;

use humansize::{format_size, BINARY};

/// The units text output can use. JSON and Prometheus always carry exact bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, written `B`.
    Bytes,
    /// Whole KiB, written `kB` as the kernel does.
    Kib,
    /// Whole MiB written `MB`, as the original tool did: the default.
    #[default]
    Mib,
    /// GiB with two decimals, written `GB`.
    Gib,
    /// The most readable binary unit for each number, via humansize (`1.50 GiB`, `512 KiB`).
    Auto,
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

impl Unit {
    /// Every unit, in the order `-unit` lists them.
    pub const ALL: [Unit; 5] = [Unit::Bytes, Unit::Kib, Unit::Mib, Unit::Gib, Unit::Auto];

    /// The name `-unit` and the HTTP mode's `?unit=` take: `B`, `kB`, `MB`, `GB`, `auto`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Bytes => "B",
            Unit::Kib => "kB",
            Unit::Mib => "MB",
            Unit::Gib => "GB",
            Unit::Auto => "auto",
        }
    }

    /// The unit with this name, ignoring case (`mb` is `MB`).
    pub fn from_name(name: &str) -> Option<Unit> {
        Unit::ALL
            .into_iter()
            .find(|unit| unit.name().eq_ignore_ascii_case(name))
    }

    /// `bytes` in this unit, e.g. `234 MB`. MB and kB round down, like the original tool.
    pub fn format(self, bytes: u64) -> String {
        let mut text = String::new();
        self.push(&mut text, bytes);
        text
    }

    /// [`Unit::format`], appended to `out` (the region listing writes a million of these).
    pub(crate) fn push(self, out: &mut String, bytes: u64) {
        let (number, unit) = match self {
            Unit::Bytes => (bytes, " B"),
            Unit::Kib => (bytes / KIB, " kB"),
            Unit::Mib => (bytes / MIB, " MB"),
            Unit::Gib => {
                write!(out, "{:.2} GB", bytes as f64 / GIB as f64)
                    .expect("writing to a String cannot fail");
                return;
            }
            Unit::Auto => return out.push_str(&format_size(bytes, BINARY)),
        };
        push_decimal(out, number);
        out.push_str(unit);
    }

    /// The number of characters [`Unit::format`] writes for `bytes` (all ASCII).
    pub(crate) fn width(self, bytes: u64) -> usize {
        let digits = |number: u64| number.checked_ilog10().map_or(1, |log| log as usize + 1);
        match self {
            Unit::Bytes => digits(bytes) + " B".len(),
            Unit::Kib => digits(bytes / KIB) + " kB".len(),
            Unit::Mib => digits(bytes / MIB) + " MB".len(),
            Unit::Gib | Unit::Auto => self.format(bytes).len(),
        }
    }
}

/// `number` in decimal, appended to `out`.
fn push_decimal(out: &mut String, number: u64) {
    out.push_str(decimal(number, &mut [0; 20]));
}

/// `number` in decimal, written into the end of `digits` (a `u64` has at most 20): without the
/// formatting machinery, for the renderers' per-row loops.
pub(super) fn decimal(mut number: u64, digits: &mut [u8; 20]) -> &str {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            break;
        }
    }
    std::str::from_utf8(&digits[at..]).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_each_unit_as_number_then_unit() {
        let bytes = 3 * GIB / 2 + 123;
        assert_eq!(Unit::Bytes.format(bytes), "1610612859 B");
        assert_eq!(Unit::Kib.format(bytes), "1572864 kB");
        assert_eq!(Unit::Mib.format(bytes), "1536 MB");
        assert_eq!(Unit::Gib.format(bytes), "1.50 GB");
        assert_eq!(Unit::Auto.format(bytes), "1.50 GiB");
        assert_eq!(Unit::Auto.format(512), "512 B");
        for unit in [Unit::Bytes, Unit::Kib, Unit::Mib, Unit::Gib, Unit::Auto] {
            let text = unit.format(bytes);
            let fields: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(fields.len(), 2, "{text}");
            assert!(fields[0].parse::<f64>().is_ok(), "{text}");
        }
        for unit in Unit::ALL {
            for bytes in [0, 1, 1023, 1024, MIB - 1, MIB, 10 * MIB, bytes, u64::MAX] {
                assert_eq!(
                    unit.width(bytes),
                    unit.format(bytes).len(),
                    "{unit:?} {bytes}"
                );
            }
        }
    }
}
