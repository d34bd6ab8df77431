//! The capture loop shared by `record` and `live`: one session tick per interval until the
//! duration ends, a signal arrives or the caller asks to stop; then a clean stop and flush.

use std::time::Duration;

use anyhow::Context as _;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc,
};

use crate::{
    capture::session::{Finished, Session},
    clock,
    collectors::host::HostRoot,
    heartbeat::{HeartbeatConfig, owner, runner},
    probes::{ProbeOptions, portwatch::WatchPort},
    protocol::spec::Proto,
    recording::records::{CollectorState, CollectorStatus, Record},
};

/// What the loop tells its caller.
pub enum LoopEvent<'a, I> {
    /// The session just ticked (records appended and flushed).
    Ticked {
        session: &'a mut Session,
        elapsed: Duration,
    },
    /// Something arrived on the caller's input channel (the live view's keys and resizes).
    Input(I),
}

/// The caller's answer to an event.
pub enum Flow {
    Continue,
    /// Stop the recording cleanly, with this reason in the stop record.
    Stop(&'static str),
}

pub struct LoopOptions {
    pub interval: Duration,
    pub duration: Option<Duration>,
    /// Stop cleanly on SIGHUP (a closed terminal). Off for `record`, so `nohup` keeps working.
    pub stop_on_hangup: bool,
    /// Heartbeat sources read while recording (declared in the recording when the loop starts).
    pub heartbeats: HeartbeatConfig,
}

/// `o`, plus every passively watched heartbeat port; with no process named to watch, the
/// scheduling of the processes that own those ports in hbwatch's namespace (the local daemon),
/// so a stall of the daemon is measured, not guessed.
pub fn probe_options_with(mut o: ProbeOptions, hb: &HeartbeatConfig) -> ProbeOptions {
    if o.watch.is_empty() {
        let host = HostRoot::default();
        for w in hb.watched_ports() {
            for found in owner::find_owners(&host, w.proto, w.port) {
                if !o.watch.pids.contains(&found.pid) {
                    o.watch.pids.push(found.pid);
                }
            }
        }
    }
    let passive = hb.watched_ports().into_iter().map(|w| (w.proto, w.port));
    for (proto, port) in passive.chain(hb.wire_ports()) {
        let proto = match proto {
            Proto::Udp => libc::IPPROTO_UDP as u8,
            Proto::Tcp => libc::IPPROTO_TCP as u8,
        };
        let wp = WatchPort { proto, port };
        if !o.watch_ports.contains(&wp) {
            o.watch_ports.push(wp);
        }
    }
    o
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

/// Ticks `session` until something stops it, then stops it cleanly. A failed write ends the
/// loop with an error naming what is still readable; an error from `on_event` stops the
/// recording cleanly first and is then returned.
pub async fn drive<I>(
    mut session: Session,
    opts: LoopOptions,
    mut input: Option<mpsc::UnboundedReceiver<I>>,
    mut on_event: impl FnMut(LoopEvent<'_, I>) -> anyhow::Result<Flow>,
) -> anyhow::Result<Finished> {
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sighup = if opts.stop_on_hangup {
        Some(signal(SignalKind::hangup()).context("installing the SIGHUP handler")?)
    } else {
        None
    };
    let start = tokio::time::Instant::now();
    let deadline = start + opts.duration.unwrap_or(Duration::from_secs(u64::MAX / 4));
    let mut tick = tokio::time::interval_at(start + opts.interval, opts.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for d in runner::declarations(&opts.heartbeats) {
        session
            .push_heartbeat(Record::HeartbeatSource(d))
            .context("recording heartbeat sources")?;
    }
    if !opts.heartbeats.watched_ports().is_empty() {
        let addresses = crate::collectors::addresses::own_addresses()
            .iter()
            .map(ToString::to_string)
            .collect();
        session
            .push_heartbeat(Record::HostAddresses(
                crate::recording::records::HostAddresses {
                    at_mono_ns: clock::mono_ns(),
                    addresses,
                },
            ))
            .context("recording this host's addresses")?;
    }
    for t in runner::timings(&opts.heartbeats) {
        session
            .push_heartbeat(Record::SourceTiming(t))
            .context("recording heartbeat sources")?;
    }
    for r in socket_owners(&opts.heartbeats) {
        session
            .push_heartbeat(r)
            .context("recording heartbeat sources")?;
    }
    let mut hb = (!opts.heartbeats.sources.is_empty()).then(|| runner::start(&opts.heartbeats));
    let mut failed = None;
    let reason = loop {
        let input_event = async {
            match input.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let hangup = async {
            match sighup.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        let step = tokio::select! {
            r = next_heartbeat(&mut hb) => match r {
                Some(r) => Step::Heartbeat(Box::new(r)),
                None => Step::HeartbeatsEnded,
            },
            _ = tick.tick() => Step::Tick,
            ev = input_event => match ev {
                Some(ev) => Step::Input(ev),
                // The input source ended: keep recording, stop listening.
                None => Step::InputClosed,
            },
            _ = sigint.recv() => Step::Stop("interrupted (SIGINT)"),
            _ = sigterm.recv() => Step::Stop("terminated (SIGTERM)"),
            _ = hangup => Step::Stop("hangup (SIGHUP)"),
            _ = tokio::time::sleep_until(deadline) => Step::Stop("duration reached"),
        };
        let flow = match step {
            Step::Stop(reason) => break reason,
            Step::InputClosed => {
                input = None;
                continue;
            }
            Step::HeartbeatsEnded => {
                hb = None;
                continue;
            }
            Step::Heartbeat(r) => {
                if let Err(e) = session.push_heartbeat(*r) {
                    let path = session.path().display().to_string();
                    drop(session);
                    return Err(anyhow::anyhow!(
                        "recording stopped: {e}; {path} holds everything recorded up to the previous second"
                    ));
                }
                continue;
            }
            Step::Input(ev) => on_event(LoopEvent::Input(ev)),
            Step::Tick => {
                if let Err(e) = session.tick() {
                    // Everything flushed before stays readable; say so instead of losing it.
                    let path = session.path().display().to_string();
                    drop(session);
                    return Err(anyhow::anyhow!(
                        "recording stopped: {e}; {path} holds everything recorded up to the previous second"
                    ));
                }
                on_event(LoopEvent::Ticked {
                    session: &mut session,
                    elapsed: start.elapsed(),
                })
            }
        };
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop(reason)) => break reason,
            Err(e) => {
                failed = Some(e);
                break "display failed";
            }
        }
    };
    // What the sources read before the stop still goes in.
    if let Some(r) = hb.take() {
        for rec in r.stop(Duration::from_millis(500)).await {
            session
                .push_heartbeat(rec)
                .context("finishing the recording")?;
        }
    }
    let finished = session.stop(reason).context("finishing the recording")?;
    match failed {
        Some(e) => Err(e.context(format!(
            "stopped; the recording {} is complete up to now",
            finished.path.display()
        ))),
        None => Ok(finished),
    }
}

enum Step<I> {
    Tick,
    // Boxed: a record is large and a step is moved on every loop turn.
    Heartbeat(Box<Record>),
    HeartbeatsEnded,
    Input(I),
    InputClosed,
    Stop(&'static str),
}
