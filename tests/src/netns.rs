//! Network namespaces joined by a veth pair, made and removed by the test that uses them.

use std::{
    os::fd::AsRawFd as _,
    process::{Command, Output},
};

/// Two namespaces `<tag>-a` and `<tag>-b`, joined by a veth pair with addresses
/// 10.199.<n>.1 (a) and 10.199.<n>.2 (b). Removed on drop.
pub struct NetnsPair {
    pub a: String,
    pub b: String,
    pub a_ip: String,
    pub b_ip: String,
    /// The veth end inside `b` (receiver side), e.g. for per-device filtering.
    pub b_dev: String,
}

pub fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl NetnsPair {
    /// `tag` must be unique per test (it names the namespaces); `n` picks the /24 (1..=254).
    pub fn new(tag: &str, n: u8) -> NetnsPair {
        let (a, b) = (format!("{tag}-a"), format!("{tag}-b"));
        // Leftovers from a killed earlier run of the same test.
        for ns in [&a, &b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let pair = NetnsPair {
            a_ip: format!("10.199.{n}.1"),
            b_ip: format!("10.199.{n}.2"),
            b_dev: "veth-b".into(),
            a,
            b,
        };
        run(&["ip", "netns", "add", &pair.a]);
        run(&["ip", "netns", "add", &pair.b]);
        run(&[
            "ip", "-n", &pair.a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b",
            "netns", &pair.b,
        ]);
        run(&[
            "ip",
            "-n",
            &pair.a,
            "addr",
            "add",
            &format!("{}/24", pair.a_ip),
            "dev",
            "veth-a",
        ]);
        run(&[
            "ip",
            "-n",
            &pair.b,
            "addr",
            "add",
            &format!("{}/24", pair.b_ip),
            "dev",
            "veth-b",
        ]);
        for (ns, dev) in [(&pair.a, "veth-a"), (&pair.b, "veth-b")] {
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }

    /// A command that runs inside namespace `ns`.
    pub fn exec(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Runs `f` on a new thread that has entered network namespace `ns` (setns affects only the
/// calling thread), and returns its result. Sockets made there stay in that namespace.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: a valid namespace fd; CLONE_NEWNET moves only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("thread in netns panicked")
}
