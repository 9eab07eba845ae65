//! "Choosing an algorithm", generated from a bench's figures: which lock for which need, with
//! the numbers of that run, its throughput plot and the command that reproduces it. The bench
//! writes it as `choosing.md` (beside `choosing.svg`); [`update_docs`] puts it into a document
//! between the markers [`BEGIN`] and [`END`] (`contend bench --update-docs docs/bench.md`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};

use super::BenchReport;
use super::output::{Row, rows};
use crate::report::num;

/// The line before the generated text in a document.
pub const BEGIN: &str = "<!-- choosing:begin -->";
/// The line after it.
pub const END: &str = "<!-- choosing:end -->";

/// The section's text (markdown, no heading of its own: the document keeps its heading, and so
/// its anchor, outside the markers). `plot` is where the throughput plot is, relative to the
/// text; `bench_html` where the run's `bench.html` is, if it can be linked.
#[must_use]
pub fn section(r: &BenchReport, plot: &str, bench_html: Option<&str>) -> String {
    let all = rows(r);
    let mut t = String::new();
    let cells = r.cells.len() * r.rounds as usize;
    let broken = r.broken().count();
    let _ = writeln!(
        t,
        "Generated from one run of `{}` ({} × workers {} × hold {} ms × {} interleaved round(s) \
         of {} sections; {} of {cells} cell-rounds with every checker satisfied), {} UTC on {} \
         cores, redis-server {}, revision `{}`. Baselines (medians over rounds): PING {} µs \
         ({}), raw lock pair {} µs, section body alone {} bodies/s in one process.\n",
        command(r),
        r.algorithms.join(", "),
        list(&r.workers),
        list(&r.holds_ms),
        r.rounds,
        r.sections_per_cell,
        cells - broken * r.rounds as usize,
        r.started_utc,
        r.machine.nproc,
        r.machine.redis_version,
        r.machine
            .git_revision
            .as_deref()
            .map_or("unknown".into(), |g| g.chars().take(7).collect::<String>()),
        opt(r.baseline(|b| Some(b.ping_us)), 0),
        r.baselines.first().map_or("", |b| b.ping_placement.as_str()),
        opt(r.baseline(|b| Some(b.raw_lock_pair_us.p50)), 1),
        opt(r.baseline(|b| b.body_alone_per_s.get(&1).copied()), 0),
    );
    if broken > 0 {
        let _ = writeln!(
            t,
            "**The lock broke in {broken} cell(s) of this run**: their figures measure a broken \
             lock (bench.md lists them).\n"
        );
    }
    t.push_str("| need | choose | because (figures from that run) |\n|---|---|---|\n");
    for (need, choice, why) in needs(r, &all) {
        let _ = writeln!(t, "| {need} | {choice} | {why} |");
    }
    let _ = writeln!(t, "\n![Throughput against workers, every algorithm]({plot})\n");
    if let Some(html) = bench_html {
        let _ = writeln!(t, "Every figure of the run, plotted: [bench.html]({html}).\n");
    }
    let _ = writeln!(
        t,
        "Reproduce: `{}`, then read `reports/bench/latest/bench.md`. Figures on another \
         machine differ; the ratios to that run's own baselines are what to compare.",
        command(r)
    );
    t
}

/// The command line of a bench with this report's matrix.
fn command(r: &BenchReport) -> String {
    let mut c = String::from("contend bench");
    for a in &r.algorithms {
        let _ = write!(c, " -a {a}");
    }
    let _ = write!(
        c,
        " --workers {} --hold {} --rounds {} --sections {}",
        list(&r.workers),
        list(&r.holds_ms),
        r.rounds,
        r.sections_per_cell
    );
    c
}

fn list<T: ToString>(v: &[T]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

fn opt(v: Option<f64>, places: usize) -> String {
    v.map_or_else(|| "–".into(), |v| num(v, places))
}

/// `lo–hi` of `v` (one number when they print alike), `–` when empty; `places` decimals below
/// 100, none from there.
fn span(v: impl IntoIterator<Item = f64>, places: usize) -> String {
    let (lo, hi) = v.into_iter().fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(x), h.max(x)));
    if lo > hi {
        return "–".into();
    }
    let show = |v: f64| num(v, if v.abs() >= 100.0 { 0 } else { places });
    let (a, b) = (show(lo), show(hi));
    if a == b { a } else { format!("{a}–{b}") }
}

