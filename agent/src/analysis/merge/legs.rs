//! Where each lost heartbeat was lost: for every gap a receiver saw on a flow the merge paired,
//! the sender's packets inside the gap are followed from its application to the receiver's
//! device, and what became of them names the leg.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{FlowKey, FlowPair, HostInput, TxPacket, clocks::Shifts, rx_drops};
use crate::{analysis::diagnosis::Cause, recording::records::PortStage};

/// The leg of a heartbeat's way where it was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// The sender's application sent nothing (stalled, stopped, or it chose not to).
    NotSent,
    /// Queued on the sender's device but never given to its driver: held or dropped by the
    /// qdisc or the stack on the way out.
    SenderStack,
    /// The sender's driver refused it.
    SenderDriver,
    /// Left the sender's device and never reached the receiver's stack: the wire, a middlebox,
    /// a router's firewall, or the receiver's NIC before its driver.
    BetweenHosts,
    /// Reached the receiver and was dropped there (firewall, buffers).
    ReceiverDrop,
    /// Reached the receiver, whose receive work (softirq) ran late.
    ReceiverSoftirq,
    /// Reached the receiver's socket; its application did not read in time.
    ReceiverApp,
    /// Nothing recorded says.
    Unknown,
}

impl Leg {
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::NotSent => "not_sent",
            Leg::SenderStack => "sender_stack",
            Leg::SenderDriver => "sender_driver",
            Leg::BetweenHosts => "between_hosts",
            Leg::ReceiverDrop => "receiver_drop",
            Leg::ReceiverSoftirq => "receiver_softirq",
            Leg::ReceiverApp => "receiver_app",
            Leg::Unknown => "unknown",
        }
    }

    /// Whose host must change: the sender's or the receiver's (None: neither shows it).
    pub fn on_sender(self) -> Option<bool> {
        match self {
            Leg::NotSent | Leg::SenderStack | Leg::SenderDriver => Some(true),
            Leg::ReceiverDrop | Leg::ReceiverSoftirq | Leg::ReceiverApp => Some(false),
            Leg::BetweenHosts | Leg::Unknown => None,
        }
    }
}

/// One receiver's gap, with the leg its peer's heartbeats were lost on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegFinding {
    pub receiver: usize,
    /// The recording that sent the flow; None when no recording did (the peer was not recorded).
    pub sender: Option<usize>,
    /// The receiver's own gap and incident numbers (as its own report numbers them).
    pub gap: u32,
    pub incident: u32,
    pub source: String,
    pub peer: Option<String>,
    /// On the receiver's monotonic clock, and on host 0's.
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub start_ref_ns: i64,
    pub length_ns: u64,
    pub leg: Leg,
    /// What the receiver's own diagnosis said of the gap.
    pub receiver_cause: Cause,
    /// The sender's packets of the flow inside the gap, and how many reached the receiver.
    pub sent: u64,
    pub delivered: u64,
    pub evidence: Vec<String>,
    /// On which recording's host the fix belongs, and what to do there.
    pub fix_on: Option<usize>,
    pub fix: Vec<String>,
}

/// How long before a gap's end the packet that ended it may have been queued, beyond the wire
/// delay: the receiver's read latency.
const CLOSING_SLACK_NS: i64 = 10_000_000;

/// A gap's packets: queued inside `(from, to)` of the sender's clock, without the one that
/// ended the gap (it arrived).
fn inside(pkts: &[TxPacket], from: i64, to: i64) -> Vec<&TxPacket> {
    pkts.iter()
        .filter(|p| (p.queued as i64) > from && (p.queued as i64) < to)
        .collect()
}

/// Fate of an undelivered packet.
pub(super) fn fate(p: &TxPacket) -> Leg {
    match (p.xmit, p.rc) {
        (None, _) => Leg::SenderStack,
        (Some(_), Some(rc)) if rc != 0 => Leg::SenderDriver,
        _ => Leg::BetweenHosts,
    }
}

