//! The ground floor: durations, sizes and CPU masks as people and the kernel write them, used by
//! every layer.

use std::time::Duration;

/// "850ns", "12.3µs", "4.56ms", "1.20s".
pub fn ns(v: u64) -> String {
    let f = v as f64;
    match v {
        0..1_000 => format!("{v}ns"),
        1_000..1_000_000 => format!("{:.1}µs", f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2}ms", f / 1e6),
        _ => format!("{:.2}s", f / 1e9),
    }
}

/// "512 B", "12.3 KiB", "4.5 MiB".
pub fn bytes(v: u64) -> String {
    let f = v as f64;
    match v {
        0..1024 => format!("{v} B"),
        1024..1_048_576 => format!("{:.1} KiB", f / 1024.0),
        _ => format!("{:.1} MiB", f / 1_048_576.0),
    }
}

/// "950", "12.3k", "8.0M", "2.1G": the largest unit that keeps the number below 1000, so a
/// count reads as "8.0M", never "7976.9k".
pub fn count(v: u64) -> String {
    if v < 10_000 {
        return v.to_string();
    }
    let mut f = v as f64;
    for unit in ["k", "M", "G", "T"] {
        f /= 1e3;
        // 999.96k would print as "1000.0k": it moves up to "1.0M".
        if f < 999.95 {
            return format!("{f:.1}{unit}");
        }
    }
    format!("{f:.1}P")
}

/// A positive duration such as `30s`, `500ms`, `2m`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!("`{s}` is not a duration ({e}); use forms like 30s, 500ms, 5m, 1h30m")
    })?;
    if d.is_zero() {
        return Err(format!("`{s}`: the duration must be greater than zero"));
    }
    Ok(d)
}

/// Parses a kernel hex CPU mask ("00000000,0000ff0f"): comma-separated 32-bit words, most
/// significant first.
pub fn parse_cpumask(s: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for (word_no, word) in s.trim().rsplit(',').enumerate() {
        let Ok(bits) = u32::from_str_radix(word.trim(), 16) else {
            continue;
        };
        for b in 0..32 {
            if bits & (1 << b) != 0 {
                cpus.push(word_no as u32 * 32 + b);
            }
        }
    }
    cpus.sort_unstable();
    cpus
}

/// The hex mask the kernel accepts for these CPUs ("3", "ff,ffffffff").
pub fn format_cpumask(cpus: &[u32]) -> String {
    let words = cpus.iter().max().map_or(1, |m| *m as usize / 32 + 1);
    let mut w = vec![0u32; words];
    for c in cpus {
        w[*c as usize / 32] |= 1 << (c % 32);
    }
    let mut parts: Vec<String> = w.iter().rev().map(|x| format!("{x:08x}")).collect();
    // The first word needs no leading zeros.
    if let Some(first) = parts.first_mut() {
        *first = format!("{:x}", w[words - 1]);
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::ns(850), "850ns");
        assert_eq!(super::ns(12_345), "12.3µs");
        assert_eq!(super::ns(4_560_000), "4.56ms");
        assert_eq!(super::ns(1_200_000_000), "1.20s");
        assert_eq!(super::bytes(2048), "2.0 KiB");
        assert_eq!(super::count(12_345), "12.3k");
    }

    #[test]
    fn counts_use_the_largest_unit_below_1000() {
        for (v, want) in [
            (9_999, "9999"),
            (10_000, "10.0k"),
            (999_949, "999.9k"),
            (999_950, "1.0M"),
            (7_976_900, "8.0M"),
            (12_345_678, "12.3M"),
            (2_100_000_000, "2.1G"),
        ] {
            assert_eq!(super::count(v), want, "count({v})");
        }
    }

    #[test]
    fn masks() {
        use super::{format_cpumask, parse_cpumask};
        assert_eq!(parse_cpumask("0\n"), Vec::<u32>::new());
        assert_eq!(parse_cpumask("3\n"), vec![0, 1]);
        assert_eq!(parse_cpumask("00000001,00000100\n"), vec![8, 32]);
        assert_eq!(format_cpumask(&[0, 1]), "3");
        assert_eq!(format_cpumask(&[8, 32]), "1,00000100");
        let many: Vec<u32> = (0..72).collect();
        assert_eq!(parse_cpumask(&format_cpumask(&many)), many);
    }
}
