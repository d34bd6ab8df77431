//! Folds packet-path records (drops, NAPI, hard IRQs, watched-port events) into totals the
//! report and live view show, with names from the recording's packet tables.

use std::collections::{BTreeMap, BTreeSet};

use crate::recording::records::{
    DropInterval, HardirqInterval, IrqLine, NAPI_OTHER_NETNS, NapiInterval, PacketTables,
    PortFlowInterval, PortPacketEvent, PortStage, TimedMax, UDP_RC_RCVBUF, WireFlowInterval,
    WirePacketEvent, WireStage,
};

/// How many recent drop / queue-failure events on watched ports the summary keeps.
pub const RECENT_PORT_DROPS: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NapiAgg {
    pub polls: u64,
    pub work: u64,
    pub full_budget: u64,
    pub timed_polls: u64,
    pub time_sum_ns: u64,
    pub time_max: Option<TimedMax>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IrqAgg {
    pub count: u64,
    pub time_sum_ns: u64,
    pub time_max: Option<TimedMax>,
}

#[derive(Debug, Clone, Default)]
pub struct PacketSummary {
    pub tables: PacketTables,
    pub drop_intervals: u64,
    /// (reason, netns, ifindex, rx queue, cpu) → drops.
    pub drops: BTreeMap<(u32, u32, u32, Option<u32>, u32), u64>,
    /// (proto, port, reason) → drops.
    pub port_drops: BTreeMap<(u8, u16, u32), u64>,
    /// (port, rc) → udp_fail_queue_rcv_skb events.
    pub udp_fail: BTreeMap<(u16, i32), u64>,
    pub rcvqueue_full: u64,
    /// (netns, ifindex, napi_id, cpu) → polls.
    pub napi: BTreeMap<(u32, u32, u32, u32), NapiAgg>,
    /// (irq, cpu) → handler time.
    pub hardirq: BTreeMap<(u32, u32), IrqAgg>,
    /// (proto, port, stage) → packets: events, plus those counted without one.
    pub port_events: BTreeMap<(u8, u16, PortStageKey), u64>,
    /// Of `port_events`, counted in the kernel without an event (a flood over the flows' budget).
    pub port_suppressed: u64,
    pub recent_port_drops: Vec<PortPacketEvent>,
    /// (proto, source port, destination) → the send side of a watched flow.
    pub sent: BTreeMap<(u8, u16, String), SendAgg>,
}

/// One watched flow's packets on their way out of this host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendAgg {
    /// Sends by the application (sock_send_length; 6.3+, connected sockets name the peer).
    pub sent: u64,
    /// Handed to the device's queueing discipline.
    pub dev_queued: u64,
    /// Given to the driver.
    pub xmit: u64,
    /// The driver's returns other than NETDEV_TX_OK (busy: requeued; or an error).
    pub xmit_failed: u64,
    /// (netns, ifindex) of the devices, and the TX queues used.
    pub devices: BTreeSet<(u32, u32)>,
    pub tx_queues: BTreeSet<i32>,
}

/// [`PortStage`] in a sortable form for map keys.
pub type PortStageKey = u8;

pub fn stage_key(s: PortStage) -> PortStageKey {
    match s {
        PortStage::Seen => 0,
        PortStage::Queued => 1,
        PortStage::Read => 2,
        PortStage::Dropped => 3,
        PortStage::QueueFailed => 4,
    }
}

pub const STAGE_NAMES: [&str; 5] = ["seen", "queued", "read", "dropped", "queue_failed"];

fn send_count(a: &mut SendAgg, stage: WireStage, code: i32, n: u64) {
    match stage {
        WireStage::Sent => a.sent += n,
        WireStage::DevQueued => a.dev_queued += n,
        WireStage::XmitStart => a.xmit += n,
        WireStage::XmitDone if code != 0 => a.xmit_failed += n,
        WireStage::XmitDone | WireStage::Seen => {}
    }
}

fn merge_max(a: &mut Option<TimedMax>, b: Option<TimedMax>) {
    if let Some(b) = b
        && a.is_none_or(|x| b.value_ns > x.value_ns)
    {
        *a = Some(b);
    }
}

impl PacketSummary {
    pub fn add_tables(&mut self, t: &PacketTables) {
        self.tables = t.clone();
    }

    pub fn add_drops(&mut self, iv: &DropInterval) {
        self.drop_intervals += 1;
        for c in &iv.cells {
            *self
                .drops
                .entry((c.reason, c.netns, c.ifindex, c.rx_queue, c.cpu))
                .or_default() += c.count;
        }
        for c in &iv.ports {
            *self
                .port_drops
                .entry((c.proto, c.port, c.reason))
                .or_default() += c.count;
        }
        for c in &iv.udp_fail {
            *self.udp_fail.entry((c.port, c.rc)).or_default() += c.count;
        }
        self.rcvqueue_full += iv.rcvqueue_full;
    }

