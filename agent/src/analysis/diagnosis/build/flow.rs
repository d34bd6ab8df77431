//! The heartbeat flow's own packets in each gap: seen at the device, queued, read, dropped, from
//! the port watch's events and the counts it kept without one.

use super::{Acc, DEFAULT_INTERVAL_NS, FlowCounts, Port};
use crate::{
    analysis::{RecordingSummary, diagnosis::evidence::FlowFate, gaps::Gap},
    recording::records::{
        CollectorState, PortFlowInterval, PortPacketEvent, PortStage, UDP_RC_RCVBUF,
    },
};

/// The address of a peer string ("10.0.0.2:5405" → 10.0.0.2).
fn peer_ip(peer: &str) -> Option<std::net::IpAddr> {
    peer.parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .ok()
        .or_else(|| peer.parse().ok())
}

pub(super) fn event(a: &mut Acc, gap: &Gap, e: &PortPacketEvent, s: &RecordingSummary) {
    let Some(p) = a.port else { return };
    if p.proto != e.proto || p.port != e.local_port {
        return;
    }
    // Another namespace's socket on the same port (the peer's own, on one machine) is not ours.
    if a.netns != 0 && e.netns != 0 && e.netns != a.netns {
        return;
    }
    // A gap is one peer's: other peers' packets say nothing of it.
    if let (Some(want), Some(got)) = (
        gap.peer.as_deref().and_then(peer_ip),
        e.peer.as_deref().and_then(peer_ip),
    ) && want != got
    {
        return;
    }
    a.flow.any = true;
    // A failed read (-errno: interrupted by the stop, nothing to read) read no packet.
    if e.stage == PortStage::Read && e.len < 0 {
        return;
    }
    // Strictly inside the gap: the read that ends it (and the one that started it) are arrivals.
    if e.mono_ns <= gap.start_mono_ns || e.mono_ns >= gap.end_mono_ns {
        return;
    }
    if e.mono_ns < fate_end(gap, e.stage) {
        add_fate(a, e.stage, e.code, 1, s);
    }
}

/// Where packets of `stage` stop counting for the gap. Packets seen or queued just before the
/// end were read by the arrival that closed the gap: they are late deliveries, not packets that
/// arrived during the silence.
fn fate_end(gap: &Gap, stage: PortStage) -> u64 {
    match stage {
        PortStage::Seen | PortStage::Queued => {
            let interval = gap.expected_interval_ns.unwrap_or(DEFAULT_INTERVAL_NS);
            gap.end_mono_ns
                .saturating_sub(interval.min(gap.length_ns / 2))
        }
        _ => gap.end_mono_ns,
    }
}

fn add_fate(a: &mut Acc, stage: PortStage, code: i32, n: u64, s: &RecordingSummary) {
    match stage {
        PortStage::Seen => a.flow.seen += n,
        PortStage::Queued => a.flow.queued += n,
        PortStage::Read => a.flow.read += n,
        PortStage::Dropped => {
            *a.flow
                .dropped
                .entry(s.packet.reason_name(code as u32))
                .or_default() += n
        }
        PortStage::QueueFailed => {
            let name = if code == UDP_RC_RCVBUF {
                "SOCKET_RCVBUFF".to_owned()
            } else {
                format!("UDP_QUEUE_FAILED({code})")
            };
            *a.flow.dropped.entry(name).or_default() += n
        }
    }
}

/// Packets counted without an event (over their flow's budget, e.g. a flood on the port): taken
/// as spread evenly between the first and the latest of them, and shared with the gap by overlap.
pub(super) fn counts(a: &mut Acc, gap: &Gap, iv: &PortFlowInterval, s: &RecordingSummary) {
    let Some(p) = a.port else { return };
    for c in iv
        .cells
        .iter()
        .filter(|c| c.suppressed > 0 && c.proto == p.proto && c.local_port == p.port)
    {
        a.flow.any = true;
        let first = match c.first_suppressed_mono_ns {
            0 => iv.start_mono_ns,
            t => t,
        };
        let last = c.last_suppressed_mono_ns.max(first);
        let (from, to) = (gap.start_mono_ns, fate_end(gap, c.stage));
        let n = match last - first {
            0 => u64::from(last > from && last < to) * c.suppressed,
            span => {
                let overlap = last.min(to).saturating_sub(first.max(from));
                (c.suppressed as u128 * overlap as u128 / span as u128) as u64
            }
        };
        if n > 0 {
            add_fate(a, c.stage, c.code, n, s);
        }
    }
}

/// The flow's fate in the gap, when the gap's source watches a port.
pub(super) fn fate(port: Option<Port>, flow: FlowCounts, s: &RecordingSummary) -> Option<FlowFate> {
    (port.is_some() && (flow.any || portwatch_running(s))).then(|| FlowFate {
        seen_at_device: flow.seen,
        // Kernels before 6.5 have no sk_data_ready: what reached the device and was not
        // dropped reached the socket.
        queued_to_socket: if queue_stage_measured(s) {
            flow.queued
        } else {
            flow.seen.saturating_sub(flow.dropped.values().sum::<u64>())
        },
        read_by_app: flow.read,
        dropped: flow.dropped.into_iter().collect(),
        tcp: port.is_some_and(|p| p.proto == libc::IPPROTO_TCP as u8),
    })
}

/// The port watch ran, so silence on the port means no packet came.
fn portwatch_running(s: &RecordingSummary) -> bool {
    s.collectors
        .get("portwatch")
        .is_some_and(|c| c.state != CollectorState::Unavailable)
}

/// Whether queued packets were seen (sock:sk_data_ready, 6.5+) rather than to be inferred: only a
/// recording that says the tracepoint was unavailable lacks them.
fn queue_stage_measured(s: &RecordingSummary) -> bool {
    !s.collectors
        .get("portwatch:sk_data_ready")
        .is_some_and(|c| c.state == CollectorState::Unavailable)
}
