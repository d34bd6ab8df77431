//! Direct loads of kernel struct fields through BTF-typed pointers (tp_btf arguments and the
//! pointers loaded from them), at offsets userspace read from the running kernel's BTF.
//!
//! The offsets live in `.rodata`, which aya freezes with BPF_F_RDONLY_PROG, so the verifier
//! knows each one as a constant, checks the access against the struct's BTF and emits a
//! fault-safe PROBE_MEM load: a plain instruction instead of a `bpf_probe_read_kernel` call
//! (about 20 ns each on the test VM). A NULL or stale pointer reads as 0, as a failed probe read
//! would. Each offset must be read on its own (`kernel_offset!`), not as a copied struct, so its
//! constness survives register allocation.

use agent_common::drops::{KernelOffsets, NO_OFFSET};

/// Set by userspace from /sys/kernel/btf/vmlinux.
#[unsafe(no_mangle)]
pub(crate) static KERNEL_OFFSETS: KernelOffsets = KernelOffsets::UNKNOWN;

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
