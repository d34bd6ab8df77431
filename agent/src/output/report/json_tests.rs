//! The JSON report against docs/report-json.md: every field documented, every enumerated value
//! in snake_case, `worst.what` only the documented values.

use serde_json::Value;

use crate::{
    analysis::{RecordingSummary, diagnosis::diagnose},
    recording::synth::causes::{GapSpec, Scenario, records},
};

const DOC: &str = include_str!("../../../../docs/report-json.md");

fn report() -> Value {
    let gaps: Vec<GapSpec> = [
        Scenario::AppStall,
        Scenario::SoftirqDelay,
        Scenario::RcvbufOverflow,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, scenario)| GapSpec {
        at_s: 15 + 15 * i as u64,
        len_s: 4,
        scenario,
    })
    .collect();
    let recs = records(60, &gaps);
    let s = RecordingSummary::from_records(
        crate::output::export::synthetic::header(),
        (1, 1),
        recs.clone(),
    );
    let d = diagnose(&s, &recs);
    serde_json::to_value(super::json::Report::new(&s, "x.hbw").with_diagnosis(&s, &d))
        .expect("report serialises")
}

fn documented(name: &str) -> bool {
    ["`", ".", "[]"]
        .iter()
        .any(|end| DOC.contains(&format!("`{name}{end}")))
}

#[test]
fn every_field_is_documented() {
    let r = report();
    let top = r.as_object().expect("object");
    let mut missing: Vec<String> = top.keys().filter(|k| !documented(k)).cloned().collect();
    // The sections added after the first version, one level down.
    for section in ["softirq_events", "packet", "heartbeats"] {
        for k in top[section].as_object().expect("section object").keys() {
            let path = format!("{section}.{k}");
            if !documented(&path) {
                missing.push(path);
            }
        }
    }
    for (list, item) in [
        (&r["sched_delay"], "sched_delay[]"),
        (&r["heartbeats"]["sources"], "heartbeats.sources[]"),
        (&r["heartbeats"]["gaps"], "heartbeats.gaps[]"),
        (&r["packet"]["napi"], "packet.napi[]"),
        (&r["packet"]["drops"], "packet.drops[]"),
    ] {
        let first = list
            .as_array()
            .and_then(|a| a.first())
            .unwrap_or_else(|| panic!("{item}: the fixture should fill it"));
        for k in first.as_object().expect("item object").keys() {
            if !documented(k) {
                missing.push(format!("{item}.{k}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in docs/report-json.md: {missing:?}"
    );
}

fn snake(v: &str) -> bool {
    !v.is_empty()
        && v.split('_').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Every value of an enumerated field, with its path.
fn enum_values(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}.{k}");
                // `what` is free text in evidence lines; only `worst.what` is enumerated.
                let enumerated = ["kind", "state", "stage", "cause", "severity", "role"]
                    .contains(&k.as_str())
                    || p.ends_with("worst.what");
                match x {
                    Value::String(s) if enumerated => out.push((p, s.clone())),
                    _ => enum_values(x, &p, out),
                }
            }
        }
        Value::Array(a) => a
            .iter()
            .for_each(|x| enum_values(x, &format!("{path}[]"), out)),
        _ => {}
    }
}

#[test]
fn enumerated_values_are_snake_case() {
    let r = report();
    let mut values = Vec::new();
    enum_values(&r, "", &mut values);
    assert!(
        values
            .iter()
            .any(|(p, v)| p.ends_with("sources[].kind") && v == "passive_udp"),
        "{values:?}"
    );
    let bad: Vec<_> = values.iter().filter(|(_, v)| !snake(v)).collect();
    assert!(bad.is_empty(), "not snake_case: {bad:?}");
    for k in r["heartbeats"]["sources"][0]["events"]
        .as_object()
        .expect("events")
        .keys()
    {
        assert!(snake(k), "event key {k}");
    }
}

#[test]
fn worst_what_takes_only_documented_values() {
    let r = report();
    let advice = r["diagnosis"]["timeout_advice"]
        .as_array()
        .expect("timeout_advice");
    assert!(!advice.is_empty(), "the fixture's gaps give advice");
    let line = DOC
        .lines()
        .find(|l| l.contains("`diagnosis.timeout_advice[]`"))
        .expect("timeout_advice documented");
    for a in advice {
        let what = a["worst"]["what"].as_str().expect("what");
        assert!(
            ["inter_arrival_p999", "self_stall", "probe_latency", "gap"].contains(&what),
            "{what}"
        );
        assert!(line.contains(&format!("`{what}`")), "{what} not in: {line}");
    }
    assert_eq!(
        serde_json::to_value(crate::analysis::gaps::GapKind::PeerSilence).expect("kind"),
        "peer_silence"
    );
}
