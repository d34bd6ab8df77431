//! What the exports should make of [`crate::recording::synth::one_gap`]'s recording: its
//! heartbeat series, gap, drops per second and stacks, for the export tests.

use std::collections::BTreeMap;

use super::{DropsSecond, GapInput, HeartbeatSeries, adapt::RecordingData};
pub use crate::recording::synth::one_gap::*;

pub fn data(seconds: u64) -> RecordingData {
    RecordingData::from_records(header(), records(seconds))
}

/// Heartbeats every 300 ms from one source, silent during the gap.
pub fn heartbeats(seconds: u64) -> Vec<HeartbeatSeries> {
    let end = START_MONO_NS + seconds * SEC;
    let arrivals = (0..)
        .map(|i| START_MONO_NS + 100_000_000 + i * HEARTBEAT_PERIOD_NS)
        .take_while(|&t| t < end)
        .filter(|&t| t <= GAP_LAST_ARRIVAL || t >= GAP_NEXT_ARRIVAL)
        .collect();
    vec![HeartbeatSeries {
        source: "corosync:eth0".into(),
        arrivals_mono_ns: arrivals,
    }]
}

pub fn gaps() -> Vec<GapInput> {
    vec![GapInput {
        number: 1,
        source: "corosync:eth0".into(),
        last_arrival_mono_ns: GAP_LAST_ARRIVAL,
        next_arrival_mono_ns: Some(GAP_NEXT_ARRIVAL),
        onset_mono_ns: Some(START_MONO_NS + 20 * SEC),
        detected_mono_ns: Some(GAP_LAST_ARRIVAL + 2 * HEARTBEAT_PERIOD_NS),
        verdict: Some("NET_RX starved on CPU 1 (wait p99 8 ms, ksoftirqd)".into()),
        cause: Some("softirq-wait".into()),
    }]
}

pub fn drops(seconds: u64) -> Vec<DropsSecond> {
    (0..seconds)
        .map(|s| {
            let start = START_MONO_NS + s * SEC;
            let total = if in_gap(start) { 150 } else { 0 };
            DropsSecond {
                start_mono_ns: start,
                total,
                by_reason: if total > 0 {
                    BTreeMap::from([("NETDEV_BACKLOG".to_owned(), total)])
                } else {
                    BTreeMap::new()
                },
            }
        })
        .collect()
}

/// Folded stacks sampled in `[start, end)`: a steady background plus a ksoftirqd-heavy pattern
/// during the stall.
pub fn fold_stacks(start: u64, end: u64) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    let mut t = start - start % SEC;
    while t < end {
        if t >= start {
            *m.entry("ret_from_fork;kthread;smpboot_thread_fn;run_ksoftirqd;handle_softirqs;net_rx_action;__napi_poll;virtnet_poll".to_owned()).or_default() += if in_gap(t) { 40 } else { 2 };
            *m.entry("asm_sysvec_apic_timer_interrupt;sysvec_apic_timer_interrupt;irq_exit_rcu;handle_softirqs;run_timer_softirq".to_owned()).or_default() += 5;
            *m.entry("asm_common_interrupt;common_interrupt;irq_exit_rcu;handle_softirqs;net_rx_action;__napi_poll;virtnet_poll;napi_gro_receive".to_owned()).or_default() += if in_gap(t) { 1 } else { 10 };
        }
        t += SEC;
    }
    m
}
