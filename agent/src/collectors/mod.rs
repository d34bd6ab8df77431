//! Userspace collectors: what procfs and sysfs say about this host, read under a root folder so
//! tests can point them at fixture trees.

pub mod addresses;
pub mod affinity;
pub mod capture;
pub mod check;
pub mod config;
pub mod cpu_table;
pub mod ethtool;
pub mod ethtool_stats;
pub mod host;
pub mod irq;
pub mod irq_names;
pub mod netdev;
pub mod netns;
pub mod rps;
pub mod rxmodel;
pub mod snmp;
pub mod softnet;
pub mod stat;
pub mod sysctl;
pub mod system;
pub mod udp;
