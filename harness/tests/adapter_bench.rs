//! `contend bench` takes adapters like built-in algorithms: a tiny bench of redis-py's `Lock`
//! (named by its manifest's path, from a folder without `adapters/`) beside `token` gives it a
//! row in `bench.md`, cells in `bench.json` and a line in every plot of `bench.html`.
//!
//! Needs `just adapters` (`adapters/.venv`; a missing one fails the test, naming the command).

mod support;

use std::path::Path;

const NAME: &str = "redis-py-lock";

#[test]
fn a_tiny_bench_of_the_redis_py_adapter_measures_it_beside_token() {
    support::need_redis();
    let adapters = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters");
    assert!(
        adapters.join(".venv/bin/python").exists(),
        "the redis-py adapter needs its virtual environment: run `just adapters`"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = support::contend()
        .current_dir(dir.path())
        .arg("bench")
        .arg("-a")
        .arg(format!("adapter:{}", adapters.join("redis-py-lock.toml").display()))
        .args(["-a", "token", "--workers", "1,2", "--hold", "0", "--rounds", "1"])
        .args(["--sections", "20", "--out"])
        .arg(dir.path().join("bench"))
        .output()
        .expect("contend bench");
    assert!(out.status.success(), "{}", support::text(&out));
    let folder = dir.path().join("bench/latest");

    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("bench.json")).expect("bench.json"),
    )
    .expect("bench.json parses");
    assert_eq!(json["algorithms"], serde_json::json!([NAME, "token"]));
    let cells: Vec<&serde_json::Value> = json["cells"].as_array().expect("cells").iter().collect();
    let cpu = |alg: &str, workers: u64| {
        let cell = cells
            .iter()
            .find(|c| c["algorithm"] == alg && c["workers"] == workers)
            .unwrap_or_else(|| panic!("no cell {alg} × {workers}: {json}"));
        let round = &cell["rounds"][0];
        // No checker found the lock broken.
        assert_eq!(round["valid"], true, "{cell}");
        assert_eq!(round["verdicts"]["mutual-exclusion"], "valid", "{cell}");
        assert!(round["sections"].as_u64() >= Some(20), "{cell}");
        assert!(round["sections_per_s"].as_f64() > Some(0.0), "{cell}");
        assert!(round["acquire_us"]["p50"].as_f64() > Some(0.0), "{cell}");
        assert!(round["commands_incl_scripts_per_acquisition"].as_f64() > Some(0.0), "{cell}");
        if alg == NAME {
            // Nobody counts what another process sends.
            assert!(round["commands_sent_per_acquisition"].is_null(), "{cell}");
        }
        if workers > 1 {
            // The workers began together, after their adapters' start: they contended, and
            // the lock went from one to another while someone waited.
            assert!(round["handoff_us"]["n"].as_u64() > Some(0), "no contention: {cell}");
        }
        round["client_cpu_us_per_acquisition"].as_f64().unwrap_or(0.0)
    };
    // The client CPU includes the adapter's process (CPython), reaped by its worker.
    assert!(cpu(NAME, 1) > cpu("token", 1), "the adapter's CPU is not counted: {json}");
    cpu(NAME, 2);

    let md = std::fs::read_to_string(folder.join("bench.md")).expect("bench.md");
    for workers in [1, 2] {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {NAME} | {workers} |")))
            .unwrap_or_else(|| panic!("no row for {NAME} × {workers}:\n{md}"));
        assert!(row.contains("| – / "), "commands sent should be –: {row}");
        assert!(row.ends_with("| ok |"), "{row}");
    }

    let html = std::fs::read_to_string(folder.join("bench.html")).expect("bench.html");
    let figures: Vec<&str> = html.split("<figure class=\"plot\">").skip(1).collect();
    assert!(!figures.is_empty(), "no plots");
    for f in figures {
        assert!(f.contains(NAME), "{NAME} is missing from a plot");
    }
}
