//! Diagnosis: for each heartbeat gap, the evidence around it, the ranked likely causes, and what
//! to change. Pure: evidence in, findings out.

pub mod advisor;
pub mod cause;
pub mod evidence;
pub mod rules;

pub use cause::Cause;
pub use evidence::{
    Counter, CpuSoftirq, FlowFate, GapEvidence, ReasonDrops, SelfStall, SourceKind,
};
pub use rules::{Finding, judge};

#[cfg(test)]
mod tests;
