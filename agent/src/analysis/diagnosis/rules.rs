//! Judges one gap's evidence: each rule scores one cause from what was measured, then the
//! ranking applies the two rules that keep the engine honest — a network cause never outranks
//! packets that demonstrably reached the socket unread (an application stall), an application stall
//! is never inferred over drops of the heartbeat flow itself — and falls back to `unknown` when no
//! cause is supported well enough. A cause must cover the gap it explains: a delay, stall or step
//! far shorter than the gap ([`covers`]) never wins at high confidence.

use serde::Serialize;

use super::{
    cause::Cause,
    evidence::{CpuSoftirq, GapEvidence, SourceKind},
};
use crate::units::ns;

/// A cause with its confidence (0–1) and the evidence lines behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub cause: Cause,
    pub confidence: f64,
    pub evidence: Vec<String>,
}

/// Below this, a cause is not stated as the verdict.
pub const VERDICT_THRESHOLD: f64 = 0.4;

/// The evidence line that marks a network finding as a consequence of an application stall.
pub const CONSEQUENCE: &str = "(a consequence of the application not reading, not a cause)";

/// Below this confidence a finding that does not cover its gap stays.
const UNCOVERED_CAP: f64 = 0.35;

/// A duration of evidence can explain a gap of `gap_ns`: at least a quarter of it.
pub fn covers(evidence_ns: u64, gap_ns: u64) -> bool {
    evidence_ns.saturating_mul(4) >= gap_ns
}

fn finding(cause: Cause, confidence: f64, evidence: Vec<String>) -> Option<Finding> {
    (confidence > 0.0).then(|| Finding {
        cause,
        confidence: confidence.min(0.99),
        evidence,
    })
}

fn is_rcvbuf(reason: &str) -> bool {
    reason.contains("RCVBUF") || reason.contains("ENOMEM") || reason == "PROTO_MEM"
}
fn is_netfilter(reason: &str) -> bool {
    reason.starts_with("NETFILTER")
}
fn is_backlog(reason: &str) -> bool {
    reason == "CPU_BACKLOG"
}
/// Reasons judged by their own rules; the rest are "other" kernel drops.
fn is_classified(reason: &str) -> bool {
    is_rcvbuf(reason) || is_netfilter(reason) || is_backlog(reason)
}

fn clock_step(e: &GapEvidence) -> Option<Finding> {
    let big = e
        .clock_steps_ns
        .iter()
        .copied()
        .max_by_key(|s| s.unsigned_abs())?;
    let step = big.unsigned_abs();
    let conf = if step * 2 >= e.gap_ns {
        0.9
    } else if covers(step, e.gap_ns) {
        0.5
    } else {
        0.3
    };
    finding(
        Cause::ClockStep,
        conf,
        vec![format!(
            "the wall clock stepped {:+} ms during the gap",
            big / 1_000_000
        )],
    )
}

fn vm_pause(e: &GapEvidence) -> Option<Finding> {
    let steal = e.steal_max_ns;
    if steal < 100_000_000 || !covers(steal, e.gap_ns) {
        return None;
    }
    // Steal of half the gap or more explains it; less only shortens the heartbeats' margin, so
    // it stays below a cause with evidence of its own (a firewall's drops during the gap).
    let share = (steal as f64 / e.gap_ns.max(1) as f64).min(1.0);
    let conf = if share >= 0.5 {
        0.5 + 0.45 * share
    } else {
        0.2 + 0.4 * share
    };
    finding(
        Cause::VmPause,
        conf,
        vec![format!(
            "CPU steal time of {} during the {} gap: the hypervisor did not run this VM",
            ns(steal),
            ns(e.gap_ns)
        )],
    )
}

/// Heartbeats reached the socket and the application read none. Only when no event was lost:
/// a flood on the port overflows the port-event ring, and the reads that show the application
/// kept reading are then missing.
fn unread(e: &GapEvidence) -> bool {
    e.lost_events == 0
        && e.flow
            .as_ref()
            .is_some_and(|f| f.queued_to_socket > 0 && f.read_by_app == 0)
}

