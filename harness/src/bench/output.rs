//! The bench folder: `bench.json`, `bench.md`, `bench.html`, `choosing.md` (with
//! `choosing.svg`); and the progress bar.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{BenchReport, Cell};
use crate::report::{escape, num};

/// A bar over the bench's cells on stderr, or a hidden one when stderr is not a terminal.
pub(super) fn progress(cells: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(cells), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} cells  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Writes the three files into `dir`.
pub(super) fn write(dir: &Path, report: &BenchReport) -> anyhow::Result<()> {
    std::fs::write(dir.join("bench.json"), serde_json::to_string_pretty(report)?)?;
    std::fs::write(dir.join("bench.md"), markdown(report))?;
    std::fs::write(dir.join("bench.html"), html(report))?;
    std::fs::write(dir.join("choosing.svg"), super::plots::throughput(report)?)?;
    let choosing = super::choosing::section(report, "choosing.svg", Some("bench.html"));
    std::fs::write(dir.join("choosing.md"), format!("# Choosing an algorithm\n\n{choosing}"))?;
    Ok(())
}

/// The figures of one cell as medians over its rounds, with their ratios to the baselines.
pub(super) struct Row<'a> {
    pub cell: &'a Cell,
    pub sections_per_s: f64,
    pub of_chain: Option<f64>,
    /// Sections/s over the body alone in one process (hold 0 only: a hold is no body).
    pub of_body: Option<f64>,
    /// Sections/s of the same cell without recording, over the recorded ones (medians).
    pub overhead: Option<f64>,
    /// Sections/s without recording (median), where measured.
    pub unrecorded_per_s: Option<f64>,
    pub acquire_p50_us: f64,
    pub acquire_p99_us: f64,
    pub acquire_max_us: f64,
    pub handoff_p50_us: Option<f64>,
    pub handoff_p99_us: Option<f64>,
    pub handoff_per_hop: Option<f64>,
    pub handoff_per_ping: Option<f64>,
    pub sent: Option<f64>,
    pub incl_scripts: Option<f64>,
    pub client_cpu_us: f64,
    pub server_cpu_us: Option<f64>,
    pub fairness: Option<f64>,
    pub barging: Option<f64>,
    pub spread: f64,
    pub uncontended_per_raw: Option<f64>,
}

pub(super) fn rows(r: &BenchReport) -> Vec<Row<'_>> {
    let ping = r.baseline(|b| Some(b.ping_us));
    let raw = r.baseline(|b| Some(b.raw_lock_pair_us.p50));
    let body = r.baseline(|b| b.body_alone_per_s.get(&1).copied());
    r.cells
        .iter()
        .map(|c| {
            let w = c.workers;
            let hop = r.baseline(|b| b.chain_hop_us.get(&w).copied());
            let chain = r.baseline(|b| b.chain_body_turns_per_s.get(&w).copied());
            let m = |f: &dyn Fn(&super::CellRound) -> f64| c.median(|x| Some(f(x))).unwrap_or(0.0);
            let handoff = |f: &dyn Fn(&super::CellRound) -> f64| {
                c.median(|x| (x.history.handoff_us.n > 0).then(|| f(x)))
            };
            let sections_per_s = m(&|x| x.sections_per_s);
            let handoff_p50_us = handoff(&|x| x.history.handoff_us.p50);
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            let uncontended = m(&|x| x.history.acquire_us.p50 + x.history.release_us.p50);
            let unrecorded_per_s = c.median(|x| Some(x.unrecorded?.sections_per_s));
            Row {
                cell: c,
                sections_per_s,
                of_chain: ratio(Some(sections_per_s), chain),
                of_body: (c.hold_ms == 0).then_some(()).and(ratio(Some(sections_per_s), body)),
                overhead: ratio(unrecorded_per_s, Some(sections_per_s)),
                unrecorded_per_s,
                acquire_p50_us: m(&|x| x.history.acquire_us.p50),
                acquire_p99_us: m(&|x| x.history.acquire_us.p99),
                acquire_max_us: m(&|x| x.history.acquire_us.max),
                handoff_p50_us,
                handoff_p99_us: handoff(&|x| x.history.handoff_us.p99),
                handoff_per_hop: ratio(handoff_p50_us, hop),
                handoff_per_ping: ratio(handoff_p50_us, ping),
                sent: c.median(|x| x.commands_sent_per_acquisition),
                incl_scripts: c.median(|x| x.commands_incl_scripts_per_acquisition),
                client_cpu_us: m(&|x| x.client_cpu_us_per_acquisition),
                server_cpu_us: c.median(|x| x.server_cpu_us_per_acquisition),
                fairness: c.median(|x| x.history.fairness),
                barging: c.median(|x| x.history.barging),
                spread: c.spread(|x| x.sections_per_s),
                uncontended_per_raw: (w == 1 && c.hold_ms == 0)
                    .then_some(())
                    .and(ratio(Some(uncontended), raw)),
            }
        })
        .collect()
}

