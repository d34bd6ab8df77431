//! The packet-path probe families together (drops, NAPI, hard IRQs, port watch): attach each on
//! its own so one missing tracepoint leaves the rest running, and turn a tick into records.

use std::path::Path;

use agent_common::drops::KernelOffsets;
use aya::{Btf, Ebpf};

use super::{
    btf::{KernelBtf, VMLINUX},
    classic::ClassicFields,
    drops::{DropProbe, interfaces},
    hardirq::{HardirqProbe, irq_lines},
    napi::NapiProbe,
    portwatch::{PortWatchProbe, WatchPort},
};
use crate::{
    collectors::host::HostRoot,
    recording::records::{CollectorState, CollectorStatus, LostEvents, PacketTables, Record},
};

/// Inode of this process's network namespace, 0 when unreadable.
pub fn host_netns() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino() as u32)
}

/// Stream name of watched-port events in `Lost` records.
pub const PORT_EVENTS_STREAM: &str = "port-events";

/// Offsets and reason names read from BTF before the object is loaded.
pub struct PacketBtf {
    pub offsets: KernelOffsets,
    pub drop_reasons: Vec<(u32, String)>,
    /// Why some fields or the reason names are missing (empty when all were found).
    pub notes: Vec<String>,
}

impl PacketBtf {
    pub fn read() -> Result<PacketBtf, String> {
        let k = KernelBtf::open(Path::new(VMLINUX)).map_err(|e| e.to_string())?;
        Ok(Self::from_kernel(&k))
    }

    /// From an already parsed kernel BTF (parsing it takes tens of MB: do it once).
    pub fn from_kernel(k: &KernelBtf) -> PacketBtf {
        let (offsets, missing) = k.kernel_offsets();
        let mut notes: Vec<String> = missing
            .into_iter()
            .map(|m| format!("{m} not in BTF"))
            .collect();
        let drop_reasons = k.drop_reasons().unwrap_or_else(|e| {
            notes.push(e.to_string());
            Vec::new()
        });
        PacketBtf {
            offsets,
            drop_reasons,
            notes,
        }
    }
}

#[derive(Default)]
pub struct PacketProbes {
    pub drops: Option<DropProbe>,
    pub napi: Option<NapiProbe>,
    pub hardirq: Option<HardirqProbe>,
    pub portwatch: Option<PortWatchProbe>,
    pub tables: PacketTables,
}

impl PacketProbes {
    /// No packet-path probes, with one Unavailable status per family saying why.
    pub fn unavailable(at: u64, why: &str, watching: bool) -> (Self, Vec<CollectorStatus>) {
        let families: &[&str] = if watching {
            &["drops", "napi", "hardirq", "portwatch"]
        } else {
            &["drops", "napi", "hardirq"]
        };
        let statuses = families
            .iter()
            .map(|c| CollectorStatus {
                at_mono_ns: at,
                collector: (*c).to_owned(),
                state: CollectorState::Unavailable,
                detail: why.to_owned(),
            })
            .collect();
        (PacketProbes::default(), statuses)
    }

    pub fn attach(
        ebpf: &mut Ebpf,
        btf: &Btf,
        pbtf: &PacketBtf,
        host: &HostRoot,
        watch: &[WatchPort],
        at: u64,
    ) -> (Self, Vec<CollectorStatus>) {
        let mut statuses = Vec::new();
        // The watch set is filled before kfree_skb attaches, so no early drop is missed.
        let portwatch = if watch.is_empty() {
            None
        } else {
            let (p, s) = PortWatchProbe::attach(ebpf, btf, watch, at);
            statuses.extend(s);
            p
        };
        let (drops, s) = DropProbe::attach(ebpf, btf, at);
        statuses.extend(s);
        let (napi, s) = NapiProbe::attach(ebpf, btf, at);
        statuses.push(s);
        let (hardirq, s) = HardirqProbe::attach(ebpf, btf, at);
        statuses.push(s);
        if !pbtf.notes.is_empty() {
            for s in &mut statuses {
                if s.state == CollectorState::Running {
                    s.state = CollectorState::Degraded;
                    s.detail = format!("{} ({})", s.detail, pbtf.notes.join("; "));
                }
            }
        }
        let tables = PacketTables {
            drop_reasons: pbtf.drop_reasons.clone(),
            interfaces: interfaces(host),
            host_netns: host_netns(),
            irq_lines: irq_lines(host),
        };
        (
            PacketProbes {
                drops,
                napi,
                hardirq,
                portwatch,
                tables,
            },
            statuses,
        )
    }

    /// The classic-tracepoint fallback for kernels without BTF: drops, NAPI and hard IRQs with
    /// what their records carry (each status says what is missing); no port watch, which needs
    /// socket and skb fields.
    pub fn attach_classic(
        ebpf: &mut Ebpf,
        classic: &ClassicFields,
        host: &HostRoot,
        watching: bool,
        at: u64,
    ) -> (Self, Vec<CollectorStatus>) {
        let mut statuses = Vec::new();
        if watching {
            statuses.push(CollectorStatus {
                at_mono_ns: at,
                collector: "portwatch".into(),
                state: CollectorState::Unavailable,
                detail: "needs kernel BTF (skb and socket fields); classic tracepoints do not \
                         carry them"
                    .into(),
            });
        }
        let interfaces = interfaces(host);
        let host_netns = host_netns();
        let (drops, s) = DropProbe::attach_classic(ebpf, &classic.notes, at);
        statuses.extend(s);
        let (napi, s) = NapiProbe::attach_classic(ebpf, &interfaces, host_netns, at);
        statuses.push(s);
        let (hardirq, s) = HardirqProbe::attach_classic(ebpf, at);
        statuses.push(s);
        let tables = PacketTables {
            drop_reasons: classic.drop_reasons.clone(),
            interfaces,
            host_netns,
            irq_lines: irq_lines(host),
        };
        (
            PacketProbes {
                drops,
                napi,
                hardirq,
                portwatch: None,
                tables,
            },
            statuses,
        )
    }

    /// Records due at `now`; failed map reads are returned as (collector, error).
    pub fn tick(&mut self, now: u64) -> (Vec<Record>, Vec<(&'static str, String)>) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        if let Some(p) = &mut self.drops {
            match p.read_interval(now) {
                Ok(iv) => out.push(Record::Drops(iv)),
                Err(e) => errors.push(("drops", e)),
            }
        }
        if let Some(p) = &mut self.napi {
            match p.read_interval(now) {
                Ok(iv) => out.push(Record::Napi(iv)),
                Err(e) => errors.push(("napi", e)),
            }
        }
        if let Some(p) = &mut self.hardirq {
            match p.read_interval(now) {
                Ok(iv) => out.push(Record::Hardirq(iv)),
                Err(e) => errors.push(("hardirq", e)),
            }
        }
        if let Some(p) = &mut self.portwatch {
            out.extend(p.drain().into_iter().map(Record::PortPacket));
            match p.lost_since_last() {
                Ok(0) => {}
                Ok(n) => out.push(Record::Lost(LostEvents {
                    at_mono_ns: now,
                    stream: PORT_EVENTS_STREAM.to_owned(),
                    count: n,
                })),
                Err(e) => errors.push(("portwatch", e)),
            }
        }
        (out, errors)
    }
}
