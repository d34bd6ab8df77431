//! `hbwatch record`: attach, record until the duration ends or a signal arrives, detach, summarise.

use std::{io::IsTerminal as _, io::Write as _, path::PathBuf, time::Duration};

use anyhow::Context as _;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{
    capture::{self, Flow, LoopEvent, LoopOptions},
    capture::{Finished, Session},
    cli::args::RecordArgs,
    clock,
    collectors::host::HostRoot,
    commands::{Failure, ResultExt as _},
    output::metrics::{Metrics, server::MetricsServer},
    units,
};

pub fn run(a: RecordArgs) -> Result<(), Failure> {
    let path = a.output.clone().unwrap_or_else(default_output);
    let command: Vec<String> = std::env::args().collect();
    // Bad heartbeat specs stop here, before anything is attached.
    let hb = a.heartbeat.config().usage()?;
    let metrics = std::sync::Arc::new(Metrics::new());
    // Bind before attaching probes, so a busy port costs nothing.
    let server = match a.metrics_addr {
        Some(addr) => Some(MetricsServer::start(addr, metrics.clone()).usage()?),
        None => None,
    };
    let session = Session::start(
        &path,
        a.force,
        &capture::probe_options_with(a.probes.probe_options(), &hb),
        command,
    )
    .usage()?;
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
    let status = std::io::stderr().is_terminal();
    let opts = LoopOptions {
        interval: a.interval,
        duration: a.duration,
        stop_on_hangup: false,
        heartbeats: hb,
    };
    let finished = rt.block_on(capture::drive(
        session,
        opts,
        None::<UnboundedReceiver<()>>,
        |ev| {
            if let LoopEvent::Ticked { session, elapsed } = ev {
                if server.is_some() {
                    metrics.publish_tick(
                        &session.summary,
                        &session.tick_records,
                        crate::clock::mono_ns(),
                    );
                }
                if status {
                    status_line(session, elapsed);
                }
            }
            Ok(Flow::Continue)
        },
    ));
    if status {
        eprint!("\r\x1b[K");
    }
    let finished = finished.runtime()?;
    print_summary(&finished);
    Ok(())
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

pub(crate) fn print_summary(f: &Finished) {
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
