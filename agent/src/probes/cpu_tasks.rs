//! Turns the cumulative per-(CPU, process) sample counts of `CPU_TASKS` into one interval's
//! [`CpuTaskSamples`]: deltas, the top processes per CPU and an "others" remainder.

use std::collections::{BTreeMap, HashMap};

use crate::{
    collectors::host::HostRoot,
    recording::records::{CpuTaskSamples, CpuTasks, TOP_TASKS_PER_CPU, TaskSamples},
};

/// One process's cumulative counts on one CPU, as read from the kernel map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCell {
    pub cpu: u32,
    pub samples: u64,
    pub softirq: u64,
    pub comm: String,
}

/// The state kept between reads: the previous cumulative counts and what is known of each
/// process.
#[derive(Debug, Default)]
pub struct TaskFold {
    prev: HashMap<(u32, u32), (u64, u64)>,
    kernel: HashMap<u32, bool>,
}

/// One fold's result: the interval and the processes whose counts did not move (their kernel
/// entries can be removed so the map never fills with exited processes).
pub struct Folded {
    pub cpus: Vec<CpuTasks>,
    pub idle_tgids: Vec<u32>,
}

impl TaskFold {
    /// Folds the current cumulative counts (tgid → cells) into per-CPU deltas. `is_kernel` tells
    /// kernel threads apart; it is asked once per process.
    pub fn fold(
        &mut self,
        current: &BTreeMap<u32, Vec<TaskCell>>,
        mut is_kernel: impl FnMut(u32) -> bool,
    ) -> Folded {
        let mut per_cpu: BTreeMap<u32, CpuTasks> = BTreeMap::new();
        let mut tasks: BTreeMap<u32, Vec<TaskSamples>> = BTreeMap::new();
        let mut idle_tgids = Vec::new();
        for (&tgid, cells) in current {
            let mut moved = false;
            for c in cells {
                let (ps, pq) = self.prev.get(&(c.cpu, tgid)).copied().unwrap_or((0, 0));
                // A removed-and-recreated entry restarts from zero: take the count as is.
                let (ds, dq) = if c.samples >= ps {
                    (c.samples - ps, c.softirq.saturating_sub(pq))
                } else {
                    (c.samples, c.softirq)
                };
                self.prev.insert((c.cpu, tgid), (c.samples, c.softirq));
                if ds == 0 {
                    continue;
                }
                moved = true;
                let cpu = per_cpu.entry(c.cpu).or_insert_with(|| CpuTasks {
                    cpu: c.cpu,
                    ..CpuTasks::default()
                });
                cpu.samples += ds;
                if tgid == 0 {
                    cpu.idle += ds;
                    continue;
                }
                let kernel = *self.kernel.entry(tgid).or_insert_with(|| is_kernel(tgid));
                tasks.entry(c.cpu).or_default().push(TaskSamples {
                    tgid,
                    comm: c.comm.clone(),
                    kernel_thread: kernel,
                    samples: ds,
                    softirq: dq,
                });
            }
            if !moved {
                idle_tgids.push(tgid);
            }
        }
        for tgid in &idle_tgids {
            self.prev.retain(|(_, t), _| t != tgid);
            self.kernel.remove(tgid);
        }
        for (cpu, mut list) in tasks {
            list.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.tgid.cmp(&b.tgid)));
            let rest = list.split_off(list.len().min(TOP_TASKS_PER_CPU));
            let c = per_cpu.entry(cpu).or_default();
            c.others = rest.iter().map(|t| t.samples).sum();
            c.others_softirq = rest.iter().map(|t| t.softirq).sum();
            c.top = list;
        }
        Folded {
            // A CPU that only idled says nothing about CPU users; leave it out.
            cpus: per_cpu
                .into_values()
                .filter(|c| c.samples > c.idle)
                .collect(),
            idle_tgids,
        }
    }
}

