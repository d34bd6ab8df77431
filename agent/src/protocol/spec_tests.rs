use super::*;

fn bad(spec: &str) -> SpecError {
    parse(spec).expect_err(spec)
}

#[test]
fn parses_every_source_kind() {
    let s = parse("log:/var/log/cluster/corosync.log:corosync").expect("log preset");
    assert!(
        matches!(&s.source, Source::Log { path, rule: LineRule::Preset(p), interval: None }
        if path.to_str() == Some("/var/log/cluster/corosync.log") && p.name == "corosync")
    );
    let s = parse("log:/tmp/hb.log:regex=^(?<ts>\\S+) beat from (?<peer>\\w+)").expect("regex");
    assert!(matches!(
        s.source,
        Source::Log {
            rule: LineRule::Patterns(_),
            ..
        }
    ));
    let s = parse("log:/tmp/a.log").expect("plain");
    assert!(matches!(
        s.source,
        Source::Log {
            rule: LineRule::Patterns(_),
            ..
        }
    ));
    let s = parse("log:/tmp/beats.log@100ms").expect("plain with interval");
    assert!(
        matches!(&s.source, Source::Log { path, interval: Some(d), .. }
        if path.to_str() == Some("/tmp/beats.log") && *d == Duration::from_millis(100))
    );
    let s = parse("log:/tmp/gg.log:go-global@2m").expect("interval");
    assert_eq!(s.expected_interval(), Some(Duration::from_secs(120)));
    let s = parse("journal:corosync.service").expect("journal");
    assert!(
        matches!(&s.source, Source::Journal { rule: LineRule::Preset(p), .. } if p.name == "corosync")
    );
    let s = parse("udp:5405@300ms").expect("udp");
    assert!(
        matches!(s.source, Source::Passive { proto: Proto::Udp, port: 5405, interval: Some(d), preset: None } if d == Duration::from_millis(300))
    );
    assert!(matches!(
        parse("tcp:2380").expect("tcp").source,
        Source::Passive {
            proto: Proto::Tcp,
            port: 2380,
            interval: None,
            preset: None
        }
    ));
    let s = parse("probe:http://127.0.0.1:8008/health@2s,timeout=500ms,failures=5").expect("http");
    let Source::Probe(p) = s.source else {
        panic!("not a probe")
    };
    assert_eq!(
        p.target,
        ProbeTarget::Http {
            host: "127.0.0.1".into(),
            port: 8008,
            path: "/health".into()
        }
    );
    assert_eq!(
        (p.interval, p.timeout, p.failures),
        (Duration::from_secs(2), Duration::from_millis(500), 5)
    );
    let Source::Probe(p) = parse("probe:udp://[::1]:7").expect("udp probe").source else {
        panic!()
    };
    assert_eq!(
        p.target,
        ProbeTarget::Udp {
            host: "::1".into(),
            port: 7
        }
    );
    assert_eq!(
        (p.interval, p.timeout, p.failures),
        (Duration::from_secs(1), Duration::from_secs(1), 3)
    );
}

#[test]
fn errors_name_spec_position_and_expectation() {
    let e = bad("log:/var/log/x.log:corosnyc");
    assert_eq!(e.position, 20);
    assert!(
        e.expected.contains("preset name") && e.expected.contains("corosync"),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("heartbeat spec `log:/var/log/x.log:corosnyc`: at position 20: expected")
    );
    let e = bad("log:/tmp/x:regex=(?<ts>[a-");
    assert_eq!(e.position, 18);
    assert!(e.expected.contains("valid regular expression"), "{e}");
    let e = bad("log:/tmp/x:regex=(?<when>\\d+)");
    assert!(e.expected.contains("`when`"), "{e}");
    assert_eq!(bad("udp:99999").position, 5);
    assert!(bad("udp:5405@soon").expected.contains("duration"));
    assert_eq!(bad("frob:1").position, 1);
    assert_eq!(bad("nothing").position, 1);
    assert!(bad("probe:ftp://h:1").expected.contains("tcp://"));
    assert!(bad("probe:tcp://h").expected.contains(":PORT"));
    assert!(bad("probe:tcp://h:1/x").expected.contains("path"));
    assert!(
        bad("probe:tcp://h:1,retries=2")
            .expected
            .contains("failures=N")
    );
    assert!(
        bad("probe:tcp://h:1,failures=0")
            .expected
            .contains("at least 1")
    );
    assert!(bad("journal:").expected.contains("unit"));
}

