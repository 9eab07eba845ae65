//! `contend sim-coverage`: how fast the simulator finds each specimen's known bugs, and how
//! many seeds the reference algorithms pass.

use std::fmt::Write as _;
use std::time::Instant;

use redmutex::algo::{Algorithm, Protocol};

use super::{Faults, NemesisKind, SimConfig, simulate, timeline_lines, violations};
use crate::specimens::{KnownBug, SPECIMENS, Specimen};

/// The budget of a coverage run.
#[derive(Clone, Debug)]
pub struct Coverage {
    /// Seeds per reference algorithm.
    pub reference_seeds: u64,
    /// The most seeds tried per specimen bug.
    pub specimen_seeds: u64,
    /// Threads for the reference seeds.
    pub threads: usize,
    /// The scenarios folder, for the bugs searched with their own scenario's faults.
    pub scenarios: std::path::PathBuf,
}

/// Whether `bug` of `specimen` is searched with its own scenario rather than the random
/// faults: a quorum specimen runs over the scenario's servers, and its bug needs faults on
/// some of them; a client clock running a minute ahead (fair-client-clock) is longer than any
/// random skew, which stays within a few ttls.
#[must_use]
pub fn by_scenario(specimen: &Specimen, bug: &KnownBug) -> bool {
    specimen.over.is_some() || bug.scenario == "fair-client-clock-skew"
}

/// Searches seeds from 0 for a run of `bug`'s own scenario (from `dir`) that shows it; answers
/// the seed, the run's events and its finding's timeline length, or why it could not search.
fn search_scenario(
    specimen: &Specimen,
    bug: &KnownBug,
    dir: &std::path::Path,
    budget: u64,
) -> Result<Option<(u64, usize, usize)>, String> {
    let path = dir.join(format!("{}.toml", bug.scenario));
    let scenario = crate::scenario::Scenario::load(&path).map_err(|e| format!("{e:#}"))?;
    let build = crate::registry::Build::of(&scenario);
    let protocol = match specimen.over {
        Some(over) => over(&build),
        None => specimen.scaled(build.scale),
    };
    let (workers, iterations) = (scenario.workers, scenario.iterations);
    Ok((0..budget).find_map(|seed| {
        let cfg = SimConfig::from_scenario(&scenario, seed, workers, iterations);
        let run = simulate(&*protocol, &cfg);
        let found = violations(&run, !bug.safety);
        let hit = found.iter().find(|v| v.checker == bug.checker)?;
        Some((seed, run.history.len(), timeline_lines(&run.history, hit).len()))
    }))
}

/// The fault kinds that provoke a known bug, from the scenario the bug names.
#[must_use]
pub fn faults_for(bug: &KnownBug) -> Faults {
    Faults::of(match bug.scenario {
        "client-clock-skew" | "fence-clock-skew" => &[NemesisKind::Skew],
        "release-step-delay" => &[NemesisKind::Delay],
        "crash-holder" => &[NemesisKind::CrashHolder],
        "stale-release" => &[NemesisKind::Pause, NemesisKind::Delay],
        // Plain contention: a pause may rightly cost a waiter its place in a FIFO queue.
        "fair-order" => &[],
        _ => &[NemesisKind::Pause],
    })
}

/// Whether `run`'s violations include one of `bug`'s checker.
fn found(protocol: &dyn Protocol, cfg: &SimConfig, bug: &KnownBug) -> Option<usize> {
    let run = simulate(protocol, cfg);
    let v = violations(&run, !bug.safety);
    let hit = v.iter().find(|v| v.checker == bug.checker)?;
    Some(timeline_lines(&run.history, hit).len())
}

/// The first seed from 0 (of at most `budget`) whose run shows `bug`; answers the seed and the
/// counterexample's timeline length.
pub fn search(
    protocol: &dyn Protocol,
    base: &SimConfig,
    bug: &KnownBug,
    budget: u64,
) -> Option<(u64, usize)> {
    (0..budget).find_map(|seed| {
        let cfg = SimConfig { seed, ..base.clone() };
        found(protocol, &cfg, bug).map(|len| (seed, len))
    })
}

