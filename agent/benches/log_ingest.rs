//! Log ingest rate: follows a large generated corosync log from its start through the same
//! follower and preset matcher `record` uses, and prints MB/s. Run with
//! `cargo bench -p hbwatch --bench log_ingest` (size in MiB from HBWATCH_BENCH_MIB, default 256).

use std::{io::Write as _, time::Instant};

use hbwatch::heartbeat::{follow::Follower, matcher::LineMatcher, presets, timestamp::TsContext};

fn main() {
    let mib: usize = std::env::var("HBWATCH_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("corosync.log");
    let ordinary = [
        "Nov 22 06:11:40.001 [20774] vm corosync info    [KNET  ] pmtud: Global data MTU changed to: 1397\n",
        "Nov 22 06:11:40.101 [20774] vm corosync notice  [QUORUM] Sync members[2]: 1 2\n",
        "Nov 22 06:11:40.201 [20774] vm corosync notice  [TOTEM ] A new membership (1.d) was formed. Members joined: 2\n",
        "Nov 22 06:11:40.301 [20774] vm corosync info    [KNET  ] rx: host: 2 link: 0 is up\n",
    ];
    let loss = "Nov 22 06:11:44.871 [20774] vm corosync notice  [TOTEM ] Token has not been received in 750 ms\n";
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        let mut written = 0usize;
        let mut i = 0usize;
        while written < mib << 20 {
            let l = if i % 1000 == 999 {
                loss
            } else {
                ordinary[i % ordinary.len()]
            };
            out.write_all(l.as_bytes()).expect("write");
            written += l.len();
            i += 1;
        }
        out.flush().expect("flush");
    }
    let size = std::fs::metadata(&path).expect("stat").len();
    let preset = presets::find("corosync").expect("preset");
    let mut best = f64::MAX;
    let mut matched = 0u64;
    for _ in 0..3 {
        let mut m = LineMatcher::preset(
            preset,
            TsContext::new(jiff::tz::TimeZone::UTC, hbwatch::clock::realtime_ns()),
        );
        let mut f = Follower::new(&path, true);
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
    println!(
        "log_ingest: corosync preset over {:.0} MiB ({} lines matched): {:.0} MB/s (best of 3, {:.3} s)",
        size as f64 / 1048576.0,
        matched,
        size as f64 / 1e6 / best,
        best
    );
}
