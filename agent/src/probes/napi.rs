//! NAPI probe: attaches napi:napi_poll (timed against the softirq probe's NET_RX start) and turns
//! per-CPU cumulative counters into [`NapiInterval`] records. The kernel keeps each (instance,
//! CPU) either in a direct-mapped per-CPU slot or, when that slot is taken, in a per-CPU hash;
//! both are read and merged here.

use std::collections::HashMap;

use agent_common::{
    names,
    napi::{NAPI_SLOTS, NapiKey, NapiSlot, NapiStats},
};
use aya::{
    Btf,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};

use super::{
    error::ProbeError,
    family::{Family, attach_status as status},
    kernel::{
        maps::{read_percpu_hash, take_typed},
        object::{Object, attach_btf, attach_classic},
    },
};
use crate::recording::records::{
    CollectorState, CollectorStatus, NapiCell, NapiInterval, Record, TimedMax,
};

pub struct NapiProbe {
    source: Source,
    prev: HashMap<NapiKey, Vec<NapiStats>>,
    prev_mono_ns: u64,
}

/// Where the kernel keeps the counters: per NAPI instance (tp_btf) or per device name (classic).
enum Source {
    Instances {
        slots: PerCpuArray<MapData, NapiSlot>,
        stats: PerCpuHashMap<MapData, NapiKey, NapiStats>,
    },
    ByName {
        map: PerCpuHashMap<MapData, [u8; 16], NapiStats>,
        /// Interfaces of hbwatch's namespace: name → ifindex.
        ifindex: HashMap<String, u32>,
        host_netns: u32,
    },
}

use crate::recording::records::NAPI_OTHER_NETNS as OTHER_NETNS;
/// The classic tracepoint's name for the per-CPU backlog (a NAPI instance without a device).
const NO_DEVICE: &str = "(no_device)";

impl NapiProbe {
    pub fn attach(ebpf: &mut Object, btf: &Btf, at: u64) -> (Option<Self>, CollectorStatus) {
        let r = attach_btf(ebpf, btf, names::PROG_NAPI_POLL, "napi_poll")
            .and_then(|()| take_typed(ebpf, names::MAP_NAPI_STATS))
            .and_then(|stats| Ok((take_typed(ebpf, names::MAP_NAPI_SLOTS)?, stats)));
        match r {
            Ok((slots, stats)) => {
                let detail = "tp_btf napi_poll, timed within NET_RX runs";
                let mut p = NapiProbe {
                    source: Source::Instances { slots, stats },
                    prev: HashMap::new(),
                    prev_mono_ns: at,
                };
                let _ = p.read_interval(at);
                (Some(p), status(at, "napi", &Ok(()), detail))
            }
            Err(e) => (None, status(at, "napi", &Err(e), "")),
        }
    }

    /// The classic-tracepoint fallback: polls per device name, resolved to the interfaces of
    /// hbwatch's namespace (`interfaces`: ifindex, name).
    pub fn attach_classic(
        ebpf: &mut Object,
        interfaces: &[(u32, String)],
        host_netns: u32,
        at: u64,
    ) -> (Option<Self>, CollectorStatus) {
        let r = attach_classic(ebpf, names::PROG_NAPI_POLL_TP, "napi", "napi_poll")
            .and_then(|()| take_typed(ebpf, names::MAP_NAPI_BY_NAME));
        match r {
            Ok(map) => {
                let detail = "classic napi:napi_poll (no kernel BTF): per device name, timed \
                              within NET_RX runs; NAPI ids and other namespaces' devices unknown";
                let mut p = NapiProbe {
                    source: Source::ByName {
                        map,
                        ifindex: interfaces.iter().map(|(i, n)| (n.clone(), *i)).collect(),
                        host_netns,
                    },
                    prev: HashMap::new(),
                    prev_mono_ns: at,
                };
                let _ = p.read_interval(at);
                let mut st = status(at, "napi", &Ok(()), detail);
                st.state = CollectorState::Degraded;
                (Some(p), st)
            }
            Err(e) => (None, status(at, "napi", &Err(e), "")),
        }
    }

