//! The lab guest's UDP tools (`xtask lab-udp`, copied into the guest): a heartbeat receiver that
//! counts lost sequence numbers and the longest silence, and a sink that drains the bulk flows.

use std::{
    net::UdpSocket,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

/// What a receiver saw: sequence numbers arrive in order from one sender.
#[derive(Debug, Default, PartialEq)]
pub struct Tally {
    pub received: u64,
    pub first: Option<u32>,
    pub last: u32,
    pub max_gap: Duration,
}

impl Tally {
    pub fn add(&mut self, seq: u32, since_last: Option<Duration>) {
        self.received += 1;
        if self.first.is_none() {
            self.first = Some(seq);
        }
        self.last = self.last.max(seq);
        if let Some(d) = since_last {
            self.max_gap = self.max_gap.max(d);
        }
    }

    /// Sequence numbers between the first and the last that never arrived.
    pub fn lost(&self) -> u64 {
        self.first.map_or(0, |f| {
            (u64::from(self.last) - u64::from(f) + 1).saturating_sub(self.received)
        })
    }

    /// The line the host parses (lab/judge.rs).
    pub fn line(&self) -> String {
        format!(
            "received={} lost={} max_gap_ms={:.1}",
            self.received,
            self.lost(),
            self.max_gap.as_secs_f64() * 1e3
        )
    }
}

/// Receives heartbeats on `port` and prints the tally of `seconds` from when `go` exists (or
/// from the start): bound before, so the recorder's start sees no refused heartbeats.
pub fn recv(port: u16, seconds: u64, go: Option<&std::path::Path>) -> Result<()> {
    let sock = UdpSocket::bind(("0.0.0.0", port)).with_context(|| format!("binding :{port}"))?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut buf = [0u8; 2048];
    // Bounded: the guest script's own wait for the recorder is shorter.
    let give_up = Instant::now() + Duration::from_secs(600);
    while go.is_some_and(|g| !g.exists()) && Instant::now() < give_up {
        let _ = sock.recv(&mut buf);
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut t = Tally::default();
    let mut prev: Option<Instant> = None;
    while Instant::now() < end {
        let Ok(n) = sock.recv(&mut buf) else {
            continue;
        };
        if n < 4 {
            continue;
        }
        let now = Instant::now();
        let seq = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        t.add(seq, prev.map(|p| now - p));
        prev = Some(now);
    }
    println!("{}", t.line());
    // Then keep the port bound (until killed) so the recorder's last seconds see no refusals.
    let linger = Instant::now() + Duration::from_secs(60);
    while Instant::now() < linger {
        let _ = sock.recv(&mut buf);
    }
    Ok(())
}

/// Reads and discards datagrams on `ports` for `seconds`, so bulk traffic reaches a socket.
pub fn sink(ports: &[u16], seconds: u64) -> Result<()> {
    let end = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = ports
        .iter()
        .map(|&p| {
            std::thread::spawn(move || -> Result<u64> {
                let s = UdpSocket::bind(("0.0.0.0", p)).with_context(|| format!("binding :{p}"))?;
                s.set_read_timeout(Some(Duration::from_millis(200)))?;
                let mut buf = [0u8; 2048];
                let mut n = 0;
                while Instant::now() < end {
                    if s.recv(&mut buf).is_ok() {
                        n += 1;
                    }
                }
                Ok(n)
            })
        })
        .collect();
    for (p, t) in ports.iter().zip(threads) {
        let n = t
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("sink thread panicked")))?;
        println!("port {p}: {n} datagrams");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_counts_missing_sequence_numbers_between_first_and_last() {
        let mut t = Tally::default();
        for (s, gap) in [(10, None), (11, Some(40)), (14, Some(160)), (15, Some(40))] {
            t.add(s, gap.map(Duration::from_millis));
        }
        assert_eq!(t.lost(), 2);
        assert_eq!(t.max_gap, Duration::from_millis(160));
        assert_eq!(t.line(), "received=4 lost=2 max_gap_ms=160.0");
        assert_eq!(Tally::default().lost(), 0);
    }
}
