//! Softirq latency of a span of `Softirq` records, summed per CPU (NET_RX only) and per vector.

use std::collections::BTreeMap;

use crate::{
    analysis::{RecordingSummary, SoftirqAgg},
    recording::records::Record,
};

/// One span's softirq figures.
#[derive(Debug, Clone, Default)]
pub struct SoftirqSpan {
    /// NET_RX per CPU.
    pub net_rx_by_cpu: BTreeMap<u32, SoftirqAgg>,
    /// Every vector summed over CPUs.
    pub by_vector: BTreeMap<u8, SoftirqAgg>,
}

impl SoftirqSpan {
    /// The `Softirq` records among `records`; `None` without any.
    pub fn of(summary: &RecordingSummary, records: &[Record]) -> Option<SoftirqSpan> {
        let net_rx = net_rx_vector(summary);
        let mut s = SoftirqSpan::default();
        let mut any = false;
        for r in records {
            let Record::Softirq(iv) = r else { continue };
            any = true;
            for c in &iv.cells {
                s.by_vector.entry(c.vector).or_default().add(c);
                if c.vector == net_rx {
                    s.net_rx_by_cpu.entry(c.cpu).or_default().add(c);
                }
            }
        }
        any.then_some(s)
    }
}

/// NET_RX's vector number in this recording (3 when the header does not name it).
pub fn net_rx_vector(summary: &RecordingSummary) -> u8 {
    summary
        .header
        .softirq_vectors
        .iter()
        .position(|v| v == "NET_RX")
        .map_or(3, |i| i as u8)
}

/// The CPUs the recording covers: the online ones, else 0..cpus.
pub fn cpu_list(summary: &RecordingSummary) -> Vec<u32> {
    let h = &summary.header;
    if h.online_cpus.is_empty() {
        (0..h.cpus.max(1)).collect()
    } else {
        h.online_cpus.clone()
    }
}
