//! The run's latency plot: how long each acquire took, against when it ended, drawn with
//! `plotters` (SVG backend), with the p50 and p99 of the acquisitions as lines.

use plotters::prelude::*;

use crate::check::Timeline;
use crate::history::Kind;

/// At most this many points of each kind are drawn; a bigger run is thinned evenly.
const MAX_POINTS: usize = 2000;

const BLUE_OK: RGBColor = RGBColor(31, 119, 180);
const RED_OTHER: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(120, 120, 120);

/// The section of the page with the plot, or nothing when no acquire ended.
pub(super) fn section(t: &Timeline<'_>, start: u64) -> String {
    let mut won = Vec::new();
    let mut other = Vec::new();
    for a in &t.attempts {
        let Some(d) = a.done else { continue };
        let x = t.time(d).saturating_sub(start) as f64 / 1e6;
        let y = t.time(d).saturating_sub(t.time(a.invoke)) as f64 / 1e6;
        if t.events[d].kind == Kind::Ok { won.push((x, y)) } else { other.push((x, y)) }
    }
    if won.is_empty() && other.is_empty() {
        return String::new();
    }
    let mut ys: Vec<f64> = won.iter().map(|p| p.1).collect();
    ys.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        let last = ys.len().checked_sub(1)?;
        ys.get((last as f64 * q).round() as usize).copied()
    };
    let (p50, p99) = (pct(0.5), pct(0.99));
    let drawn = won.len() + other.len();
    let thinned = drawn > 2 * MAX_POINTS;
    let svg = match plot(&thin(won), &thin(other), p50, p99) {
        Ok(svg) => svg,
        Err(e) => return format!("<p class=\"hint\">The latency plot could not be drawn: {e}</p>"),
    };
    let figures = match (p50, p99) {
        (Some(a), Some(b)) => format!(
            " Acquisitions: p50 {} ms, p99 {} ms.",
            crate::report::num(a, 2),
            crate::report::num(b, 2)
        ),
        _ => String::new(),
    };
    format!(
        "<h2>Acquire latency</h2><p class=\"hint\">Each acquire's duration against when it ended \
         (blue: acquired; red: timed out, failed or unsure).{figures}{}</p>\
         <figure class=\"plot\" id=\"latency\">{svg}</figure>",
        if thinned { " Thinned evenly to a few thousand points." } else { "" }
    )
}

fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let step = points.len().div_ceil(MAX_POINTS).max(1);
    points.into_iter().step_by(step).collect()
}

fn plot(
    won: &[(f64, f64)],
    other: &[(f64, f64)],
    p50: Option<f64>,
    p99: Option<f64>,
) -> Result<String, String> {
    let all = || won.iter().chain(other);
    let x_max = all().map(|p| p.0).fold(0.0, f64::max).max(0.001) * 1.02;
    let y_max = all().map(|p| p.1).fold(0.0, f64::max).max(0.001) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(62)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("ms since start (when the acquire ended)")
            .y_desc("acquire, ms")
            .x_label_formatter(&|v| crate::report::num(*v, 0))
            .y_label_formatter(&|v| crate::report::num(*v, 2))
            .draw()
            .map_err(|e| e.to_string())?;
        for (points, color, name) in
            [(won, BLUE_OK, "acquired"), (other, RED_OTHER, "not acquired")]
        {
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 2, color.filled())))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 9, y), 3, color.filled()));
        }
        for (y, name) in [(p50, "p50"), (p99, "p99")] {
            let Some(y) = y else { continue };
            chart
                .draw_series(LineSeries::new([(0.0, y), (x_max, y)], GREY.stroke_width(1)))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREY));
        }
        crate::report::draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
