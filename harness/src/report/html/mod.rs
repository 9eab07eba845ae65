//! `timeline.html`: one self-contained page (inline CSS and script, nothing fetched) that says
//! first whether the run went as expected and what each checker said against what the scenario
//! expected, then draws the run on a time axis: each holding with its lease, the sections, the
//! fault windows, refused fenced writes; then each acquire's latency (an SVG plot); then the
//! findings, linked to the events they name.
//!
//! The page records its own load time (`data-render-ms`) and any script error
//! (`data-js-errors`) on its `<html>` element, so a headless browser can check it.

mod chart;
mod faults;
mod latency;
mod named;
mod scale;
mod sums;

use std::fmt::Write as _;
use std::time::Duration;

use self::named::Named;
use self::scale::Scale;
use super::results::{Results, expected_name};
use crate::check::{Timeline, Verdict};
use crate::history::Event;

/// The page for a run.
#[must_use]
pub fn html(results: &Results, history: &[Event]) -> String {
    let (Some(first), Some(last)) = (history.first(), history.last()) else {
        return page(results, "<p>The history is empty.</p>");
    };
    let t = Timeline::new(history);
    let named = Named::new(results, history);
    let ttl = results.context.ttl_ns;
    // results.json does not carry a scenario's own `drift_ms`: the default is what most run.
    let drift = redmutex::algo::default_drift(Duration::from_nanos(ttl));
    let setting = chart::Setting {
        scale: Scale { start: first.time, span: last.time.saturating_sub(first.time).max(1) },
        named: &named,
        ttl,
        drift: u64::try_from(drift.as_nanos()).unwrap_or(u64::MAX),
    };
    let mut body = format!(
        "<h2>Timeline</h2><p class=\"hint\">{:.1} s from the first event to the last, {} workers, \
         {} acquisitions. Point at anything for its details.</p>",
        setting.scale.span as f64 / 1e9,
        t.workers.len(),
        t.acquisitions.len()
    );
    body.push_str(&legend(ttl, setting.drift));
    body.push_str(&chart::chart(&t, &setting));
    body.push_str(&latency::section(&t, first.time));
    body.push_str(&named.html(history, &setting.scale));
    page(results, &body)
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

/// ` f1 f4`: the classes that tie an element to the findings that name it.
fn classes(numbers: &[usize]) -> String {
    numbers.iter().map(|k| format!(" f{k}")).collect()
}

/// One plain sentence on the whole run.
fn status(results: &Results) -> String {
    let findings: usize = results.checkers.values().map(|c| c.result.findings.len()).sum();
    if results.as_expected && findings > 0 {
        return "As expected: every checker said what the scenario expects, including the findings \
                listed below, which the scenario expects for this algorithm."
            .into();
    }
    results.sentence()
}

/// The checkers' table: expected against actual.
fn verdicts(results: &Results) -> String {
    let mut rows = String::from(
        "<table class=\"verdicts\"><tr><th>checker</th><th>expected</th><th>actual</th><th></th><th>why</th></tr>",
    );
    for (name, c) in &results.checkers {
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for f in &c.result.findings {
            match kinds.iter_mut().find(|(k, _)| *k == f.kind.as_str()) {
                Some((_, n)) => *n += 1,
                None => kinds.push((f.kind.as_str(), 1)),
            }
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        let actual = if kinds.is_empty() {
            c.result.verdict.to_string()
        } else {
            format!("{} ({})", c.result.verdict, kinds.join(", "))
        };
        let verdict_class = match c.result.verdict {
            Verdict::Valid => "valid",
            Verdict::Unknown => "unknown",
            Verdict::Invalid => "invalid",
        };
        let _ = write!(
            rows,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td class=\"{verdict_class}\">{}</td><td>{}</td><td>{}</td></tr>",
            if c.as_expected { "met" } else { "unmet" },
            escape(name),
            expected_name(c.expected),
            escape(&actual),
            if c.as_expected { "✓ as expected" } else { "✗ NOT as expected" },
            escape(c.result.reason.as_deref().unwrap_or(""))
        );
    }
    rows.push_str("</table>");
    rows
}

fn legend(ttl: u64, drift: u64) -> String {
    format!(
        r#"<div class="legend"><span><i class="sw lease"></i>lease, from the acquisition to its end: winning command sent + ttl {} ms − drift {} ms</span><span><i class="sw lease-end"></i>the lease ran out while held (faint: after the release)</span><span><i class="sw held"></i>holding (acquired → release began)</span><span><i class="sw over"></i>holding past the lease</span><span><i class="sw inside"></i>inside the section</span><span><i class="sw late"></i>inside, past the lease</span><span><b class="xmark">✕</b> fenced write refused</span><span><i class="sw shade"></i>fault window</span><span><i class="sw named"></i>named by a finding</span></div>"#,
        ttl as f64 / 1e6,
        drift as f64 / 1e6
    )
}

fn page(results: &Results, body: &str) -> String {
    let ok = if results.as_expected { "ok" } else { "bad" };
    let trouble: String =
        results.worker_failures.iter().map(|f| format!("<li>{}</li>", escape(f))).collect();
    let trouble = if trouble.is_empty() {
        String::new()
    } else {
        format!("<ul class=\"trouble\">{trouble}</ul>")
    };
    let about = format!(
        "{} · {} workers × {} iterations · server {} · seed {} · faults: {}",
        results.description,
        results.workers,
        results.iterations,
        results.server,
        results.seed,
        if results.faults_struck.is_empty() && results.faults_planned.is_empty() {
            "none".to_string()
        } else {
            results.faults_text()
        }
    );
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{s} × {a}</title><script>{ERRORS}</script><style>{CSS}</style></head><body>
<h1>{s} × {a}</h1><p class="about">{about}</p>
<p class="status {ok}" id="status">{status}</p>{trouble}{verdicts}
{body}<script>{SCRIPT}</script></body></html>
"#,
        s = escape(&results.scenario),
        a = escape(&results.algorithm),
        about = escape(&about),
        status = escape(&status(results)),
        verdicts = verdicts(results),
    )
}

/// First in the page: any script error lands on `<html data-js-errors>`.
const ERRORS: &str = "window.onerror=function(m,s,l){var d=document.documentElement;\
d.setAttribute('data-js-errors',(d.getAttribute('data-js-errors')||'')+m+' (line '+l+'); ');};";

/// Last in the page: findings outline what they name; the load time is recorded.
const SCRIPT: &str = "(function(){var lit=[];function hl(k){lit.forEach(function(e){e.classList.remove('hl');});\
lit=Array.prototype.slice.call(document.querySelectorAll('.f'+k));lit.forEach(function(e){e.classList.add('hl');});}\
document.querySelectorAll('li.finding').forEach(function(li){var k=li.getAttribute('data-f');\
li.addEventListener('mouseenter',function(){hl(k);});li.addEventListener('click',function(){hl(k);});});\
document.querySelectorAll('g.named').forEach(function(g){g.addEventListener('click',function(){\
var k=g.getAttribute('data-f').split(' ')[0];hl(k);location.hash='f'+k;});});\
document.body.getBoundingClientRect();\
document.documentElement.setAttribute('data-render-ms',String(Math.round(performance.now())));})();";

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:1em 1.5em;color:#1d1d1f}\
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.2em 0 .4em}\
.about,.hint{color:#555;margin:.3em 0}.status{font-size:1.1em;font-weight:600;padding:.5em .8em;border-radius:4px}\
.status.ok{background:#e3f4e3;border-left:6px solid #2e8b3a}.status.bad{background:#fbe3e3;border-left:6px solid #c62828}\
table{border-collapse:collapse;margin:.4em 0}td,th{padding:.2em .7em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\
td{white-space:nowrap}td:last-child{white-space:normal}tr.unmet td{background:#fbe3e3}td.invalid{color:#b71c1c;font-weight:600}td.unknown{color:#8a6d00}td.valid{color:#2e7d32}\
.legend{display:flex;flex-wrap:wrap;gap:.3em 1.2em;font-size:.85em;color:#333;margin:.4em 0}\
.sw{display:inline-block;width:1.6em;height:.8em;margin-right:.3em;vertical-align:middle}\
.sw.lease{background:#3a9d5d;height:.25em}.sw.lease-end{width:2px;height:1em;background:#1b5e20}\
.sw.held{background:#b7d3f2}.sw.over{background:#f6b26b}.sw.inside{background:#2a6fb5}.sw.late{background:#b3261e}\
.sw.shade{background:rgba(128,90,213,.18)}.sw.named{border:2px solid #d50000;height:.6em}\
.chart{display:grid;grid-template-columns:9.5em 1fr;width:100%}.labels{position:relative;font-size:12px}\
.lab{position:absolute;right:.5em;white-space:nowrap;color:#333}.lab.named-row{color:#b71c1c;font-weight:600}\
.lab.axis-title{color:#777}.lab.sum{color:#555;font-style:italic}\
.plot{display:block;overflow:visible;font-size:11px}.stripe{fill:#f6f7f9}.grid{stroke:#e3e3e3}.axis{stroke:#888}\
.tick{fill:#555}.lease{fill:#3a9d5d}.lease-end{stroke:#9cc7a9;stroke-width:1.5}.lease-end.ran-out{stroke:#1b5e20;stroke-width:2.5}.lease.rest{fill:#9cc7a9}\
.held{fill:#b7d3f2}.over{fill:#f6b26b}.inside{fill:#2a6fb5}.inside.unsure{fill:#8fa9c6}\
.late{fill:#b3261e}.xmark{fill:#d50000;color:#d50000;font-weight:700;font-size:13px}\
.refused-label{fill:#d50000;font-size:11px;font-weight:600}\
.acq.named .held{stroke:#d50000;stroke-width:1.5}.hl .held,.hl.fault,.hl.instant{stroke:#000;stroke-width:3}\
tr.hl td,li.hl{background:#fff3b0}:target{background:#fff3b0}\
.shade{fill:rgba(128,90,213,.13)}.shade.k-restart{fill:rgba(230,81,0,.12)}.fault{fill:rgba(128,90,213,.45)}\
.strip{fill:rgba(128,90,213,.8)}.strip.k-skew{fill:rgba(0,137,123,.8)}.strip.k-delay{fill:rgba(121,85,72,.8)}.fault.k-restart{fill:rgba(230,81,0,.5)}.fault.k-skew{fill:rgba(0,137,123,.45)}.fault.k-delay{fill:rgba(121,85,72,.45)}\
.instant{stroke:#c62828;stroke-width:2}.instant.k-heal{stroke:#2e7d32;stroke-dasharray:4 3}\
.flabel{fill:#333;font-size:11px}.sum-bg{fill:#f6f7f9}.sum-held{fill:#6f9fd8}.sum-overlap{fill:#d50000;opacity:.7}\
.sum-wait{fill:#b39ddb}ol.findings li{margin:.3em 0;cursor:pointer}.evs{color:#555}.show{font-size:.85em}\
.trouble{color:#b71c1c}";
