//! Any text as a log timestamp in every known format (and FlexLM's context date): a time or
//! nothing, never a panic; `Auto` finds a time whenever some single format does.
#![no_main]

use hbwatch::protocol::timestamp::{TsContext, TsFormat, flexlm_date, parse};
use jiff::tz::TimeZone;
use libfuzzer_sys::fuzz_target;

const FORMATS: &[TsFormat] = &[
    TsFormat::Iso,
    TsFormat::Syslog,
    TsFormat::Ctime,
    TsFormat::Cvp,
    TsFormat::Go,
    TsFormat::Redis,
    TsFormat::Klog,
    TsFormat::Epoch,
    TsFormat::TimeOnly,
];

fuzz_target!(|s: &str| {
    // 2026-11-22T06:00:00Z: year-less stamps take their year from here.
    let mut ctx = TsContext::new(TimeZone::UTC, 1_795_327_200_000_000_000);
    ctx.date = flexlm_date(s);
    let any = FORMATS.iter().any(|f| parse(s, *f, &ctx).is_some());
    assert_eq!(parse(s, TsFormat::Auto, &ctx).is_some(), any);
});
