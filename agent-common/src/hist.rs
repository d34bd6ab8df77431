//! Log-linear histogram buckets computed identically in the kernel and in userspace.
//!
//! Values (nanoseconds) below [`SUB_BUCKETS`] get one bucket each; above, every power of two is
//! split into [`SUB_BUCKETS`] equal parts, so a bucket is at most 12.5 % wide relative to its lower
//! bound (HDR-style, 1 significant digit). The top bucket collects everything from
//! 2^[`MAX_LOG2`]+1 ns (about 18 minutes) upwards. No loops, so the verifier accepts it as is.

/// log2 of the number of sub-buckets per power of two.
pub const SUB_BITS: u32 = 3;
pub const SUB_BUCKETS: u64 = 1 << SUB_BITS;
/// Largest power of two with its own buckets.
pub const MAX_LOG2: u32 = 39;
/// Number of buckets: 8 linear ones, then 8 per power of two from 2^3 to 2^39.
pub const BUCKETS: usize = ((MAX_LOG2 - SUB_BITS + 2) as u64 * SUB_BUCKETS) as usize;

/// floor(log2(b)) for every byte value (0 for 0 and 1): the last step of [`log2_floor`].
static LOG2_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 2;
    while i < 256 {
        t[i] = t[i / 2] + 1;
        i += 1;
    }
    t
};

/// floor(log2(v)) for v > 0, loop-free: three halving steps find the top byte, a 256-entry table
/// finishes. eBPF has no count-leading-zeros instruction, and this runs twice per softirq in the
/// kernel, so it is half the instructions of a six-step binary search.
#[inline(always)]
pub fn log2_floor(mut v: u64) -> u32 {
    let mut r = 0;
    if v >= 1 << 32 {
        v >>= 32;
        r += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        r += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        r += 8;
    }
    r + LOG2_BYTE[(v & 0xff) as usize] as u32
}

/// Bucket index for a value; always `< BUCKETS`.
#[inline(always)]
pub fn bucket_index(v: u64) -> usize {
    if v < SUB_BUCKETS {
        return v as usize;
    }
    let msb = log2_floor(v);
    if msb > MAX_LOG2 {
        return BUCKETS - 1;
    }
    let sub = (v >> (msb - SUB_BITS)) & (SUB_BUCKETS - 1);
    (((msb - SUB_BITS + 1) as u64) * SUB_BUCKETS + sub) as usize
}

/// Smallest value that lands in bucket `idx`.
pub fn bucket_low(idx: usize) -> u64 {
    let idx = idx as u64;
    if idx < SUB_BUCKETS {
        return idx;
    }
    let msb = idx / SUB_BUCKETS - 1 + SUB_BITS as u64;
    let sub = idx % SUB_BUCKETS;
    (SUB_BUCKETS + sub) << (msb - SUB_BITS as u64)
}

/// Largest value that lands in bucket `idx` (the top bucket is open-ended: `u64::MAX`).
pub fn bucket_high(idx: usize) -> u64 {
    if idx + 1 >= BUCKETS {
        return u64::MAX;
    }
    bucket_low(idx + 1) - 1
}

const _: () = assert!(BUCKETS == 304);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_between_its_bucket_bounds() {
        let mut v = 0u64;
        while v < (1 << 42) {
            let i = bucket_index(v);
            assert!(i < BUCKETS, "index {i} for {v}");
            assert!(bucket_low(i) <= v, "low({i})={} > {v}", bucket_low(i));
            if i + 1 < BUCKETS {
                assert!(v <= bucket_high(i), "high({i})={} < {v}", bucket_high(i));
            }
            v = v + 1 + v / 7;
        }
        assert_eq!(bucket_index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        for i in 0..BUCKETS - 1 {
            assert_eq!(bucket_high(i) + 1, bucket_low(i + 1));
            assert_eq!(bucket_index(bucket_low(i)), i);
            let (lo, hi) = (bucket_low(i), bucket_high(i));
            if lo >= SUB_BUCKETS {
                assert!(
                    (hi - lo + 1) * 8 <= lo,
                    "bucket {i} [{lo},{hi}] wider than 12.5%"
                );
            }
        }
    }

    #[test]
    fn log2_matches_std() {
        for v in [1u64, 2, 3, 7, 8, 255, 256, 1 << 33, u64::MAX] {
            assert_eq!(log2_floor(v), 63 - v.leading_zeros());
        }
        for shift in 0..64 {
            for low in [0u64, 1, 0x55, 0xff] {
                let v = (1u64 << shift) | (low & ((1u64 << shift) - 1));
                assert_eq!(log2_floor(v), 63 - v.leading_zeros(), "v={v:#x}");
                let w = v | (v >> 1);
                assert_eq!(log2_floor(w), 63 - w.leading_zeros(), "w={w:#x}");
            }
        }
    }
}
