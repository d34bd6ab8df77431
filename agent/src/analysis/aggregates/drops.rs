//! Packet drops named by reason, device/queue, CPU and port: the samples of a span of `Drops`
//! records, their sums along each dimension, drops per second, and running rates with totals.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{intervals_of, rate, span_ns};
use crate::{
    analysis::PacketSummary,
    recording::records::{DropInterval, Record},
};

/// Rows kept per drops breakdown, busiest first.
pub const DROP_ROWS: usize = 16;

/// One drop counter over some span; the dimensions a source does not know are `None`.
/// A sample with a port but neither device nor CPU is a per-port count that the kernel keeps
/// beside the per-device one: it feeds the port breakdown only, so no drop counts twice.
#[derive(Debug, Clone, PartialEq)]
pub struct DropSample {
    pub reason: String,
    pub device: Option<String>,
    pub queue: Option<u32>,
    pub cpu: Option<u32>,
    pub port: Option<u16>,
    pub count: u64,
}

/// One interval's drop cells (per device, queue and CPU), then its per-port counts.
fn interval_samples(p: &PacketSummary, iv: &DropInterval) -> Vec<DropSample> {
    let cells = iv.cells.iter().map(|c| DropSample {
        reason: p.reason_name(c.reason),
        device: Some(p.ifname(c.ifindex, c.netns)),
        queue: c.rx_queue,
        cpu: Some(c.cpu),
        port: None,
        count: c.count,
    });
    let ports = iv
        .ports
        .iter()
        .map(|c| port_sample(p, c.reason, c.port, c.count));
    cells.chain(ports).collect()
}

fn port_sample(p: &PacketSummary, reason: u32, port: u16, count: u64) -> DropSample {
    DropSample {
        reason: p.reason_name(reason),
        device: None,
        queue: None,
        cpu: None,
        port: Some(port),
        count,
    }
}

/// Drop samples of the `Drops` records among `records` and the time they cover; `None` without
/// any (the drop probes are off).
pub fn drop_samples(p: &PacketSummary, records: &[Record]) -> Option<(u64, Vec<DropSample>)> {
    let ivs: Vec<&DropInterval> = intervals_of(records, |r| match r {
        Record::Drops(iv) => Some(iv),
        _ => None,
    })?;
    let samples = ivs.iter().flat_map(|iv| interval_samples(p, iv)).collect();
    let span = span_ns(ivs.iter().map(|iv| (iv.start_mono_ns, iv.end_mono_ns)));
    Some((span, samples))
}

/// Drop samples of everything the summary folded so far: per device, queue and CPU, then per
/// port.
pub fn samples_so_far(p: &PacketSummary) -> Vec<DropSample> {
    let cells = p.drops.iter().map(
        |(&(reason, netns, ifindex, queue, cpu), &count)| DropSample {
            reason: p.reason_name(reason),
            device: Some(p.ifname(ifindex, netns)),
            queue,
            cpu: Some(cpu),
            port: None,
            count,
        },
    );
    let ports = p
        .port_drops
        .iter()
        .map(|(&(_proto, port, reason), &count)| port_sample(p, reason, port, count));
    cells.chain(ports).collect()
}

/// Drops of some span summed along each dimension, keyed by the names the outputs show
/// ("eth0/q1", "cpu1"). Port-only samples feed `port` alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropTally {
    pub reason: BTreeMap<String, u64>,
    pub device: BTreeMap<String, u64>,
    pub cpu: BTreeMap<String, u64>,
    pub port: BTreeMap<u16, u64>,
}

impl DropTally {
    pub fn of(samples: &[DropSample]) -> DropTally {
        let mut t = DropTally::default();
        for s in samples {
            if let (Some(p), None, None) = (s.port, &s.device, s.cpu) {
                *t.port.entry(p).or_default() += s.count;
                continue;
            }
            *t.reason.entry(s.reason.clone()).or_default() += s.count;
            if let Some(dev) = &s.device {
                let key = match s.queue {
                    Some(q) => format!("{dev}/q{q}"),
                    None => dev.clone(),
                };
                *t.device.entry(key).or_default() += s.count;
            }
            if let Some(c) = s.cpu {
                *t.cpu.entry(format!("cpu{c}")).or_default() += s.count;
            }
            if let Some(p) = s.port {
                *t.port.entry(p).or_default() += s.count;
            }
        }
        t
    }

