//! `contend bench` end to end on a tiny matrix (real Redis, three algorithms × 1 and 2 workers ×
//! one round of 30 sections): it exits 0, writes `bench.json`, `bench.md` and `bench.html`; every
//! cell's checkers were satisfied; and headless Chromium renders the page without a script error,
//! with every plot drawn and every algorithm named in every plot's legend.
//!
//! Chromium is required: without it this test fails and names the install command.

mod support;

use std::path::Path;

const ALGORITHMS: [&str; 3] = ["token", "notify", "fenced"];

/// Plots per hold time on the page (see `bench/plots.rs`).
const PLOTS: usize = 9;

/// The text nodes of `html`, trimmed (enough to read SVG labels without an HTML parser).
fn texts(html: &str) -> Vec<&str> {
    html.split('>')
        .filter_map(|s| s.split('<').next())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

fn tiny_bench(out: &Path) -> std::path::PathBuf {
    let mut cmd = support::contend();
    cmd.arg("bench");
    for a in ALGORITHMS {
        cmd.args(["-a", a]);
    }
    let o = cmd
        .args(["--workers", "1,2", "--hold", "0", "--rounds", "1", "--sections", "30"])
        .arg("--out")
        .arg(out)
        .output()
        .expect("run contend bench");
    assert!(o.status.success(), "the bench failed: {}", support::text(&o));
    out.join("latest").canonicalize().expect("the bench folder")
}

#[test]
fn a_tiny_bench_writes_its_files_and_its_page_renders_every_algorithm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = tiny_bench(dir.path());
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("bench.json")).expect("bench.json"),
    )
    .expect("bench.json parses");
    let cells = json["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), ALGORITHMS.len() * 2, "one cell per algorithm × worker count");
    for c in cells {
        let round = &c["rounds"][0];
        assert_eq!(round["valid"], true, "a cell's lock broke: {c}");
        assert!(round["sections_per_s"].as_f64().unwrap_or(0.0) > 0.0, "no throughput: {c}");
        assert!(round["acquire_us"]["p50"].as_f64().unwrap_or(0.0) > 0.0, "no latency: {c}");
    }
    assert!(json["baselines"][0]["ping_us"].as_f64().unwrap_or(0.0) > 0.0, "no PING baseline");
    assert!(json["baselines"][0]["chain_hop_us"]["2"].as_f64().is_some(), "no chain baseline");
    assert!(json["machine"]["redis_version"].as_str().is_some_and(|v| !v.is_empty()));
    let md = std::fs::read_to_string(folder.join("bench.md")).expect("bench.md");
    assert!(md.contains("Every cell's checkers were satisfied"), "{md}");

    let dom = support::browser::dump_dom(&folder.join("bench.html"));
    assert!(!dom.contains("data-js-errors=\""), "script errors on the page");
    assert!(
        dom.contains(&format!("data-plots=\"{PLOTS}\"")),
        "the page's last script did not count {PLOTS} plots"
    );
    let figures: Vec<&str> = dom.split("<figure class=\"plot\">").skip(1).collect();
    assert_eq!(figures.len(), PLOTS);
    for f in figures {
        let labels = texts(f);
        for a in ALGORITHMS {
            assert!(
                labels.iter().any(|t| *t == a || t.starts_with(&format!("{a} "))),
                "{a} is missing from a plot: {labels:?}"
            );
        }
    }
}
