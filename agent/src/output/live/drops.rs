//! The drops panel's view-model: drop rates by reason, device/queue, CPU and port (heartbeat
//! ports first) and NAPI budget exhaustion per device, from per-interval samples.

use std::collections::BTreeMap;

/// Rows kept per drops breakdown; the panel shows as many as fit.
const DROP_ROWS: usize = 16;

/// One drop counter over the last interval; the dimensions a source does not know are `None`.
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

/// NAPI polls of one device over the last interval.
#[derive(Debug, Clone, PartialEq)]
pub struct NapiSample {
    pub device: String,
    pub polls: u64,
    /// Polls that used their whole budget (work left for the next poll or ksoftirqd).
    pub budget_exhausted: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DropsView {
    /// Whether a drop feed has reported at all.
    pub fed: bool,
    pub napi_fed: bool,
    pub by_reason: Vec<RateRow>,
    pub by_device: Vec<RateRow>,
    pub by_cpu: Vec<RateRow>,
    pub by_port: Vec<RateRow>,
    pub napi: Vec<NapiRow>,
    pub total_per_s: f64,
    pub heartbeat_ports: Vec<u16>,
    totals: DropTotals,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct DropTotals {
    reason: BTreeMap<String, u64>,
    device: BTreeMap<String, u64>,
    cpu: BTreeMap<String, u64>,
    port: BTreeMap<u16, u64>,
    napi: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateRow {
    pub label: String,
    pub per_s: f64,
    pub total: u64,
    /// A heartbeat port (or a row that carries heartbeat traffic): drawn highlighted.
    pub heartbeat: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NapiRow {
    pub device: String,
    pub exhausted_per_s: f64,
    /// Share of polls that exhausted the budget in the last interval, 0..=1.
    pub exhausted_share: f64,
    pub exhausted_total: u64,
}

impl DropsView {
    /// Drop rates from one interval of `interval_ns`; `heartbeat_ports` are highlighted.
    pub fn update(&mut self, interval_ns: u64, samples: &[DropSample], heartbeat_ports: &[u16]) {
        let d = self;
        d.fed = true;
        d.heartbeat_ports = heartbeat_ports.to_vec();
        let mut reason: BTreeMap<String, u64> = BTreeMap::new();
        let mut device: BTreeMap<String, u64> = BTreeMap::new();
        let mut cpu: BTreeMap<String, u64> = BTreeMap::new();
        let mut port: BTreeMap<u16, u64> = BTreeMap::new();
        for s in samples {
            if let (Some(p), None, None) = (s.port, &s.device, s.cpu) {
                *port.entry(p).or_default() += s.count;
                continue;
            }
            *reason.entry(s.reason.clone()).or_default() += s.count;
            if let Some(dev) = &s.device {
                let key = match s.queue {
                    Some(q) => format!("{dev}/q{q}"),
                    None => dev.clone(),
                };
                *device.entry(key).or_default() += s.count;
            }
            if let Some(c) = s.cpu {
                *cpu.entry(format!("cpu{c}")).or_default() += s.count;
            }
            if let Some(p) = s.port {
                *port.entry(p).or_default() += s.count;
            }
        }
        let per_s = |n: u64| rate(n, interval_ns);
        d.total_per_s = per_s(reason.values().sum());
        d.by_reason = rate_rows(&reason, &mut d.totals.reason, interval_ns);
        d.by_device = rate_rows(&device, &mut d.totals.device, interval_ns);
        d.by_cpu = rate_rows(&cpu, &mut d.totals.cpu, interval_ns);
        for (p, n) in &port {
            *d.totals.port.entry(*p).or_default() += n;
        }
        let mut rows: Vec<RateRow> = d
            .totals
            .port
            .iter()
            .map(|(p, total)| RateRow {
                label: format!(":{p}"),
                per_s: per_s(port.get(p).copied().unwrap_or(0)),
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

    /// NAPI budget exhaustion per device from one interval of `interval_ns`.
    pub fn update_napi(&mut self, interval_ns: u64, samples: &[NapiSample]) {
        let d = self;
        d.napi_fed = true;
        for s in samples {
            *d.totals.napi.entry(s.device.clone()).or_default() += s.budget_exhausted;
        }
        d.napi = d
            .totals
            .napi
            .iter()
            .map(|(dev, total)| {
                let now = samples.iter().find(|s| &s.device == dev);
                NapiRow {
                    device: dev.clone(),
                    exhausted_per_s: rate(now.map_or(0, |s| s.budget_exhausted), interval_ns),
                    exhausted_share: now.map_or(0.0, |s| {
                        if s.polls == 0 {
                            0.0
                        } else {
                            s.budget_exhausted as f64 / s.polls as f64
                        }
                    }),
                    exhausted_total: *total,
                }
            })
            .collect();
    }
}

fn rate(n: u64, interval_ns: u64) -> f64 {
    if interval_ns == 0 {
        0.0
    } else {
        n as f64 * 1e9 / interval_ns as f64
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
