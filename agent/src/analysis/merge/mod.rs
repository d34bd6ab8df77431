//! Several hosts' recordings into one story: heartbeat flows paired across recordings (a host's
//! sent flow is another's received one), packets matched by their identity, the hosts' clocks
//! aligned from matched packets in both directions, and for every heartbeat gap a receiver saw,
//! the leg where its peer's heartbeats were lost.
//!
//! Each leg's own timing is measured on one host's monotonic clock; only the wire leg needs the
//! offset. Recordings of one boot (two namespaces of one kernel: `record --netns`) share the
//! monotonic clock exactly.

mod clocks;
mod legs;
#[cfg(test)]
mod tests;

use serde::Serialize;

pub use clocks::ClockFit;
pub use legs::{Leg, LegFinding};

use crate::{
    analysis::diagnosis::Diagnosis,
    recording::records::{PortPacketEvent, PortStage, WirePacketEvent, WireStage},
};

/// What the merge needs of one recording.
#[derive(Debug, Clone, Default)]
pub struct HostInput {
    /// How the user named it (the file).
    pub label: String,
    pub host: String,
    pub boot_id: String,
    /// `record --netns`: the namespace inode it kept; None for a host-wide recording.
    pub scope: Option<u32>,
    /// Its start anchor: realtime − monotonic.
    pub wall_offset_ns: i64,
    /// Its first record's monotonic time.
    pub first_mono_ns: u64,
    pub wire: Vec<WirePacketEvent>,
    /// Drops and UDP refusals on watched ports.
    pub port: Vec<PortPacketEvent>,
    /// Drop reason names of its kernel.
    pub reasons: Vec<(u32, String)>,
    /// (ifindex, name) of its interfaces (of its namespace when scoped).
    pub interfaces: Vec<(u32, String)>,
    /// Its own diagnosis: the gaps it saw, judged on its own evidence.
    pub diagnosis: Diagnosis,
}

/// A heartbeat flow seen leaving one recording's host and arriving at another's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowPair {
    pub proto: &'static str,
    /// "10.0.0.1:40000": the sender's end.
    pub source: String,
    pub destination: String,
    /// Indexes into the inputs.
    pub sender: usize,
    pub receiver: usize,
    /// Packets given to the sender's device queue.
    pub sent: u64,
    /// Of those, seen at the receiver's device (matched by identity).
    pub delivered: u64,
    pub fates: Vec<(Leg, u64)>,
    /// One-way delay of delivered packets (queue at the sender → the receiver's device), on the
    /// aligned clocks: median and maximum.
    pub delay_p50_ns: Option<i64>,
    pub delay_max_ns: Option<i64>,
    /// Time in the sender's qdisc (queued → given to the driver), on its own clock.
    pub held_p50_ns: Option<u64>,
    pub held_max_ns: Option<u64>,
}

/// The merged analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Merged {
    pub hosts: Vec<HostJson>,
    pub clocks: Vec<ClockFit>,
    pub flows: Vec<FlowPair>,
    /// Every receiver's gap on a paired flow, with its leg; in time order on host 0's clock.
    pub findings: Vec<LegFinding>,
    /// The findings of each receiver incident (its gaps close in time), with the leg that lost
    /// the most heartbeat time in it.
    pub incidents: Vec<ClusterIncident>,
    /// Legs by heartbeat time lost (then by count): `ranking[0]` is the headline.
    pub ranking: Vec<LegRank>,
    /// Host 0's start, on its monotonic clock (the zero of the report's times).
    pub ref_start_mono_ns: u64,
    /// Every sent packet of the paired flows on host 0's clock, for the timeline.
    #[serde(skip)]
    pub packets: Vec<PacketMark>,
}

/// One sent packet of `flows[flow]`: when it left, when it was seen (host 0's clock), or where
/// it was lost.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketMark {
    pub flow: usize,
    pub sent_ref_ns: i64,
    pub seen_ref_ns: Option<i64>,
    pub lost: Option<Leg>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostJson {
    pub label: String,
    pub host: String,
    pub netns_scope: Option<u32>,
    pub gaps: u32,
    pub incidents: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegRank {
    pub leg: Leg,
    /// Incidents whose leg it is, and their heartbeat time lost.
    pub incidents: u32,
    pub lost_ns: u64,
    /// Gaps whose leg it is.
    pub gaps: u32,
}

/// One receiver incident seen from both ends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterIncident {
    /// 1-based, in time order on host 0's clock.
    pub number: u32,
    pub receiver: usize,
    /// The receiver's own incident number.
    pub receiver_incident: u32,
    pub sender: Option<usize>,
    pub start_ref_ns: i64,
    pub end_ref_ns: i64,
    /// Sum of its gaps' lengths.
    pub lost_ns: u64,
    pub leg: Leg,
    /// Its gaps' numbers (the receiver's) and legs.
    pub gaps: Vec<(u32, Leg)>,
}

