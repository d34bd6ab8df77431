//! Folds heartbeat records (sources, lines, probe attempts, warnings) into per-source figures and
//! feeds the gap detector, so the report and the live view read the same values.

use std::collections::BTreeMap;

use serde::Serialize;

use super::gaps::{Arrival, GapAnalysis, GapDetector, Reported, Timing};
use crate::protocol::{
    spec::{Proto, Source, SourceSpec},
    wire,
};
use crate::recording::records::{
    EventKind, HeartbeatEvent, LineCounts, PortPacketEvent, PortStage, ProbeAttempt, Record,
    SourceDeclared, SourceTiming, SourceWarning,
};

#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStats {
    pub declared: Option<SourceDeclaredJson>,
    pub events: BTreeMap<String, u64>,
    pub probe_attempts: u64,
    pub probe_failures: u64,
    pub probe_latency_max_ns: u64,
    pub probe_latency_sum_ns: u64,
    pub lines: LineCounts,
    pub warnings: Vec<SourceWarning>,
    /// Read time − stamped time of stamped lines.
    pub log_lag_max_ns: Option<i64>,
    pub log_lag_sum_ns: i64,
    pub log_lag_samples: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceDeclaredJson {
    pub spec: String,
    pub kind: String,
    pub preset: Option<String>,
    pub expected_interval_ns: Option<u64>,
}

impl SourceStats {
    pub fn mean_log_lag_ns(&self) -> Option<i64> {
        (self.log_lag_samples > 0).then(|| self.log_lag_sum_ns / self.log_lag_samples as i64)
    }
    pub fn mean_probe_latency_ns(&self) -> Option<u64> {
        let ok = self.probe_attempts - self.probe_failures;
        (ok > 0).then(|| self.probe_latency_sum_ns / ok)
    }
}

#[derive(Debug, Clone)]
pub struct HeartbeatSummary {
    pub sources: BTreeMap<u32, SourceStats>,
    pub detector: GapDetector,
    /// Heartbeat lines kept for the report (loss lines only, not plain arrivals).
    pub notable: Vec<HeartbeatEvent>,
    /// A gap factor that wins over the recorded one (`report --gap-factor`).
    factor_override: Option<f64>,
    /// (IP protocol, port) → the passive source watching it.
    passive_ports: BTreeMap<(u8, u16), u32>,
    /// Sources whose lines all report losses (an older hbwatch recorded some as arrivals).
    loss_only: std::collections::BTreeSet<u32>,
    /// hbwatch's own network namespace (from the packet tables); 0 until known.
    host_netns: u32,
    /// Per (proto, port), the senders (and receiving namespace) of UDP packets seen and not yet
    /// read, oldest first: an unconnected socket's read has no peer (nor namespace), so it is the
    /// oldest such packet's.
    unread: BTreeMap<(u8, u16), std::collections::VecDeque<(String, u32)>>,
    /// Source → its preset's wire and the recorded heartbeat period, for line-specific losses.
    wires: BTreeMap<u32, (&'static wire::Wire, u64)>,
    /// The addresses of hbwatch's own namespace, when recorded.
    own_addrs: std::collections::BTreeSet<std::net::IpAddr>,
    /// (proto, port, netns) where a socket read from a watched port.
    read_netns: std::collections::BTreeSet<(u8, u16, u32)>,
}

/// Packets remembered per port and namespace for read attribution; older ones are forgotten.
const UNREAD_KEEP: usize = 4096;

impl Default for HeartbeatSummary {
    fn default() -> Self {
        HeartbeatSummary {
            sources: BTreeMap::new(),
            detector: GapDetector::new(super::gaps::DEFAULT_GAP_FACTOR),
            notable: Vec::new(),
            factor_override: None,
            passive_ports: BTreeMap::new(),
            loss_only: Default::default(),
            host_netns: 0,
            unread: BTreeMap::new(),
            read_netns: Default::default(),
            own_addrs: Default::default(),
            wires: BTreeMap::new(),
        }
    }
}

/// A kept list stays this short; the counts say how many there were.
const NOTABLE_KEEP: usize = 200;

pub fn kind_name(k: EventKind) -> &'static str {
    match k {
        EventKind::Arrival => "arrival",
        EventKind::PeerSilence => "peer-silence",
        EventKind::SelfStall => "self-stall",
        EventKind::ClockJump => "clock-jump",
    }
}

