//! Sizes for people: the unit chosen with `-unit`. Every size is written as a number, a space
//! and a unit, so that `awk` finds the number in the same field whatever the unit.

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
        match self {
            Unit::Bytes => format!("{bytes} B"),
            Unit::Kib => format!("{} kB", bytes / KIB),
            Unit::Mib => format!("{} MB", bytes / MIB),
            Unit::Gib => format!("{:.2} GB", bytes as f64 / GIB as f64),
            Unit::Auto => format_size(bytes, BINARY),
        }
    }
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
    }
}
