//! Background UDP traffic across a [`crate::netns::NetnsPair`], so probes see real NET_RX work.

use std::{
    net::UdpSocket,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use crate::netns::{NetnsPair, in_netns};

/// Sends UDP datagrams from namespace `a` to `b` until dropped.
pub struct UdpLoad {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl UdpLoad {
    /// `pause` between datagrams (zero floods); `port` must be unique to the test.
    pub fn start(pair: &NetnsPair, port: u16, pause: Duration) -> UdpLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (ns, dst) = (pair.a.clone(), format!("{}:{port}", pair.b_ip));
        let (st, se) = (stop.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            in_netns(&ns, move || {
                let s = UdpSocket::bind("0.0.0.0:0").expect("bind sender");
                while !st.load(Ordering::Relaxed) {
                    if s.send_to(&[7u8; 200], &dst).is_ok() {
                        se.fetch_add(1, Ordering::Relaxed);
                    }
                    if !pause.is_zero() {
                        std::thread::sleep(pause);
                    }
                }
            })
        });
        UdpLoad {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for UdpLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
