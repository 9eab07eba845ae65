//! The simulator over several independent model lock servers: `redlock` in logical time, its
//! quorum riding out a down minority, failing without a majority, and breaking where Redlock
//! breaks by design (a restart without persistence, a server's clock jump); per-server faults
//! strike only their servers; and single-server runs replay as before.

mod support;

use std::time::Duration;

use contend::check::{CheckerKind, FindingKind};
use contend::history::{Event, Kind, Op, write_jsonl};
use contend::scenario::{
    CommandAction, CommandFault, Crash, DelayOp, Fault, Hold, HolderFault, Persistence, Scenario,
    ServerSet, StepDelay, Window,
};
use contend::sim::{Faults, SimConfig, SimRun, counterexample, play, simulate, violations};
use redmutex::algo::Algorithm;
use redmutex::algo::redlock::RedlockAlgorithm;

/// Every simulable scenario of `scenarios/` (one lock server each).
fn single_server_scenarios() -> Vec<Scenario> {
    support::shipped_scenarios()
        .into_iter()
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
        got, "967f8555b7a654b24661ca80d164514235172161",
        "the histories of single-server runs changed"
    );
}

fn redlock(servers: u32) -> RedlockAlgorithm {
    RedlockAlgorithm { servers: servers as usize, server_timeout: Duration::from_millis(50) }
}

/// `workers` clients × `iterations` rounds over `servers` lock servers, ttl 1 s, with `faults`.
fn over(servers: u32, seed: u64, workers: u32, iterations: u32, faults: Vec<Fault>) -> SimConfig {
    let mut cfg = SimConfig { seed, workers, iterations, ..SimConfig::default() };
    cfg.client.servers = servers;
    cfg.client.faults = faults;
    cfg
}

/// Strikes once, `after_acquire_ms` into a holding, on `servers`.
fn once_on(servers: &[u32], after_acquire_ms: u64) -> HolderFault {
    HolderFault {
        window: Window { start_ms: 0, stop_ms: None },
        every_ms: None,
        after_acquire_ms,
        count: Some(1),
        servers: ServerSet::of(servers).unwrap(),
    }
}

fn restart(servers: &[u32], after_acquire_ms: u64, downtime_ms: u64) -> Fault {
    Fault::RestartServer {
        strike: once_on(servers, after_acquire_ms),
        crash: Crash::Sigkill,
        downtime_ms,
    }
}

/// A command fault on acquires at the proxies of `servers`.
fn on_acquires(action: CommandAction, delay_ms: u64, servers: ServerSet) -> CommandFault {
    CommandFault {
        action,
        delay_ms,
        op: DelayOp::Acquire,
        nth_op: None,
        nth_command: None,
        workers: None,
        count: None,
        servers,
    }
}

/// The run's violations, or a panic with the first one's timeline.
fn assert_no_violation(run: &SimRun, cfg: &SimConfig, liveness: bool) {
    if let Some(v) = violations(run, liveness).first() {
        panic!("{}", counterexample(&run.history, v, &cfg.replay_command("redlock")));
    }
}

/// The span of the first `f` window of the nemesis: its invoke and its close, ns.
fn window(run: &SimRun, f: Op) -> (u64, u64) {
    let h = &run.history;
    let open = h.iter().find(|e| e.f == f && e.kind == Kind::Invoke).expect("the fault struck");
    let close = h
        .iter()
        .find(|e| e.f == f && e.kind == Kind::Ok && e.time > open.time)
        .expect("the fault window closed");
    (open.time, close.time)
}

fn acquires_ok_within(run: &SimRun, (from, to): (u64, u64)) -> usize {
    let ok = |e: &&Event| e.f == Op::Acquire && e.kind == Kind::Ok;
    run.history.iter().filter(ok).filter(|e| e.time > from && e.time < to).count()
}

fn lease_violations(run: &SimRun) -> usize {
    let me = &run.checked[CheckerKind::MutualExclusion.as_str()];
    me.findings.iter().filter(|f| f.kind == FindingKind::LeaseViolated).count()
}

