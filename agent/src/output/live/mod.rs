//! `hbwatch live`: a full-screen terminal view of the recording as it happens.
//!
//! [`state`] is the view-model the analysis fills once a second (through [`feed`]); [`draw`] and [`panels`] lay it
//! out; [`app`] and [`keys`] hold the UI state and input; [`terminal`] owns the terminal.

pub mod app;
pub mod draw;
pub mod feed;
pub mod keys;
pub mod panels;
pub mod state;
pub mod terminal;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod snapshots;
#[cfg(test)]
mod state_tests;
