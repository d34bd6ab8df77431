//! hbwatch: finds out why heartbeats were lost on this host.
//!
//! The crate is a pipeline; each folder imports only the folders below it in this list
//! (docs/architecture.md; `cargo xtask lint` checks it):
//! - [`commands`]: one function per subcommand, and `main`;
//! - [`cli`]: clap definitions, validated into the settings below (the only place with clap);
//! - [`demo`]: the demo's namespaces, peers and faults;
//! - [`capture`]: the session and the capture loop, over
//!   [`heartbeat`] (log, journal, port and probe sources), [`probes`] (eBPF) and
//!   [`collectors`] (procfs, sysfs, ethtool);
//! - [`output`]: reports, exports, the live view and metrics, rendered from analysis results;
//! - [`analysis`]: pure functions of recorded data, the only layer that computes;
//! - [`protocol`]: what heartbeats look like (specs, presets, wire timing);
//! - [`recording`]: the crash-safe file everything goes through;
//! - [`clock`], [`units`]: the ground floor.

pub mod analysis;
pub mod capture;
pub mod cli;
pub mod clock;
pub mod collectors;
pub mod commands;
pub mod demo;
pub mod heartbeat;
pub mod output;
pub mod probes;
pub mod protocol;
pub mod recording;
pub mod units;
