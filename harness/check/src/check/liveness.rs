//! Liveness: every acquire ends within its wait timeout (plus slack); after a holder crashes
//! (killed holding the lock, during its release, or during an acquire that may have won), the
//! lock is taken again within ttl + slack whenever someone is waiting for it (unknown when an
//! acquire that ended `info` may have taken it unseen); no worker
//! starves. Also measures Jain's fairness index over the workers' acquisitions while all of
//! them were still trying (every worker runs the same number of rounds, so counting to the end
//! would always find them equal).

use std::collections::HashMap;

use super::{CheckResult, Context, Finding, FindingKind, Timeline, Verdict, ms};
use crate::history::Kind;

/// The liveness checker.
#[must_use]
pub fn liveness(t: &Timeline<'_>, ctx: &Context) -> CheckResult {
    if t.attempts.is_empty() {
        return CheckResult::unknown("no acquire was attempted");
    }
    let mut findings = Vec::new();
    let mut total = 0;
    let mut push = |f: Finding| {
        total += 1;
        if findings.len() < super::MAX_FINDINGS {
            findings.push(f);
        }
    };
    let limit = ctx.wait_ns.saturating_add(ctx.slack_ns);
    let end = t.events.last().map_or(0, |e| e.time);
    let mut timeouts = 0_u32;
    let mut longest = 0_u64;
    for a in &t.attempts {
        let started = t.time(a.invoke);
        let (took, ended) = match a.done {
            Some(d) => (t.time(d).saturating_sub(started), true),
            None => (end.saturating_sub(started), false),
        };
        if a.done.is_some_and(|d| t.events[d].kind == Kind::Fail) {
            timeouts += 1;
        }
        longest = longest.max(took);
        if took > limit {
            let what = if ended { "ended after" } else { "had not ended after" };
            push(Finding {
                kind: FindingKind::AcquireTooLong,
                message: format!(
                    "worker {}'s acquire {what} {} ms (wait timeout {} ms + slack {} ms)",
                    a.worker,
                    ms(took),
                    ms(ctx.wait_ns),
                    ms(ctx.slack_ns)
                ),
                events: a.done.map_or(vec![a.invoke], |d| vec![a.invoke, d]),
            });
        }
    }
    let mut unsure = None;
    for &c in &t.crashes {
        match recovery(t, ctx, c) {
            Recovery::Fine => {}
            Recovery::Late(f) => push(f),
            Recovery::Unsure(why) => unsure = unsure.or(Some(why)),
        }
    }
    // Per worker: (tries, answered, won, first invocation). An attempt is answered when it
    // ended, unless it was the worker's last and ended `info`: then the worker was killed or
    // the run ended while it waited, and it never got its answer (an `info` from an error,
    // with more attempts after it, is an answer that it did not win).
    let mut last: HashMap<u32, usize> = HashMap::new();
    for a in &t.attempts {
        last.insert(a.worker, a.invoke);
    }
    let mut per_worker: HashMap<u32, (u32, u32, u32, usize)> = HashMap::new();
    for a in &t.attempts {
        let entry = per_worker.entry(a.worker).or_insert((0, 0, 0, a.invoke));
        entry.0 += 1;
        let cut_short =
            |d: usize| t.events[d].kind == Kind::Info && last.get(&a.worker) == Some(&a.invoke);
        if let Some(d) = a.done
            && !cut_short(d)
        {
            entry.1 += 1;
            entry.2 += u32::from(t.events[d].kind == Kind::Ok);
        }
    }
    let any_won = !t.acquisitions.is_empty();
    let mut workers: Vec<_> = per_worker.into_iter().collect();
    workers.sort_unstable();
    for &(w, (tries, answered, won, first)) in &workers {
        if any_won && won == 0 && answered > 0 {
            push(Finding {
                kind: FindingKind::Starved,
                message: format!(
                    "worker {w} tried {tries} time(s) and never acquired while others did"
                ),
                events: vec![first],
            });
        }
    }
    // The longest time the lock lay free after a release while the next holder was already
    // waiting: a figure, since a bounded fallback poll may legitimately cause it.
    let mut idle = 0_u64;
    for pair in t.acquisitions.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        if let Some(r) = prev.release_done
            && next.invoke < r
            && r < next.ok
        {
            idle = idle.max(t.time(next.ok).saturating_sub(t.time(r)));
        }
    }
    let counts = shares(t);
    let mut result = CheckResult::from_findings(findings, total);
    if let (Verdict::Valid, Some(why)) = (result.verdict, unsure) {
        result = CheckResult::unknown(why);
    }
    result
        .figure("fairness", jain(&counts))
        .figure("acquire_failures", f64::from(timeouts))
        .figure("longest_acquire_ms", ms(longest))
        .figure("longest_idle_with_waiter_ms", ms(idle))
        .figure("slack_ms", ms(ctx.slack_ns))
}

/// Acquisitions per worker up to the moment the first worker's last attempt ended.
fn shares(t: &Timeline<'_>) -> Vec<f64> {
    let mut last: HashMap<u32, usize> = HashMap::new();
    for a in &t.attempts {
        last.insert(a.worker, a.done.unwrap_or(a.invoke));
    }
    let Some(cutoff) = last.values().copied().min() else { return Vec::new() };
    let mut won: HashMap<u32, u32> = last.keys().map(|&w| (w, 0)).collect();
    for a in t.acquisitions.iter().filter(|a| a.ok <= cutoff) {
        *won.entry(a.worker).or_default() += 1;
    }
    won.into_values().map(f64::from).collect()
}

/// Jain's fairness index: 1 when every worker got the same share, 1/n when one got all.
#[must_use]
pub fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    if squares == 0.0 {
        return 1.0;
    }
    let n = xs.len() as f64;
    sum * sum / (n * squares)
}