    pub fn add_napi(&mut self, iv: &NapiInterval) {
        for c in &iv.cells {
            let a = self
                .napi
                .entry((c.netns, c.ifindex, c.napi_id, c.cpu))
                .or_default();
            a.polls += c.polls;
            a.work += c.work;
            a.full_budget += c.full_budget;
            a.timed_polls += c.timed_polls;
            a.time_sum_ns += c.time_sum_ns;
            merge_max(&mut a.time_max, c.time_max);
        }
    }

    pub fn add_hardirq(&mut self, iv: &HardirqInterval) {
        for c in &iv.cells {
            let a = self.hardirq.entry((c.irq, c.cpu)).or_default();
            a.count += c.count;
            a.time_sum_ns += c.time_sum_ns;
            merge_max(&mut a.time_max, c.time_max);
        }
    }

    pub fn add_port_event(&mut self, e: &PortPacketEvent) {
        *self
            .port_events
            .entry((e.proto, e.local_port, stage_key(e.stage)))
            .or_default() += 1;
        if matches!(e.stage, PortStage::Dropped | PortStage::QueueFailed) {
            if self.recent_port_drops.len() == RECENT_PORT_DROPS {
                self.recent_port_drops.remove(0);
            }
            self.recent_port_drops.push(e.clone());
        }
    }

    /// Packets counted in the kernel without an event: added to the totals (events + these).
    pub fn add_port_flows(&mut self, iv: &PortFlowInterval) {
        for c in iv.cells.iter().filter(|c| c.suppressed > 0) {
            *self
                .port_events
                .entry((c.proto, c.local_port, stage_key(c.stage)))
                .or_default() += c.suppressed;
            self.port_suppressed += c.suppressed;
        }
    }

    /// A send-side packet of a watched flow (received ones are counted as port events).
    pub fn add_wire(&mut self, e: &WirePacketEvent) {
        if !e.stage.is_tx() {
            return;
        }
        let key = (
            e.proto,
            e.local_port,
            e.peer.clone().unwrap_or_else(|| "?".into()),
        );
        let a = self.sent.entry(key).or_default();
        send_count(a, e.stage, e.code, 1);
        if e.ifindex != 0 {
            a.devices.insert((e.netns, e.ifindex));
        }
        if e.stage == WireStage::XmitStart {
            a.tx_queues.insert(e.code);
        }
    }

    /// Send-side packets counted in the kernel without an event.
    pub fn add_wire_flows(&mut self, iv: &WireFlowInterval) {
        for c in iv.cells.iter().filter(|c| c.suppressed > 0) {
            let key = (
                c.proto,
                c.local_port,
                c.peer.clone().unwrap_or_else(|| "?".into()),
            );
            send_count(
                self.sent.entry(key).or_default(),
                c.stage,
                c.code,
                c.suppressed,
            );
            self.port_suppressed += c.suppressed;
        }
    }