#[test]
fn redlock_over_three_and_five_servers_with_a_minority_down_stays_safe_and_live() {
    for (servers, down) in [(3, vec![1]), (5, vec![0, 3])] {
        for seed in 0..20 {
            // The minority is killed 5 ms into the first holding and stays down for the run.
            let mut cfg = over(servers, seed, 3, 6, vec![restart(&down, 5, 60_000)]);
            cfg.server.persistence = Persistence::AofAlways;
            let run = simulate(&redlock(servers), &cfg);
            assert!(cfg.judges_liveness());
            // Not judged here: ownership and residue. A holder that won a bare majority cannot
            // confirm it at its release while one of its servers is down (`owned` is false),
            // and its key stays on that server until it expires.
            let judged = [
                CheckerKind::MutualExclusion,
                CheckerKind::LostUpdates,
                CheckerKind::Liveness,
                CheckerKind::StrandedLock,
            ];
            if let Some(v) = violations(&run, true).iter().find(|v| judged.contains(&v.checker)) {
                panic!("{}", counterexample(&run.history, v, &cfg.replay_command("redlock")));
            }
            let during = acquires_ok_within(&run, window(&run, Op::Restart));
            assert!(
                during >= 10,
                "{servers} servers, {down:?} down, seed {seed}: {during} acquires while down"
            );
        }
    }
}

#[test]
fn a_majority_down_fails_acquires_with_no_quorum() {
    for (servers, down) in [(3, vec![0, 2]), (5, vec![1, 2, 4])] {
        for seed in 0..5 {
            let mut cfg = over(servers, seed, 2, 3, vec![restart(&down, 5, 60_000)]);
            cfg.server.persistence = Persistence::AofAlways;
            let run = simulate(&redlock(servers), &cfg);
            let down_for = window(&run, Op::Restart);
            assert_eq!(acquires_ok_within(&run, down_for), 0, "{servers} servers, seed {seed}");
            let no_quorum = run
                .history
                .iter()
                .filter(|e| e.f == Op::Acquire && e.time > down_for.0)
                .filter(|e| e.details.as_deref().is_some_and(|d| d.contains("NoQuorum")))
                .count();
            assert!(
                no_quorum >= 2,
                "{servers} servers, seed {seed}: {no_quorum} NoQuorum acquires"
            );
            // Nothing is handed out twice, and no key is left where a majority still answers.
            assert_no_violation(&run, &cfg, false);
        }
    }
}

/// Two clients, one round each, over three servers: the first one's acquire never reaches
/// server 2 (so it holds 0 and 1 only), and the second starts 50 ms later; the first holds
/// 300 ms of its 1 s lease while `fault` strikes server 1 10 ms into its holding.
fn bare_majority_then(seed: u64, fault: Fault, persistence: Persistence) -> SimRun {
    let lost_on_2 = CommandFault {
        nth_op: Some(1),
        nth_command: Some(1),
        count: Some(1),
        ..on_acquires(CommandAction::DropCommand, 0, ServerSet::of(&[2]).unwrap())
    };
    let second_starts_late = StepDelay {
        window: Window { start_ms: 0, stop_ms: None },
        op: DelayOp::Acquire,
        step: 0,
        delay_ms: 50,
        workers: Some(vec![1]),
        every: 1,
    };
    let faults = vec![Fault::Command(lost_on_2), Fault::StepDelay(second_starts_late), fault];
    let mut cfg = over(3, seed, 2, 1, faults);
    cfg.client.hold = Hold::Fixed { ms: 300 };
    cfg.server.persistence = persistence;
    simulate(&redlock(3), &cfg)
}

#[test]
fn a_restart_without_persistence_lets_a_second_client_form_a_majority() {
    for seed in 0..10 {
        let run = bare_majority_then(seed, restart(&[1], 10, 0), Persistence::None);
        assert!(lease_violations(&run) >= 1, "seed {seed}: no lease handed out twice");
    }
}

