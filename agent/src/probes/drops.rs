//! Drop probe: attaches skb:kfree_skb, udp:udp_fail_queue_rcv_skb and sock:sock_rcvqueue_full
//! (each on its own, so a missing one leaves the rest running) and turns the cumulative per-CPU
//! counters into per-interval [`DropInterval`] records.

use std::collections::HashMap;

use agent_common::{
    drops::{
        DROP_CLASS_PROTOCOL, DROP_REASON_SLOTS, DropKey, DropReasons, NO_QUEUE, PortDropKey,
        UdpFailKey, UdpFailSlots,
    },
    names,
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
        object::{Object, Via, attach_either},
    },
};
use crate::{collectors::host::HostRoot, recording::records::*};

/// Per-CPU change of a u64 counter map entry since `prev` (missing = 0).
fn deltas(cur: &[u64], prev: Option<&Vec<u64>>) -> Vec<(u32, u64)> {
    cur.iter()
        .enumerate()
        .map(|(cpu, c)| {
            let p = prev.and_then(|p| p.get(cpu)).copied().unwrap_or(0);
            (cpu as u32, c.wrapping_sub(p))
        })
        .filter(|&(_, d)| d != 0)
        .collect()
}

pub struct DropProbe {
    drops: Option<PerCpuHashMap<MapData, DropKey, u64>>,
    /// Drops over the per-tick detail budget, by reason and protocol (tp_btf only).
    reasons: Option<PerCpuArray<MapData, DropReasons>>,
    ports: Option<PerCpuHashMap<MapData, PortDropKey, u64>>,
    udp_fail: Option<PerCpuHashMap<MapData, UdpFailKey, u64>>,
    /// The first UDP failure keys of each CPU, counted in place (the rest are in `udp_fail`).
    udp_slots: Option<PerCpuArray<MapData, UdpFailSlots>>,
    rcvq: Option<PerCpuArray<MapData, u64>>,
    prev_drops: HashMap<DropKey, Vec<u64>>,
    /// Previous `DropReasons::counts`, per CPU.
    prev_reasons: Vec<Vec<u64>>,
    prev_ports: HashMap<PortDropKey, Vec<u64>>,
    prev_udp: HashMap<UdpFailKey, Vec<u64>>,
    prev_rcvq: u64,
    prev_mono_ns: u64,
}

impl DropProbe {
    /// Attaches what this kernel has, each tracepoint on its own: tp_btf where `btf` is given,
    /// else (or when the kernel refuses it) the classic twin, which counts drops by reason and
    /// protocol per CPU but no device, queue or per-port drops (those need skb fields only BTF
    /// locates). `notes` say which fields this kernel's classic records lack. Returns the probe
    /// (None when nothing attached) and one status per tracepoint.
    pub fn attach(
        ebpf: &mut Object,
        btf: Option<&Btf>,
        notes: &[String],
        at: u64,
    ) -> (Option<Self>, Vec<CollectorStatus>) {
        let mut statuses = Vec::new();
        let mut one = |progs: (&str, &str), category: &str, tp: &str, classic_what: &str| {
            let collector = format!("drops:{tp}");
            match attach_either(ebpf, btf, progs, category, tp) {
                Ok(Via::Btf) => {
                    statuses.push(status(at, &collector, &Ok(()), &format!("tp_btf {tp}")));
                    Some(Via::Btf)
                }
                Ok(Via::Classic) => {
                    let why = if btf.is_some() {
                        "the kernel refused tp_btf"
                    } else {
                        "no kernel BTF"
                    };
                    let mut st = status(
                        at,
                        &collector,
                        &Ok(()),
                        &format!("classic {category}:{tp} ({why}): {classic_what}"),
                    );
                    st.state = CollectorState::Degraded;
                    if !notes.is_empty() {
                        st.detail = format!("{} ({})", st.detail, notes.join("; "));
                    }
                    statuses.push(st);
                    Some(Via::Classic)
                }
                Err(e) => {
                    statuses.push(status(at, &collector, &Err(e), ""));
                    None
                }
            }
        };
        let kfree = one(
            (names::PROG_KFREE_SKB, names::PROG_KFREE_SKB_TP),
            "skb",
            "kfree_skb",
            "drops by reason and protocol per CPU; device, RX queue and ports unknown",
        );
        let udp = one(
            (
                names::PROG_UDP_FAIL_QUEUE_RCV_SKB,
                names::PROG_UDP_FAIL_QUEUE_RCV_SKB_TP,
            ),
            "udp",
            "udp_fail_queue_rcv_skb",
            "UDP enqueue failures by local port and result",
        );
        let rcvq = one(
            (
                names::PROG_SOCK_RCVQUEUE_FULL,
                names::PROG_SOCK_RCVQUEUE_FULL_TP,
            ),
            "sock",
            "sock_rcvqueue_full",
            "receive queue full events",
        );
        let probe = Self::from_maps(
            ebpf,
            kfree.is_some(),
            kfree == Some(Via::Btf),
            udp.is_some(),
            rcvq.is_some(),
            at,
        );
        (probe, statuses)
    }

