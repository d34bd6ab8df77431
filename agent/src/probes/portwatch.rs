//! Port watch: for the heartbeat ports in [`super::ProbeOptions::watch_ports`], attaches the
//! per-packet programs (net:netif_receive_skb, sock:sk_data_ready, sock:sock_recv_length or, before
//! 6.3, skb:skb_copy_datagram_iovec; drops
//! come from the drop probe) and drains their ring buffer into [`PortPacketEvent`]s, with the
//! per-CPU count of events the kernel could not queue; reads the per-flow fate counters into a
//! [`PortFlowInterval`] per tick.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use agent_common::{
    drops::watch_key,
    names,
    portwatch::{EVENT_HAS_IDENT, FlowCell, FlowKey, PortEvent, PortEventKind},
};
use aya::{
    Btf,
    maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf},
};

pub use super::options::WatchPort;
use super::{
    error::ProbeError,
    family::{Family, attach_status as status},
    kernel::{
        maps::take_typed,
        object::{Object, attach_btf},
    },
};
use crate::recording::records::{
    CollectorState, CollectorStatus, LostEvents, PortFlowCell, PortFlowInterval, PortPacketEvent,
    PortStage, Record, WireFlowCell, WireFlowInterval, WirePacketEvent, WireStage,
};

/// Stream name of watched-port events in `Lost` records.
pub const PORT_EVENTS_STREAM: &str = "port-events";

pub struct PortWatchProbe {
    events: RingBuf<MapData>,
    lost: PerCpuArray<MapData, u64>,
    prev_lost: u64,
    flows: PerCpuHashMap<MapData, FlowKey, FlowCell>,
    /// (count, suppressed) of each flow at the previous read, all CPUs.
    prev_flows: HashMap<FlowKey, (u64, u64)>,
    prev_at: u64,
    epoch: Array<MapData, u64>,
    /// The epoch the kernel stamps on this interval's first suppressed packets.
    cur_epoch: u64,
    /// `record --netns`: the namespace whose flows are kept (see [`in_scope`]).
    pub scope: Option<u32>,
}

type Maps = (
    RingBuf<MapData>,
    PerCpuArray<MapData, u64>,
    PerCpuHashMap<MapData, FlowKey, FlowCell>,
    Array<MapData, u64>,
);

/// Programs and their tracepoints; each may be missing on a kernel without it.
const PROGRAMS: [(&str, &str); 7] = [
    (names::PROG_NETIF_RECEIVE_SKB, "netif_receive_skb"),
    (names::PROG_SK_DATA_READY, "sk_data_ready"),
    (names::PROG_SOCK_RECV_LENGTH, "sock_recv_length"),
    (names::PROG_SOCK_SEND_LENGTH, "sock_send_length"),
    (names::PROG_NET_DEV_QUEUE, "net_dev_queue"),
    (names::PROG_NET_DEV_START_XMIT, "net_dev_start_xmit"),
    (names::PROG_NET_DEV_XMIT, "net_dev_xmit"),
];