/// What a crash says about recovery.
enum Recovery {
    /// The lock was retaken in time, nobody waited, or the dead worker held nothing.
    Fine,
    /// Someone waited past ttl + slack.
    Late(Finding),
    /// An acquire that may have retaken the lock left no record of it.
    Unsure(String),
}

/// Whether the lock of the worker crashed at event `c` was retaken in time when someone was
/// waiting. The dead worker held the lock, or may have, when it died after an acquisition it
/// had not released for sure (killed before or during its release), or during an acquire.
fn recovery(t: &Timeline<'_>, ctx: &Context, c: usize) -> Recovery {
    let crash = &t.events[c];
    let Some(dead) = crash.target else { return Recovery::Fine };
    // The last acquire of the dead worker before its crash, and whether it won.
    let Some(attempt) = t.attempts.iter().rev().find(|a| a.worker == dead && a.invoke < c) else {
        return Recovery::Fine;
    };
    let held = t.acquisitions.iter().rev().find(|a| a.worker == dead && a.ok < c);
    let dead_since = crash.time.saturating_add(ctx.dead_waiter_ns);
    // (the latest the lease may have begun, the event of the acquire, when another could
    // first take the lock)
    let (since, proof, free) = match held {
        Some(h) if h.invoke == attempt.invoke => {
            if h.release_done.is_some_and(|d| d < c && t.events[d].kind == Kind::Ok) {
                return Recovery::Fine;
            }
            (t.time(h.ok), h.ok, t.lease_start(h).saturating_add(ctx.ttl_ns))
        }
        // Killed during an acquire: the winning command may have reached the server, or (for
        // an algorithm that hands the lock to waiters) a release may hand the lock to the dead
        // waiter up to its dead-waiter window later.
        _ => match attempt.done {
            Some(d) if t.events[d].kind == Kind::Info && t.time(d) >= crash.time => {
                (dead_since, attempt.invoke, t.time(attempt.invoke))
            }
            None => (dead_since, attempt.invoke, t.time(attempt.invoke)),
            _ => return Recovery::Fine,
        },
    };
    let deadline = with_dead_waiters(
        t,
        ctx,
        dead,
        since.saturating_add(ctx.ttl_ns).saturating_add(ctx.slack_ns),
    );
    // Retaken means acquired by anyone after the dead holder's acquisition: when its lease ran
    // out while it still worked, the lock may well have been taken again before the crash.
    let next = t.acquisitions.iter().find(|a| a.ok > proof && a.worker != dead);
    if next.is_some_and(|n| t.time(n.ok) <= deadline) {
        return Recovery::Fine;
    }
    let Some(waiting) = t.attempts.iter().find(|a| {
        a.worker != dead
            && t.time(a.invoke) <= deadline
            && a.done.is_none_or(|d| t.time(d) > deadline)
    }) else {
        return Recovery::Fine;
    };
    // An acquire that ended `info` once the lock could be free (say its worker died with the
    // winning command in flight) may have taken it without the history showing it: then the
    // history proves neither a timely retake nor a late one.
    if let Some(a) = t.attempts.iter().find(|a| {
        a.worker != dead
            && t.time(a.invoke) <= deadline
            && a.done.is_some_and(|d| t.events[d].kind == Kind::Info && t.time(d) >= free)
    }) {
        return Recovery::Unsure(format!(
            "worker {dead} crashed holding the lock (event #{c}); no acquire is on record as \
             taking it in time, but worker {}'s acquire (event #{}) ended unsure and may have",
            a.worker, a.invoke
        ));
    }
    let (message, mut events) = match next {
        Some(n) => (
            format!(
                "worker {dead} crashed holding the lock; it was taken again {} ms after the crash, past ttl + slack ({} ms after its acquisition)",
                ms(t.time(n.ok).saturating_sub(crash.time)),
                ms(ctx.ttl_ns + ctx.slack_ns)
            ),
            vec![proof, c, n.ok],
        ),
        None => (
            format!("worker {dead} crashed holding the lock and it was never taken again"),
            vec![proof, c],
        ),
    };
    events.push(waiting.invoke);
    events.sort_unstable();
    Recovery::Late(Finding { kind: FindingKind::NotRetaken, message, events })
}

/// The retake deadline `deadline`, pushed out by waiters that died in the queue. An algorithm
/// that hands the lock to waiters may give it to a dead one up to its dead-waiter window after
/// its last sign of life (here: its crash), and the lock then lies with it for a ttl. So each
/// worker other than `dead` killed in an acquire before the deadline moves it to its crash +
/// window + ttl + slack, if later; repeated, since the lock may pass from one dead waiter's
/// lease to another's.
fn with_dead_waiters(t: &Timeline<'_>, ctx: &Context, dead: u32, mut deadline: u64) -> u64 {
    if ctx.dead_waiter_ns == 0 {
        return deadline;
    }
    let queued: Vec<u64> = t
        .crashes
        .iter()
        .filter_map(|&c| {
            let w = t.events[c].target.filter(|&w| w != dead)?;
            let crash = t.time(c);
            // Its last acquire before the crash was cut short by it (no answer, or `info`).
            let last = t.attempts.iter().rev().find(|a| a.worker == w && a.invoke < c)?;
            last.done.is_none_or(|d| t.events[d].kind == Kind::Info).then_some(crash)
        })
        .collect();
    let lies = ctx.dead_waiter_ns.saturating_add(ctx.ttl_ns).saturating_add(ctx.slack_ns);
    loop {
        let later = queued
            .iter()
            .filter(|&&c| c <= deadline)
            .map(|&c| c.saturating_add(lies))
            .filter(|&end| end > deadline)
            .max();
        match later {
            Some(end) => deadline = end,
            None => return deadline,
        }
    }
}