    /// Takes the maps of what attached; None when nothing did.
    fn from_maps(
        ebpf: &mut Object,
        kfree: bool,
        ports: bool,
        udp: bool,
        rcvq: bool,
        at: u64,
    ) -> Option<Self> {
        if !(kfree || udp || rcvq) {
            return None;
        }
        let mut probe = DropProbe {
            drops: kfree
                .then(|| take_typed(ebpf, names::MAP_DROPS).ok())
                .flatten(),
            reasons: ports
                .then(|| take_typed(ebpf, names::MAP_DROP_REASONS).ok())
                .flatten(),
            ports: ports
                .then(|| take_typed(ebpf, names::MAP_PORT_DROPS).ok())
                .flatten(),
            udp_fail: udp
                .then(|| take_typed(ebpf, names::MAP_UDP_FAIL).ok())
                .flatten(),
            udp_slots: udp
                .then(|| take_typed(ebpf, names::MAP_UDP_FAIL_SLOTS).ok())
                .flatten(),
            rcvq: rcvq
                .then(|| take_typed(ebpf, names::MAP_RCVQUEUE_FULL).ok())
                .flatten(),
            prev_drops: HashMap::new(),
            prev_reasons: Vec::new(),
            prev_ports: HashMap::new(),
            prev_udp: HashMap::new(),
            prev_rcvq: 0,
            prev_mono_ns: at,
        };
        // Start from what is already counted (nothing, unless another reader shares the maps).
        let _ = probe.read_interval(at);
        Some(probe)
    }

