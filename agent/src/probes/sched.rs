//! Scheduling delay of watched processes: keeps the in-kernel watch list in step with the PIDs
//! and command names asked for, and turns per-thread cumulative stats into interval records.

use std::collections::HashMap as StdHashMap;

use agent_common::{
    hist::BUCKETS,
    names,
    sched::{SchedStats, SchedTimes, TaskOffsets},
};
use aya::{
    Btf,
    maps::{HashMap, MapData},
};

pub use super::options::WatchList;
use super::{
    error::ProbeError,
    family::Family,
    kernel::{
        btf::{BtfError, KernelBtf},
        maps::take_typed,
        object::{Object, attach_btf, attach_classic},
    },
};
use crate::{
    collectors::host::HostRoot,
    recording::records::{Record, SchedInterval, SchedTask, SparseHist, TimedMax},
};

pub struct SchedProbe {
    /// tp_btf: watched tgids (value unused). Classic: every thread of a watched process,
    /// tid → tgid, since the classic records carry thread ids only.
    watched: HashMap<MapData, u32, u32>,
    classic: bool,
    stats: HashMap<MapData, u32, SchedStats>,
    times: HashMap<MapData, u32, SchedTimes>,
    list: WatchList,
    host: HostRoot,
    prev: StdHashMap<u32, SchedStats>,
    prev_mono_ns: u64,
}

const PROGRAMS: [(&str, &str, &str); 3] = [
    (
        names::PROG_SCHED_WAKEUP,
        names::PROG_SCHED_WAKEUP_TP,
        names::TP_SCHED_WAKEUP,
    ),
    (
        names::PROG_SCHED_WAKEUP_NEW,
        names::PROG_SCHED_WAKEUP_NEW_TP,
        names::TP_SCHED_WAKEUP_NEW,
    ),
    (
        names::PROG_SCHED_SWITCH,
        names::PROG_SCHED_SWITCH_TP,
        names::TP_SCHED_SWITCH,
    ),
];

impl SchedProbe {
    /// `btf` None: the classic-tracepoint twins (the caller checked that the record fields
    /// were found).
    pub fn attach(
        ebpf: &mut Object,
        btf: Option<&Btf>,
        list: WatchList,
        host: HostRoot,
    ) -> Result<Self, ProbeError> {
        for (name, tp_name, tp) in PROGRAMS {
            match btf {
                Some(btf) => attach_btf(ebpf, btf, name, tp)?,
                None => attach_classic(ebpf, tp_name, "sched", tp)?,
            }
        }
        let watched = take_typed(ebpf, names::MAP_SCHED_WATCHED)?;
        let stats = take_typed(ebpf, names::MAP_SCHED_STATS)?;
        let times = take_typed(ebpf, names::MAP_SCHED_TIMES)?;
        let mut probe = SchedProbe {
            watched,
            classic: btf.is_none(),
            stats,
            times,
            list,
            host,
            prev: StdHashMap::new(),
            prev_mono_ns: crate::clock::mono_ns(),
        };
        probe.refresh_watch()?;
        Ok(probe)
    }

