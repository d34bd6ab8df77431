//! Pure functions of recorded data: no I/O, no clocks. The report, exporters and live view
//! consume what these return and compute nothing of their own.

pub mod gaps;
pub mod heartbeats;
pub mod latency;
pub mod summary;

pub use gaps::{Arrival, Gap, GapAnalysis, GapDetector};
pub use heartbeats::HeartbeatSummary;
pub use latency::{Distribution, LatencyTable, SoftirqAgg};
pub use summary::{ClockStep, RecordingSummary};