    /// Drop reason name from the recording's table ("NO_SOCKET"), or "reason N".
    pub fn reason_name(&self, reason: u32) -> String {
        self.tables
            .drop_reasons
            .iter()
            .find(|(v, _)| *v == reason)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| format!("reason {reason}"))
    }

    /// Interface name; ifindex 0 is an skb or NAPI instance without a device (for NAPI: the
    /// per-CPU backlog that netif_rx and RPS feed). Devices in another network namespace than
    /// hbwatch's are shown as `ifN@netns:INODE` (the recording has no names for them).
    pub fn ifname(&self, ifindex: u32, netns: u32) -> String {
        if ifindex == 0 {
            return "-".to_owned();
        }
        if netns != 0 && self.tables.host_netns != 0 && netns != self.tables.host_netns {
            return format!("if{ifindex}@netns:{netns}");
        }
        self.tables
            .interfaces
            .iter()
            .find(|(i, _)| *i == ifindex)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| format!("if{ifindex}"))
    }

    /// The device a NAPI row belongs to: `backlog` for the per-CPU backlog (no device), `other
    /// namespaces` for the classic fallback's devices outside hbwatch's namespace.
    pub fn napi_device(&self, ifindex: u32, netns: u32) -> String {
        match (ifindex, netns) {
            (0, NAPI_OTHER_NETNS) => "other namespaces".to_owned(),
            (0, _) => "backlog".to_owned(),
            _ => self.ifname(ifindex, netns),
        }
    }

    pub fn irq_line(&self, irq: u32) -> Option<&IrqLine> {
        self.tables.irq_lines.iter().find(|l| l.irq == irq)
    }

    /// Drops by reason name, largest first.
    pub fn drops_by_reason(&self) -> Vec<(String, u64)> {
        let mut by: BTreeMap<u32, u64> = BTreeMap::new();
        for (&(reason, ..), &n) in &self.drops {
            *by.entry(reason).or_default() += n;
        }
        let mut v: Vec<(String, u64)> = by
            .into_iter()
            .map(|(r, n)| (self.reason_name(r), n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Drops with a given reason name, all devices and CPUs.
    pub fn drops_with_reason(&self, name: &str) -> u64 {
        self.drops
            .iter()
            .filter(|((r, ..), _)| self.reason_name(*r) == name)
            .map(|(_, n)| n)
            .sum()
    }

    /// UDP receive-buffer drops (udp_fail_queue_rcv_skb with -ENOMEM) on local port `port`.
    pub fn udp_rcvbuf_drops(&self, port: u16) -> u64 {
        self.udp_fail
            .get(&(port, UDP_RC_RCVBUF))
            .copied()
            .unwrap_or(0)
    }

    /// Port-watch events of one stage on (proto, port).
    pub fn port_stage_count(&self, proto: u8, port: u16, stage: PortStage) -> u64 {
        self.port_events
            .get(&(proto, port, stage_key(stage)))
            .copied()
            .unwrap_or(0)
    }

    /// The port watch recorded something on (proto, port).
    pub fn port_events_on(&self, proto: u8, port: u16) -> bool {
        self.port_events
            .keys()
            .any(|(p, q, _)| *p == proto && *q == port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::records::{DropCell, UdpFailCell};

    #[test]
    fn folds_drops_with_names() {
        let mut s = PacketSummary::default();
        s.add_tables(&PacketTables {
            drop_reasons: vec![(2, "NOT_SPECIFIED".into()), (7, "CPU_BACKLOG".into())],
            interfaces: vec![(2, "eth0".into())],
            host_netns: 4026531840,
            irq_lines: vec![],
        });
        let cell = |reason, cpu, count| DropCell {
            reason,
            ifindex: 2,
            rx_queue: Some(0),
            netns: 0,
            protocol: 0x0800,
            cpu,
            count,
        };
        for _ in 0..2 {
            s.add_drops(&DropInterval {
                cells: vec![cell(7, 0, 5), cell(7, 1, 1), cell(2, 0, 1)],
                udp_fail: vec![UdpFailCell {
                    port: 5405,
                    rc: -12,
                    count: 3,
                }],
                ..Default::default()
            });
        }
        assert_eq!(
            s.drops_by_reason(),
            vec![("CPU_BACKLOG".into(), 12), ("NOT_SPECIFIED".into(), 2)]
        );
        assert_eq!(s.drops_with_reason("CPU_BACKLOG"), 12);
        assert_eq!(s.udp_rcvbuf_drops(5405), 6);
        assert_eq!(s.udp_rcvbuf_drops(1), 0);
        assert_eq!(s.reason_name(99), "reason 99");
        assert_eq!(s.ifname(2, 0), "eth0");
        assert_eq!(s.ifname(2, 4026531840), "eth0");
        assert_eq!(s.ifname(2, 7), "if2@netns:7");
    }

    #[test]
    fn keeps_only_recent_port_drops() {
        let mut s = PacketSummary::default();
        for i in 0..(RECENT_PORT_DROPS as u64 + 5) {
            s.add_port_event(&PortPacketEvent {
                mono_ns: i,
                stage: PortStage::Dropped,
                cpu: 0,
                proto: 17,
                local_port: 5405,
                peer: None,
                ifindex: 0,
                netns: 0,
                len: 0,
                code: 2,
            });
        }
        assert_eq!(s.recent_port_drops.len(), RECENT_PORT_DROPS);
        assert_eq!(s.recent_port_drops[0].mono_ns, 5);
        assert_eq!(
            s.port_stage_count(17, 5405, PortStage::Dropped),
            RECENT_PORT_DROPS as u64 + 5
        );
    }

    #[test]
    fn counted_only_packets_add_to_the_events() {
        use crate::recording::records::{PortFlowCell, PortFlowInterval};
        let mut s = PacketSummary::default();
        let cell = |stage, count, suppressed| PortFlowCell {
            proto: 17,
            local_port: 5405,
            peer: Some("10.0.0.2:40000".into()),
            stage,
            code: 0,
            count,
            suppressed,
            last_suppressed_mono_ns: 9,
            first_suppressed_mono_ns: 1,
        };
        s.add_port_flows(&PortFlowInterval {
            start_mono_ns: 0,
            end_mono_ns: 10,
            cells: vec![cell(PortStage::Seen, 100, 90), cell(PortStage::Read, 3, 0)],
        });
        assert_eq!(s.port_stage_count(17, 5405, PortStage::Seen), 90);
        assert_eq!(s.port_stage_count(17, 5405, PortStage::Read), 0);
        assert_eq!(s.port_suppressed, 90);
    }
}
