//! The simulator's history for a given seed is pinned byte for byte: a refactor of the run path
//! must not change what a seed produces. If a change is *meant* to change the simulation, say so
//! in the commit and update the digests below with the figures this test prints.

mod support;

use std::path::Path;

use support::contend;

/// SHA-1 of `history.jsonl` of `contend run SCENARIO -a ALGORITHM --server sim --seed SEED`.
fn digest(scenario: &str, algorithm: &str, seed: u64, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(scenario);
    let out = dir.path().join("reports");
    let output = contend()
        .arg("run")
        .arg(&file)
        .args(["-a", algorithm, "--server", "sim", "--seed", &seed.to_string(), "--out"])
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    let history = std::fs::read(out.join("latest/history.jsonl"))
        .unwrap_or_else(|e| panic!("no history ({e}): {}", support::text(&output)));
    assert!(history.len() > 1000, "a history of {} bytes", history.len());
    sha1_smol::Sha1::from(history).digest().to_string()
}

#[test]
fn the_documents_test_in_simulation_writes_the_same_history_for_seed_7() {
    let got = digest("increment-20x100.toml", "notify", 7, &[]);
    assert_eq!(got, "eddd796ddc31ce1339379a1a434755a41874fe95", "increment-20x100 notify seed 7");
}

#[test]
fn a_fault_scenario_in_simulation_writes_the_same_history_for_its_seed() {
    let got = digest("crash-holder.toml", "token", 3, &["--workers", "12", "--iterations", "20"]);
    assert_eq!(got, "ac187529d9f242f591ea600b0b9dd823200b0b62", "crash-holder token seed 3");
    let got = digest("release-step-delay.toml", "fenced", 11, &[]);
    assert_eq!(
        got, "02f696e0354f5e922cf3a599f94c363a66d66e03",
        "release-step-delay fenced seed 11"
    );
    let got = digest("client-clock-skew.toml", "notify", 5, &[]);
    assert_eq!(got, "eec0f1dcacb652f482be0cbf316ddcd0f6bd9330", "client-clock-skew notify seed 5");
}
