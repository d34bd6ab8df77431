//! CPU affinity of the processes hbwatch watches (`Cpus_allowed_list` in /proc/PID/status):
//! recorded when a process first shows up in a scheduling record and when it changes, so the
//! RPS advice can leave the application's CPUs out.

use std::collections::BTreeMap;

use super::host::{HostRoot, parse_cpulist};
use crate::recording::records::{Record, TaskAffinity};

/// How often a known process's affinity is read again.
const RECHECK_NS: u64 = 30_000_000_000;

pub struct AffinityWatch {
    host: HostRoot,
    /// tgid → (allowed CPUs last recorded, when they were read).
    known: BTreeMap<u32, (Vec<u32>, u64)>,
}

impl AffinityWatch {
    pub fn new(host: HostRoot) -> Self {
        AffinityWatch {
            host,
            known: BTreeMap::new(),
        }
    }

    /// Affinity records for the watched processes in `records` that are new or changed.
    pub fn observe(&mut self, records: &[Record], now_mono_ns: u64) -> Vec<Record> {
        let tgids: Vec<u32> = records
            .iter()
            .flat_map(|r| match r {
                Record::Sched(iv) => iv.tasks.iter().map(|t| t.tgid).collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        self.observe_pids(&tgids, now_mono_ns)
    }

    /// Affinity records for the processes `tgids` that are new or changed (also used at start
    /// for `--watch-pid`, so a process that never sleeps is covered too).
    pub fn observe_pids(&mut self, tgids: &[u32], now_mono_ns: u64) -> Vec<Record> {
        let mut out = Vec::new();
        for &tgid in tgids {
            if let Some((_, at)) = self.known.get(&tgid)
                && now_mono_ns.saturating_sub(*at) < RECHECK_NS
            {
                continue;
            }
            let Some(cpus) = allowed_cpus(&self.host, tgid) else {
                continue;
            };
            let changed = self.known.get(&tgid).is_none_or(|(c, _)| *c != cpus);
            self.known.insert(tgid, (cpus.clone(), now_mono_ns));
            if changed {
                out.push(Record::TaskAffinity(TaskAffinity {
                    at_mono_ns: now_mono_ns,
                    tgid,
                    comm: self
                        .host
                        .read_trim(&format!("proc/{tgid}/comm"))
                        .unwrap_or_default(),
                    cpus_allowed: cpus,
                }));
            }
        }
        out
    }
}

/// The CPUs a process may run on, or None when it is gone.
pub fn allowed_cpus(host: &HostRoot, tgid: u32) -> Option<Vec<u32>> {
    let status = host.read(&format!("proc/{tgid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(parse_cpulist)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::records::{SchedInterval, SchedTask};

    fn sched(tgid: u32) -> Record {
        Record::Sched(SchedInterval {
            start_mono_ns: 0,
            end_mono_ns: 1,
            tasks: vec![SchedTask {
                tid: tgid,
                tgid,
                ..SchedTask::default()
            }],
        })
    }

    #[test]
    fn recorded_once_then_on_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("proc/42");
        std::fs::create_dir_all(&p).expect("mkdir");
        std::fs::write(p.join("comm"), "corosync\n").expect("write");
        let status =
            |list: &str| format!("Name:\tcorosync\nCpus_allowed:\tf\nCpus_allowed_list:\t{list}\n");
        std::fs::write(p.join("status"), status("2-3")).expect("write");
        let mut w = AffinityWatch::new(HostRoot::at(dir.path().to_owned()));
        let r = w.observe(&[sched(42), sched(43)], 1);
        assert_eq!(
            r,
            vec![Record::TaskAffinity(TaskAffinity {
                at_mono_ns: 1,
                tgid: 42,
                comm: "corosync".into(),
                cpus_allowed: vec![2, 3],
            })]
        );
        // Unchanged, or changed but not yet due: nothing.
        assert!(w.observe(&[sched(42)], RECHECK_NS + 2).is_empty());
        std::fs::write(p.join("status"), status("3")).expect("write");
        assert!(w.observe(&[sched(42)], RECHECK_NS + 3).is_empty());
        let r = w.observe(&[sched(42)], 2 * RECHECK_NS + 3);
        assert!(matches!(&r[..], [Record::TaskAffinity(a)] if a.cpus_allowed == vec![3]));
    }
}