impl PortWatchProbe {
    /// Fills the watch set and attaches the per-packet programs, each on its own.
    pub fn attach(
        ebpf: &mut Object,
        btf: &Btf,
        ports: &[WatchPort],
        at: u64,
    ) -> (Option<Self>, Vec<CollectorStatus>) {
        let mut statuses = Vec::new();
        let mut setup = || -> Result<Maps, ProbeError> {
            let mut set: BpfHashMap<_, u32, u32> = BpfHashMap::try_from(
                ebpf.map_mut(names::MAP_WATCH_PORTS)
                    .ok_or(ProbeError::MapMissing {
                        map: names::MAP_WATCH_PORTS,
                    })?,
            )
            .map_err(|source| ProbeError::MapType {
                map: names::MAP_WATCH_PORTS,
                source,
            })?;
            for p in ports {
                set.insert(watch_key(p.proto, p.port), 1, 0)
                    .map_err(|source| ProbeError::Watch {
                        what: format!("port {}", p.port),
                        source,
                    })?;
            }
            Ok((
                take_typed(ebpf, names::MAP_PORT_EVENTS)?,
                take_typed(ebpf, names::MAP_PORT_EVENTS_LOST)?,
                take_typed(ebpf, names::MAP_PORT_FLOWS)?,
                take_typed(ebpf, names::MAP_PORT_FLOW_EPOCH)?,
            ))
        };
        let (events, lost, flows, epoch) = match setup() {
            Ok(x) => x,
            Err(e) => {
                statuses.push(status(at, "portwatch", &Err(e), ""));
                return (None, statuses);
            }
        };
        for (prog, tp) in PROGRAMS {
            let r = attach_btf(ebpf, btf, prog, tp);
            let r = match r {
                // Before 6.3 there is no sock_recv_length: reads are seen where the kernel
                // copies the datagram to the reader.
                Err(e) if tp == "sock_recv_length" => {
                    let tcp = attach_btf(
                        ebpf,
                        btf,
                        names::PROG_SKB_COPY_DATAGRAM_IOVEC,
                        "skb_copy_datagram_iovec",
                    );
                    let udp = attach_btf(ebpf, btf, names::PROG_CONSUME_SKB, "consume_skb");
                    match (tcp, udp) {
                        (Ok(()), Ok(())) => {
                            statuses.push(status(
                                at,
                                &format!("portwatch:{tp}"),
                                &Ok(()),
                                &format!(
                                    "tp_btf skb_copy_datagram_iovec (TCP) and consume_skb (UDP) \
                                     in its place ({e}; sock_recv_length came in 6.3)"
                                ),
                            ));
                            continue;
                        }
                        (t, u) => {
                            let said = |r: Result<(), ProbeError>| {
                                r.err().map_or_else(|| "attached".into(), |e| e.to_string())
                            };
                            statuses.push(CollectorStatus {
                                at_mono_ns: at,
                                collector: format!("portwatch:{tp}"),
                                state: CollectorState::Unavailable,
                                detail: format!(
                                    "{e}; skb_copy_datagram_iovec: {}; consume_skb: {}",
                                    said(t),
                                    said(u)
                                ),
                            });
                            continue;
                        }
                    }
                }
                // Before 6.3: the sends of watched flows are seen from the device's queue on.
                Err(e) if tp == "sock_send_length" => {
                    statuses.push(status(
                        at,
                        &format!("portwatch:{tp}"),
                        &Ok(()),
                        &format!(
                            "sends seen from net_dev_queue on, not at the application \
                             ({e}; sock_send_length came in 6.3)"
                        ),
                    ));
                    continue;
                }
                r => r,
            };
            statuses.push(status(
                at,
                &format!("portwatch:{tp}"),
                &r,
                &format!("tp_btf {tp}"),
            ));
        }
        // Kept even if every program failed: drops on watched ports come through kfree_skb.
        let probe = PortWatchProbe {
            events,
            lost,
            prev_lost: 0,
            flows,
            prev_flows: HashMap::new(),
            prev_at: at,
            epoch,
            cur_epoch: 0,
            scope: None,
        };
        (Some(probe), statuses)
    }

    /// Every event queued so far, oldest first: receive-side fates, and the packets that carry
    /// their identity across hosts (received at the device, or sent).
    pub fn drain(&mut self) -> Vec<Record> {
        let mut out = Vec::new();
        while let Some(item) = self.events.next() {
            if item.len() < std::mem::size_of::<PortEvent>() {
                continue;
            }
            // SAFETY: the kernel wrote a whole PortEvent (size checked); read_unaligned copes
            // with the ring buffer's 8-byte record alignment either way.
            let ev: PortEvent = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
            if let Some(e) = decode(&ev) {
                out.push(Record::PortPacket(e));
            }
            if let Some(w) = decode_wire(&ev) {
                out.push(Record::Wire(w));
            }
        }
        out
    }

    /// Events the kernel could not queue since the previous call, all CPUs.
    pub fn lost_since_last(&mut self) -> Result<u64, ProbeError> {
        let total: u64 = self
            .lost
            .get(&0, 0)
            .map_err(|e| ProbeError::read(names::MAP_PORT_EVENTS_LOST, None, false, e))?
            .iter()
            .sum();
        let d = total.wrapping_sub(self.prev_lost);
        self.prev_lost = total;
        Ok(d)
    }