/// The rows of algorithm `a` that `keep` selects.
fn of<'a>(all: &'a [Row<'a>], a: &'a str, keep: impl Fn(&Row<'_>) -> bool) -> Vec<&'a Row<'a>> {
    all.iter().filter(|x| x.cell.algorithm == a && keep(x)).collect()
}

/// The algorithm whose rows (`keep`) give the best `score` (the largest, or with `least` the
/// smallest), with the score; `None` when no algorithm has one.
fn best(
    r: &BenchReport,
    all: &[Row<'_>],
    keep: &dyn Fn(&Row<'_>) -> bool,
    score: &dyn Fn(&[&Row<'_>]) -> Option<f64>,
    least: bool,
) -> Option<(String, f64)> {
    let mut scored: Vec<(String, f64)> =
        r.algorithms.iter().filter_map(|a| Some((a.clone(), score(&of(all, a, keep))?))).collect();
    scored.sort_by(|x, y| x.1.total_cmp(&y.1));
    if least { scored.first().cloned() } else { scored.last().cloned() }
}

/// The algorithms of the run other than `a`.
fn rest<'a>(r: &'a BenchReport, a: &'a str) -> impl Iterator<Item = &'a String> {
    r.algorithms.iter().filter(move |o| *o != a)
}

/// ` (x; y)`: what the other algorithms measured, in brackets; nothing when there are none.
fn aside(others: &[String], sep: &str) -> String {
    if others.is_empty() { String::new() } else { format!(" ({})", others.join(sep)) }
}

fn min(v: impl Iterator<Item = f64>) -> Option<f64> {
    v.reduce(f64::min)
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = v.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The table's rows: need, choice, why.
fn needs(r: &BenchReport, all: &[Row<'_>]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let contended = |x: &Row<'_>| x.cell.workers >= 2;
    if let Some((a, _)) =
        best(r, all, &contended, &|v| min(v.iter().filter_map(|x| x.fairness)), false)
    {
        let fair = |v: &[&Row<'_>]| {
            format!(
                "fairness {}, barging {} %, acquire p99 {}× its p50",
                span(v.iter().filter_map(|x| x.fairness), 3),
                span(v.iter().filter_map(|x| x.barging.map(|b| b * 100.0)), 0),
                span(v.iter().map(|x| x.acquire_p99_us / x.acquire_p50_us.max(1.0)), 1)
            )
        };
        let others: Vec<String> =
            rest(r, &a).map(|o| format!("{o}: {}", fair(&of(all, o, contended)))).collect();
        out.push((
            "every waiter served in turn, bounded waiting".into(),
            format!("**{a}**"),
            format!(
                "{} at 2+ workers (fairness 1 is even){}",
                fair(&of(all, &a, contended)),
                aside(&others, "; ")
            ),
        ));
    }
    let cmds = |x: &Row<'_>| x.incl_scripts.or(x.sent);
    if let Some((a, _)) =
        best(r, all, &contended, &|v| mean(v.iter().filter_map(|x| cmds(x))), true)
    {
        let v = of(all, &a, contended);
        let others: Vec<String> = rest(r, &a)
            .map(|o| {
                let w = of(all, o, contended);
                format!(
                    "{o}: {} run, server CPU {} µs",
                    span(w.iter().filter_map(|x| cmds(x)), 1),
                    span(w.iter().filter_map(|x| x.server_cpu_us), 0)
                )
            })
            .collect();
        out.push((
            "fewest commands and least server CPU".into(),
            format!("**{a}**"),
            format!(
                "{} commands sent and {} run by the server per acquisition at 2+ workers, server \
                 CPU {} µs per acquisition{}",
                span(v.iter().filter_map(|x| x.sent), 1),
                span(v.iter().filter_map(|x| cmds(x)), 1),
                span(v.iter().filter_map(|x| x.server_cpu_us), 0),
                aside(&others, "; ")
            ),
        ));
    }
    let fenced: Vec<&String> = r.algorithms.iter().filter(|a| r.fenced.contains(a)).collect();
    out.push(match fenced.first() {
        Some(a) => {
            let v = of(all, a, |_| true);
            (
                "a resource that can check a fence (a holder past its lease cannot write)".into(),
                format!("**{a}**"),
                format!(
                    "hands out fences, so the fencing checker holds it to them; {} commands run \
                     per acquisition, {} sections/s",
                    span(v.iter().filter_map(|x| cmds(x)), 1),
                    span(v.iter().map(|x| x.sections_per_s), 0)
                ),
            )
        }
        None => (
            "a resource that can check a fence".into(),
            "–".into(),
            "no algorithm of this run hands out fences (`-a fenced` benches one)".into(),
        ),
    });
    if let Some(hold) = r.holds_ms.iter().min() {
        let n = r.workers.iter().max().copied().unwrap_or(1);
        let top = |x: &Row<'_>| x.cell.hold_ms == *hold && x.cell.workers == n;
        let rates = |v: &[&Row<'_>]| v.first().map(|x| x.sections_per_s);
        if let Some((a, rate)) = best(r, all, &top, &rates, false) {
            let second = rest(r, &a).filter_map(|o| rates(&of(all, o, top))).reduce(f64::max);
            let spread = all.iter().filter(|x| top(x)).map(|x| x.spread).reduce(f64::max);
            let lead = second.filter(|s| *s > 0.0).map(|s| rate / s - 1.0);
            let (choice, note) = verdict(&a, lead, spread, r.rounds);
            let of_chain = all.iter().find(|x| top(x) && x.cell.algorithm == a);
            out.push((
                format!("throughput with {n} workers, hold {hold} ms"),
                choice,
                format!(
                    "{} sections/s, {}× the bare chain with the body{note}",
                    num(rate, 0),
                    opt(of_chain.and_then(|x| x.of_chain), 2)
                ),
            ));
        }
    }
    let single = |x: &Row<'_>| x.uncontended_per_raw.is_some();
    let raw = |v: &[&Row<'_>]| v.first().and_then(|x| x.uncontended_per_raw);
    if let Some((a, ratio)) = best(r, all, &single, &raw, true) {
        let others: Vec<String> = rest(r, &a)
            .filter_map(|o| Some(format!("{o} {}×", num(raw(&of(all, o, single))?, 2))))
            .collect();
        let next = rest(r, &a).filter_map(|o| raw(&of(all, o, single))).reduce(f64::min);
        // The spread of these cells' sections/s stands for how much their latencies moved.
        let spread = all.iter().filter(|x| single(x)).map(|x| x.spread).reduce(f64::max);
        let lead = next.filter(|_| ratio > 0.0).map(|n| n / ratio - 1.0);
        let (choice, note) = verdict(&a, lead, spread, r.rounds);
        out.push((
            "one client at a time, short sections".into(),
            choice,
            format!(
                "uncontended acquire + release p50 {}× the raw SET NX PX + release-script \
                 pair{}{note}",
                num(ratio, 2),
                aside(&others, ", ")
            ),
        ));
    }
    out
}

/// The choice for a need where `a` leads the next algorithm by `lead` (a share): `a`, or "any"
/// when the rounds' `spread` (a share) is at least that lead; and a note saying which.
fn verdict(a: &str, lead: Option<f64>, spread: Option<f64>, rounds: u32) -> (String, String) {
    match (lead, spread) {
        (Some(l), Some(s)) if rounds > 1 => {
            let note = format!(
                "; ahead of the next by {} %, the rounds moved by up to {} %",
                num(l * 100.0, 0),
                num(s * 100.0, 0)
            );
            (if l <= s { "any".into() } else { format!("**{a}**") }, note)
        }
        (Some(l), _) => (
            format!("**{a}**"),
            format!(
                "; ahead of the next by {} % in one round (no spread measured)",
                num(l * 100.0, 0)
            ),
        ),
        _ => (format!("**{a}**"), String::new()),
    }
}

/// `doc` with the text between its [`BEGIN`] and [`END`] lines replaced by `generated`.
/// Refuses a document without both markers, in that order, once each.
pub fn replace_between_markers(doc: &str, generated: &str) -> anyhow::Result<String> {
    let (begins, ends) = (doc.matches(BEGIN).count(), doc.matches(END).count());
    if begins != 1 || ends != 1 {
        bail!(
            "the document needs one `{BEGIN}` line and one `{END}` line around the generated \
             text (found {begins} and {ends}); put them under its \"Choosing an algorithm\" heading"
        );
    }
    let Some((head, rest)) = doc.split_once(BEGIN) else { unreachable!("counted above") };
    let Some((_, tail)) = rest.split_once(END) else {
        bail!("`{END}` comes before `{BEGIN}` in the document: swap them");
    };
    Ok(format!("{head}{BEGIN}\n{}\n{END}{tail}", generated.trim_end()))
}

/// Replaces the generated section of the document at `path` with the one of `r`, and writes
/// its throughput plot as `bench-choosing.svg` into the `docs` folder beside the document if
/// there is one (a README at the top of a repository), else beside the document.
/// Refuses a run whose lock broke: its figures measure a broken lock.
pub fn update_docs(r: &BenchReport, path: &Path) -> anyhow::Result<()> {
    let broken = r.broken().count();
    if broken > 0 {
        bail!(
            "the lock broke in {broken} cell(s) of this bench: {} is not updated from it",
            path.display()
        );
    }
    let doc = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} to update it", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let plot =
        if dir.join("docs").is_dir() { "docs/bench-choosing.svg" } else { "bench-choosing.svg" };
    let text = section(r, plot, None);
    let new = replace_between_markers(&doc, &text)
        .with_context(|| format!("cannot update {}", path.display()))?;
    let svg = super::plots::throughput(r)?;
    std::fs::write(dir.join(plot), svg)
        .with_context(|| format!("cannot write the plot beside {}", path.display()))?;
    std::fs::write(path, new).with_context(|| format!("cannot write {}", path.display()))
}