pub(super) fn opt(v: Option<f64>, places: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| num(v, places))
}

/// `bench.md`: the machine, the baselines, one table per hold time, and loud broken cells.
#[must_use]
pub fn markdown(r: &BenchReport) -> String {
    let mut t = String::from("# contend bench\n\n");
    let broken: Vec<&Cell> = r.broken().collect();
    if broken.is_empty() {
        t.push_str("Every cell's checkers were satisfied in every round.\n\n");
    } else {
        t.push_str("**LOCK BROKE** in these cells (their figures measure a broken lock):\n\n");
        for c in &broken {
            let dirs: Vec<String> = c
                .rounds
                .iter()
                .filter_map(|x| x.report_dir.as_ref().map(|d| d.display().to_string()))
                .collect();
            let _ = writeln!(
                t,
                "- **{} × {} workers × hold {} ms**: reports {}",
                c.algorithm,
                c.workers,
                c.hold_ms,
                dirs.join(", ")
            );
        }
        t.push('\n');
    }
    let m = &r.machine;
    let _ = writeln!(
        t,
        "{} (UTC) on {} cores, Linux {}, redis-server {}, revision {}; {} round(s) of {} sections per cell, interleaved.\n",
        r.started_utc,
        m.nproc,
        m.kernel,
        m.redis_version,
        m.git_revision.as_deref().unwrap_or("unknown"),
        r.rounds,
        r.sections_per_cell
    );
    t.push_str("## Baselines (medians over rounds)\n\n");
    let _ = writeln!(
        t,
        "- PING round trip: {} µs ({}){}",
        opt(r.baseline(|b| Some(b.ping_us)), 1),
        r.baselines.first().map_or("", |b| b.ping_placement.as_str()),
        r.baseline(|b| b.ping_same_core_us)
            .map_or_else(String::new, |p| format!("; same core {} µs", num(p, 1)))
    );
    let _ = writeln!(
        t,
        "- raw lock (SET NX PX + release script, one connection): {} µs per pair",
        opt(r.baseline(|b| Some(b.raw_lock_pair_us.p50)), 1)
    );
    let _ = writeln!(
        t,
        "- section body alone (GET/SET of a counter on the witness, no lock), one process: {} bodies/s",
        opt(r.baseline(|b| b.body_alone_per_s.get(&1).copied()), 0)
    );
    t.push_str(
        "- hand-off chain (processes passing a turn with BLPOP/RPUSH), and the body alone in as many processes at once:\n\n",
    );
    t.push_str(
        "| processes | µs per hop | with GET/SET body: turns/s | body alone, no lock: bodies/s |\n|---:|---:|---:|---:|\n",
    );
    for &w in &r.workers {
        let _ = writeln!(
            t,
            "| {w} | {} | {} | {} |",
            opt(r.baseline(|b| b.chain_hop_us.get(&w).copied()), 1),
            opt(r.baseline(|b| b.chain_body_turns_per_s.get(&w).copied()), 0),
            opt(r.baseline(|b| b.body_alone_per_s.get(&w).copied()), 0)
        );
    }
    let all = rows(r);
    for &hold in &r.holds_ms {
        let _ = writeln!(t, "\n## Hold {hold} ms\n");
        t.push_str(
            "| algorithm | workers | sections/s | × chain | × body | spread | acquire p50 / p99 / max µs | hand-off p50 / p99 µs | × hop | × PING | cmds sent / incl. scripts | client / server CPU µs | fairness | barging | checkers |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for x in all.iter().filter(|x| x.cell.hold_ms == hold) {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {}% | {} / {} / {} | {} / {} | {} | {} | {} / {} | {} / {} | {} | {} | {} |",
                x.cell.algorithm,
                x.cell.workers,
                num(x.sections_per_s, 0),
                opt(x.of_chain, 2),
                opt(x.of_body, 2),
                num(x.spread * 100.0, 0),
                num(x.acquire_p50_us, 0),
                num(x.acquire_p99_us, 0),
                num(x.acquire_max_us, 0),
                opt(x.handoff_p50_us, 0),
                opt(x.handoff_p99_us, 0),
                opt(x.handoff_per_hop, 2),
                opt(x.handoff_per_ping, 2),
                opt(x.sent, 2),
                opt(x.incl_scripts, 2),
                num(x.client_cpu_us, 0),
                opt(x.server_cpu_us, 0),
                opt(x.fairness, 3),
                x.barging.map_or_else(|| "–".into(), |b| format!("{}%", num(b * 100.0, 0))),
                if x.cell.valid() { "ok" } else { "**BROKE**" }
            );
        }
    }
    let unc: Vec<String> = all
        .iter()
        .filter_map(|x| {
            x.uncontended_per_raw.map(|v| format!("{} {}×", x.cell.algorithm, num(v, 2)))
        })
        .collect();
    if !unc.is_empty() {
        let _ = writeln!(
            t,
            "\nUncontended acquire + release (1 worker, hold 0, p50s) as a multiple of the raw pair: {}.",
            unc.join(", ")
        );
    }
    overhead_markdown(&mut t, &all);
    if let Some(table) = super::targets::table(r, &all) {
        let _ = write!(t, "\n## Speed targets\n\n{}\n\n{}", super::targets::TEXT, table.markdown());
    }
    t.push_str("\nThe figures are explained in docs/bench.md.\n");
    t
}

