//! `hbwatch record`: attach, record until the duration ends or a signal arrives, detach, summarise.

use std::{io::IsTerminal as _, io::Write as _, path::PathBuf, time::Duration};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    cli::{
        Failure, ResultExt as _,
        args::{HeartbeatArgs, RecordArgs},
    },
    clock,
    collectors::host::HostRoot,
    heartbeat::{HeartbeatConfig, owner, runner},
    output::units,
    probes::ProbeOptions,
    recording::records::{CollectorState, CollectorStatus, Record},
    session::{Finished, Session},
};

pub fn run(a: RecordArgs) -> Result<(), Failure> {
    let path = a.output.clone().unwrap_or_else(default_output);
    let command: Vec<String> = std::env::args().collect();
    // Bad heartbeat specs stop here, before anything is attached.
    let hb = heartbeat_config(&a.heartbeat).usage()?;
    let mut session =
        Session::start(&path, a.force, &ProbeOptions { no_btf: a.no_btf }, command).usage()?;
    for d in runner::declarations(&hb) {
        session
            .push_heartbeat(Record::HeartbeatSource(d))
            .context("recording heartbeat sources")
            .runtime()?;
    }
    for r in socket_owners(&hb) {
        session
            .push_heartbeat(r)
            .context("recording heartbeat sources")
            .runtime()?;
    }
    eprintln!(
        "hbwatch: recording to {}{}",
        path.display(),
        match a.duration {
            Some(d) => format!(" for {}", humantime::format_duration(d)),
            None => " until Ctrl-C".to_owned(),
        }
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .runtime()?;
    let finished = rt.block_on(record_loop(session, &hb, a.interval, a.duration))?;
    print_summary(&finished);
    Ok(())
}

/// The validated heartbeat sources and settings of `record` (and the live view).
pub fn heartbeat_config(a: &HeartbeatArgs) -> anyhow::Result<HeartbeatConfig> {
    let mut c = HeartbeatConfig::build(&a.heartbeat, a.config.as_deref(), a.gap_factor)?;
    c.from_start = a.from_start;
    c.tz = a.tz.clone();
    Ok(c)
}

/// Who owns each passively watched port, as collector statuses named `heartbeat-owner #N`.
fn socket_owners(hb: &HeartbeatConfig) -> Vec<Record> {
    let host = HostRoot::default();
    hb.watched_ports()
        .into_iter()
        .map(|w| {
            let owners = owner::find_owners(&host, w.proto, w.port);
            let (state, detail) = if owners.is_empty() {
                (
                    CollectorState::Degraded,
                    format!("no local socket on {:?} port {} yet", w.proto, w.port),
                )
            } else {
                let who: Vec<String> = owners
                    .iter()
                    .map(|o| format!("{} (pid {}, socket inode {})", o.comm, o.pid, o.inode))
                    .collect();
                (
                    CollectorState::Running,
                    format!("{:?} port {} owned by {}", w.proto, w.port, who.join(", ")),
                )
            };
            Record::Collector(CollectorStatus {
                at_mono_ns: clock::mono_ns(),
                collector: format!("heartbeat-owner #{}", w.source),
                state,
                detail,
            })
        })
        .collect()
}

/// The next heartbeat record, or never when there are no sources.
async fn next_heartbeat(hb: &mut Option<runner::Running>) -> Option<Record> {
    match hb {
        Some(r) => r.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn record_loop(
    mut session: Session,
    hb_config: &HeartbeatConfig,
    interval: Duration,
    duration: Option<Duration>,
) -> Result<Finished, Failure> {
    let mut sigint = signal(SignalKind::interrupt())
        .context("installing the SIGINT handler")
        .runtime()?;
    let mut sigterm = signal(SignalKind::terminate())
        .context("installing the SIGTERM handler")
        .runtime()?;
    let start = tokio::time::Instant::now();
    let deadline = start + duration.unwrap_or(Duration::from_secs(u64::MAX / 4));
    let mut tick = tokio::time::interval_at(start + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let status = std::io::stderr().is_terminal();
    let mut hb = (!hb_config.sources.is_empty()).then(|| runner::start(hb_config));
    let reason = loop {
        let stop = tokio::select! {
            r = next_heartbeat(&mut hb) => {
                match r {
                    Some(r) => {
                        if let Err(e) = session.push_heartbeat(r) {
                            return Err(Failure::Runtime(anyhow::anyhow!("recording stopped: {e}")));
                        }
                    }
                    None => hb = None,
                }
                continue;
            }
            _ = tick.tick() => None,
            _ = sigint.recv() => Some("interrupted (SIGINT)"),
            _ = sigterm.recv() => Some("terminated (SIGTERM)"),
            _ = tokio::time::sleep_until(deadline) => Some("duration reached"),
        };
        if let Some(reason) = stop {
            break reason;
        }
        if let Err(e) = session.tick() {
            // Everything flushed before stays readable; say so instead of losing it quietly.
            let path = session.path().display().to_string();
            drop(session);
            return Err(Failure::Runtime(anyhow::anyhow!(
                "recording stopped: {e}; {path} holds everything recorded up to the previous second"
            )));
        }
        if status {
            status_line(&session, start.elapsed());
        }
    };
    if status {
        eprint!("\r\x1b[K");
    }
    // What the sources read before the stop still goes in.
    if let Some(r) = hb.take() {
        for rec in r.stop(Duration::from_millis(500)).await {
            session
                .push_heartbeat(rec)
                .context("finishing the recording")
                .runtime()?;
        }
    }
    session
        .stop(reason)
        .context("finishing the recording")
        .runtime()
}

fn status_line(s: &Session, elapsed: Duration) {
    let lost = s.summary.total_lost();
    let lost = if lost > 0 {
        format!("\x1b[33mlost {lost}\x1b[0m")
    } else {
        "lost 0".to_owned()
    };
    let hb = &s.summary.heartbeats;
    let heartbeats = if hb.is_empty() {
        String::new()
    } else {
        let warnings: usize = hb.sources.values().map(|x| x.warnings.len()).sum();
        let gaps = hb.gaps(clock::mono_ns()).gaps.len();
        let w = if warnings > 0 {
            format!(" · \x1b[33m{warnings} source warning(s)\x1b[0m")
        } else {
            String::new()
        };
        format!(" · heartbeat gaps {gaps}{w}")
    };
    eprint!(
        "\r\x1b[Khbwatch: {:>5.0}s · softirqs {}{} · {} · {} → {}",
        elapsed.as_secs_f64(),
        units::count(s.summary.latency.total_entries()),
        heartbeats,
        lost,
        units::bytes(s.bytes_written()),
        s.path().display()
    );
    let _ = std::io::stderr().flush();
}

fn print_summary(f: &Finished) {
    let s = &f.summary;
    println!(
        "hbwatch: recorded {:.1} s to {} ({}, {} frames); stopped: {}",
        s.duration_ns() as f64 / 1e9,
        f.path.display(),
        units::bytes(f.bytes),
        f.frames,
        s.stop.as_ref().map_or("?", |x| x.reason.as_str())
    );
    let by_vector = s.latency.by_vector();
    for (v, a) in by_vector.iter().filter(|(_, a)| a.entries > 0) {
        let (w, r) = (a.wait.distribution(), a.run.distribution());
        println!(
            "  {:<8} {:>8} softirqs · wait p99 {:>8} max {:>8} · run p99 {:>8} max {:>8}",
            s.vector_name(*v),
            units::count(a.entries),
            units::ns(w.p99_ns),
            units::ns(w.max_ns),
            units::ns(r.p99_ns),
            units::ns(r.max_ns)
        );
    }
    println!("  lost events: {}", s.total_lost());
    if !s.heartbeats.is_empty() {
        let a = s.heartbeats.gaps(s.last_mono_ns);
        println!(
            "  heartbeat sources: {} · gaps: {}",
            s.heartbeats.sources.len(),
            a.gaps.len()
        );
    }
    println!("  report: hbwatch report {}", f.path.display());
}

/// `hbwatch-<host>-<YYYYmmdd-HHMMSS>.hbw` in the current folder.
fn default_output() -> PathBuf {
    let host = HostRoot::default().hostname();
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let when = jiff::Timestamp::from_nanosecond(clock::realtime_ns() as i128)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y%m%d-%H%M%S")
                .to_string()
        })
        .unwrap_or_default();
    PathBuf::from(format!("hbwatch-{host}-{when}.hbw"))
}
