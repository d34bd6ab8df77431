//! One module per subcommand; each turns validated arguments into work and a [`Failure`] class.
//!
//! [`Failure`]: crate::cli::Failure

pub mod presets;
pub mod record;
pub mod report;
