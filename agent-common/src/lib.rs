//! Everything the eBPF programs and the userspace agent must agree on: struct layouts, map and
//! program names, global names, and the histogram bucketing both sides compute.
//!
//! Rules: `#[repr(C)]`, no implicit padding, no `bool`/`Option`/enums across the boundary, and a
//! size assertion next to every struct, so a layout change breaks the build instead of the data.
#![no_std]

pub mod drops;
pub mod events;
pub mod hardirq;
pub mod hist;
pub mod names;
pub mod napi;
pub mod portwatch;
pub mod sched;
pub mod softirq;
pub mod stacks;
pub mod tracepoints;
