//! `report.md`: the verdicts, the findings with the events that prove them, and the figures.

use std::fmt::Write as _;

use super::results::{Results, expected_name, num};
use crate::history::Event;

/// The report of `r` over `history`, in Markdown.
pub(super) fn markdown(r: &Results, history: &[Event]) -> String {
    let mut m = format!("# {} × {}\n\n", r.scenario, r.algorithm);
    let _ = writeln!(m, "{}\n", verdict_sentence(r));
    if !r.description.is_empty() {
        let _ = writeln!(m, "{}\n", r.description);
    }
    let _ = writeln!(
        m,
        "{} algorithm, {} worker{} × {} iteration{}, seed {}, servers: {}. ttl {} ms, wait {} ms, liveness slack {} ms.\n",
        r.class.name(),
        r.workers,
        if r.workers == 1 { "" } else { "s" },
        r.iterations,
        if r.iterations == 1 { "" } else { "s" },
        r.seed,
        r.server,
        r.context.ttl_ns / 1_000_000,
        r.context.wait_ns / 1_000_000,
        r.context.slack_ns / 1_000_000,
    );
    if !r.faults_struck.is_empty() || !r.faults_planned.is_empty() {
        let _ = writeln!(m, "Faults struck: {}.\n", r.faults_text());
    }
    for kind in &r.faults_unstruck {
        let _ = writeln!(
            m,
            "**The fault `{kind}` never struck**: the verdicts say nothing about it.\n"
        );
    }
    if r.time_limit_reached {
        m.push_str("**The run reached its time limit** (`max_duration_ms`) before every worker finished its iterations; no acquire started after it.\n\n");
    }
    m.push_str("## Verdicts\n\n| checker | verdict | expected | as expected | reason |\n|---|---|---|---|---|\n");
    for (name, c) in &r.checkers {
        let expected = expected_name(c.expected);
        let _ = writeln!(
            m,
            "| {name} | {} | {expected} | {} | {} |",
            c.result.verdict,
            if c.as_expected { "yes" } else { "**no**" },
            c.result.reason.as_deref().unwrap_or("")
        );
    }
    let start = history.first().map_or(0, |e| e.time);
    for (name, c) in &r.checkers {
        if c.result.findings.is_empty() {
            continue;
        }
        let _ = writeln!(m, "\n## {name}: findings\n");
        for f in &c.result.findings {
            let _ = writeln!(m, "- **{}**: {}\n\n  ```text", f.kind, f.message);
            for &i in &f.events {
                let Some(e) = history.get(i) else { continue };
                let line = serde_json::to_string(e).unwrap_or_default();
                let _ = writeln!(
                    m,
                    "  #{i:<7} +{:>10.3} ms  {line}",
                    (e.time.saturating_sub(start)) as f64 / 1e6
                );
            }
            m.push_str("  ```\n");
        }
    }
    let s = &r.stats;
    m.push_str("\n## Figures\n\n");
    let _ = writeln!(
        m,
        "- completed critical sections: {}; counter on the witness: {}",
        s.completed, s.counter
    );
    let _ = writeln!(
        m,
        "- acquisitions: {}; acquires that did not succeed: {}",
        s.acquisitions, s.acquire_failures
    );
    let _ = writeln!(
        m,
        "- lock work (first acquire to last release): {:.3} s; throughput {:.1} sections/s",
        s.lock_work_s, s.throughput_per_s
    );
    if r.floor_ratio_meaningful() {
        let _ = writeln!(
            m,
            "- PING p50 on the lock server: {:.1} µs ({}); floor_ratio = lock work / (completed × {} round trips × PING p50) = **{:.2}**",
            s.ping_us_p50, s.ping_placement, s.round_trips_per_section, s.floor_ratio
        );
        if let (Some(p), Some(r)) = (s.ping_us_p50_same_core, s.floor_ratio_same_core) {
            let _ = writeln!(
                m,
                "- PING p50 with the coordinator and the lock server on the same core: {p:.1} µs; floor_ratio with it: {r:.2}"
            );
        }
        if let (Some(p), Some(r)) = (s.ping_us_p50_during_run, s.floor_ratio_during_run) {
            let _ = writeln!(
                m,
                "- PING p50 sampled while the workers ran: {p:.1} µs; floor_ratio with it: {r:.2}"
            );
        }
        let _ = writeln!(
            m,
            "  (round trips per section: 1 acquire + 4 on the witness — enter, GET, SET or fenced write, exit — + 1 release)"
        );
    } else {
        let _ = writeln!(
            m,
            "- PING p50 on the lock server: {} µs ({}); no floor_ratio: the run had faults, and a pause or a delay is time no lock can win back",
            num(s.ping_us_p50, 1),
            s.ping_placement
        );
    }
    if r.class == crate::registry::Class::Adapter {
        let _ = writeln!(m, "- lock-server commands per acquisition: not counted by the adapter");
    } else {
        let _ = writeln!(
            m,
            "- lock-server commands per acquisition: {:.2} sent by the workers",
            s.server_commands_per_acquisition
        );
    }
    if let Some(v) = s.server_commands_per_acquisition_incl_scripts {
        let _ = writeln!(
            m,
            "  ({v:.2} run by the server, counting the commands inside Lua scripts, from INFO commandstats)"
        );
    }
    let _ = writeln!(m, "- witness commands per section: {:.2}", s.witness_commands_per_section);
    m.push_str("\n| latency (ms) | n | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n");
    for (name, p) in &s.latency_ms {
        let _ = writeln!(
            m,
            "| {name} | {} | {} | {} | {} | {} |",
            p.n,
            num(p.p50, 1),
            num(p.p90, 1),
            num(p.p99, 1),
            num(p.max, 1)
        );
    }
    for (name, c) in &r.checkers {
        for (k, v) in &c.result.figures {
            let _ = writeln!(m, "- {name}: {k} = {}", num(*v, 3));
        }
    }
    if !r.worker_failures.is_empty() {
        m.push_str("\n## Trouble\n\n");
        for f in &r.worker_failures {
            let _ = writeln!(m, "- {f}");
        }
    }
    m
}

/// The report's first sentence, its verdict in bold.
fn verdict_sentence(r: &Results) -> String {
    let sentence = r.sentence();
    match sentence.split_once(": ") {
        Some((verdict, rest)) => format!("**{verdict}**: {rest}"),
        None => sentence,
    }
}
