//! Hard IRQ probe: attaches irq:irq_handler_entry/exit, turns per-CPU cumulative handler times
//! into [`HardirqInterval`] records, and names IRQ lines after NIC queues from /proc/interrupts.

use std::collections::HashMap;

use agent_common::{hardirq::HardirqStats, names};
use aya::{
    Btf, maps::{MapData, PerCpuHashMap},
};

use super::drops::{attach_btf, attach_classic, read_percpu_hash, status, take_percpu_hash};
use super::object::Object;
use crate::{
    collectors::host::HostRoot,
    recording::records::{CollectorStatus, HardirqCell, HardirqInterval, IrqLine, TimedMax},
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
        attached: Result<(), String>,
        at: u64,
        detail: &str,
    ) -> (Option<Self>, CollectorStatus) {
        match attached.and_then(|()| take_percpu_hash(ebpf, names::MAP_HARDIRQ_STATS)) {
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

    pub fn read_interval(&mut self, now_mono_ns: u64) -> Result<HardirqInterval, String> {
        let cur = read_percpu_hash(&self.stats)
            .map_err(|e| format!("{}: {e}", names::MAP_HARDIRQ_STATS))?;
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

/// Numbered lines of /proc/interrupts with their action names and NIC queue when recognised.
pub fn irq_lines(host: &HostRoot) -> Vec<IrqLine> {
    host.read("proc/interrupts")
        .map(|t| parse_interrupts(&t))
        .unwrap_or_default()
}

pub fn parse_interrupts(text: &str) -> Vec<IrqLine> {
    let mut lines = text.lines();
    let cpus = lines
        .next()
        .map(|h| h.split_whitespace().count())
        .unwrap_or(0);
    lines
        .filter_map(|l| {
            let (num, rest) = l.trim_start().split_once(':')?;
            let irq: u32 = num.trim().parse().ok()?;
            // After the per-CPU counts: chip, hwirq/trigger words, then the action name(s).
            let words: Vec<&str> = rest.split_whitespace().skip(cpus).collect();
            let name = words.last()?.trim_end_matches(',').to_owned();
            let (nic, queue, role) = nic_queue(&name);
            Some(IrqLine {
                irq,
                name,
                nic,
                queue,
                role,
            })
        })
        .collect()
}

/// Recognises NIC queue interrupt names: `virtio0-input.0`, `eth0-TxRx-3`, `eth0-rx-1`,
/// `mlx5_comp2@pci:0000:3b:00.0`, `ens5-Tx-Rx-0`.
fn nic_queue(name: &str) -> (Option<String>, Option<u32>, Option<String>) {
    let some =
        |nic: &str, q: Option<u32>, role: &str| (Some(nic.to_owned()), q, Some(role.to_owned()));
    if name.starts_with("virtio")
        && let Some((dev, rest)) = name.split_once('-')
    {
        let (kind, q) = rest.split_once('.').unwrap_or((rest, ""));
        let role = match kind {
            "input" | "rx" => "rx",
            "output" | "tx" => "tx",
            _ => "other",
        };
        return some(dev, q.parse().ok(), role);
    }
    if let Some(rest) = name.strip_prefix("mlx5_comp") {
        let (q, dev) = rest.split_once('@').unwrap_or((rest, "mlx5"));
        return some(dev, q.parse().ok(), "rxtx");
    }
    let lower = name.to_ascii_lowercase();
    for (tag, role) in [
        ("-txrx-", "rxtx"),
        ("-tx-rx-", "rxtx"),
        ("-rx-", "rx"),
        ("-tx-", "tx"),
    ] {
        if let Some(pos) = lower.find(tag) {
            let q = name[pos + tag.len()..].parse().ok();
            return some(&name[..pos], q, role);
        }
    }
    (None, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERRUPTS: &str = "           CPU0       CPU1
  1:          9          0   IO-APIC   1-edge      i8042
 24:          0          0   PCI-MSI-0000:00:03.0   0-edge      virtio0-config
 25:      10452       3321   PCI-MSI-0000:00:03.0   1-edge      virtio0-input.0
 26:          1          0   PCI-MSI-0000:00:03.0   2-edge      virtio0-output.0
 40:          5          7   IR-PCI-MSI 524289-edge      eth2-TxRx-3
 41:          5          7   IR-PCI-MSI 524290-edge      mlx5_comp2@pci:0000:3b:00.0
NMI:          0          0   Non-maskable interrupts
";

    #[test]
    fn maps_nic_queue_lines() {
        let l = parse_interrupts(INTERRUPTS);
        let by = |irq: u32| l.iter().find(|x| x.irq == irq).expect("line");
        assert_eq!(l.len(), 6, "NMI is not a numbered line: {l:?}");
        assert_eq!(by(1).nic, None);
        assert_eq!(by(24).role.as_deref(), Some("other"));
        let rx = by(25);
        assert_eq!(
            (rx.nic.as_deref(), rx.queue, rx.role.as_deref()),
            (Some("virtio0"), Some(0), Some("rx"))
        );
        assert_eq!(by(26).role.as_deref(), Some("tx"));
        let e = by(40);
        assert_eq!((e.nic.as_deref(), e.queue), (Some("eth2"), Some(3)));
        let m = by(41);
        assert_eq!(
            (m.nic.as_deref(), m.queue),
            (Some("pci:0000:3b:00.0"), Some(2))
        );
    }
}
