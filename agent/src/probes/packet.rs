//! The packet-path probe families together (drops, NAPI, hard IRQs, port watch): attach each on
//! its own so one missing tracepoint leaves the rest running, and turn a tick into records.

use std::path::Path;

use agent_common::drops::{KernelOffsets, NO_OFFSET, TracepointOffsets};
use aya::{Btf, Ebpf};

use super::{
    btf::{KernelBtf, VMLINUX},
    drops::{DropProbe, interfaces},
    hardirq::{HardirqProbe, irq_lines},
    napi::NapiProbe,
    portwatch::{PortWatchProbe, WatchPort},
    tracefs,
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
        let (offsets, missing) = k.kernel_offsets();
        let mut notes: Vec<String> = missing
            .into_iter()
            .map(|m| format!("{m} not in BTF"))
            .collect();
        let drop_reasons = k.drop_reasons().unwrap_or_else(|e| {
            notes.push(e.to_string());
            Vec::new()
        });
        Ok(PacketBtf {
            offsets,
            drop_reasons,
            notes,
        })
    }
}

/// What the classic-tracepoint fallback reads from tracefs before the object is loaded: record
/// field offsets and the drop reason names of skb:kfree_skb's print format.
pub struct ClassicPacket {
    pub offsets: TracepointOffsets,
    pub drop_reasons: Vec<(u32, String)>,
    /// Fields this kernel's records lack (each names what goes unmeasured).
    pub notes: Vec<String>,
}

impl ClassicPacket {
    pub fn read(tfs: &Path) -> ClassicPacket {
        let mut o = TracepointOffsets::UNKNOWN;
        let mut notes = Vec::new();
        let mut drop_reasons = Vec::new();
        let mut field = |cat: &str, tp: &str, names: &[&str], note: &str| -> u32 {
            let off = tracefs::format(tfs, cat, tp).ok().and_then(|f| {
                if tp == "kfree_skb" && names[0] == "reason" {
                    drop_reasons = tracefs::print_symbolic(&f, "reason");
                }
                names
                    .iter()
                    .find_map(|n| tracefs::parse_field_offset(&f, n))
            });
            if off.is_none() && !note.is_empty() {
                notes.push(note.to_owned());
            }
            off.unwrap_or(NO_OFFSET)
        };
        o.kfree_reason = field(
            "skb",
            "kfree_skb",
            &["reason"],
            "kfree_skb has no drop reason (kernel before 5.17)",
        );
        o.kfree_protocol = field("skb", "kfree_skb", &["protocol"], "");
        o.udp_rc = field("udp", "udp_fail_queue_rcv_skb", &["rc"], "");
        o.udp_lport = field(
            "udp",
            "udp_fail_queue_rcv_skb",
            &["dport", "lport"],
            "udp_fail_queue_rcv_skb has no local port",
        );
        o.udp_family = field("udp", "udp_fail_queue_rcv_skb", &["family"], "");
        o.napi_dev_name = field(
            "napi",
            "napi_poll",
            &["dev_name"],
            "napi_poll has no dev_name",
        );
        o.napi_work = field("napi", "napi_poll", &["work"], "");
        o.napi_budget = field("napi", "napi_poll", &["budget"], "");
        o.irq_entry_irq = field("irq", "irq_handler_entry", &["irq"], "");
        o.irq_exit_irq = field("irq", "irq_handler_exit", &["irq"], "");
        ClassicPacket {
            offsets: o,
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
        classic: &ClassicPacket,
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
