//! Parsers for the files the container view reads, free of I/O: `/proc/<pid>/cgroup`,
//! `/proc/<pid>/mountinfo`, and the memory controller's files of cgroup v1 and v2 (flat keyed
//! `memory.stat`/`memory.events`, single values that may read `max`, PSI `memory.pressure`).
//! Formats as Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/memory.rst describe them.

use std::collections::HashMap;

/// A cgroup v1 limit at or above this is the kernel's "no limit" (PAGE_COUNTER_MAX pages, printed
/// as 9223372036854771712 on 4 KiB pages).
const V1_UNLIMITED: u64 = 1 << 62;

/// The cgroup a process belongs to, per hierarchy, from `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Membership {
    /// The cgroup v2 path (`0::/kubepods.slice/…`), when the process is in the unified hierarchy.
    pub unified: Option<Vec<u8>>,
    /// The cgroup v1 path of the hierarchy with the memory controller, when there is one.
    pub v1_memory: Option<Vec<u8>>,
}

/// Parses `/proc/<pid>/cgroup`: lines `ID:CONTROLLERS:PATH`.
pub(crate) fn parse_membership(text: &[u8]) -> Membership {
    let mut membership = Membership::default();
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line.splitn(3, |&b| b == b':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id == b"0" && controllers.is_empty() {
            membership.unified = Some(path.to_vec());
        } else if controllers.split(|&b| b == b',').any(|c| c == b"memory") {
            membership.v1_memory = Some(path.to_vec());
        }
    }
    membership
}

/// A cgroup filesystem mount from `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    /// The directory of the hierarchy that is mounted (`/` unless a cgroup namespace or a bind
    /// mount shows only part of it).
    pub root: Vec<u8>,
    /// Where it is mounted.
    pub mount_point: Vec<u8>,
    /// cgroup2, or a v1 hierarchy.
    pub unified: bool,
    /// For v1: the hierarchy has the memory controller.
    pub memory: bool,
}

/// The cgroup mounts listed in `mountinfo` (`ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS
/// [OPTIONAL…] - FSTYPE SOURCE SUPER_OPTIONS`).
pub(crate) fn parse_mounts(text: &[u8]) -> Vec<CgroupMount> {
    let mut mounts = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let Some(separator) = fields.iter().position(|&field| field == b"-") else {
            continue;
        };
        if separator < 6 || fields.len() < separator + 4 {
            continue;
        }
        let fstype = fields[separator + 1];
        let super_options = fields[separator + 3];
        let unified = fstype == b"cgroup2";
        if !unified && fstype != b"cgroup" {
            continue;
        }
        mounts.push(CgroupMount {
            root: unescape_octal(fields[3]),
            mount_point: unescape_octal(fields[4]),
            unified,
            memory: !unified && super_options.split(|&b| b == b',').any(|o| o == b"memory"),
        });
    }
    mounts
}

/// mountinfo writes space, tab, newline and backslash in paths as `\040`, `\011`, `\012`, `\134`.
fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut index = 0;
    while index < field.len() {
        let digits = field.get(index + 1..index + 4);
        match digits {
            Some(digits)
                if field[index] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)) =>
            {
                let value = digits
                    .iter()
                    .fold(0u32, |value, d| value * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                index += 4;
            }
            _ => {
                out.push(field[index]);
                index += 1;
            }
        }
    }
    out
}

/// A flat keyed file (`memory.stat`, `memory.events`): `KEY VALUE` per line. Lines that do not
/// have that shape are skipped: the kernel adds keys over time, and some are not numbers.
pub(crate) fn parse_flat_keyed(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// A single value in bytes; `max` (v2) or a v1 value of 2^62 or more means no limit (`None`).
/// `Err` names what the file held instead.
pub(crate) fn parse_limit(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text == "max" {
        return Ok(None);
    }
    match text.parse::<u64>() {
        Ok(value) if value >= V1_UNLIMITED => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(_) => Err(format!(
            "expected a number of bytes or \"max\", found {text:?}"
        )),
    }
}

/// A single number (`memory.current`, `memory.usage_in_bytes`).
pub(crate) fn parse_number(text: &str) -> Result<u64, String> {
    let text = text.trim();
    text.parse()
        .map_err(|_| format!("expected a number, found {text:?}"))
}

/// One line of a PSI file: the share of time tasks stalled on memory.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stall {
    /// Percent of the last 10 s.
    pub avg10: f64,
    /// Percent of the last 60 s.
    pub avg60: f64,
    /// Percent of the last 300 s.
    pub avg300: f64,
    /// Total stall time in microseconds.
    pub total_us: u64,
}

