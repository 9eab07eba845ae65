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
//! nemesis ([`NemesisKind`]) pauses or crashes clients, restarts the lock server with or without
//! persistence, skews client clocks and delays single steps; a scenario's own faults
//! (`kill-holder`, `pause-holder`, `step-delay`, `clock-skew`) are played on the simulated clock
//! the way the coordinator plays them on the real one.
//!
//! With `client.servers` above 1 the run has that many independent model lock servers, and a
//! quorum lock's [`redmutex::proto::Action::SendEach`] sends a command to each as
//! `redmutex::fanout` does (see `each.rs`); server and network faults strike the servers their
//! `servers = [..]` names, and the nemesis restarts a drawn minority of them. With one server a
//! seed replays exactly the history it always gave.

pub mod cli;
mod client;
mod counterexample;
mod coverage;
mod each;
mod engine;
mod faults;
mod nemesis;
mod section;
mod servers;

use std::collections::BTreeMap;

use redmutex::algo::Protocol;

pub use counterexample::{counterexample, timeline_lines};
pub use coverage::{
    Coverage, REDLOCK_SERVERS, coverage, faults_for, minimize, reference_config,
    reference_config_over, search,
};
pub use engine::Counters;
pub use faults::{Faults, NemesisKind, unsimulable};

use crate::check::{CheckResult, Context, check_all};
use crate::history::History;
use crate::scenario::{ClientSettings, Fault, Hold, Scenario, ServerSettings};

/// Everything one simulated run needs besides the algorithm.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed of every random choice.
    pub seed: u64,
    /// Client slots.
    pub workers: u32,
    /// Acquire → section → release rounds per slot.
    pub iterations: u32,
    /// The lock settings and the scenario's faults, as a real worker gets them.
    pub client: ClientSettings,
    /// Slack on liveness deadlines, ms.
    pub slack_ms: u64,
    /// Shortest one-way network delay, µs.
    pub net_min_us: u64,
    /// Longest one-way network delay, µs.
    pub net_max_us: u64,
    /// What the random nemesis may do.
    pub faults: Faults,
    /// Mean time between nemesis strikes, ms.
    pub fault_every_ms: u64,
    /// What survives a scenario's `restart-server`.
    pub server: ServerSettings,
}

impl Default for SimConfig {
    /// The settings of `contend sim`: 3 clients × 10 rounds, ttl 1 s, wait 4 s, holds of up to
    /// 50 ms, 10–50 µs one way (a loopback round trip), no faults.
    fn default() -> SimConfig {
        SimConfig {
            seed: 1,
            workers: 3,
            iterations: 10,
            client: ClientSettings {
                ttl_ms: 1000,
                wait_ms: 4000,
                drift_ms: 12,
                hold: Hold::Uniform { min_ms: 0, max_ms: 50 },
                max_duration_ms: 3_600_000,
                give_up_after: 3,
                faults: Vec::new(),
                replicas: None,
                servers: 1,
                server_timeout_ms: crate::scenario::SERVER_TIMEOUT_MS,
            },
            slack_ms: 100,
            net_min_us: 10,
            net_max_us: 50,
            faults: Faults::none(),
            fault_every_ms: 1000,
            server: ServerSettings::default(),
        }
    }
}

impl SimConfig {
    /// The scenario's settings and faults on the simulated clock (every fault kind of a
    /// scenario has an exact simulated meaning), with the run's overrides.
    #[must_use]
    pub fn from_scenario(s: &Scenario, seed: u64, workers: u32, iterations: u32) -> SimConfig {
        SimConfig {
            seed,
            workers,
            iterations,
            client: ClientSettings::of(s),
            slack_ms: s.slack_ms,
            server: s.server,
            ..SimConfig::default()
        }
    }

    /// What the checkers judge against.
    #[must_use]
    pub fn context(&self, fenced: bool) -> Context {
        Context::from_ms(self.client.ttl_ms, self.client.wait_ms, self.slack_ms, fenced)
    }

    /// Whether liveness findings are violations of this run: not when the nemesis pauses,
    /// delays or restarts (a stopped waiter or a lost connection is not the lock's fault).
    #[must_use]
    pub fn judges_liveness(&self) -> bool {
        [NemesisKind::Pause, NemesisKind::Delay, NemesisKind::Restart, NemesisKind::RestartVolatile]
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
        opt("ttl-ms", self.client.ttl_ms, d.client.ttl_ms);
        opt("wait-ms", self.client.wait_ms, d.client.wait_ms);
        opt("fault-every-ms", self.fault_every_ms, d.fault_every_ms);
        opt("slack-ms", self.slack_ms, d.slack_ms);
        opt("servers", u64::from(self.client.servers), 1);
        if let Hold::Uniform { min_ms: 0, max_ms } = self.client.hold {
            opt("hold-ms", max_ms, 50);
        }
        if !self.client.faults.is_empty() {
            // `contend sim` takes nemesis faults only; a scenario's faults need a scenario file.
            let kinds: Vec<&str> = self.client.faults.iter().map(Fault::kind_name).collect();
            cmd.push_str(&format!(
                "  (plus the scenario faults {kinds:?}, which contend sim cannot take: put them \
                 in a scenario and run it with --server sim --seed {})",
                self.seed
            ));
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
    pub checker: crate::check::CheckerKind,
    /// The finding's kind.
    pub kind: String,
    /// What the events show.
    pub message: String,
    /// The events proving it.
    pub events: Vec<usize>,
    /// A safety violation (else liveness).
    pub safety: bool,
}

/// Runs `protocol` under `cfg`: the history, in time order, and the run's counters.
#[must_use]
pub fn play(protocol: &dyn Protocol, cfg: &SimConfig) -> (History, Counters) {
    engine::Engine::new(cfg, protocol).run()
}

/// Runs `protocol` under `cfg` and checks the history.
#[must_use]
pub fn simulate(protocol: &dyn Protocol, cfg: &SimConfig) -> SimRun {
    let (history, counters) = play(protocol, cfg);
    let ttl = std::time::Duration::from_millis(cfg.client.ttl_ms);
    let context = cfg
        .context(protocol.fenced())
        .with_dead_waiter(protocol.dead_waiter_window(ttl))
        .with_fifo(protocol.fifo());
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
    use crate::check::{CheckerKind as C, FindingKind as F};
    let mut out = Vec::new();
    let overlaps =
        run.checked.get(C::MutualExclusion.as_str()).is_some_and(|r| !r.findings.is_empty());
    for (name, result) in &run.checked {
        let Some(checker) = C::named(name) else { continue };
        for f in &result.findings {
            let counted = match (checker, f.kind) {
                (C::MutualExclusion, kind) => kind == F::LeaseViolated,
                (C::LostUpdates, _) => run.context.fenced || !overlaps,
                (C::Ownership | C::Fencing, _) => true,
                (C::Liveness, F::AcquireTooLong | F::NotRetaken) => liveness,
                // A lock left to no one while others wait, or keys no one can still need.
                (C::StrandedLock, _) => liveness,
                (C::Residue, _) => true,
                // Grants past an earlier live waiter, for an algorithm that promises FIFO.
                (C::Fairness, _) => run.context.fifo && liveness,
                _ => false,
            };
            if counted {
                out.push(Violation {
                    checker,
                    kind: f.kind.to_string(),
                    message: f.message.clone(),
                    events: f.events.clone(),
                    safety: checker != C::Liveness,
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
