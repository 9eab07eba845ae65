//! Residue: what the run left on the lock server. After the last worker ended, the coordinator
//! lists the lock's keys there (`residue` events: the key, its PTTL, whether the algorithm keeps
//! it by design, whether waiters' looks renew it, and a closing event with their count). A key
//! kept by design is fine; any other is a finding unless someone who could not clean up may
//! have left it: a worker that crashed, or an operation that ended unsure, within a ttl (and a
//! drift margin) of the listing — its key then expires by itself. A key every waiter's look
//! renews (`renewed`: a queue of waiters, where a dead waiter's entry stays) may live on
//! until a ttl after the last look, so once someone may have died in the queue it is excused
//! until a ttl after the end of the last acquire. A dropped or failed acquire whose worker then
//! ran its clean-up release to the end (`ok`) excuses nothing. A key with no ttl that is not
//! kept by design never goes.

use super::{CheckResult, Context, Finding, FindingKind, Timeline, ms};
use crate::history::{Event, Kind, Op};

/// The residue checker.
#[must_use]
pub fn residue(t: &Timeline<'_>, ctx: &Context) -> CheckResult {
    let events = t.events;
    let Some(close) = events.iter().rposition(|e| e.f == Op::Residue && e.details.is_none()) else {
        return CheckResult::unknown(
            "the run did not list what it left on the lock server (a server \
             that is not the harness's own, or an older contend)",
        );
    };
    let listed = events[close].time;
    let margin = ctx.ttl_ns / 100 + 2_000_000;
    // The last moment someone who could not clean up was last heard of.
    // An acquire that ended `info` but whose worker then ran its clean-up release to the end
    // (a dropped or failed acquire) left nothing behind.
    let cleaned: std::collections::HashSet<usize> =
        t.attempts.iter().filter(|a| t.cleaned_up_at(a).is_some()).filter_map(|a| a.done).collect();
    let unclean = events
        .iter()
        .enumerate()
        .filter(|&(i, e)| {
            e.f == Op::Crash
                || (e.kind == Kind::Info && e.f == Op::Release)
                || (e.kind == Kind::Info && e.f == Op::Acquire && !cleaned.contains(&i))
        })
        .map(|(_, e)| e.time)
        .max();
    // A waiter that died in the queue may be handed the lock up to the algorithm's dead-waiter
    // window later; that lock then lives a ttl.
    let dead_until = unclean.map(|u| u + ctx.dead_waiter_ns);
    // A dead waiter's entry also keeps a queue that waiters' looks renew (`renewed`) alive
    // while others look, until a ttl after the last look. Only an acquire looks (a dropped
    // one's command still in flight runs before its clean-up, on the same connection), so the
    // last look was no later than the end of the last acquire or clean-up.
    let last_look = t
        .attempts
        .iter()
        .map(|a| a.cleanup_done.or(a.done).map_or_else(|| t.alive_until(a.worker), |d| t.time(d)))
        .max()
        .unwrap_or(0);
    let excused = |e: &Event| {
        let renewed = if e.renewed == Some(true) { last_look } else { 0 };
        dead_until.is_some_and(|d| d.max(renewed) + ctx.ttl_ns + margin >= listed)
    };
    let mut findings = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.f != Op::Residue || e.details.is_none() || e.kept == Some(true) {
            continue;
        }
        let key = e.details.as_deref().unwrap_or_default();
        let pttl = e.value.unwrap_or(-1);
        let message = if pttl < 0 {
            format!("key {key} was left on the lock server with no ttl: it never goes away")
        } else if excused(e) {
            continue;
        } else {
            let looks = if e.renewed == Some(true) && dead_until.is_some() {
                "; the waiters' looks that renew it ended with the last acquire, over a ttl before"
            } else {
                ""
            };
            format!(
                "key {key} was left on the lock server with {pttl} ms to live after every worker \
                 ended, and no crashed or unsure operation within a ttl ({} ms) can explain it\
                 {looks}",
                ms(ctx.ttl_ns)
            )
        };
        findings.push(Finding { kind: FindingKind::Residue, message, events: vec![i] });
    }
    let total = findings.len();
    CheckResult::from_findings(findings, total)
}
