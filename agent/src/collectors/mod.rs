//! Userspace collectors: what procfs and sysfs say about this host, read under a root folder so
//! tests can point them at fixture trees.

pub mod host;