/// A small table both `bench.md` and `bench.html` show.
pub(super) struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// As markdown (every column after the first right-aligned).
    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut t = line(&self.head);
        let rule: Vec<String> = (0..self.head.len())
            .map(|i| if i == 0 { "---".into() } else { "---:".into() })
            .collect();
        t.push_str(&line(&rule));
        for r in &self.rows {
            t.push_str(&line(r));
        }
        t
    }

    /// As an HTML table with `id`.
    pub fn html(&self, id: &str) -> String {
        let cells = |tag: &str, cells: &[String]| {
            cells.iter().map(|c| format!("<{tag}>{}</{tag}>", escape(c))).collect::<String>()
        };
        let mut t = format!("<table id=\"{id}\"><tr>{}</tr>", cells("th", &self.head));
        for r in &self.rows {
            let _ = write!(t, "<tr>{}</tr>", cells("td", r));
        }
        t.push_str("</table>\n");
        t
    }
}

/// The harness overhead: per algorithm, its one cell with and without recording.
pub(super) fn overhead_table(rows: &[Row<'_>]) -> Option<Table> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .filter(|x| x.overhead.is_some())
        .map(|x| {
            vec![
                x.cell.algorithm.clone(),
                format!("{} workers × hold {} ms", x.cell.workers, x.cell.hold_ms),
                num(x.sections_per_s, 0),
                opt(x.unrecorded_per_s, 0),
                format!("{}×", opt(x.overhead, 2)),
            ]
        })
        .collect();
    let head = ["algorithm", "cell", "recorded sections/s", "unrecorded sections/s", "overhead"];
    (!rows.is_empty()).then(|| Table { head: head.map(String::from).to_vec(), rows })
}

/// What `bench.md` and `bench.html` say above the overhead table.
pub(super) const OVERHEAD_TEXT: &str = "The same cell again with recording off (no history, no \
    witness enter/exit; the same lock, body and hold): sections/s off ÷ on. Target ≤ 1.15.";

fn overhead_markdown(t: &mut String, rows: &[Row<'_>]) {
    if let Some(table) = overhead_table(rows) {
        let _ = write!(t, "\n## Harness overhead\n\n{OVERHEAD_TEXT}\n\n{}", table.markdown());
    }
}

/// `bench.html`: the tables' key figures as SVG plots (drawn by `plots.rs`).
#[must_use]
pub fn html(r: &BenchReport) -> String {
    super::plots::page(r, &rows(r))
}
