//! Pure functions of recorded data: no I/O, no clocks. The report, exporters and live view
//! consume what these return and compute nothing of their own.

pub mod diagnosis;
pub mod ksched;
pub mod latency;
pub mod packet;
pub mod summary;

pub use ksched::{KschedSummary, StackFilter, folded_stacks};
pub use latency::{Distribution, LatencyTable, SoftirqAgg};
pub use packet::PacketSummary;
pub use summary::{ClockStep, RecordingSummary};
