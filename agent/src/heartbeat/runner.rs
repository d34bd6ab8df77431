//! Starts one tokio task per heartbeat source; each sends records (lines, attempts, warnings,
//! line counts) down one channel that the session writes as they arrive.

use std::{path::PathBuf, time::Duration};

use tokio::{sync::mpsc, task::JoinSet};

use super::{HeartbeatConfig, follow::Follower, journal, probe};
use crate::protocol::{
    matcher::{LineMatch, LineMatcher},
    spec::{LineRule, Source},
    timestamp::TsContext,
};
use crate::{
    clock,
    recording::records::{
        HeartbeatEvent, LINE_KEEP, LineCounts, Record, SourceDeclared, SourceTiming, SourceWarning,
        WarningKind,
    },
};

/// How often a log file is checked for new lines.
const LOG_POLL: Duration = Duration::from_millis(100);
/// How often line counts are recorded.
const COUNTS_EVERY: Duration = Duration::from_secs(1);

/// The running sources. Dropping it stops them at once; [`Running::stop`] lets log sources send
/// their last lines and counts first.
pub struct Running {
    pub rx: mpsc::UnboundedReceiver<Record>,
    tasks: JoinSet<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Running {
    /// Asks the sources to finish (log sources read once more and send their counts), waits up
    /// to `grace`, and returns every record they sent that was not yet received.
    pub async fn stop(mut self, grace: Duration) -> Vec<Record> {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
        let mut rest = Vec::new();
        while let Ok(r) = self.rx.try_recv() {
            rest.push(r);
        }
        rest
    }
}

/// One `SourceDeclared` per source, numbered in config order.
pub fn declarations(cfg: &HeartbeatConfig) -> Vec<SourceDeclared> {
    let at = clock::mono_ns();
    cfg.sources
        .iter()
        .enumerate()
        .map(|(i, s)| SourceDeclared {
            at_mono_ns: at,
            source: i as u32,
            spec: s.spec.clone(),
            kind: s.kind(),
            preset: s.preset().map(|p| p.name.to_owned()),
            expected_interval_ns: s.expected_interval().map(|d| d.as_nanos() as u64),
            gap_factor: cfg.gap_factor,
            // The protocol's period, from the daemon's config when it can be read.
            preset_interval_ns: s
                .preset()
                .and_then(|p| match crate::protocol::wire::of(p.name) {
                    Some(w) => Some(w.period_ns(std::path::Path::new("/")).0),
                    None => p.interval_ms.map(|ms| ms * 1_000_000),
                }),
        })
        .collect()
}

/// The timing each preset source's daemon config sets, for the sources whose config could be
/// read (the running daemon's, else the default file).
pub fn timings(cfg: &HeartbeatConfig) -> Vec<SourceTiming> {
    let at = clock::mono_ns();
    cfg.sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let w = crate::protocol::wire::of(s.preset()?.name)?;
            let (t, from) = w.config_timing(std::path::Path::new("/"))?;
            Some(SourceTiming {
                at_mono_ns: at,
                source: i as u32,
                period_ns: t.period_ns,
                loss_ns: t.loss_ns,
                basis: format!("{from}: {}", t.what),
            })
        })
        .collect()
}

/// Spawns the log, journal and probe tasks (passive ports are watched by the packet probes).
/// Must be called inside a tokio runtime.
pub fn start(cfg: &HeartbeatConfig) -> Running {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = JoinSet::new();
    let tz = cfg.time_zone();
    for (i, s) in cfg.sources.iter().enumerate() {
        let (id, tx) = (i as u32, tx.clone());
        match &s.source {
            Source::Log { path, rule, .. } => {
                let ctx = TsContext::new(tz.clone(), clock::realtime_ns());
                let log = LogTask {
                    source: id,
                    path: path.clone(),
                    rule: rule.clone(),
                    from_start: cfg.from_start,
                    ctx,
                };
                tasks.spawn(run_log(log, tx, stopped.clone()));
            }
            Source::Journal { unit, rule, .. } => {
                let ctx = TsContext::new(tz.clone(), clock::realtime_ns());
                tasks.spawn(run_journal(id, unit.clone(), rule.clone(), ctx, tx));
            }
            Source::Probe(p) => {
                tasks.spawn(probe::run(id, p.clone(), tx));
            }
            Source::Passive { .. } => {}
        }
    }
    Running { rx, tasks, stop }
}