impl HeartbeatSummary {
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Uses this gap factor instead of the recorded one; call before folding records.
    pub fn override_factor(&mut self, factor: f64) {
        self.factor_override = Some(factor);
        self.detector = GapDetector::new(factor);
    }

    pub fn add(&mut self, r: &Record) {
        match r {
            Record::HeartbeatSource(d) => self.declare(d),
            Record::Heartbeat(e) => self.event(e),
            Record::Probe(p) => self.probe(p),
            Record::SourceWarning(w) => self.stats(w.source).warnings.push(w.clone()),
            Record::SourceTiming(t) => self.config_timing(t),
            Record::HeartbeatLines(l) => {
                let s = &mut self.stats(l.source).lines;
                s.at_mono_ns = l.at_mono_ns;
                s.source = l.source;
                s.lines += l.lines;
                s.bytes += l.bytes;
                s.matched += l.matched;
                s.long_lines_cut += l.long_lines_cut;
                s.invalid_utf8 += l.invalid_utf8;
                s.bad_timestamps += l.bad_timestamps;
                s.lost += l.lost;
            }
            _ => {}
        }
    }

    /// A wall-clock step found from clock anchors.
    pub fn clock_step(&mut self, at_mono_ns: u64, step_ns: i64) {
        self.detector.clock_event(at_mono_ns, Some(step_ns));
    }

    fn stats(&mut self, source: u32) -> &mut SourceStats {
        self.sources.entry(source).or_default()
    }

    /// A packet on a watched port: the application reading it is a heartbeat arrival for the
    /// passive source on that port (a stalled reader therefore shows as a gap, with the packets'
    /// fate in the kernel recorded beside it).
    /// Every peer is followed on its own (the detector keys arrivals by peer), so a flood from
    /// one peer cannot hide another's silence.
    pub fn port_packet(&mut self, e: &PortPacketEvent) {
        if e.stage == PortStage::Read && e.netns != 0 {
            self.read_netns.insert((e.proto, e.local_port, e.netns));
        }
        if !self.passive_ports.contains_key(&(e.proto, e.local_port)) {
            return;
        }
        let udp = e.proto == libc::IPPROTO_UDP as u8;
        let key = (e.proto, e.local_port);
        match (e.stage, &e.peer) {
            (PortStage::Seen, Some(p)) if udp => {
                let q = self.unread.entry(key).or_default();
                if q.len() == UNREAD_KEEP {
                    q.pop_front();
                }
                q.push_back((p.clone(), e.netns));
            }
            (PortStage::Dropped | PortStage::QueueFailed, Some(p)) if udp => {
                // The drop's own namespace when it has one: the same sender may reach the port
                // in two namespaces of one kernel (both ends of a test cluster).
                if let Some(q) = self.unread.get_mut(&key)
                    && let Some(i) = q
                        .iter()
                        .position(|(x, n)| x == p && (e.netns == 0 || *n == e.netns))
                        .or_else(|| q.iter().position(|(x, _)| x == p))
                {
                    q.remove(i);
                }
            }
            _ => {}
        }
        if let Some(mut a) = self.port_arrival(e) {
            if a.peer.is_none()
                && udp
                && let Some((peer, netns)) = self.unread.get_mut(&key).and_then(|q| {
                    // A read in a known namespace takes the oldest packet seen there; one of
                    // unknown namespace (kernels before 6.3) the oldest of all.
                    let i = match a.netns {
                        0 => Some(0),
                        n => q.iter().position(|(_, x)| *x == n),
                    }?;
                    q.remove(i)
                })
            {
                a.peer = Some(peer);
                if a.netns == 0 {
                    a.netns = netns;
                }
            }
            self.arrival(&a);
        }
    }

    /// The namespace whose sockets are this host's on (proto, port): hbwatch's own when a socket
    /// there read from the port, else 0 (not known; every namespace counts).
    pub fn local_netns(&self, proto: u8, port: u16) -> u32 {
        let n = self.host_netns;
        if n != 0 && self.read_netns.contains(&(proto, port, n)) {
            n
        } else {
            0
        }
    }

