//! Host-side library target: empty. It exists so `agent` can take a build-dependency on this
//! crate and be rebuilt when the programs change; the programs themselves are the `hbwatch` bin.
#![no_std]
