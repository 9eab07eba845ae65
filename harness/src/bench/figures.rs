//! The figures of one bench cell taken from its history: acquire and hand-off latency (through
//! `hdrhistogram`), fairness over windows, and barging.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::check::{Timeline, jain_index as jain};
use crate::history::Event;

/// Latency percentiles, µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyUs {
    /// Samples.
    pub n: u64,
    /// Median, µs.
    pub p50: f64,
    /// 99th percentile, µs.
    pub p99: f64,
    /// Maximum, µs.
    pub max: f64,
}

impl LatencyUs {
    /// The percentiles of nanosecond samples (3 significant digits, as `hdrhistogram` keeps them).
    #[must_use]
    pub fn of(samples_ns: impl IntoIterator<Item = u64>) -> LatencyUs {
        // One hour of nanoseconds is far past any lock operation a bench waits for.
        let Ok(mut h) = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3) else {
            return LatencyUs::default();
        };
        for s in samples_ns {
            h.saturating_record(s.max(1));
        }
        if h.is_empty() {
            return LatencyUs::default();
        }
        let us = |v: u64| v as f64 / 1000.0;
        LatencyUs {
            n: h.len(),
            p50: us(h.value_at_quantile(0.5)),
            p99: us(h.value_at_quantile(0.99)),
            max: us(h.max()),
        }
    }
}

/// What a cell's history says beyond the run's own `Stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryFigures {
    /// Acquire invocation → acquire ok.
    pub acquire_us: LatencyUs,
    /// Release invocation → release completion.
    pub release_us: LatencyUs,
    /// Release invocation of one holder → acquire ok of the next, when the next was already
    /// waiting at that release (otherwise the gap is idle time, not a hand-off).
    pub handoff_us: LatencyUs,
    /// Jain's index of acquisitions per worker in consecutive windows of `4 × workers`
    /// acquisitions (while every worker was running), averaged; 1 is perfectly even. `None` when
    /// the workers overlapped too little to judge.
    pub fairness: Option<f64>,
    /// Of the hand-offs above, the share that went back to the worker that had just released:
    /// barging past someone waiting. `None` with one worker.
    pub barging: Option<f64>,
}

/// The figures of `history` (in time order).
#[must_use]
pub fn from_history(history: &[Event]) -> HistoryFigures {
    let t = Timeline::new(history);
    let acquire = t.acquisitions.iter().map(|a| t.time(a.ok).saturating_sub(t.time(a.invoke)));
    let mut handoffs = Vec::new();
    let mut back = 0u64;
    for pair in t.acquisitions.windows(2) {
        let (prev, next) = (pair[0], pair[1]);
        let Some(release) = prev.release_invoke else { continue };
        // Someone other than the releaser must have been waiting when the release was sent.
        let waiting = t.attempts.iter().any(|a| {
            a.worker != prev.worker && a.invoke < release && a.done.is_none_or(|d| d > release)
        });
        if !waiting || t.time(next.ok) < t.time(release) {
            continue;
        }
        handoffs.push(t.time(next.ok) - t.time(release));
        back += u64::from(next.worker == prev.worker);
    }
    let barging =
        (t.workers.len() > 1 && !handoffs.is_empty()).then(|| back as f64 / handoffs.len() as f64);
    HistoryFigures {
        acquire_us: LatencyUs::of(acquire),
        release_us: LatencyUs::of(t.acquisitions.iter().filter_map(|a| {
            Some(t.time(a.release_done?).saturating_sub(t.time(a.release_invoke?)))
        })),
        handoff_us: LatencyUs::of(handoffs),
        fairness: windowed_fairness(&t),
        barging,
    }
}