#[test]
fn the_same_restart_delayed_by_a_ttl_is_safe() {
    for seed in 0..10 {
        let run = bare_majority_then(seed, restart(&[1], 10, 1000), Persistence::None);
        assert_eq!(lease_violations(&run), 0, "seed {seed}");
        let lost = &run.checked[CheckerKind::LostUpdates.as_str()];
        assert!(lost.findings.is_empty(), "seed {seed}: {:?}", lost.findings);
        // Both clients got the lock: the second after the first let go.
        let ok = run.history.iter().filter(|e| e.f == Op::Acquire && e.kind == Kind::Ok);
        assert_eq!(ok.count(), 2, "seed {seed}");
    }
}

#[test]
fn a_forward_clock_jump_on_one_server_can_give_two_holders() {
    let jump = Fault::ServerClockJump { strike: once_on(&[1], 10), jump_ms: 2000 };
    for seed in 0..10 {
        let run = bare_majority_then(seed, jump.clone(), Persistence::AofAlways);
        assert!(lease_violations(&run) >= 1, "seed {seed}: no lease handed out twice");
    }
    // The same jump on the server the holder never reached changes nothing.
    let beside = Fault::ServerClockJump { strike: once_on(&[2], 10), jump_ms: 2000 };
    for seed in 0..10 {
        let run = bare_majority_then(seed, beside.clone(), Persistence::AofAlways);
        assert_eq!(lease_violations(&run), 0, "seed {seed}");
    }
}

#[test]
fn a_command_fault_of_one_server_strikes_only_that_server() {
    let dropped_on = |servers| {
        let fault = on_acquires(CommandAction::DropCommand, 0, servers);
        over(3, 4, 3, 5, vec![Fault::Command(fault)])
    };
    let cfg = dropped_on(ServerSet::of(&[1]).unwrap());
    let run = simulate(&redlock(3), &cfg);
    assert_no_violation(&run, &cfg, true);
    let strikes: Vec<&str> = run
        .history
        .iter()
        .filter(|e| e.f == Op::Command && e.kind == Kind::Invoke)
        .filter_map(|e| e.details.as_deref())
        .collect();
    let acquired = run.history.iter().filter(|e| e.f == Op::Acquire && e.kind == Kind::Ok);
    assert_eq!(acquired.count(), 15, "every acquire wins with servers 0 and 2");
    assert!(strikes.len() >= 15, "{} strikes", strikes.len());
    assert!(strikes.iter().all(|d| d.ends_with("at lock server 1")), "{strikes:?}");
    // The same fault on every server's proxy: no acquire reaches a server.
    let run = simulate(&redlock(3), &dropped_on(ServerSet::ALL));
    let acquired = run.history.iter().filter(|e| e.f == Op::Acquire && e.kind == Kind::Ok);
    assert_eq!(acquired.count(), 0);
}

#[test]
fn a_late_command_still_runs_and_the_next_one_on_its_connection_runs_after_it() {
    let late_on_2 = |ms| {
        Fault::Command(on_acquires(CommandAction::DelayCommand, ms, ServerSet::of(&[2]).unwrap()))
    };
    for seed in 0..10 {
        // The SET reaches server 2 100 ms late, long after its answer was given up on (50 ms);
        // the holder dies 200 ms into its holding, so nothing removes the keys.
        let kill = Fault::KillHolder(once_on(&[], 200));
        let mut cfg = over(3, seed, 1, 1, vec![late_on_2(100), kill]);
        cfg.client.hold = Hold::Fixed { ms: 500 };
        let run = simulate(&redlock(3), &cfg);
        let left: Vec<&str> = run
            .history
            .iter()
            .filter(|e| e.f == Op::Residue)
            .filter_map(|e| e.details.as_deref())
            .collect();
        assert_eq!(left.len(), 3, "seed {seed}: the late SET ran on server 2 too: {left:?}");
        assert!(left[2].ends_with("(server 2)"), "{left:?}");
        // With no hold the release goes out while the SET is still on its way to server 2: it
        // arrives after it, and removes the key.
        let mut cfg = over(3, seed, 1, 1, vec![late_on_2(200)]);
        cfg.client.hold = Hold::None;
        let run = simulate(&redlock(3), &cfg);
        assert_no_violation(&run, &cfg, true);
        let residue = &run.checked[CheckerKind::Residue.as_str()];
        assert_eq!(residue.verdict, contend::check::Verdict::Valid, "seed {seed}");
    }
}

