//! A capture session: owns the probes and the recording writer, and turns one tick into records.
//! `record` drives it from a timer; the live view will drive the same session.

use std::path::Path;

use crate::{
    analysis::RecordingSummary,
    clock,
    collectors::host::HostRoot,
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
    Probes(#[from] crate::probes::ProbeError),
}

pub struct Session {
    probes: Probes,
    writer: RecordingWriter,
    /// The same fold the report does, kept up to date with every record written.
    pub summary: RecordingSummary,
    /// Softirq map reads that failed (each is also recorded as a lost-events record).
    pub read_failures: u64,
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
        let probes = Probes::load(&host, opts)?;
        let header = build_header(&host, command);
        let mut writer = RecordingWriter::create(path, force, &header)?;
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
        for r in &session_records {
            writer.push(r)?;
            summary.add(r);
        }
        writer.flush()?;
        Ok(Session {
            probes,
            writer,
            summary,
            read_failures: 0,
        })
    }

    fn push(&mut self, r: Record) -> Result<(), RecordingError> {
        self.writer.push(&r)?;
        self.summary.add(&r);
        Ok(())
    }

    /// Reads everything due, appends it and flushes. A failed map read is recorded and counted;
    /// only a failed write is an error (the recording cannot continue).
    pub fn tick(&mut self) -> Result<(), RecordingError> {
        let now = clock::mono_ns();
        match self.probes.softirq.read_interval(now) {
            Ok(iv) => self.push(Record::Softirq(iv))?,
            Err(e) => {
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
        self.push(Record::Clock(clock::anchor()))?;
        self.writer.flush()
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
        for s in &self.probes.statuses {
            writer.push(&Record::Collector(s.clone()))?;
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
