//! The lab's host side: a throwaway network namespace holding two `multi_queue` taps (one per
//! guest NIC, 4 queues each), and the traffic sent from it into the guest: a UDP heartbeat with
//! sequence numbers and two bulk flows. Everything stays inside that namespace.

use std::{
    net::{SocketAddrV4, UdpSocket},
    os::fd::AsRawFd as _,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

/// Queues per tap and per guest NIC.
pub const QUEUES: u32 = 4;
/// The heartbeat port the guest receives on and hbwatch watches.
pub const HB_PORT: u16 = 5405;
/// Bulk flows' ports, one per guest NIC.
pub const BULK_PORTS: [u16; 2] = [6000, 6001];
/// Packets each tap queue holds for the guest before it drops (tx_dropped).
pub const TAP_QUEUE_LEN: u32 = 48;
/// Bulk flows to NIC 0 (a quarter of them to NIC 1): enough that every queue gets several, so
/// whichever queue the heartbeat hashes to is a busy one.
pub const BULK_FLOWS: u32 = 32;

/// Guest NIC `i`: its tap, the host's address on it, the guest's address and MAC.
pub struct Link {
    pub tap: String,
    pub host: [u8; 4],
    pub guest: [u8; 4],
    pub mac: String,
}

/// 198.18.0.0/15 is the benchmarking range: nothing real lives there.
pub fn links() -> Vec<Link> {
    (0..2u8)
        .map(|i| Link {
            tap: format!("hbwtap{i}"),
            host: [198, 18, 10 + i, 1],
            guest: [198, 18, 10 + i, 2],
            mac: format!("52:54:00:4c:00:0{i}"),
        })
        .collect()
}

fn dotted(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

/// The namespace and its taps; deleted on drop.
pub struct Netns {
    pub name: String,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Netns {
    pub fn create() -> Result<Netns> {
        let name = format!("hbwlab{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        let n = ns.name.as_str();
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        for l in links() {
            let host = format!("{}/24", dotted(l.host));
            ip(&[
                "-n",
                n,
                "tuntap",
                "add",
                "dev",
                &l.tap,
                "mode",
                "tap",
                "multi_queue",
            ])?;
            ip(&["-n", n, "addr", "add", &host, "dev", &l.tap])?;
            // A short tap queue (per queue; 1000 by default) so that a guest that stops polling
            // loses heartbeats within a second rather than holding them.
            ip(&[
                "-n",
                n,
                "link",
                "set",
                &l.tap,
                "txqueuelen",
                &TAP_QUEUE_LEN.to_string(),
                "up",
            ])?;
            // The guest never needs to answer ARP: its only traffic is received.
            ip(&[
                "-n",
                n,
                "neigh",
                "replace",
                &dotted(l.guest),
                "lladdr",
                &l.mac,
                "dev",
                &l.tap,
                "nud",
                "permanent",
            ])?;
        }
        Ok(ns)
    }

    /// QEMU's NIC arguments: each tap with its queues, a virtio-net with RSS and one MSI-X
    /// vector per queue (2 per pair, plus config and control).
    pub fn qemu_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        for (i, l) in links().iter().enumerate() {
            a.push("-netdev".into());
            a.push(format!(
                "tap,id=n{i},ifname={},script=no,downscript=no,queues={QUEUES},vhost=off",
                l.tap
            ));
            a.push("-device".into());
            a.push(format!(
                "virtio-net-pci,netdev=n{i},mac={},mq=on,vectors={},rss=on,hash=on",
                l.mac,
                2 * QUEUES + 2
            ));
        }
        a
    }

    pub fn launcher(&self) -> Vec<String> {
        vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.name.clone(),
        ]
    }

    /// The tap's tx_dropped: packets for the guest that QEMU did not take (the guest's RX ring
    /// was full). `None` when it cannot be read.
    pub fn tap_tx_dropped(&self, tap: &str) -> Option<u64> {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-s", "-j", "link", "show", tap])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v.get(0)?
            .get("stats64")?
            .get("tx")?
            .get("dropped")?
            .as_u64()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Heartbeats and bulk flows sent until dropped.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<u64>>>,
}

/// Sent by a thread that entered the namespace (setns is per thread).
fn in_netns(ns: &str) -> Result<()> {
    let f = std::fs::File::open(format!("/run/netns/{ns}"))
        .with_context(|| format!("opening /run/netns/{ns}"))?;
    // SAFETY: setns on an open namespace file; it changes only this thread's namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns {ns}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Sends one datagram of `size` bytes on each of `sockets` sockets every `tick` to `to` until
/// `stop`; the first 4 bytes carry a per-socket sequence number. Returns how many were sent.
fn sender(
    ns: String,
    to: SocketAddrV4,
    tick: Duration,
    sockets: u32,
    size: usize,
    stop: Arc<AtomicBool>,
) -> Result<u64> {
    in_netns(&ns)?;
    // Each socket has its own source port, so its own flow hash and queue.
    let socks = (0..sockets)
        .map(|_| UdpSocket::bind("0.0.0.0:0").context("binding a UDP socket"))
        .collect::<Result<Vec<_>>>()?;
    let mut buf = vec![0u8; size.max(4)];
    let start = Instant::now();
    let (mut seq, mut ticks, mut sent) = (0u32, 0u32, 0u64);
    while !stop.load(Ordering::Relaxed) {
        buf[..4].copy_from_slice(&seq.to_le_bytes());
        for s in &socks {
            // The guest's NIC may not be up yet, or its tap full: a failed send is the loss
            // being measured, not an error.
            let _ = s.send_to(&buf, to);
            sent += 1;
        }
        seq = seq.wrapping_add(1);
        ticks += 1;
        // Paced against the start, so a late wake-up does not slow the rate down.
        let next = start + tick * ticks;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    Ok(sent)
}

impl Traffic {
    /// A `hb_per_s` heartbeat to guest NIC 0, and `bulk_per_s` to it in [`BULK_FLOWS`] flows; a
    /// quarter of both to NIC 1.
    pub fn start(ns: &Netns, hb_per_s: u32, bulk_per_s: u32) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let l = links();
        let mut flows = vec![(
            SocketAddrV4::new(l[0].guest.into(), HB_PORT),
            Duration::from_secs(1) / hb_per_s.max(1),
            1,
            64,
        )];
        for (k, (link, port)) in l.iter().zip(BULK_PORTS).enumerate() {
            let (n, rate) = if k == 0 {
                (BULK_FLOWS, bulk_per_s)
            } else {
                (BULK_FLOWS / 4, bulk_per_s / 4)
            };
            let per_flow = (rate / n).max(1);
            flows.push((
                SocketAddrV4::new(link.guest.into(), port),
                Duration::from_secs(1) / per_flow,
                n,
                512,
            ));
        }
        let threads = flows
            .into_iter()
            .map(|(to, tick, sockets, size)| {
                let (ns, stop) = (ns.name.clone(), stop.clone());
                std::thread::spawn(move || sender(ns, to, tick, sockets, size, stop))
            })
            .collect();
        Traffic { stop, threads }
    }

    /// Stops the senders; the number each sent, heartbeat first.
    pub fn stop(self) -> Vec<Result<u64>> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("sender panicked")))
            })
            .collect()
    }
}

