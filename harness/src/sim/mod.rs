//! The seeded multi-client simulator: many clients run an algorithm's real sans-IO machines
//! against the Redis model ([`redmutex::sim::Model`]) in logical time, and the run is judged by
//! the harness's own checkers on a history in the harness's own format.
//!
//! Deterministic: no sockets, no clocks, no threads, no hash-order dependence. One seeded
//! generator picks every message delay and every fault (who, when, how long), and the event
//! queue orders equal instants by insertion, so a seed replays the same history byte for byte.
//!
//! Each client loops as `contend worker` does: acquire → critical section on the witness
//! (`enter`, `GET` counter, hold, `SET` counter+1 — for fenced algorithms the fenced read and
//! [`redmutex::scripts::FENCED_WRITE`] — `exit`) → release, and writes the same events. The
//! nemesis ([`FaultKind`]) pauses or crashes clients, restarts the lock server with or without
//! persistence, skews client clocks and delays single steps; a scenario's own faults
//! (`kill-holder`, `pause-holder`, `step-delay`, `clock-skew`) are played on the simulated clock
//! the way the coordinator plays them on the real one.

pub mod cli;
mod client;
mod coverage;
mod engine;
mod faults;
mod nemesis;
mod section;
mod timeline;

use std::collections::BTreeMap;
use std::time::Instant;

use redmutex::algo::Protocol;

pub use coverage::{Coverage, coverage, faults_for, minimize, reference_config, search};
pub use engine::Counters;
pub use faults::{FaultKind, Faults};
pub use timeline::{counterexample, timeline_lines};

use crate::check::{CheckResult, Context, check_all};
use crate::history::History;
use crate::registry::Entry;
use crate::report::{self, Figures, Results};
use crate::run::RunOptions;
use crate::scenario::{ClockSkew, Fault, Hold, HolderFault, Scenario, StepDelay};

/// Everything one simulated run needs besides the algorithm.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed of every random choice.
    pub seed: u64,
    /// Client slots.
    pub workers: u32,
    /// Acquire → section → release rounds per slot.
    pub iterations: u32,
    /// The lock's ttl, ms.
    pub ttl_ms: u64,
    /// How long an acquire waits, ms.
    pub wait_ms: u64,
    /// Drift allowance, ms.
    pub drift_ms: u64,
    /// Slack on liveness deadlines, ms.
    pub slack_ms: u64,
    /// Time between the section's read and write.
    pub hold: Hold,
    /// Shortest one-way network delay, µs.
    pub net_min_us: u64,
    /// Longest one-way network delay, µs.
    pub net_max_us: u64,
    /// What the random nemesis may do.
    pub faults: Faults,
    /// Mean time between nemesis strikes, ms.
    pub fault_every_ms: u64,
    /// The scenario's holder faults: kill (`None`) or pause for `Some(ms)`.
    pub holder_faults: Vec<(HolderFault, Option<u64>)>,
    /// The scenario's step delays.
    pub step_delays: Vec<StepDelay>,
    /// The scenario's clock skews.
    pub clock_skews: Vec<ClockSkew>,
    /// The run stops (heal, then every client stopped) at this simulated time, ms.
    pub max_duration_ms: u64,
    /// A client stops after this many acquires in a row that did not succeed.
    pub give_up_after: u32,
}

impl Default for SimConfig {
    /// The settings of `contend sim`: 3 clients × 10 rounds, ttl 1 s, wait 4 s, holds of up to
    /// 50 ms, 10–50 µs one way (a loopback round trip), no faults.
    fn default() -> SimConfig {
        SimConfig {
            seed: 1,
            workers: 3,
            iterations: 10,
            ttl_ms: 1000,
            wait_ms: 4000,
            drift_ms: 12,
            slack_ms: 100,
            hold: Hold::Uniform { min_ms: 0, max_ms: 50 },
            net_min_us: 10,
            net_max_us: 50,
            faults: Faults::none(),
            fault_every_ms: 1000,
            holder_faults: Vec::new(),
            step_delays: Vec::new(),
            clock_skews: Vec::new(),
            max_duration_ms: 3_600_000,
            give_up_after: 3,
        }
    }
}