fn event(source: u32, m: LineMatch, line: &str, mono: u64, rt: i64) -> HeartbeatEvent {
    let mut end = line.len().min(LINE_KEEP);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    HeartbeatEvent {
        source,
        kind: m.kind,
        read_mono_ns: mono,
        read_realtime_ns: rt,
        stamped_realtime_ns: m.stamped_ns,
        peer: m.peer,
        count: m.count,
        measured_ns: m.measured_ns,
        line: line[..end].to_owned(),
    }
}

fn warning(source: u32, kind: WarningKind, detail: String) -> Record {
    Record::SourceWarning(SourceWarning {
        at_mono_ns: clock::mono_ns(),
        source,
        kind,
        detail,
    })
}

struct LogTask {
    source: u32,
    path: PathBuf,
    rule: LineRule,
    from_start: bool,
    ctx: TsContext,
}

async fn run_log(
    task: LogTask,
    tx: mpsc::UnboundedSender<Record>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let LogTask {
        source,
        path,
        rule,
        from_start,
        ctx,
    } = task;
    let mut follower = Follower::new(path, from_start);
    let mut matcher = LineMatcher::new(&rule, ctx);
    let mut tick = tokio::time::interval(LOG_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = LineCounts::default();
    let (mut matched, mut bad_ts) = (0u64, 0u64);
    let mut last_counts = clock::mono_ns();
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.changed() => true,
        };
        let (mono, rt) = (clock::mono_ns(), clock::realtime_ns());
        matcher.set_now(rt);
        let mut out = Vec::new();
        let warnings = follower.poll(&mut |line| {
            if let Some(m) = matcher.match_line(line) {
                matched += 1;
                bad_ts += m.bad_timestamp as u64;
                out.push(Record::Heartbeat(event(source, m, line, mono, rt)));
            }
        });
        out.extend(
            warnings
                .into_iter()
                .map(|w| warning(source, w.kind, w.detail)),
        );
        if last || mono - last_counts >= COUNTS_EVERY.as_nanos() as u64 {
            last_counts = mono;
            let c = follower.counts;
            let now = LineCounts {
                at_mono_ns: mono,
                source,
                lines: c.lines,
                bytes: c.bytes,
                matched,
                long_lines_cut: c.long_lines_cut,
                invalid_utf8: c.invalid_utf8,
                bad_timestamps: bad_ts,
                lost: 0,
            };
            let delta = LineCounts {
                lines: now.lines - sent.lines,
                bytes: now.bytes - sent.bytes,
                matched: now.matched - sent.matched,
                long_lines_cut: now.long_lines_cut - sent.long_lines_cut,
                invalid_utf8: now.invalid_utf8 - sent.invalid_utf8,
                bad_timestamps: now.bad_timestamps - sent.bad_timestamps,
                ..now.clone()
            };
            if !delta.is_empty() {
                out.push(Record::HeartbeatLines(delta));
            }
            sent = now;
        }
        for r in out {
            if tx.send(r).is_err() {
                return;
            }
        }
        if last {
            return;
        }
    }
}

async fn run_journal(
    source: u32,
    unit: String,
    rule: LineRule,
    ctx: TsContext,
    tx: mpsc::UnboundedSender<Record>,
) {
    if !journal::available() {
        let d = format!("journal:{unit}: no systemd journal on this host (/run/systemd/journal)");
        let _ = tx.send(warning(source, WarningKind::Unreadable, d));
        return;
    }
    let mut stream = match journal::JournalStream::spawn(&unit) {
        Ok(s) => s,
        Err(e) => {
            let d = format!("journal:{unit}: cannot run journalctl: {e}");
            let _ = tx.send(warning(source, WarningKind::Unreadable, d));
            return;
        }
    };
    let mut matcher = LineMatcher::new(&rule, ctx);
    while let Some(e) = stream.next().await {
        let (mono, rt) = (clock::mono_ns(), clock::realtime_ns());
        matcher.set_now(rt);
        if let Some(mut m) = matcher.match_line(&e.message) {
            // The journal's own stamp is exact; the message rarely carries one.
            m.stamped_ns = e.realtime_ns.or(m.stamped_ns);
            if tx
                .send(Record::Heartbeat(event(source, m, &e.message, mono, rt)))
                .is_err()
            {
                return;
            }
        }
    }
    let d = format!("journal:{unit}: journalctl stopped");
    let _ = tx.send(warning(source, WarningKind::Unreadable, d));
}
