//! `timeline.html` in a real browser: headless Chromium opens the timeline of a paused holder
//! (fenced, simulated) and of a 10,000-worker simulated run; each page must load without a
//! script error, within 2 s, and show the status, the time axis and the lease marks.
//!
//! Chromium is required: without it these tests fail and name the install command.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the page may take to load and lay out, by its own clock.
const RENDER_LIMIT_MS: u64 = 2_000;

/// The DOM of `page` after its scripts ran, and how long Chromium took from start to exit.
fn open(page: &Path) -> (String, Duration) {
    let started = Instant::now();
    let dom = support::browser::dump_dom(page);
    (dom, started.elapsed())
}

/// `contend run SCENARIO --server sim ARGS --out DIR`: the report folder.
fn sim_run(dir: &Path, scenario: &str, args: &[&str]) -> PathBuf {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(scenario);
    let out = support::contend()
        .arg("run")
        .arg(&scenario)
        .args(["--server", "sim"])
        .args(args)
        .arg("--out")
        .arg(dir)
        .output()
        .expect("run contend");
    let latest = dir.join("latest");
    assert!(latest.join("timeline.html").is_file(), "no report: {}", support::text(&out));
    latest.canonicalize().expect("report folder")
}

/// The value of attribute `name` on the first element that has it.
fn attribute<'d>(dom: &'d str, name: &str) -> Option<&'d str> {
    let at = dom.find(&format!("{name}=\""))? + name.len() + 2;
    dom[at..].split('"').next()
}

/// The checks every page must pass; answers its render time, ms.
fn renders_readably(report: &Path) -> (String, u64) {
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(report.join("results.json")).expect("results.json"),
    )
    .expect("results.json parses");
    let (dom, wall) = open(&report.join("timeline.html"));
    assert_eq!(attribute(&dom, "data-js-errors"), None, "script errors in {}", report.display());
    let render_ms: u64 = attribute(&dom, "data-render-ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the page's last script did not run: {}", report.display()));
    eprintln!("{}: rendered in {render_ms} ms (chromium ran {wall:?})", report.display());
    let status = if results["as_expected"] == true {
        r#"<p class="status ok" id="status">As expected"#
    } else {
        r#"<p class="status bad" id="status">Not as expected"#
    };
    assert!(dom.contains(status), "no status line {status:?}");
    for checker in ["mutual-exclusion", "lost-updates", "ownership", "fencing", "liveness"] {
        assert!(dom.contains(&format!("<td>{checker}</td>")), "no row for {checker}");
    }
    assert!(dom.matches(r#"class="tick""#).count() >= 4, "no time axis");
    assert!(dom.contains(r#"class="lease-end""#), "no lease marks");
    assert!(render_ms < RENDER_LIMIT_MS, "{}: {render_ms} ms to render", report.display());
    (dom, render_ms)
}

#[test]
fn a_paused_holder_shows_its_lease_ending_before_its_refused_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = sim_run(dir.path(), "pause-holder.toml", &["-a", "fenced"]);
    let (dom, _) = renders_readably(&report);
    assert!(dom.contains(r#"class="fault k-pause"#), "no pause window");
    assert!(dom.contains(r#"class="over""#), "no holding drawn past its lease");
    assert!(dom.contains(r#"class="inside refused""#), "no refused write");
    assert!(dom.contains("write refused"), "the refused write is not labelled");
    assert!(dom.contains("REFUSED by the resource"), "a refused write reads as written");
    assert!(!dom.contains(r#"class="sum""#), "a three-worker run is summed");
    // The latency plot: one point per acquire that ended, and its p50/p99.
    let plot = dom.split(r#"id="latency""#).nth(1).expect("no latency plot");
    let plot = plot.split("</figure>").next().unwrap_or_default();
    assert!(plot.matches("<circle").count() >= 3, "too few acquires plotted");
    assert!(dom.contains("Acquisitions: p50"), "no percentiles stated");
}

#[test]
fn ten_thousand_workers_render_with_the_others_summed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["--workers", "10000", "--iterations", "10"];
    let report = sim_run(dir.path(), "increment-20x100.toml", &args);
    let (dom, _) = renders_readably(&report);
    assert!(dom.contains("9,992 others: holding"), "the other workers are not summed");
    assert!(dom.len() < 4_000_000, "the page is {} bytes", dom.len());
    // 100,000 acquires are thinned on the latency plot, and the page says so.
    assert!(dom.contains("Thinned evenly"), "100,000 acquires drawn one by one");
}
