//! Stranded lock: the lock lay free of every holder — no worker held it in the history and no
//! crashed, paused or unsure holder's lease could still run — while a worker waited for it, for
//! longer than the slack. A lock handed to nobody (a hand-off whose waiter is gone), or a lease
//! left behind by an acquire the history does not show, looks exactly like this.
//!
//! Held, in the history: from each acquisition's lease start ([`Timeline::lease_start`]) until
//! its release completed `ok`; a release that ended `info` or never ended, and an acquire that
//! ended `info` or never ended, may hold it until that moment + ttl (+ a drift margin; for an
//! acquire, + the algorithm's dead-waiter window, in which a release may still hand the lock to
//! a waiter that died in the queue) — or, for an acquire dropped by its caller, until the
//! clean-up release with its token completed `ok`, if that came sooner. Waiting:
//! an acquire from its invocation to its completion, less the step delay it slept.

use super::{CheckResult, Context, Finding, FindingKind, Timeline, ms};
use crate::history::Kind;

/// The stranded-lock checker.
#[must_use]
pub fn stranded_lock(t: &Timeline<'_>, ctx: &Context) -> CheckResult {
    let Some(first) = t.attempts.first() else {
        return CheckResult::unknown("no acquire was attempted");
    };
    let origin = t.events.first().map_or(0, |e| e.time);
    // The server's clock may run a little slower than ours: a lease may outlast ttl by this.
    let margin = ctx.ttl_ns / 100 + 2_000_000;
    let lease_from = |at: u64| at.saturating_add(ctx.ttl_ns).saturating_add(margin);
    let mut held: Vec<(u64, u64)> = Vec::new();
    for acq in &t.acquisitions {
        let to = match acq.release_done {
            Some(d) if t.events[d].kind == Kind::Ok => t.time(d),
            Some(d) => t.time(d).max(lease_from(t.time(acq.ok))),
            None => t.alive_until(acq.worker).max(lease_from(t.time(acq.ok))),
        };
        held.push((t.lease_start(acq), to));
    }
    for a in &t.attempts {
        match a.done {
            Some(d) if t.events[d].kind == Kind::Info => {
                // A dropped acquire its worker cleaned up holds nothing after the clean-up;
                // one cut short otherwise may yet be handed the lock, as a waiter that died in
                // the queue, until the algorithm's dead-waiter window has passed.
                let until = match t.cleaned_up_at(a) {
                    Some(c) => c.min(lease_from(t.time(d))),
                    None => lease_from(t.time(d).saturating_add(ctx.dead_waiter_ns)),
                };
                held.push((t.time(a.invoke), until));
            }
            None => held.push((
                t.time(a.invoke),
                lease_from(t.alive_until(a.worker).saturating_add(ctx.dead_waiter_ns)),
            )),
            _ => {}
        }
    }
    held.sort_unstable();
    // The stretches with no possible holder, from the first acquire on.
    let mut free: Vec<(u64, u64)> = Vec::new();
    let mut covered = t.time(first.invoke);
    for &(from, to) in &held {
        if from > covered {
            free.push((covered, from));
        }
        covered = covered.max(to);
    }
    let mut findings = Vec::new();
    let mut total = 0;
    for (from, to) in free {
        if to - from <= ctx.slack_ns {
            continue;
        }
        let mut waiters = Vec::new();
        let mut events = Vec::new();
        for a in &t.attempts {
            let until = a.done.map_or_else(|| t.alive_until(a.worker), |d| t.time(d));
            let slept = a.done.and_then(|d| t.events[d].delayed_ms).unwrap_or(0) * 1_000_000;
            let waited = until.min(to).saturating_sub(t.time(a.invoke).max(from));
            if waited.saturating_sub(slept) > ctx.slack_ns {
                waiters.push(a.worker);
                events.push(a.invoke);
            }
        }
        if waiters.is_empty() {
            continue;
        }
        total += 1;
        if findings.len() < super::MAX_FINDINGS {
            waiters.dedup();
            findings.push(Finding {
                kind: FindingKind::StrandedLock,
                message: format!(
                    "the lock was held by no one from {} ms to {} ms into the run ({} ms, slack {} \
                     ms) while workers {waiters:?} waited for it",
                    ms(from - origin),
                    ms(to - origin),
                    ms(to - from),
                    ms(ctx.slack_ns)
                ),
                events,
            });
        }
    }
    CheckResult::from_findings(findings, total)
}
