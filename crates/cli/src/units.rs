//! The quantities a person types, parsed into values, and printed back.
//!
//! Every parser returns `Err(String)` with one sentence naming the bad
//! input, never panics, and is a clap `value_parser`, so a bad flag value
//! ends the program with one clear line and exit status 2:
//!
//! - sizes: `4096`, `512k`, `64M`, `1G`, `1.5GiB` (powers of 1024; a `B`,
//!   `iB` or `b` suffix is accepted);
//! - durations: `10s`, `500ms`, `2m`, `250us`, or a plain number of seconds;
//! - seeds: decimal or `0x…` hexadecimal;
//! - mixes: `name=weight,…` over a fixed list of names (`parse_mix`).
//!
//! `physical_memory` bounds the sizes that make sense on this machine.

use std::time::Duration;

/// Parse a byte size.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (try 4096, 512k, 64M, 1G)"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("`{s}`: unknown size unit (use k, M, G or T)")),
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes >= usize::MAX as f64 / 2.0 {
        return Err(format!("`{s}` is too large"));
    }
    Ok(bytes.round() as usize)
}

/// Parse a duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (try 10s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "`{s}`: unknown duration unit (use us, ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is not a usable duration"))
}

/// Parse a seed: decimal or `0x` hexadecimal.
pub fn parse_seed(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    r.map_err(|_| format!("`{s}` is not a seed (a number, decimal or 0x hex)"))
}

/// Parse `name=weight,…` into weights for `names` (in that order). Names
/// not mentioned get weight 0; at least one weight must be positive.
pub fn parse_mix(s: &str, names: &[&str]) -> Result<Vec<u32>, String> {
    let mut w = vec![0u32; names.len()];
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .or_else(|| item.split_once(':'))
            .ok_or_else(|| format!("`{item}`: expected name=weight"))?;
        let i = names
            .iter()
            .position(|n| *n == name.trim())
            .ok_or_else(|| format!("`{name}`: unknown name; one of {}", names.join(", ")))?;
        w[i] = value
            .trim()
            .parse()
            .map_err(|_| format!("`{item}`: the weight must be a whole number"))?;
    }
    if w.iter().all(|&x| x == 0) {
        return Err(format!("`{s}`: every weight is zero"));
    }
    Ok(w)
}

/// Physical memory of this machine in bytes, if the OS says.
pub fn physical_memory() -> Option<usize> {
    // SAFETY: sysconf has no preconditions; it returns -1 on failure.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if pages <= 0 || page <= 0 {
        return None;
    }
    (pages as usize).checked_mul(page as usize)
}

/// Bytes as `12.3 MiB`.
pub fn fmt_bytes(n: usize) -> String {
    let n = n as f64;
    if n >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", n / (1u64 << 30) as f64)
    } else if n >= (1 << 20) as f64 {
        format!("{:.1} MiB", n / (1 << 20) as f64)
    } else if n >= 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// Milliseconds with a precision that suits their size.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        "-".to_string()
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 0.9995 {
        format!("{ms:.2} ms")
    } else if ms >= 0.01 {
        format!("{:.0} µs", ms * 1e3)
    } else {
        format!("{:.2} µs", ms * 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("12q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("1e400").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn seeds_and_mixes() {
        assert_eq!(parse_seed("0x10"), Ok(16));
        assert_eq!(parse_seed("42"), Ok(42));
        assert!(parse_seed("-1").is_err());
        let names = ["a", "b", "c"];
        assert_eq!(parse_mix("a=1, c=3", &names), Ok(vec![1, 0, 3]));
        assert_eq!(parse_mix("b:2", &names), Ok(vec![0, 2, 0]));
        assert!(parse_mix("d=1", &names).is_err());
        assert!(parse_mix("a=0", &names).is_err());
        assert!(parse_mix("a=x", &names).is_err());
        assert!(parse_mix("a", &names).is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(3 << 20), "3.0 MiB");
        assert_eq!(fmt_ms(0.25), "250 µs");
        assert_eq!(fmt_ms(2.5), "2.50 ms");
        assert_eq!(fmt_ms(0.0004), "0.40 µs");
    }
}
