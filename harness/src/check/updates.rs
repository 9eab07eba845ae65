//! Lost updates: the counter on the witness equals the number of critical sections that wrote
//! it (for a fenced lock: the writes the fenced resource accepted).
//!
//! A section that ended `info` (its worker crashed, or a command timed out) may or may not have
//! written, so the counter must lie between the certain writes and the certain plus the unsure.

use std::collections::HashMap;

use super::{CheckResult, Context, Finding, Timeline};
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
    let mut findings = Vec::new();
    let mut total = 0;
    for acq in &t.acquisitions {
        if acq.section_invoke.is_none() {
            continue;
        }
        let Some(d) = acq.section_done.filter(|&d| t.events[d].kind == Kind::Ok) else {
            unsure += 1;
            continue;
        };
        let e = &t.events[d];
        let counted = if ctx.fenced { e.accepted == Some(true) } else { e.wrote.is_some() };
        if !counted {
            continue;
        }
        certain += 1;
        let Some(wrote) = e.wrote else { continue };
        if let Some(&earlier) = writers.get(&wrote) {
            total += 1;
            if findings.len() < super::MAX_FINDINGS {
                findings.push(Finding {
                    kind: "duplicate-write".into(),
                    message: format!(
                        "workers {} and {} both wrote {wrote}: one increment was lost",
                        t.events[earlier].worker.unwrap_or_default(),
                        e.worker.unwrap_or_default()
                    ),
                    events: vec![earlier, d],
                });
            }
        } else {
            writers.insert(wrote, d);
        }
    }
    let result = if value >= certain && value <= certain + unsure {
        CheckResult::valid()
    } else {
        let what =
            if ctx.fenced { "accepted fenced writes" } else { "completed critical sections" };
        let message = format!(
            "the counter is {value} but {certain} {what} wrote it ({unsure} more may have)"
        );
        findings.insert(0, Finding { kind: "counter-mismatch".into(), message, events: vec![fin] });
        CheckResult::from_findings(findings, total + 1)
    };
    result
        .figure("counter", value as f64)
        .figure("writes", certain as f64)
        .figure("unsure", unsure as f64)
}