fn reason_name(h: &HostInput, code: i32) -> String {
    h.reasons
        .iter()
        .find(|(v, _)| *v as i32 == code)
        .map_or_else(|| format!("reason {code}"), |(_, n)| n.clone())
}

/// Counts of drop reasons, "NETFILTER_DROP ×12, QDISC_DROP ×3".
fn reasons_text<'a>(h: &HostInput, codes: impl Iterator<Item = (PortStage, i32)> + 'a) -> String {
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    for (stage, code) in codes {
        let name = match stage {
            PortStage::QueueFailed if code == -12 => {
                "receive buffer full (udp_fail_queue_rcv_skb -ENOMEM)".to_owned()
            }
            PortStage::QueueFailed => format!("refused by the UDP socket (rc {code})"),
            _ => reason_name(h, code),
        };
        *by.entry(name).or_default() += 1;
    }
    by.iter()
        .map(|(n, c)| format!("{n} ×{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn flow_pair(
    key: &FlowKey,
    s: usize,
    r: usize,
    pkts: &[TxPacket],
    fit: &Shifts,
) -> FlowPair {
    let mut fates: BTreeMap<Leg, u64> = BTreeMap::new();
    let mut delays: Vec<i64> = Vec::new();
    for p in pkts {
        match p.seen {
            Some(seen) => delays.push(seen as i64 - fit.map(s, r, p.left())),
            None => *fates.entry(fate(p)).or_default() += 1,
        }
    }
    delays.sort_unstable();
    let mut held: Vec<u64> = pkts
        .iter()
        .filter_map(|p| p.xmit.map(|x| x.saturating_sub(p.queued)))
        .collect();
    held.sort_unstable();
    FlowPair {
        proto: if key.0 == 6 { "tcp" } else { "udp" },
        source: key.1.clone(),
        destination: key.2.clone(),
        sender: s,
        receiver: r,
        sent: pkts.len() as u64,
        delivered: delays.len() as u64,
        fates: fates.into_iter().collect(),
        delay_p50_ns: delays.get(delays.len() / 2).copied(),
        delay_max_ns: delays.last().copied(),
        held_p50_ns: held.get(held.len() / 2).copied(),
        held_max_ns: held.last().copied(),
    }
}

pub(super) fn findings(
    inputs: &[HostInput],
    tx: &[Vec<(FlowKey, Vec<TxPacket>)>],
    pairs: &[(usize, usize, usize)],
    flows: &[FlowPair],
    fit: &Shifts,
) -> Vec<LegFinding> {
    let mut out = Vec::new();
    for (r, h) in inputs.iter().enumerate() {
        for g in &h.diagnosis.gaps {
            let Some(peer) = g.gap.peer.clone() else {
                continue;
            };
            let at = pairs
                .iter()
                .position(|&(s, pr, fi)| pr == r && tx[s][fi].0.1 == peer);
            let pair = at.map(|i| &pairs[i]);
            let mut f = LegFinding {
                receiver: r,
                sender: pair.map(|p| p.0),
                gap: g.number,
                incident: g.incident,
                source: g.source_spec.clone(),
                peer: Some(peer.clone()),
                start_mono_ns: g.gap.start_mono_ns,
                end_mono_ns: g.gap.end_mono_ns,
                start_ref_ns: fit.map(r, 0, g.gap.start_mono_ns),
                length_ns: g.gap.length_ns,
                leg: Leg::Unknown,
                receiver_cause: g.verdict().cause,
                sent: 0,
                delivered: 0,
                evidence: Vec::new(),
                fix_on: None,
                fix: Vec::new(),
            };
            if let (Some(&(s, _, fi)), Some(i)) = (pair, at) {
                let delay = flows[i].delay_p50_ns.unwrap_or(0);
                judge(&mut f, inputs, s, &tx[s][fi], delay, fit);
            } else {
                f.leg = by_receiver(f.receiver_cause);
                f.evidence.push(format!(
                    "no recording shows {peer} sending: the receiver's own verdict stands"
                ));
            }
            let dev = pair.and_then(|&(s, _, fi)| {
                let i = tx[s][fi].1.first()?.ifindex;
                inputs[s]
                    .interfaces
                    .iter()
                    .find(|(x, _)| *x == i)
                    .map(|(_, n)| n.clone())
            });
            advise(&mut f, inputs, g, dev.as_deref().unwrap_or("DEV"));
            out.push(f);
        }
    }
    out.sort_by_key(|f| (f.start_ref_ns, f.receiver, f.gap));
    out
}

/// The leg the receiver's own cause points at, when the sender's side adds nothing.
fn by_receiver(c: Cause) -> Leg {
    match c {
        Cause::SoftirqDelay | Cause::CpuBacklogOverflow | Cause::NicRingOverflow => {
            Leg::ReceiverSoftirq
        }
        Cause::SocketRcvbufOverflow | Cause::NetfilterDrop | Cause::OtherKernelDrop => {
            Leg::ReceiverDrop
        }
        Cause::AppStall => Leg::ReceiverApp,
        _ => Leg::Unknown,
    }
}

fn judge(
    f: &mut LegFinding,
    inputs: &[HostInput],
    s: usize,
    flow: &(FlowKey, Vec<TxPacket>),
    delay_p50_ns: i64,
    fit: &Shifts,
) {
    let ((_, src, dst), pkts) = flow;
    let (sender, receiver) = (&inputs[s], &inputs[f.receiver]);
    let from = fit.map(f.receiver, s, f.start_mono_ns);
    let to = fit.map(f.receiver, s, f.end_mono_ns);
    // The packet that ended the gap left about one delay (and its read's latency) before the
    // gap's end: only packets queued before that count.
    let slack = CLOSING_SLACK_NS + delay_p50_ns.max(0);
    let inner = inside(pkts, from, to - slack);
    f.sent = inner.len() as u64;
    f.delivered = inner.iter().filter(|p| p.seen.is_some()).count() as u64;
    let mut lost: BTreeMap<Leg, u64> = BTreeMap::new();
    for p in inner.iter().filter(|p| p.seen.is_none()) {
        *lost.entry(fate(p)).or_default() += 1;
    }
    let port: u16 = dst
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let (sf, st) = (from.max(0) as u64, to.max(0) as u64);
    // A packet the UDP socket refuses is also freed with a reason: count the frees, and the
    // refusals only where no free was seen (a kernel without the reason).
    let all: Vec<(PortStage, i32)> = rx_drops(receiver, src, port, f.start_mono_ns, f.end_mono_ns)
        .map(|e| (e.stage, e.code))
        .collect();
    let freed = all.iter().any(|(s, _)| *s == PortStage::Dropped);
    let y_drops: Vec<(PortStage, i32)> = all
        .into_iter()
        .filter(|(s, _)| !freed || *s == PortStage::Dropped)
        .collect();
    let sname = &sender.label;
    let rname = &receiver.label;
    if let Some((&leg, &n)) = lost.iter().max_by_key(|(_, n)| **n) {
        f.leg = leg;
        let total: u64 = lost.values().sum();
        f.evidence.push(format!(
            "{total} of {} heartbeat(s) {src} → {dst} sent during the gap never reached {rname}'s device",
            f.sent
        ));
        match leg {
            Leg::SenderStack => {
                // Drops of sent packets are named as received by kfree_skb: local = destination.
                let codes: Vec<(PortStage, i32)> = sender
                    .port
                    .iter()
                    .filter(|e| e.stage == PortStage::Dropped && e.peer.as_deref() == Some(src))
                    .filter(|e| e.local_port == port && e.mono_ns >= sf && e.mono_ns <= st)
                    .map(|e| (e.stage, e.code))
                    .collect();
                f.evidence.push(format!(
                    "{n} queued on {sname}'s device and never given to its driver{}",
                    if codes.is_empty() {
                        String::new()
                    } else {
                        format!("; dropped on the way out: {}", reasons_text(sender, codes.into_iter()))
                    }
                ));
            }
            Leg::SenderDriver => f
                .evidence
                .push(format!("{n} refused by {sname}'s driver (net_dev_xmit rc ≠ 0)")),
            _ => f.evidence.push(format!(
                "{n} left {sname}'s device (driver accepted them) and were never seen by {rname}'s stack"
            )),
        }
    } else if let Some(held) = inner
        .iter()
        .filter_map(|p| p.xmit.map(|x| x.saturating_sub(p.queued)))
        .max()
        .filter(|&h| h > f.length_ns / 4)
    {
        // Delivered, but late: the sender's qdisc held them.
        f.leg = Leg::SenderStack;
        f.evidence.push(format!(
            "the heartbeats sent during the gap reached {rname}, late: {sname}'s qdisc held them up to {} ms before its driver took them",
            held / 1_000_000
        ));
    } else if f.receiver_cause == Cause::AppStall && f.sent > 0 {
        // A stopped reader's buffer fills: its drops are a consequence, the reader the cause.
        f.leg = Leg::ReceiverApp;
        f.evidence.push(format!(
            "the heartbeats sent during the gap reached {rname}'s device; its application did not read them{}",
            if y_drops.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} dropped as its buffer filled, a consequence: {})",
                    y_drops.len(),
                    reasons_text(receiver, y_drops.into_iter())
                )
            }
        ));
    } else if !y_drops.is_empty() {
        f.leg = Leg::ReceiverDrop;
        f.evidence.push(format!(
            "{} heartbeat(s) reached {rname}'s device and were dropped there: {}",
            y_drops.len(),
            reasons_text(receiver, y_drops.into_iter())
        ));
    } else if f.sent == 0 {
        f.leg = Leg::NotSent;
        f.evidence.push(format!(
            "{sname} sent no heartbeat {src} → {dst} during the gap: its application did not send"
        ));
        // The sender's own recording may show why (its own gaps overlapping: a stall).
        for g in sender.diagnosis.gaps.iter().filter(|g| {
            let a = fit.map(s, f.receiver, g.gap.start_mono_ns);
            let b = fit.map(s, f.receiver, g.gap.end_mono_ns);
            a < f.end_mono_ns as i64 && b > f.start_mono_ns as i64
        }) {
            f.evidence.push(format!(
                "{sname}'s own gap {} ({}) overlaps: {}",
                g.number,
                g.source_spec,
                g.verdict().cause.as_str()
            ));
        }
    } else {
        f.leg = by_receiver(f.receiver_cause);
        f.evidence.push(format!(
            "all {} heartbeat(s) sent during the gap reached {rname}'s device; {rname}'s own verdict: {}",
            f.sent,
            f.receiver_cause.as_str()
        ));
    }
}

