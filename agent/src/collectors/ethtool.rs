//! NIC configuration through ethtool's netlink interface (channels, rings, features, coalescing),
//! with the `ethtool -S` statistics from [`super::ethtool_stats`].
//!
//! Live hosts are asked over netlink (kernel ≥ 5.6). Where that fails, the configuration is left
//! empty with the reason in `source`, and callers fall back to sysfs (queue counts, statistics).
//! Fixture trees cannot answer netlink, so under a non-live root the picture comes from a
//! snapshot file `<root>/ethtool/<iface>.json`.

use std::{collections::BTreeMap, time::Duration};

use ethtool::{
    EthtoolAttr, EthtoolChannelAttr, EthtoolCoalesceAttr, EthtoolFeatureAttr, EthtoolRingAttr,
};
use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};

use super::host::HostRoot;
use crate::recording::records::{Channels, Coalesce, EthtoolConfig, Rings};

/// Features whose state matters for latency-sensitive traffic (netlink names).
pub const FEATURES: &[&str] = &[
    "rx-gro",
    "rx-lro",
    "rx-gro-hw",
    "rx-gro-list",
    "rx-udp-gro-forwarding",
    "tx-generic-segmentation",
    "tx-tcp-segmentation",
    "rx-checksum",
    "rx-hashing",
    "rx-ntuple-filter",
];

const NETLINK_TIMEOUT: Duration = Duration::from_secs(2);

/// A recorded ethtool picture, as fixture trees store it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    pub channels: Option<Channels>,
    pub rings: Option<Rings>,
    pub features: BTreeMap<String, bool>,
    pub coalesce: Option<Coalesce>,
    /// `ethtool -S` name → value.
    pub stats: BTreeMap<String, u64>,
}

fn snapshot(root: &HostRoot, iface: &str) -> Result<Snapshot, String> {
    let rel = format!("ethtool/{iface}.json");
    let text = root.read(&rel).map_err(|e| format!("{rel}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{rel}: {e}"))
}

/// The ethtool configuration of `iface`; never fails, says in `source` what it could not do.
pub fn config(root: &HostRoot, iface: &str) -> EthtoolConfig {
    if !root.is_live() {
        return match snapshot(root, iface) {
            Ok(s) => EthtoolConfig {
                source: format!("snapshot ethtool/{iface}.json"),
                channels: s.channels,
                rings: s.rings,
                features: s.features,
                coalesce: s.coalesce,
            },
            Err(e) => EthtoolConfig {
                source: format!("unavailable (sysfs only): {e}"),
                ..EthtoolConfig::default()
            },
        };
    }
    match netlink_config(iface) {
        Ok(c) => c,
        Err(e) => EthtoolConfig {
            source: format!("unavailable (sysfs only): ethtool netlink: {e}"),
            ..EthtoolConfig::default()
        },
    }
}

/// `ethtool -S` counters: ioctl on live hosts, snapshot under fixtures, sysfs statistics as the
/// fallback. Returns the counters and, when degraded, why.
pub fn stats(root: &HostRoot, iface: &str) -> (BTreeMap<String, u64>, Option<String>) {
    if !root.is_live() {
        return match snapshot(root, iface) {
            Ok(s) => (s.stats, None),
            Err(e) => (
                sysfs_stats(root, iface),
                Some(format!("{e}; using sysfs statistics")),
            ),
        };
    }
    match super::ethtool_stats::read(iface) {
        Ok(s) => (s, None),
        Err(e) => (
            sysfs_stats(root, iface),
            Some(format!("ethtool -S ioctl: {e}; using sysfs statistics")),
        ),
    }
}

