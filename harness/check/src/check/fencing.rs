//! Fencing: fences strictly increase across acquisitions, and the resource never accepts a
//! write whose fence is older than one it accepted before.
//!
//! "Before" means certainly before on the monotonic clock: an acquisition that completed before
//! another was invoked, a section that sent its exit before another's enter answered; or, for
//! two accepted writes that read the same value, the newer fence's read before the older fence's
//! write (a fenced read raises the resource's bar).
//!
//! The run ends by reading the resource's own high-water mark (the `final` event's `fence`: the
//! newest fence the resource remembers, 0 when it keeps none). It must be one of the fences the
//! lock handed out (or 0), and no lower than any fence whose write the resource accepted: a
//! resource that forgets or never records the fences it has seen would take an older one, even
//! in a run where no paused holder came back to try.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::{CheckResult, Context, Finding, FindingKind, Timeline};
use crate::history::Kind;

/// The fencing checker.
#[must_use]
pub fn fencing(t: &Timeline<'_>, ctx: &Context) -> CheckResult {
    if !ctx.fenced {
        return CheckResult::unknown("the algorithm issues no fences");
    }
    if t.acquisitions.is_empty() {
        return CheckResult::unknown("no acquisition completed");
    }
    let mut findings = Vec::new();
    let mut total = 0;
    let mut grants = Vec::new();
    for (a, acq) in t.acquisitions.iter().enumerate() {
        match t.events[acq.ok].fence {
            Some(f) => {
                grants.push(Item { from: t.time(acq.invoke), to: t.time(acq.ok), fence: f, at: a })
            }
            None => {
                total += 1;
                findings.push(Finding {
                    kind: FindingKind::MissingFence,
                    message: format!(
                        "worker {}'s acquisition of a fenced lock carried no fence",
                        acq.worker
                    ),
                    events: vec![acq.ok],
                });
            }
        }
    }
    for (x, y) in earlier_with_greater(&grants, true) {
        total += 1;
        let (a, b) = (&t.acquisitions[x.at], &t.acquisitions[y.at]);
        findings.push(Finding {
            kind: FindingKind::FenceNotIncreasing,
            message: format!(
                "worker {} got fence {} after worker {}'s acquisition with fence {} had completed",
                b.worker, y.fence, a.worker, x.fence
            ),
            events: vec![a.ok, b.invoke, b.ok],
        });
    }
    let mut writes = Vec::new();
    for (a, acq) in t.acquisitions.iter().enumerate() {
        let Some(d) = acq.section_done else { continue };
        let e = &t.events[d];
        let fence = e.fence.or(t.events[acq.ok].fence);
        if let (Kind::Ok, Some(true), Some(enter), Some(exit), Some(fence)) =
            (e.kind, e.accepted, e.enter, e.exit, fence)
        {
            writes.push(Item { from: enter, to: exit, fence, at: a });
        }
    }
    for (x, y) in earlier_with_greater(&writes, false) {
        total += 1;
        let (a, b) = (&t.acquisitions[x.at], &t.acquisitions[y.at]);
        let (Some(da), Some(db)) = (a.section_done, b.section_done) else { continue };
        findings.push(Finding {
            kind: FindingKind::OlderFenceAccepted,
            message: format!(
                "the resource accepted worker {}'s write with fence {} after worker {}'s write with fence {}",
                b.worker, y.fence, a.worker, x.fence
            ),
            events: vec![da, db],
        });
    }
    // Two accepted writes that read the same value: both reads came before both writes, so the
    // newer fence had been seen (its read raised the resource's bar) when the older fence's write
    // was accepted. A resource that compares fences refuses that write.
    let mut by_read: HashMap<i64, usize> = HashMap::new();
    for &w in &writes {
        let acq = &t.acquisitions[w.at];
        let Some(d) = acq.section_done else { continue };
        let Some(read) = t.events[d].read else { continue };
        let Some(&other) = by_read.get(&read) else {
            by_read.insert(read, w.at);
            continue;
        };
        let Some(o) = writes.iter().find(|x| x.at == other) else { continue };
        let (older, newer) = match o.fence.cmp(&w.fence) {
            Ordering::Less => (o, &w),
            Ordering::Greater => (&w, o),
            Ordering::Equal => continue,
        };
        let (a, b) = (&t.acquisitions[older.at], &t.acquisitions[newer.at]);
        let (Some(da), Some(db)) = (a.section_done, b.section_done) else { continue };
        total += 1;
        findings.push(Finding {
            kind: FindingKind::OlderFenceAccepted,
            message: format!(
                "the resource accepted worker {}'s write with fence {} although worker {} had \
                 read the same value {read} with the newer fence {}",
                a.worker, older.fence, b.worker, newer.fence
            ),
            events: vec![db, da],
        });
    }
    high_water_mark(t, &grants, &writes, &mut findings, &mut total);
    findings.truncate(super::MAX_FINDINGS);
    CheckResult::from_findings(findings, total)
}

/// The resource's high-water mark read at the end (the `final` event's `fence`) against the
/// fences handed out and the writes accepted.
fn high_water_mark(
    t: &Timeline<'_>,
    grants: &[Item],
    writes: &[Item],
    findings: &mut Vec<Finding>,
    total: &mut usize,
) {
    let Some(fin) = t.final_event else { return };
    let Some(mark) = t.events[fin].fence else { return };
    if mark > 0 && !grants.iter().any(|g| g.fence == mark) {
        *total += 1;
        findings.push(Finding {
            kind: FindingKind::FenceMarkUnknown,
            message: format!(
                "the resource's high-water mark at the end is fence {mark}, which the lock gave \
                 no holder"
            ),
            events: vec![fin],
        });
    }
    if let Some(top) = writes.iter().filter(|w| w.fence > mark).max_by_key(|w| w.fence) {
        *total += 1;
        let acq = &t.acquisitions[top.at];
        let mut events = vec![fin];
        events.extend(acq.section_done);
        findings.push(Finding {
            kind: FindingKind::FenceMarkBehind,
            message: format!(
                "the resource's high-water mark at the end is fence {mark}, below fence {} of \
                 worker {}'s accepted write: it does not keep the newest fence it has seen, so \
                 it would accept an older one",
                top.fence, acq.worker
            ),
            events,
        });
    }
}

#[derive(Clone, Copy, Debug)]
struct Item {
    from: u64,
    to: u64,
    fence: u64,
    at: usize,
}

/// Pairs (x, y) where x ended before y began and x's fence is greater than y's (or equal, with
/// `or_equal`), reporting for each y the largest such x. O(n log n).
fn earlier_with_greater(items: &[Item], or_equal: bool) -> Vec<(Item, Item)> {
    let mut by_start = items.to_vec();
    by_start.sort_unstable_by_key(|i| i.from);
    let mut by_end = items.to_vec();
    by_end.sort_unstable_by_key(|i| i.to);
    let mut best: Option<Item> = None;
    let mut p = 0;
    let mut out = Vec::new();
    for y in by_start {
        while let Some(&x) = by_end.get(p).filter(|x| x.to < y.from) {
            if best.is_none_or(|b| x.fence > b.fence) {
                best = Some(x);
            }
            p += 1;
        }
        if let Some(x) = best
            && (x.fence > y.fence || (or_equal && x.fence == y.fence))
        {
            out.push((x, y));
        }
    }
    out
}