/// Every thread of the heartbeat process was off CPU for most of the gap while its socket had
/// heartbeats for it (queued, or refused because its buffer was full): a reader blocked in recv
/// is woken by the first of them, so none was reading. Measured by the sched probe, so it holds
/// even when the reads the port watch saw are few or lost.
fn stalled_reader(e: &GapEvidence) -> Option<u64> {
    let off = e.app_all_threads_off_ns?;
    let f = e.flow.as_ref()?;
    let had_data = f.queued_to_socket > 0 || f.dropped_with(is_rcvbuf) > 0;
    (had_data && off.saturating_mul(2) >= e.gap_ns).then_some(off)
}

/// Every thread of the heartbeat process was off CPU for most of the gap and for at least two
/// heartbeat intervals: it could neither send nor read, nor time the peer (a daemon that only
/// waits for a silent peer still wakes every interval to count the misses). Holds without the
/// flow's fate (a log gap whose packets a port source speaks for, a peer that had nothing to
/// answer while this side was stopped).
///
/// Not when the flow shows its heartbeats dropped before they reached the socket, nor when none
/// reached the device while the CPU that receives them ran NET_RX late for most of the gap: a
/// reader blocked in recv is off CPU too, waiting for packets a firewall or a full queue took,
/// or that the late receive work had not yet taken from the NIC.
fn all_threads_off(e: &GapEvidence) -> Option<u64> {
    let off = e.app_all_threads_off_ns?;
    if let Some(f) = &e.flow
        && f.queued_to_socket == 0
    {
        let dropped = f.dropped_total() > 0;
        let held = f.seen_at_device == 0
            && heartbeat_rx(e).any(|c| c.window_wait_max_ns.saturating_mul(2) >= e.gap_ns);
        if dropped || held {
            return None;
        }
    }
    (off.saturating_mul(2) >= e.gap_ns && off >= e.expected_interval_ns.saturating_mul(2))
        .then_some(off)
}

fn app_stall(e: &GapEvidence) -> Option<Finding> {
    let mut conf: f64 = 0.0;
    let mut ev = Vec::new();
    if let Some(f) = &e.flow
        && unread(e)
    {
        conf = conf.max(0.9);
        ev.push(format!(
            "{} heartbeat packet(s) reached the socket but the application read none",
            f.queued_to_socket
        ));
    }
    if let Some(off) = stalled_reader(e) {
        conf = conf.max(0.9);
        ev.push(format!(
            "the heartbeat process was off CPU for {} while heartbeats waited for it",
            ns(off)
        ));
    } else if let Some(off) = all_threads_off(e) {
        conf = conf.max(0.85);
        ev.push(format!(
            "every thread of the heartbeat process was off CPU for {} (most of the gap, over two heartbeat intervals)",
            ns(off)
        ));
    }
    for s in &e.self_stalls {
        let c = match s.measured_ns {
            Some(m) if !covers(m, e.gap_ns) => UNCOVERED_CAP,
            Some(m) if m * 2 >= e.gap_ns || m >= e.expected_interval_ns => 0.8,
            _ => 0.6,
        };
        conf = conf.max(c);
        ev.push(format!("self-stall logged: {}", s.line));
    }
    if let Some(d) = e.app_sched_delay_max_ns
        && d >= e.expected_interval_ns.max(e.gap_ns / 2)
    {
        conf = conf.max(0.7);
        ev.push(format!(
            "the heartbeat process waited {} to be scheduled",
            ns(d)
        ));
    }
    if e.source == SourceKind::LogSelfStall && ev.is_empty() {
        conf = 0.6;
        ev.push("the gap is a self-stall reported by the application".to_owned());
    }
    if ev.len() > 1 {
        conf = (conf + 0.05).min(0.95);
    }
    finding(Cause::AppStall, conf, ev)
}

