//! Outputs: functions from analysis values to bytes (report now; exports and the live view later).

pub mod export;
pub mod metrics;
pub mod report;
pub mod units;
