//! The system side of a capture session: the host configuration at start and on change, counter
//! deltas and collector states every tick, as records ready to write.

use super::{
    config,
    host::HostRoot,
    system::{SystemCollector, Targets},
};
use crate::recording::records::{HostConfig, Record};

/// The configuration is re-read (netlink, sysfs) every this many ticks to catch changes.
pub const CONFIG_EVERY_TICKS: u64 = 10;

pub struct SystemCapture {
    host: HostRoot,
    vectors: Vec<String>,
    collector: SystemCollector,
    config: HostConfig,
    ticks: u64,
}

impl SystemCapture {
    /// Reads the configuration and the counter baseline; returns the records to write first.
    pub fn start(host: HostRoot, vectors: Vec<String>, now_mono_ns: u64) -> (Self, Vec<Record>) {
        let config = config::read(&host, now_mono_ns, None);
        let mut collector =
            SystemCollector::new(host.clone(), Targets::from_config(&config, vectors.clone()));
        let mut records = vec![Record::HostConfig(config.clone())];
        // The first read is the baseline: statuses only, deltas start with the first tick.
        let (_, statuses) = collector.tick(now_mono_ns);
        records.extend(statuses.into_iter().map(Record::Collector));
        let capture = SystemCapture {
            host,
            vectors,
            collector,
            config,
            ticks: 0,
        };
        (capture, records)
    }

    /// One tick: a new configuration record when it changed, status changes, and the deltas.
    pub fn tick(&mut self, now_mono_ns: u64) -> Vec<Record> {
        let mut records = Vec::new();
        self.ticks += 1;
        if self.ticks.is_multiple_of(CONFIG_EVERY_TICKS) {
            let fresh = config::read(&self.host, now_mono_ns, None);
            if !fresh.same_as(&self.config) {
                self.collector
                    .set_targets(Targets::from_config(&fresh, self.vectors.clone()));
                self.config = fresh.clone();
                records.push(Record::HostConfig(fresh));
            }
        }
        let (sample, statuses) = self.collector.tick(now_mono_ns);
        records.extend(statuses.into_iter().map(Record::Collector));
        if let Some(s) = sample.filter(|s| !s.is_empty()) {
            records.push(Record::System(s));
        }
        records
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::records::CollectorState;

    fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
        for e in std::fs::read_dir(from).expect("read fixture") {
            let e = e.expect("entry");
            let dst = to.join(e.file_name());
            let ty = e.file_type().expect("type");
            if ty.is_symlink() {
                let target = std::fs::read_link(e.path()).expect("readlink");
                std::os::unix::fs::symlink(target, &dst).expect("symlink");
            } else if ty.is_dir() {
                std::fs::create_dir_all(&dst).expect("mkdir");
                copy_tree(&e.path(), &dst);
            } else {
                std::fs::copy(e.path(), &dst).expect("copy");
            }
        }
    }

    #[test]
    fn records_config_once_deltas_when_moving_and_config_again_on_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixture =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hosts/vm-virtio");
        copy_tree(&fixture, dir.path());
        let root = HostRoot::at(dir.path().to_owned());
        let (mut cap, first) = SystemCapture::start(root.clone(), root.softirq_vectors(), 1);
        assert!(matches!(first[0], Record::HostConfig(_)));
        // psi, softnet, ... all readable in the fixture: every status says Running.
        assert!(
            first[1..]
                .iter()
                .all(|r| matches!(r, Record::Collector(c) if c.state == CollectorState::Running))
        );
        // Nothing moved: no records at all.
        assert!(cap.tick(2).is_empty());
        // A UDP receive-buffer error and a changed sysctl.
        let snmp = root.read("proc/net/snmp").expect("snmp");
        let lines: Vec<String> = snmp
            .lines()
            .map(|l| {
                if l.starts_with("Udp: ")
                    && l.split_whitespace()
                        .nth(1)
                        .is_some_and(|w| w.parse::<u64>().is_ok())
                {
                    let mut w: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
                    w[5] = (w[5].parse::<u64>().expect("RcvbufErrors") + 7).to_string();
                    w.join(" ")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        std::fs::write(root.path("proc/net/snmp"), lines.join("\n") + "\n").expect("write snmp");
        std::fs::write(root.path("proc/sys/net/core/netdev_max_backlog"), "4096\n")
            .expect("write sysctl");
        let recs = cap.tick(3);
        let Some(Record::System(s)) = recs.first() else {
            panic!("expected a system sample, got {recs:?}")
        };
        assert_eq!(s.snmp("Udp.RcvbufErrors"), 7);
        // The configuration is re-read every tenth tick: one change, one record.
        let mut config_records = 0;
        for t in 4..=11 {
            config_records += cap
                .tick(t)
                .iter()
                .filter(|r| matches!(r, Record::HostConfig(_)))
                .count();
        }
        assert_eq!(config_records, 1);
        assert_eq!(
            cap.config().sysctl_u64("net.core.netdev_max_backlog"),
            Some(4096)
        );
    }
}