    /// hbwatch's own network namespace, so a port source keeps to this host's sockets.
    pub fn set_host_netns(&mut self, netns: u32) {
        self.host_netns = netns;
    }

    /// The namespaces whose sockets read a watched port: where the heartbeats were heard.
    pub fn heartbeat_netns(&self) -> std::collections::BTreeSet<u32> {
        self.read_netns.iter().map(|&(_, _, n)| n).collect()
    }

    /// The addresses of hbwatch's own namespace (unparsable ones are left out).
    pub fn set_own_addresses(&mut self, addresses: &[String]) {
        self.own_addrs = addresses.iter().filter_map(|a| a.parse().ok()).collect();
    }

    fn port_arrival(&self, e: &PortPacketEvent) -> Option<Arrival> {
        // A read that returned an error (EAGAIN after the last datagram) read nothing.
        if e.stage != PortStage::Read || e.len < 0 {
            return None;
        }
        let &source = self.passive_ports.get(&(e.proto, e.local_port))?;
        Some(Arrival {
            source,
            at_mono_ns: e.mono_ns,
            peer: e.peer.clone(),
            netns: e.netns,
        })
    }

    /// The heartbeat arrival a record stands for, by the rules the gap detector is fed with
    /// (exports plot these). Passive ports must have been declared, i.e. the summary folded.
    pub fn arrival_of(&self, r: &Record) -> Option<Arrival> {
        match r {
            Record::Heartbeat(e) => event_arrival(e),
            Record::Probe(p) => probe_arrival(p),
            Record::PortPacket(e) => self.port_arrival(e),
            _ => None,
        }
    }

    /// Ports watched by passive sources, each once (the live view highlights them).
    pub fn passive_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.passive_ports.keys().map(|&(_, p)| p).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The source's spec as the user wrote it, or `#N` when it was never declared.
    pub fn source_name(&self, source: u32) -> String {
        self.sources
            .get(&source)
            .and_then(|s| s.declared.as_ref())
            .map_or_else(|| format!("#{source}"), |d| d.spec.clone())
    }

    /// The passive source watching `proto`/`port`, if any.
    pub fn passive_source(&self, proto: u8, port: u16) -> Option<u32> {
        self.passive_ports.get(&(proto, port)).copied()
    }

    fn declare(&mut self, d: &SourceDeclared) {
        let parsed = crate::protocol::spec::parse(&d.spec).ok();
        if let Some(SourceSpec {
            source: Source::Passive { proto, port, .. },
            ..
        }) = &parsed
        {
            let proto = match proto {
                Proto::Udp => libc::IPPROTO_UDP as u8,
                Proto::Tcp => libc::IPPROTO_TCP as u8,
            };
            self.passive_ports.insert((proto, *port), d.source);
        }
        let factor = self.factor_override.unwrap_or(d.gap_factor);
        if self.sources.is_empty() && (factor - self.detector.factor()).abs() > f64::EPSILON {
            self.detector = GapDetector::new(factor);
        }
        self.detector
            .declare(d.source, d.expected_interval_ns, d.preset_interval_ns);
        if let Some(SourceSpec {
            source: Source::Passive {
                proto: Proto::Udp, ..
            },
            ..
        }) = &parsed
        {
            self.detector.follow_flows(d.source);
        }
        if let Some(spec) = &parsed {
            if let Some(w) = spec.preset().and_then(|p| wire::of(p.name)) {
                let period = d.preset_interval_ns.unwrap_or(w.period_ms * 1_000_000);
                self.wires.insert(d.source, (w, period));
            }
            let t = timing(spec, d.preset_interval_ns);
            if t.loss_only {
                self.loss_only.insert(d.source);
            }
            self.detector.set_timing(d.source, t);
        }
        self.stats(d.source).declared = Some(SourceDeclaredJson {
            spec: d.spec.clone(),
            kind: d.kind.as_str().to_owned(),
            preset: d.preset.clone(),
            expected_interval_ns: d.expected_interval_ns,
        });
    }