#[test]
fn config_file_same_sources() {
    let text = r#"
gap_factor = 3.0
[[heartbeat]]
spec = "udp:5405@1s"
[[heartbeat]]
log = "/var/log/etcd.log"
preset = "etcd"
[[heartbeat]]
probe = "tcp://10.0.0.2:2380"
interval = "500ms"
failures = 2
"#;
    let c = parse_config(std::path::Path::new("hb.toml"), text).expect("config");
    assert_eq!(c.sources.len(), 3);
    assert_eq!(c.gap_factor, Some(3.0));
    assert_eq!(
        c.sources[2].spec,
        "probe:tcp://10.0.0.2:2380@500ms,failures=2"
    );
    let e = parse_config(
        std::path::Path::new("hb.toml"),
        "[[heartbeat]]\nlog = \"/x\"\npreset = \"nope\"\n",
    )
    .expect_err("bad preset");
    assert!(
        e.to_string()
            .starts_with("hb.toml: heartbeat #1: heartbeat spec `log:/x:nope`"),
        "{e}"
    );
    let e = parse_config(
        std::path::Path::new("hb.toml"),
        "[[heartbeat]]\nlogg = \"/x\"\n",
    )
    .expect_err("unknown key");
    assert!(e.to_string().contains("logg"), "{e}");
    let e = parse_config(
        std::path::Path::new("hb.toml"),
        "[[heartbeat]]\nudp = 1\ntcp = 2\n",
    )
    .expect_err("two kinds");
    assert!(e.to_string().contains("exactly one"), "{e}");
}

#[test]
fn log_lines_are_heartbeats_or_reports_of_a_loss() {
    let kinds = |spec: &str| -> Vec<EventKind> {
        match parse(spec).expect(spec).source {
            Source::Log {
                rule: LineRule::Patterns(p),
                ..
            } => p.iter().map(|(k, _)| *k).collect(),
            other => panic!("{spec}: {other:?}"),
        }
    };
    use EventKind::{Arrival, PeerSilence, SelfStall};
    assert_eq!(kinds("log:/a.log:regex=beat (?<peer>\\w+)"), [Arrival]);
    // A regex with a count or duration group reports losses.
    assert_eq!(
        kinds("log:/a.log:regex=Missed (?<count>\\d+)"),
        [PeerSilence]
    );
    assert_eq!(
        kinds("log:/a.log:beat=tick:loss=Missed (?<count>\\d+) beats:stall=late (?<ms>\\d+) ms"),
        [Arrival, PeerSilence, SelfStall]
    );
    let both = parse("log:/a.log:beat=tick:loss=missed").expect("both");
    let Source::Log { rule, .. } = &both.source else {
        panic!("log")
    };
    assert!(!rule.reports_losses_only());
    let loss = parse("log:/a.log:loss=missed").expect("loss");
    let Source::Log { rule, .. } = &loss.source else {
        panic!("log")
    };
    assert!(rule.reports_losses_only());
    let e = bad("log:/a.log:beat=tick:loss=(open");
    assert_eq!(e.position, 27, "{e}");
}

#[test]
fn a_passive_source_may_name_its_protocol() {
    let s = parse("udp:5405:corosync@1s").expect("udp preset");
    assert!(matches!(
        s.source,
        Source::Passive { port: 5405, preset: Some(p), interval: Some(_), .. } if p.name == "corosync"
    ));
    assert_eq!(s.preset().map(|p| p.name), Some("corosync"));
    assert!(bad("udp:5405:nosuch").expected.contains("preset name"));
}