impl SimConfig {
    /// The scenario's settings and faults on the simulated clock (every fault kind of a
    /// scenario has an exact simulated meaning), with the run's overrides.
    #[must_use]
    pub fn from_scenario(s: &Scenario, seed: u64, workers: u32, iterations: u32) -> SimConfig {
        let mut cfg = SimConfig {
            seed,
            workers,
            iterations,
            ttl_ms: s.lock.ttl_ms,
            wait_ms: s.lock.wait_ms,
            drift_ms: s.drift_ms(),
            slack_ms: s.slack_ms,
            hold: s.hold,
            max_duration_ms: s.max_duration_ms,
            ..SimConfig::default()
        };
        for f in &s.faults {
            match f {
                Fault::KillHolder(h) => cfg.holder_faults.push((*h, None)),
                Fault::PauseHolder { strike, pause_ms } => {
                    cfg.holder_faults.push((*strike, Some(*pause_ms)))
                }
                Fault::StepDelay(d) => cfg.step_delays.push(d.clone()),
                Fault::ClockSkew(c) => cfg.clock_skews.push(c.clone()),
            }
        }
        cfg
    }

    /// What the checkers judge against.
    #[must_use]
    pub fn context(&self, fenced: bool) -> Context {
        Context {
            ttl_ns: self.ttl_ms * 1_000_000,
            wait_ns: self.wait_ms * 1_000_000,
            slack_ns: self.slack_ms * 1_000_000,
            fenced,
        }
    }

    /// Whether liveness findings are violations of this run: not when the nemesis pauses,
    /// delays or restarts (a stopped waiter or a lost connection is not the lock's fault).
    #[must_use]
    pub fn judges_liveness(&self) -> bool {
        [FaultKind::Pause, FaultKind::Delay, FaultKind::Restart, FaultKind::RestartVolatile]
            .iter()
            .all(|k| !self.faults.has(*k))
    }

    /// The command that replays this run.
    #[must_use]
    pub fn replay_command(&self, algorithm: &str) -> String {
        let d = SimConfig::default();
        let mut cmd = format!(
            "contend sim --seed {} --algorithm {algorithm} --workers {} --iterations {} --faults {}",
            self.seed, self.workers, self.iterations, self.faults
        );
        let mut opt = |name: &str, v: u64, default: u64| {
            if v != default {
                cmd.push_str(&format!(" --{name} {v}"));
            }
        };
        opt("ttl-ms", self.ttl_ms, d.ttl_ms);
        opt("wait-ms", self.wait_ms, d.wait_ms);
        opt("fault-every-ms", self.fault_every_ms, d.fault_every_ms);
        opt("slack-ms", self.slack_ms, d.slack_ms);
        if let Hold::Uniform { min_ms: 0, max_ms } = self.hold {
            opt("hold-ms", max_ms, 50);
        }
        cmd
    }
}

/// One finished simulated run.
#[derive(Debug)]
pub struct SimRun {
    /// The history, in time order.
    pub history: History,
    /// What the checkers judged against.
    pub context: Context,
    /// Checker name → result.
    pub checked: BTreeMap<String, CheckResult>,
    /// Counters of the run.
    pub counters: Counters,
}

/// A finding that breaks a promise the lock makes (see [`violations`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The checker.
    pub checker: String,
    /// The finding's kind.
    pub kind: String,
    /// What the events show.
    pub message: String,
    /// The events proving it.
    pub events: Vec<usize>,
    /// A safety violation (else liveness).
    pub safety: bool,
}

