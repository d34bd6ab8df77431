//! How this kernel runs packet receive work: NET_RX in softirq context (the classic model),
//! threaded NAPI (`napi/DEV-N` kthreads, /sys/class/net/DEV/threaded = 1, since 5.12), or
//! PREEMPT_RT (softirqs and IRQ handlers in threads). In the threaded models the receive delay is
//! the wake-up→run time of those threads, so their PIDs join the scheduling-delay watch list.

use super::host::HostRoot;
use crate::recording::records::{RxModel, RxThread, RxThreadKind};

/// Reads the model: `/sys/kernel/realtime`, each interface's `threaded`, and the receive
/// threads by name from /proc (kernel threads live in the initial PID namespace, so NAPI threads
/// of devices in other network namespaces are found too).
pub fn read(host: &HostRoot, at_mono_ns: u64) -> RxModel {
    let preempt_rt =
        std::fs::read_to_string(host.path("sys/kernel/realtime")).is_ok_and(|s| s.trim() == "1");
    let mut threaded_devices = Vec::new();
    let mut interfaces = Vec::new();
    if let Ok(entries) = std::fs::read_dir(host.path("sys/class/net")) {
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if std::fs::read_to_string(e.path().join("threaded")).is_ok_and(|s| s.trim() == "1") {
                threaded_devices.push(name.clone());
            }
            if name != "lo" {
                interfaces.push(name);
            }
        }
    }
    threaded_devices.sort();
    let mut threads = Vec::new();
    if let Ok(entries) = std::fs::read_dir(host.path("proc")) {
        for e in entries.filter_map(|e| e.ok()) {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) else {
                continue;
            };
            let actions = irq_actions(host, comm.trim());
            if let Some(kind) = classify(comm.trim(), preempt_rt, &actions, &interfaces) {
                threads.push(RxThread {
                    pid,
                    comm: comm.trim().to_owned(),
                    kind,
                });
            }
        }
    }
    threads.sort_by_key(|t| t.pid);
    // Room for the processes the user asked to watch (the in-kernel watch set holds 256).
    threads.truncate(MAX_RX_THREADS);
    RxModel {
        at_mono_ns,
        preempt_rt,
        threaded_devices,
        threads,
    }
}

/// At most this many receive threads are watched.
const MAX_RX_THREADS: usize = 192;

/// The handler names of the IRQ an `irq/N-…` thread serves (/proc/irq/N/NAME/ directories): the
/// thread's own name is cut at 15 bytes.
fn irq_actions(host: &HostRoot, comm: &str) -> Vec<String> {
    let Some(n) = comm
        .strip_prefix("irq/")
        .and_then(|r| r.split('-').next())
        .and_then(|n| n.parse::<u32>().ok())
    else {
        return Vec::new();
    };
    std::fs::read_dir(host.path(&format!("proc/irq/{n}")))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Which receive thread a kernel thread is: ksoftirqd/N always, napi/DEV-ID (threaded NAPI),
/// and on PREEMPT_RT the threaded handler of a NIC IRQ: one whose handler (`actions`) names an
/// interface or a virtio-net receive queue (`virtioN-input.Q`).
fn classify(
    comm: &str,
    preempt_rt: bool,
    actions: &[String],
    interfaces: &[String],
) -> Option<RxThreadKind> {
    if comm.starts_with("ksoftirqd/") {
        return Some(RxThreadKind::Ksoftirqd);
    }
    if comm.starts_with("napi/") {
        return Some(RxThreadKind::Napi);
    }
    if !preempt_rt || !comm.starts_with("irq/") {
        return None;
    }
    actions
        .iter()
        .any(|a| {
            (a.starts_with("virtio") && a.contains("-input"))
                || interfaces.iter().any(|i| a.starts_with(i.as_str()))
        })
        .then_some(RxThreadKind::IrqThread)
}

/// The threads whose scheduling delay is the receive delay in this model: none in the classic
/// model (the softirq probe measures it), else the NAPI threads, ksoftirqd and (RT) IRQ threads.
pub fn threads_to_watch(m: &RxModel) -> Vec<u32> {
    if !m.is_threaded() {
        return Vec::new();
    }
    m.threads.iter().map(|t| t.pid).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_receive_threads() {
        let nics = vec!["eth0".to_owned()];
        let none: Vec<String> = Vec::new();
        let act = |a: &str| vec![a.to_owned()];
        assert_eq!(
            classify("ksoftirqd/3", false, &none, &nics),
            Some(RxThreadKind::Ksoftirqd)
        );
        assert_eq!(
            classify("napi/eth0-8193", false, &none, &nics),
            Some(RxThreadKind::Napi)
        );
        let rx = Some(RxThreadKind::IrqThread);
        assert_eq!(
            classify("irq/34-virtio4-", true, &act("virtio4-input.0"), &nics),
            rx
        );
        assert_eq!(
            classify("irq/35-virtio4-", true, &act("virtio4-output.0"), &nics),
            None
        );
        assert_eq!(
            classify("irq/61-eth0-TxR", true, &act("eth0-TxRx-0"), &nics),
            rx
        );
        assert_eq!(classify("irq/9-acpi", true, &act("acpi"), &nics), None);
        // Threaded IRQs of a non-RT kernel are not where its receive work runs.
        assert_eq!(
            classify("irq/61-eth0-TxR", false, &act("eth0-TxRx-0"), &nics),
            None
        );
        assert_eq!(classify("kworker/0:1", true, &none, &nics), None);
    }

    #[test]
    fn model_from_a_fake_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let w = |p: &str, s: &str| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, s).expect("write");
        };
        w("sys/kernel/realtime", "1\n");
        w("sys/class/net/eth0/threaded", "1\n");
        w("sys/class/net/lo/threaded", "0\n");
        w("proc/12/comm", "ksoftirqd/0\n");
        w("proc/300/comm", "napi/eth0-8193\n");
        w("proc/301/comm", "irq/45-eth0-rx\n");
        w("proc/irq/45/eth0-rx-0/spurious", "");
        w("proc/999/comm", "bash\n");
        let m = read(&HostRoot::at(root.to_owned()), 5);
        assert!(m.preempt_rt);
        assert_eq!(m.threaded_devices, vec!["eth0".to_owned()]);
        assert_eq!(threads_to_watch(&m), vec![12, 300, 301]);
        assert!(m.describe().contains("PREEMPT_RT"), "{}", m.describe());
    }
}
