//! Direct loads of kernel struct fields through BTF-typed pointers (tp_btf arguments and the
//! pointers loaded from them), at offsets userspace read from the running kernel's BTF.
//!
//! The offsets live in `.rodata`, which aya freezes with BPF_F_RDONLY_PROG, so the verifier
//! knows each one as a constant, checks the access against the struct's BTF and emits a
//! fault-safe PROBE_MEM load: a plain instruction instead of a `bpf_probe_read_kernel` call
//! (about 20 ns each on the test VM). A NULL or stale pointer reads as 0, as a failed probe read
//! would. Each offset must be read on its own (`kernel_offset!`), not as a copied struct, so its
//! constness survives register allocation.

//!
//! The classic-tracepoint twins (kernels without BTF) have no typed pointers; they read their
//! record's fields at offsets userspace took from each tracepoint's `format` file (`tp_read`).

use agent_common::{
    drops::{KernelOffsets, NO_OFFSET},
    tracepoints::TracepointOffsets,
};
use aya_ebpf::programs::TracePointContext;

/// Set by userspace from /sys/kernel/btf/vmlinux.
#[unsafe(no_mangle)]
pub(crate) static KERNEL_OFFSETS: KernelOffsets = KernelOffsets::UNKNOWN;

/// Set by userspace from the classic tracepoints' format files.
#[unsafe(no_mangle)]
pub(crate) static TP_OFFSETS: TracepointOffsets = TracepointOffsets::UNKNOWN;

/// One offset of [`KERNEL_OFFSETS`], read as the verifier-known constant it is at load time.
macro_rules! kernel_offset {
    ($field:ident) => {
        // SAFETY: read_volatile of a field of a frozen read-only global; nothing writes it.
        unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!($crate::field::KERNEL_OFFSETS.$field))
        }
    };
}
pub(crate) use kernel_offset;

/// Loads a `T` at `base + off`, where `base` is a BTF-typed kernel pointer; 0 when the offset is
/// unknown on this kernel. The unknown branch is pruned by the verifier (the offset is constant).
#[inline(always)]
pub(crate) fn load<T: Copy + Default>(base: *const u8, off: u32) -> T {
    if off == NO_OFFSET {
        return T::default();
    }
    // SAFETY: see the module comment: the verifier turns this into a checked PROBE_MEM load of a
    // field it has matched against the pointer's BTF type.
    unsafe { core::ptr::read_volatile(base.wrapping_add(off as usize) as *const T) }
}

/// One offset of [`TP_OFFSETS`].
macro_rules! tp_offset {
    ($field:ident) => {
        // SAFETY: read_volatile of a field of a frozen read-only global; nothing writes it.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!($crate::field::TP_OFFSETS.$field)) }
    };
}
pub(crate) use tp_offset;

/// Reads a `T` at `off` in a classic tracepoint record; None when this kernel lacks the field or
/// the read fails.
#[inline(always)]
pub(crate) fn tp_read<T>(ctx: &TracePointContext, off: u32) -> Option<T> {
    if off == NO_OFFSET {
        return None;
    }
    // SAFETY: bpf_probe_read of `size_of::<T>()` bytes of the record; a bad offset returns Err.
    unsafe { ctx.read_at::<T>(off as usize) }.ok()
}
