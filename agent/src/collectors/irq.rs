//! Which interrupts belong to each NIC, which queue each serves, and where each may and does run
//! (/sys/class/net/<if>/device/msi_irqs, /proc/interrupts, /proc/irq/N/*affinity_list).

use super::{cpu_table::CpuTable, host::HostRoot};
use crate::recording::records::{IrqKind, NicIrq};

/// The NIC's interrupts with their placement. `unreadable` collects what could not be read.
pub fn nic_irqs(
    root: &HostRoot,
    iface: &str,
    interrupts: &CpuTable,
    unreadable: &mut Vec<String>,
) -> Vec<NicIrq> {
    let mut irqs: Vec<u32> = msi_irqs(root, iface);
    if irqs.is_empty() {
        // No MSI list (legacy INTx, some virtual devices): match action names on the iface name.
        irqs = interrupts
            .rows
            .iter()
            .filter(|r| r.action().contains(iface))
            .filter_map(|r| r.key.parse().ok())
            .collect();
    }
    irqs.sort_unstable();
    irqs.dedup();
    irqs.into_iter()
        .filter_map(|irq| {
            let row = interrupts.rows.iter().find(|r| r.key == irq.to_string())?;
            let name = row.action().to_owned();
            let rel = format!("proc/irq/{irq}/smp_affinity_list");
            let affinity = match root.read(&rel) {
                Ok(s) => super::host::parse_cpulist(&s),
                Err(e) => {
                    unreadable.push(format!("/{rel}: {e}"));
                    Vec::new()
                }
            };
            Some(NicIrq {
                irq,
                kind: classify(&name),
                affinity,
                effective: root.cpulist(&format!("proc/irq/{irq}/effective_affinity_list")),
                taken: row.per_cpu(&interrupts.cpus).collect(),
                name,
            })
        })
        .collect()
}

/// MSI/MSI-X vectors of the NIC's PCI function; virtio-net hangs one level below it.
pub fn msi_irqs(root: &HostRoot, iface: &str) -> Vec<u32> {
    let virtio =
        std::fs::read_link(root.path(&format!("sys/class/net/{iface}/device"))).is_ok_and(|d| {
            d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("virtio"))
        });
    // Only a virtio device borrows its parent's list: above a PCI NIC sits a bridge, whose
    // vectors are not the NIC's.
    let rels: &[&str] = if virtio {
        &["device/msi_irqs", "device/../msi_irqs"]
    } else {
        &["device/msi_irqs"]
    };
    for rel in rels {
        let list = root.list(&format!("sys/class/net/{iface}/{rel}"));
        if !list.is_empty() {
            return list.iter().filter_map(|n| n.parse().ok()).collect();
        }
    }
    Vec::new()
}

/// Queue role from the action name drivers register: "eth0-TxRx-3", "ice-eth0-TxRx-0",
/// "mlx5_comp3@pci:0000:3b:00.0", "virtio2-input.0", "eth0-rx-1", "i40e-eth0-TxRx-2".
pub fn classify(name: &str) -> IrqKind {
    let n = name.to_ascii_lowercase();
    let other = [
        "config", "async", "ctrl", "control", "misc", "lsc", "-other", "mbx", "fdir", "aeq",
    ];
    if other.iter().any(|o| n.contains(o)) {
        return IrqKind::Other;
    }
    if ["txrx", "comp", "input", "-rx", "rx-", "fp-", "-ch"]
        .iter()
        .any(|k| n.contains(k))
    {
        return IrqKind::Rx;
    }
    if ["output", "-tx", "tx-"].iter().any(|k| n.contains(k)) {
        return IrqKind::Tx;
    }
    IrqKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_names() {
        for (n, k) in [
            ("virtio2-input.0", IrqKind::Rx),
            ("virtio2-output.0", IrqKind::Tx),
            ("virtio2-config", IrqKind::Other),
            ("ice-eth0-TxRx-3", IrqKind::Rx),
            ("eth0-TxRx-0", IrqKind::Rx),
            ("eth0", IrqKind::Other),
            ("mlx5_comp7@pci:0000:3b:00.0", IrqKind::Rx),
            ("mlx5_async0@pci:0000:3b:00.0", IrqKind::Other),
            ("ice-0000:17:00.0:misc", IrqKind::Other),
            ("ens1f0-tx-2", IrqKind::Tx),
            ("ens1f0-rx-2", IrqKind::Rx),
        ] {
            assert_eq!(classify(n), k, "{n}");
        }
    }
}
