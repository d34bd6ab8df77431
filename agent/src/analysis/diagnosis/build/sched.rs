//! The heartbeat process's scheduling in each gap's window: its threads' longest waits and
//! off-CPU stretches, and whether all of them were off CPU at once (a stopped process).

use super::{Acc, Totals};
use crate::{
    analysis::RecordingSummary,
    recording::records::{CpuTaskSamples, SchedInterval},
};

/// `app`: the heartbeat process. Only its threads count: the advice names that process, so it
/// cites its numbers (the sched table's row), not another watched process's.
pub(super) fn fold(
    iv: &SchedInterval,
    s: &RecordingSummary,
    app: Option<u32>,
    t: &mut Totals,
    accs: &mut [Acc],
) {
    for a in accs
        .iter_mut()
        .filter(|a| a.overlaps(iv.start_mono_ns, iv.end_mono_ns))
    {
        for task in iv.tasks.iter().filter(|t| s.is_rx_thread(t.tgid)) {
            if let Some(m) = task.runq_max
                && a.rx_thread_max.as_ref().is_none_or(|x| m.value_ns > x.0)
            {
                a.rx_thread_max = Some((m.value_ns, task.tgid, task.comm.clone()));
            }
        }
        for task in iv.tasks.iter().filter(|t| app.is_none_or(|g| t.tgid == g)) {
            if let Some(m) = task.runq_max {
                a.sched_max = Some(a.sched_max.unwrap_or(0).max(m.value_ns));
            }
            if let Some(m) = task.offcpu_max {
                a.offcpu_max = Some(a.offcpu_max.unwrap_or(0).max(m.value_ns));
            }
            let off = task.offcpu_max.map_or(0, |m| m.value_ns);
            let t = a.offcpu_by_thread.entry(task.tid).or_insert(0);
            *t = (*t).max(off);
        }
    }
    if let Some(g) = app {
        let busy = iv.tasks.iter().any(|t| t.tgid == g);
        t.sched_spans.push((iv.start_mono_ns, iv.end_mono_ns, busy));
    }
    for a in accs.iter_mut() {
        for task in iv.tasks.iter().filter(|t| app.is_some_and(|g| t.tgid == g)) {
            let Some(m) = task.offcpu_max else { continue };
            let from = m.at_mono_ns.saturating_sub(m.value_ns);
            if from < a.to && m.at_mono_ns > a.from {
                a.app_episodes.push((from, m.at_mono_ns));
            }
        }
    }
    // An off-CPU stretch is measured when the thread runs again: one that began inside
    // a window and ended after it (a stopped process resumed) belongs to that window.
    for a in accs.iter_mut().filter(|a| iv.start_mono_ns >= a.to) {
        for task in iv.tasks.iter().filter(|t| app.is_some_and(|g| t.tgid == g)) {
            let Some(m) = task.offcpu_max else { continue };
            if m.at_mono_ns.saturating_sub(m.value_ns) >= a.to {
                continue;
            }
            a.offcpu_max = Some(a.offcpu_max.unwrap_or(0).max(m.value_ns));
            let t = a.offcpu_by_thread.entry(task.tid).or_insert(0);
            *t = (*t).max(m.value_ns);
        }
    }
}

/// Notes a CPU-sample interval in which the heartbeat process (`app`) was sampled on a CPU.
pub(super) fn fold_samples(iv: &CpuTaskSamples, app: Option<u32>, t: &mut Totals) {
    let Some(g) = app else {
        return;
    };
    let ran = iv
        .cpus
        .iter()
        .flat_map(|c| &c.top)
        .any(|p| p.tgid == g && p.samples > 0);
    if ran {
        t.sampled_spans.push((iv.start_mono_ns, iv.end_mono_ns));
    }
}

/// Marks as scheduled each scheduling interval that CPU samples of the process cover for more
/// than half of it: a thread that runs without switching (a spinning one on a quiet CPU) has no
/// scheduling events, only samples. The two kinds of interval end on the same tick but read the
/// clock apart, hence "more than half". Once, before the gaps are judged.
pub(super) fn mark_sampled(spans: &mut [(u64, u64, bool)], sampled: &mut [(u64, u64)]) {
    sampled.sort_unstable();
    for (s, e, busy) in spans.iter_mut().filter(|(_, _, busy)| !*busy) {
        // Sample intervals do not overlap each other, so their ends are in order too.
        let first = sampled.partition_point(|&(_, b)| b <= *s);
        *busy = sampled[first..]
            .iter()
            .take_while(|&&(a, _)| a < *e)
            .any(|&(a, b)| 2 * b.min(*e).saturating_sub(a.max(*s)) > e.saturating_sub(*s));
    }
}

/// The longest off-CPU stretch of one of the process's threads that holds a whole scheduling
/// interval, in none of which any thread of the process ran: all of them were off CPU (a stopped
/// process). Threads whose stretch began before the probe saw them have no measured stretch, so
/// the per-thread minimum alone cannot say it for a process of many threads (a Go runtime's).
/// A stretch shorter than an interval proves nothing of the other threads: an idle runtime
/// thread sleeps for a second while the others tick every 100 ms.
pub(super) fn quiet_stretch(episodes: &[(u64, u64)], spans: &[(u64, u64, bool)]) -> Option<u64> {
    episodes
        .iter()
        .filter(|(from, to)| {
            let mut inside = spans
                .iter()
                .filter(|(s, e, _)| s >= from && e <= to)
                .peekable();
            inside.peek().is_some() && inside.all(|&(_, _, busy)| !busy)
        })
        .map(|(from, to)| to - from)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn one_idle_thread_is_not_a_stopped_process() {
        // A Go runtime's idle thread slept 900 ms of a 1 s interval while its others ticked.
        let ticking = [(0, 1_000 * MS, true), (1_000 * MS, 2_000 * MS, true)];
        assert_eq!(quiet_stretch(&[(100 * MS, 1_000 * MS)], &ticking), None);
        // Stopped for 4 s: three whole intervals inside, no thread ran in any.
        let stopped = [
            (0, 1_000 * MS, true),
            (1_000 * MS, 2_000 * MS, false),
            (2_000 * MS, 3_000 * MS, false),
            (3_000 * MS, 4_000 * MS, false),
            (4_000 * MS, 5_000 * MS, true),
        ];
        let episode = (500 * MS, 4_500 * MS);
        assert_eq!(quiet_stretch(&[episode], &stopped), Some(4_000 * MS));
        // The same stretch of one thread while another ran in the middle.
        let mut woke = stopped;
        woke[2].2 = true;
        assert_eq!(quiet_stretch(&[episode], &woke), None);
        // A thread that spun through the middle interval without switching: no scheduling
        // event, but CPU samples of the process there.
        let spun = marked(stopped, &[(2_000 * MS, 3_000 * MS)]);
        assert_eq!(quiet_stretch(&[episode], &spun), None);
        // Samples outside the stretch refute nothing, nor does the few milliseconds by which
        // the interval before it overlaps (the two kinds of interval read the clock apart).
        let before = marked(stopped, &[(3 * MS, 1_003 * MS)]);
        assert_eq!(quiet_stretch(&[episode], &before), Some(4_000 * MS));
    }

    fn marked<const N: usize>(
        mut spans: [(u64, u64, bool); N],
        sampled: &[(u64, u64)],
    ) -> [(u64, u64, bool); N] {
        mark_sampled(&mut spans, &mut sampled.to_vec());
        spans
    }
}
