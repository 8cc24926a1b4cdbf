//! Value parsers for the over-time flags: intervals in Go's duration syntax (`500ms`, `10s`,
//! `1m30s`), sizes (`10MB`, `512kB`, `2GiB`: binary units, as the text output's `MB` means MiB)
//! and rates (`5MB/h`). Each error says what a good value looks like.

use std::time::Duration;

const DURATION_HELP: &str = "an interval is a number and a unit, as in Go: 500ms, 10s, 1m, 1h30m";

/// Parses a positive duration in Go's syntax: numbers (decimals allowed) each followed by a unit
/// `ns`, `us`, `µs`, `ms`, `s`, `m` or `h`.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(DURATION_HELP.to_string());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?} has no unit: {DURATION_HELP}"))?;
        let number: f64 = rest[..number_end]
            .parse()
            .map_err(|_| format!("{text:?} is not an interval: {DURATION_HELP}"))?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("{text:?}: unknown unit {unit:?}: {DURATION_HELP}")),
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    if total <= 0.0 || total.is_nan() || !total.is_finite() {
        return Err(format!(
            "{text:?}: the interval must be more than 0 ({DURATION_HELP})"
        ));
    }
    if total < 0.001 {
        return Err(format!("{text:?}: the interval must be at least 1ms"));
    }
    Ok(Duration::from_secs_f64(total))
}

const SIZE_HELP: &str = "a size is a number and a unit: 512kB, 10MB, 2GB (binary: 1MB = 1024 kB)";

/// Parses a size in bytes: a number (decimals allowed) and an optional unit `B`, `k`/`kB`/`KiB`,
/// `M`/`MB`/`MiB`, `G`/`GB`/`GiB`, `T`/`TB`/`TiB` (any case), all powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let number: f64 = trimmed[..split]
        .parse()
        .map_err(|_| format!("{text:?} is not a size: {SIZE_HELP}"))?;
    let power = match trimmed[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 1,
        "m" | "mb" | "mib" => 2,
        "g" | "gb" | "gib" => 3,
        "t" | "tb" | "tib" => 4,
        unit => return Err(format!("{text:?}: unknown unit {unit:?}: {SIZE_HELP}")),
    };
    let bytes = number * 1024f64.powi(power);
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes.round() as u64)
}

/// Parses a rate as bytes per hour: a size, `/`, and `h`, `m` (minute) or `s` (`5MB/h`).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let help = "a rate is a size per hour, minute or second: 5MB/h, 100kB/m";
    let (size, per) = text
        .rsplit_once('/')
        .ok_or_else(|| format!("{text:?} is not a rate: {help}"))?;
    let bytes = parse_size(size)? as f64;
    let per_hour = match per.trim() {
        "h" => 1.0,
        "m" | "min" => 60.0,
        "s" => 3600.0,
        other => return Err(format!("{text:?}: unknown time unit {other:?}: {help}")),
    };
    Ok((bytes * per_hour).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_in_go_syntax() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_interval("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_interval("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["0", "0s", "0ms", "10", "abc", "", "5x", "-1s", "s", "1us"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        assert!(parse_interval("0s").unwrap_err().contains("more than 0"));
    }

    #[test]
    fn sizes_and_rates() {
        assert_eq!(parse_size("10MB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("512kB"), Ok(512 * 1024));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5M"), Ok(3 << 19));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("ten MB").is_err());
        assert!(parse_size("10XB").is_err());
        assert_eq!(parse_rate("5MB/h"), Ok(5 * 1024 * 1024));
        assert_eq!(parse_rate("1kB/m"), Ok(60 * 1024));
        assert!(parse_rate("5MB").is_err());
        assert!(parse_rate("5MB/week").is_err());
    }
}
