//! Test wrappers over `hbwatch::demo::netns`: the same namespaces, with failures as panics.

use std::{ops::Deref, process::Command};

use hbwatch::demo::netns as real;

/// Runs a command to completion, panicking with its stderr when it fails.
pub fn run(args: &[&str]) -> std::process::Output {
    real::run(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Two namespaces joined by a veth pair (see `hbwatch::demo::netns::NetnsPair`); removed on drop.
pub struct NetnsPair(real::NetnsPair);

impl NetnsPair {
    /// Creates `<tag>-a` and `<tag>-b` on 10.199.<n>.0/24, panicking if it cannot.
    pub fn new(tag: &str, n: u8) -> NetnsPair {
        NetnsPair(
            real::NetnsPair::create(tag, n)
                .unwrap_or_else(|e| panic!("creating namespaces {tag}: {e}")),
        )
    }

    /// A command that runs `program` inside namespace `ns`.
    pub fn exec(ns: &str, program: &str) -> Command {
        real::NetnsPair::exec(ns, program)
    }
}

impl Deref for NetnsPair {
    type Target = real::NetnsPair;
    fn deref(&self) -> &real::NetnsPair {
        &self.0
    }
}

/// Runs `f` inside namespace `ns` on a new thread and returns its result; panics if it cannot.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    real::in_netns(ns, f).unwrap_or_else(|e| panic!("entering namespace {ns}: {e}"))
}

/// A receiver in `pair`'s `b` side bound to its address and `port`: reads up to `count`
/// datagrams (giving up after 3 s of silence) on its own thread, and returns how many it read.
pub fn udp_receiver(pair: &NetnsPair, port: u16, count: u32) -> std::thread::JoinHandle<u32> {
    let (ns, ip) = (pair.b.clone(), pair.b_ip.clone());
    std::thread::spawn(move || {
        in_netns(&ns, move || {
            let s = std::net::UdpSocket::bind(format!("{ip}:{port}")).expect("bind receiver");
            s.set_read_timeout(Some(std::time::Duration::from_secs(3)))
                .expect("timeout");
            let mut buf = [0u8; 64];
            let mut got = 0;
            while got < count && s.recv_from(&mut buf).is_ok() {
                got += 1;
            }
            got
        })
    })
}