fn socket_rcvbuf(e: &GapEvidence) -> Option<Finding> {
    let mut ev = Vec::new();
    let mut conf: f64 = 0.0;
    if let Some(f) = &e.flow {
        let n = f.dropped_with(is_rcvbuf);
        if n > 0 {
            conf = 0.9;
            ev.push(format!(
                "{n} heartbeat packet(s) dropped because the socket receive buffer was full"
            ));
        }
    }
    let host = e
        .udp_rcvbuf_errors
        .excess(e.window_s())
        .max(e.drop_excess(is_rcvbuf));
    if host > 0.0 {
        conf = conf.max(if e.flow.is_some() { 0.3 } else { 0.5 });
        ev.push(format!(
            "{host:.0} UDP receive-buffer drop(s) on this host during the gap (Udp RcvbufErrors)"
        ));
    }
    finding(Cause::SocketRcvbufOverflow, conf, ev)
}

fn netfilter(e: &GapEvidence) -> Option<Finding> {
    if let Some(f) = &e.flow {
        let n = f.dropped_with(is_netfilter);
        if n > 0 {
            return finding(
                Cause::NetfilterDrop,
                0.95,
                vec![format!(
                    "{n} heartbeat packet(s) dropped by a netfilter rule"
                )],
            );
        }
    }
    let host = e.drop_excess(is_netfilter);
    let conf = if e.flow.is_some() { 0.2 } else { 0.45 };
    (host > 0.0).then(|| Finding {
        cause: Cause::NetfilterDrop,
        confidence: conf,
        evidence: vec![format!(
            "{host:.0} packet(s) dropped by netfilter on this host during the gap"
        )],
    })
}

fn backlog(e: &GapEvidence) -> Option<Finding> {
    let mut ev = Vec::new();
    let mut conf: f64 = 0.0;
    if let Some(f) = &e.flow {
        let n = f.dropped_with(is_backlog);
        if n > 0 {
            conf = 0.9;
            ev.push(format!(
                "{n} heartbeat packet(s) dropped because the CPU backlog was full"
            ));
        }
    }
    let host = e
        .softnet_dropped
        .excess(e.window_s())
        .max(e.drop_excess(is_backlog));
    if host > 0.0 {
        conf = conf.max(if e.flow.is_some() { 0.35 } else { 0.6 });
        ev.push(format!(
            "{host:.0} packet(s) dropped from full per-CPU backlogs (softnet_stat dropped)"
        ));
    }
    if conf > 0.0 {
        ev.extend(busy_cpu_line(e));
    }
    finding(Cause::CpuBacklogOverflow, conf, ev)
}

fn nic_ring(e: &GapEvidence) -> Option<Finding> {
    let miss = e.nic_missed.excess(e.window_s());
    if miss <= 0.0 {
        return None;
    }
    let never_arrived = e.flow.as_ref().is_some_and(|f| f.seen_at_device == 0);
    let conf = if never_arrived {
        0.8
    } else if e.flow.is_some() {
        0.3
    } else {
        0.65
    };
    finding(
        Cause::NicRingOverflow,
        conf,
        vec![format!(
            "the NIC reported {miss:.0} missed/no-buffer receive(s) during the gap"
        )],
    )
}

/// The kernel freed the packet without saying why: TCP frees segments it is done with so too.
fn is_unspecified(reason: &str) -> bool {
    reason == "NOT_SPECIFIED"
}

fn other_drop(e: &GapEvidence) -> Option<Finding> {
    let f = e.flow.as_ref()?;
    let other: Vec<String> = f
        .dropped
        .iter()
        .filter(|(r, n)| *n > 0 && !is_classified(r))
        .map(|(r, n)| format!("{n} heartbeat packet(s) dropped by the kernel: {r}"))
        .collect();
    // Drops with no reason given are not enough to blame the kernel for a gap.
    let named = f.dropped_with(|r| !is_classified(r) && !is_unspecified(r)) > 0;
    let conf = match (other.is_empty(), named) {
        (true, _) => 0.0,
        (false, true) => 0.75,
        (false, false) => UNCOVERED_CAP,
    };
    finding(Cause::OtherKernelDrop, conf, other)
}

