//! The faults a daemon test injects on the local node: nftables drops, SIGSTOP of either side,
//! and a flood that overflows the daemon's receive buffer; each returns what proves it happened.

use std::{path::Path, time::Duration};

use hbwatch::demo::lab::Peer;
use regex::Regex;

use super::{Cluster, signal, stat_field};
use crate::{hbwatch_bin, netns::NetnsPair};

/// What a fault does, on the local node `<tag>-b` unless it says otherwise.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// nftables input rules in the local namespace dropping what each match matches
    /// (e.g. `udp dport 5405`, or `iifname != "lo"` for everything).
    Drop(&'static [&'static str]),
    /// SIGSTOP of the peer's heartbeat process.
    StopPeer,
    /// SIGSTOP of the local daemon's heartbeat process.
    StopLocal,
    /// Junk datagrams from the peer's namespace to this UDP port on the local node, as fast as
    /// two `hbwatch demo-peer send --every 0s` go: the daemon's receive buffer overflows and its
    /// heartbeats are dropped with the others.
    Flood(u16),
}

pub struct Fault {
    pub name: &'static str,
    pub action: Action,
    /// How long the fault lasts, and how long the cluster is then left to recover.
    pub hold: Duration,
    pub settle: Duration,
    /// The top cause the incident must have.
    pub cause: &'static str,
    /// A line the local daemon must print in the window, proving it saw the fault.
    pub shows: Option<&'static str>,
}

impl Fault {
    pub fn new(name: &'static str, action: Action, secs: (u64, u64)) -> Fault {
        let cause = match action {
            Action::Drop(_) => "netfilter_drop",
            Action::StopPeer => "peer_or_upstream",
            Action::StopLocal => "app_stall",
            Action::Flood(_) => "socket_rcvbuf_overflow",
        };
        Fault {
            name,
            action,
            hold: Duration::from_secs(secs.0),
            settle: Duration::from_secs(secs.1),
            cause,
            shows: None,
        }
    }

    pub fn shows(self, re: &'static str) -> Fault {
        Fault {
            shows: Some(re),
            ..self
        }
    }
}

/// The output of a command in namespace `ns`, or why it failed.
fn in_ns(ns: &str, program: &str, args: &[&str]) -> Result<String, String> {
    let out = NetnsPair::exec(ns, program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const NFT_TABLE: &str = "hbd_fault";

fn nft_add(ns: &str, matches: &[&str], dir: &Path) {
    let rules: String = matches
        .iter()
        .map(|m| format!("  {m} counter drop\n"))
        .collect();
    let script = format!(
        "table inet {NFT_TABLE} {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n{rules} }}\n}}\n"
    );
    let path = dir.join(format!("{NFT_TABLE}.nft"));
    std::fs::write(&path, script).expect("nft script");
    in_ns(ns, "nft", &["-f", &path.to_string_lossy()]).unwrap_or_else(|e| panic!("{e}"));
}

/// Deletes the fault table; returns how many packets it dropped.
fn nft_del(ns: &str) -> Result<u64, String> {
    let list = in_ns(ns, "nft", &["list", "table", "inet", NFT_TABLE])?;
    in_ns(ns, "nft", &["delete", "table", "inet", NFT_TABLE])?;
    Ok(Regex::new(r"counter packets (\d+)")
        .expect("counter pattern")
        .captures_iter(&list)
        .filter_map(|c| c[1].parse::<u64>().ok())
        .sum())
}

/// `Udp: … RcvbufErrors` of namespace `ns`.
fn udp_rcvbuf_errors(ns: &str) -> Result<u64, String> {
    let snmp = in_ns(ns, "cat", &["/proc/net/snmp"])?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next(), udp.next());
    names
        .zip(values)
        .and_then(|(n, v)| {
            let i = n.split(' ').position(|c| c == "RcvbufErrors")?;
            v.split(' ').nth(i)?.parse().ok()
        })
        .ok_or_else(|| format!("no Udp RcvbufErrors in {ns}'s /proc/net/snmp"))
}

impl Cluster {
    /// Injects `f`, holds it, undoes it; returns what proves it happened.
    pub(super) fn inject(&mut self, f: &Fault) -> Result<String, String> {
        let ns = self.pair.b.clone();
        match f.action {
            Action::Drop(rules) => {
                nft_add(&ns, rules, self.dir.path());
                std::thread::sleep(f.hold);
                match nft_del(&ns)? {
                    0 => Err(format!("{rules:?} dropped no packet")),
                    n => Ok(format!("{rules:?} dropped {n} packets")),
                }
            }
            Action::Flood(port) => {
                let before = udp_rcvbuf_errors(&ns)?;
                let to = format!("{}:{port}", self.pair.b_ip);
                let ms = format!("{}ms", f.hold.as_millis());
                // Two senders: one alone does not always keep a fast reader's buffer full
                // (memberlist then loses no probe, and the daemon sees no fault).
                let mut floods = Vec::new();
                for _ in 0..2 {
                    floods.push(
                        Peer::spawn(
                            &hbwatch_bin(),
                            &self.pair.a,
                            &["send", &to, "--every", "0s", "--for", &ms],
                            "flood",
                        )
                        .map_err(|e| format!("starting the flood: {e}"))?,
                    );
                }
                std::thread::sleep(f.hold);
                drop(floods);
                match udp_rcvbuf_errors(&ns)? - before {
                    0 => Err(format!("the flood to {to} overflowed no receive buffer")),
                    n => Ok(format!("the flood to {to} made {n} receive-buffer drops")),
                }
            }
            Action::StopPeer | Action::StopLocal => {
                let i = if matches!(f.action, Action::StopPeer) {
                    self.peer
                } else {
                    self.local
                };
                let pid = self.daemons[i].worker;
                assert!(signal(pid, libc::SIGSTOP), "SIGSTOP {pid}");
                std::thread::sleep(Duration::from_millis(200));
                let state = stat_field(pid, 3);
                std::thread::sleep(f.hold.saturating_sub(Duration::from_millis(200)));
                assert!(signal(pid, libc::SIGCONT), "SIGCONT {pid}");
                match state.as_deref() {
                    Some("T") => Ok(format!("{} (pid {pid}) was stopped", self.daemons[i].name)),
                    s => Err(format!("pid {pid} was in state {s:?}, not stopped")),
                }
            }
        }
    }
}
