//! Log ingest rate per preset: for every preset, follows a generated log from its start through
//! the same follower and preset matcher `record` uses, and prints MB/s and lines/s. Run with
//! `cargo bench -p hbwatch --bench log_ingest` (MiB per preset from HBWATCH_BENCH_MIB, default
//! 64; one preset with HBWATCH_BENCH_PRESET=NAME).
//!
//! Each log is the preset's own example line (a heartbeat-loss line) once per 1000 lines, and
//! ordinary lines in between: the same example with the letters after its first 32 bytes (about a
//! timestamp; at most half the line) rotated by 13, so the stamp and the line's shape stay those
//! of the real system while the message no longer matches (the bench checks that exactly the loss
//! lines match).

use std::{io::Write as _, path::Path, time::Instant};

use hbwatch::{
    heartbeat::follow::Follower,
    protocol::{
        matcher::LineMatcher,
        presets::{self, Preset},
        timestamp::TsContext,
    },
};

fn main() {
    let mib: usize = std::env::var("HBWATCH_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let only = std::env::var("HBWATCH_BENCH_PRESET").ok();
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "{:<14} {:>8} {:>10} {:>12} {:>9}",
        "preset", "MiB", "MB/s", "lines/s", "matched"
    );
    for p in presets::PRESETS {
        if only.as_deref().is_some_and(|o| o != p.name) {
            continue;
        }
        let path = dir.path().join(format!("{}.log", p.name));
        let (lines, losses) = write_log(&path, p, mib);
        let size = std::fs::metadata(&path).expect("stat").len();
        let (best, matched) = best_of_three(&path, p, size);
        let note = if matched == losses {
            String::new()
        } else {
            format!("  (expected {losses})")
        };
        println!(
            "{:<14} {:>8.0} {:>10.0} {:>12.0} {:>9}{note}",
            p.name,
            size as f64 / 1048576.0,
            size as f64 / 1e6 / best,
            lines as f64 / best,
            matched
        );
        let _ = std::fs::remove_file(&path);
    }
}

/// Writes about `mib` MiB; returns (lines, loss lines).
fn write_log(path: &Path, p: &Preset, mib: usize) -> (u64, u64) {
    let loss = format!("{}\n", p.example.trim_end());
    let ordinary = format!("{}\n", rot13_message(p.example.trim_end()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let (mut written, mut lines, mut losses) = (0usize, 0u64, 0u64);
    while written < mib << 20 {
        let l = if lines % 1000 == 999 {
            losses += 1;
            &loss
        } else {
            &ordinary
        };
        out.write_all(l.as_bytes()).expect("write");
        written += l.len();
        lines += 1;
    }
    out.flush().expect("flush");
    (lines, losses)
}

fn rot13_message(line: &str) -> String {
    let mid = (line.len().min(32).min(line.len() / 2)..=line.len())
        .find(|&i| line.is_char_boundary(i))
        .unwrap_or(line.len());
    let rotated: String = line[mid..]
        .chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
            _ => c,
        })
        .collect();
    format!("{}{rotated}", &line[..mid])
}

/// Best wall time of three full reads, and the lines matched in the last.
fn best_of_three(path: &Path, p: &'static Preset, size: u64) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut matched = 0u64;
    for _ in 0..3 {
        let mut m = LineMatcher::preset(
            p,
            TsContext::new(jiff::tz::TimeZone::UTC, hbwatch::clock::realtime_ns()),
        );
        let mut f = Follower::new(path, true);
        matched = 0;
        let t = Instant::now();
        while f.counts.bytes < size {
            f.poll(&mut |line| {
                if m.match_line(line).is_some() {
                    matched += 1;
                }
            });
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, matched)
}