/// Runs the coverage; answers the report and whether every bug was found and every reference
/// seed passed.
#[must_use]
pub fn coverage(budget: &Coverage) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    let _ = writeln!(
        out,
        "specimen bugs (3 clients x 10 rounds, ttl 1 s; seeds from 0 until found; then the smallest \
         run that still shows it, clients x rounds from 1 x 1 up, 32 seeds each):"
    );
    let _ = writeln!(
        out,
        "  {:<23} {:<34} {:<12} {:>6} {:>9}  {:>8} {:>8} {:>9} {:>9}",
        "specimen", "bug", "faults", "seeds", "time", "smallest", "events", "timeline", "shrink"
    );
    for s in &SPECIMENS {
        for bug in s.bugs {
            if by_scenario(s, bug) {
                let started = Instant::now();
                let hit = search_scenario(s, bug, &budget.scenarios, budget.specimen_seeds);
                let secs = started.elapsed().as_secs_f64();
                let scenario = format!("{}.toml", bug.scenario);
                let mut replay = None;
                let line = match hit {
                    Ok(Some((seed, events, len))) => {
                        replay = Some(format!(
                            "contend run {} -a {} --server sim --seed {seed}",
                            budget.scenarios.join(&scenario).display(),
                            s.name
                        ));
                        format!(
                            "{:>6} {secs:>8.3}s  {:>8} {events:>8} {len:>9}        -",
                            seed + 1,
                            "scenario"
                        )
                    }
                    Ok(None) => {
                        ok = false;
                        let tried = format!(">{}", budget.specimen_seeds);
                        format!("{tried:>6} {secs:>8.3}s  NOT FOUND")
                    }
                    Err(why) => {
                        ok = false;
                        format!("CANNOT SEARCH: {why}")
                    }
                };
                let _ = writeln!(out, "  {:<23} {:<34} {:<12} {line}", s.name, bug.id, scenario);
                if let Some(replay) = replay {
                    let _ = writeln!(out, "      replay: {replay}");
                }
                continue;
            }
            let faults = faults_for(bug);
            let base = SimConfig { faults: faults.clone(), ..SimConfig::default() };
            let started = Instant::now();
            let hit = search(s.protocol(), &base, bug, budget.specimen_seeds);
            let secs = started.elapsed().as_secs_f64();
            let Some((seed, _)) = hit else {
                ok = false;
                let _ = writeln!(
                    out,
                    "  {:<23} {:<34} {:<12} {:>6} {secs:>8.3}s  NOT FOUND",
                    s.name,
                    bug.id,
                    faults.to_string(),
                    format!(">{}", budget.specimen_seeds)
                );
                continue;
            };
            let started = Instant::now();
            let failing = SimConfig { seed, ..base };
            let shows = |run: &super::SimRun| {
                violations(run, !bug.safety).iter().any(|v| v.checker == bug.checker)
            };
            let small = minimize(s.protocol(), &failing, 32, shows);
            let shrink = started.elapsed().as_secs_f64();
            let run = simulate(s.protocol(), &small);
            let found = violations(&run, !bug.safety);
            let len = found
                .iter()
                .find(|v| v.checker == bug.checker)
                .map_or(0, |v| timeline_lines(&run.history, v).len());
            let _ = writeln!(
                out,
                "  {:<23} {:<34} {:<12} {:>6} {secs:>8.3}s  {:>8} {:>8} {len:>9} {shrink:>8.2}s",
                s.name,
                bug.id,
                faults.to_string(),
                seed + 1,
                format!("{}x{}", small.workers, small.iterations),
                run.history.len(),
            );
            let _ = writeln!(out, "      replay: {}", small.replay_command(s.name));
        }
    }
    for liveness in [false, true] {
        let faults = reference_config(0, liveness).faults;
        let _ = writeln!(
            out,
            "reference algorithms, {} ({} seeds each; 1-4 clients x 5 rounds; faults {faults}, one every 100 ms on average):",
            if liveness { "safety and liveness" } else { "safety" },
            budget.reference_seeds,
        );
        let quorum = redlock();
        let algorithms: Vec<(&dyn Protocol, u32)> = Algorithm::ALL
            .into_iter()
            .map(|a| (a.protocol(), 1))
            .chain(std::iter::once((&quorum as &dyn Protocol, REDLOCK_SERVERS)))
            .collect();
        for &(protocol, servers) in &algorithms {
            let started = Instant::now();
            let (failed, events, struck) =
                reference(protocol, budget.reference_seeds, budget.threads, liveness, servers);
            let _ = writeln!(
                out,
                "  {:<8} {} seeds ({struck} with a fault that struck), {} with a violation, {} \
                 events, {:.1} s",
                protocol.name(),
                budget.reference_seeds,
                failed.len(),
                events,
                started.elapsed().as_secs_f64()
            );
            if servers > 1 && !liveness {
                let _ = writeln!(
                    out,
                    "           {}",
                    QUORUM_NOTE.replace("{n}", &servers.to_string())
                );
            }
            ok &= failed.is_empty();
            for seed in failed.iter().take(5) {
                let cfg = reference_config_over(*seed, liveness, servers);
                let _ = writeln!(out, "    failing: {}", cfg.replay_command(protocol.name()));
            }
        }
    }
    (out, ok)
}

