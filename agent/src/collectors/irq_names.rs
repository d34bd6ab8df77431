//! Names the lines of /proc/interrupts after the network interface and queue they serve, from
//! sysfs (each interface's MSI vectors and device name) and the drivers' naming conventions.

use std::collections::BTreeMap;

use super::host::HostRoot;
use crate::recording::records::IrqLine;

/// What sysfs says about the interfaces' interrupts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetIrqs {
    /// IRQ number → interface, from /sys/class/net/IF/device/msi_irqs.
    pub by_irq: BTreeMap<u32, String>,
    /// Device name → interface: "virtio2" (virtio-net) or "0000:3b:00.0" (a PCI function), the
    /// last part of /sys/class/net/IF/device.
    pub by_device: BTreeMap<String, String>,
    /// Interfaces with a device of their own (not lo, bridges, veths).
    pub ifaces: Vec<String>,
}

impl NetIrqs {
    /// Reads /sys/class/net under `root`; empty when sysfs is not there.
    pub fn read(root: &HostRoot) -> Self {
        let mut n = NetIrqs::default();
        for iface in root.list("sys/class/net") {
            let Ok(dev) = std::fs::read_link(root.path(&format!("sys/class/net/{iface}/device")))
            else {
                continue;
            };
            if let Some(d) = dev.file_name() {
                n.by_device
                    .insert(d.to_string_lossy().into_owned(), iface.clone());
            }
            for irq in super::irq::msi_irqs(root, &iface) {
                n.by_irq.insert(irq, iface.clone());
            }
            n.ifaces.push(iface);
        }
        n
    }

    /// The interface a driver's name token refers to: an interface name ("eth0"), a device name
    /// ("virtio2", "pci:0000:3b:00.0") or either after the driver's prefix ("ice-eth0").
    fn iface_of(&self, token: &str) -> Option<String> {
        let bare = token.strip_prefix("pci:").unwrap_or(token);
        let after_driver = token.split_once('-').map(|(_, rest)| rest);
        [Some(token), Some(bare), after_driver]
            .into_iter()
            .flatten()
            .find_map(|t| {
                self.ifaces
                    .iter()
                    .find(|i| *i == t)
                    .or_else(|| self.by_device.get(t))
                    .cloned()
            })
    }
}

/// Numbered lines of /proc/interrupts with their action names, and the interface queue each
/// serves when sysfs or the driver's name says so.
pub fn parse_interrupts(text: &str, net: &NetIrqs) -> Vec<IrqLine> {
    let mut lines = text.lines();
    let cpus = lines
        .next()
        .map(|h| h.split_whitespace().count())
        .unwrap_or(0);
    lines
        .filter_map(|l| {
            let (num, rest) = l.trim_start().split_once(':')?;
            let irq: u32 = num.trim().parse().ok()?;
            // After the per-CPU counts: chip, hwirq/trigger words, then the action name(s).
            let words: Vec<&str> = rest.split_whitespace().skip(cpus).collect();
            let name = words.last()?.trim_end_matches(',').to_owned();
            let (nic, queue, role) = resolve(irq, &name, net);
            Some(IrqLine {
                irq,
                name,
                nic,
                queue,
                role,
            })
        })
        .collect()
}

/// (interface, queue, role) of one line. With sysfs, only lines that belong to an interface are
/// NIC lines: `virtio0-inflate` (balloon) or `virtio1-req.0` (block) are not, whatever the name
/// looks like. Without sysfs (a bare /proc/interrupts), the driver's name alone decides.
fn resolve(irq: u32, name: &str, net: &NetIrqs) -> (Option<String>, Option<u32>, Option<String>) {
    let parsed = queue_name(name);
    let by_irq = net.by_irq.get(&irq).cloned();
    let by_name = parsed.as_ref().and_then(|p| net.iface_of(&p.token));
    let Some(iface) = by_irq.or(by_name) else {
        if !net.ifaces.is_empty() {
            return (None, None, None);
        }
        return match parsed {
            Some(p) if p.certain => (Some(p.token), p.queue, Some(p.role.to_owned())),
            _ => (None, None, None),
        };
    };
    let (queue, role) = parsed.map_or((None, "other"), |p| (p.queue, p.role));
    (Some(iface), queue, Some(role.to_owned()))
}