/// The tx packet of a flow as the sender saw it, with its fate once matched.
#[derive(Debug, Clone)]
struct TxPacket {
    ident: u32,
    /// The device it was queued on.
    ifindex: u32,
    /// Sender's monotonic clock.
    queued: u64,
    xmit: Option<u64>,
    rc: Option<i32>,
    /// Receiver's monotonic clock, when its device saw it.
    seen: Option<u64>,
}

/// Flow key as the sender names it: (proto, source, destination).
type FlowKey = (u8, String, String);

/// The sent packets of each flow of one host, from its `Wire` events in time order.
fn tx_packets(h: &HostInput) -> Vec<(FlowKey, Vec<TxPacket>)> {
    let mut flows: Vec<(FlowKey, Vec<TxPacket>)> = Vec::new();
    for e in &h.wire {
        let (Some(local), Some(peer), Some(ident)) = (&e.local, &e.peer, e.ident) else {
            continue;
        };
        let key = (e.proto, local.clone(), peer.clone());
        let i = match flows.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                flows.push((key, Vec::new()));
                flows.len() - 1
            }
        };
        let pkts = &mut flows[i].1;
        match e.stage {
            WireStage::DevQueued => pkts.push(TxPacket {
                ident,
                ifindex: e.ifindex,
                queued: e.mono_ns,
                xmit: None,
                rc: None,
                seen: None,
            }),
            // The earliest packet of this identity still waiting for this stage.
            WireStage::XmitStart => {
                if let Some(p) = pkts
                    .iter_mut()
                    .find(|p| p.ident == ident && p.xmit.is_none())
                {
                    p.xmit = Some(e.mono_ns);
                }
            }
            WireStage::XmitDone => {
                if let Some(p) = pkts
                    .iter_mut()
                    .find(|p| p.ident == ident && p.xmit.is_some() && p.rc.is_none())
                {
                    p.rc = Some(e.code);
                }
            }
            WireStage::Sent | WireStage::Seen => {}
        }
    }
    flows
}

/// Received packets of flow `key` (named as sent) at host `h`: (device time, identity).
fn rx_seen(h: &HostInput, key: &FlowKey) -> Vec<(u64, u32)> {
    h.wire
        .iter()
        .filter(|e| e.stage == WireStage::Seen && e.proto == key.0)
        .filter(|e| e.peer.as_deref() == Some(&key.1) && e.local.as_deref() == Some(&key.2))
        .filter_map(|e| e.ident.map(|i| (e.mono_ns, i)))
        .collect()
}

impl TxPacket {
    /// When it left the sender: given to the driver, else queued (a qdisc may hold it long).
    fn left(&self) -> u64 {
        self.xmit.unwrap_or(self.queued)
    }
}

/// Matches sent packets to received ones by identity, in order: seen from `window_ns` before
/// the time it left the sender (clock error) to [`WIRE_MAX_NS`] after, on the receiver's clock
/// (`to_rx` maps the sender's monotonic time onto it).
fn match_packets(tx: &mut [TxPacket], rx: &RxSeen, to_rx: impl Fn(u64) -> i64, window_ns: i64) {
    let mut used = vec![false; rx.times.len()];
    for p in tx.iter_mut() {
        let t = to_rx(p.left());
        let same = rx.by_ident.get(&p.ident).into_iter().flatten();
        let found = same.copied().find(|&i| {
            let at = rx.times[i] as i64;
            !used[i] && at >= t - window_ns && at <= t + window_ns + WIRE_MAX_NS
        });
        if let Some(i) = found {
            used[i] = true;
            p.seen = Some(rx.times[i]);
        }
    }
}

/// A flow's packets as the receiver's device saw them: times in order, and their indexes by
/// identity (built once per flow pair: matching looks up, never scans).
struct RxSeen {
    times: Vec<u64>,
    by_ident: std::collections::HashMap<u32, Vec<usize>>,
}

impl RxSeen {
    fn new(seen: Vec<(u64, u32)>) -> RxSeen {
        let mut by_ident: std::collections::HashMap<u32, Vec<usize>> = Default::default();
        for (i, (_, id)) in seen.iter().enumerate() {
            by_ident.entry(*id).or_default().push(i);
        }
        RxSeen {
            times: seen.into_iter().map(|(t, _)| t).collect(),
            by_ident,
        }
    }
}

/// The longest a packet may spend between the sender's driver and the receiver's device.
const WIRE_MAX_NS: i64 = 2_000_000_000;
/// Matching tolerance once the wall clocks' error is corrected, before the fit.
const COARSE_WINDOW_NS: i64 = 2_000_000_000;
/// How far the wall clocks may be wrong for the merge to find them.
const SEARCH_NS: i64 = 120_000_000_000;
/// Packets of a flow, and pairings per packet, used to find the wall clocks' error.
const CANDIDATE_PACKETS: usize = 5_000;
const CANDIDATES_EACH: usize = 64;

