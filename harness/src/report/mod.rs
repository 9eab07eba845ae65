//! What a run leaves behind: `results.json`, `report.md`, `timeline.html`, `history.jsonl` in
//! `<out>/<scenario>-<algorithm>-<time>/`, a `<out>/latest` link, and the verdict table.

mod html;
mod markdown;
mod results;

use std::path::Path;

use anyhow::Context as _;

pub use html::escape;
pub use results::{
    CheckerReport, FailoverRate, Figures, Percentiles, ROUND_TRIPS_PER_SECTION, Results, Saved,
    SavedChecker, Stats, expected_name, faults_struck, meets, num,
};

use crate::history::Event;

/// Makes sure report folders can be written under `out` (creating it if needed), so that a bad
/// `--out` is an error before a run, not after it.
pub fn check_out(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| {
        format!("cannot create the report folder {}: check --out", out.display())
    })?;
    let probe = out.join(format!(".contend-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| {
        format!("cannot write in the report folder {}: check --out", out.display())
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Writes the report folder under `out` and points `out/latest` at it; answers the results
/// with their folder filled in.
pub fn write(out: &Path, results: &Results, history: &[Event]) -> anyhow::Result<Results> {
    let name = format!("{}-{}-{}", results.scenario, results.algorithm, utc_stamp());
    let dir = out.join(&name);
    std::fs::create_dir_all(&dir).with_context(|| {
        format!("cannot create the report folder {}: check --out", dir.display())
    })?;
    let mut results = results.clone();
    results.dir = dir.clone();
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join("history.jsonl"))?);
    crate::history::write_jsonl(history, &mut file)?;
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&results)?)?;
    std::fs::write(dir.join("report.md"), markdown::markdown(&results, history))?;
    std::fs::write(dir.join("timeline.html"), html::html(&results, history))?;
    let latest = out.join("latest");
    let _ = std::fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(&name, &latest);
    Ok(results)
}

/// `YYYYMMDD-HHMMSS.mmm` in UTC (report and bench folder names).
#[must_use]
pub fn utc_stamp() -> String {
    let now = jiff::Timestamp::now();
    format!("{}.{:03}", now.strftime("%Y%m%d-%H%M%S"), now.subsec_millisecond())
}

/// Draws the legend box of a plot (`plotters`) at `position`, as every plot here does.
pub(crate) fn draw_legend<'a, DB: plotters::prelude::DrawingBackend + 'a>(
    chart: &mut plotters::prelude::ChartContext<
        'a,
        DB,
        plotters::prelude::Cartesian2d<
            plotters::coord::types::RangedCoordf64,
            plotters::coord::types::RangedCoordf64,
        >,
    >,
    position: plotters::prelude::SeriesLabelPosition,
) -> Result<(), String> {
    use plotters::prelude::{BLACK, Color as _, WHITE};
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stamp_is_utc_to_the_millisecond() {
        let before = jiff::Timestamp::now().as_second();
        let s = super::utc_stamp();
        let (date, ms) = s.split_once('.').expect("a dot before the milliseconds");
        assert_eq!((date.len(), ms.len()), (15, 3), "{s}");
        let parsed = jiff::civil::DateTime::strptime("%Y%m%d-%H%M%S", date).expect("parses");
        let at = jiff::tz::Offset::UTC.to_timestamp(parsed).expect("UTC").as_second();
        assert!((at - before).abs() <= 1, "{s} is not now in UTC");
    }
}
