//! Outputs: functions from analysis values to bytes or screens (report, live view; exports later).

pub mod check;
pub mod export;
pub mod live;
pub mod metrics;
pub mod report;
