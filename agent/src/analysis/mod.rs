//! Pure functions of recorded data: no I/O, no clocks. The report, exporters and live view
//! consume what these return and compute nothing of their own.

pub mod aggregates;
pub mod audit;
pub mod cpu_tasks;
pub mod diagnosis;
pub mod gaps;
pub mod heartbeats;
pub mod interval;
pub mod ksched;
pub mod latency;
pub mod merge;
pub mod packet;
pub mod read;
pub mod recent;
pub mod recommendation;
pub mod summary;
pub mod system;

pub use gaps::{Arrival, Gap, GapAnalysis, GapDetector};
pub use heartbeats::HeartbeatSummary;
pub use ksched::{KschedSummary, StackFilter, folded_stacks};
pub use latency::{Distribution, LatencyTable, SoftirqAgg};
pub use packet::PacketSummary;
pub use summary::{ClockStep, RecordingSummary};