    /// The flows whose counts moved since the previous call, over (previous call, now]: the
    /// receive side and the send side.
    pub fn read_flows(
        &mut self,
        now: u64,
        scope: Option<u32>,
    ) -> Result<(Option<PortFlowInterval>, Option<WireFlowInterval>), ProbeError> {
        let err = |e| ProbeError::read(names::MAP_PORT_FLOWS, None, false, e);
        let mut cells = Vec::new();
        let mut tx = Vec::new();
        for item in self.flows.iter() {
            let (key, values) = item.map_err(err)?;
            let (mut count, mut suppressed, mut last, mut first) = (0u64, 0u64, 0u64, u64::MAX);
            for c in values.iter() {
                count += c.count;
                suppressed += c.suppressed;
                last = last.max(c.last_suppressed_ns);
                if c.epoch == self.cur_epoch && c.first_suppressed_ns != 0 {
                    first = first.min(c.first_suppressed_ns);
                }
            }
            let prev = self.prev_flows.insert(key, (count, suppressed));
            let (pc, ps) = prev.unwrap_or((0, 0));
            let (dc, ds) = (count.wrapping_sub(pc), suppressed.wrapping_sub(ps));
            if (dc == 0 && ds == 0) || !in_scope(scope, key.netns) {
                continue;
            }
            if let Some(stage) = wire_stage_of(key.kind).filter(|s| s.is_tx()) {
                tx.push(WireFlowCell {
                    proto: key.proto as u8,
                    local_port: key.local_port,
                    peer: peer_of(key.family, key.peer_addr, key.peer_port),
                    stage,
                    code: key.code,
                    count: dc,
                    suppressed: ds,
                });
                continue;
            }
            let Some(stage) = stage_of(key.kind) else {
                continue;
            };
            cells.push(PortFlowCell {
                proto: key.proto as u8,
                local_port: key.local_port,
                peer: peer_of(key.family, key.peer_addr, key.peer_port),
                stage,
                code: key.code,
                count: dc,
                suppressed: ds,
                last_suppressed_mono_ns: if ds > 0 { last } else { 0 },
                // Unknown (another CPU's suppression raced the epoch change): the interval start.
                first_suppressed_mono_ns: if ds > 0 && first <= last { first } else { 0 },
            });
        }
        self.cur_epoch += 1;
        self.epoch
            .set(0, self.cur_epoch, 0)
            .map_err(|e| ProbeError::read(names::MAP_PORT_FLOW_EPOCH, None, false, e))?;
        let start = std::mem::replace(&mut self.prev_at, now);
        Ok((
            (!cells.is_empty()).then_some(PortFlowInterval {
                start_mono_ns: start,
                end_mono_ns: now,
                cells,
            }),
            (!tx.is_empty()).then_some(WireFlowInterval {
                start_mono_ns: start,
                end_mono_ns: now,
                cells: tx,
            }),
        ))
    }
}

impl Family for PortWatchProbe {
    fn name(&self) -> &'static str {
        "portwatch"
    }

    /// The queued events, the count the kernel could not queue, then the flows that moved.
    fn read(&mut self, now_mono_ns: u64) -> Vec<Result<Record, ProbeError>> {
        let mut out: Vec<_> = self.drain().into_iter().map(Ok).collect();
        match self.lost_since_last() {
            Ok(0) => {}
            Ok(n) => out.push(Ok(Record::Lost(LostEvents {
                at_mono_ns: now_mono_ns,
                stream: PORT_EVENTS_STREAM.to_owned(),
                count: n,
            }))),
            Err(e) => out.push(Err(e)),
        }
        match self.read_flows(now_mono_ns, self.scope) {
            Ok((rx, tx)) => {
                out.extend(rx.map(|r| Ok(Record::PortFlows(r))));
                out.extend(tx.map(|t| Ok(Record::WireFlows(t))));
            }
            Err(e) => out.push(Err(e)),
        }
        out
    }
}

/// Whether a record of namespace `netns` belongs in a recording scoped to `scope` (0: not known,
/// kept).
pub fn in_scope(scope: Option<u32>, netns: u32) -> bool {
    scope.is_none_or(|s| netns == 0 || netns == s)
}

fn stage_of(kind: u32) -> Option<PortStage> {
    Some(match PortEventKind::from_u32(kind)? {
        PortEventKind::Seen => PortStage::Seen,
        PortEventKind::Queued => PortStage::Queued,
        PortEventKind::Read => PortStage::Read,
        PortEventKind::Dropped => PortStage::Dropped,
        PortEventKind::QueueFailed => PortStage::QueueFailed,
        _ => return None,
    })
}

