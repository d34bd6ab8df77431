//! hbwatch's eBPF programs. One module per probe family; each program is a thin entry that reads
//! its tracepoint arguments and calls shared logic. Layouts and names come from `agent-common`.
#![no_std]
#![no_main]

mod dist;
mod drops;
mod field;
mod hardirq;
mod napi;
mod portwatch;
mod sched;
mod skb;
mod softirq;
mod softirq_events;
mod stacks;
mod udp_peer;
mod xmit;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any reachable panic path, so this is never entered.
    loop {}
}

// GPL: the kernel only offers some helpers (and tp_btf attach) to GPL-compatible programs.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
