//! Mutual exclusion: no two workers inside the critical section at once.
//!
//! Two sources of proof. On the monotonic clock, a worker was certainly inside from the moment
//! the witness answered its `enter` until it sent its `exit`; two such intervals that overlap
//! prove two holders. The witness (a server that is never faulted) also answers `enter` with
//! the workers already inside, in its own order; a worker listed there that had not crashed
//! was inside at the same time.
//!
//! Every pair of overlapping intervals is judged. A section that ended `info` still counts for
//! what it recorded (`enter`..`exit`, or the instant of `enter`); one whose stretch inside is not
//! on record (its worker died in it, or it failed before `enter` answered) makes an overlap with
//! it unknown. A witness member that may be left over from a failed `exit` proves nothing.
//!
//! Each overlap is classified by the two acquisitions. *Lease violated*: the second acquisition
//! completed before the earlier of the two leases' starts + ttl, each start the tightest bound
//! the history proves ([`Timeline::lease_start`]: for a lock handed over, the handing release's
//! invocation), so the lock was handed out while the first lease was provably still valid — a
//! bug in the lock. *Lease outlived*: the first holder kept working after its lease may have
//! expired — the hazard fencing exists for.

use std::collections::{HashMap, HashSet};

use super::{CheckResult, Context, Finding, FindingKind, Timeline, ms};
use crate::history::Kind;

/// One stretch of time a worker's section covers: `(from, to, acquisition)`.
type Span = (u64, u64, usize);

/// The mutual-exclusion checker.
#[must_use]
pub fn mutual_exclusion(t: &Timeline<'_>, ctx: &Context) -> CheckResult {
    let (mut proven, unsure) = spans(t);
    if proven.is_empty() {
        return CheckResult::unknown("no critical section completed");
    }
    let mut pairs: Vec<(usize, usize, &'static str)> = Vec::new();
    // Every pair of overlapping intervals, not only each against the widest before it: a double
    // grant nested inside one long (paused) section is a violation of its own.
    proven.sort_unstable();
    let mut active: Vec<Span> = Vec::new();
    for &cur in &proven {
        active.retain(|a| a.1 > cur.0);
        pairs.extend(active.iter().map(|a| (a.2, cur.2, "clock")));
        active.push(cur);
    }
    pairs.extend(witness_pairs(t));

    let mut seen = HashSet::new();
    let mut findings = Vec::new();
    let mut total = 0;
    for (x, y, source) in pairs {
        let (first, second) =
            if t.acquisitions[x].ok <= t.acquisitions[y].ok { (x, y) } else { (y, x) };
        if t.acquisitions[first].worker == t.acquisitions[second].worker
            || !seen.insert((first, second))
        {
            continue;
        }
        total += 1;
        if findings.len() < super::MAX_FINDINGS {
            findings.push(finding(t, ctx, first, second, source));
        }
    }
    if total > 0 {
        return CheckResult::from_findings(findings, total);
    }
    // No overlap is proven; a section whose stretch inside is not on record may still have met
    // another one, and then the history cannot say that mutual exclusion held.
    let all: Vec<Span> = proven.iter().chain(&unsure).copied().collect();
    for &(from, to, u) in &unsure {
        let w = t.acquisitions[u].worker;
        let met =
            all.iter().find(|&&(f, e, o)| t.acquisitions[o].worker != w && f < to && from < e);
        if let Some(&(_, _, o)) = met {
            return CheckResult::unknown(format!(
                "worker {w}'s section (event #{}) may have been inside while worker {} was: it \
                 ended without a record of when it left (info, or its worker died)",
                t.acquisitions[u].section_invoke.unwrap_or(t.acquisitions[u].ok),
                t.acquisitions[o].worker
            ));
        }
    }
    CheckResult::valid()
}

/// The sections' intervals: proven (`enter` answered .. `exit` sent, whatever the completion;
/// a section that got no further than `enter` was inside at that instant) and unsure (a section
/// that may have been inside from its invocation, or its `enter`, until it ended or its worker
/// died).
fn spans(t: &Timeline<'_>) -> (Vec<Span>, Vec<Span>) {
    let (mut proven, mut unsure) = (Vec::new(), Vec::new());
    for (a, acq) in t.acquisitions.iter().enumerate() {
        let Some(si) = acq.section_invoke else { continue };
        let Some(d) = acq.section_done else {
            unsure.push(stretch(t.time(si), t.alive_until(acq.worker), a));
            continue;
        };
        let e = &t.events[d];
        match (e.enter, e.exit) {
            (Some(enter), Some(exit)) => proven.push((enter, exit, a)),
            (Some(enter), None) => {
                proven.push(stretch(enter, enter, a));
                unsure.push(stretch(enter, e.time, a));
            }
            (None, _) => unsure.push(stretch(t.time(si), e.time, a)),
        }
    }
    (proven, unsure)
}

/// The span of acquisition `a` from `from` to `to`, at least 1 ns long: a section known to be
/// inside only at one instant (or whose stretch ended as it began) still meets, under the strict
/// overlap tests, every span that covers that instant.
fn stretch(from: u64, to: u64, a: usize) -> Span {
    (from, to.max(from + 1), a)
}

/// Pairs of acquisitions the witness saw inside together.
fn witness_pairs(t: &Timeline<'_>) -> Vec<(usize, usize, &'static str)> {
    let mut by_worker: HashMap<u32, Vec<usize>> = HashMap::new();
    for (a, acq) in t.acquisitions.iter().enumerate() {
        by_worker.entry(acq.worker).or_default().push(a);
    }
    let mut pairs = Vec::new();
    for (a, acq) in t.acquisitions.iter().enumerate() {
        let (Some(si), Some(d)) = (acq.section_invoke, acq.section_done) else { continue };
        let e = &t.events[d];
        let Some(entered) = e.enter else { continue };
        for &other in &e.others {
            // A member left behind by a crashed worker proves nothing after the crash.
            if t.crashed.get(&other).is_some_and(|&c| t.time(c) <= t.time(si)) {
                continue;
            }
            let Some(list) = by_worker.get(&other) else { continue };
            let n = list.partition_point(|&b| t.time(t.acquisitions[b].ok) <= entered);
            if n == 0 {
                continue;
            }
            let b = &t.acquisitions[list[n - 1]];
            // The member is a leftover, not a worker inside, when that acquisition's section had
            // not begun, or when an earlier section of the member ended without a sure `exit`
            // (its exit failed): the witness keeps such a member until the run ends.
            let begun = b.section_invoke.is_some_and(|s| t.time(s) <= entered);
            let left_over = list[..n].iter().any(|&x| {
                t.acquisitions[x]
                    .section_done
                    .is_some_and(|sd| t.events[sd].kind != Kind::Ok && t.time(sd) <= entered)
            });
            if begun && !left_over {
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
            FindingKind::LeaseViolated,
            format!(
                "within worker {}'s {} ms lease: the lock handed out twice",
                f.worker,
                ms(ctx.ttl_ns)
            ),
        )
    } else {
        (
            FindingKind::LeaseOutlived,
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
    Finding { kind, message, events }
}