/// `memory.pressure` (PSI): `some` (at least one task stalled) and `full` (all stalled).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pressure {
    /// Some tasks were stalled on memory.
    pub some: Stall,
    /// All non-idle tasks were stalled on memory at once.
    pub full: Stall,
}

/// Parses `memory.pressure`; `None` when neither line is there.
pub(crate) fn parse_pressure(text: &str) -> Option<Pressure> {
    let mut pressure = Pressure::default();
    let mut seen = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let target = match words.next() {
            Some("some") => &mut pressure.some,
            Some("full") => &mut pressure.full,
            _ => continue,
        };
        for word in words {
            let Some((key, value)) = word.split_once('=') else {
                continue;
            };
            match key {
                "avg10" => target.avg10 = value.parse().ok()?,
                "avg60" => target.avg60 = value.parse().ok()?,
                "avg300" => target.avg300 = value.parse().ok()?,
                "total" => target.total_us = value.parse().ok()?,
                _ => {}
            }
        }
        seen = true;
    }
    seen.then_some(pressure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_of_v1_and_v2_lines() {
        let mixed = b"9:name=systemd:/\n4:memory:/process_api/3b0e\n3:cpuset:/\n0::/\n";
        let membership = parse_membership(mixed);
        assert_eq!(
            membership.v1_memory.as_deref(),
            Some(&b"/process_api/3b0e"[..])
        );
        assert_eq!(membership.unified.as_deref(), Some(&b"/"[..]));
        let pure_v2 = b"0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-ab12.scope\n";
        let membership = parse_membership(pure_v2);
        assert_eq!(membership.v1_memory, None);
        assert!(membership.unified.unwrap().ends_with(b"ab12.scope"));
        // Paths may hold colons: only the first two separate fields.
        let odd = parse_membership(b"0::/a:b\n");
        assert_eq!(odd.unified.as_deref(), Some(&b"/a:b"[..]));
    }

    #[test]
    fn cgroup_mounts_from_mountinfo() {
        let text = b"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
29 24 0:26 /kubepods/pod1 /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
50 24 0:40 / /mnt/with\\040space rw - cgroup cgroup rw,cpu,cpuacct
";
        let mounts = parse_mounts(text);
        assert_eq!(mounts.len(), 4);
        assert!(mounts[0].memory && !mounts[0].unified);
        assert!(mounts[1].unified && !mounts[1].memory);
        assert_eq!(mounts[2].root, b"/kubepods/pod1");
        assert_eq!(mounts[2].mount_point, b"/sys/fs/cgroup");
        assert_eq!(mounts[3].mount_point, b"/mnt/with space");
        assert!(!mounts[3].memory);
    }

    #[test]
    fn limits_numbers_and_keyed_files() {
        assert_eq!(parse_limit("max\n"), Ok(None));
        assert_eq!(parse_limit("536870912\n"), Ok(Some(512 << 20)));
        assert_eq!(parse_limit("9223372036854771712\n"), Ok(None));
        assert!(parse_limit("lots").is_err());
        assert_eq!(parse_number(" 42\n"), Ok(42));
        assert!(parse_number("").is_err());
        let stat = parse_flat_keyed("anon 1024\nfile 2048\nweird line here\nsock 0\n");
        assert_eq!(stat.get("anon"), Some(&1024));
        assert_eq!(stat.get("sock"), Some(&0));
        assert_eq!(stat.len(), 3);
    }

    #[test]
    fn pressure_lines() {
        let text = "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n\
                    full avg10=0.00 avg60=0.10 avg300=0.00 total=789\n";
        let pressure = parse_pressure(text).unwrap();
        assert_eq!(pressure.some.avg10, 1.5);
        assert_eq!(pressure.some.total_us, 123456);
        assert_eq!(pressure.full.avg60, 0.1);
        assert_eq!(parse_pressure(""), None);
    }
}
