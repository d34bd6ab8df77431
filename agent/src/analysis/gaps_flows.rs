//! Which series a source's arrival belongs to: a peer's address (TCP, log names), or for UDP
//! each of its flows (address and port), so a flood from another socket of the peer's host cannot
//! stand in for its heartbeats; a socket per send is followed by address, and a flow that ends
//! while its host's other flow goes on is not a silent peer.

use super::{Series, SeriesKey, SourceState};

/// One-off source ports from one address after which it counts as a socket per send.
const CHURN_PORTS: usize = 3;

/// A peer's address without the port (a TCP reconnect is the same peer), or the name a log line
/// gave.
pub(super) fn peer_key(peer: &str) -> String {
    peer.parse::<std::net::SocketAddr>()
        .map_or_else(|_| peer.to_owned(), |a| a.ip().to_string())
}

impl SourceState {
    pub(super) fn key(&self, netns: u32, peer: Option<&str>) -> SeriesKey {
        let Some(peer) = peer else {
            return (netns, None);
        };
        let addr = peer_key(peer);
        if !self.by_port || self.churning.contains(&(netns, addr.clone())) {
            return (netns, Some(addr));
        }
        (netns, Some(peer.to_owned()))
    }

    /// A new flow from `key`'s address: when it is one more of several one-off source ports,
    /// the address is followed as one series from now on; the key to use is returned.
    pub(super) fn new_flow(&mut self, key: SeriesKey) -> SeriesKey {
        let (netns, Some(peer)) = &key else {
            return key;
        };
        let addr = peer_key(peer);
        if !self.by_port || addr == *peer {
            return key;
        }
        let one_off: Vec<SeriesKey> = self
            .series
            .iter()
            .filter(|(k, x)| {
                k.0 == *netns
                    && x.arrivals == 1
                    && k.1.as_deref().map(peer_key) == Some(addr.clone())
            })
            .map(|(k, _)| k.clone())
            .collect();
        if one_off.len() + 1 < CHURN_PORTS {
            return key;
        }
        let merged = (*netns, Some(addr.clone()));
        for k in one_off {
            if let Some(x) = self.series.remove(&k) {
                let m = self.series.entry(merged.clone()).or_insert(Series {
                    peer: x.peer.clone(),
                    first: x.first,
                    last: x.last,
                    arrivals: 0,
                });
                m.first = m.first.min(x.first);
                m.last = m.last.max(x.last);
                m.arrivals += x.arrivals;
            }
        }
        self.churning.push((*netns, addr));
        merged
    }

    /// A flow that stopped while another flow of the same address went on: the peer is alive and
    /// that flow ended (a bulk transfer, a flood), so its silence is no one's gap.
    pub(super) fn flow_ended(&self, key: &SeriesKey, last: u64) -> bool {
        let (netns, Some(peer)) = key else {
            return false;
        };
        let addr = peer_key(peer);
        self.by_port
            && addr != *peer
            && self.series.iter().any(|(k, x)| {
                k != key
                    && k.0 == *netns
                    && x.last > last
                    && k.1.as_deref().map(peer_key) == Some(addr.clone())
            })
    }
}