    pub fn read_interval(&mut self, now_mono_ns: u64) -> Result<NapiInterval, ProbeError> {
        let cur = match &self.source {
            Source::Instances { slots, stats } => {
                let mut cur = read_percpu_hash(stats, names::MAP_NAPI_STATS)?;
                for i in 0..NAPI_SLOTS {
                    let per_cpu = slots
                        .get(&i, 0)
                        .map_err(|e| ProbeError::read(names::MAP_NAPI_SLOTS, Some(i), false, e))?;
                    merge_slots(&mut cur, per_cpu.iter());
                }
                cur
            }
            Source::ByName {
                map,
                ifindex,
                host_netns,
            } => {
                let by_name = read_percpu_hash(map, names::MAP_NAPI_BY_NAME)?;
                by_device_name(by_name, ifindex, *host_netns)
            }
        };
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

impl Family for NapiProbe {
    fn name(&self) -> &'static str {
        "napi"
    }

    fn read(&mut self, now_mono_ns: u64) -> Vec<Result<Record, ProbeError>> {
        vec![self.read_interval(now_mono_ns).map(Record::Napi)]
    }
}

/// Per-name counters keyed as instances: a name of hbwatch's namespace becomes its ifindex, the
/// backlog ifindex 0, any other name ([`OTHER_NETNS`]) one summed key.
fn by_device_name(
    by_name: HashMap<[u8; 16], Vec<NapiStats>>,
    ifindex: &HashMap<String, u32>,
    host_netns: u32,
) -> HashMap<NapiKey, Vec<NapiStats>> {
    let mut cur: HashMap<NapiKey, Vec<NapiStats>> = HashMap::new();
    for (raw, per_cpu) in by_name {
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let name = String::from_utf8_lossy(&raw[..end]);
        let key = match (name.as_ref(), ifindex.get(name.as_ref())) {
            (NO_DEVICE, _) => NapiKey::default(),
            (_, Some(&i)) => NapiKey {
                ifindex: i,
                netns: host_netns,
                napi_id: 0,
            },
            (_, None) => NapiKey {
                ifindex: 0,
                netns: OTHER_NETNS,
                napi_id: 0,
            },
        };
        let v = cur.entry(key).or_default();
        if v.len() < per_cpu.len() {
            v.resize(per_cpu.len(), NapiStats::default());
        }
        for (t, s) in v.iter_mut().zip(&per_cpu) {
            add_stats(t, s);
        }
    }
    cur
}

fn add_stats(t: &mut NapiStats, s: &NapiStats) {
    t.polls += s.polls;
    t.work += s.work;
    t.full_budget += s.full_budget;
    t.timed_polls += s.timed_polls;
    t.time_sum_ns += s.time_sum_ns;
    if s.time_max_ns > t.time_max_ns {
        t.time_max_ns = s.time_max_ns;
        t.time_max_at_ns = s.time_max_at_ns;
    }
}

/// Adds one slot index's per-CPU values to the per-key table: a used slot on CPU n is that key's
/// counters on CPU n (on that CPU the key is in no other place, so adding never double-counts).
fn merge_slots<'a>(
    cur: &mut HashMap<NapiKey, Vec<NapiStats>>,
    per_cpu: impl ExactSizeIterator<Item = &'a NapiSlot>,
) {
    let cpus = per_cpu.len();
    for (cpu, slot) in per_cpu.enumerate() {
        if slot.used == 0 {
            continue;
        }
        let v = cur
            .entry(slot.key)
            .or_insert_with(|| vec![NapiStats::default(); cpus]);
        if v.len() < cpus {
            v.resize(cpus, NapiStats::default());
        }
        add_stats(&mut v[cpu], &slot.stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(ifindex: u32, polls: u64, max: u64) -> NapiSlot {
        NapiSlot {
            key: NapiKey {
                ifindex,
                netns: 1,
                napi_id: 0,
            },
            used: 1,
            stats: NapiStats {
                polls,
                time_max_ns: max,
                time_max_at_ns: 7,
                ..NapiStats::default()
            },
        }
    }

    #[test]
    fn slots_merge_per_key_and_cpu_with_the_hash() {
        let mut cur = HashMap::new();
        // Key 2 on CPU 0 overflowed into the hash; on CPU 1 it has a slot.
        let k2 = slot(2, 0, 0).key;
        cur.insert(
            k2,
            vec![
                NapiStats {
                    polls: 5,
                    ..NapiStats::default()
                },
                NapiStats::default(),
            ],
        );
        let unused = NapiSlot::default();
        merge_slots(&mut cur, [slot(1, 3, 10), slot(2, 4, 20)].iter());
        merge_slots(&mut cur, [unused, unused].iter());
        assert_eq!(cur.len(), 2);
        assert_eq!(cur[&slot(1, 0, 0).key][0].polls, 3);
        assert_eq!(cur[&slot(1, 0, 0).key][1].polls, 0);
        assert_eq!(cur[&k2][0].polls, 5);
        assert_eq!(cur[&k2][1].polls, 4);
        assert_eq!(cur[&k2][1].time_max_ns, 20);
        assert_eq!(cur[&k2][1].time_max_at_ns, 7);
    }

    fn name(s: &str) -> [u8; 16] {
        let mut n = [0u8; 16];
        n[..s.len()].copy_from_slice(s.as_bytes());
        n
    }

    #[test]
    fn device_names_resolve_to_this_namespace_or_one_other_key() {
        let polls = |n| NapiStats {
            polls: n,
            ..NapiStats::default()
        };
        let by_name = HashMap::from([
            (name("eth0"), vec![polls(1), polls(2)]),
            (name("(no_device)"), vec![polls(4), polls(0)]),
            (name("veth9"), vec![polls(8), polls(0)]),
            (name("veth7"), vec![polls(16), polls(1)]),
        ]);
        let ifindex = HashMap::from([("eth0".to_owned(), 2u32)]);
        let cur = by_device_name(by_name, &ifindex, 77);
        let key = |ifindex, netns| NapiKey {
            ifindex,
            netns,
            napi_id: 0,
        };
        assert_eq!(cur.len(), 3);
        assert_eq!(cur[&key(2, 77)][1].polls, 2);
        assert_eq!(cur[&key(0, 0)][0].polls, 4);
        assert_eq!(cur[&key(0, OTHER_NETNS)][0].polls, 24);
        assert_eq!(cur[&key(0, OTHER_NETNS)][1].polls, 1);
    }
}
