//! Who used the CPUs: the per-(CPU, process) samples of a recording folded into totals, and the
//! top CPU users of a CPU in a window set against the rest of the recording.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::recording::records::{CpuTaskSamples, CpuTasks, TaskAffinity};

/// A user holding at least this share of a CPU's samples dominates it.
pub const DOMINANT_SHARE: f64 = 0.5;
/// Users shown per CPU in the evidence.
const USERS_SHOWN: usize = 3;

/// Samples of one process on one CPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskTotal {
    pub comm: String,
    pub kernel_thread: bool,
    pub samples: u64,
    pub softirq: u64,
}

/// Samples on one CPU: all, idle, per process (those that made an interval's top list), others.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuTotals {
    pub samples: u64,
    pub idle: u64,
    pub others: u64,
    pub tasks: BTreeMap<u32, TaskTotal>,
}

impl CpuTotals {
    pub fn add(&mut self, c: &CpuTasks) {
        self.samples += c.samples;
        self.idle += c.idle;
        self.others += c.others;
        for t in &c.top {
            let e = self.tasks.entry(t.tgid).or_default();
            e.comm.clone_from(&t.comm);
            e.kernel_thread = t.kernel_thread;
            e.samples += t.samples;
            e.softirq += t.softirq;
        }
    }
}

/// The whole recording's CPU-user samples (the baseline of every gap window) and the affinity of
/// watched processes.
#[derive(Debug, Clone, Default)]
pub struct CpuTaskSummary {
    /// Intervals recorded: zero means the per-process sampling did not run.
    pub intervals: u64,
    /// Samples the kernel could not attribute (its table was full).
    pub uncounted: u64,
    pub totals: BTreeMap<u32, CpuTotals>,
    /// Latest affinity per watched process.
    pub affinity: BTreeMap<u32, TaskAffinity>,
}

impl CpuTaskSummary {
    pub fn add(&mut self, iv: &CpuTaskSamples) {
        self.intervals += 1;
        self.uncounted += iv.uncounted;
        for c in &iv.cpus {
            self.totals.entry(c.cpu).or_default().add(c);
        }
    }
    pub fn add_affinity(&mut self, a: &TaskAffinity) {
        self.affinity.insert(a.tgid, a.clone());
    }
}

/// One process on a CPU in a gap window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuUser {
    pub tgid: u32,
    pub comm: String,
    pub kernel_thread: bool,
    /// Share of the CPU's samples in the window (0–1), and the part of it spent in softirq.
    pub window_share: f64,
    pub window_softirq_share: f64,
    /// Share of the CPU's samples in the rest of the recording.
    pub baseline_share: f64,
}

/// The top CPU users of one CPU that handles the heartbeat flow, window against baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NicCpuUsers {
    pub cpu: u32,
    pub window_samples: u64,
    /// Share of the window's samples not in the idle task, and the same in the baseline.
    pub window_busy_share: f64,
    pub baseline_busy_share: f64,
    /// Most window samples first.
    pub top: Vec<CpuUser>,
}

impl NicCpuUsers {
    /// The user that held the CPU for at least [`DOMINANT_SHARE`] of the window, if any.
    pub fn dominant(&self) -> Option<&CpuUser> {
        self.top
            .first()
            .filter(|u| u.window_share >= DOMINANT_SHARE)
    }
}

fn share(n: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

/// The top users of `cpu` in `window`, with `total` (the whole recording) as the baseline.
pub fn users(cpu: u32, window: &CpuTotals, total: &CpuTotals) -> NicCpuUsers {
    let base_samples = total.samples.saturating_sub(window.samples);
    let base_idle = total.idle.saturating_sub(window.idle);
    let mut top: Vec<CpuUser> = window
        .tasks
        .iter()
        .filter(|(_, t)| t.samples > 0)
        .map(|(&tgid, t)| {
            let all = total.tasks.get(&tgid).map_or(0, |x| x.samples);
            CpuUser {
                tgid,
                comm: t.comm.clone(),
                kernel_thread: t.kernel_thread,
                window_share: share(t.samples, window.samples),
                window_softirq_share: share(t.softirq, window.samples),
                baseline_share: share(all.saturating_sub(t.samples), base_samples),
            }
        })
        .collect();
    top.sort_by(|a, b| {
        b.window_share
            .total_cmp(&a.window_share)
            .then(a.tgid.cmp(&b.tgid))
    });
    top.truncate(USERS_SHOWN);
    NicCpuUsers {
        cpu,
        window_samples: window.samples,
        window_busy_share: share(
            window.samples - window.idle.min(window.samples),
            window.samples,
        ),
        baseline_busy_share: share(base_samples - base_idle.min(base_samples), base_samples),
        top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::records::TaskSamples;

    fn iv(cpu: u32, idle: u64, tasks: &[(u32, &str, bool, u64, u64)]) -> CpuTasks {
        let top: Vec<TaskSamples> = tasks
            .iter()
            .map(|&(tgid, comm, k, samples, softirq)| TaskSamples {
                tgid,
                comm: comm.into(),
                kernel_thread: k,
                samples,
                softirq,
            })
            .collect();
        CpuTasks {
            cpu,
            samples: idle + top.iter().map(|t| t.samples).sum::<u64>() + 1,
            idle,
            top,
            others: 1,
            others_softirq: 0,
        }
    }

    #[test]
    fn window_against_baseline_and_dominance() {
        let mut total = CpuTotals::default();
        let mut window = CpuTotals::default();
        // Baseline: mostly idle, a little of the daemon.
        for _ in 0..9 {
            total.add(&iv(0, 90, &[(10, "corosync", false, 9, 0)]));
        }
        // Window: a batch job holds the CPU, ksoftirqd runs softirq work under it.
        let w = iv(
            0,
            0,
            &[
                (77, "backup", false, 80, 30),
                (9, "ksoftirqd/0", true, 19, 19),
            ],
        );
        total.add(&w);
        window.add(&w);
        let u = users(0, &window, &total);
        assert_eq!(u.window_samples, 100);
        assert!((u.window_busy_share - 1.0).abs() < 1e-9);
        assert!(
            (u.baseline_busy_share - 0.1).abs() < 1e-9,
            "{}",
            u.baseline_busy_share
        );
        assert_eq!(u.top[0].comm, "backup");
        assert!((u.top[0].window_share - 0.8).abs() < 1e-9);
        assert!((u.top[0].window_softirq_share - 0.3).abs() < 1e-9);
        assert_eq!(u.top[0].baseline_share, 0.0);
        assert_eq!(u.dominant().map(|d| d.tgid), Some(77));
        assert!(u.top[1].kernel_thread);
        // The daemon did not run in the window: not listed.
        assert!(u.top.iter().all(|t| t.tgid != 10));
    }

    #[test]
    fn no_dominant_user_below_half() {
        let mut window = CpuTotals::default();
        window.add(&iv(1, 60, &[(5, "a", false, 30, 0), (6, "b", false, 9, 0)]));
        let u = users(1, &window, &window.clone());
        assert!(u.dominant().is_none());
        assert_eq!(u.baseline_busy_share, 0.0);
    }
}
