//! `contend run SCENARIO --server sim`: every scenario of `scenarios/` meets every algorithm's
//! stated expectations in simulation, and a run replays byte for byte from its seed.

use std::path::{Path, PathBuf};

use contend::registry;
use contend::run::RunOptions;
use contend::run::run_simulated;
use contend::scenario::Scenario;
use contend::servers::ServerChoice;

fn scenarios() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "the scenarios are missing from {}", dir.display());
    // Faults the simulator cannot play (the fault proxy, a slow server) run on real servers
    // only; `contend run --server sim` refuses them, as a test below shows.
    files
        .iter()
        .map(|f| Scenario::load(f).unwrap())
        .filter(|s| contend::sim::unsimulable(&s.faults, s.server).is_none())
        .collect()
}

fn options(
    out: &Path,
    workers: Option<u32>,
    iterations: Option<u32>,
    seed: Option<u64>,
) -> RunOptions {
    RunOptions {
        server: ServerChoice::Sim,
        witness: None,
        seed,
        out: out.to_path_buf(),
        workers,
        iterations,
        scale: None,
        progress: false,
    }
}

#[test]
fn every_scenario_meets_its_expectations_in_simulation() {
    let out = tempfile::tempdir().unwrap();
    let mut unexpected = Vec::new();
    let mut cells = 0;
    for scenario in scenarios() {
        for algorithm in scenario.expect.keys() {
            // An adapter runs in its own process, on real servers only.
            let Ok(entry) = registry::find(algorithm) else { continue };
            if entry.adapter.is_some() {
                continue;
            }
            let results =
                run_simulated(&scenario, entry, &options(out.path(), None, None, None)).unwrap();
            cells += 1;
            if !results.as_expected {
                unexpected.push(format!("{} x {}:\n{}", scenario.name, algorithm, results.table()));
            }
        }
    }
    assert!(cells >= 50, "only {cells} scenario x algorithm cells");
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}

#[test]
fn a_scenario_run_replays_byte_for_byte_from_its_seed() {
    let scenario = scenarios().into_iter().find(|s| s.name == "crash-holder").unwrap();
    let entry = registry::find("notify").unwrap();
    let history = |dir: &Path, seed| {
        let r =
            run_simulated(&scenario, entry, &options(dir, Some(40), Some(5), Some(seed))).unwrap();
        std::fs::read(r.dir.join("history.jsonl")).unwrap()
    };
    let (a, b, c) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (first, second) = (history(a.path(), 3), history(b.path(), 3));
    assert!(first.len() > 10_000);
    assert!(first == second, "seed 3 gave two different histories");
    assert_ne!(first, history(c.path(), 4));
}

#[test]
fn a_fault_the_simulator_cannot_play_is_refused_with_the_reason() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/partition-holder.toml");
    let scenario = Scenario::load(&path).unwrap();
    let out = tempfile::tempdir().unwrap();
    let entry = registry::find("token").unwrap();
    let err = run_simulated(&scenario, entry, &options(out.path(), None, None, None)).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("cannot play the fault `partition-holder`"), "{text}");
    assert!(text.contains("run it on real servers"), "{text}");
}
