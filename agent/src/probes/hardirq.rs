//! Hard IRQ probe: attaches irq:irq_handler_entry/exit, turns per-CPU cumulative handler times
//! into [`HardirqInterval`] records, and names IRQ lines after NIC queues.

use std::collections::HashMap;

use agent_common::{hardirq::HardirqStats, names};
use aya::{
    Btf,
    maps::{MapData, PerCpuHashMap},
};

use super::{
    error::ProbeError,
    family::{Family, attach_status as status},
    kernel::{
        maps::{read_percpu_hash, take_typed},
        object::{Object, attach_btf, attach_classic},
    },
};
use crate::{
    collectors::{host::HostRoot, irq_names},
    recording::records::{
        CollectorStatus, HardirqCell, HardirqInterval, IrqLine, Record, TimedMax,
    },
};

pub struct HardirqProbe {
    stats: PerCpuHashMap<MapData, u32, HardirqStats>,
    prev: HashMap<u32, Vec<HardirqStats>>,
    prev_mono_ns: u64,
}

impl HardirqProbe {
    pub fn attach(ebpf: &mut Object, btf: &Btf, at: u64) -> (Option<Self>, CollectorStatus) {
        let r = attach_btf(
            ebpf,
            btf,
            names::PROG_IRQ_HANDLER_ENTRY,
            "irq_handler_entry",
        )
        .and_then(|()| attach_btf(ebpf, btf, names::PROG_IRQ_HANDLER_EXIT, "irq_handler_exit"));
        Self::start(ebpf, r, at, "tp_btf irq_handler_{entry,exit}")
    }

    /// The classic-tracepoint fallback (no kernel BTF): the same counters, `irq` read from the
    /// records at the format files' offsets.
    pub fn attach_classic(ebpf: &mut Object, at: u64) -> (Option<Self>, CollectorStatus) {
        let r = attach_classic(
            ebpf,
            names::PROG_IRQ_HANDLER_ENTRY_TP,
            "irq",
            "irq_handler_entry",
        )
        .and_then(|()| {
            attach_classic(
                ebpf,
                names::PROG_IRQ_HANDLER_EXIT_TP,
                "irq",
                "irq_handler_exit",
            )
        });
        Self::start(
            ebpf,
            r,
            at,
            "classic irq:irq_handler_{entry,exit} (no kernel BTF)",
        )
    }

    /// After the programs attached (`attached`), takes the map and starts from its counts.
    fn start(
        ebpf: &mut Object,
        attached: Result<(), ProbeError>,
        at: u64,
        detail: &str,
    ) -> (Option<Self>, CollectorStatus) {
        match attached.and_then(|()| take_typed(ebpf, names::MAP_HARDIRQ_STATS)) {
            Ok(stats) => {
                let mut p = HardirqProbe {
                    stats,
                    prev: HashMap::new(),
                    prev_mono_ns: at,
                };
                let _ = p.read_interval(at);
                (Some(p), status(at, "hardirq", &Ok(()), detail))
            }
            Err(e) => (None, status(at, "hardirq", &Err(e), "")),
        }
    }

    pub fn read_interval(&mut self, now_mono_ns: u64) -> Result<HardirqInterval, ProbeError> {
        let cur = read_percpu_hash(&self.stats, names::MAP_HARDIRQ_STATS)?;
        let mut cells = Vec::new();
        for (irq, per_cpu) in &cur {
            for (cpu, c) in per_cpu.iter().enumerate() {
                let zero = HardirqStats::default();
                let p = self.prev.get(irq).and_then(|v| v.get(cpu)).unwrap_or(&zero);
                if c.count == p.count {
                    continue;
                }
                cells.push(HardirqCell {
                    irq: *irq,
                    cpu: cpu as u32,
                    count: c.count.wrapping_sub(p.count),
                    time_sum_ns: c.time_sum_ns.wrapping_sub(p.time_sum_ns),
                    time_max: (c.time_max_at_ns > self.prev_mono_ns && c.time_max_ns > 0)
                        .then_some(TimedMax {
                            value_ns: c.time_max_ns,
                            at_mono_ns: c.time_max_at_ns,
                        }),
                });
            }
        }
        cells.sort_by_key(|c| (c.irq, c.cpu));
        let iv = HardirqInterval {
            start_mono_ns: self.prev_mono_ns,
            end_mono_ns: now_mono_ns,
            cells,
        };
        self.prev = cur;
        self.prev_mono_ns = now_mono_ns;
        Ok(iv)
    }
}

impl Family for HardirqProbe {
    fn name(&self) -> &'static str {
        "hardirq"
    }

    fn read(&mut self, now_mono_ns: u64) -> Vec<Result<Record, ProbeError>> {
        vec![self.read_interval(now_mono_ns).map(Record::Hardirq)]
    }
}

/// Numbered lines of /proc/interrupts named after the interface queue each serves (see
/// [`irq_names`]).
pub fn irq_lines(host: &HostRoot) -> Vec<IrqLine> {
    let net = irq_names::NetIrqs::read(host);
    host.read("proc/interrupts")
        .map(|t| irq_names::parse_interrupts(&t, &net))
        .unwrap_or_default()
}
