//! `bench.html`: one SVG plot per figure and hold time, drawn with `plotters` (SVG backend
//! only), workers on a log₂ axis, one line per algorithm, the baselines as grey lines.

use std::fmt::Write as _;

use anyhow::Context as _;
use plotters::prelude::*;

use super::BenchReport;
use super::output::Row;
use crate::report::escape;

/// One line of a plot.
struct Series {
    name: String,
    color: RGBColor,
    width: u32,
    points: Vec<(f64, f64)>,
}

/// The grey of the baselines.
const BASELINE: RGBColor = RGBColor(120, 120, 120);

fn color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
    ];
    COLORS[i % COLORS.len()]
}

/// An SVG line plot against workers (log₂ axis).
fn plot(title: &str, y_desc: &str, series: &[Series]) -> Result<String, String> {
    let points = || series.iter().flat_map(|s| s.points.iter());
    let x_max = points().map(|p| p.0).fold(0.0, f64::max).max(1.0);
    let y_max = points().map(|p| p.1).fold(0.0, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (620, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(38)
            .y_label_area_size(62)
            .build_cartesian_2d(-0.2..x_max + 0.2, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        let label = |x: &f64| {
            let w = 2f64.powf(*x);
            if (w - w.round()).abs() < 0.05 { format!("{}", w.round()) } else { String::new() }
        };
        chart
            .configure_mesh()
            .x_desc("workers")
            .y_desc(y_desc)
            .x_labels(((x_max * 4.0) as usize).max(2) + 1)
            .x_label_formatter(&label)
            .y_label_formatter(&|v| crate::report::num(*v, 2))
            .draw()
            .map_err(|e| e.to_string())?;
        for s in series {
            let style = s.color.stroke_width(s.width);
            let c = s.color;
            // A series with nothing measured (no hand-off happened in a tiny run) keeps its
            // place in the legend, saying so, rather than vanishing from the plot.
            let name = if s.points.is_empty() {
                format!("{} (none measured)", s.name)
            } else {
                s.name.clone()
            };
            chart
                .draw_series(LineSeries::new(s.points.clone(), style).point_size(3))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        crate::report::draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The page.
pub(super) fn page(r: &BenchReport, rows: &[Row<'_>]) -> String {
    let mut t = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>contend bench</title>\n\
         <script>window.addEventListener('error', () => document.documentElement.setAttribute('data-js-errors', '1'));</script>\n\
         <style>body{font-family:sans-serif;margin:1.5em;max-width:1300px} .plots{display:flex;flex-wrap:wrap;gap:8px}\
         .broke{color:#b00;font-weight:bold} figure{margin:0}</style></head><body>\n<h1>contend bench</h1>\n",
    );
    let broken: Vec<String> = r
        .broken()
        .map(|c| format!("{} × {} workers × hold {} ms", c.algorithm, c.workers, c.hold_ms))
        .collect();
    if broken.is_empty() {
        t.push_str("<p class=\"ok\" id=\"status\">Every cell's checkers were satisfied in every round.</p>\n");
    } else {
        let _ = writeln!(
            t,
            "<p class=\"broke\" id=\"status\">LOCK BROKE in: {} — their figures measure a broken lock.</p>",
            escape(&broken.join("; "))
        );
    }
    let m = &r.machine;
    let _ = writeln!(
        t,
        "<p>{} UTC · {} cores · Linux {} · redis-server {} · revision {} · {} round(s) × {} sections per cell. \
         Algorithms: <span id=\"algorithms\">{}</span>. bench.md has every figure as a table; docs/bench.md explains them.</p>",
        escape(&r.started_utc),
        m.nproc,
        escape(&m.kernel),
        escape(&m.redis_version),
        escape(m.git_revision.as_deref().unwrap_or("unknown")),
        r.rounds,
        r.sections_per_cell,
        escape(&r.algorithms.join(", "))
    );
    for &hold in &r.holds_ms {
        let _ = writeln!(t, "<h2>Hold {hold} ms</h2>\n<div class=\"plots\">");
        for (title, y, series) in &figures(r, rows, hold) {
            let title = format!("{title}, hold {hold} ms");
            match plot(&title, y, series) {
                Ok(svg) => {
                    let _ = writeln!(t, "<figure class=\"plot\">{svg}</figure>");
                }
                Err(e) => {
                    let _ =
                        writeln!(t, "<p class=\"broke\">{}: {}</p>", escape(&title), escape(&e));
                }
            }
        }
        t.push_str("</div>\n");
    }
    if let Some(table) = super::output::overhead_table(rows) {
        let text = super::output::OVERHEAD_TEXT;
        let _ = writeln!(
            t,
            "<h2>Harness overhead</h2>\n<p>{}</p>\n{}",
            escape(text),
            table.html("overhead")
        );
    }
    if let Some(table) = super::targets::table(r, rows) {
        let text = super::targets::TEXT;
        let _ = writeln!(
            t,
            "<h2>Speed targets</h2>\n<p>{}</p>\n{}",
            escape(text),
            table.html("targets")
        );
    }
    t.push_str(
        "<script>document.documentElement.setAttribute('data-plots', String(document.querySelectorAll('figure.plot svg').length));</script>\n</body></html>\n",
    );
    t
}

/// Title, y axis and lines of each plot of hold `hold`.
fn figures(
    r: &BenchReport,
    rows: &[Row<'_>],
    hold: u64,
) -> Vec<(String, &'static str, Vec<Series>)> {
    let x = |w: u32| f64::from(w).log2();
    let of_hold: Vec<&Row<'_>> = rows.iter().filter(|x| x.cell.hold_ms == hold).collect();
    let per_alg = |f: &dyn Fn(&Row<'_>) -> Option<f64>, suffix: &str, width: u32| -> Vec<Series> {
        r.algorithms
            .iter()
            .enumerate()
            .map(|(i, a)| Series {
                name: format!("{a}{suffix}"),
                color: color(i),
                width,
                points: of_hold
                    .iter()
                    .filter(|row| &row.cell.algorithm == a)
                    .filter_map(|row| Some((x(row.cell.workers), f(row)?)))
                    .collect(),
            })
            .collect()
    };
    let baseline = |name: &str, f: &dyn Fn(u32) -> Option<f64>| Series {
        name: name.to_string(),
        color: BASELINE,
        width: 1,
        points: r.workers.iter().filter_map(|&w| Some((x(w), f(w)?))).collect(),
    };
    let mut plots: Vec<(String, &str, Vec<Series>)> = Vec::new();
    let mut s = per_alg(&|x| Some(x.sections_per_s), "", 2);
    s.push(baseline("chain with body (floor)", &|w| {
        r.baseline(|b| b.chain_body_turns_per_s.get(&w).copied())
    }));
    plots.push(("Throughput".into(), "sections/s", s));
    plots.push(("Acquire latency p50".into(), "µs", per_alg(&|x| Some(x.acquire_p50_us), "", 2)));
    plots.push(("Acquire latency p99".into(), "µs", per_alg(&|x| Some(x.acquire_p99_us), "", 2)));
    let hop =
        || baseline("chain hop (floor)", &|w| r.baseline(|b| b.chain_hop_us.get(&w).copied()));
    let mut s = per_alg(&|x| x.handoff_p50_us, "", 2);
    s.push(hop());
    plots.push(("Hand-off p50: release sent → next holder has it".into(), "µs", s));
    let mut s = per_alg(&|x| x.handoff_p99_us, "", 2);
    s.push(hop());
    plots.push(("Hand-off p99".into(), "µs", s));
    let mut s = per_alg(&|x| x.sent, " sent", 3);
    s.extend(per_alg(&|x| x.incl_scripts, " incl. scripts", 1));
    plots.push(("Lock-server commands per acquisition".into(), "commands", s));
    let mut s = per_alg(&|x| Some(x.client_cpu_us), " clients", 3);
    s.extend(per_alg(&|x| x.server_cpu_us, " server", 1));
    plots.push(("CPU per acquisition".into(), "µs", s));
    plots.push((
        "Fairness (Jain's index over windows)".into(),
        "index",
        per_alg(&|x| x.fairness, "", 2),
    ));
    plots.push((
        "Barging: hand-offs back to the releaser".into(),
        "share",
        per_alg(&|x| x.barging, "", 2),
    ));
    plots
}

/// The throughput plot at the smallest hold of the run (SVG), for the generated "choosing an
/// algorithm" text.
pub(super) fn throughput(r: &BenchReport) -> anyhow::Result<String> {
    let hold = r.holds_ms.iter().min().copied().context("the bench has no hold time")?;
    let rows = super::output::rows(r);
    let (title, y, series) =
        figures(r, &rows, hold).into_iter().next().context("no throughput plot")?;
    plot(&format!("{title}, hold {hold} ms"), y, &series).map_err(anyhow::Error::msg)
}