struct QueueName {
    /// What names the device: "virtio2", "eth0", "pci:0000:3b:00.0", "ice-eth0".
    token: String,
    queue: Option<u32>,
    /// "rx", "tx", "rxtx" or "other".
    role: &'static str,
    /// The name alone says this is a network queue (not only a device of some kind).
    certain: bool,
}

/// Reads the driver's naming: virtio-net `virtio2-input.0`/`output.0`/`control` (other virtio
/// devices use `-config`, `-inflate`, `-req.0`, `-rx`), ixgbe/i40e/ice `eth0-TxRx-3`,
/// `ice-eth0-TxRx-0`, ena `ens5-Tx-Rx-0`, `eth0-rx-1`, mlx5 `mlx5_comp2@pci:0000:3b:00.0`.
fn queue_name(name: &str) -> Option<QueueName> {
    let q = |s: &str| s.parse().ok();
    if name.starts_with("virtio")
        && let Some((dev, rest)) = name.split_once('-')
    {
        let (kind, n) = rest.split_once('.').unwrap_or((rest, ""));
        // virtio-net numbers its queues ("input.0"); a bare "-input" is another device.
        let numbered = !n.is_empty();
        let (role, certain) = match kind {
            "input" => ("rx", numbered),
            "output" => ("tx", numbered),
            "control" => ("other", true),
            _ => ("other", false),
        };
        return Some(QueueName {
            token: dev.to_owned(),
            queue: q(n),
            role,
            certain,
        });
    }
    if let Some(rest) = name.strip_prefix("mlx5_") {
        let (kind, dev) = rest.split_once('@').unwrap_or((rest, "mlx5"));
        let n = kind.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        let comp = kind.starts_with("comp");
        return Some(QueueName {
            token: dev.to_owned(),
            queue: if comp { q(n) } else { None },
            role: if comp { "rxtx" } else { "other" },
            certain: true,
        });
    }
    let lower = name.to_ascii_lowercase();
    for (tag, role) in [
        ("-txrx-", "rxtx"),
        ("-tx-rx-", "rxtx"),
        ("-rx-", "rx"),
        ("-tx-", "tx"),
    ] {
        if let Some(pos) = lower.find(tag) {
            return Some(QueueName {
                token: name[..pos].to_owned(),
                queue: q(&name[pos + tag.len()..]),
                role,
                certain: true,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This VM's /proc/interrupts: balloon (virtio0), block (virtio1), net (virtio2), vsock
    /// (virtio3), input (virtio4).
    const VM: &str = "           CPU0       CPU1
 26:          0         14  IO-APIC   4-edge      ttyS0
 29:          0          0 PCI-MSIX-0000:00:01.0   1-edge      virtio0-inflate
 31:          0         46 PCI-MSIX-0000:00:01.0   3-edge      virtio0-stats
 34:         16          0 PCI-MSIX-0000:00:05.0   1-edge      virtio4-input
 36:          0      42708 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0
 37:          0          0 PCI-MSIX-0000:00:03.0   0-edge      virtio2-config
 38:          0       5372 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0
 39:       4198          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0
 41:       1560          0 PCI-MSIX-0000:00:04.0   1-edge      virtio3-rx
 40:          5          7   IR-PCI-MSI 524289-edge      eth2-TxRx-3
 42:          5          7   IR-PCI-MSI 524290-edge      mlx5_comp2@pci:0000:3b:00.0
 43:          5          7   IR-PCI-MSI 524291-edge      ice-ens1f0-TxRx-0
NMI:          0          0   Non-maskable interrupts
";

    /// A sysfs tree like this VM's: eth0 → virtio2 under PCI 0000:00:03.0 (MSI 37-39), plus a
    /// PCI NIC ens2f0 at 0000:3b:00.0 without MSI files, and ens1f0.
    fn sysfs() -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tempdir");
        let p = |rel: &str| t.path().join(rel);
        let pci = p("sys/devices/pci0000:00/0000:00:03.0");
        std::fs::create_dir_all(pci.join("virtio2")).expect("virtio dir");
        std::fs::create_dir_all(pci.join("msi_irqs")).expect("msi dir");
        for irq in ["37", "38", "39"] {
            std::fs::write(pci.join("msi_irqs").join(irq), "msix\n").expect("msi file");
        }
        std::fs::create_dir_all(p("sys/devices/pci0000:3b/0000:3b:00.0")).expect("pci dir");
        std::fs::create_dir_all(p("sys/devices/pci0000:17/0000:17:00.0")).expect("pci dir");
        std::fs::create_dir_all(p("sys/class/net/lo")).expect("lo");
        for (iface, dev) in [
            ("eth0", "../../../devices/pci0000:00/0000:00:03.0/virtio2"),
            ("ens2f0", "../../../devices/pci0000:3b/0000:3b:00.0"),
            ("ens1f0", "../../../devices/pci0000:17/0000:17:00.0"),
        ] {
            std::fs::create_dir_all(p(&format!("sys/class/net/{iface}"))).expect("iface");
            std::os::unix::fs::symlink(dev, p(&format!("sys/class/net/{iface}/device")))
                .expect("device link");
        }
        t
    }

    fn line(l: &[IrqLine], irq: u32) -> (Option<&str>, Option<u32>, Option<&str>) {
        let x = l.iter().find(|x| x.irq == irq).expect("line");
        (x.nic.as_deref(), x.queue, x.role.as_deref())
    }

    #[test]
    fn sysfs_names_the_interface_and_only_nic_lines_are_nic() {
        let t = sysfs();
        let net = NetIrqs::read(&HostRoot::at(t.path().to_owned()));
        assert_eq!(
            net.by_irq.get(&38).map(String::as_str),
            Some("eth0"),
            "{net:?}"
        );
        let l = parse_interrupts(VM, &net);
        assert_eq!(line(&l, 38), (Some("eth0"), Some(0), Some("rx")));
        assert_eq!(line(&l, 39), (Some("eth0"), Some(0), Some("tx")));
        assert_eq!(line(&l, 37), (Some("eth0"), None, Some("other")));
        for not_nic in [26, 29, 31, 34, 36, 41] {
            assert_eq!(line(&l, not_nic), (None, None, None), "irq {not_nic}");
        }
        // eth2 is not an interface here: a name alone does not make a NIC when sysfs answers.
        assert_eq!(line(&l, 40), (None, None, None));
        assert_eq!(line(&l, 42), (Some("ens2f0"), Some(2), Some("rxtx")));
        assert_eq!(line(&l, 43), (Some("ens1f0"), Some(0), Some("rxtx")));
    }

    #[test]
    fn without_sysfs_only_network_driver_names_count() {
        let l = parse_interrupts(VM, &NetIrqs::default());
        assert_eq!(l.len(), 12, "NMI is not a numbered line: {l:?}");
        assert_eq!(line(&l, 38), (Some("virtio2"), Some(0), Some("rx")));
        for not_nic in [26, 29, 31, 34, 36, 37, 41] {
            assert_eq!(line(&l, not_nic), (None, None, None), "irq {not_nic}");
        }
        assert_eq!(line(&l, 40), (Some("eth2"), Some(3), Some("rxtx")));
        assert_eq!(
            line(&l, 42),
            (Some("pci:0000:3b:00.0"), Some(2), Some("rxtx"))
        );
    }

    /// On this host: every interface with MSI vectors names the lines of /proc/interrupts that
    /// carry them, and no line of another device is called a NIC line.
    #[test]
    fn live_host_lines_name_their_interface() {
        let root = HostRoot::default();
        let net = NetIrqs::read(&root);
        if net.by_irq.is_empty() {
            eprintln!("SKIP live_host_lines_name_their_interface: no interface with msi_irqs here");
            return;
        }
        let text = root.read("proc/interrupts").expect("/proc/interrupts");
        let lines = parse_interrupts(&text, &net);
        for l in &lines {
            match net.by_irq.get(&l.irq) {
                Some(iface) => assert_eq!(l.nic.as_deref(), Some(iface.as_str()), "{l:?}"),
                None => assert!(
                    l.nic.as_ref().is_none_or(|n| net.ifaces.contains(n)),
                    "{l:?} names no interface of this host"
                ),
            }
        }
    }
}
