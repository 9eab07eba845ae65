//! The simulator over several independent model lock servers: `redlock` in logical time.

use std::path::{Path, PathBuf};

use contend::history::write_jsonl;
use contend::scenario::Scenario;
use contend::sim::{Faults, SimConfig, play};
use redmutex::algo::Algorithm;

/// Every simulable scenario of `scenarios/` (one lock server each).
fn single_server_scenarios() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| Scenario::load(f).unwrap())
        .filter(|s| contend::sim::unsimulable(s).is_none() && s.server.count == 1)
        .collect()
}

/// One SHA-1 over the histories of many single-server runs: every simulable scenario with
/// every reference algorithm (3 seeds, small), and every nemesis fault kind (30 seeds).
fn single_server_digest() -> String {
    let mut all = Vec::new();
    for scenario in single_server_scenarios() {
        for a in Algorithm::ALL {
            for seed in 0..3 {
                let cfg = SimConfig::from_scenario(&scenario, seed, 4, 4);
                let (history, _) = play(a.protocol(), &cfg);
                write_jsonl(&history, &mut all).unwrap();
            }
        }
    }
    let faults: Faults = "all".parse().unwrap();
    for a in Algorithm::ALL {
        for seed in 0..30 {
            let cfg = SimConfig {
                seed,
                faults: faults.clone(),
                fault_every_ms: 100,
                ..SimConfig::default()
            };
            let (history, _) = play(a.protocol(), &cfg);
            write_jsonl(&history, &mut all).unwrap();
        }
    }
    sha1_smol::Sha1::from(all).digest().to_string()
}

#[test]
fn the_single_server_seeds_are_unchanged() {
    let got = single_server_digest();
    assert_eq!(
        got, "88c199a934303fa9c7069835f5ec83fba35f3098",
        "the histories of single-server runs changed"
    );
}