    /// Adds the processes now matching the watch list; a process started later with a watched
    /// name is picked up at the next tick.
    pub fn refresh_watch(&mut self) -> Result<(), ProbeError> {
        let mut want: Vec<u32> = self.list.pids.clone();
        if !self.list.comms.is_empty()
            && let Ok(dir) = std::fs::read_dir(self.host.path("proc"))
        {
            for e in dir.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                let comm = self
                    .host
                    .read(&format!("proc/{pid}/comm"))
                    .unwrap_or_default();
                if comm_matches(&self.list.comms, comm.trim_end_matches('\n')) {
                    want.push(pid);
                }
            }
        }
        // Keys: tgids, or (classic) every thread id with its tgid as the value.
        let mut entries: Vec<(u32, u32)> = Vec::new();
        for pid in want {
            if self.classic {
                entries.extend(self.threads(pid).into_iter().map(|tid| (tid, pid)));
            } else {
                entries.push((pid, 1));
            }
        }
        // Forget exited processes and threads, so a reused id is not watched by accident.
        let gone: Vec<u32> = self
            .watched
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !entries.iter().any(|(e, _)| e == k))
            .filter(|k| self.classic || !self.host.path(&format!("proc/{k}")).exists())
            .collect();
        for k in gone {
            let _ = self.watched.remove(&k);
        }
        for (k, v) in entries {
            if self.watched.get(&k, 0).is_err() {
                self.watched
                    .insert(k, v, 0)
                    .map_err(|source| ProbeError::Watch {
                        what: k.to_string(),
                        source,
                    })?;
            }
        }
        Ok(())
    }

    /// Thread ids of a process, from /proc/PID/task.
    fn threads(&self, pid: u32) -> Vec<u32> {
        std::fs::read_dir(self.host.path(&format!("proc/{pid}/task")))
            .map(|dir| {
                dir.flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Delay of watched threads since the previous call; forgets threads that have exited.
    pub fn read_interval(&mut self, now_mono_ns: u64) -> Result<SchedInterval, ProbeError> {
        let mut cur = StdHashMap::new();
        for item in self.stats.iter() {
            let (tid, st) =
                item.map_err(|e| ProbeError::read(names::MAP_SCHED_STATS, None, true, e))?;
            cur.insert(tid, st);
        }
        let mut tasks = Vec::new();
        for (&tid, c) in &cur {
            let comm = self
                .host
                .read(&format!("proc/{}/task/{tid}/comm", c.tgid))
                .map(|s| s.trim_end().to_owned())
                .ok();
            if let Some(t) = delta(tid, c, self.prev.get(&tid), self.prev_mono_ns) {
                tasks.push(SchedTask {
                    comm: comm.clone().unwrap_or_default(),
                    ..t
                });
            }
            if comm.is_none() {
                // The thread exited: its final counts are in this interval; free its slots.
                let _ = self.stats.remove(&tid);
                let _ = self.times.remove(&tid);
            }
        }
        cur.retain(|tid, c| {
            self.host
                .path(&format!("proc/{}/task/{tid}", c.tgid))
                .exists()
        });
        tasks.sort_by_key(|t| t.tid);
        let iv = SchedInterval {
            start_mono_ns: self.prev_mono_ns,
            end_mono_ns: now_mono_ns,
            tasks,
        };
        self.prev = cur;
        self.prev_mono_ns = now_mono_ns;
        self.refresh_watch()?;
        Ok(iv)
    }
}

impl Family for SchedProbe {
    fn name(&self) -> &'static str {
        "sched"
    }

    fn read(&mut self, now_mono_ns: u64) -> Vec<Result<Record, ProbeError>> {
        vec![self.read_interval(now_mono_ns).map(Record::Sched)]
    }
}

/// Offsets of the `task_struct` fields the sched programs read, from kernel BTF.
pub fn task_offsets() -> Result<TaskOffsets, BtfError> {
    task_offsets_from(&KernelBtf::load()?)
}

/// As [`task_offsets`], from an already parsed kernel BTF.
pub fn task_offsets_from(btf: &KernelBtf) -> Result<TaskOffsets, BtfError> {
    let off = |f: &str| btf.field_offset("task_struct", f);
    let pid = off("pid")?;
    let tgid = off("tgid")?;
    // `state` was renamed `__state` (and became unsigned int) in 5.14.
    let state = off("__state").or_else(|_| off("state"))?;
    Ok(TaskOffsets {
        pid: pid.offset,
        tgid: tgid.offset,
        state: state.offset,
        state_size: state.size,
    })
}

/// /proc/PID/comm holds at most 15 bytes, so a longer requested name matches its prefix.
pub fn comm_matches(wanted: &[String], comm: &str) -> bool {
    wanted.iter().any(|w| {
        let w = w.as_bytes();
        let w = &w[..w.len().min(15)];
        w == comm.as_bytes()
    })
}

/// One thread's change between two cumulative readings, or None when it was not switched in.
pub fn delta(tid: u32, c: &SchedStats, p: Option<&SchedStats>, since: u64) -> Option<SchedTask> {
    let zero = [0u64; BUCKETS];
    let (p_runq, p_off, p_rs, p_os, p_rh, p_oh) = match p {
        Some(p) => (
            p.runq_count,
            p.offcpu_count,
            p.runq_sum_ns,
            p.offcpu_sum_ns,
            &p.runq_hist,
            &p.offcpu_hist,
        ),
        None => (0, 0, 0, 0, &zero, &zero),
    };
    if c.runq_count == p_runq && c.offcpu_count == p_off {
        return None;
    }
    let max = |v: u64, at: u64| {
        (at > since && v > 0).then_some(TimedMax {
            value_ns: v,
            at_mono_ns: at,
        })
    };
    Some(SchedTask {
        tid,
        tgid: c.tgid,
        comm: String::new(),
        runq_count: c.runq_count.wrapping_sub(p_runq),
        runq_sum_ns: c.runq_sum_ns.wrapping_sub(p_rs),
        runq_max: max(c.runq_max_ns, c.runq_max_at_ns),
        runq_hist: sparse_delta(&c.runq_hist, p_rh),
        offcpu_count: c.offcpu_count.wrapping_sub(p_off),
        offcpu_sum_ns: c.offcpu_sum_ns.wrapping_sub(p_os),
        offcpu_max: max(c.offcpu_max_ns, c.offcpu_max_at_ns),
        offcpu_hist: sparse_delta(&c.offcpu_hist, p_oh),
    })
}

fn sparse_delta(c: &[u64; BUCKETS], p: &[u64; BUCKETS]) -> SparseHist {
    SparseHist(
        c.iter()
            .zip(p)
            .enumerate()
            .filter(|(_, (c, p))| c != p)
            .map(|(i, (c, p))| (i as u16, c.wrapping_sub(*p)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> SchedStats {
        SchedStats {
            tgid: 7,
            _pad: 0,
            runq_count: 0,
            runq_sum_ns: 0,
            runq_max_ns: 0,
            runq_max_at_ns: 0,
            offcpu_count: 0,
            offcpu_sum_ns: 0,
            offcpu_max_ns: 0,
            offcpu_max_at_ns: 0,
            runq_hist: [0; BUCKETS],
            offcpu_hist: [0; BUCKETS],
        }
    }

    #[test]
    fn delta_is_the_change_and_keeps_only_fresh_maxima() {
        let mut p = stats();
        p.runq_count = 2;
        p.runq_sum_ns = 300;
        p.runq_hist[10] = 2;
        p.runq_max_ns = 200;
        p.runq_max_at_ns = 50;
        let mut c = p;
        c.runq_count = 5;
        c.runq_sum_ns = 1300;
        c.runq_hist[10] = 3;
        c.runq_hist[40] = 2;
        let t = delta(9, &c, Some(&p), 100).expect("changed");
        assert_eq!(
            (t.tid, t.tgid, t.runq_count, t.runq_sum_ns),
            (9, 7, 3, 1000)
        );
        assert_eq!(t.runq_hist, SparseHist(vec![(10, 1), (40, 2)]));
        assert_eq!(t.runq_max, None, "maximum from before the interval");
        assert!(delta(9, &c, Some(&c), 100).is_none());
        let first = delta(9, &c, None, 0).expect("first reading");
        assert_eq!(first.runq_count, 5);
        assert_eq!(first.runq_max.map(|m| m.value_ns), Some(200));
    }

    #[test]
    fn comm_matching_uses_the_kernel_length_limit() {
        let w = vec!["heartbeat-sender-main".to_owned(), "corosync".to_owned()];
        assert!(comm_matches(&w, "corosync"));
        assert!(!comm_matches(&w, "heartbeat-send"));
        assert!(comm_matches(&w, "heartbeat-sende"));
        assert!(!comm_matches(&w, "coro"));
    }
}