/// The record for one interval.
pub fn interval(
    f: Folded,
    start_mono_ns: u64,
    end_mono_ns: u64,
    rate_hz: u32,
    uncounted: u64,
) -> CpuTaskSamples {
    CpuTaskSamples {
        start_mono_ns,
        end_mono_ns,
        rate_hz,
        cpus: f.cpus,
        uncounted,
    }
}

/// PF_KTHREAD in the flags field of /proc/PID/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

/// True for a kernel thread; false for a user process or one that is gone.
pub fn is_kernel_thread(host: &HostRoot, tgid: u32) -> bool {
    let Ok(stat) = host.read(&format!("proc/{tgid}/stat")) else {
        return false;
    };
    // The name may hold spaces and parentheses: fields resume after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return false;
    };
    // state ppid pgrp session tty_nr tpgid flags
    rest.split_whitespace()
        .nth(6)
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|f| f & PF_KTHREAD != 0)
}

/// A NUL-padded kernel comm as text.
pub fn comm_text(raw: &[u8; 16]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(cpu: u32, samples: u64, softirq: u64, comm: &str) -> TaskCell {
        TaskCell {
            cpu,
            samples,
            softirq,
            comm: comm.into(),
        }
    }

    #[test]
    fn deltas_top_n_others_and_idle() {
        let mut f = TaskFold::default();
        let mut cur = BTreeMap::new();
        cur.insert(
            0,
            vec![cell(0, 10, 0, "swapper/0"), cell(1, 99, 0, "swapper/1")],
        );
        for (t, n) in [(100, 50), (101, 20), (102, 9), (103, 5), (104, 4)] {
            cur.insert(t, vec![cell(0, n, 1, &format!("p{t}"))]);
        }
        let out = f.fold(&cur, |t| t == 103);
        // CPU 1 only idled: left out.
        assert_eq!(out.cpus.len(), 1);
        let c = &out.cpus[0];
        assert_eq!((c.cpu, c.samples, c.idle), (0, 98, 10));
        let top: Vec<u32> = c.top.iter().map(|t| t.tgid).collect();
        assert_eq!(top, vec![100, 101, 102]);
        assert_eq!((c.others, c.others_softirq), (9, 2));
        assert_eq!(c.top[0].comm, "p100");
        assert!(out.idle_tgids.is_empty());

        // Second read: only 100 moved; the others are reported idle and forgotten.
        cur.insert(100, vec![cell(0, 80, 3, "p100")]);
        let out = f.fold(&cur, |_| false);
        let c = &out.cpus[0];
        assert_eq!(c.top.len(), 1);
        assert_eq!((c.top[0].samples, c.top[0].softirq), (30, 2));
        assert_eq!(out.idle_tgids, vec![0, 101, 102, 103, 104]);
        // The reader removed the idle entries; one that comes back counts from zero.
        for t in &out.idle_tgids {
            cur.remove(t);
        }
        cur.insert(101, vec![cell(0, 2, 0, "p101")]);
        let out = f.fold(&cur, |_| false);
        let c = &out.cpus[0];
        assert_eq!(
            c.top.iter().find(|t| t.tgid == 101).map(|t| t.samples),
            Some(2)
        );
    }

    #[test]
    fn kernel_threads_from_stat_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = HostRoot::at(dir.path().to_owned());
        std::fs::create_dir_all(dir.path().join("proc/7")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("proc/8")).expect("mkdir");
        std::fs::write(
            dir.path().join("proc/7/stat"),
            "7 (ksoftirqd/0) S 2 0 0 0 -1 69238848 0 0\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("proc/8/stat"),
            "8 (my (odd) app) R 1 8 8 0 -1 4194560 0 0\n",
        )
        .expect("write");
        assert!(is_kernel_thread(&host, 7));
        assert!(!is_kernel_thread(&host, 8));
        assert!(!is_kernel_thread(&host, 9));
        assert_eq!(comm_text(b"stress\0\0\0\0\0\0\0\0\0\0"), "stress");
    }
}
