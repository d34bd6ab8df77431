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

/// "950", "12.3k", "4.56M".
pub fn count(v: u64) -> String {
    let f = v as f64;
    match v {
        0..10_000 => v.to_string(),
        10_000..10_000_000 => format!("{:.1}k", f / 1e3),
        _ => format!("{:.2}M", f / 1e6),
    }
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
}