/// What to change, on which host: the receiver's own fixes for its legs, the send path's
/// checks for the sender's, the path's for the wire.
fn advise(
    f: &mut LegFinding,
    inputs: &[HostInput],
    g: &crate::analysis::diagnosis::GapDiagnosis,
    dev: &str,
) {
    let peer = f.peer.clone().unwrap_or_default();
    let sender = f
        .sender
        .map(|s| inputs[s].label.clone())
        .unwrap_or_else(|| peer.clone());
    let receiver = inputs[f.receiver].label.clone();
    match f.leg.on_sender() {
        Some(false) => {
            f.fix_on = Some(f.receiver);
            f.fix = g.recommendations.iter().map(|r| r.title.clone()).collect();
            if f.fix.is_empty() {
                f.fix
                    .push(format!("see {receiver}'s own report for this gap"));
            }
        }
        Some(true) => {
            f.fix_on = f.sender;
            f.fix = match f.leg {
                Leg::NotSent => vec![format!(
                    "find why the heartbeat sender did not run (record it with --watch-comm or --watch-pid for its scheduling delay) and protect it (priority, CPU isolation)"
                )],
                Leg::SenderStack => vec![
                    format!(
                        "`tc -s qdisc show dev {dev}`: a qdisc that drops or holds heartbeats behind bulk traffic; give heartbeats their own band (prio, or fq/fq_codel with SO_PRIORITY on the heartbeat socket) or raise its limit"
                    ),
                    format!("`ip -s link show {dev}` and `ethtool -S {dev}` for TX drops"),
                ],
                _ => vec![format!(
                    "`ethtool -S {dev}` (TX errors, queue stops) and the driver's log"
                )],
            };
        }
        None if f.leg == Leg::BetweenHosts => {
            f.fix = vec![
                format!(
                    "the path from {sender} to {receiver}: firewalls and routers between them (nft/iptables FORWARD rules, ACLs), links' error counters"
                ),
                format!(
                    "on {receiver}: NIC ring and missed counters (`ethtool -S DEV | grep -i -e drop -e miss -e fifo`): a NIC drops before its driver, where no tracepoint sees it"
                ),
            ];
        }
        None => {}
    }
}