/// The driver-independent counters in /sys/class/net/<iface>/statistics.
pub fn sysfs_stats(root: &HostRoot, iface: &str) -> BTreeMap<String, u64> {
    [
        "rx_missed_errors",
        "rx_fifo_errors",
        "rx_over_errors",
        "rx_dropped",
        "rx_crc_errors",
        "rx_errors",
        "tx_dropped",
    ]
    .iter()
    .filter_map(|n| {
        let v = root
            .read(&format!("sys/class/net/{iface}/statistics/{n}"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(((*n).to_owned(), v))
    })
    .collect()
}

fn netlink_config(iface: &str) -> Result<EthtoolConfig, String> {
    // On its own thread: callers (the capture loop's tick) may already run inside a runtime,
    // where starting another one on the same thread panics.
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .map_err(|e| format!("tokio runtime: {e}"))?;
            rt.block_on(async {
                tokio::time::timeout(NETLINK_TIMEOUT, query(iface))
                    .await
                    .map_err(|_| "no answer within 2 s".to_owned())?
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the ethtool query panicked".to_owned()))
    })
}

async fn query(iface: &str) -> Result<EthtoolConfig, String> {
    let (conn, mut handle, _) = ethtool::new_connection().map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let mut cfg = EthtoolConfig {
        source: "netlink".into(),
        ..EthtoolConfig::default()
    };
    let mut missing = Vec::new();
    // Each part may be unsupported by the driver (EOPNOTSUPP): keep what answered.
    match collect(handle.channel().get(Some(iface)).execute().await).await {
        Ok(attrs) => cfg.channels = Some(channels(&attrs)),
        Err(e) => missing.push(format!("channels: {e}")),
    }
    match collect(handle.ring().get(Some(iface)).execute().await).await {
        Ok(attrs) => cfg.rings = Some(rings(&attrs)),
        Err(e) => missing.push(format!("rings: {e}")),
    }
    match collect(handle.feature().get(Some(iface)).execute().await).await {
        Ok(attrs) => cfg.features = features(&attrs),
        Err(e) => missing.push(format!("features: {e}")),
    }
    match collect(handle.coalesce().get(Some(iface)).execute().await).await {
        Ok(attrs) => cfg.coalesce = Some(coalesce(&attrs)),
        Err(e) => missing.push(format!("coalesce: {e}")),
    }
    conn.abort();
    if !missing.is_empty() {
        cfg.source = format!(
            "netlink (not supported by the driver: {})",
            missing.join("; ")
        );
    }
    Ok(cfg)
}

async fn collect<S>(stream: Result<S, ethtool::EthtoolError>) -> Result<Vec<EthtoolAttr>, String>
where
    S: futures_util::Stream<
            Item = Result<
                netlink_packet_generic::GenlMessage<ethtool::EthtoolMessage>,
                ethtool::EthtoolError,
            >,
        >,
{
    let stream = stream.map_err(|e| e.to_string())?;
    futures_util::pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(msg) = stream.try_next().await.map_err(|e| e.to_string())? {
        out.extend(msg.payload.nlas);
    }
    Ok(out)
}

fn channels(attrs: &[EthtoolAttr]) -> Channels {
    let mut c = Channels::default();
    for a in attrs {
        if let EthtoolAttr::Channel(a) = a {
            match *a {
                EthtoolChannelAttr::RxCount(v) => c.rx = v,
                EthtoolChannelAttr::TxCount(v) => c.tx = v,
                EthtoolChannelAttr::OtherCount(v) => c.other = v,
                EthtoolChannelAttr::CombinedCount(v) => c.combined = v,
                EthtoolChannelAttr::RxMax(v) => c.rx_max = v,
                EthtoolChannelAttr::TxMax(v) => c.tx_max = v,
                EthtoolChannelAttr::OtherMax(v) => c.other_max = v,
                EthtoolChannelAttr::CombinedMax(v) => c.combined_max = v,
                _ => {}
            }
        }
    }
    c
}

fn rings(attrs: &[EthtoolAttr]) -> Rings {
    let mut r = Rings::default();
    for a in attrs {
        if let EthtoolAttr::Ring(a) = a {
            match *a {
                EthtoolRingAttr::Rx(v) => r.rx = v,
                EthtoolRingAttr::RxMax(v) => r.rx_max = v,
                EthtoolRingAttr::Tx(v) => r.tx = v,
                EthtoolRingAttr::TxMax(v) => r.tx_max = v,
                _ => {}
            }
        }
    }
    r
}

fn features(attrs: &[EthtoolAttr]) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for a in attrs {
        if let EthtoolAttr::Feature(EthtoolFeatureAttr::Active(bits)) = a {
            for b in bits.iter().filter(|b| FEATURES.contains(&b.name.as_str())) {
                out.insert(b.name.clone(), b.value);
            }
            // Active bitsets list only set bits: the rest we asked about are off.
            for f in FEATURES {
                out.entry((*f).to_owned()).or_insert(false);
            }
        }
    }
    out
}

fn coalesce(attrs: &[EthtoolAttr]) -> Coalesce {
    let mut c = Coalesce::default();
    for a in attrs {
        if let EthtoolAttr::Coalesce(a) = a {
            match *a {
                EthtoolCoalesceAttr::RxUsecs(v) => c.rx_usecs = Some(v),
                EthtoolCoalesceAttr::RxMaxFrames(v) => c.rx_max_frames = Some(v),
                EthtoolCoalesceAttr::TxUsecs(v) => c.tx_usecs = Some(v),
                EthtoolCoalesceAttr::UseAdaptiveRx(v) => c.adaptive_rx = Some(v),
                EthtoolCoalesceAttr::UseAdaptiveTx(v) => c.adaptive_tx = Some(v),
                _ => {}
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_under_a_fixture_root() {
        let root = HostRoot::at(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/hosts/ixgbe-multiqueue"),
        );
        let c = config(&root, "eth0");
        assert_eq!(c.source, "snapshot ethtool/eth0.json");
        assert_eq!(
            c.channels.map(|c| (c.combined, c.combined_max)),
            Some((4, 63))
        );
        assert_eq!(c.features.get("rx-lro"), Some(&false));
        let (stats, why) = stats(&root, "eth0");
        assert_eq!((stats.get("rx_missed_errors"), why), (Some(&1200), None));
        // No snapshot: sysfs only, and says so.
        let c = config(&root, "eth7");
        assert!(
            c.source.starts_with("unavailable (sysfs only)"),
            "{}",
            c.source
        );
    }

    /// Asks the kernel over netlink about this host's first physical NIC.
    #[test]
    fn live_netlink_answers_for_a_real_nic() {
        let root = HostRoot::default();
        let Some(nic) = root
            .list("sys/class/net")
            .into_iter()
            .find(|n| root.path(&format!("sys/class/net/{n}/device")).exists())
        else {
            eprintln!("SKIP live_netlink_answers_for_a_real_nic: no physical NIC on this host");
            return;
        };
        let c = config(&root, &nic);
        assert!(c.source.starts_with("netlink"), "{nic}: {}", c.source);
        let ch = c.channels.expect("channels");
        assert!(ch.combined + ch.rx >= 1, "{nic}: {ch:?}");
        assert!(c.features.contains_key("rx-gro"), "{nic}: {:?}", c.features);
        let (s, why) = stats(&root, &nic);
        assert!(why.is_none() || !s.is_empty(), "{nic}: {why:?}");
    }
}
