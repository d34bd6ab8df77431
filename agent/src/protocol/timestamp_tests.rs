use jiff::tz::TimeZone;

use super::*;

fn ns(rfc: &str) -> i64 {
    let t: Timestamp = rfc.parse().expect("test stamp");
    t.as_nanosecond() as i64
}

fn ctx(now: &str) -> TsContext {
    TsContext::new(TimeZone::UTC, ns(now))
}

#[test]
fn table() {
    let c = ctx("2026-11-22T07:00:00Z");
    let rows: &[(&str, TsFormat, &str)] = &[
        (
            "2026-11-22T06:13:44.982705+00:00",
            TsFormat::Iso,
            "2026-11-22T06:13:44.982705Z",
        ),
        (
            "2025-11-06T05:12:22.049210+0100",
            TsFormat::Iso,
            "2025-11-06T04:12:22.04921Z",
        ),
        (
            "2021-08-23T00:27:42.163Z",
            TsFormat::Iso,
            "2021-08-23T00:27:42.163Z",
        ),
        (
            "2021-10-19T12:07:57,076",
            TsFormat::Iso,
            "2021-10-19T12:07:57.076Z",
        ),
        (
            "2011-01-28 08:41:56,478",
            TsFormat::Iso,
            "2011-01-28T08:41:56.478Z",
        ),
        (
            "2011-01-28 08:41:56.478",
            TsFormat::Iso,
            "2011-01-28T08:41:56.478Z",
        ),
        (
            "2026-11-22 06:10:15.641906",
            TsFormat::Iso,
            "2026-11-22T06:10:15.641906Z",
        ),
        (
            "Mar 30 2013 19:36:46.105 -0500",
            TsFormat::Cvp,
            "2013-03-31T00:36:46.105Z",
        ),
        ("2026/11/22 06:09:42", TsFormat::Go, "2026-11-22T06:09:42Z"),
        (
            "22 Nov 2026 06:13:12.882",
            TsFormat::Redis,
            "2026-11-22T06:13:12.882Z",
        ),
        (
            "22 Nov 06:13:12.882",
            TsFormat::Redis,
            "2026-11-22T06:13:12.882Z",
        ),
        (
            "E1122 06:59:59.849143",
            TsFormat::Klog,
            "2026-11-22T06:59:59.849143Z",
        ),
        (
            "Nov 22 06:11:44.679",
            TsFormat::Syslog,
            "2026-11-22T06:11:44.679Z",
        ),
        ("May  7 18:37:11", TsFormat::Syslog, "2026-05-07T18:37:11Z"),
        (
            "Sun Nov 22 06:12:32 2026",
            TsFormat::Ctime,
            "2026-11-22T06:12:32Z",
        ),
        ("1795327907", TsFormat::Epoch, "2026-11-22T06:11:47Z"),
        ("1795327907147", TsFormat::Epoch, "2026-11-22T06:11:47.147Z"),
        ("1795327907.5", TsFormat::Epoch, "2026-11-22T06:11:47.5Z"),
        ("10:22:01", TsFormat::TimeOnly, "2026-11-22T10:22:01Z"),
    ];
    for (s, f, want) in rows {
        assert_eq!(parse(s, *f, &c), Some(ns(want)), "{s} as {f:?}");
        assert_eq!(parse(s, TsFormat::Auto, &c), Some(ns(want)), "{s} as Auto");
    }
    for bad in ["", "yesterday", "Foo 99 99:99:99", "12345"] {
        assert_eq!(parse(bad, TsFormat::Auto, &c), None, "{bad} parsed");
    }
}

#[test]
fn syslog_year_rolls_back_over_new_year() {
    // A December line read on 1 January belongs to the year before.
    let c = ctx("2027-01-01T00:00:05Z");
    assert_eq!(
        parse("Dec 31 23:59:58", TsFormat::Syslog, &c),
        Some(ns("2026-12-31T23:59:58Z"))
    );
    assert_eq!(
        parse("Jan  1 00:00:01", TsFormat::Syslog, &c),
        Some(ns("2027-01-01T00:00:01Z"))
    );
    assert_eq!(
        parse("E1231 23:59:59.5", TsFormat::Klog, &c),
        Some(ns("2026-12-31T23:59:59.5Z"))
    );
}

#[test]
fn zone_less_stamps_use_the_given_zone() {
    let tz = TimeZone::get("America/New_York").expect("tzdb");
    let c = TsContext::new(tz, ns("2026-11-22T07:00:00Z"));
    assert_eq!(
        parse("2026-11-22 06:00:00", TsFormat::Iso, &c),
        Some(ns("2026-11-22T11:00:00Z"))
    );
    // An explicit offset wins over the zone.
    assert_eq!(
        parse("2026-11-22T06:00:00+00:00", TsFormat::Iso, &c),
        Some(ns("2026-11-22T06:00:00Z"))
    );
}

#[test]
fn flexlm_context_date() {
    let mut c = ctx("2026-11-22T07:00:00Z");
    c.date = flexlm_date("4/8/2019");
    assert_eq!(
        parse("8:38:22", TsFormat::TimeOnly, &c),
        Some(ns("2019-04-08T08:38:22Z"))
    );
}