    pub fn read_interval(&mut self, now_mono_ns: u64) -> Result<DropInterval, ProbeError> {
        let mut iv = DropInterval {
            start_mono_ns: self.prev_mono_ns,
            end_mono_ns: now_mono_ns,
            ..Default::default()
        };
        if let Some(m) = &self.drops {
            let cur = read_percpu_hash(m, names::MAP_DROPS)?;
            for (k, v) in &cur {
                for (cpu, count) in deltas(v, self.prev_drops.get(k)) {
                    iv.cells.push(DropCell {
                        reason: k.reason,
                        ifindex: k.ifindex,
                        netns: k.netns,
                        rx_queue: (k.queue != NO_QUEUE).then_some(k.queue),
                        protocol: k.protocol as u16,
                        cpu,
                        count,
                    });
                }
            }
            self.prev_drops = cur;
        }
        if let Some(m) = &self.reasons {
            let cur: Vec<Vec<u64>> = m
                .get(&0, 0)
                .map_err(|e| ProbeError::read(names::MAP_DROP_REASONS, None, false, e))?
                .iter()
                .map(|r| r.counts.to_vec())
                .collect();
            for (cpu, c) in cur.iter().enumerate() {
                reason_cells(cpu as u32, c, self.prev_reasons.get(cpu), &mut iv.cells);
            }
            self.prev_reasons = cur;
        }
        if let Some(m) = &self.ports {
            let cur = read_percpu_hash(m, names::MAP_PORT_DROPS)?;
            for (k, v) in &cur {
                let count: u64 = deltas(v, self.prev_ports.get(k)).iter().map(|d| d.1).sum();
                if count > 0 {
                    iv.ports.push(PortDropCell {
                        reason: k.reason,
                        proto: k.proto as u8,
                        port: k.port,
                        count,
                    });
                }
            }
            self.prev_ports = cur;
        }
        if self.udp_fail.is_some() || self.udp_slots.is_some() {
            let mut cur = match &self.udp_fail {
                Some(m) => read_percpu_hash(m, names::MAP_UDP_FAIL)?,
                None => HashMap::new(),
            };
            if let Some(m) = &self.udp_slots {
                let slots = m
                    .get(&0, 0)
                    .map_err(|e| ProbeError::read(names::MAP_UDP_FAIL_SLOTS, None, false, e))?;
                add_slots(&mut cur, slots.iter());
            }
            for (k, v) in &cur {
                let count: u64 = deltas(v, self.prev_udp.get(k)).iter().map(|d| d.1).sum();
                if count > 0 {
                    iv.udp_fail.push(UdpFailCell {
                        port: k.port,
                        rc: k.rc,
                        count,
                    });
                }
            }
            self.prev_udp = cur;
        }
        if let Some(m) = &self.rcvq {
            let total: u64 = m
                .get(&0, 0)
                .map_err(|e| ProbeError::read(names::MAP_RCVQUEUE_FULL, None, false, e))?
                .iter()
                .sum();
            iv.rcvqueue_full = total.wrapping_sub(self.prev_rcvq);
            self.prev_rcvq = total;
        }
        // Stable order: the recording and tests compare cells. A drop counted by reason only
        // and one whose skb had no device share a key: one cell.
        iv.cells
            .sort_by_key(|c| (c.reason, c.netns, c.ifindex, c.rx_queue, c.cpu, c.protocol));
        iv.cells.dedup_by(|b, a| {
            let same = (a.reason, a.netns, a.ifindex, a.rx_queue, a.cpu, a.protocol)
                == (b.reason, b.netns, b.ifindex, b.rx_queue, b.cpu, b.protocol);
            if same {
                a.count += b.count;
            }
            same
        });
        iv.ports.sort_by_key(|c| (c.proto, c.port, c.reason));
        iv.udp_fail.sort_by_key(|c| (c.port, c.rc));
        self.prev_mono_ns = now_mono_ns;
        Ok(iv)
    }
}

/// Adds each CPU's in-place UDP failure counts to the hash map's, per key and CPU (a key is in
/// one of the two on a CPU; adding covers either).
fn add_slots<'a>(
    cur: &mut HashMap<UdpFailKey, Vec<u64>>,
    per_cpu: impl Iterator<Item = &'a UdpFailSlots>,
) {
    let per_cpu: Vec<&UdpFailSlots> = per_cpu.collect();
    let cpus = per_cpu.len();
    for (cpu, s) in per_cpu.into_iter().enumerate() {
        for (key, &count) in s.keys.iter().zip(&s.counts).filter(|(_, c)| **c != 0) {
            let v = cur.entry(*key).or_insert_with(|| vec![0; cpus]);
            if v.len() < cpus {
                v.resize(cpus, 0);
            }
            v[cpu] += count;
        }
    }
}

