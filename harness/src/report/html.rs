//! `timeline.html`: a self-contained page with one row per worker: when it held the lock, when
//! it was inside the critical section, the faults aimed at it, and the acquisitions a finding
//! names in red.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use super::results::Results;
use crate::check::Timeline;
use crate::history::{Event, Kind, Op};

const WIDTH: f64 = 1400.0;
const LEFT: f64 = 90.0;
const ROW: f64 = 18.0;

/// The page for a run.
#[must_use]
pub fn html(results: &Results, history: &[Event]) -> String {
    let t = Timeline::new(history);
    let (Some(first), Some(last)) = (history.first(), history.last()) else {
        return page(results, "<p>The history is empty.</p>");
    };
    let (start, span) = (first.time, (last.time.saturating_sub(first.time)).max(1));
    let x =
        |ns: u64| LEFT + (ns.saturating_sub(start) as f64 / span as f64) * (WIDTH - LEFT - 10.0);
    let rows: BTreeMap<u32, usize> = t.workers.iter().enumerate().map(|(i, &w)| (w, i)).collect();
    let y = |w: u32| 20.0 + rows.get(&w).copied().unwrap_or(0) as f64 * ROW;
    let flagged: HashSet<usize> = results
        .checkers
        .values()
        .flat_map(|c| c.result.findings.iter().flat_map(|f| f.events.iter().copied()))
        .collect();
    let mut svg = String::new();
    for &w in rows.keys() {
        let _ =
            write!(svg, r#"<text x="4" y="{:.1}" class="label">worker {w}</text>"#, y(w) + 12.0);
    }
    for a in &t.acquisitions {
        let end = a.release_invoke.or(a.section_done).map_or(last.time, |i| t.time(i));
        let bad = [Some(a.ok), a.section_done, a.release_done]
            .iter()
            .flatten()
            .any(|i| flagged.contains(i));
        let class = if bad { "held bad" } else { "held" };
        let (x0, x1) = (x(t.time(a.ok)), x(end));
        let _ = write!(
            svg,
            r#"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="14" class="{class}"><title>worker {} held the lock: event #{}</title></rect>"#,
            y(a.worker),
            (x1 - x0).max(0.5),
            a.worker,
            a.ok
        );
        if let Some(d) = a.section_done {
            let e = &history[d];
            if let (Kind::Ok, Some(enter), Some(exit)) = (e.kind, e.enter, e.exit) {
                let (s0, s1) = (x(enter), x(exit));
                let _ = write!(
                    svg,
                    r#"<rect x="{s0:.1}" y="{:.1}" width="{:.1}" height="8" class="inside"><title>inside: read {}, wrote {} (event #{d})</title></rect>"#,
                    y(a.worker) + 3.0,
                    (s1 - s0).max(0.5),
                    e.read.map_or_else(|| "nothing".into(), |v| v.to_string()),
                    e.wrote.map_or_else(|| "nothing".into(), |v| v.to_string())
                );
            }
        }
    }
    for e in history
        .iter()
        .filter(|e| matches!(e.f, Op::Kill | Op::Pause | Op::Crash) && e.kind != Kind::Ok)
    {
        let Some(target) = e.target else { continue };
        let _ = write!(
            svg,
            r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" class="fault"><title>{3} {4}</title></line>"#,
            x(e.time),
            y(target) - 2.0,
            y(target) + 16.0,
            match e.f {
                Op::Kill => "kill",
                Op::Pause => "pause",
                _ => "crash",
            },
            escape(e.details.as_deref().unwrap_or(""))
        );
    }
    let height = 30.0 + rows.len() as f64 * ROW;
    let body = format!(
        r#"<p>{:.3} s from the first event to the last. Light: holding the lock (acquired → release began); dark: inside the critical section (enter answered → exit sent); red: named by a finding; black ticks: kills, pauses, crashes. Hover for details.</p>
<svg width="{WIDTH}" height="{height:.0}" xmlns="http://www.w3.org/2000/svg">{svg}</svg>"#,
        span as f64 / 1e9
    );
    page(results, &body)
}

fn page(results: &Results, body: &str) -> String {
    let verdicts: String = results
        .checkers
        .iter()
        .map(|(n, c)| {
            format!(
                "<li>{n}: <b>{}</b>{}</li>",
                c.result.verdict,
                if c.as_expected { "" } else { " (not as expected)" }
            )
        })
        .collect();
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>{s} × {a}</title><style>
body {{ font-family: sans-serif; margin: 1em; }} .label {{ font-size: 11px; }}
.held {{ fill: #b7d3f2; }} .held.bad {{ fill: #f4a3a3; }} .inside {{ fill: #2a6fb5; }}
.fault {{ stroke: black; stroke-width: 2; }}
</style></head><body><h1>{s} × {a}</h1><ul>{verdicts}</ul>{body}</body></html>
"#,
        s = escape(&results.scenario),
        a = escape(&results.algorithm)
    )
}

/// `text` safe inside HTML/XML text and attribute values.
#[must_use]
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
