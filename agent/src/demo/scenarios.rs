//! The demo's fault script: normal heartbeat traffic, then a receive-buffer overflow, a receiver
//! stall and a firewall drop in turn, each followed by normal traffic; stops early on request.

use std::{
    io,
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use super::lab::{NftDrop, Peer};

/// How long each fault lasts, and the normal traffic before, between and after them.
pub const FAULT: Duration = Duration::from_millis(1500);
pub const CALM: Duration = Duration::from_secs(3);

/// The demo's peers and where they are.
pub struct Lab {
    pub bin: PathBuf,
    /// Namespaces of the sender (`a`) and the receiver (`b`), and the receiver's address.
    pub a: String,
    pub b: String,
    pub b_ip: String,
    pub port: u16,
    pub recv: Peer,
    pub send: Peer,
}

/// One injected fault, for the closing summary.
pub struct Injected {
    pub what: &'static str,
    pub at: Duration,
    pub length: Duration,
}

/// Runs the script; `say` prints progress; `t0` is the recording start. Returns early (with
/// what was injected so far) once `abort` is set; every fault is undone before returning.
pub fn run(
    lab: &Lab,
    t0: Instant,
    abort: &AtomicBool,
    say: &dyn Fn(String),
) -> io::Result<Vec<Injected>> {
    let mut done = Vec::new();
    let at = |t0: Instant| t0.elapsed();
    say(format!(
        "normal traffic: a heartbeat every 100 ms from {} to {}:{} ({} s)",
        lab.a,
        lab.b_ip,
        lab.port,
        CALM.as_secs()
    ));
    if !pause(CALM, abort) {
        return Ok(done);
    }

    let start = at(t0);
    say(format!(
        "fault 1/3: receive-buffer overflow — a flood to port {} while the receiver (small \
         SO_RCVBUF, slow reads) falls behind, for {:.1} s",
        lab.port,
        FAULT.as_secs_f64()
    ));
    {
        let to = format!("{}:{}", lab.b_ip, lab.port);
        let f = format!("{}ms", FAULT.as_millis());
        let _flood = Peer::spawn(
            &lab.bin,
            &lab.a,
            &["send", &to, "--every", "0s", "--for", &f],
            "flood",
        )?;
        let ok = pause(FAULT, abort);
        done.push(Injected {
            what: "receive-buffer overflow",
            at: start,
            length: at(t0) - start,
        });
        if !ok {
            return Ok(done);
        }
    }
    say(format!("normal traffic ({} s)", CALM.as_secs()));
    if !pause(CALM, abort) {
        return Ok(done);
    }

    let start = at(t0);
    say(format!(
        "fault 2/3: receiver stall — SIGSTOP to the receiver (pid {}) for {:.1} s",
        lab.recv.pid(),
        FAULT.as_secs_f64()
    ));
    lab.recv.stop()?;
    let ok = pause(FAULT, abort);
    lab.recv.resume()?;
    done.push(Injected {
        what: "receiver stall",
        at: start,
        length: at(t0) - start,
    });
    if !ok {
        return Ok(done);
    }
    say(format!("SIGCONT; normal traffic ({} s)", CALM.as_secs()));
    if !pause(CALM, abort) {
        return Ok(done);
    }

    let start = at(t0);
    say(format!(
        "fault 3/3: firewall drop — nftables in {} drops udp dport {} for {:.1} s",
        lab.b,
        lab.port,
        FAULT.as_secs_f64()
    ));
    {
        let _rule = NftDrop::add(&lab.b, "hbwatch_demo", lab.port)?;
        let ok = pause(FAULT, abort);
        done.push(Injected {
            what: "firewall drop",
            at: start,
            length: at(t0) - start,
        });
        if !ok {
            return Ok(done);
        }
    }
    say(format!(
        "rule removed; normal traffic ({} s)",
        CALM.as_secs()
    ));
    pause(CALM, abort);
    Ok(done)
}

/// Sleeps `d` in small steps; false when `abort` was set meanwhile.
fn pause(d: Duration, abort: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if abort.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
    }
    !abort.load(Ordering::Relaxed)
}