/// The configuration of reference seed `seed`: every fault a healthy Redis lets a lock survive
/// (safety judged), or only crashes (liveness judged too), one every 100 ms on average, so that
/// most of these short runs (about 91%) see at least one strike.
#[must_use]
pub fn reference_config(seed: u64, liveness: bool) -> SimConfig {
    let workers = 1 + u32::try_from(seed % 4).unwrap_or(0);
    let faults = if liveness {
        Faults::of(&[NemesisKind::Crash, NemesisKind::CrashHolder])
    } else {
        Faults::of(&NemesisKind::SAFE)
    };
    SimConfig { seed, workers, iterations: 5, faults, fault_every_ms: 100, ..SimConfig::default() }
}

/// How many model lock servers the coverage runs `redlock` over.
pub const REDLOCK_SERVERS: u32 = 3;

/// What `redlock`'s reference figures cover, and the fault kind they leave out (by design).
const QUORUM_NOTE: &str = "(over {n} model lock servers; a restart strikes a minority of them, at \
     once. restart-volatile is left out, as for every algorithm, and for redlock by design too: a \
     minority restarted without its keys lets a second client form a majority with the servers the \
     holder did not get — the classic Redlock failure, shown in tests/sim_quorum.rs)";

/// `redlock` as the coverage runs it: over [`REDLOCK_SERVERS`] servers, each awaited 50 ms.
fn redlock() -> redmutex::algo::redlock::RedlockAlgorithm {
    redmutex::algo::redlock::RedlockAlgorithm {
        servers: REDLOCK_SERVERS as usize,
        server_timeout: std::time::Duration::from_millis(crate::scenario::SERVER_TIMEOUT_MS),
    }
}

/// [`reference_config`] over `servers` independent lock servers.
#[must_use]
pub fn reference_config_over(seed: u64, liveness: bool, servers: u32) -> SimConfig {
    let mut cfg = reference_config(seed, liveness);
    cfg.client.servers = servers;
    cfg
}

/// Runs `seeds` reference seeds over `servers` lock servers on `threads` threads; answers the
/// failing seeds, the events, and how many seeds saw a fault strike.
fn reference(
    protocol: &dyn Protocol,
    seeds: u64,
    threads: usize,
    liveness: bool,
    servers: u32,
) -> (Vec<u64>, u64, u64) {
    let threads = threads.max(1) as u64;
    let parts: Vec<(Vec<u64>, u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut failed = Vec::new();
                    let (mut events, mut struck) = (0, 0);
                    let mut seed = t;
                    while seed < seeds {
                        let cfg = reference_config_over(seed, liveness, servers);
                        let run = simulate(protocol, &cfg);
                        events += run.history.len() as u64;
                        struck += u64::from(!crate::report::faults_struck(&run.history).is_empty());
                        if !violations(&run, cfg.judges_liveness()).is_empty() {
                            failed.push(seed);
                        }
                        seed += threads;
                    }
                    (failed, events, struck)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut failed: Vec<u64> = parts.iter().flat_map(|p| p.0.iter().copied()).collect();
    failed.sort_unstable();
    (failed, parts.iter().map(|p| p.1).sum(), parts.iter().map(|p| p.2).sum())
}

/// The smallest run that still shows a violation `fails` accepts: clients × rounds grow from
/// 1 × 1 up to `cfg`'s, each size tried with seeds `0..seeds_per_size`; answers the first
/// failing configuration (`cfg` itself when nothing smaller fails). A proptest shrink changes
/// one input at a time; since one seed drives the whole run, a smaller run with the same seed is
/// a different run, so this search by size finds shorter counterexamples.
pub fn minimize(
    protocol: &dyn Protocol,
    cfg: &SimConfig,
    seeds_per_size: u64,
    fails: impl Fn(&super::SimRun) -> bool,
) -> SimConfig {
    let mut sizes: Vec<(u32, u32)> =
        (1..=cfg.workers).flat_map(|w| (1..=cfg.iterations).map(move |i| (w, i))).collect();
    sizes.sort_by_key(|&(w, i)| (w * i, w));
    for (workers, iterations) in sizes {
        for seed in 0..seeds_per_size {
            let small = SimConfig { seed, workers, iterations, ..cfg.clone() };
            if fails(&simulate(protocol, &small)) {
                return small;
            }
        }
    }
    cfg.clone()
}
