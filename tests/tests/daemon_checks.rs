//! The daemon tests' own checks, without root: the incident-contract check passes a report that
//! holds and names every way one does not, and the unmatched-line check finds a WARN line the
//! preset misses.

use std::time::Duration;

use hbwatch_tests::daemons::{Action, Run, Window, contract};
use serde_json::{Value, json};

const S: u64 = 1_000_000_000;

fn window(name: &'static str, action: Action, cause: &'static str, from_s: u64) -> Window {
    Window {
        name,
        action,
        cause,
        start_ns: from_s * S,
        end_ns: (from_s + 10) * S,
        lines: Vec::new(),
        proof: Ok("test".into()),
    }
}

fn incident(number: u64, start_s: u64, findings: Value) -> Value {
    json!({
        "number": number,
        "start_mono_ns": start_s * S,
        "end_mono_ns": (start_s + 3) * S,
        "findings": findings,
        "sources": [{"spec": "udp:5405"}],
        "gaps": [number],
    })
}

fn windows() -> Vec<Window> {
    vec![
        window(
            "drop",
            Action::Drop(&["udp dport 5405"]),
            "netfilter_drop",
            10,
        ),
        window("local stop", Action::StopLocal, "app_stall", 20),
    ]
}

fn report(incidents: Vec<Value>, gaps: Vec<Value>) -> Value {
    json!({"diagnosis": {"top_cause": "netfilter_drop", "gaps": gaps, "incidents": incidents}})
}

fn gap(start_s: u64, incident: u64) -> Value {
    json!({"start_mono_ns": start_s * S, "incident": incident, "peer": "10.199.31.1"})
}

#[test]
fn a_report_that_holds_passes() {
    let j = report(
        vec![
            incident(
                1,
                11,
                json!([{"cause": "netfilter_drop", "confidence": 0.9}]),
            ),
            incident(2, 21, json!([{"cause": "app_stall", "confidence": 0.8}])),
        ],
        vec![gap(11, 1), gap(21, 2)],
    );
    let misses = contract::check(&j, 10 * S, S, &windows());
    assert!(misses.is_empty(), "{misses:#?}");
}

#[test]
fn every_miss_is_named() {
    let j = report(
        vec![
            incident(
                1,
                11,
                json!([{"cause": "peer_or_upstream", "confidence": 0.9}]),
            ),
            incident(
                2,
                12,
                json!([{"cause": "netfilter_drop", "confidence": 0.9}]),
            ),
            incident(
                3,
                21,
                json!([{"cause": "app_stall", "confidence": 0.8}, {"cause": "peer_or_upstream", "confidence": 0.3}]),
            ),
        ],
        vec![gap(3, 1), gap(11, 1)],
    );
    let misses = contract::check(&j, 10 * S, S, &windows()).join("\n");
    for want in [
        "1 gaps start in the healthy stretch",
        "fault drop: 2 incidents in its window, expected exactly 1",
        "fault local stop: a stall of the local daemon blamed on the network: peer_or_upstream",
    ] {
        assert!(misses.contains(want), "no `{want}` in:\n{misses}");
    }
    let one = report(
        vec![incident(
            1,
            11,
            json!([{"cause": "peer_or_upstream", "confidence": 0.9}]),
        )],
        vec![],
    );
    let misses = contract::check(&one, 10 * S, S, &windows()[..1]).join("\n");
    assert!(
        misses.contains("top cause Some((\"peer_or_upstream\""),
        "wrong top cause not named:\n{misses}"
    );
}

#[test]
fn missing_contract_fields_fail() {
    let old = json!({"diagnosis": {"gaps": [{"start_mono_ns": 11 * S}]}});
    let misses = contract::check(&old, 10 * S, S, &windows()).join("\n");
    for want in [
        "diagnosis has no `top_cause`",
        "has no `incident`",
        "has no `peer`",
        "diagnosis has no `incidents`",
    ] {
        assert!(misses.contains(want), "no `{want}` in:\n{misses}");
    }
    let mut bare = report(vec![json!({"start_mono_ns": 11 * S})], vec![]);
    bare["diagnosis"]["gaps"] = json!([{}]);
    let misses = contract::check(&bare, 10 * S, S, &windows()[..1]).join("\n");
    for want in [
        "`start_mono_ns`",
        "`end_mono_ns`",
        "`findings`",
        "`sources`",
        "`number`",
    ] {
        assert!(misses.contains(want), "no {want} in:\n{misses}");
    }
    assert!(
        !contract::check(&json!({}), 0, 0, &[]).is_empty(),
        "no diagnosis at all passed"
    );
}

#[test]
fn unmatched_warn_lines_are_found() {
    let mut w = window("peer stop", Action::StopPeer, "peer_or_upstream", 10);
    w.lines = vec![
        "Dec 02 06:33:09.501 [7735] vm corosync warning [KNET  ] host: host: 1 has no active links".into(),
        "Dec 02 06:33:09.600 [7735] vm corosync warning [TOTEM ] Something new about host 1".into(),
        "Dec 02 06:33:09.700 [7735] vm corosync notice  [TOTEM ] Token has not been received in 750 ms ".into(),
    ];
    let run = Run {
        healthy_end_ns: 10 * S,
        onset_slack: Duration::from_secs(1),
        windows: vec![w],
        report: json!({}),
        preset: "corosync",
        warn: |l| l.contains(" warning "),
        took: Duration::ZERO,
    };
    let lines = run.warn_lines();
    assert_eq!(lines.len(), 2, "the notice line is not WARN: {lines:?}");
    assert!(lines[0].2, "the preset's own line unmatched: {lines:?}");
    assert!(!lines[1].2, "a line no preset knows was matched: {lines:?}");
    let err = std::panic::catch_unwind(|| run.check_daemon_side())
        .expect_err("check_daemon_side passed an unmatched line");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("Something new about host 1"), "{msg}");
}

#[test]
fn a_port_silence_into_the_fault_may_start_one_learned_interval_early() {
    let silence = |start_s: u64, end_s: u64, interval_s: u64| {
        let mut g = gap(start_s, 1);
        g["kind"] = json!("silence");
        g["end_mono_ns"] = json!(end_s * S);
        g["expected_interval_ns"] = json!(interval_s * S);
        g
    };
    let incidents = || {
        vec![
            incident(
                1,
                8,
                json!([{"cause": "netfilter_drop", "confidence": 0.9}]),
            ),
            incident(2, 21, json!([{"cause": "app_stall", "confidence": 0.8}])),
        ]
    };
    // A 4 s prober pause: the silence began 3 s before the fault (slack 1 s) and ran into it.
    let j = report(incidents(), vec![silence(7, 14, 4), gap(21, 2)]);
    let misses = contract::check(&j, 10 * S, S, &windows());
    assert!(misses.is_empty(), "{misses:#?}");
    // Earlier than its interval, or over before the fault: in the healthy stretch.
    for early in [silence(5, 14, 4), silence(7, 9, 4)] {
        let j = report(incidents(), vec![early, gap(21, 2)]);
        let misses = contract::check(&j, 10 * S, S, &windows());
        assert!(
            misses.iter().any(|m| m.contains("healthy stretch")),
            "{misses:#?}"
        );
    }
}