/// The CPUs whose NET_RX receives the heartbeats, or every measured CPU when none is known to.
fn heartbeat_rx(e: &GapEvidence) -> impl Iterator<Item = &CpuSoftirq> {
    let known = e.net_rx.iter().any(|c| c.handles_heartbeat_rx);
    e.net_rx
        .iter()
        .filter(move |c| c.handles_heartbeat_rx || !known)
}

fn softirq_delay(e: &GapEvidence) -> Option<Finding> {
    let worst = heartbeat_rx(e).max_by_key(|c| c.window_wait_max_ns)?;
    let d = worst.window_wait_max_ns;
    let baseline = worst.baseline_wait_p99_ns.max(1);
    if d < 1_000_000 || d < 10 * baseline {
        return None;
    }
    let mut conf: f64 = if d * 2 >= e.gap_ns {
        0.8
    } else if d * 2 >= e.expected_interval_ns && covers(d, e.gap_ns) {
        0.6
    } else {
        0.35
    };
    let mut ev = vec![format!(
        "NET_RX softirq waited up to {} on CPU {} (p99 {} in the window, {} normally)",
        ns(d),
        worst.cpu,
        ns(worst.window_wait_p99_ns),
        ns(worst.baseline_wait_p99_ns)
    )];
    let w = e.window_s();
    let mut support = 0;
    for (name, c) in [
        ("softirqs deferred to ksoftirqd", worst.ksoftirqd),
        (
            "NAPI polls that used their whole budget",
            e.napi_budget_exhausted,
        ),
        (
            "time_squeeze events (netdev_budget ran out)",
            e.time_squeeze,
        ),
    ] {
        let x = c.excess(w);
        if x > 0.0 {
            support += 1;
            conf += 0.05;
            ev.push(format!("{x:.0} {name} above normal"));
        }
    }
    ev.extend(busy_cpu_line(e));
    // A wait far shorter than the gap explains it only with a saturated receive path beside it
    // (softirqs deferred, NAPI budgets used up): the packets then waited where no clock saw them.
    // Not when the flow shows nothing came to wait: no heartbeat reached the NIC (on TCP: none
    // carried data) and none was dropped.
    let nothing_came = e.flow.as_ref().is_some_and(|f| {
        (f.seen_at_device == 0 || f.tcp)
            && f.queued_to_socket == 0
            && f.read_by_app == 0
            && f.dropped_with(|r| !is_unspecified(r)) == 0
    });
    let cap = if covers(d, e.gap_ns) || (support > 0 && !nothing_came) {
        0.9
    } else {
        UNCOVERED_CAP
    };
    finding(Cause::SoftirqDelay, conf.min(cap), ev)
}

/// "CPU 0 was held by backup (PID 77) 80% of the window (0% normally)", when a process held
/// a heartbeat CPU; a supporting line, it does not change the confidence.
fn busy_cpu_line(e: &GapEvidence) -> Option<String> {
    let (cpu, u) = e
        .nic_cpu_users
        .iter()
        .flatten()
        .filter_map(|c| c.dominant().map(|u| (c.cpu, u)))
        .max_by(|a, b| a.1.window_share.total_cmp(&b.1.window_share))?;
    Some(format!(
        "CPU {cpu}, which handles the heartbeat flow, was held by {}{} (PID {}) {:.0}% of the window ({:.0}% normally)",
        u.comm,
        if u.kernel_thread {
            " (kernel thread)"
        } else {
            ""
        },
        u.tgid,
        u.window_share * 100.0,
        u.baseline_share * 100.0
    ))
}

