//! NAPI polls per device, NAPI instance and CPU.

/// Key of `NAPI_STATS` (per-CPU hash): one NAPI instance.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NapiKey {
    pub ifindex: u32,
    /// Network namespace inode of the device, 0 when unknown or no device (backlog).
    pub netns: u32,
    /// `napi_struct.napi_id` (0 before the kernel assigned one).
    pub napi_id: u32,
}

/// Cumulative per-CPU NAPI counters since load.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NapiStats {
    pub polls: u64,
    /// Packets processed (`work`).
    pub work: u64,
    /// Polls where `work >= budget`: the queue had more than one budget of packets waiting.
    pub full_budget: u64,
    /// Polls whose time could be measured (inside a NET_RX softirq run).
    pub timed_polls: u64,
    pub time_sum_ns: u64,
    pub time_max_ns: u64,
    pub time_max_at_ns: u64,
}

/// Per-CPU timing of polls within one NET_RX run (kept inside the softirq scratch, so one map
/// lookup serves both).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NapiScratch {
    /// Start of the NET_RX run `mark_ns` belongs to (its softirq entry time).
    pub run_start_ns: u64,
    /// When the previous poll of that run ended.
    pub mark_ns: u64,
}

/// Direct-mapped per-CPU slots for NAPI instances ([`NapiSlot`]), indexed by [`slot_index`].
/// A key whose slot is already taken on that CPU goes to the `NAPI_STATS` hash instead, so every
/// (instance, CPU) lives in exactly one of the two.
pub const NAPI_SLOTS: u32 = 64;

/// One slot of `NAPI_SLOTS_MAP`: the instance it belongs to (`used` = 1) and its counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NapiSlot {
    pub key: NapiKey,
    pub used: u32,
    pub stats: NapiStats,
}

/// Slot of a NAPI instance: a multiplicative hash of its key, below [`NAPI_SLOTS`].
#[inline(always)]
pub fn slot_index(k: &NapiKey) -> u32 {
    let h = k.ifindex.wrapping_mul(0x9E37_79B1)
        ^ k.netns.wrapping_mul(0x85EB_CA6B)
        ^ k.napi_id.wrapping_mul(0xC2B2_AE35);
    h >> (32 - NAPI_SLOTS.trailing_zeros())
}

/// Softirq vector number of NET_RX (include/linux/interrupt.h; fixed since 2.6).
pub const NET_RX_SOFTIRQ: u32 = 3;

const _: () = assert!(core::mem::size_of::<NapiKey>() == 12);
const _: () = assert!(core::mem::size_of::<NapiStats>() == 7 * 8);
const _: () = assert!(core::mem::size_of::<NapiScratch>() == 16);
const _: () = assert!(core::mem::size_of::<NapiSlot>() == 16 + 7 * 8);
const _: () = assert!(NAPI_SLOTS.is_power_of_two());

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), u32 fields, no padding.
    unsafe impl aya::Pod for super::NapiKey {}
    // SAFETY: repr(C), u64 fields, no padding.
    unsafe impl aya::Pod for super::NapiStats {}
    // SAFETY: repr(C): 12-byte key + u32 (16 bytes), then u64 fields; no padding.
    unsafe impl aya::Pod for super::NapiSlot {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stay_in_range_and_spread() {
        let mut seen = [0u32; NAPI_SLOTS as usize];
        for i in 0..4096u32 {
            let k = NapiKey {
                ifindex: i % 97,
                netns: 4_026_531_840 + i / 97,
                napi_id: 8192 + i,
            };
            let s = slot_index(&k);
            assert!(s < NAPI_SLOTS);
            seen[s as usize] += 1;
        }
        // 4096 keys over 64 slots: every slot used, none with more than 3× its share.
        assert!(seen.iter().all(|&n| n > 0 && n < 3 * 64), "{seen:?}");
    }
}
