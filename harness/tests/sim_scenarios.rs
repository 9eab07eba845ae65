//! `contend run SCENARIO --server sim`: every scenario of `scenarios/` meets every algorithm's
//! stated expectations in simulation, and a run replays byte for byte from its seed.

mod support;

use std::path::Path;

use contend::registry;
use contend::run::RunOptions;
use contend::run::run_simulated;
use contend::scenario::Scenario;
use contend::servers::ServerChoice;

fn scenarios() -> Vec<Scenario> {
    // Restarts the simulator cannot model (RDB, everysec) run on real servers only; `contend
    // run --server sim` refuses them, as a test below shows.
    support::shipped_scenarios()
        .into_iter()
        .filter(|s| contend::sim::unsimulable(s).is_none())
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
fn a_restart_the_simulator_cannot_model_is_refused_with_the_reason() {
    // The model keeps every key across a restart (aof-always) or none; an RDB snapshot's
    // window is not modelled.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/restart-none.toml");
    let text = std::fs::read_to_string(shipped).unwrap();
    let text = text.replace("persistence = \"none\"", "persistence = \"rdb\"");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("restart-rdb.toml");
    std::fs::write(&path, text).unwrap();
    let scenario = Scenario::load(&path).unwrap();
    let entry = registry::find("token").unwrap();
    let err = run_simulated(&scenario, entry, &options(dir.path(), None, None, None)).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("not `rdb`"), "{text}");
    assert!(text.contains("run it on real servers"), "{text}");
}

/// The history of `scenario` × `algorithm` in simulation with `seed`.
fn simulated_history(name: &str, algorithm: &str, seed: u64) -> contend::history::History {
    let scenario = scenarios().into_iter().find(|s| s.name == name).unwrap();
    let out = tempfile::tempdir().unwrap();
    let entry = registry::find(algorithm).unwrap();
    let r = run_simulated(&scenario, entry, &options(out.path(), None, None, Some(seed))).unwrap();
    assert!(r.as_expected, "{}", r.table());
    let file = std::fs::File::open(r.dir.join("history.jsonl")).unwrap();
    contend::history::read_jsonl(std::io::BufReader::new(file)).unwrap()
}

/// The instants of the first `invoke` and the first `ok` of nemesis operation `f`.
fn window(h: &[contend::history::Event], f: contend::history::Op) -> (u64, u64) {
    use contend::history::Kind;
    let at = |kind| h.iter().find(|e| e.f == f && e.kind == kind).map(|e| e.time).unwrap();
    (at(Kind::Invoke), at(Kind::Ok))
}

#[test]
fn a_partitioned_holders_release_arrives_after_the_heal_and_finds_the_lock_gone() {
    use contend::history::{Kind, Op};
    let h = simulated_history("partition-holder", "token", 5);
    let (cut, healed) = window(&h, Op::Partition);
    let target = h.iter().find(|e| e.f == Op::Partition).and_then(|e| e.target).unwrap();
    // The holder's release, sent while it was cut off, completes only after the heal, and
    // by then its lease had run out and someone else held the lock.
    let late = h.iter().filter(|e| e.worker == Some(target) && e.f == Op::Release);
    let done = late.clone().find(|e| e.kind == Kind::Ok && e.last_send.is_some_and(|s| s > cut));
    let done = done.expect("a release of the partitioned holder");
    assert!(done.last_send.unwrap() < healed && done.time > healed, "{done:?}");
    assert_eq!(done.owned, Some(false), "{done:?}");
}

#[test]
fn a_sleeping_server_answers_nothing_until_it_wakes() {
    use contend::history::{Kind, Op};
    let h = simulated_history("slow-server", "token", 5);
    let (slept, woke) = window(&h, Op::SlowServer);
    // Every operation invoked while the server slept completed after it woke.
    let mut during = 0;
    for (i, e) in h.iter().enumerate() {
        if e.kind != Kind::Invoke || !matches!(e.f, Op::Acquire | Op::Release) {
            continue;
        }
        if e.time <= slept || e.time >= woke {
            continue;
        }
        during += 1;
        let done = h[i + 1..].iter().find(|d| d.worker == e.worker && d.f == e.f).unwrap();
        assert!(done.time > woke, "{e:?} answered at {} while the server slept", done.time);
    }
    assert!(during > 0, "nothing was asked of the sleeping server");
}

#[test]
fn a_forward_step_of_the_servers_clock_expires_the_lock_under_its_holder() {
    use contend::history::{Kind, Op};
    let h = simulated_history("server-clock-jump", "token", 5);
    let (stepped, _) = window(&h, Op::ServerClock);
    // The next acquire after the step wins while the holder still works: an overlap.
    let held = h.iter().filter(|e| e.f == Op::Acquire && e.kind == Kind::Ok && e.time > stepped);
    assert!(held.count() > 0, "no acquisition after the step");
    let r = contend::check::mutual_exclusion(
        &contend::check::Timeline::new(&h),
        &contend::check::Context::from_ms(10_000, 20_000, 500, false),
    );
    assert_eq!(r.verdict, contend::check::Verdict::Invalid, "{r:?}");
}

#[test]
fn a_failover_promotes_a_replica_without_the_partitions_writes_and_moves_every_client() {
    use contend::history::{Kind, Op};
    let h = simulated_history("failover", "fenced", 5);
    let (cut, promoted) = window(&h, Op::Failover);
    // A fence handed out on the cut-off primary is handed out again by the promoted replica,
    // which never saw it.
    let fences = |from: u64, to: u64| -> Vec<u64> {
        h.iter()
            .filter(|e| e.f == Op::Acquire && e.kind == Kind::Ok && e.time > from && e.time < to)
            .filter_map(|e| e.fence)
            .collect()
    };
    let during = fences(cut, promoted);
    let next = h.iter().filter(|e| e.f == Op::Failover && e.kind == Kind::Invoke).nth(1);
    let after = fences(promoted, next.map_or(u64::MAX, |e| e.time));
    assert!(!during.is_empty() && !after.is_empty(), "{during:?} {after:?}");
    assert!(after.iter().any(|f| during.contains(f)), "fences repeat: {during:?} then {after:?}");
    // Every client that was not blocked finds its connection reset by the move.
    let reset = h.iter().filter(|e| {
        e.time > promoted
            && e.details.as_deref().is_some_and(|d| d.contains("moved to a new primary"))
    });
    assert!(reset.count() > 0, "no client noticed the move");
}

#[test]
fn wait_for_replicas_is_refused_in_simulation_with_the_reason() {
    // The model has no replicas to acknowledge a WAIT.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/failover-wait.toml");
    let scenario = Scenario::load(&shipped).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let entry = registry::find("token").unwrap();
    let err = run_simulated(&scenario, entry, &options(dir.path(), None, None, None)).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("does not model WAIT ([lock] replicas)"), "{text}");
    assert!(text.contains("--server local"), "{text}");
}
