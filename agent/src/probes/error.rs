//! What can fail while loading, attaching and reading the probes. The words are those recorded
//! in Collector and ProgramRejected records (tests and golden files read them): change with care.

use std::{fmt, io, path::PathBuf};

use aya::{EbpfError, maps::MapError, programs::ProgramError};

use super::kernel::btf::BtfError;

/// Why probes could not be loaded at all. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "hbwatch needs root to trace the kernel: missing {0}. Run it with sudo (or grant CAP_BPF and CAP_PERFMON)"
    )]
    Privilege(String),
    #[error(
        "this hbwatch binary was built without its eBPF programs (AYA_BUILD_SKIP); build it with `cargo xtask build`"
    )]
    NotBuilt,
    #[error("the kernel refused the eBPF object: {0:#}")]
    Load(#[source] EbpfError),
    /// Every family's status, joined (each says why it is off).
    #[error("no probe could be attached: {0}")]
    NothingAttached(String),
}

/// Why one program, map or family failed; the family is then left off or degraded alone.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// `--disable-probe` made the tracepoint count as missing.
    #[error("tracepoint {tracepoint} not available (disabled by --disable-probe)")]
    Disabled { tracepoint: String },
    #[error("classic tracepoints unavailable (no tracefs)")]
    ClassicUnavailable,
    #[error("program {program} missing from the object")]
    ProgramMissing { program: String },
    #[error("{program}: {source}")]
    ProgramType {
        program: String,
        source: ProgramError,
    },
    /// The verifier refused the program; its whole log is kept in the rejection record.
    #[error("{site}: rejected by the kernel's verifier: {verdict}")]
    Rejected { site: LoadSite, verdict: String },
    /// Loading failed otherwise (e.g. the tp_btf target is not in this kernel's BTF).
    #[error("{site}: {source:#}")]
    LoadFailed {
        site: LoadSite,
        source: ProgramError,
    },
    /// `target`: `tp_btf/NAME` or `CATEGORY:NAME`.
    #[error("attach {target}: {source:#}")]
    AttachFailed {
        target: String,
        source: ProgramError,
    },
    #[error("perf_event cpu-clock on CPU {cpu}: {source:#}")]
    PerfAttach { cpu: u32, source: ProgramError },
    /// Neither the tp_btf program nor its classic twin got in.
    #[error("tp_btf: {btf}; classic: {classic}")]
    BothWays {
        btf: Box<ProbeError>,
        classic: Box<ProbeError>,
    },
    /// A family's required tracepoint failed.
    #[error("{tracepoint}: {source}")]
    Tracepoint {
        tracepoint: &'static str,
        source: Box<ProbeError>,
    },
    #[error("map {map} missing from the object")]
    MapMissing { map: &'static str },
    #[error("{map}: {source}")]
    MapType { map: &'static str, source: MapError },
    /// A map read or write failed (at a tick the family is then recorded Degraded).
    #[error("{}{map}{}: {source}", if *.reading { "reading " } else { "" }, Index(*.index))]
    MapRead {
        map: &'static str,
        index: Option<u32>,
        /// Worded "reading MAP" (the families that said so before).
        reading: bool,
        source: MapError,
    },
    /// Adding a process (`pid`) or a port to the in-kernel watch set failed.
    #[error("watching {what}: {source}")]
    Watch { what: String, source: MapError },
    #[error(
        "tracefs is not mounted and mounting it failed ({source}); run `mount -t tracefs tracefs /sys/kernel/tracing`"
    )]
    TracefsUnavailable { source: io::Error },
    #[error("{}: {source}", .path.display())]
    TracefsRead { path: PathBuf, source: io::Error },
    /// The tracepoint's `format` file lacks the field.
    #[error("{}: no field `{field}`", .path.display())]
    FieldMissing { path: PathBuf, field: String },
    #[error(transparent)]
    Btf(#[from] BtfError),
}

impl ProbeError {
    /// A failed read of `map` (`reading`: worded "reading MAP…").
    pub fn read(map: &'static str, index: Option<u32>, reading: bool, source: MapError) -> Self {
        ProbeError::MapRead {
            map,
            index,
            reading,
            source,
        }
    }
}

/// Where a program was being loaded, as the error names it.
#[derive(Debug, Clone)]
pub enum LoadSite {
    /// A tp_btf program, named by its tracepoint.
    Tracepoint(String),
    /// A classic or perf_event program, named by itself.
    Program(String),
}

impl fmt::Display for LoadSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadSite::Tracepoint(t) => write!(f, "tracepoint {t}"),
            LoadSite::Program(p) => write!(f, "load {p}"),
        }
    }
}

/// `[i]` after a map name, or nothing.
struct Index(Option<u32>);

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(i) => write!(f, "[{i}]"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_the_recorded_ones() {
        let e = ProbeError::Disabled {
            tracepoint: "napi_poll".into(),
        };
        assert_eq!(
            e.to_string(),
            "tracepoint napi_poll not available (disabled by --disable-probe)"
        );
        let e = ProbeError::Rejected {
            site: LoadSite::Tracepoint("softirq_entry".into()),
            verdict: "R1 invalid mem access".into(),
        };
        assert_eq!(
            e.to_string(),
            "tracepoint softirq_entry: rejected by the kernel's verifier: R1 invalid mem access"
        );
        let both = ProbeError::BothWays {
            btf: Box::new(ProbeError::ClassicUnavailable),
            classic: Box::new(ProbeError::MapMissing { map: "X" }),
        };
        assert_eq!(
            both.to_string(),
            "tp_btf: classic tracepoints unavailable (no tracefs); classic: map X missing from the object"
        );
        let e = ProbeError::FieldMissing {
            path: "/t/format".into(),
            field: "vec".into(),
        };
        assert_eq!(e.to_string(), "/t/format: no field `vec`");
        let read = |index, reading| ProbeError::read("M", index, reading, MapError::KeyNotFound);
        assert_eq!(
            read(Some(3), true).to_string(),
            "reading M[3]: key not found"
        );
        assert_eq!(read(None, false).to_string(), "M: key not found");
    }
}
