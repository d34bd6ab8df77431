//! Human formatting of durations and sizes.

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
}
