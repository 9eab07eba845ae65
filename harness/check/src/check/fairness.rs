//! Fairness order: among workers already waiting when a grant was made, the grant goes to the
//! one that began to wait first. A grant to a worker that invoked its acquire more than
//! [`TOLERANCE_NS`] after another worker that was still waiting (invoked before it, not yet
//! answered when the grant came, and alive) is a **bypass**.
//!
//! Two acquires invoked closer together than the tolerance are not ordered: an invocation is
//! stamped before its first command is written, and which of two near-simultaneous commands the
//! server runs first is up to the scheduler and the network. A waiter that later gave up (its
//! acquire ended `fail` or `info`) counts only if it ended more than the tolerance after the
//! grant, since its last look may have left the queue just before. A worker's crash ends its
//! wait.
//!
//! Verdict: an algorithm that promises FIFO order (`Context::fifo`) is invalid on any bypass,
//! with a finding naming the grant and the bypassed invocation; for the others the verdict is
//! unknown ("makes no FIFO promise") and the figures say how often they bypass. Figures:
//! `bypass_rate` (bypassing grants over grants made while someone else waited), `bypasses`,
//! `contended_grants`, `fairness_tolerance_ms`.

use std::collections::BTreeMap;

use super::timeline::Attempt;
use super::{CheckResult, Context, Finding, FindingKind, Timeline, ms};
use crate::history::Kind;

/// Invocations closer together than this are not ordered, ns.
pub const TOLERANCE_NS: u64 = 20_000_000;

/// The fairness-order checker.
#[must_use]
pub fn fairness(t: &Timeline<'_>, ctx: &Context) -> CheckResult {
    let mut findings = Vec::new();
    let (mut bypasses, mut contended) = (0_usize, 0_usize);
    // One sweep over the grants in the order of their `ok`: the attempts invoked so far that
    // may still wait, by invocation. Whether an attempt still waits only ever changes from yes
    // to no as the grants go on (its answer came, it ended past the tolerance, its worker
    // died), so an attempt found no longer waiting is dropped for good: linear in the history,
    // not grants × attempts (100,000 of each in a 10,000-worker run).
    let mut waiting: BTreeMap<usize, usize> = BTreeMap::new();
    let mut next = 0;
    for g in &t.acquisitions {
        let granted = t.time(g.ok);
        let invoked = t.time(g.invoke);
        while let Some(a) = t.attempts.get(next).filter(|a| a.invoke < g.ok) {
            waiting.insert(a.invoke, next);
            next += 1;
        }
        // Whether an attempt in `waiting` (each invoked before this grant's `ok`) still waited
        // at the grant: alive, unless its crash is on record by then (a crash is stamped once
        // the worker is dead; not `alive_until`, which is the history's end for a live worker,
        // so that at a grant that is the last event every waiter would seem gone), and not yet
        // answered.
        let still = |a: &Attempt| {
            t.crashed.get(&a.worker).is_none_or(|&c| t.time(c) > granted)
                && match a.done {
                    None => true,
                    Some(d) if t.events[d].kind == Kind::Ok => d > g.ok,
                    Some(d) => t.time(d) > granted.saturating_add(TOLERANCE_NS),
                }
        };
        // The longest waiter of another worker (a worker has one attempt at a time, so at most
        // one entry is skipped for being the grantee's own).
        let mut first = None;
        let mut ended = Vec::new();
        for (&invoke, &i) in &waiting {
            let a = &t.attempts[i];
            if !still(a) {
                ended.push(invoke);
            } else if a.worker != g.worker {
                first = Some(a);
                break;
            }
        }
        for invoke in ended {
            waiting.remove(&invoke);
        }
        let any = first.is_some();
        let passed = first.filter(|a| t.time(a.invoke).saturating_add(TOLERANCE_NS) < invoked);
        contended += usize::from(any);
        let Some(p) = passed else { continue };
        bypasses += 1;
        if findings.len() < super::MAX_FINDINGS {
            findings.push(Finding {
                kind: FindingKind::Bypass,
                message: format!(
                    "worker {} was granted the lock (invoked {} ms after worker {}) while worker \
                     {} still waited",
                    g.worker,
                    ms(invoked - t.time(p.invoke)),
                    p.worker,
                    p.worker
                ),
                events: vec![p.invoke, g.invoke, g.ok],
            });
        }
    }
    let rate = if contended == 0 { 0.0 } else { bypasses as f64 / contended as f64 };
    let result = if ctx.fifo {
        CheckResult::from_findings(findings, bypasses)
    } else {
        CheckResult::unknown(format!(
            "the algorithm makes no FIFO promise; {bypasses} of {contended} contended grant(s) \
             bypassed an earlier waiter"
        ))
    };
    result
        .figure("bypass_rate", rate)
        .figure("bypasses", bypasses as f64)
        .figure("contended_grants", contended as f64)
        .figure("fairness_tolerance_ms", ms(TOLERANCE_NS))
}
