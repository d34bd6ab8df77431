//! Drop probe: attaches skb:kfree_skb, udp:udp_fail_queue_rcv_skb and sock:sock_rcvqueue_full
//! (each on its own, so a missing one leaves the rest running) and turns the cumulative per-CPU
//! counters into per-interval [`DropInterval`] records.

use std::{collections::HashMap, hash::Hash};

use agent_common::{
    drops::{DropKey, NO_QUEUE, PortDropKey, UdpFailKey},
    names,
};
use aya::{
    Btf, Pod,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};

use crate::{collectors::host::HostRoot, recording::records::*};

use super::object::{Object, Via, attach_either};
pub use super::object::{attach_btf, attach_classic};

pub fn take_percpu_hash<K: Pod, V: Pod>(
    ebpf: &mut Object,
    name: &str,
) -> Result<PerCpuHashMap<MapData, K, V>, String> {
    let map = ebpf
        .take_map(name)
        .ok_or_else(|| format!("map {name} missing from the object"))?;
    PerCpuHashMap::try_from(map).map_err(|e| format!("{name}: {e}"))
}

/// Every entry of a per-CPU hash: key → value per CPU.
pub fn read_percpu_hash<K: Pod + Eq + Hash, V: Pod>(
    map: &PerCpuHashMap<MapData, K, V>,
) -> Result<HashMap<K, Vec<V>>, String> {
    map.iter()
        .map(|r| r.map(|(k, v)| (k, v.to_vec())).map_err(|e| e.to_string()))
        .collect()
}

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
    ports: Option<PerCpuHashMap<MapData, PortDropKey, u64>>,
    udp_fail: Option<PerCpuHashMap<MapData, UdpFailKey, u64>>,
    rcvq: Option<PerCpuArray<MapData, u64>>,
    prev_drops: HashMap<DropKey, Vec<u64>>,
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
                .then(|| take_percpu_hash(ebpf, names::MAP_DROPS).ok())
                .flatten(),
            ports: ports
                .then(|| take_percpu_hash(ebpf, names::MAP_PORT_DROPS).ok())
                .flatten(),
            udp_fail: udp
                .then(|| take_percpu_hash(ebpf, names::MAP_UDP_FAIL).ok())
                .flatten(),
            rcvq: rcvq
                .then(|| {
                    ebpf.take_map(names::MAP_RCVQUEUE_FULL)
                        .and_then(|m| PerCpuArray::try_from(m).ok())
                })
                .flatten(),
            prev_drops: HashMap::new(),
            prev_ports: HashMap::new(),
            prev_udp: HashMap::new(),
            prev_rcvq: 0,
            prev_mono_ns: at,
        };
        // Start from what is already counted (nothing, unless another reader shares the maps).
        let _ = probe.read_interval(at);
        Some(probe)
    }

    pub fn read_interval(&mut self, now_mono_ns: u64) -> Result<DropInterval, String> {
        let mut iv = DropInterval {
            start_mono_ns: self.prev_mono_ns,
            end_mono_ns: now_mono_ns,
            ..Default::default()
        };
        if let Some(m) = &self.drops {
            let cur = read_percpu_hash(m).map_err(|e| format!("{}: {e}", names::MAP_DROPS))?;
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
        if let Some(m) = &self.ports {
            let cur = read_percpu_hash(m).map_err(|e| format!("{}: {e}", names::MAP_PORT_DROPS))?;
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
        if let Some(m) = &self.udp_fail {
            let cur = read_percpu_hash(m).map_err(|e| format!("{}: {e}", names::MAP_UDP_FAIL))?;
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
                .map_err(|e| format!("{}: {e}", names::MAP_RCVQUEUE_FULL))?
                .iter()
                .sum();
            iv.rcvqueue_full = total.wrapping_sub(self.prev_rcvq);
            self.prev_rcvq = total;
        }
        // Stable order: the recording and tests compare cells.
        iv.cells
            .sort_by_key(|c| (c.reason, c.netns, c.ifindex, c.rx_queue, c.cpu));
        iv.ports.sort_by_key(|c| (c.proto, c.port, c.reason));
        iv.udp_fail.sort_by_key(|c| (c.port, c.rc));
        self.prev_mono_ns = now_mono_ns;
        Ok(iv)
    }
}

/// A collector status for one attach attempt.
pub fn status(
    at: u64,
    collector: &str,
    r: &Result<(), String>,
    ok_detail: &str,
) -> CollectorStatus {
    CollectorStatus {
        at_mono_ns: at,
        collector: collector.to_owned(),
        state: if r.is_ok() {
            CollectorState::Running
        } else {
            CollectorState::Unavailable
        },
        detail: match r {
            Ok(()) => ok_detail.to_owned(),
            Err(e) => e.clone(),
        },
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
    fn interfaces_from_sysfs_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, idx) in [("lo", 1), ("eth0", 2)] {
            let d = dir.path().join("sys/class/net").join(name);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("ifindex"), format!("{idx}\n")).expect("write");
        }
        let host = HostRoot(dir.path().to_owned());
        assert_eq!(
            interfaces(&host),
            vec![(1, "lo".to_owned()), (2, "eth0".to_owned())]
        );
    }
}
