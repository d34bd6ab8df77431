//! `hbwatch demo`: two namespaces, a UDP heartbeat between them, three faults injected in turn
//! while recording, then the report; everything it made is removed on every way out.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Instant,
};

use anyhow::Context as _;
use futures_util::FutureExt as _;
use tokio::{
    signal::unix::{Signal, SignalKind, signal},
    sync::mpsc::UnboundedSender,
};

use crate::{
    capture::Session,
    capture::{self, Flow, LoopEvent, LoopOptions},
    cli::args::DemoArgs,
    commands::{Failure, ResultExt as _},
    demo::{
        lab::Peer,
        netns::NetnsPair,
        scenarios::{self, Injected, Lab},
    },
    probes::ProbeOptions,
};

/// Namespace names (`hbwatch-demo-a`, `-b`) and their /24 (10.199.231.0/24).
const TAG: &str = "hbwatch-demo";
const SUBNET: u8 = 231;

pub fn run(a: DemoArgs) -> Result<(), Failure> {
    preflight().usage()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .runtime()?;
    // From here Ctrl-C and SIGTERM are caught instead of killing the process, so every guard
    // below (peers, nft table, namespaces, temporary recording) is undone however the demo ends.
    let _rt_guard = rt.enter();
    let mut stops = [
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ]
    .into_iter()
    .collect::<Result<Vec<Signal>, _>>()
    .context("installing signal handlers")
    .runtime()?;
    let mut interrupted = move || stops.iter_mut().any(|s| s.recv().now_or_never().is_some());

    let tmp = tempfile::Builder::new()
        .prefix("hbwatch-demo-")
        .tempdir()
        .context("creating a temporary folder")
        .runtime()?;
    let path = a
        .output
        .clone()
        .unwrap_or_else(|| tmp.path().join("demo.hbw"));
    say(format!(
        "creating namespaces {TAG}-a and {TAG}-b joined by a veth pair (10.199.{SUBNET}.0/24)"
    ));
    let pair = NetnsPair::create(TAG, SUBNET)
        .context("creating the demo namespaces")
        .runtime()?;
    let bin = std::env::current_exe()
        .context("finding the hbwatch binary")
        .runtime()?;
    let port = a.port.to_string();
    // A small buffer and 2 ms per read: plenty for 10 heartbeats a second, not for a flood.
    let recv = Peer::spawn(
        &bin,
        &pair.b,
        &["recv", &port, "--rcvbuf", "2048", "--read-delay", "2ms"],
        "receiver",
    )
    .context("starting the receiver")
    .runtime()?;
    let to = format!("{}:{}", pair.b_ip, a.port);
    let send = Peer::spawn(&bin, &pair.a, &["send", &to, "--every", "100ms"], "sender")
        .context("starting the sender")
        .runtime()?;
    say(format!(
        "receiver pid {} in {} on port {}; sender pid {} in {}",
        recv.pid(),
        pair.b,
        a.port,
        send.pid(),
        pair.a
    ));
    let lab = Lab {
        bin,
        a: pair.a.clone(),
        b: pair.b.clone(),
        b_ip: pair.b_ip.clone(),
        port: a.port,
        recv,
        send,
    };
    if interrupted() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "interrupted; removing what the demo created"
        )));
    }

    let spec = format!("udp:{}@100ms", a.port);
    let hb = crate::heartbeat::HeartbeatConfig::build(std::slice::from_ref(&spec), None, None)
        .context("the demo's heartbeat source")
        .runtime()?;
    let mut opts = ProbeOptions::default();
    opts.watch.pids.push(lab.recv.pid());
    let opts = capture::probe_options_with(opts, &hb);
    say(format!(
        "attaching the eBPF probes and recording to {} with --heartbeat {spec}",
        path.display()
    ));
    let command = vec!["hbwatch".to_owned(), "demo".to_owned()];
    let force = a.force || a.output.is_none();
    let session = Session::start(&path, force, &opts, command).usage()?;
    if interrupted() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "interrupted; removing what the demo created"
        )));
    }

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let t0 = Instant::now();
    let script = Script::start(lab, t0, tx);
    let loop_opts = LoopOptions {
        interval: std::time::Duration::from_secs(1),
        duration: None,
        stop_on_hangup: true,
        heartbeats: hb,
    };
    let finished = rt.block_on(capture::drive(session, loop_opts, Some(rx), |ev| {
        Ok(match ev {
            LoopEvent::Input(()) => Flow::Stop("demo finished"),
            LoopEvent::Ticked { .. } => Flow::Continue,
        })
    }));
    let (injected, lab) = script.finish().runtime()?;
    drop(lab);
    let finished = finished.runtime()?;
    let stop = finished
        .summary
        .stop
        .as_ref()
        .map_or("?", |s| s.reason.as_str())
        .to_owned();
    if stop != "demo finished" {
        say(format!("stopped early ({stop}); removing the namespaces"));
        drop(pair);
        return Err(Failure::Runtime(anyhow::anyhow!(
            "demo stopped early: {stop}; everything it created was removed"
        )));
    }
    say("removing the namespaces; the report follows".to_owned());
    drop(pair);
    println!("What the demo injected (times after the probes attached):");
    for i in &injected {
        println!(
            "  +{:>5.1} s  {:<24} for {:.1} s",
            i.at.as_secs_f64(),
            i.what,
            i.length.as_secs_f64()
        );
    }
    println!();
    report(&path)?;
    if a.output.is_none() {
        println!("\n(the recording was temporary; keep one with `hbwatch demo -o demo.hbw`)");
    }
    Ok(())
}

/// The fault script on its own thread. Dropping this (also while unwinding) stops the script
/// and waits for it, so its peers are killed before the namespaces go.
struct Script {
    abort: Arc<AtomicBool>,
    handle: Option<JoinHandle<(std::io::Result<Vec<Injected>>, Lab)>>,
}

impl Script {
    fn start(lab: Lab, t0: Instant, done: UnboundedSender<()>) -> Script {
        let abort = Arc::new(AtomicBool::new(false));
        let flag = abort.clone();
        let handle = std::thread::spawn(move || {
            let r = scenarios::run(&lab, t0, &flag, &|m| {
                say(format!("[+{:>4.1}s] {m}", t0.elapsed().as_secs_f64()))
            });
            // Tells the capture loop the script is over.
            let _ = done.send(());
            (r, lab)
        });
        Script {
            abort,
            handle: Some(handle),
        }
    }

    /// Stops the script (if still running) and returns what it injected, and its peers.
    fn finish(mut self) -> anyhow::Result<(Vec<Injected>, Lab)> {
        self.abort.store(true, Ordering::Relaxed);
        let h = self
            .handle
            .take()
            .context("the fault script already ended")?;
        let (r, lab) = h
            .join()
            .map_err(|_| anyhow::anyhow!("the fault script panicked"))?;
        Ok((r.context("injecting a fault")?, lab))
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        self.abort.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn say(m: String) {
    eprintln!("hbwatch demo: {m}");
}

/// The text report of `path`, exactly as `hbwatch report PATH` prints it.
fn report(path: &Path) -> Result<(), Failure> {
    crate::commands::report::run(crate::cli::args::ReportArgs::of(path.to_owned()))
}

/// Root, `ip` and `nft`: without them the demo cannot build its lab.
fn preflight() -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!(
            "the demo needs root (it creates network namespaces and loads eBPF); run it with sudo"
        );
    }
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] {
        if find_in_path(tool).is_none() {
            anyhow::bail!("the demo needs `{tool}`; install the {package} package");
        }
    }
    Ok(())
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