/// Runs `protocol` under `cfg` and checks the history.
#[must_use]
pub fn simulate(protocol: &dyn Protocol, cfg: &SimConfig) -> SimRun {
    let (history, counters) = engine::Engine::new(cfg, protocol).run();
    let context = cfg.context(protocol.fenced());
    let checked = check_all(&history, &context);
    SimRun { history, context, checked, counters }
}

/// The findings of `run` that break a lock's promises: a lease handed out twice
/// (`lease-violated`), any ownership or fencing finding, an update lost without any overlap to
/// explain it (or, for a fenced lock, at all), and — when `liveness` — a late acquire or a
/// crashed holder's lock not taken again in time. Not counted: `lease-outlived` overlaps (the
/// holder outlived its lease: no lock can prevent that, fencing exists for it), updates lost to
/// them, and starvation (a fairness figure, not a promise).
#[must_use]
pub fn violations(run: &SimRun, liveness: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    let overlaps = run.checked.get("mutual-exclusion").is_some_and(|r| !r.findings.is_empty());
    for (name, result) in &run.checked {
        for f in &result.findings {
            let counted = match (name.as_str(), f.kind.as_str()) {
                ("mutual-exclusion", kind) => kind == "lease-violated",
                ("lost-updates", _) => run.context.fenced || !overlaps,
                ("ownership" | "fencing", _) => true,
                ("liveness", "acquire-too-long" | "not-retaken") => liveness,
                _ => false,
            };
            if counted {
                out.push(Violation {
                    checker: name.clone(),
                    kind: f.kind.to_string(),
                    message: f.message.clone(),
                    events: f.events.clone(),
                    safety: name != "liveness",
                });
            }
        }
    }
    out
}

/// The verdict lines of a run, as `contend sim` prints them.
#[must_use]
pub fn verdict_lines(run: &SimRun) -> String {
    let mut s = String::new();
    for (name, r) in &run.checked {
        s.push_str(&format!(
            "  {name:<18} {:<8} {}\n",
            r.verdict.to_string(),
            r.reason.as_deref().unwrap_or("")
        ));
    }
    s
}

/// `contend run SCENARIO --server sim`: the scenario in simulation, checked, reported and
/// written to a report folder like a real run.
pub fn run_scenario(
    scenario: &Scenario,
    entry: Entry,
    opts: &RunOptions,
) -> anyhow::Result<Results> {
    let workers = opts.workers.unwrap_or(scenario.workers).max(1);
    let iterations = opts.iterations.unwrap_or(scenario.iterations);
    let seed = opts.seed.unwrap_or(scenario.seed);
    let cfg = SimConfig::from_scenario(scenario, seed, workers, iterations);
    let protocol = entry.protocol(opts.scale.unwrap_or(scenario.specimen_scale));
    let started = Instant::now();
    let run = simulate(&*protocol, &cfg);
    let wall = started.elapsed().as_secs_f64();
    if opts.progress {
        eprintln!(
            "sim: {} × {} seed {seed}: {workers} clients × {iterations}, {} events, {} ms simulated in {wall:.2} s{}",
            scenario.name,
            entry.name,
            run.history.len(),
            run.counters.sim_ms,
            if run.counters.stopped { " (stopped at the time limit)" } else { "" }
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let figures = Figures {
        // The simulated round trip: twice the mean one-way delay.
        ping: crate::ping::Ping {
            p50_us: (cfg.net_min_us + cfg.net_max_us) as f64,
            placement: crate::ping::Placement::Simulated,
            same_core_p50_us: None,
        },
        ping_us_p50_during_run: None,
        lock_commands_sent: run.counters.lock_commands,
        lock_commands_internal: None,
        witness_commands_sent: run.counters.witness_commands,
        workers,
        iterations,
        seed,
        server: "sim".into(),
        worker_failures: Vec::new(),
    };
    let results = Results::new(scenario, &entry, &run.history, &run.context, run.checked, figures);
    report::write(&opts.out, &results, &run.history)
}