/// Jain's index over windows of `4 × workers` consecutive acquisitions, taken only while every
/// worker was running: after the last one's first attempt and before the first one's last (workers
/// start one by one, and finish at different times; outside that span fewer compete). `None`
/// when that span holds fewer acquisitions than there are workers.
fn windowed_fairness(t: &Timeline<'_>) -> Option<f64> {
    let workers = t.workers.len();
    if workers < 2 {
        return Some(1.0);
    }
    let mut first = std::collections::HashMap::new();
    let mut last = std::collections::HashMap::new();
    for a in &t.attempts {
        first.entry(a.worker).or_insert(a.invoke);
        last.insert(a.worker, a.done.unwrap_or(a.invoke));
    }
    let start = first.values().copied().max()?;
    let cutoff = last.values().copied().min()?;
    let running: Vec<_> =
        t.acquisitions.iter().filter(|a| a.ok > start && a.ok <= cutoff).collect();
    if running.len() < workers {
        return None;
    }
    let index = |w: &[&crate::check::Acquisition]| {
        let counts: Vec<f64> = t
            .workers
            .iter()
            .map(|id| w.iter().filter(|a| a.worker == *id).count() as f64)
            .collect();
        jain(&counts)
    };
    let size = 4 * workers;
    if running.len() < size {
        return Some(index(&running));
    }
    let indices: Vec<f64> = running.chunks_exact(size).map(index).collect();
    Some(indices.iter().sum::<f64>() / indices.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Kind, Op};

    fn ev(t: u64, kind: Kind, f: Op, w: u32) -> Event {
        Event::new(t, kind, f).by(w, 0)
    }

    #[test]
    fn handoff_runs_from_release_sent_to_next_ok_and_barging_counts_returns() {
        // Worker 1 holds, worker 2 waits from t=2; 1 releases at 10, 2 has it at 13.
        // Then 2 releases at 20 while 1 waits (from 15), and 2 itself takes it back at 22.
        let h = vec![
            ev(1, Kind::Invoke, Op::Acquire, 1),
            ev(2, Kind::Invoke, Op::Acquire, 2),
            ev(3, Kind::Ok, Op::Acquire, 1),
            ev(10, Kind::Invoke, Op::Release, 1),
            ev(12, Kind::Ok, Op::Release, 1),
            ev(13, Kind::Ok, Op::Acquire, 2),
            ev(15, Kind::Invoke, Op::Acquire, 1),
            ev(20, Kind::Invoke, Op::Release, 2),
            ev(21, Kind::Ok, Op::Release, 2),
            ev(21, Kind::Invoke, Op::Acquire, 2),
            ev(22, Kind::Ok, Op::Acquire, 2),
            ev(30, Kind::Invoke, Op::Release, 2),
            ev(31, Kind::Ok, Op::Release, 2),
            ev(32, Kind::Ok, Op::Acquire, 1),
        ];
        let f = from_history(&h);
        assert_eq!(f.acquire_us.n, 4);
        assert_eq!(f.handoff_us.n, 3, "three hand-offs with a waiter");
        assert!((f.handoff_us.max - 0.003).abs() < 1e-9, "13 - 10 ns is the longest");
        assert_eq!(f.barging, Some(1.0 / 3.0));
        // While both ran (worker 2's first attempt at 2 → its last attempt's end at 22): worker 1
        // got one acquisition, worker 2 two; Jain's index (1+2)² / (2 × (1+4)) = 0.9.
        let fairness = f.fairness.expect("judged");
        assert!((fairness - 0.9).abs() < 1e-9, "{fairness}");
    }

    #[test]
    fn an_idle_gap_is_no_handoff() {
        let h = vec![
            ev(1, Kind::Invoke, Op::Acquire, 1),
            ev(2, Kind::Ok, Op::Acquire, 1),
            ev(3, Kind::Invoke, Op::Release, 1),
            ev(4, Kind::Ok, Op::Release, 1),
            ev(50, Kind::Invoke, Op::Acquire, 2),
            ev(51, Kind::Ok, Op::Acquire, 2),
        ];
        assert_eq!(from_history(&h).handoff_us.n, 0);
    }

    #[test]
    fn percentiles_come_out_in_microseconds() {
        let l = LatencyUs::of((1..=100).map(|i| i * 1000));
        assert_eq!(l.n, 100);
        assert!((l.p50 - 50.0).abs() < 0.1 && (l.max - 100.0).abs() < 0.1, "{l:?}");
    }
}