/// The taps' tx_dropped over each guest phase: the host reads the guest's result port as it
/// grows and takes the counters at each phase's BEGIN and END line.
pub struct TapWatch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(String, u64)>>,
}

/// Phase boundaries in the result port's text, fed as it grows.
#[derive(Default)]
struct Marks {
    pending: String,
    open: Option<(String, u64)>,
    out: Vec<(String, u64)>,
}

impl Marks {
    fn feed(&mut self, chunk: &str, phases: &[&str], counter: &mut dyn FnMut() -> u64) {
        self.pending.push_str(chunk);
        let Some(cut) = self.pending.rfind('\n') else {
            return;
        };
        let text: String = self.pending.drain(..=cut).collect();
        for l in text.lines() {
            if let Some(p) = l.strip_prefix("@@BEGIN ").filter(|p| phases.contains(p)) {
                self.open = Some((p.to_owned(), counter()));
            } else if let Some(rest) = l.strip_prefix("@@END ")
                && let Some((p, before)) = self.open.take()
            {
                if rest.split_whitespace().next() == Some(p.as_str()) {
                    self.out.push((p, counter().saturating_sub(before)));
                } else {
                    self.open = Some((p, before));
                }
            }
        }
    }
}

impl TapWatch {
    pub fn start(ns: &Netns, results: std::path::PathBuf, phases: &'static [&'static str]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (name, flag) = (ns.name.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            use std::io::{Read as _, Seek as _, SeekFrom};
            let ns = std::mem::ManuallyDrop::new(Netns { name });
            let mut total = || {
                links()
                    .iter()
                    .filter_map(|l| ns.tap_tx_dropped(&l.tap))
                    .sum::<u64>()
            };
            let (mut at, mut marks) = (0u64, Marks::default());
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let Ok(mut f) = std::fs::File::open(&results) else {
                    continue;
                };
                // A file shorter than what was read is a new one (the boot starts it afresh).
                if f.metadata().is_ok_and(|m| m.len() < at) {
                    (at, marks) = (0, Marks::default());
                }
                let mut chunk = Vec::new();
                if f.seek(SeekFrom::Start(at)).is_err() || f.read_to_end(&mut chunk).is_err() {
                    continue;
                }
                at += chunk.len() as u64;
                marks.feed(&String::from_utf8_lossy(&chunk), phases, &mut total);
            }
            marks.out
        });
        TapWatch { stop, thread }
    }

    /// Phase → tx_dropped of both taps during it.
    pub fn stop(self) -> Vec<(String, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Marks;

    #[test]
    fn phase_marks_take_the_counter_at_begin_and_end_across_chunks() {
        let mut m = Marks::default();
        let mut n = 0;
        let mut counter = || {
            n += 10;
            n
        };
        for chunk in [
            "@@BEGIN lab_net\n@@END lab_net 0\n@@BEG",
            "IN fault\nrx x\n@@BEGIN fault.stderr\n",
            "@@END fault 0\n",
        ] {
            m.feed(chunk, &["fault"], &mut counter);
        }
        assert_eq!(m.out, vec![("fault".to_owned(), 10)]);
    }
}
