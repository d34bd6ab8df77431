//! Kernel plumbing the probe families share: the loaded object and its attach helpers, BTF and
//! tracefs layouts, kernel symbols, privileges, and the `--disable-probe` test hook.

pub mod btf;
pub mod classic;
pub mod disable;
pub mod kallsyms;
pub mod maps;
pub mod object;
pub mod privileges;
pub mod tracefs;
