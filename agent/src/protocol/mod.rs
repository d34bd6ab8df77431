//! What heartbeats look like, with no capture in it: the source spec language (`log:PATH`,
//! `udp:PORT`, presets), the presets' line patterns and stamps, each protocol's packets and
//! timing on the wire, and the daemons' config files that set that timing. The command line
//! parses with it, capture matches lines with it, and analysis judges silences with it.

pub mod daemon_conf;
pub mod matcher;
pub mod presets;
pub mod spec;
pub mod timestamp;
pub mod wire;
