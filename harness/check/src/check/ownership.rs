//! Ownership: a release never removes a lock that another worker holds (a stale release).
//!
//! Proof from the history alone: worker A's release reported that it removed the lock (`owned`,
//! which an unconditional `DEL` always reports), yet another worker B acquired after A did,
//! before A's release sent its last command (the one that removes the lock; `last_send`, else
//! the invocation), and B had not begun its own release and was still within its lease when
//! A's release ended. B's key was then in place (it cannot expire before B's acquire
//! lease start + ttl), so what A removed was B's lock.
//!
//! A second proof catches a removal that happened while A's release was under way: B's own
//! release found its lock gone (`owned: false`) although it was over before B's lease could
//! have ended. Nothing but another client removes or overwrites a key before its expiry; the
//! finding names the releases by others that removed a lock after B acquired as suspects.

use super::{CheckResult, Context, Finding, FindingKind, Timeline, ms};
use crate::history::Kind;

/// The ownership checker.
#[must_use]
pub fn ownership(t: &Timeline<'_>, ctx: &Context) -> CheckResult {
    // Safety margin for the server's clock running a little faster than ours.
    let margin = ctx.ttl_ns / 100 + 2_000_000;
    // Each acquisition's window of certain ownership: from its ok until its release begins or
    // its lease may have ended (less the drift margin); sorted by start.
    let mut windows: Vec<(u64, u64, usize)> = t
        .acquisitions
        .iter()
        .enumerate()
        .map(|(b, acq)| {
            let lease = t.lease_start(acq).saturating_add(ctx.ttl_ns).saturating_sub(margin);
            let end = acq.release_invoke.map_or(lease, |r| t.time(r).min(lease));
            (t.time(acq.ok), end, b)
        })
        .collect();
    windows.sort_unstable();
    let table = MaxTable::new(&windows.iter().map(|w| (w.1, w.2)).collect::<Vec<_>>());
    let mut findings = Vec::new();
    let mut total = 0;
    for acq in &t.acquisitions {
        let (Some(ri), Some(rd)) = (acq.release_invoke, acq.release_done) else { continue };
        let done = &t.events[rd];
        if done.kind != Kind::Ok || done.owned != Some(true) {
            continue;
        }
        let (after, before) = (t.time(acq.ok), done.last_send.unwrap_or(0).max(t.time(ri)));
        // Windows that began strictly after A's acquisition and before A's removing command.
        let lo = windows.partition_point(|w| w.0 <= after);
        let hi = windows.partition_point(|w| w.0 < before);
        let Some((end, b)) = table.max(lo, hi) else { continue };
        if end <= done.time {
            continue;
        }
        total += 1;
        if findings.len() >= super::MAX_FINDINGS {
            continue;
        }
        let other = &t.acquisitions[b];
        findings.push(Finding {
            kind: FindingKind::StaleRelease,
            message: format!(
                "worker {}'s release removed the lock while worker {} held it (its removing \
                 command was sent {} ms into {}'s lease)",
                acq.worker,
                other.worker,
                ms(before.saturating_sub(t.lease_start(other))),
                other.worker
            ),
            events: vec![acq.ok, other.invoke, other.ok, ri, rd],
        });
    }
    if t.acquisitions.is_empty() {
        return CheckResult::unknown("no acquisition completed");
    }
    for acq in &t.acquisitions {
        let (Some(ri), Some(rd)) = (acq.release_invoke, acq.release_done) else { continue };
        let done = &t.events[rd];
        if done.kind != Kind::Ok || done.owned != Some(false) {
            continue;
        }
        let lease_end = t.lease_start(acq).saturating_add(ctx.ttl_ns).saturating_sub(margin);
        // The check may have run as late as the completion: only a release over before the
        // lease could end proves the key was removed by someone else.
        if t.time(rd) >= lease_end {
            continue;
        }
        total += 1;
        if findings.len() >= super::MAX_FINDINGS {
            continue;
        }
        let mut events = vec![acq.ok, ri, rd];
        let suspects: Vec<u32> = t
            .acquisitions
            .iter()
            .filter(|other| other.worker != acq.worker)
            .filter_map(|other| {
                let (oi, od) = (other.release_invoke?, other.release_done?);
                let removed = t.events[od].kind == Kind::Ok && t.events[od].owned == Some(true);
                (removed && t.time(od) > t.time(acq.ok) && t.time(oi) < t.time(ri)).then(|| {
                    events.extend([oi, od]);
                    other.worker
                })
            })
            .collect();
        events.sort_unstable();
        findings.push(Finding {
            kind: FindingKind::LockRemovedUnderHolder,
            message: format!(
                "worker {}'s lock was gone when it released {} ms into its {} ms lease: another client removed it{}",
                acq.worker,
                ms(t.time(ri).saturating_sub(t.lease_start(acq))),
                ms(ctx.ttl_ns),
                if suspects.is_empty() { String::new() } else { format!(" (releases that removed a lock meanwhile: workers {suspects:?})") }
            ),
            events,
        });
    }
    CheckResult::from_findings(findings, total)
}

/// Range maximum over `(end, id)` pairs: a sparse table, O(n log n) to build, O(1) to query.
struct MaxTable {
    levels: Vec<Vec<(u64, usize)>>,
}

impl MaxTable {
    fn new(items: &[(u64, usize)]) -> MaxTable {
        let mut levels = vec![items.to_vec()];
        let mut width = 1;
        while width * 2 <= items.len() {
            let prev = &levels[levels.len() - 1];
            let next =
                (0..=items.len() - width * 2).map(|i| prev[i].max(prev[i + width])).collect();
            levels.push(next);
            width *= 2;
        }
        MaxTable { levels }
    }

    /// The maximum over `lo..hi`, if non-empty.
    fn max(&self, lo: usize, hi: usize) -> Option<(u64, usize)> {
        if lo >= hi {
            return None;
        }
        let k = (usize::BITS - 1 - (hi - lo).leading_zeros()) as usize;
        let level = &self.levels[k];
        Some(level[lo].max(level[hi - (1 << k)]))
    }
}

#[cfg(test)]
mod tests {
    use super::MaxTable;

    #[test]
    fn sparse_table_answers_range_maxima() {
        let items: Vec<(u64, usize)> =
            [5, 1, 9, 3, 7, 2].iter().enumerate().map(|(i, &v)| (v, i)).collect();
        let t = MaxTable::new(&items);
        for lo in 0..items.len() {
            for hi in lo + 1..=items.len() {
                assert_eq!(t.max(lo, hi), items[lo..hi].iter().copied().max(), "{lo}..{hi}");
            }
        }
        assert_eq!(t.max(3, 3), None);
    }
}
