//! What every attached probe family does at each tick, so the loader reads them all alike.
//! Attaching is per family (each needs different kernel facts) and stays on each type: it returns
//! the probe, or None, with the status records saying how it got in or why not.

use super::error::ProbeError;
use crate::recording::records::{CollectorState, CollectorStatus, Record};

/// One attached probe family.
pub trait Family {
    /// The collector its status records name ("napi", "sched", …).
    fn name(&self) -> &'static str;

    /// What happened since the previous read (or since attach), up to `now_mono_ns`, in record
    /// order. A failed read is an `Err` in its place; the others still count.
    fn read(&mut self, now_mono_ns: u64) -> Vec<Result<Record, ProbeError>>;
}

/// The status of one attach attempt: Running with `ok_detail`, or Unavailable saying why.
pub fn attach_status(
    at: u64,
    collector: &str,
    r: &Result<(), ProbeError>,
    ok_detail: &str,
) -> CollectorStatus {
    CollectorStatus {
        at_mono_ns: at,
        collector: collector.to_owned(),
        state: if r.is_ok() {
            CollectorState::Running
        } else {
            CollectorState::Unavailable
        },
        detail: match r {
            Ok(()) => ok_detail.to_owned(),
            Err(e) => e.to_string(),
        },
    }
}