impl HostInput {
    /// Keeps of `r` what the merge uses (its summary and diagnosis are set apart).
    pub fn add(&mut self, r: &crate::recording::records::Record) {
        use crate::recording::records::Record;
        match r {
            Record::Wire(e) => self.wire.push(e.clone()),
            Record::PortPacket(e)
                if matches!(e.stage, PortStage::Dropped | PortStage::QueueFailed) =>
            {
                self.port.push(e.clone())
            }
            Record::PacketTables(t) => {
                self.reasons = t.drop_reasons.clone();
                self.interfaces = t.interfaces.clone();
            }
            Record::NetnsScope(n) => self.scope = Some(n.inode),
            _ => {}
        }
    }
}

/// Merges the recordings of several hosts (or namespaces).
pub fn merge(inputs: &[HostInput]) -> Merged {
    let tx: Vec<Vec<(FlowKey, Vec<TxPacket>)>> = inputs.iter().map(tx_packets).collect();
    // Flow pairs: (sender, receiver, flow index in the sender's list), with the receiver's side.
    let mut pairs: Vec<(usize, usize, usize)> = Vec::new();
    let mut rx: Vec<RxSeen> = Vec::new();
    for (s, flows) in tx.iter().enumerate() {
        for (fi, (key, _)) in flows.iter().enumerate() {
            for (r, h) in inputs.iter().enumerate() {
                let seen = if r == s { Vec::new() } else { rx_seen(h, key) };
                if !seen.is_empty() {
                    pairs.push((s, r, fi));
                    rx.push(RxSeen::new(seen));
                }
            }
        }
    }
    // The wall clocks, corrected by the candidate pairings' densest delay, then the fit from
    // matched packets, then the final match.
    let mut coarse = clocks::from_walls(inputs);
    let mut cands = Vec::new();
    for (&(s, r, fi), seen) in pairs.iter().zip(&rx) {
        for p in tx[s][fi].1.iter().take(CANDIDATE_PACKETS) {
            let t = coarse.map(s, r, p.left());
            let near = seen.by_ident.get(&p.ident).into_iter().flatten();
            let near = near.map(|&i| seen.times[i]);
            for at in near
                .filter(|&at| (at as i64 - t).abs() <= SEARCH_NS)
                .take(CANDIDATES_EACH)
            {
                cands.push(clocks::Candidate {
                    from: s,
                    to: r,
                    delay: at as i64 - t,
                });
            }
        }
    }
    clocks::refine(inputs, &mut coarse, &cands);
    let mut tx = tx;
    let mut samples = Vec::new();
    for (&(s, r, fi), seen) in pairs.iter().zip(&rx) {
        let pkts = &mut tx[s][fi].1;
        match_packets(pkts, seen, |t| coarse.map(s, r, t), COARSE_WINDOW_NS);
        for p in pkts.iter() {
            if let Some(seen) = p.seen {
                samples.push(clocks::Sample {
                    from: s,
                    to: r,
                    sent: p.left(),
                    seen,
                });
            }
        }
    }
    let fit = clocks::fit(inputs, &coarse, &samples);
    let mut flows = Vec::new();
    let mut packets = Vec::new();
    for (&(s, r, fi), seen) in pairs.iter().zip(&rx) {
        let (key, pkts) = &mut tx[s][fi];
        for p in pkts.iter_mut() {
            p.seen = None;
        }
        match_packets(pkts, seen, |t| fit.map(s, r, t), fit.window_ns(s, r));
        for p in pkts.iter() {
            packets.push(PacketMark {
                flow: flows.len(),
                sent_ref_ns: fit.map(s, 0, p.left()),
                seen_ref_ns: p.seen.map(|t| fit.map(r, 0, t)),
                lost: p.seen.is_none().then(|| legs::fate(p)),
            });
        }
        flows.push(legs::flow_pair(key, s, r, pkts, &fit));
    }
    let findings = legs::findings(inputs, &tx, &pairs, &flows, &fit);
    let incidents = legs::incidents(&findings);
    let ranking = legs::rank(&findings, &incidents);
    Merged {
        hosts: inputs
            .iter()
            .map(|h| HostJson {
                label: h.label.clone(),
                host: h.host.clone(),
                netns_scope: h.scope,
                gaps: h.diagnosis.totals.gaps,
                incidents: h.diagnosis.totals.incidents,
            })
            .collect(),
        clocks: fit.pairs(),
        flows,
        findings,
        incidents,
        ranking,
        ref_start_mono_ns: inputs.first().map_or(0, |h| h.first_mono_ns),
        packets,
    }
}

/// Drops and refusals at `h` of packets from `peer` to its port, in `[from, to]` of its clock.
fn rx_drops<'a>(
    h: &'a HostInput,
    peer: &'a str,
    port: u16,
    from: u64,
    to: u64,
) -> impl Iterator<Item = &'a PortPacketEvent> {
    h.port.iter().filter(move |e| {
        matches!(e.stage, PortStage::Dropped | PortStage::QueueFailed)
            && e.local_port == port
            && e.peer.as_deref() == Some(peer)
            && e.mono_ns >= from
            && e.mono_ns <= to
    })
}
