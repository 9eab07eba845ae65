//! The simulator finds every specimen's known bug within a bounded number of seeds, and a
//! deliberately broken copy of the `token` release (a plain `DEL`) is caught and shrinks to a
//! short counterexample. Each test fails if the bug goes unnoticed.

use std::time::Instant;

use contend::sim::{
    Faults, NemesisKind, SimConfig, counterexample, faults_for, minimize, search, simulate,
    timeline_lines, violations,
};
use contend::specimens;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use redmutex::algo::{AcquireParams, ExtendParams, OneShot, Protocol, ReleaseParams, TokenLock};
use redmutex::proto::{Command, Machine, Outcome};

/// The most seeds a bug may take to show.
const BUDGET: u64 = 400;

/// Every known bug of `name` is found by the simulator within [`BUDGET`] seeds.
fn every_bug_found(name: &str) {
    let specimen = specimens::find(name).unwrap();
    assert!(!specimen.bugs.is_empty());
    for bug in specimen.bugs {
        let base = SimConfig { faults: faults_for(bug), ..SimConfig::default() };
        let started = Instant::now();
        let hit = search(specimen.protocol(), &base, bug, BUDGET);
        let Some((seed, len)) = hit else {
            panic!(
                "{name}: bug {} ({}) not found in {BUDGET} seeds with faults {}",
                bug.id, bug.checker, base.faults
            )
        };
        println!(
            "{name} / {}: found by {} at seed {seed} ({} seeds, {:.3} s), timeline of {len} events; replay: {}",
            bug.id,
            bug.checker,
            seed + 1,
            started.elapsed().as_secs_f64(),
            SimConfig { seed, ..base }.replay_command(name)
        );
    }
}

#[test]
fn setnx_getset_expiry_skewed_takeover_and_stale_del_are_found() {
    every_bug_found("setnx-getset-expiry");
}

#[test]
fn poll_get_del_del_after_get_is_found() {
    every_bug_found("poll-get-del");
}

#[test]
fn setnx_getset_unchecked_bare_del_and_skewed_takeover_are_found() {
    every_bug_found("setnx-getset-unchecked");
}

#[test]
fn setnx_pubsub_sleeping_through_an_expiry_is_found() {
    every_bug_found("setnx-pubsub");
}

#[test]
fn token_poll_has_no_bug_to_find() {
    let specimen = specimens::find("token-poll").unwrap();
    assert!(specimen.bugs.is_empty());
    for seed in 0..100 {
        let cfg =
            SimConfig { seed, faults: Faults::of(&NemesisKind::SAFE), ..SimConfig::default() };
        let run = simulate(specimen.protocol(), &cfg);
        let found = violations(&run, false);
        assert!(
            found.is_empty(),
            "{}",
            counterexample(&run.history, &found[0], &cfg.replay_command("token-poll"))
        );
    }
}

/// `token` with its release replaced by a plain `DEL`: the bug the owner-checked script exists
/// to prevent.
struct PlainDelToken;

impl Protocol for PlainDelToken {
    fn name(&self) -> &'static str {
        "token-plain-del"
    }
    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine> {
        TokenLock.acquire(params)
    }
    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        let del = Command::Del { keys: vec![p.keys.lock] };
        Box::new(OneShot::new("release", del, |_, reply| Outcome::Released {
            owned: reply.as_int() == Some(1),
            handed: None,
        }))
    }
    fn extend(&self, _: ExtendParams) -> Option<Box<dyn Machine>> {
        None
    }
}

#[test]
fn a_token_release_by_plain_del_is_caught() {
    let base = SimConfig { faults: Faults::of(&[NemesisKind::Pause]), ..SimConfig::default() };
    let started = Instant::now();
    let seed = (0..BUDGET).find(|&seed| {
        let run = simulate(&PlainDelToken, &SimConfig { seed, ..base.clone() });
        violations(&run, false).iter().any(|v| v.checker == contend::check::CheckerKind::Ownership)
    });
    let Some(seed) = seed else { panic!("a plain-DEL release went unnoticed for {BUDGET} seeds") };
    println!("plain DEL caught at seed {seed} in {:.3} s", started.elapsed().as_secs_f64());
    // The real release, same seeds: nothing.
    for seed in 0..=seed {
        let run = simulate(&TokenLock, &SimConfig { seed, ..base.clone() });
        assert!(violations(&run, false).is_empty(), "token failed seed {seed}");
    }
}

#[test]
fn a_plain_del_failure_shrinks_to_a_short_counterexample() {
    // proptest searches seeds and run sizes for a run where the broken release keeps its
    // promises, fails, and shrinks the failing input: fewer clients, fewer rounds.
    let config =
        ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(config_algorithm()),
    );
    let strategy = (any::<u64>(), 1u32..=5, 1u32..=10);
    let result = runner.run(&strategy, |(seed, workers, iterations)| {
        let cfg = SimConfig {
            seed,
            workers,
            iterations,
            faults: Faults::of(&[NemesisKind::Pause]),
            fault_every_ms: 300,
            ..SimConfig::default()
        };
        let run = simulate(&PlainDelToken, &cfg);
        match violations(&run, false).first() {
            None => Ok(()),
            Some(v) => Err(TestCaseError::fail(counterexample(
                &run.history,
                v,
                &cfg.replay_command("token-plain-del"),
            ))),
        }
    });
    let Err(TestError::Fail(why, (seed, workers, iterations))) = result else {
        panic!("the plain-DEL release passed 2000 cases: {result:?}")
    };
    println!("proptest shrank it to seed {seed}, {workers} clients x {iterations} rounds:\n{why}");
    let shrunk = SimConfig {
        seed,
        workers,
        iterations,
        faults: Faults::of(&[NemesisKind::Pause]),
        fault_every_ms: 300,
        ..SimConfig::default()
    };
    let stale = |run: &contend::sim::SimRun| {
        violations(run, false).iter().any(|v| v.checker == contend::check::CheckerKind::Ownership)
    };
    let small = minimize(&PlainDelToken, &shrunk, 64, stale);
    let run = simulate(&PlainDelToken, &small);
    let found = violations(&run, false);
    let v = found
        .iter()
        .find(|v| v.checker == contend::check::CheckerKind::Ownership)
        .expect("the minimized run fails");
    let len = timeline_lines(&run.history, v).len();
    println!(
        "smallest failing run: {}x{}, {} events:\n{}",
        small.workers,
        small.iterations,
        run.history.len(),
        counterexample(&run.history, v, &small.replay_command("token-plain-del"))
    );
    assert!(
        small.workers <= 3,
        "a stale DEL needs two clients (and a third may help), got {}",
        small.workers
    );
    assert!(small.workers * small.iterations <= workers * iterations);
    assert!(len <= 30, "the counterexample's timeline has {len} events");
}

fn config_algorithm() -> proptest::test_runner::RngAlgorithm {
    proptest::test_runner::RngAlgorithm::ChaCha
}
