//! The findings of every checker, numbered, with the events and workers they name: the chart
//! marks what they name, and the list under it links back to the events.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::escape;
use super::scale::Scale;
use crate::check::Finding;
use crate::history::{Event, Kind, Op};
use crate::report::Results;

/// Findings numbered from 0 in report order, and what they name.
pub(super) struct Named<'r> {
    /// `(checker, finding)`.
    pub findings: Vec<(&'r str, &'r Finding)>,
    /// Event index → the numbers of the findings that name it.
    pub by_event: HashMap<usize, Vec<usize>>,
    /// The workers the named events belong to (or aim at), in order of first naming.
    pub workers: Vec<u32>,
}

impl<'r> Named<'r> {
    /// What the findings of `results` name in `events`.
    pub fn new(results: &'r Results, events: &[Event]) -> Named<'r> {
        let findings: Vec<(&str, &Finding)> = results
            .checkers
            .iter()
            .flat_map(|(name, c)| c.result.findings.iter().map(move |f| (name.as_str(), f)))
            .collect();
        let mut by_event: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut workers = Vec::new();
        for (k, (_, f)) in findings.iter().enumerate() {
            for &i in &f.events {
                let numbers = by_event.entry(i).or_default();
                if !numbers.contains(&k) {
                    numbers.push(k);
                }
                let Some(e) = events.get(i) else { continue };
                if let Some(w) = e.worker.or(e.target)
                    && !workers.contains(&w)
                {
                    workers.push(w);
                }
            }
        }
        Named { findings, by_event, workers }
    }

    /// The numbers of the findings that name any of `events`, ascending.
    pub fn of(&self, events: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut numbers: Vec<usize> =
            events.into_iter().filter_map(|i| self.by_event.get(&i)).flatten().copied().collect();
        numbers.sort_unstable();
        numbers.dedup();
        numbers
    }

    /// The findings as a list, each linked to its events, then a table of those events.
    pub fn html(&self, events: &[Event], scale: &Scale) -> String {
        if self.findings.is_empty() {
            return "<h2>Findings</h2><p>None: no checker found anything wrong.</p>".into();
        }
        let mut out = String::from(
            "<h2 id=\"findings\">Findings</h2><p class=\"hint\">Point at or click a finding to \
             outline what it names in the chart; an event number leads to the event.</p><ol class=\"findings\">",
        );
        for (k, (checker, f)) in self.findings.iter().enumerate() {
            let links: Vec<String> =
                f.events.iter().map(|i| format!("<a href=\"#e{i}\">#{i}</a>")).collect();
            let _ = write!(
                out,
                "<li id=\"f{k}\" class=\"finding f{k}\" data-f=\"{k}\"><b>{}</b> · {}: {} \
                 <span class=\"evs\">events {}</span> <a href=\"#chart\" class=\"show\">show in chart</a></li>",
                escape(checker),
                escape(f.kind.as_str()),
                escape(&f.message),
                links.join(" ")
            );
        }
        out.push_str("</ol><h2>The events they name</h2><table class=\"events\"><tr><th>#</th><th>ms</th><th>worker</th><th>event</th><th>what it says</th><th>findings</th></tr>");
        let mut named: Vec<usize> = self.by_event.keys().copied().collect();
        named.sort_unstable();
        for i in named {
            let Some(e) = events.get(i) else { continue };
            let numbers = &self.by_event[&i];
            let classes: Vec<String> = numbers.iter().map(|k| format!("f{k}")).collect();
            let refs: Vec<String> =
                numbers.iter().map(|k| format!("<a href=\"#f{k}\">{}</a>", k + 1)).collect();
            let _ = write!(
                out,
                "<tr id=\"e{i}\" class=\"{}\"><td>{i}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                classes.join(" "),
                scale.ms(e.time),
                e.worker.or(e.target).map_or_else(String::new, |w| w.to_string()),
                op_name(e.f),
                kind_name(e.kind),
                escape(&describe(e)),
                refs.join(", ")
            );
        }
        out.push_str("</table>");
        out
    }
}

/// The name of an operation as the history writes it.
pub(super) fn op_name(op: Op) -> &'static str {
    match op {
        Op::Acquire => "acquire",
        Op::Section => "section",
        Op::Release => "release",
        Op::Kill => "kill",
        Op::Pause => "pause",
        Op::StepDelay => "step-delay",
        Op::ClockSkew => "clock-skew",
        Op::Crash => "crash",
        Op::Restart => "restart",
        Op::SlowServer => "slow-server",
        Op::Partition => "partition",
        Op::Command => "command",
        Op::Failover => "failover",
        Op::ServerClock => "server-clock",
        Op::CancelAcquire => "cancel-acquire",
        Op::Residue => "residue",
        Op::Heal => "heal",
        Op::Final => "final",
        Op::Stats => "stats",
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Invoke => "invoke",
        Kind::Ok => "ok",
        Kind::Fail => "fail",
        Kind::Info => "info",
    }
}

/// The fields of an event a reader needs, in words.
pub(super) fn describe(e: &Event) -> String {
    let mut parts = Vec::new();
    if let Some(f) = e.fence {
        parts.push(format!("fence {f}"));
    }
    if let Some(r) = e.read {
        parts.push(format!("read {r}"));
    }
    match (e.wrote, e.accepted) {
        (Some(w), Some(false)) => parts.push(format!("write of {w} REFUSED by the resource")),
        (Some(w), _) => parts.push(format!("wrote {w}")),
        _ => {}
    }
    if !e.others.is_empty() {
        parts.push(format!("others inside: {:?}", e.others));
    }
    if let Some(o) = e.owned {
        parts.push(if o { "lock was ours".into() } else { "lock was no longer ours".into() });
    }
    if let Some(t) = e.target {
        parts.push(format!("aimed at worker {t}"));
    }
    if let Some(v) = e.value {
        parts.push(format!("value {v}"));
    }
    if let Some(d) = e.delayed_ms {
        parts.push(format!("delayed {d} ms"));
    }
    if let Some(d) = &e.details {
        parts.push(d.clone());
    }
    if let Some(t) = &e.token {
        parts.push(format!("token {t}"));
    }
    parts.join(", ")
}
