//! Drains the softirq threshold-event ring buffer and reads the per-CPU lost-event counters.

use agent_common::{
    events::{MAX_STREAMS, SoftirqEvent as RawEvent, Stream},
    names,
    softirq::WAIT_UNKNOWN,
};
use aya::maps::{MapData, PerCpuArray, RingBuf};

use super::{
    error::ProbeError,
    family::Family,
    kernel::{maps::take_typed, object::Object},
};
use crate::recording::records::{LostEvents, Record, SoftirqEvent, SoftirqEvents};

/// Most events taken per tick, so a flood cannot stall the recorder; the rest wait in the ring.
const MAX_PER_TICK: usize = 100_000;

pub struct SoftirqEventsProbe {
    ring: RingBuf<MapData>,
    lost: PerCpuArray<MapData, u64>,
    prev_lost: [u64; MAX_STREAMS],
    threshold_ns: u64,
}

impl SoftirqEventsProbe {
    pub fn open(ebpf: &mut Object, threshold_ns: u64) -> Result<Self, ProbeError> {
        let ring = take_typed(ebpf, names::MAP_SOFTIRQ_EVENTS)?;
        let lost = take_typed(ebpf, names::MAP_LOST_EVENTS)?;
        Ok(SoftirqEventsProbe {
            ring,
            lost,
            prev_lost: [0; MAX_STREAMS],
            threshold_ns,
        })
    }

    /// Every event waiting in the ring buffer, oldest first.
    pub fn drain(&mut self) -> SoftirqEvents {
        let mut events = Vec::new();
        while events.len() < MAX_PER_TICK {
            let Some(item) = self.ring.next() else { break };
            if let Some(e) = decode(&item) {
                events.push(e);
            }
        }
        SoftirqEvents {
            threshold_ns: self.threshold_ns,
            events,
        }
    }

    /// Failed ring-buffer reserves since the previous call, one record per stream with losses.
    pub fn lost(&mut self, now_mono_ns: u64) -> Result<Vec<LostEvents>, ProbeError> {
        let mut out = Vec::new();
        for stream in Stream::ALL {
            let i = stream as usize;
            let total: u64 = self
                .lost
                .get(&(i as u32), 0)
                .map_err(|e| ProbeError::read(names::MAP_LOST_EVENTS, Some(i as u32), true, e))?
                .iter()
                .sum();
            let d = total.saturating_sub(self.prev_lost[i]);
            self.prev_lost[i] = total;
            if d > 0 {
                out.push(LostEvents {
                    at_mono_ns: now_mono_ns,
                    stream: stream.name().into(),
                    count: d,
                });
            }
        }
        Ok(out)
    }
}

impl Family for SoftirqEventsProbe {
    fn name(&self) -> &'static str {
        "softirq-events"
    }

    fn read(&mut self, now_mono_ns: u64) -> Vec<Result<Record, ProbeError>> {
        let mut out = Vec::new();
        let batch = self.drain();
        if !batch.events.is_empty() {
            out.push(Ok(Record::SoftirqEvents(batch)));
        }
        match self.lost(now_mono_ns) {
            Ok(lost) => out.extend(lost.into_iter().map(|l| Ok(Record::Lost(l)))),
            Err(e) => out.push(Err(e)),
        }
        out
    }
}

/// A ring-buffer item as a record; None if it is too short (never, unless layouts diverge).
pub fn decode(bytes: &[u8]) -> Option<SoftirqEvent> {
    if bytes.len() < size_of::<RawEvent>() {
        return None;
    }
    // SAFETY: length checked; RawEvent is plain integers (every bit pattern valid);
    // read_unaligned copes with any alignment of the ring-buffer slice.
    let r: RawEvent = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
    let end = r.comm.iter().position(|&b| b == 0).unwrap_or(r.comm.len());
    Some(SoftirqEvent {
        at_mono_ns: r.at_ns,
        cpu: r.cpu,
        vector: r.vector as u8,
        wait_ns: (r.wait_ns != WAIT_UNKNOWN).then_some(r.wait_ns),
        run_ns: r.run_ns,
        pid: r.pid,
        comm: String::from_utf8_lossy(&r.comm[..end]).into_owned(),
        ksoftirqd: r.ksoftirqd != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_raw_event() {
        let mut comm = [0u8; 16];
        comm[..11].copy_from_slice(b"ksoftirqd/1");
        let raw = RawEvent {
            at_ns: 5,
            wait_ns: WAIT_UNKNOWN,
            run_ns: 2_000_000,
            cpu: 1,
            vector: 3,
            pid: 22,
            ksoftirqd: 1,
            comm,
        };
        // SAFETY: RawEvent is repr(C) plain data; viewing it as bytes is sound.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&raw as *const RawEvent).cast::<u8>(),
                size_of::<RawEvent>(),
            )
        };
        let e = decode(bytes).expect("decodes");
        assert_eq!(e.comm, "ksoftirqd/1");
        assert_eq!((e.cpu, e.vector, e.pid, e.run_ns), (1, 3, 22, 2_000_000));
        assert_eq!(e.wait_ns, None);
        assert!(e.ksoftirqd);
        assert!(decode(&bytes[..10]).is_none());
    }
}
