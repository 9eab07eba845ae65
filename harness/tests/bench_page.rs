//! `contend bench` end to end on a tiny matrix (real Redis, three algorithms × 1 and 2 workers ×
//! one round of 30 sections): it exits 0, writes `bench.json`, `bench.md`, `bench.html` and
//! `choosing.md`; every cell's checkers were satisfied; the body-alone baseline and the harness
//! overhead (the 2-worker cell of each algorithm run again without recording) are measured and
//! shown; and headless Chromium renders the page without a script error, with every plot drawn,
//! every algorithm named in every plot's legend, and the overhead and targets tables.
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
    for w in ["1", "2"] {
        let body = json["baselines"][0]["body_alone_per_s"][w].as_f64().unwrap_or(0.0);
        assert!(body > 0.0, "no body-alone baseline for {w} processes: {}", json["baselines"]);
    }
    // The harness overhead: the largest worker count at hold 0, once per algorithm, without
    // recording: the same sections, the counter agrees, and the witness saw only the body's
    // two commands per section (no enter, no exit).
    for c in cells {
        let unrecorded = &c["rounds"][0]["unrecorded"];
        if c["workers"] != 2 {
            assert!(unrecorded.is_null(), "only the 2-worker cell runs unrecorded: {c}");
            continue;
        }
        assert_eq!(unrecorded["sections"], 30, "{c}");
        assert_eq!(unrecorded["counter"], 30, "{c}");
        assert!(unrecorded["sections_per_s"].as_f64().unwrap_or(0.0) > 0.0, "{c}");
        assert_eq!(unrecorded["witness_commands_per_section"], 2.0, "{c}");
    }
    assert!(json["machine"]["redis_version"].as_str().is_some_and(|v| !v.is_empty()));
    let md = std::fs::read_to_string(folder.join("bench.md")).expect("bench.md");
    assert!(md.contains("Every cell's checkers were satisfied"), "{md}");
    assert!(md.contains("| algorithm | workers | sections/s | × chain | × body |"), "{md}");
    let overhead = md.split("## Harness overhead").nth(1).expect("an overhead section");
    for a in ALGORITHMS {
        assert!(overhead.contains(&format!("| {a} | 2 workers × hold 0 ms |")), "{a}: {md}");
        assert!(md.contains(&format!("\n| {a} | ")), "{a} in the targets: {md}");
    }
    assert!(md.contains("## Speed targets"), "{md}");
    let choosing = std::fs::read_to_string(folder.join("choosing.md")).expect("choosing.md");
    assert!(choosing.contains("](choosing.svg)") && choosing.contains("| need | choose |"));
    assert!(folder.join("choosing.svg").is_file(), "the plot choosing.md shows");

    let dom = support::browser::dump_dom(&folder.join("bench.html"));
    assert!(!dom.contains("data-js-errors=\""), "script errors on the page");
    assert!(
        dom.contains(&format!("data-plots=\"{PLOTS}\"")),
        "the page's last script did not count {PLOTS} plots"
    );
    for table in ["<table id=\"overhead\">", "<table id=\"targets\">"] {
        assert!(dom.contains(table), "the page has no {table}");
    }
    let figures: Vec<&str> = dom
        .split("<figure class=\"plot\">")
        .skip(1)
        .map(|f| f.split("</figure>").next().unwrap_or(f))
        .collect();
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
