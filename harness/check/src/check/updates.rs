//! Lost updates: the counter on the witness equals the number of critical sections that wrote
//! it (for a fenced lock: the writes the fenced resource accepted).
//!
//! A section's write is certain when its completion says it wrote (`wrote`; fenced: `accepted`),
//! whether the section ended `ok` or `info` (its exit failed after the write). A section that
//! ended `info` before that, or whose worker died in it, may or may not have written, so the
//! counter must lie between the certain writes and the certain plus the unsure.
//!
//! Every proven loss is a finding whatever the counter says: two certain writes of one value,
//! or a value written or read above the final counter (the counter only grows under a correct
//! lock, so it was set back). An unsure section that read `r` and would have written a value a
//! certain section also wrote leaves the verdict unknown.

use std::collections::HashMap;

use super::{CheckResult, Context, Finding, FindingKind, Timeline};
use crate::history::Kind;

/// The lost-updates checker.
#[must_use]
pub fn lost_updates(t: &Timeline<'_>, ctx: &Context) -> CheckResult {
    let Some(fin) = t.final_event else {
        return CheckResult::unknown("the run ended before the counter was read");
    };
    let Some(value) = t.events[fin].value else {
        return CheckResult::unknown("the final event carries no counter value");
    };
    let (mut certain, mut unsure) = (0_i64, 0_i64);
    let mut writers: HashMap<i64, usize> = HashMap::new();
    let mut unsure_reads: Vec<(i64, usize)> = Vec::new();
    let mut findings = Vec::new();
    let mut total = 0;
    let mut push = |f: Finding| {
        total += 1;
        if findings.len() < super::MAX_FINDINGS {
            findings.push(f);
        }
    };
    for acq in &t.acquisitions {
        let Some(si) = acq.section_invoke else { continue };
        let Some(d) = acq.section_done else {
            unsure += 1;
            continue;
        };
        let e = &t.events[d];
        let who = e.worker.unwrap_or_default();
        if let Some(read) = e.read.filter(|&r| r > value) {
            push(Finding {
                kind: FindingKind::CounterSetBack,
                message: format!(
                    "worker {who} read {read} but the counter ended at {value}: a later write set \
                     it back, losing increments"
                ),
                events: vec![si, d, fin],
            });
        }
        let wrote = if ctx.fenced { e.accepted == Some(true) } else { e.wrote.is_some() };
        if !wrote {
            // A fenced write the resource refused, or a section that said it wrote nothing,
            // certainly did not count; one that ended `info` before the write may have.
            let refused = ctx.fenced && e.accepted == Some(false);
            if e.kind != Kind::Ok && !refused {
                unsure += 1;
                if let Some(r) = e.read {
                    unsure_reads.push((r, d));
                }
            }
            continue;
        }
        certain += 1;
        let Some(wrote) = e.wrote else { continue };
        if wrote > value {
            push(Finding {
                kind: FindingKind::CounterSetBack,
                message: format!(
                    "worker {who} wrote {wrote} but the counter ended at {value}: a later write \
                     set it back, losing increments"
                ),
                events: vec![d, fin],
            });
        }
        if let Some(&earlier) = writers.get(&wrote) {
            push(Finding {
                kind: FindingKind::DuplicateWrite,
                message: format!(
                    "workers {} and {who} both wrote {wrote}: one increment was lost",
                    t.events[earlier].worker.unwrap_or_default(),
                ),
                events: vec![earlier, d],
            });
        } else {
            writers.insert(wrote, d);
        }
    }
    if value < certain || value > certain + unsure {
        let what =
            if ctx.fenced { "accepted fenced writes" } else { "completed critical sections" };
        let message = format!(
            "the counter is {value} but {certain} {what} wrote it ({unsure} more may have)"
        );
        total += 1;
        findings
            .insert(0, Finding { kind: FindingKind::CounterMismatch, message, events: vec![fin] });
        findings.truncate(super::MAX_FINDINGS);
    }
    let mut result = CheckResult::from_findings(findings, total);
    if result.verdict == super::Verdict::Valid
        && let Some(&(r, d)) = unsure_reads.iter().find(|(r, _)| writers.contains_key(&(r + 1)))
    {
        result = CheckResult::unknown(format!(
            "worker {}'s section (event #{d}) read {r} and ended unsure: if it wrote {}, a \
             certain write of that value was lost",
            t.events[d].worker.unwrap_or_default(),
            r + 1
        ));
    }
    result
        .figure("counter", value as f64)
        .figure("writes", certain as f64)
        .figure("unsure", unsure as f64)
}
