//! Synthetic recordings of a host of any size, written through the real [`RecordingWriter`], for
//! benchmarks (size per hour, report speed) and fuzz seeds. Activity follows a production-like mix:
//! timer and RCU softirqs on every CPU, network softirqs on the CPUs that own NIC queues, and an
//! occasional slow burst; plus every other family the recorder writes each second, with a
//! heartbeat and a gap every ten minutes (`families.rs`).

use std::path::Path;

pub mod causes;
mod families;
pub mod one_gap;
pub use families::{GAP_EVERY_S, GAP_LEN_S};

use agent_common::hist::bucket_index;

use super::{
    RecordingWriter,
    format::RecordingError,
    records::{
        ClockAnchor, Header, NicSummary, Record, SoftirqCell, SoftirqInterval, SparseHist,
        StopInfo, TimedMax,
    },
};

/// The shape of the simulated host and run.
#[derive(Debug, Clone)]
pub struct SynthHost {
    pub cpus: u32,
    /// NIC queues; queue q's interrupts land on CPU `q * cpus / queues`.
    pub queues: u32,
    pub seconds: u64,
    pub seed: u64,
}

/// Linux's softirq vectors, in /proc/softirqs order.
const VECTORS: [&str; 10] = [
    "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
];
const START_MONO_NS: u64 = 1_000_000_000_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `lo..hi` (hi > lo).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

pub fn header(h: &SynthHost) -> Header {
    Header {
        hbwatch_version: env!("CARGO_PKG_VERSION").to_owned(),
        host: format!("synthetic-{}cpu", h.cpus),
        kernel_release: "6.18.0-synthetic".into(),
        cpus: h.cpus,
        online_cpus: (0..h.cpus).collect(),
        nics: vec![NicSummary {
            name: "eth0".into(),
            driver: Some("mlx5_core".into()),
            rx_queues: h.queues,
            tx_queues: h.queues,
        }],
        boot_id: "00000000-0000-0000-0000-000000000000".into(),
        anchor: ClockAnchor {
            mono_ns: START_MONO_NS,
            realtime_ns: 1_790_000_000_000_000_000,
        },
        softirq_vectors: VECTORS.iter().map(|v| (*v).to_owned()).collect(),
        command: vec!["synthetic".into()],
    }
}

/// A histogram of `n` values spread log-normally-ish around `typical_ns`, with a tail.
fn hist(rng: &mut Rng, n: u64, typical_ns: u64) -> (SparseHist, u64, u64) {
    let mut buckets = std::collections::BTreeMap::<u16, u64>::new();
    let (mut sum, mut max) = (0u64, 0u64);
    // Sampling every value of a busy cell is slow; 64 draws shape the buckets, scaled to `n`.
    let draws = n.min(64);
    for i in 0..draws {
        let share = n / draws + u64::from(i < n % draws);
        let spread = rng.range(1, 16);
        let v = if rng.next().is_multiple_of(50) {
            typical_ns * spread * 4
        } else {
            typical_ns * spread / 4 + 1
        };
        *buckets.entry(bucket_index(v) as u16).or_default() += share;
        sum += v * share;
        max = max.max(v);
    }
    (SparseHist(buckets.into_iter().collect()), sum, max)
}

/// One CPU × vector cell with between `entries.0` and `entries.1` softirqs.
fn cell(
    rng: &mut Rng,
    cpu: u32,
    vector: u8,
    entries: (u64, u64),
    at: u64,
    typical: u64,
) -> SoftirqCell {
    let entries = rng.range(entries.0, entries.1);
    let (wait_hist, wait_sum_ns, wait_max) = hist(rng, entries, typical / 2);
    let (run_hist, run_sum_ns, run_max) = hist(rng, entries, typical);
    SoftirqCell {
        cpu,
        vector,
        entries,
        ksoftirqd_entries: entries / 50,
        raises: entries + entries / 10,
        wait_unknown: 0,
        wait_sum_ns,
        run_sum_ns,
        wait_max: Some(TimedMax {
            value_ns: wait_max,
            at_mono_ns: at + rng.range(0, 1_000_000_000),
        }),
        run_max: Some(TimedMax {
            value_ns: run_max,
            at_mono_ns: at + rng.range(0, 1_000_000_000),
        }),
        wait_hist,
        run_hist,
    }
}

/// One second of activity on every CPU.
fn interval(h: &SynthHost, rng: &mut Rng, second: u64) -> SoftirqInterval {
    let start = START_MONO_NS + second * 1_000_000_000;
    let mut cells = Vec::new();
    let queue_cpus: Vec<u32> = (0..h.queues.max(1))
        .map(|q| q * h.cpus / h.queues.max(1))
        .collect();
    for cpu in 0..h.cpus {
        let busy = queue_cpus.contains(&cpu);
        cells.push(cell(rng, cpu, 1, (100, 1000), start, 2_000));
        cells.push(cell(rng, cpu, 9, (20, 400), start, 3_000));
        if rng.next().is_multiple_of(2) {
            cells.push(cell(rng, cpu, 7, (10, 300), start, 5_000));
        }
        if rng.next().is_multiple_of(4) {
            cells.push(cell(rng, cpu, 8, (1, 50), start, 1_500));
        }
        if busy {
            cells.push(cell(rng, cpu, 3, (2_000, 30_000), start, 20_000));
            cells.push(cell(rng, cpu, 2, (200, 5_000), start, 8_000));
        } else if rng.next().is_multiple_of(8) {
            // RPS/RFS steering some receive work to other CPUs.
            cells.push(cell(rng, cpu, 3, (10, 500), start, 15_000));
        }
        if rng.next().is_multiple_of(16) {
            cells.push(cell(rng, cpu, 4, (1, 100), start, 10_000));
        }
    }
    SoftirqInterval {
        start_mono_ns: start,
        end_mono_ns: start + 1_000_000_000,
        cells,
    }
}

/// Writes a recording of `h` to `path` (replacing it) and returns the bytes written.
pub fn write(path: &Path, h: &SynthHost) -> Result<u64, RecordingError> {
    let hdr = header(h);
    let mut w = RecordingWriter::create(path, true, &hdr)?;
    let mut rng = Rng(h.seed | 1);
    for r in families::preamble() {
        w.push(&r)?;
    }
    for s in 0..h.seconds {
        w.push(&Record::Softirq(interval(h, &mut rng, s)))?;
        for r in families::second(h, &mut rng, s) {
            w.push(&r)?;
        }
        let mono_ns = START_MONO_NS + (s + 1) * 1_000_000_000;
        w.push(&Record::Clock(ClockAnchor {
            mono_ns,
            realtime_ns: hdr.anchor.realtime_of(mono_ns),
        }))?;
        w.flush()?;
    }
    w.push(&Record::Stop(StopInfo {
        at_mono_ns: START_MONO_NS + h.seconds * 1_000_000_000,
        reason: "duration reached".into(),
    }))?;
    w.flush()?;
    Ok(w.bytes_written())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::RecordingReader;

    #[test]
    fn synthetic_recording_reads_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.hbw");
        let h = SynthHost {
            cpus: 8,
            queues: 2,
            seconds: 5,
            seed: 7,
        };
        let bytes = write(&path, &h).expect("write");
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), bytes);
        let mut r = RecordingReader::open(&path).expect("open");
        let n = r
            .by_ref()
            .filter(|x| matches!(x, Record::Softirq(iv) if iv.cells.len() >= 16))
            .count();
        assert_eq!(n, 5);
        assert_eq!(r.stats().corrupt_frames, 0);
    }
}
