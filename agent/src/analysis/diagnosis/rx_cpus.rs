//! Which CPUs take the heartbeat flow's receive work, folded record by record: where the watched
//! port's packets were seen; without such packets, the CPUs the NIC RX-queue interrupts fired on
//! and the RPS targets. With RPS on, packets are seen on the RPS target while the driver's poll
//! runs where the queue's interrupt fires: both count.

use std::collections::BTreeSet;

use super::build::Port;
use crate::{
    analysis::RecordingSummary,
    recording::records::{PortStage, Record},
};

pub struct RxCpus {
    ports: Vec<Port>,
    /// CPUs where the watched ports' packets were seen at the device.
    seen: BTreeSet<u32>,
    /// RX-queue IRQ numbers of physical NICs, and the CPUs the configuration points at.
    rx_irqs: BTreeSet<u32>,
    configured: BTreeSet<u32>,
    /// CPUs the RX-queue interrupts actually fired on during the recording.
    fired: BTreeSet<u32>,
    /// Some RX queue of a physical NIC has RPS on.
    rps: bool,
}

impl RxCpus {
    pub fn new(s: &RecordingSummary, ports: Vec<Port>) -> Self {
        let mut rx_irqs = BTreeSet::new();
        let mut configured = BTreeSet::new();
        let mut rps = false;
        if let Some(c) = &s.host_config {
            for nic in c.nics.iter().filter(|n| !n.is_virtual) {
                for irq in nic.queue_irqs() {
                    rx_irqs.insert(irq.irq);
                    configured.extend(irq.taken.iter().filter(|(_, n)| *n > 0).map(|(c, _)| *c));
                }
                for q in &nic.rx_queues {
                    configured.extend(q.rps_cpus.iter().copied());
                    rps |= !q.rps_cpus.is_empty();
                }
            }
        }
        RxCpus {
            ports,
            seen: BTreeSet::new(),
            rx_irqs,
            configured,
            fired: BTreeSet::new(),
            rps,
        }
    }

    pub fn add(&mut self, r: &Record) {
        match r {
            Record::PortPacket(e)
                if e.stage == PortStage::Seen
                    && self
                        .ports
                        .iter()
                        .any(|p| p.proto == e.proto && p.port == e.local_port) =>
            {
                self.seen.insert(e.cpu);
            }
            Record::System(x) => self.fired.extend(
                x.interrupts
                    .iter()
                    .filter(|(irq, _, n)| *n > 0 && self.rx_irqs.contains(irq))
                    .map(|(_, cpu, _)| *cpu),
            ),
            _ => {}
        }
    }

    pub fn finish(mut self) -> BTreeSet<u32> {
        if !self.seen.is_empty() {
            if self.rps {
                self.seen.extend(self.fired);
            }
            return self.seen;
        }
        let mut cpus = self.configured;
        cpus.extend(self.fired);
        cpus
    }
}
