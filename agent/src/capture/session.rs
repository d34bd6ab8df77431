//! A capture session: owns the probes and the recording writer, and turns one tick into records.
//! [`super::drive`] ticks it for `record`, `live`, `serve` and the demo.

use std::path::Path;

use crate::{
    analysis::RecordingSummary,
    clock,
    collectors::{
        affinity::AffinityWatch,
        capture::SystemCapture,
        host::HostRoot,
        netns::{self, NetnsThread},
        rxmodel,
    },
    probes::{ProbeOptions, Probes},
    recording::{
        RecordingWriter,
        format::RecordingError,
        records::{CollectorState, CollectorStatus, Header, LostEvents, Record, StopInfo},
        writer::check_output_path,
    },
};

/// Why a session could not start: the caller reports these as bad input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Output(#[from] RecordingError),
    #[error(transparent)]
    Probes(#[from] crate::probes::LoadError),
    #[error(transparent)]
    Netns(#[from] crate::collectors::netns::NetnsError),
}

pub struct Session {
    probes: Probes,
    writer: RecordingWriter,
    /// The same fold the report does, kept up to date with every record written.
    pub summary: RecordingSummary,
    /// Softirq map reads that failed (each is also recorded as a lost-events record).
    pub read_failures: u64,
    /// The records appended since the tick before the latest [`Session::tick`], up to its end:
    /// what the last second added, for views that show it.
    pub tick_records: Vec<Record>,
    /// A tick ended: the next append starts a new `tick_records`.
    tick_ended: bool,
    /// Host configuration and kernel counters (procfs, sysfs, ethtool).
    system: SystemCapture,
    /// Records that describe the run rather than what happened in it (collector states, name
    /// tables, host configuration, heartbeat sources), latest of each: a rotated file starts
    /// with them so it reads on its own.
    preamble: Vec<Record>,
    /// CPU affinity of the processes the scheduling probe watches.
    affinity: AffinityWatch,
    /// `--netns`: the thread through which the namespace's `proc/net` is read.
    _netns: Option<NetnsThread>,
}

/// The key under which a describing record replaces an earlier one in the preamble; None for
/// records about what happened.
fn preamble_key(r: &Record) -> Option<String> {
    match r {
        Record::Collector(c) => Some(format!("collector {}", c.collector)),
        Record::PacketTables(_) => Some("packet tables".to_owned()),
        Record::HostConfig(_) => Some("host config".to_owned()),
        Record::HeartbeatSource(d) => Some(format!("heartbeat source {}", d.source)),
        Record::SourceTiming(t) => Some(format!("heartbeat timing {}", t.source)),
        Record::HostAddresses(_) => Some("host addresses".to_owned()),
        Record::TaskAffinity(a) => Some(format!("affinity {}", a.tgid)),
        Record::ProgramRejected(r) => Some(format!("rejected {} {}", r.attach, r.program)),
        Record::RxModel(_) => Some("rx model".to_owned()),
        Record::NetnsScope(_) => Some("netns scope".to_owned()),
        _ => None,
    }
}

fn remember(preamble: &mut Vec<Record>, r: &Record) {
    let Some(key) = preamble_key(r) else { return };
    match preamble
        .iter_mut()
        .find(|p| preamble_key(p).as_deref() == Some(key.as_str()))
    {
        Some(slot) => *slot = r.clone(),
        None => preamble.push(r.clone()),
    }
}

pub fn build_header(host: &HostRoot, command: Vec<String>) -> Header {
    Header {
        hbwatch_version: env!("CARGO_PKG_VERSION").to_owned(),
        host: host.hostname(),
        kernel_release: host.kernel_release(),
        cpus: host.possible_cpus(),
        online_cpus: host.online_cpus(),
        nics: host.nics(),
        boot_id: host.boot_id(),
        anchor: clock::anchor(),
        softirq_vectors: host.softirq_vectors(),
        command,
    }
}

impl Session {
    /// Validates the output, loads and attaches probes, then creates the recording, in that order,
    /// so a bad path attaches nothing and a probe failure leaves no file behind.
    pub fn start(
        path: &Path,
        force: bool,
        opts: &ProbeOptions,
        command: Vec<String>,
    ) -> Result<Session, StartError> {
        check_output_path(path, force)?;
        let host = HostRoot::default();
        // In the threaded receive models the receive delay is the receive threads' scheduling
        // delay: watch them as if asked for.
        let rx_model = rxmodel::read(&host, clock::mono_ns());
        let mut opts = opts.clone();
        for pid in rxmodel::threads_to_watch(&rx_model) {
            if !opts.watch.pids.contains(&pid) {
                opts.watch.pids.push(pid);
            }
        }
        let opts = &opts;
        // Entered before anything attaches, so a namespace that cannot be entered attaches nothing.
        let scope = opts
            .netns
            .as_ref()
            .map(|t| NetnsThread::enter(t).map(|th| (t, th)))
            .transpose()?;
        let mut probes = Probes::load(&host, opts)?;
        if let Some((t, th)) = &scope {
            probes.packet.scope_to(t.inode, th.interfaces.clone());
        }
        let header = build_header(&host, command);
        let mut summary = RecordingSummary::new(
            header,
            (
                crate::recording::format::MAJOR,
                crate::recording::format::MINOR,
            ),
        );
        let mut session_records = Vec::new();
        for s in &probes.statuses {
            session_records.push(Record::Collector(s.clone()));
        }
        for r in &probes.rejections {
            session_records.push(Record::ProgramRejected(r.clone()));
        }
        session_records.push(Record::RxModel(rx_model));
        session_records.push(Record::PacketTables(probes.packet.tables.clone()));
        let host = match &scope {
            Some((t, th)) => {
                session_records.push(Record::NetnsScope(netns::scope_record(t, clock::mono_ns())));
                host.with_net_dir(th.net_dir())
            }
            None => host,
        };
        let (system, records) = SystemCapture::start(
            host,
            summary.header.softirq_vectors.clone(),
            clock::mono_ns(),
        );
        session_records.extend(records);
        let mut affinity = AffinityWatch::new(HostRoot::default());
        session_records.extend(affinity.observe_pids(&opts.watch.pids, clock::mono_ns()));
        // Created once the counter baseline is read: a file that exists means capture is running
        // (tests and scripts wait for it before they make traffic).
        let mut writer = RecordingWriter::create(path, force, &summary.header)?;
        let mut preamble = Vec::new();
        for r in &session_records {
            writer.push(r)?;
            summary.add(r);
            remember(&mut preamble, r);
        }
        writer.flush()?;
        Ok(Session {
            probes,
            writer,
            summary,
            read_failures: 0,
            tick_records: Vec::new(),
            tick_ended: false,
            system,
            preamble,
            affinity,
            _netns: scope.map(|(_, th)| th),
        })
    }

    fn push(&mut self, r: Record) -> Result<(), RecordingError> {
        self.writer.push(&r)?;
        self.summary.add(&r);
        remember(&mut self.preamble, &r);
        if std::mem::take(&mut self.tick_ended) {
            self.tick_records.clear();
        }
        self.tick_records.push(r);
        Ok(())
    }

    /// Appends a record from a heartbeat source as it arrives; the next tick flushes it.
    pub fn push_heartbeat(&mut self, r: Record) -> Result<(), RecordingError> {
        self.push(r)
    }

    /// Reads everything due, appends it and flushes. A failed map read is recorded and counted;
    /// only a failed write is an error (the recording cannot continue).
    pub fn tick(&mut self) -> Result<(), RecordingError> {
        let now = clock::mono_ns();
        match self.probes.softirq.as_mut().map(|p| p.read_interval(now)) {
            None => {}
            Some(Ok(iv)) => self.push(Record::Softirq(iv))?,
            Some(Err(e)) => {
                self.read_failures += 1;
                self.push(Record::Collector(CollectorStatus {
                    at_mono_ns: now,
                    collector: "softirq".into(),
                    state: CollectorState::Degraded,
                    detail: format!("map read failed: {e}"),
                }))?;
                self.push(Record::Lost(LostEvents {
                    at_mono_ns: now,
                    stream: "softirq-interval".into(),
                    count: 1,
                }))?;
            }
        }
        let extras = self.probes.read_extras(now);
        let affinity = self.affinity.observe(&extras, now);
        for r in extras.into_iter().chain(affinity) {
            self.push(r)?;
        }
        let (records, errors) = self.probes.packet.tick(now);
        for r in records {
            self.push(r)?;
        }
        for (collector, e) in errors {
            self.read_failures += 1;
            self.push(Record::Collector(CollectorStatus {
                at_mono_ns: now,
                collector: collector.into(),
                state: CollectorState::Degraded,
                detail: format!("map read failed: {e}"),
            }))?;
        }
        self.tick_system()?;
        self.push(Record::Clock(clock::anchor()))?;
        self.tick_ended = true;
        self.writer.flush()
    }

    /// Counter deltas every tick; the configuration every few ticks, recorded when it changed.
    fn tick_system(&mut self) -> Result<(), RecordingError> {
        for r in self.system.tick(clock::mono_ns()) {
            self.push(r)?;
        }
        Ok(())
    }

    /// Final read, a stop record and a flush; the probes detach when `self` drops.
    pub fn stop(mut self, reason: &str) -> Result<Finished, RecordingError> {
        self.tick()?;
        self.push(Record::Stop(StopInfo {
            at_mono_ns: clock::mono_ns(),
            reason: reason.to_owned(),
        }))?;
        self.writer.flush()?;
        Ok(Finished {
            path: self.writer.path().to_owned(),
            bytes: self.writer.bytes_written(),
            frames: self.writer.frames_written(),
            summary: self.summary,
        })
    }

    /// Continues in a new recording at `path` (fresh header, collector states repeated) and
    /// returns the finished file's path. The running summary keeps counting across files.
    pub fn rotate(&mut self, path: &Path) -> Result<std::path::PathBuf, RecordingError> {
        let header = build_header(&HostRoot::default(), self.summary.header.command.clone());
        let mut writer = RecordingWriter::create(path, false, &header)?;
        for r in &self.preamble {
            writer.push(r)?;
        }
        writer.flush()?;
        let mut old = std::mem::replace(&mut self.writer, writer);
        // The finished file ends like any clean recording; the running summary is not stopped.
        old.push(&Record::Stop(StopInfo {
            at_mono_ns: clock::mono_ns(),
            reason: format!("rotated to {}", path.display()),
        }))?;
        old.flush()?;
        Ok(old.path().to_owned())
    }

    pub fn path(&self) -> &Path {
        self.writer.path()
    }
    pub fn bytes_written(&self) -> u64 {
        self.writer.bytes_written()
    }
}

/// What is left after a clean stop.
pub struct Finished {
    pub path: std::path::PathBuf,
    pub bytes: u64,
    pub frames: u64,
    pub summary: RecordingSummary,
}