/// Groups the findings by the receiver's incident: the leg of an incident is the one that lost
/// the most heartbeat time in it.
pub(super) fn incidents(findings: &[LegFinding]) -> Vec<super::ClusterIncident> {
    let mut by: BTreeMap<(usize, u32), Vec<&LegFinding>> = BTreeMap::new();
    for f in findings {
        by.entry((f.receiver, f.incident)).or_default().push(f);
    }
    let mut out: Vec<super::ClusterIncident> = by
        .into_iter()
        .map(|((receiver, incident), fs)| {
            let mut time: BTreeMap<Leg, u64> = BTreeMap::new();
            for f in &fs {
                *time.entry(f.leg).or_default() += f.length_ns;
            }
            let leg = time
                .iter()
                .max_by_key(|(l, t)| (**t, std::cmp::Reverse(**l)))
                .map_or(Leg::Unknown, |(l, _)| *l);
            super::ClusterIncident {
                number: 0,
                receiver,
                receiver_incident: incident,
                sender: fs.iter().find_map(|f| f.sender),
                start_ref_ns: fs.iter().map(|f| f.start_ref_ns).min().unwrap_or(0),
                end_ref_ns: fs
                    .iter()
                    .map(|f| f.start_ref_ns + f.length_ns as i64)
                    .max()
                    .unwrap_or(0),
                lost_ns: fs.iter().map(|f| f.length_ns).sum(),
                leg,
                gaps: fs.iter().map(|f| (f.gap, f.leg)).collect(),
            }
        })
        .collect();
    out.sort_by_key(|i| (i.start_ref_ns, i.receiver));
    for (n, i) in out.iter_mut().enumerate() {
        i.number = n as u32 + 1;
    }
    out
}

/// Legs by the heartbeat time lost in the incidents they lead, then by incidents.
pub(super) fn rank(
    findings: &[LegFinding],
    incidents: &[super::ClusterIncident],
) -> Vec<super::LegRank> {
    let mut by: BTreeMap<Leg, super::LegRank> = BTreeMap::new();
    for i in incidents {
        let e = by.entry(i.leg).or_insert(super::LegRank {
            leg: i.leg,
            incidents: 0,
            lost_ns: 0,
            gaps: 0,
        });
        e.incidents += 1;
        e.lost_ns += i.lost_ns;
    }
    for f in findings {
        if let Some(e) = by.get_mut(&f.leg) {
            e.gaps += 1;
        }
    }
    let mut out: Vec<super::LegRank> = by.into_values().collect();
    out.sort_by(|a, b| (b.lost_ns, b.incidents, a.leg).cmp(&(a.lost_ns, a.incidents, b.leg)));
    out
}