/// Judges `e`, returning causes ranked most likely first; the first is the verdict (possibly
/// `unknown`).
pub fn judge(e: &GapEvidence) -> Vec<Finding> {
    let mut found: Vec<Finding> = [
        clock_step(e),
        vm_pause(e),
        app_stall(e),
        socket_rcvbuf(e),
        netfilter(e),
        backlog(e),
        nic_ring(e),
        other_drop(e),
        softirq_delay(e),
        super::rx_threads::finding(e),
    ]
    .into_iter()
    .flatten()
    .collect();

    let flow_drops = e.flow.as_ref().map_or(0, |f| f.dropped_total());
    let unread = unread(e) || stalled_reader(e).is_some() || all_threads_off(e).is_some();
    for f in &mut found {
        // Packets reached the socket unread: whatever the network did, the application is why.
        if unread && f.cause.is_network() {
            f.confidence = f.confidence.min(0.3);
            f.evidence.push(CONSEQUENCE.to_owned());
        }
        // The flow's own packets were dropped and the application shows no stall of its own.
        if flow_drops > 0 && f.cause == Cause::AppStall && !unread && e.self_stalls.is_empty() {
            f.confidence = f.confidence.min(0.3);
        }
    }

    let local_best = found.iter().map(|f| f.confidence).fold(0.0, f64::max);
    if local_best < VERDICT_THRESHOLD
        && let Some(p) = peer_or_upstream(e)
    {
        found.push(p);
    }
    rank(&mut found);
    let best = found.first().map_or(0.0, |f| f.confidence);
    if best < VERDICT_THRESHOLD {
        let mut ev = vec!["no cause on this host is supported well enough".to_owned()];
        if e.lost_events > 0 {
            ev.push(format!(
                "{} event(s) were lost during the gap: evidence may be missing",
                e.lost_events
            ));
        }
        for u in &e.unavailable {
            ev.push(format!("not measured: {u}"));
        }
        found.insert(
            0,
            Finding {
                cause: Cause::Unknown,
                confidence: 1.0 - best,
                evidence: ev,
            },
        );
    }
    found
}

/// Most confident first; ties in the causes' fixed order, so a ranking is stable.
pub fn rank(found: &mut [Finding]) {
    found.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.cause.cmp(&b.cause))
    });
}

/// Nothing local explains the gap, and what was measured says the packets never came.
fn peer_or_upstream(e: &GapEvidence) -> Option<Finding> {
    let blind = e.lost_events > 0 || !e.unavailable.is_empty();
    match (&e.flow, e.source) {
        (Some(f), _) if f.seen_at_device == 0 && f.dropped_total() == 0 => {
            let conf = if blind { 0.5 } else { 0.8 };
            finding(Cause::PeerOrUpstream, conf, vec![
                "no heartbeat packet reached this host's NIC during the gap".to_owned(),
                "no drops, NIC misses, softirq delay, stall or VM pause on this host".to_owned(),
            ])
        }
        // TCP: the peer's kernel still acknowledges what this host sends (a stopped peer
        // process), so segments reach the NIC; none carried data to the socket.
        (Some(f), _)
            if f.tcp
                && f.queued_to_socket == 0
                && f.read_by_app == 0
                && f.dropped_with(|r| !is_unspecified(r)) == 0 =>
        {
            let conf = if blind { 0.5 } else { 0.7 };
            finding(Cause::PeerOrUpstream, conf, vec![
                format!(
                    "no heartbeat data reached this host's socket during the gap ({} segment(s) at the NIC, none queued)",
                    f.seen_at_device
                ),
                "no drops, NIC misses, softirq delay, stall or VM pause on this host".to_owned(),
            ])
        }
        (None, SourceKind::LogPeerSilence | SourceKind::Probe) if !blind && !e.net_rx.is_empty() => {
            finding(Cause::PeerOrUpstream, 0.5, vec![
                "the peer went silent and this host shows no drops, softirq delay, stall or VM pause".to_owned(),
            ])
        }
        _ => None,
    }
}