/// Cells of one CPU's drops counted by reason and protocol only (device, queue unknown).
fn reason_cells(cpu: u32, cur: &[u64], prev: Option<&Vec<u64>>, out: &mut Vec<DropCell>) {
    for (slot, c) in cur.iter().enumerate() {
        let d = c.wrapping_sub(prev.and_then(|p| p.get(slot)).copied().unwrap_or(0));
        if d == 0 {
            continue;
        }
        out.push(DropCell {
            reason: (slot % DROP_REASON_SLOTS) as u32,
            ifindex: 0,
            netns: 0,
            rx_queue: None,
            protocol: DROP_CLASS_PROTOCOL[slot / DROP_REASON_SLOTS],
            cpu,
            count: d,
        });
    }
}

impl Family for DropProbe {
    fn name(&self) -> &'static str {
        "drops"
    }

    fn read(&mut self, now_mono_ns: u64) -> Vec<Result<Record, ProbeError>> {
        vec![self.read_interval(now_mono_ns).map(Record::Drops)]
    }
}

/// (ifindex, name) of the interfaces in this network namespace, from /sys/class/net.
pub fn interfaces(host: &HostRoot) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir(host.path("sys/class/net")) else {
        return Vec::new();
    };
    let mut out: Vec<(u32, String)> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let idx = host
                .read(&format!("sys/class/net/{name}/ifindex"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some((idx, name))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_per_cpu_and_sparse() {
        let prev = vec![5, 7, 0];
        assert_eq!(deltas(&[5, 9, 1], Some(&prev)), vec![(1, 2), (2, 1)]);
        assert_eq!(deltas(&[3], None), vec![(0, 3)]);
    }

    #[test]
    fn drops_by_reason_only_become_cells_without_a_device() {
        let mut cur = vec![0u64; 4 * DROP_REASON_SLOTS];
        cur[DROP_REASON_SLOTS + 3] = 7; // IPv4, reason 3
        cur[2 * DROP_REASON_SLOTS + 5] = 2; // IPv6, reason 5
        let mut prev = vec![0u64; 4 * DROP_REASON_SLOTS];
        prev[DROP_REASON_SLOTS + 3] = 4;
        let mut out = Vec::new();
        reason_cells(1, &cur, Some(&prev), &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|c| (c.reason, c.protocol, c.cpu, c.count))
            .collect();
        assert_eq!(got, vec![(3, 0x0800, 1, 3), (5, 0x86DD, 1, 2)]);
        assert!(out.iter().all(|c| c.ifindex == 0 && c.rx_queue.is_none()));
    }

    #[test]
    fn in_place_udp_failures_add_to_the_hash_per_cpu() {
        let k = |port| UdpFailKey {
            rc: -12,
            port,
            family: 2,
        };
        let mut cpu0 = UdpFailSlots {
            keys: [k(0); agent_common::drops::UDP_FAIL_SLOTS],
            counts: [0; agent_common::drops::UDP_FAIL_SLOTS],
        };
        cpu0.keys[0] = k(5405);
        cpu0.counts[0] = 3;
        let mut cpu1 = cpu0;
        cpu1.keys[1] = k(9000);
        cpu1.counts[1] = 2;
        // Port 7000 overflowed CPU 1's slots into the hash; a free slot's key is not counted.
        let mut cur = HashMap::from([(k(7000), vec![0, 4])]);
        add_slots(&mut cur, [&cpu0, &cpu1].into_iter());
        assert_eq!(cur[&k(5405)], vec![3, 3]);
        assert_eq!(cur[&k(9000)], vec![0, 2]);
        assert_eq!(cur[&k(7000)], vec![0, 4]);
        assert!(!cur.contains_key(&k(0)));
    }

    #[test]
    fn interfaces_from_sysfs_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, idx) in [("lo", 1), ("eth0", 2)] {
            let d = dir.path().join("sys/class/net").join(name);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("ifindex"), format!("{idx}\n")).expect("write");
        }
        let host = HostRoot::at(dir.path().to_owned());
        assert_eq!(
            interfaces(&host),
            vec![(1, "lo".to_owned()), (2, "eth0".to_owned())]
        );
    }
}
