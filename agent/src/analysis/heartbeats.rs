//! Folds heartbeat records (sources, lines, probe attempts, warnings) into per-source figures and
//! feeds the gap detector, so the report and the live view read the same values.

use std::collections::BTreeMap;

use serde::Serialize;

use super::gaps::{Arrival, GapAnalysis, GapDetector, Reported};
use crate::heartbeat::spec::{Proto, Source, SourceSpec};
use crate::recording::records::{
    EventKind, HeartbeatEvent, LineCounts, PortPacketEvent, PortStage, ProbeAttempt, Record,
    SourceDeclared, SourceWarning,
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
    /// Passive source → the flow (peer address:port) of its first read: other peers' datagrams
    /// on the same port (a flood, a scanner) are not that heartbeat and must not hide its gaps.
    passive_flows: BTreeMap<u32, String>,
}

impl Default for HeartbeatSummary {
    fn default() -> Self {
        HeartbeatSummary {
            sources: BTreeMap::new(),
            detector: GapDetector::new(crate::heartbeat::HeartbeatConfig::DEFAULT_GAP_FACTOR),
            notable: Vec::new(),
            factor_override: None,
            passive_ports: BTreeMap::new(),
            passive_flows: BTreeMap::new(),
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
    pub fn port_packet(&mut self, e: &PortPacketEvent) {
        let Some(a) = self.port_arrival(e) else {
            return;
        };
        // A passive source follows the flow of its first read: reads from other peers on the
        // same port (a flood, another client) must not hide a gap in the heartbeats.
        if let Some(peer) = &a.peer {
            let flow = self
                .passive_flows
                .entry(a.source)
                .or_insert_with(|| peer.clone());
            if flow != peer {
                return;
            }
        }
        self.arrival(&a);
    }

    fn port_arrival(&self, e: &PortPacketEvent) -> Option<Arrival> {
        // A failed read (-errno: interrupted, nothing to read) delivered nothing.
        if e.stage != PortStage::Read || e.len < 0 {
            return None;
        }
        let &source = self.passive_ports.get(&(e.proto, e.local_port))?;
        Some(Arrival {
            source,
            at_mono_ns: e.mono_ns,
            peer: e.peer.clone(),
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
        if let Ok(SourceSpec {
            source: Source::Passive { proto, port, .. },
            ..
        }) = crate::heartbeat::spec::parse(&d.spec)
        {
            let proto = match proto {
                Proto::Udp => libc::IPPROTO_UDP as u8,
                Proto::Tcp => libc::IPPROTO_TCP as u8,
            };
            self.passive_ports.insert((proto, port), d.source);
        }
        let factor = self.factor_override.unwrap_or(d.gap_factor);
        if self.sources.is_empty() && (factor - self.detector.factor()).abs() > f64::EPSILON {
            self.detector = GapDetector::new(factor);
        }
        self.detector
            .declare(d.source, d.expected_interval_ns, d.preset_interval_ns);
        self.stats(d.source).declared = Some(SourceDeclaredJson {
            spec: d.spec.clone(),
            kind: d.kind.as_str().to_owned(),
            preset: d.preset.clone(),
            expected_interval_ns: d.expected_interval_ns,
        });
    }

    fn event(&mut self, e: &HeartbeatEvent) {
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
        self.detector.clone().finish(end_mono_ns)
    }
}

/// A line's own stamp on the monotonic clock, through the clock offset at read time.
fn logged_mono_ns(e: &HeartbeatEvent) -> Option<u64> {
    let offset = e.read_realtime_ns - e.read_mono_ns as i64;
    e.stamped_realtime_ns.map(|t| (t - offset).max(0) as u64)
}

/// An arrival line is a heartbeat at its stamp (or when it was read, without one).
fn event_arrival(e: &HeartbeatEvent) -> Option<Arrival> {
    (e.kind == EventKind::Arrival).then(|| Arrival {
        source: e.source,
        at_mono_ns: logged_mono_ns(e).unwrap_or(e.read_mono_ns),
        peer: e.peer.clone(),
    })
}

/// A successful probe is a heartbeat when its reply came back.
fn probe_arrival(p: &ProbeAttempt) -> Option<Arrival> {
    p.error.is_none().then(|| Arrival {
        source: p.source,
        at_mono_ns: p.start_mono_ns + p.latency_ns,
        peer: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::records::{PortPacketEvent, PortStage, SourceDeclared, SourceKind};

    fn read(at_ms: u64, peer: &str) -> PortPacketEvent {
        PortPacketEvent {
            mono_ns: at_ms * 1_000_000,
            stage: PortStage::Read,
            cpu: 0,
            proto: libc::IPPROTO_UDP as u8,
            local_port: 5405,
            peer: Some(peer.to_owned()),
            ifindex: 0,
            netns: 0,
            len: 32,
            code: 0,
        }
    }

    #[test]
    fn a_flood_from_another_peer_does_not_hide_a_passive_gap() {
        let mut h = HeartbeatSummary::default();
        h.add(&Record::HeartbeatSource(SourceDeclared {
            at_mono_ns: 0,
            source: 0,
            spec: "udp:5405@100ms".into(),
            kind: SourceKind::PassiveUdp,
            preset: None,
            expected_interval_ns: Some(100_000_000),
            gap_factor: 2.0,
            preset_interval_ns: None,
        }));
        for t in (100..=1000).step_by(100) {
            h.port_packet(&read(t, "10.0.0.1:4000"));
        }
        // 1.5 s in which only a flooding peer is read, every 10 ms.
        for t in (1010..2500).step_by(10) {
            h.port_packet(&read(t, "10.0.0.9:5555"));
        }
        for t in (2500..=3000).step_by(100) {
            h.port_packet(&read(t, "10.0.0.1:4000"));
        }
        let g = h.gaps(3_000_000_000).gaps;
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].length_ns, 1_500_000_000);
    }
}
