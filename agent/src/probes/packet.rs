//! The packet-path probe families together (drops, NAPI, hard IRQs, port watch): attach each on
//! its own so one missing tracepoint leaves the rest running, and turn a tick into records.

use std::path::Path;

use agent_common::{drops::KernelOffsets, names};
use aya::Btf;

use super::{
    drops::{DropProbe, interfaces},
    error::ProbeError,
    family::Family,
    hardirq::{HardirqProbe, irq_lines},
    kernel::{
        btf::{BtfError, KernelBtf, VMLINUX},
        classic::ClassicFields,
        object::Object,
    },
    napi::NapiProbe,
    options::WatchPort,
    portwatch::{PortWatchProbe, in_scope},
};
use crate::{
    collectors::host::HostRoot,
    recording::records::{CollectorState, CollectorStatus, NAPI_OTHER_NETNS, PacketTables, Record},
};

/// Inode of this process's network namespace, 0 when unreadable.
pub fn host_netns() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino() as u32)
}

/// Offsets and reason names read from BTF before the object is loaded.
pub struct PacketBtf {
    pub offsets: KernelOffsets,
    pub drop_reasons: Vec<(u32, String)>,
    /// Why some fields or the reason names are missing (empty when all were found).
    pub notes: Vec<String>,
}

