//! `hbwatch serve`: records without a fixed duration for fleets, serves OpenMetrics and writes
//! rotating recordings into a folder, keeping the newest few.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use anyhow::Context as _;

use crate::{
    capture::Session,
    capture::{self, Flow, LoopEvent, LoopOptions},
    cli::args::ServeArgs,
    clock,
    commands::{Failure, ResultExt as _},
    output::metrics::{Metrics, server::MetricsServer},
};

const PREFIX: &str = "hbwatch-serve-";
const SUFFIX: &str = ".hbw";

pub fn run(a: ServeArgs) -> Result<(), Failure> {
    // Bad heartbeat specs stop here, before anything is attached.
    let hb = a.heartbeat.config().usage()?;
    let metrics = Arc::new(Metrics::new());
    let server = MetricsServer::start(a.metrics_addr, metrics.clone()).usage()?;
    let dir = a
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/lib/hbwatch"));
    if !dir.is_dir() {
        return Err(anyhow::anyhow!(
            "{}: recording folder does not exist (create it or pass --output-dir)",
            dir.display()
        ))
        .usage();
    }
    let command: Vec<String> = std::env::args().collect();
    let session = Session::start(
        &next_path(&dir),
        false,
        &capture::probe_options_with(a.probes.probe_options(), &hb),
        command,
    )
    .usage()?;
    metrics.publish(&session.summary);
    eprintln!(
        "hbwatch: serving metrics at http://{}/metrics; recordings in {} (new file every {}, keeping {})",
        server.addr(),
        dir.display(),
        humantime::format_duration(a.rotate),
        a.keep
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .runtime()?;
    let mut rotated_at = Instant::now();
    let opts = LoopOptions {
        interval: a.interval,
        duration: None,
        stop_on_hangup: false,
        heartbeats: hb,
    };
    let finished = rt
        .block_on(capture::drive(
            session,
            opts,
            None::<tokio::sync::mpsc::UnboundedReceiver<()>>,
            |ev| {
                if let LoopEvent::Ticked { session, .. } = ev {
                    metrics.publish_tick(
                        &session.summary,
                        &session.tick_records,
                        crate::clock::mono_ns(),
                    );
                    if rotated_at.elapsed() >= a.rotate {
                        rotated_at = Instant::now();
                        let done = session.rotate(&next_path(&dir))?;
                        log::info!("rotated: {} finished", done.display());
                        prune(&dir, a.keep as usize)?;
                    }
                }
                Ok(Flow::Continue)
            },
        ))
        .runtime()?;
    eprintln!(
        "hbwatch: stopped ({}); last recording {}",
        finished
            .summary
            .stop
            .as_ref()
            .map_or("?", |s| s.reason.as_str()),
        finished.path.display()
    );
    drop(server);
    Ok(())
}

/// `hbwatch-serve-<UTC time with ns>.hbw`: names sort by time.
fn next_path(dir: &Path) -> PathBuf {
    let t = jiff::Timestamp::from_nanosecond(clock::realtime_ns() as i128)
        .map(|t| t.strftime("%Y%m%dT%H%M%S%.9fZ").to_string())
        .unwrap_or_else(|_| clock::mono_ns().to_string());
    dir.join(format!("{PREFIX}{t}{SUFFIX}"))
}

/// Removes the oldest of this command's recordings beyond `keep`; other files are left alone.
fn prune(dir: &Path, keep: usize) -> anyhow::Result<()> {
    let mut ours: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(keep);
    for p in &ours[..excess] {
        std::fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn prune_keeps_newest_and_ignores_others() {
        let d = tempfile::tempdir().expect("tempdir");
        for n in [
            "hbwatch-serve-1.hbw",
            "hbwatch-serve-2.hbw",
            "hbwatch-serve-3.hbw",
            "mine.hbw",
        ] {
            std::fs::write(d.path().join(n), b"x").expect("write");
        }
        prune(d.path(), 2).expect("prune");
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["hbwatch-serve-2.hbw", "hbwatch-serve-3.hbw", "mine.hbw"]
        );
        let a = next_path(d.path());
        std::thread::sleep(Duration::from_millis(2));
        assert!(next_path(d.path()) > a, "names must sort by time");
    }
}