    /// Every drop once (per-port counts repeat the per-device ones and are left out).
    pub fn total(&self) -> u64 {
        self.reason.values().sum()
    }
}

/// Packet drops in the second starting at `start_mono_ns`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DropsSecond {
    pub start_mono_ns: u64,
    pub total: u64,
    /// Drops by reason ("NETDEV_BACKLOG", "rx_missed", …); may be empty.
    pub by_reason: BTreeMap<String, u64>,
}

/// One entry per recorded drop interval (about a second each), by reason name.
pub fn drops_per_second(p: &PacketSummary, records: &[Record]) -> Vec<DropsSecond> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Drops(iv) => Some(iv),
            _ => None,
        })
        .map(|iv| {
            let t = DropTally::of(&interval_samples(p, iv));
            DropsSecond {
                start_mono_ns: iv.start_mono_ns,
                total: t.total(),
                by_reason: t.reason,
            }
        })
        .collect()
}

/// One group's drops: its rate over the latest interval and its total since the first.
#[derive(Debug, Clone, PartialEq)]
pub struct RateRow {
    pub label: String,
    pub per_s: f64,
    pub total: u64,
    /// A heartbeat port (or a row that carries heartbeat traffic).
    pub heartbeat: bool,
}

/// Drop rates by reason, device/queue, CPU and port over the latest interval, with totals since
/// the first; heartbeat ports first among the ports. Fed one interval at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DropRates {
    /// Whether an interval has been fed at all.
    pub fed: bool,
    pub by_reason: Vec<RateRow>,
    pub by_device: Vec<RateRow>,
    pub by_cpu: Vec<RateRow>,
    pub by_port: Vec<RateRow>,
    pub total_per_s: f64,
    pub heartbeat_ports: Vec<u16>,
    totals: DropTally,
}

impl DropRates {
    /// Rates from one interval of `interval_ns`; `heartbeat_ports` are marked.
    pub fn update(&mut self, interval_ns: u64, samples: &[DropSample], heartbeat_ports: &[u16]) {
        let d = self;
        d.fed = true;
        d.heartbeat_ports = heartbeat_ports.to_vec();
        let now = DropTally::of(samples);
        let per_s = |n: u64| rate(n, interval_ns);
        d.total_per_s = per_s(now.total());
        d.by_reason = rate_rows(&now.reason, &mut d.totals.reason, interval_ns);
        d.by_device = rate_rows(&now.device, &mut d.totals.device, interval_ns);
        d.by_cpu = rate_rows(&now.cpu, &mut d.totals.cpu, interval_ns);
        for (p, n) in &now.port {
            *d.totals.port.entry(*p).or_default() += n;
        }
        let mut rows: Vec<RateRow> = d
            .totals
            .port
            .iter()
            .map(|(p, total)| RateRow {
                label: format!(":{p}"),
                per_s: per_s(now.port.get(p).copied().unwrap_or(0)),
                total: *total,
                heartbeat: heartbeat_ports.contains(p),
            })
            .collect();
        // Heartbeat ports first: a drop there is what the operator is looking for.
        rows.sort_by(|a, b| {
            b.heartbeat
                .cmp(&a.heartbeat)
                .then(b.per_s.total_cmp(&a.per_s))
                .then(b.total.cmp(&a.total))
        });
        rows.truncate(DROP_ROWS);
        d.by_port = rows;
    }
}

/// Rows for one breakdown: this interval's rate and the running total, busiest first.
fn rate_rows(
    now: &BTreeMap<String, u64>,
    totals: &mut BTreeMap<String, u64>,
    interval_ns: u64,
) -> Vec<RateRow> {
    for (k, n) in now {
        *totals.entry(k.clone()).or_default() += n;
    }
    let mut rows: Vec<RateRow> = totals
        .iter()
        .map(|(k, total)| RateRow {
            label: k.clone(),
            per_s: rate(now.get(k).copied().unwrap_or(0), interval_ns),
            total: *total,
            heartbeat: false,
        })
        .collect();
    rows.sort_by(|a, b| b.per_s.total_cmp(&a.per_s).then(b.total.cmp(&a.total)));
    rows.truncate(DROP_ROWS);
    rows
}
