//! `hbwatch record`: attach, record until the duration ends or a signal arrives, detach, summarise.

use std::{io::IsTerminal as _, io::Write as _, path::PathBuf, time::Duration};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    cli::{Failure, ResultExt as _, args::RecordArgs},
    clock,
    collectors::host::HostRoot,
    output::{
        metrics::{Metrics, server::MetricsServer},
        units,
    },
    probes::ProbeOptions,
    session::{Finished, Session},
};

pub fn run(a: RecordArgs) -> Result<(), Failure> {
    let path = a.output.clone().unwrap_or_else(default_output);
    let command: Vec<String> = std::env::args().collect();
    let metrics = std::sync::Arc::new(Metrics::new());
    // Bind before attaching probes, so a busy port costs nothing.
    let server = match a.metrics_addr {
        Some(addr) => Some(MetricsServer::start(addr, metrics.clone()).usage()?),
        None => None,
    };
    let session =
        Session::start(&path, a.force, &ProbeOptions { no_btf: a.no_btf }, command).usage()?;
    if let Some(s) = &server {
        metrics.publish(&session.summary);
        eprintln!("hbwatch: serving metrics at http://{}/metrics", s.addr());
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
    let publish = server.is_some();
    let mut after_tick = |s: &mut Session| {
        if publish {
            metrics.publish(&s.summary);
        }
        Ok(())
    };
    let finished = rt.block_on(record_loop(
        session,
        a.interval,
        a.duration,
        &mut after_tick,
    ))?;
    print_summary(&finished);
    Ok(())
}

/// What a caller does after every successful tick (publish metrics, rotate files).
pub(crate) type AfterTick<'a> = dyn FnMut(&mut Session) -> anyhow::Result<()> + 'a;

pub(crate) async fn record_loop(
    mut session: Session,
    interval: Duration,
    duration: Option<Duration>,
    after_tick: &mut AfterTick<'_>,
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
    let reason = loop {
        let stop = tokio::select! {
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
        after_tick(&mut session).runtime()?;
        if status {
            status_line(&session, start.elapsed());
        }
    };
    if status {
        eprint!("\r\x1b[K");
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
    eprint!(
        "\r\x1b[Khbwatch: {:>5.0}s · softirqs {} · {} · {} → {}",
        elapsed.as_secs_f64(),
        units::count(s.summary.latency.total_entries()),
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