    /// The timing the daemon's config set, read by `record`: replaces the preset's defaults.
    fn config_timing(&mut self, t: &SourceTiming) {
        let declared = self
            .sources
            .get(&t.source)
            .and_then(|s| s.declared.as_ref());
        let Some((spec, expected)) = declared.and_then(|d| {
            let spec = crate::protocol::spec::parse(&d.spec).ok()?;
            Some((spec, d.expected_interval_ns))
        }) else {
            return;
        };
        if let Some((_, period)) = self.wires.get_mut(&t.source) {
            *period = t.period_ns;
        }
        self.detector.declare(t.source, expected, Some(t.period_ns));
        self.detector
            .set_timing(t.source, timing_from_config(&spec, t));
    }

    fn event(&mut self, e: &HeartbeatEvent) {
        if e.kind == EventKind::Arrival && self.loss_only.contains(&e.source) {
            // Recorded as an arrival by an hbwatch that had no loss-line patterns.
            let mut e = e.clone();
            e.kind = EventKind::PeerSilence;
            return self.event(&e);
        }
        let logged = logged_mono_ns(e);
        let s = self.stats(e.source);
        *s.events.entry(kind_name(e.kind).to_owned()).or_default() += 1;
        if let Some(t) = e.stamped_realtime_ns {
            let lag = e.read_realtime_ns - t;
            s.log_lag_max_ns = Some(s.log_lag_max_ns.map_or(lag, |m| m.max(lag)));
            s.log_lag_sum_ns += lag;
            s.log_lag_samples += 1;
        }
        match e.kind {
            EventKind::Arrival => {
                if let Some(a) = event_arrival(e) {
                    self.detector.arrival(&a);
                }
            }
            EventKind::ClockJump => {
                self.detector
                    .clock_event(logged.unwrap_or(e.read_mono_ns), None);
                self.keep(e);
            }
            EventKind::PeerSilence | EventKind::SelfStall => {
                self.detector.reported(&Reported {
                    source: e.source,
                    kind: e.kind,
                    read_mono_ns: e.read_mono_ns,
                    logged_mono_ns: logged,
                    count: e.count,
                    measured_ns: e.measured_ns,
                    peer: e.peer.clone(),
                    implied: self.wires.get(&e.source).and_then(|(w, period)| {
                        w.line_loss_ns(&e.line, *period)
                            .map(|(ns, what)| (ns, what.to_owned()))
                    }),
                });
                self.keep(e);
            }
        }
    }

    fn keep(&mut self, e: &HeartbeatEvent) {
        if self.notable.len() < NOTABLE_KEEP {
            self.notable.push(e.clone());
        }
    }

    fn probe(&mut self, p: &ProbeAttempt) {
        let s = self.stats(p.source);
        s.probe_attempts += 1;
        if p.error.is_some() {
            s.probe_failures += 1;
            return;
        }
        s.probe_latency_max_ns = s.probe_latency_max_ns.max(p.latency_ns);
        s.probe_latency_sum_ns += p.latency_ns;
        if let Some(a) = probe_arrival(p) {
            self.detector.arrival(&a);
        }
    }

    /// Feeds an arrival from outside the recorded heartbeat records (e.g. packets on a port).
    pub fn arrival(&mut self, a: &Arrival) {
        *self
            .stats(a.source)
            .events
            .entry("arrival".to_owned())
            .or_default() += 1;
        self.detector.arrival(a);
    }

    /// The gaps up to `end_mono_ns` (the recording's end).
    pub fn gaps(&self, end_mono_ns: u64) -> GapAnalysis {
        let mut a = self
            .detector
            .clone()
            .finish_in(end_mono_ns, self.host_netns);
        // On one kernel the port watch also sees the peer's sockets in their own namespace. One
        // that read packets from this namespace's own addresses is the peer hearing this host
        // (a health checker's or sentinel's peer): its silence and its fate are the peer's, and
        // on two hosts the port watch would not see it at all.
        if self.host_netns != 0 && !self.own_addrs.is_empty() {
            a.gaps.retain(|g| {
                let ours = g
                    .peer
                    .as_deref()
                    .and_then(|p| p.parse::<std::net::SocketAddr>().ok())
                    .is_some_and(|p| self.own_addrs.contains(&p.ip()));
                g.netns == 0 || g.netns == self.host_netns || !ours
            });
        }
        a
    }
}

