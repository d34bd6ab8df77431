//! `hbwatch live`: records exactly like `record` (the same session and loop) and shows the
//! analysis of each second full-screen. Without `-o` the recording goes to a temporary folder
//! that is removed on exit, so the view never leaves files behind unasked.

use std::{io::IsTerminal as _, time::Duration};

use anyhow::{Context as _, anyhow};
use tokio::sync::mpsc;

use crate::{
    analysis::{
        aggregates::{drops::drop_samples, napi::napi_samples},
        recent::{self, RecentDiagnosis},
    },
    capture::{self, Flow, LoopEvent, LoopOptions, Session},
    cli::args::LiveArgs,
    clock,
    commands::{Failure, ResultExt as _, record::print_summary},
    output::live::{
        app::{After, App},
        draw, feed, keys,
        state::{LiveState, RecordingView},
        terminal::{InputEvent, InputThread, TerminalGuard},
    },
    units,
};

pub fn run(a: LiveArgs) -> Result<(), Failure> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(Failure::Usage(anyhow!(
            "`hbwatch live` needs a terminal on stdin and stdout; to record without one use `hbwatch record -o FILE`"
        )));
    }
    // Held until the end: dropping it removes the temporary recording.
    let (path, temp) = match &a.output {
        Some(p) => (p.clone(), None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("hbwatch-live-")
                .tempdir()
                .context("creating a temporary folder for the recording (or give -o PATH)")
                .usage()?;
            (dir.path().join("live.hbw"), Some(dir))
        }
    };
    let command: Vec<String> = std::env::args().collect();
    // Bad heartbeat specs stop here, before anything is attached.
    let hb = a.heartbeat.config().usage()?;
    let session = Session::start(
        &path,
        a.force,
        &capture::probe_options_with(a.probes.probe_options(), &hb),
        command,
    )
    .usage()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .runtime()?;
    let recording = RecordingView {
        path: path.display().to_string(),
        kept: temp.is_none(),
        bytes: session.bytes_written(),
    };
    let mut app = App::new(LiveState::new(&session.summary, recording));
    let (tx, rx) = mpsc::unbounded_channel();
    let mut guard = TerminalGuard::enter()
        .context("setting up the terminal")
        .runtime()?;
    let input = InputThread::spawn(tx)
        .context("starting the input thread")
        .runtime()?;
    let opts = LoopOptions {
        interval: Duration::from_secs(1),
        duration: a.duration,
        stop_on_hangup: true,
        heartbeats: hb,
    };
    let result = match guard.terminal.draw(|f| draw::draw(f, app.shown(), &app.ui)) {
        Ok(_) => {
            let mut recent = RecentDiagnosis::new(recent::KEEP_NS);
            rt.block_on(capture::drive(session, opts, Some(rx), |ev| {
                on_event(&mut app, &mut recent, &mut guard, ev)
            }))
            .runtime()
        }
        Err(e) => Err(Failure::Runtime(
            anyhow!(e).context("drawing the live view"),
        )),
    };
    // The terminal comes back before anything is printed.
    drop(input);
    drop(guard);
    let finished = result?;
    match temp {
        None => print_summary(&finished),
        Some(dir) => {
            let removed = dir.close();
            println!(
                "hbwatch: watched for {:.0} s ({} softirqs, {} lost events); the temporary recording {} was {}; use -o PATH to keep one",
                finished.summary.duration_ns() as f64 / 1e9,
                units::count(finished.summary.latency.total_entries()),
                finished.summary.total_lost(),
                finished.path.display(),
                if removed.is_ok() {
                    "removed"
                } else {
                    "not removed"
                }
            );
            removed
                .context("removing the temporary recording")
                .runtime()?;
        }
    }
    Ok(())
}

/// Folds one tick's analysis into the view-model, each feed through its `LiveState::update_from_…`.
/// The diagnosis is redone only when the gaps changed, at most once per tick.
pub fn fold_tick(
    state: &mut LiveState,
    recent: &mut RecentDiagnosis,
    session: &Session,
    now_mono_ns: u64,
) {
    let (summary, records) = (&session.summary, &session.tick_records);
    state.update_from_summary(summary, now_mono_ns);
    state.update_from_records(summary, records);
    state.update_recording_bytes(session.bytes_written());
    if !summary.heartbeats.is_empty() {
        if recent.tick(summary, records, now_mono_ns) {
            state.update_verdict(recent.diagnosis().and_then(feed::verdict));
        }
        state.update_from_heartbeats(
            now_mono_ns,
            &summary.header.anchor,
            &feed::heartbeat_snapshots(summary, now_mono_ns, recent.diagnosis()),
        );
    }
    if let Some((span, samples)) = drop_samples(&summary.packet, records) {
        state.update_from_drops(span, &samples, &summary.heartbeats.passive_ports());
    }
    if let Some((span, samples)) = napi_samples(&summary.packet, records) {
        state.update_from_napi(span, &samples);
    }
}

fn on_event(
    app: &mut App,
    recent: &mut RecentDiagnosis,
    guard: &mut TerminalGuard,
    ev: LoopEvent<'_, InputEvent>,
) -> anyhow::Result<Flow> {
    match ev {
        LoopEvent::Ticked { session, .. } => {
            fold_tick(&mut app.live, recent, session, clock::mono_ns());
        }
        LoopEvent::Input(InputEvent::Resize) => guard.terminal.autoresize()?,
        LoopEvent::Input(InputEvent::Key(k)) => match keys::action(k).map(|a| app.apply(a)) {
            None => return Ok(Flow::Continue),
            Some(After::Quit) => return Ok(Flow::Stop("quit from the live view")),
            Some(After::Redraw) => {}
        },
    }
    guard
        .terminal
        .draw(|f| draw::draw(f, app.shown(), &app.ui))
        .context("drawing the live view")?;
    Ok(Flow::Continue)
}
