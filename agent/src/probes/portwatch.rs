//! Port watch: for the heartbeat ports in [`super::ProbeOptions::watch_ports`], attaches the
//! per-packet programs (net:netif_receive_skb, sock:sk_data_ready, sock:sock_recv_length or, before
//! 6.3, skb:skb_copy_datagram_iovec; drops
//! come from the drop probe) and drains their ring buffer into [`PortPacketEvent`]s, with the
//! per-CPU count of events the kernel could not queue.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use agent_common::{
    drops::watch_key,
    names,
    portwatch::{PortEvent, PortEventKind},
};
use aya::{
    Btf,
    maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf},
};

use super::drops::{attach_btf, status};
use super::object::Object;
use crate::recording::records::{CollectorStatus, PortPacketEvent, PortStage};

/// A port to watch: protocol (17 UDP, 6 TCP) and local port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchPort {
    pub proto: u8,
    pub port: u16,
}

pub struct PortWatchProbe {
    events: RingBuf<MapData>,
    lost: PerCpuArray<MapData, u64>,
    prev_lost: u64,
}

/// Programs and their tracepoints; each may be missing on a kernel without it.
const PROGRAMS: [(&str, &str); 3] = [
    (names::PROG_NETIF_RECEIVE_SKB, "netif_receive_skb"),
    (names::PROG_SK_DATA_READY, "sk_data_ready"),
    (names::PROG_SOCK_RECV_LENGTH, "sock_recv_length"),
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
        let mut setup = || -> Result<(RingBuf<MapData>, PerCpuArray<MapData, u64>), String> {
            let mut set: BpfHashMap<_, u32, u32> = BpfHashMap::try_from(
                ebpf.map_mut(names::MAP_WATCH_PORTS)
                    .ok_or("map WATCH_PORTS missing from the object")?,
            )
            .map_err(|e| format!("{}: {e}", names::MAP_WATCH_PORTS))?;
            for p in ports {
                set.insert(watch_key(p.proto, p.port), 1, 0)
                    .map_err(|e| format!("watching port {}: {e}", p.port))?;
            }
            let events = ebpf
                .take_map(names::MAP_PORT_EVENTS)
                .ok_or("map PORT_EVENTS missing")?;
            let events = RingBuf::try_from(events).map_err(|e| e.to_string())?;
            let lost = ebpf
                .take_map(names::MAP_PORT_EVENTS_LOST)
                .ok_or("map PORT_EVENTS_LOST missing")?;
            let lost = PerCpuArray::try_from(lost).map_err(|e| e.to_string())?;
            Ok((events, lost))
        };
        let (events, lost) = match setup() {
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
                        (t, u) => Err(format!(
                            "{e}; skb_copy_datagram_iovec: {}; consume_skb: {}",
                            t.err().unwrap_or_else(|| "attached".into()),
                            u.err().unwrap_or_else(|| "attached".into())
                        )),
                    }
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
        // Kept even if all three failed: drops on watched ports come through kfree_skb.
        let probe = PortWatchProbe {
            events,
            lost,
            prev_lost: 0,
        };
        (Some(probe), statuses)
    }

    /// Every event queued so far, oldest first.
    pub fn drain(&mut self) -> Vec<PortPacketEvent> {
        let mut out = Vec::new();
        while let Some(item) = self.events.next() {
            if item.len() < std::mem::size_of::<PortEvent>() {
                continue;
            }
            // SAFETY: the kernel wrote a whole PortEvent (size checked); read_unaligned copes
            // with the ring buffer's 8-byte record alignment either way.
            let ev: PortEvent = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
            if let Some(e) = decode(&ev) {
                out.push(e);
            }
        }
        out
    }

    /// Events the kernel could not queue since the previous call, all CPUs.
    pub fn lost_since_last(&mut self) -> Result<u64, String> {
        let total: u64 = self
            .lost
            .get(&0, 0)
            .map_err(|e| format!("{}: {e}", names::MAP_PORT_EVENTS_LOST))?
            .iter()
            .sum();
        let d = total.wrapping_sub(self.prev_lost);
        self.prev_lost = total;
        Ok(d)
    }
}

pub fn decode(ev: &PortEvent) -> Option<PortPacketEvent> {
    let stage = match PortEventKind::from_u32(ev.kind)? {
        PortEventKind::Seen => PortStage::Seen,
        PortEventKind::Queued => PortStage::Queued,
        PortEventKind::Read => PortStage::Read,
        PortEventKind::Dropped => PortStage::Dropped,
        PortEventKind::QueueFailed => PortStage::QueueFailed,
    };
    let ip = match ev.family {
        2 => Some(IpAddr::V4(Ipv4Addr::new(
            ev.peer_addr[0],
            ev.peer_addr[1],
            ev.peer_addr[2],
            ev.peer_addr[3],
        ))),
        10 => Some(IpAddr::V6(Ipv6Addr::from(ev.peer_addr))),
        _ => None,
    };
    let peer = ip
        .filter(|ip| !ip.is_unspecified() || ev.peer_port != 0)
        .map(|ip| SocketAddr::new(ip, ev.peer_port).to_string());
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