/// The protocol timing a source's spec implies: the preset's heartbeat period as the floor of a
/// passive source's interval, the silence its loss lines imply, and whether every line of the
/// source reports a loss. `period_ns` is the recorded period (from the daemon's config when
/// `record` could read it).
pub fn timing(spec: &SourceSpec, period_ns: Option<u64>) -> Timing {
    let mut t = Timing {
        loss_only: match &spec.source {
            Source::Log { rule, .. } | Source::Journal { rule, .. } => rule.reports_losses_only(),
            _ => false,
        },
        ..Timing::default()
    };
    let Some(p) = spec.preset() else {
        return t;
    };
    let Some(w) = wire::of(p.name) else {
        return t;
    };
    let default_ns = w.period_ms * 1_000_000;
    let period = period_ns.unwrap_or(default_ns);
    let from = if period == default_ns {
        String::new()
    } else {
        format!(
            " (period {} from the daemon's config)",
            crate::units::ns(period)
        )
    };
    if matches!(spec.source, Source::Passive { .. }) {
        t.floor_ns = Some(period);
        t.floor_basis = if from.is_empty() {
            format!("{}: {}", p.name, w.period_what)
        } else {
            format!("{}{from}", p.name)
        };
    }
    t.loss_ns = Some(w.loss_ns(period));
    t.loss_basis = format!("{}: {}{from}", p.name, w.loss_what);
    t
}

/// [`timing`] with the period and loss silence the daemon's config set (`record` read it).
pub fn timing_from_config(spec: &SourceSpec, t: &SourceTiming) -> Timing {
    let mut out = timing(spec, Some(t.period_ns));
    let Some(p) = spec.preset() else {
        return out;
    };
    let from = format!("{} (from {})", p.name, t.basis);
    if out.floor_ns.is_some() {
        out.floor_basis = format!("{from}: period {}", crate::units::ns(t.period_ns));
    }
    match t.loss_ns {
        Some(l) => {
            out.loss_ns = Some(l);
            out.loss_basis = format!("{from}: {}", crate::units::ns(l));
        }
        None => {
            if let Some(w) = wire::of(p.name) {
                out.loss_basis = format!("{from}: {}", w.loss_what);
            }
        }
    }
    out
}

/// A stamp on a whole second read this soon after it was written in that second: the read
/// time is the closer estimate (the follower polls every 100 ms).
const WHOLE_SECOND_READ_NS: i64 = 1_200_000_000;

/// A line's own stamp on the monotonic clock, through the clock offset at read time. A stamp
/// to the second (keepalived's, memberlist's, raft's) says only which second the line was
/// written in; when hbwatch read the line within that second (plus its poll), it is placed at
/// the read time, not up to a second early.
fn logged_mono_ns(e: &HeartbeatEvent) -> Option<u64> {
    let offset = e.read_realtime_ns - e.read_mono_ns as i64;
    let t = e.stamped_realtime_ns?;
    let lag = e.read_realtime_ns - t;
    if t.rem_euclid(1_000_000_000) == 0 && (0..WHOLE_SECOND_READ_NS).contains(&lag) {
        return Some(e.read_mono_ns);
    }
    Some((t - offset).max(0) as u64)
}

/// An arrival line is a heartbeat at its stamp (or when it was read, without one).
fn event_arrival(e: &HeartbeatEvent) -> Option<Arrival> {
    (e.kind == EventKind::Arrival).then(|| Arrival {
        source: e.source,
        at_mono_ns: logged_mono_ns(e).unwrap_or(e.read_mono_ns),
        peer: e.peer.clone(),
        netns: 0,
    })
}

/// A successful probe is a heartbeat when its reply came back.
fn probe_arrival(p: &ProbeAttempt) -> Option<Arrival> {
    p.error.is_none().then(|| Arrival {
        source: p.source,
        at_mono_ns: p.start_mono_ns + p.latency_ns,
        peer: None,
        netns: 0,
    })
}

#[cfg(test)]
#[path = "heartbeats_tests.rs"]
mod tests;
