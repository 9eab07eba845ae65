//! A counterexample as a readable timeline: the events that prove a violation, with what the
//! workers involved and the nemesis did around them.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::Violation;
use crate::history::{Event, Kind, Op};

/// The most lines a timeline shows.
const MAX_LINES: usize = 60;

/// The history indices a violation's timeline shows: the proof events, and between the first
/// and the last of them every event of the workers involved and of the nemesis.
#[must_use]
pub fn timeline_lines(history: &[Event], v: &Violation) -> Vec<usize> {
    let Some((&first, &last)) = v.events.iter().min().zip(v.events.iter().max()) else {
        return Vec::new();
    };
    let workers: BTreeSet<u32> = v
        .events
        .iter()
        .filter_map(|&i| history.get(i)?.worker.or(history.get(i)?.target))
        .collect();
    let last = last.min(history.len().saturating_sub(1));
    (first..=last)
        .filter(|&i| {
            let e = &history[i];
            v.events.contains(&i)
                || e.worker.is_some_and(|w| workers.contains(&w))
                || (e.worker.is_none() && !matches!(e.f, Op::Final | Op::Stats))
        })
        .collect()
}

/// The violation, its timeline, and the command that replays it.
#[must_use]
pub fn counterexample(history: &[Event], v: &Violation, replay: &str) -> String {
    let mut s = format!(
        "{} violation ({}: {}): {}\n",
        if v.safety { "safety" } else { "liveness" },
        v.checker,
        v.kind,
        v.message
    );
    let lines = timeline_lines(history, v);
    let shown = lines.len().min(MAX_LINES);
    for &i in &lines[..shown] {
        let mark = if v.events.contains(&i) { '*' } else { ' ' };
        let _ = writeln!(s, "  {mark} {}", line(i, &history[i]));
    }
    if lines.len() > shown {
        let _ = writeln!(s, "    ... {} more events", lines.len() - shown);
    }
    let _ = writeln!(s, "  (* = the events that prove it; {} events in the timeline)", lines.len());
    let _ = writeln!(s, "  replay: {replay}");
    s
}

/// One event as a line: index, time, who, what, and the fields that matter.
fn line(i: usize, e: &Event) -> String {
    let ms = e.time as f64 / 1e6;
    let who = match (e.worker, e.target) {
        (Some(w), _) => format!("w{w}"),
        (None, Some(t)) => format!("nemesis→w{t}"),
        (None, None) => "nemesis".into(),
    };
    let kind = match e.kind {
        Kind::Invoke => "invoke",
        Kind::Ok => "ok",
        Kind::Fail => "fail",
        Kind::Info => "info",
    };
    let f = serde_json::to_value(e.f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut s = format!("#{i:<6} {ms:>11.3} ms  {who:<12} {f:<10} {kind:<6}");
    let mut add = |k: &str, v: String| {
        let _ = write!(s, " {k}={v}");
    };
    if let Some(t) = &e.token {
        // The tail tells tokens apart (a simulated token ends in worker id and round).
        add("token", t.chars().rev().take(16).collect::<Vec<_>>().into_iter().rev().collect());
    }
    if let Some(f) = e.fence {
        add("fence", f.to_string());
    }
    if let Some(o) = e.owned {
        add("owned", o.to_string());
    }
    if let Some(r) = e.read {
        add("read", r.to_string());
    }
    if let Some(w) = e.wrote {
        add("wrote", w.to_string());
    }
    if let Some(a) = e.accepted {
        add("accepted", a.to_string());
    }
    if !e.others.is_empty() {
        add("others", format!("{:?}", e.others));
    }
    if let Some(d) = e.delayed_ms {
        add("delayed_ms", d.to_string());
    }
    if let Some(v) = e.value {
        add("value", v.to_string());
    }
    if let Some(d) = &e.details {
        add("details", format!("{d:?}"));
    }
    s
}
