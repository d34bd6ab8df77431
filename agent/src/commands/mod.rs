//! One module per subcommand; each turns validated arguments into work and a [`Failure`] class.
//!
//! [`Failure`]: crate::cli::Failure

pub mod capture;
pub mod check;
pub mod demo;
pub mod docs;
pub mod export;
pub mod live;
pub mod presets;
pub mod record;
pub mod report;
pub mod serve;
