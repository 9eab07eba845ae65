//! Mutual exclusion: no two workers inside the critical section at once.
//!
//! Two sources of proof. On the monotonic clock, a worker was certainly inside from the moment
//! the witness answered its `enter` until it sent its `exit`; two such intervals that overlap
//! prove two holders. The witness (a server that is never faulted) also answers `enter` with
//! the workers already inside, in its own order; a worker listed there that had not crashed
//! was inside at the same time.
//!
//! Each overlap is classified by the two acquisitions. *Lease violated*: the second acquisition
//! completed before the first lease's start (the winning command's send time, never before the
//! acquire's invocation) + ttl, so the lock was handed out while the
//! first lease was provably still valid — a bug in the lock. *Lease outlived*: the first holder
//! kept working after its lease may have expired — the hazard fencing exists for.

use std::collections::{HashMap, HashSet};

use super::{CheckResult, Context, Finding, Timeline, ms};
use crate::history::Kind;

/// The mutual-exclusion checker.
#[must_use]
pub fn mutual_exclusion(t: &Timeline<'_>, ctx: &Context) -> CheckResult {
    let mut intervals: Vec<(u64, u64, usize)> = Vec::new();
    for (a, acq) in t.acquisitions.iter().enumerate() {
        let Some(d) = acq.section_done else { continue };
        let e = &t.events[d];
        if let (Kind::Ok, Some(enter), Some(exit)) = (e.kind, e.enter, e.exit) {
            intervals.push((enter, exit, a));
        }
    }
    if intervals.is_empty() {
        return CheckResult::unknown("no critical section completed");
    }
    let mut pairs: Vec<(usize, usize, &'static str)> = Vec::new();
    intervals.sort_unstable();
    let mut widest = intervals[0];
    for &cur in &intervals[1..] {
        if cur.0 < widest.1 {
            pairs.push((widest.2, cur.2, "clock"));
        }
        if cur.1 > widest.1 {
            widest = cur;
        }
    }
    pairs.extend(witness_pairs(t));

    let mut seen = HashSet::new();
    let mut findings = Vec::new();
    let mut total = 0;
    for (x, y, source) in pairs {
        let (first, second) =
            if t.acquisitions[x].ok <= t.acquisitions[y].ok { (x, y) } else { (y, x) };
        if first == second || !seen.insert((first, second)) {
            continue;
        }
        total += 1;
        if findings.len() < super::MAX_FINDINGS {
            findings.push(finding(t, ctx, first, second, source));
        }
    }
    CheckResult::from_findings(findings, total)
}

/// Pairs of acquisitions the witness saw inside together.
fn witness_pairs(t: &Timeline<'_>) -> Vec<(usize, usize, &'static str)> {
    let mut crashed: HashMap<u32, u64> = HashMap::new();
    for &c in &t.crashes {
        if let Some(w) = t.events[c].target {
            crashed.entry(w).or_insert(t.events[c].time);
        }
    }
    let mut by_worker: HashMap<u32, Vec<usize>> = HashMap::new();
    for (a, acq) in t.acquisitions.iter().enumerate() {
        by_worker.entry(acq.worker).or_default().push(a);
    }
    let mut pairs = Vec::new();
    for (a, acq) in t.acquisitions.iter().enumerate() {
        let (Some(si), Some(d)) = (acq.section_invoke, acq.section_done) else { continue };
        let e = &t.events[d];
        if e.kind != Kind::Ok {
            continue;
        }
        for &other in &e.others {
            // A member left behind by a crashed worker proves nothing after the crash.
            if crashed.get(&other).is_some_and(|&c| c <= t.time(si)) {
                continue;
            }
            let Some(list) = by_worker.get(&other) else { continue };
            let n = list.partition_point(|&b| t.time(t.acquisitions[b].ok) <= e.time);
            if n > 0 {
                pairs.push((list[n - 1], a, "witness"));
            }
        }
    }
    pairs
}

fn finding(t: &Timeline<'_>, ctx: &Context, first: usize, second: usize, source: &str) -> Finding {
    let (f, s) = (&t.acquisitions[first], &t.acquisitions[second]);
    let after = t.time(s.ok).saturating_sub(t.lease_start(f));
    // Each grant happened between its lease start and its `ok`. Whichever came first, the
    // other provably came within its lease only if both fit in one ttl: the later `ok` before
    // the earlier lease start + ttl. A grant reported late (the holder paused between the
    // winning reply and its `ok`) is not a second grant inside the other's lease.
    let earliest = t.lease_start(f).min(t.lease_start(s));
    let violated = t.time(s.ok) < earliest.saturating_add(ctx.ttl_ns);
    let how = if source == "witness" {
        "the witness saw both inside"
    } else {
        "their sections overlap in time"
    };
    let (kind, why) = if violated {
        (
            "lease-violated",
            format!(
                "within worker {}'s {} ms lease: the lock handed out twice",
                f.worker,
                ms(ctx.ttl_ns)
            ),
        )
    } else {
        (
            "lease-outlived",
            format!(
                "after worker {}'s lease may have run out: it kept working past its lease",
                f.worker
            ),
        )
    };
    let message = format!(
        "workers {} and {} were inside at once ({how}); worker {} acquired {} ms after worker {}'s lease began, {why}",
        f.worker,
        s.worker,
        s.worker,
        ms(after),
        f.worker
    );
    let events =
        [Some(f.invoke), Some(f.ok), f.section_done, Some(s.invoke), Some(s.ok), s.section_done];
    let mut events: Vec<usize> = events.into_iter().flatten().collect();
    events.sort_unstable();
    Finding { kind: kind.into(), message, events }
}
