//! Applies a preset or user pattern to one line: what it says (arrival, peer silence, self stall,
//! clock jump), when it was stamped, the peer, a count and a measured duration.

use regex::{Captures, Regex};

use super::{
    presets::Preset,
    spec::LineRule,
    timestamp::{self, TsContext, TsFormat},
};
use crate::recording::records::EventKind;

/// What one matching line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMatch {
    pub kind: EventKind,
    pub stamped_ns: Option<i64>,
    /// The line had a stamp that did not parse.
    pub bad_timestamp: bool,
    pub peer: Option<String>,
    pub count: Option<u64>,
    pub measured_ns: Option<u64>,
}

pub struct LineMatcher {
    /// All patterns as one capture-free alternation: most lines match nothing, and one pass
    /// with the combined literal search rejects them several times faster than each pattern.
    prefilter: Option<Regex>,
    patterns: Vec<(EventKind, Regex)>,
    ts: Option<Regex>,
    ts_format: TsFormat,
    context: Option<Regex>,
    pub ctx: TsContext,
}

fn compile(re: &str) -> Regex {
    // Preset patterns are fixed text checked by the unit tests; a failure here is a bug.
    Regex::new(re).unwrap_or_else(|e| panic!("preset pattern {re}: {e}"))
}

impl LineMatcher {
    pub fn new(rule: &LineRule, ctx: TsContext) -> Self {
        match rule {
            LineRule::Preset(p) => Self::preset(p, ctx),
            LineRule::Patterns(p) => LineMatcher {
                prefilter: None,
                patterns: p.clone(),
                ts: None,
                ts_format: TsFormat::Auto,
                context: None,
                ctx,
            },
            LineRule::Any => LineMatcher {
                prefilter: None,
                patterns: vec![(EventKind::Arrival, compile(r"\S"))],
                ts: None,
                ts_format: TsFormat::Auto,
                context: None,
                ctx,
            },
        }
    }

    pub fn preset(p: &Preset, ctx: TsContext) -> Self {
        let alternation: Vec<String> = p
            .patterns
            .iter()
            .map(|(_, r)| format!("(?:{})", strip_names(r)))
            .collect();
        LineMatcher {
            prefilter: Some(compile(&alternation.join("|"))),
            patterns: p.patterns.iter().map(|(k, r)| (*k, compile(r))).collect(),
            ts: Some(compile(p.ts)),
            ts_format: p.ts_format,
            context: p.context.map(compile),
            ctx,
        }
    }

    /// Sets the read time used for year-less and time-only stamps.
    pub fn set_now(&mut self, now_ns: i64) {
        self.ctx.now_ns = now_ns;
    }

    /// The match for `line`, if any pattern matches.
    pub fn match_line(&mut self, line: &str) -> Option<LineMatch> {
        if let Some(c) = &self.context
            && let Some(m) = c.captures(line)
        {
            self.ctx.date = m
                .name("date")
                .and_then(|d| timestamp::flexlm_date(d.as_str()));
            return None;
        }
        if let Some(pf) = &self.prefilter
            && !pf.is_match(line)
        {
            return None;
        }
        let (kind, caps) = self
            .patterns
            .iter()
            .find_map(|(k, re)| re.captures(line).map(|c| (*k, c)))?;
        let stamp = match caps.name("ts") {
            Some(t) => Some(t.as_str().to_owned()),
            None => self
                .ts
                .as_ref()
                .and_then(|re| re.captures(line))
                .and_then(|c| c.name("ts").map(|t| t.as_str().to_owned())),
        };
        let stamped_ns = stamp
            .as_deref()
            .and_then(|s| timestamp::parse(s, self.ts_format, &self.ctx));
        Some(LineMatch {
            kind,
            stamped_ns,
            bad_timestamp: stamp.is_some() && stamped_ns.is_none(),
            peer: caps.name("peer").map(|p| p.as_str().to_owned()),
            count: num(&caps, "count").map(|c| c as u64),
            measured_ns: duration_ns(&caps),
        })
    }
}

/// `(?<name>` and `(?P<name>` to `(?:`, so patterns sharing group names can be joined.
fn strip_names(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let mut rest = re;
    while let Some(i) = rest.find("(?") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let named = after
            .strip_prefix("P<")
            .or_else(|| after.strip_prefix('<'))
            .and_then(|a| a.find('>').map(|j| (a, j)))
            .filter(|(a, j)| {
                a[..*j]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        match named {
            Some((a, j)) => {
                out.push_str("(?:");
                rest = &a[j + 1..];
            }
            None => {
                out.push_str("(?");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn num(c: &Captures, name: &str) -> Option<f64> {
    c.name(name)?.as_str().parse::<f64>().ok()
}

/// `ms`, `s` or `ns` group to nanoseconds.
fn duration_ns(c: &Captures) -> Option<u64> {
    let ns = num(c, "ns")
        .or_else(|| num(c, "ms").map(|v| v * 1e6))
        .or_else(|| num(c, "s").map(|v| v * 1e9))?;
    (ns.is_finite() && ns >= 0.0).then_some(ns as u64)
}

#[cfg(test)]
#[path = "preset_tests.rs"]
mod tests;

#[cfg(test)]
mod plain_tests {
    use jiff::tz::TimeZone;

    use super::*;

    #[test]
    fn plain_log_lines_are_arrivals_stamped_when_they_can_be() {
        let rule = super::super::spec::parse("log:/tmp/x.log")
            .expect("spec")
            .source;
        let super::super::spec::Source::Log { rule, .. } = rule else {
            panic!("log")
        };
        let mut m = LineMatcher::new(&rule, TsContext::new(TimeZone::UTC, 0));
        let hit = m
            .match_line("2026-11-22T07:00:01.5Z beat 17")
            .expect("stamped");
        assert_eq!(hit.kind, EventKind::Arrival);
        assert_eq!(hit.stamped_ns, Some(1_795_330_801_500_000_000));
        let hit = m.match_line("beat without a stamp").expect("plain");
        assert_eq!((hit.stamped_ns, hit.bad_timestamp), (None, false));
        assert_eq!(m.match_line("   "), None);
    }

    #[test]
    fn names_are_stripped_for_the_prefilter() {
        assert_eq!(
            strip_names(r"a (?<ms>\d+) (?P<s>x) (?:y) (?i)z"),
            r"a (?:\d+) (?:x) (?:y) (?i)z"
        );
    }
}
