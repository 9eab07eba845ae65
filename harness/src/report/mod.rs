//! What a run leaves behind: `results.json`, `report.md`, `timeline.html`, `history.jsonl` in
//! `<out>/<scenario>-<algorithm>-<time>/`, a `<out>/latest` link, and the verdict table.

mod html;
mod markdown;
mod results;

use std::path::Path;

use anyhow::Context as _;

pub use html::escape;
pub use results::{
    CheckerReport, Figures, Percentiles, ROUND_TRIPS_PER_SECTION, Results, Stats, expected_name,
    faults_struck, meets, num,
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
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!(
        "{y:04}{mo:02}{d:02}-{:02}{:02}{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}