impl PacketBtf {
    pub fn read() -> Result<PacketBtf, BtfError> {
        Ok(Self::from_kernel(&KernelBtf::open(Path::new(VMLINUX))?))
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
    /// `record --netns`: the namespace inode whose devices, sockets and flows are kept.
    pub scope: Option<u32>,
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

    /// Whether no packet-path family runs.
    pub fn is_empty(&self) -> bool {
        self.drops.is_none()
            && self.napi.is_none()
            && self.hardirq.is_none()
            && self.portwatch.is_none()
    }

    /// Every family on its own: tp_btf with BTF's offsets where they were read, and where the
    /// kernel refuses a tp_btf program (or there is no BTF), the classic tracepoint in its place
    /// (`classic`: the record layouts; None when tracefs is unavailable).
    pub fn attach_any(
        ebpf: &mut Object,
        btf: Option<&Btf>,
        pbtf: Option<&Result<PacketBtf, BtfError>>,
        classic: Option<&ClassicFields>,
        host: &HostRoot,
        watch: &[WatchPort],
        at: u64,
    ) -> (Self, Vec<CollectorStatus>) {
        let watching = !watch.is_empty();
        let (btf, pbtf, why_not_btf) = match (btf, pbtf) {
            (Some(b), Some(Ok(p))) => (Some(b), Some(p), String::new()),
            (Some(_), Some(Err(e))) => (None, None, format!("kernel BTF: {e}")),
            _ => (None, None, "no kernel BTF".to_owned()),
        };
        if btf.is_none() && classic.is_none() {
            return Self::unavailable(
                at,
                &format!("{why_not_btf}; classic tracepoints unavailable"),
                watching,
            );
        }
        let mut statuses = Vec::new();
        // The watch set is filled before kfree_skb attaches, so no early drop is missed.
        let portwatch = match btf {
            Some(btf) if watching => {
                let (p, s) = PortWatchProbe::attach(ebpf, btf, watch, at);
                statuses.extend(s);
                p
            }
            None if watching => {
                statuses.push(CollectorStatus {
                    at_mono_ns: at,
                    collector: "portwatch".into(),
                    state: CollectorState::Unavailable,
                    detail: format!(
                        "needs kernel BTF (skb and socket fields; classic tracepoints do not \
                         carry them): {why_not_btf}"
                    ),
                });
                None
            }
            _ => None,
        };
        let interfaces = interfaces(host);
        let host_netns = host_netns();
        let notes = classic.map(|c| c.notes.clone()).unwrap_or_default();
        let (drops, s) = DropProbe::attach(ebpf, btf, &notes, at);
        statuses.extend(s);
        let (napi, st) = with_fallback(
            ebpf,
            btf,
            classic.is_some(),
            |e, b| NapiProbe::attach(e, b, at),
            |e| NapiProbe::attach_classic(e, &interfaces, host_netns, at),
        );
        statuses.push(st);
        let (hardirq, st) = with_fallback(
            ebpf,
            btf,
            classic.is_some(),
            |e, b| HardirqProbe::attach(e, b, at),
            |e| {
                // A half-attached tp_btf pair must not count entries twice.
                e.unload(&[names::PROG_IRQ_HANDLER_ENTRY, names::PROG_IRQ_HANDLER_EXIT]);
                HardirqProbe::attach_classic(e, at)
            },
        );
        statuses.push(st);
        if let Some(pbtf) = pbtf
            && !pbtf.notes.is_empty()
        {
            for s in &mut statuses {
                if s.state == CollectorState::Running {
                    s.state = CollectorState::Degraded;
                    s.detail = format!("{} ({})", s.detail, pbtf.notes.join("; "));
                }
            }
        }
        // Reason names from BTF where it was read, else from kfree_skb's print format.
        let drop_reasons = match (pbtf, classic) {
            (Some(p), _) if !p.drop_reasons.is_empty() => p.drop_reasons.clone(),
            (_, Some(c)) => c.drop_reasons.clone(),
            (Some(p), None) => p.drop_reasons.clone(),
            (None, None) => Vec::new(),
        };
        let tables = PacketTables {
            drop_reasons,
            interfaces,
            host_netns,
            irq_lines: irq_lines(host),
        };
        (
            PacketProbes {
                drops,
                napi,
                hardirq,
                portwatch,
                tables,
                scope: None,
            },
            statuses,
        )
    }

    /// Keeps only what belongs to namespace `inode` from now on, and names its interfaces.
    pub fn scope_to(&mut self, inode: u32, interfaces: Vec<(u32, String)>) {
        self.scope = Some(inode);
        if let Some(p) = &mut self.portwatch {
            p.scope = Some(inode);
        }
        self.tables.host_netns = inode;
        self.tables.interfaces = interfaces;
    }

    /// Records due at `now`; failed map reads are returned as (collector, error).
    pub fn tick(&mut self, now: u64) -> (Vec<Record>, Vec<(&'static str, ProbeError)>) {
        let (mut out, errors) = self.tick_all(now);
        if self.scope.is_some() {
            out.retain_mut(|r| self.keep(r));
        }
        (out, errors)
    }

    /// Scoped: drops what another namespace's devices and sockets did. Counts without a
    /// namespace (per-port drops, UDP failures, the per-CPU backlog) are host-wide and stay.
    fn keep(&self, r: &mut Record) -> bool {
        let scope = self.scope;
        match r {
            Record::PortPacket(e) => in_scope(scope, e.netns),
            Record::Wire(e) => in_scope(scope, e.netns),
            Record::Drops(iv) => {
                iv.cells.retain(|c| in_scope(scope, c.netns));
                true
            }
            Record::Napi(iv) => {
                iv.cells
                    .retain(|c| c.netns != NAPI_OTHER_NETNS && in_scope(scope, c.netns));
                true
            }
            _ => true,
        }
    }

    fn tick_all(&mut self, now: u64) -> (Vec<Record>, Vec<(&'static str, ProbeError)>) {
        let families: [Option<&mut dyn Family>; 4] = [
            self.drops.as_mut().map(|p| p as &mut dyn Family),
            self.napi.as_mut().map(|p| p as &mut dyn Family),
            self.hardirq.as_mut().map(|p| p as &mut dyn Family),
            self.portwatch.as_mut().map(|p| p as &mut dyn Family),
        ];
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for f in families.into_iter().flatten() {
            let name = f.name();
            for r in f.read(now) {
                match r {
                    Ok(r) => out.push(r),
                    Err(e) => errors.push((name, e)),
                }
            }
        }
        (out, errors)
    }
}

/// A family by tp_btf, and by its classic twin when there is no BTF or the tp_btf attach
/// failed (the status then says both).
fn with_fallback<P>(
    ebpf: &mut Object,
    btf: Option<&Btf>,
    classic_ok: bool,
    by_btf: impl FnOnce(&mut Object, &Btf) -> (Option<P>, CollectorStatus),
    by_classic: impl FnOnce(&mut Object) -> (Option<P>, CollectorStatus),
) -> (Option<P>, CollectorStatus) {
    let Some(btf) = btf else {
        return by_classic(ebpf);
    };
    match by_btf(ebpf, btf) {
        (None, failed) if classic_ok => {
            let (p, mut st) = by_classic(ebpf);
            st.detail = format!("{} (tp_btf: {})", st.detail, failed.detail);
            (p, st)
        }
        r => r,
    }
}