/// A scenario of three lock servers, one restarted (kept on disk) and one asleep while held.
const THREE_SERVERS: &str = r#"
description = "redlock over three servers: one restarted, one asleep, while held"
workers = 3
iterations = 4

[lock]
ttl_ms = 1000
wait_ms = 4000

[section]
hold = { distribution = "fixed", ms = 100 }

[server]
count = 3
persistence = "aof-always"

[[faults]]
kind = "restart-server"
start_ms = 0
after_acquire_ms = 20
crash = "sigkill"
downtime_ms = 300
count = 1
servers = [1]

[[faults]]
kind = "slow-server"
start_ms = 0
after_acquire_ms = 10
pause_ms = 200
count = 1
servers = [2]

[expect.redlock]
mutual-exclusion = "valid"
lost-updates = "valid"
residue = "valid"
liveness = "valid"
"#;

#[test]
fn contend_run_on_the_simulator_runs_redlock_over_three_servers() {
    let dir = tempfile::tempdir().unwrap();
    let file = support::scenario(dir.path(), "three-servers", THREE_SERVERS);
    let out = dir.path().join("reports");
    let output = support::contend()
        .arg("run")
        .arg(&file)
        .args(["-a", "redlock", "--server", "sim", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = support::text(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("AS EXPECTED"), "{text}");
    assert!(text.contains("restart-server ×1") && text.contains("slow-server ×1"), "{text}");
    let history = std::fs::read_to_string(out.join("latest/history.jsonl")).unwrap();
    assert!(history.contains("DEBUG SLEEP 200 ms on lock server 2"), "{history}");
    assert!(history.contains("lock server 1 restarted with appendfsync always"), "{history}");
    // A single-server lock is refused on it.
    let output = support::contend()
        .arg("run")
        .arg(&file)
        .args(["-a", "token", "--server", "sim", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(support::text(&output).contains("runs on one lock server"));
}

#[test]
fn contend_sim_runs_redlock_over_three_servers_and_refuses_mismatches() {
    let run = |args: &[&str]| {
        let output = support::contend().arg("sim").args(args).output().unwrap();
        (output.status.success(), support::text(&output))
    };
    let (ok, text) = run(&["-a", "redlock", "--seeds", "20", "--faults", "safe"]);
    assert!(ok && text.contains("20 seeds from 1 without a violation"), "{text}");
    let (ok, text) = run(&["-a", "redlock", "--servers", "5"]);
    assert!(ok && text.contains("over 5 lock servers"), "{text}");
    let (ok, text) = run(&["-a", "redlock", "--servers", "2"]);
    assert!(!ok && text.contains("--servers must be 3 to 9"), "{text}");
    let (ok, text) = run(&["-a", "token", "--servers", "3"]);
    assert!(!ok && text.contains("runs on one lock server"), "{text}");
}

#[test]
fn a_partition_cuts_the_holder_off_from_its_servers_only() {
    for seed in 0..10 {
        let cut = Fault::PartitionHolder { strike: once_on(&[0], 5), pause_ms: 3000 };
        let mut cfg = over(3, seed, 1, 2, vec![cut]);
        cfg.client.hold = Hold::Fixed { ms: 20 };
        let run = simulate(&redlock(3), &cfg);
        assert_no_violation(&run, &cfg, true);
        let h = &run.history;
        let cut = h.iter().find(|e| e.f == Op::Partition && e.kind == Kind::Invoke).unwrap();
        assert!(cut.details.as_deref().unwrap().contains("cut off from lock server 0"));
        // Servers 1 and 2 still answer at once: both rounds finish long before the partition
        // heals, each release owning its lock.
        let releases: Vec<&Event> =
            h.iter().filter(|e| e.f == Op::Release && e.kind == Kind::Ok).collect();
        assert_eq!(releases.len(), 2, "seed {seed}");
        assert!(releases.iter().all(|e| e.owned == Some(true)), "seed {seed}");
        assert!(releases[1].time < 1_000_000_000, "seed {seed}: {} ns", releases[1].time);
    }
}
