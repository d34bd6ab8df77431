//! NAPI probe: attaches napi:napi_poll (timed against the softirq probe's NET_RX start) and turns
//! per-CPU cumulative counters into [`NapiInterval`] records.

use std::collections::HashMap;

use agent_common::{
    names,
    napi::{NapiKey, NapiStats},
};
use aya::{
    Btf, Ebpf,
    maps::{MapData, PerCpuHashMap},
};

use super::drops::{attach_btf, read_percpu_hash, status, take_percpu_hash};
use crate::recording::records::{CollectorStatus, NapiCell, NapiInterval, TimedMax};

pub struct NapiProbe {
    stats: PerCpuHashMap<MapData, NapiKey, NapiStats>,
    prev: HashMap<NapiKey, Vec<NapiStats>>,
    prev_mono_ns: u64,
}

impl NapiProbe {
    pub fn attach(ebpf: &mut Ebpf, btf: &Btf, at: u64) -> (Option<Self>, CollectorStatus) {
        let r = attach_btf(ebpf, btf, names::PROG_NAPI_POLL, "napi_poll")
            .and_then(|()| take_percpu_hash(ebpf, names::MAP_NAPI_STATS));
        match r {
            Ok(stats) => {
                let detail = "tp_btf napi_poll, timed within NET_RX runs";
                let mut p = NapiProbe {
                    stats,
                    prev: HashMap::new(),
                    prev_mono_ns: at,
                };
                let _ = p.read_interval(at);
                (Some(p), status(at, "napi", &Ok(()), detail))
            }
            Err(e) => (None, status(at, "napi", &Err(e), "")),
        }
    }

    pub fn read_interval(&mut self, now_mono_ns: u64) -> Result<NapiInterval, String> {
        let cur =
            read_percpu_hash(&self.stats).map_err(|e| format!("{}: {e}", names::MAP_NAPI_STATS))?;
        let mut cells = Vec::new();
        for (k, per_cpu) in &cur {
            for (cpu, c) in per_cpu.iter().enumerate() {
                let zero = NapiStats::default();
                let p = self.prev.get(k).and_then(|v| v.get(cpu)).unwrap_or(&zero);
                if c.polls == p.polls {
                    continue;
                }
                cells.push(NapiCell {
                    ifindex: k.ifindex,
                    netns: k.netns,
                    napi_id: k.napi_id,
                    cpu: cpu as u32,
                    polls: c.polls.wrapping_sub(p.polls),
                    work: c.work.wrapping_sub(p.work),
                    full_budget: c.full_budget.wrapping_sub(p.full_budget),
                    timed_polls: c.timed_polls.wrapping_sub(p.timed_polls),
                    time_sum_ns: c.time_sum_ns.wrapping_sub(p.time_sum_ns),
                    time_max: (c.time_max_at_ns > self.prev_mono_ns && c.time_max_ns > 0)
                        .then_some(TimedMax {
                            value_ns: c.time_max_ns,
                            at_mono_ns: c.time_max_at_ns,
                        }),
                });
            }
        }
        cells.sort_by_key(|c| (c.netns, c.ifindex, c.napi_id, c.cpu));
        let iv = NapiInterval {
            start_mono_ns: self.prev_mono_ns,
            end_mono_ns: now_mono_ns,
            cells,
        };
        self.prev = cur;
        self.prev_mono_ns = now_mono_ns;
        Ok(iv)
    }
}