/// The stages that carry a packet's identity: the device on receive, every send-side one.
fn wire_stage_of(kind: u32) -> Option<WireStage> {
    Some(match PortEventKind::from_u32(kind)? {
        PortEventKind::Seen => WireStage::Seen,
        PortEventKind::Sent => WireStage::Sent,
        PortEventKind::DevQueued => WireStage::DevQueued,
        PortEventKind::XmitStart => WireStage::XmitStart,
        PortEventKind::XmitDone => WireStage::XmitDone,
        _ => return None,
    })
}

/// A [`WirePacketEvent`] of an event at a wire stage; None for the others.
pub fn decode_wire(ev: &PortEvent) -> Option<WirePacketEvent> {
    let stage = wire_stage_of(ev.kind)?;
    Some(WirePacketEvent {
        mono_ns: ev.mono_ns,
        stage,
        cpu: ev.cpu,
        proto: ev.proto as u8,
        local: peer_of(ev.family, ev.local_addr, ev.local_port)
            .filter(|_| ev.local_addr.iter().any(|b| *b != 0)),
        local_port: ev.local_port,
        peer: peer_of(ev.family, ev.peer_addr, ev.peer_port),
        ifindex: ev.ifindex,
        netns: ev.netns,
        len: ev.len,
        code: ev.code,
        ident: (ev.flags & EVENT_HAS_IDENT != 0).then_some(ev.ident),
    })
}

/// "10.0.0.2:40000" from a family and network-order address; None when unknown.
fn peer_of(family: u16, addr: [u8; 16], port: u16) -> Option<String> {
    let ip = match family {
        2 => Some(IpAddr::V4(Ipv4Addr::new(
            addr[0], addr[1], addr[2], addr[3],
        ))),
        10 => Some(IpAddr::V6(Ipv6Addr::from(addr))),
        _ => None,
    };
    ip.filter(|ip| !ip.is_unspecified() || port != 0)
        .map(|ip| SocketAddr::new(ip, port).to_string())
}

pub fn decode(ev: &PortEvent) -> Option<PortPacketEvent> {
    let stage = stage_of(ev.kind)?;
    let peer = peer_of(ev.family, ev.peer_addr, ev.peer_port);
    Some(PortPacketEvent {
        mono_ns: ev.mono_ns,
        stage,
        cpu: ev.cpu,
        proto: ev.proto as u8,
        local_port: ev.local_port,
        peer,
        ifindex: ev.ifindex,
        netns: ev.netns,
        len: ev.len,
        code: ev.code,
    })
}

/// Parses `udp:PORT` or `tcp:PORT`.
pub fn parse_watch_port(s: &str) -> Result<WatchPort, String> {
    let (proto, port) = s
        .split_once(':')
        .ok_or_else(|| format!("port watch `{s}`: expected udp:PORT or tcp:PORT"))?;
    let proto = match proto {
        "udp" => 17,
        "tcp" => 6,
        other => {
            return Err(format!(
                "port watch `{s}`: unknown protocol `{other}` (udp or tcp)"
            ));
        }
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("port watch `{s}`: port must be 1-65535"))?;
    Ok(WatchPort { proto, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: u32, family: u16) -> PortEvent {
        PortEvent {
            mono_ns: 5,
            kind,
            cpu: 1,
            ifindex: 3,
            code: 0,
            len: 64,
            family,
            proto: 17,
            local_port: 5405,
            peer_port: 40000,
            netns: 0,
            local_addr: [0; 16],
            peer_addr: [10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ident: 0,
            flags: 0,
        }
    }

    #[test]
    fn decodes_peer_and_stage() {
        let e = decode(&event(1, 2)).expect("decoded");
        assert_eq!(e.stage, PortStage::Seen);
        assert_eq!(e.peer.as_deref(), Some("10.0.0.2:40000"));
        assert!(decode(&event(99, 2)).is_none());
        let mut unconnected = event(2, 2);
        unconnected.peer_addr = [0; 16];
        unconnected.peer_port = 0;
        assert_eq!(decode(&unconnected).expect("decoded").peer, None);
    }

    #[test]
    fn parses_watch_specs() {
        assert_eq!(
            parse_watch_port("udp:5405"),
            Ok(WatchPort {
                proto: 17,
                port: 5405
            })
        );
        assert!(parse_watch_port("sctp:1").is_err());
        assert!(parse_watch_port("udp:0").is_err());
        assert!(parse_watch_port("5405").is_err());
    }
}
