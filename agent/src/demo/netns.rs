//! Network namespaces joined by a veth pair, for the demo and the tests: made on request, removed
//! on drop, named by the caller so several can exist side by side.

use std::{
    io,
    os::fd::AsRawFd as _,
    process::{Command, Output},
};

/// Two namespaces `<tag>-a` and `<tag>-b` joined by veth-a/veth-b with addresses
/// 10.199.<n>.1 (a) and 10.199.<n>.2 (b). Both are deleted when this is dropped.
pub struct NetnsPair {
    pub a: String,
    pub b: String,
    pub a_ip: String,
    pub b_ip: String,
    /// The veth end inside `b` (the receiver side).
    pub b_dev: String,
}

/// Runs a command to completion; a non-zero exit is an error carrying its stderr.
pub fn run(args: &[&str]) -> io::Result<Output> {
    let out = Command::new(args[0]).args(&args[1..]).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

impl NetnsPair {
    /// `tag` names the namespaces (unique per user of the pair); `n` picks the /24 (1..=254).
    pub fn create(tag: &str, n: u8) -> io::Result<NetnsPair> {
        let (a, b) = (format!("{tag}-a"), format!("{tag}-b"));
        // Leftovers of an earlier run that was killed.
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
        run(&["ip", "netns", "add", &pair.a])?;
        run(&["ip", "netns", "add", &pair.b])?;
        run(&[
            "ip", "-n", &pair.a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b",
            "netns", &pair.b,
        ])?;
        run(&[
            "ip",
            "-n",
            &pair.a,
            "addr",
            "add",
            &format!("{}/24", pair.a_ip),
            "dev",
            "veth-a",
        ])?;
        run(&[
            "ip",
            "-n",
            &pair.b,
            "addr",
            "add",
            &format!("{}/24", pair.b_ip),
            "dev",
            "veth-b",
        ])?;
        for (ns, dev) in [(&pair.a, "veth-a"), (&pair.b, "veth-b")] {
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }

    /// A command that runs `program` inside namespace `ns`.
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

/// Runs `f` on a new thread that has entered network namespace `ns` (setns moves only the calling
/// thread); sockets made there stay in that namespace.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || -> io::Result<T> {
        let file = std::fs::File::open(&path)?;
        // SAFETY: a valid namespace fd; CLONE_NEWNET moves only this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(f())
    })
    .join()
    .map_err(|_| io::Error::other("thread inside the namespace panicked"))?
}
