//! Scenario files: TOML parsed once, at the edge, into a typed [`Scenario`].
//!
//! Parsing is strict: an unknown key, a wrong type or a setting that does not apply to a fault's
//! kind is an error naming the file, line, column and key. The types of faults live in
//! `fault.rs`, the expected verdicts in `expect.rs`, the parser in `parse.rs`.

mod expect;
mod fault;
mod parse;
mod settings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::{Deserialize, Serialize};

pub use expect::{Expect, Expectations};
pub use fault::{
    CancelAcquire, ClockSkew, CommandAction, CommandFault, Crash, DelayOp, Fault, Hold,
    HolderFault, MAX_SERVERS, Persistence, ServerSet, StepDelay, Window,
};
pub use settings::ClientSettings;

pub use crate::server_faults::sentinel::Outage;

/// How long a quorum lock awaits each server's answer by default, ms (`redmutex::Redlock`'s).
pub const SERVER_TIMEOUT_MS: u64 = 50;

/// The most replicas a scenario may start.
const MAX_REPLICAS: u32 = 4;

/// A scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its name (the file stem unless given).
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The file it came from.
    pub path: PathBuf,
    /// Worker processes.
    pub workers: u32,
    /// Acquire → section → release rounds per worker.
    pub iterations: u32,
    /// Seed of the run's randomness (jitter, hold times).
    pub seed: u64,
    /// The run is stopped (workers killed) after this long.
    pub max_duration_ms: u64,
    /// Lock settings.
    pub lock: LockSettings,
    /// Extra time spent between the critical section's read and its write.
    pub hold: Hold,
    /// Slack added to liveness deadlines.
    pub slack_ms: u64,
    /// A worker stops after this many acquires in a row that did not succeed (`[liveness]
    /// give_up_after`, default 3), 100 ms × the misses so far apart.
    pub give_up_after: u32,
    /// The faults, in file order.
    pub faults: Vec<Fault>,
    /// Expected verdicts per algorithm name.
    pub expect: BTreeMap<String, Expectations>,
    /// Scale of the specimens' document time constants (retry sleeps, poll delays).
    pub specimen_scale: f64,
    /// Settings the gate uses instead (smaller runs).
    pub gate: GateOverride,
    /// How the harness starts the lock server.
    pub server: ServerSettings,
}

/// How the harness starts its own lock server (`[server]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// What survives a restart: `none` (the default), `rdb`, `aof-everysec`, `aof-always`.
    #[serde(default)]
    pub persistence: Persistence,
    /// Replicas of the lock server, with three Sentinels watching them (0: a lone server).
    /// The workers reach the primary through a front proxy that a failover re-points, the way
    /// a virtual IP moves.
    #[serde(default)]
    pub replicas: u32,
    /// How many independent lock servers (1, the default; 3 or 5 for a quorum lock such as
    /// `redlock`). Server and network faults name theirs with `servers = [..]`.
    #[serde(default = "one")]
    pub count: u32,
}

impl Default for ServerSettings {
    fn default() -> ServerSettings {
        ServerSettings { persistence: Persistence::default(), replicas: 0, count: 1 }
    }
}

fn one() -> u32 {
    1
}

/// The lock's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockSettings {
    /// The lease, ms.
    #[serde(default = "parse::default_ttl")]
    pub ttl_ms: u64,
    /// How long an acquire waits, ms.
    #[serde(default = "parse::default_ttl")]
    pub wait_ms: u64,
    /// Drift allowance subtracted from the lease, ms (default ttl/100 + 2).
    #[serde(default)]
    pub drift_ms: Option<u64>,
    /// After each acquire, `WAIT` until this many replicas acknowledged it (as
    /// `redmutex::LockBuilder::replicas`); fewer in time, and the lock is released and the
    /// acquire did not take it.
    #[serde(default)]
    pub replicas: Option<u32>,
    /// How long that `WAIT` waits, ms (default 100).
    #[serde(default)]
    pub replicas_timeout_ms: Option<u64>,
    /// How long a quorum lock awaits each server's answer, ms (default 50, as
    /// `redmutex::Redlock`'s): small against the ttl.
    #[serde(default)]
    pub server_timeout_ms: Option<u64>,
}

/// Settings the gate uses instead of the scenario's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateOverride {
    /// Workers in the gate.
    pub workers: Option<u32>,
    /// Iterations in the gate.
    pub iterations: Option<u32>,
    /// Run limit in the gate.
    pub max_duration_ms: Option<u64>,
}

impl Scenario {
    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::InvalidData {
                "it is not text (a scenario is a TOML file)"
            } else {
                "check the path"
            };
            anyhow::Error::new(e)
                .context(format!("cannot read scenario {}: {what}", path.display()))
        })?;
        Scenario::parse(&text, path)
    }

    /// Parses scenario text; `path` names it in errors and gives the default name.
    /// The scenario with a run's command-line overrides (`--workers`, `--iterations`,
    /// `--scale`), checked again.
    pub fn overridden(
        &self,
        workers: Option<u32>,
        iterations: Option<u32>,
        scale: Option<f64>,
    ) -> anyhow::Result<Scenario> {
        let mut s = self.clone();
        s.workers = workers.unwrap_or(s.workers);
        s.iterations = iterations.unwrap_or(s.iterations);
        s.specimen_scale = scale.unwrap_or(s.specimen_scale);
        // The description may count the scenario's own workers and iterations: say what ran.
        if (s.workers, s.iterations) != (self.workers, self.iterations) && !s.description.is_empty()
        {
            s.description = format!(
                "{} (this run: {} worker{} × {} iteration{})",
                s.description,
                s.workers,
                if s.workers == 1 { "" } else { "s" },
                s.iterations,
                if s.iterations == 1 { "" } else { "s" }
            );
        }
        if let Some(problem) = s.problem() {
            bail!("{} with the command line's settings: {problem}", self.path.display());
        }
        Ok(s)
    }

    /// What makes no sense in values that each parsed on its own.
    fn problem(&self) -> Option<String> {
        let name = &self.name;
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
            return Some(format!(
                "name {name:?} cannot name a report folder: use letters, digits, `-`, `_` and \
                 `.`, not first"
            ));
        }
        if self.workers == 0 {
            return Some("workers must be at least 1".into());
        }
        if self.iterations == 0 {
            return Some("iterations must be at least 1 (acquisitions per worker)".into());
        }
        if self.max_duration_ms == 0 {
            return Some("max_duration_ms must be positive: it is the run's time limit".into());
        }
        let scale = self.specimen_scale;
        if !(scale.is_finite() && scale > 0.0 && scale <= MAX_SCALE) {
            return Some(format!(
                "specimen_scale (--scale) must be a number above 0 and at most {MAX_SCALE}, not {scale}"
            ));
        }
        let (max_ttl, max_wait) = (redmutex::MAX_TTL.as_millis(), redmutex::MAX_WAIT.as_millis());
        if u128::from(self.lock.ttl_ms) > max_ttl {
            return Some(format!("[lock] ttl_ms must be at most {max_ttl} (a day)"));
        }
        if u128::from(self.lock.wait_ms) > max_wait {
            return Some(format!("[lock] wait_ms must be at most {max_wait} (an hour)"));
        }
        let (ttl, drift) = (self.lock.ttl_ms, self.drift_ms());
        if drift >= ttl && self.lock.drift_ms.is_none() {
            return Some(format!(
                "[lock] ttl_ms {ttl} is too short: the default drift allowance (ttl/100 + 2 = \
                 {drift} ms) is taken off every lease and would leave nothing; use at least 3"
            ));
        }
        if drift >= ttl {
            return Some(format!(
                "[lock] drift_ms {drift} must be less than ttl_ms {ttl}: the drift allowance is \
                 taken off every lease"
            ));
        }
        if self.give_up_after == 0 || self.give_up_after > 100 {
            return Some("[liveness] give_up_after must be 1 to 100 (acquires in a row)".into());
        }
        if let Some(problem) = self.replication_problem() {
            return Some(problem);
        }
        if let Some(problem) = self.servers_problem() {
            return Some(problem);
        }
        for fault in &self.faults {
            let (name, slots) = match fault {
                Fault::StepDelay(d) => ("step-delay", d.workers.as_ref()),
                Fault::ClockSkew(c) => ("clock-skew", c.workers.as_ref()),
                _ => continue,
            };
            if let Some(w) = slots.into_iter().flatten().find(|&&w| w >= self.workers) {
                return Some(format!(
                    "fault `{name}`: worker slot {w} does not exist (slots are 0 to {} with {} \
                     workers)",
                    self.workers - 1,
                    self.workers
                ));
            }
        }
        None
    }

    /// What is wrong with the scenario's independent lock servers, if anything.
    fn servers_problem(&self) -> Option<String> {
        let count = self.server.count;
        if count == 0 || count > MAX_SERVERS {
            return Some(format!(
                "[server] count must be 1 to {MAX_SERVERS} (independent lock servers; 3 or 5 for \
                 redlock)"
            ));
        }
        if count > 1 && self.server.replicas > 0 {
            return Some(
                "[server] count and replicas do not go together: independent lock servers have \
                 no replicas (a quorum lock replaces replication)"
                    .into(),
            );
        }
        if let Some(t) = self.lock.server_timeout_ms
            && (t == 0 || t >= self.lock.ttl_ms)
        {
            return Some(format!(
                "[lock] server_timeout_ms must be positive and less than ttl_ms ({}): each \
                 server's wait is taken off the lease",
                self.lock.ttl_ms
            ));
        }
        for fault in &self.faults {
            if let Some(i) = fault.servers().and_then(|s| s.beyond(count)) {
                return Some(format!(
                    "fault `{}`: lock server {i} does not exist (servers are 0 to {} with \
                     [server] count = {count})",
                    fault.kind_name(),
                    count - 1
                ));
            }
        }
        None
    }

    /// How long a quorum lock awaits each server's answer, ms.
    #[must_use]
    pub fn server_timeout_ms(&self) -> u64 {
        self.lock.server_timeout_ms.unwrap_or(SERVER_TIMEOUT_MS)
    }

    /// What is wrong with the scenario's replicas, `WAIT` and failovers, if anything.
    fn replication_problem(&self) -> Option<String> {
        let replicas = self.server.replicas;
        if replicas > MAX_REPLICAS {
            return Some(format!(
                "[server] replicas must be at most {MAX_REPLICAS} (each is a redis-server of its own)"
            ));
        }
        if self.lock.replicas == Some(0) {
            return Some(
                "[lock] replicas = 0 waits for nothing: ask for at least one replica, or leave it \
                 out"
                .into(),
            );
        }
        let wait_ms = self.lock.replicas_timeout_ms;
        if wait_ms.is_some() && self.lock.replicas.is_none() {
            return Some("[lock] replicas_timeout_ms goes with [lock] replicas".into());
        }
        if wait_ms.is_some_and(|t| t == 0 || t >= self.lock.ttl_ms) {
            return Some(
                "[lock] replicas_timeout_ms must be above 0 and below ttl_ms (WAIT eats the lease)"
                    .into(),
            );
        }
        if replicas > 0 && self.lock.replicas.is_some_and(|n| n > replicas) {
            return Some(format!(
                "[lock] replicas = {} asks more replicas than [server] replicas = {replicas} \
                 starts: every acquire would fail its WAIT",
                self.lock.replicas.unwrap_or(0)
            ));
        }
        if let Some(problem) = self.faults.iter().find_map(|f| f.replicas_problem(replicas)) {
            return Some(problem);
        }
        if replicas > 0 {
            let other = self.faults.iter().find(|f| {
                matches!(
                    f,
                    Fault::RestartServer { .. }
                        | Fault::SlowServer { .. }
                        | Fault::ServerClockJump { .. }
                )
            });
            if let Some(f) = other {
                return Some(format!(
                    "fault `{}` strikes a lone lock server; with [server] replicas the lock \
                     server is a Sentinel group: leave one of them out",
                    f.kind_name()
                ));
            }
            if self.server.persistence != Persistence::None {
                return Some(
                    "[server] persistence goes with a lone lock server, not with replicas".into(),
                );
            }
        }
        None
    }

    /// The scenario as the gate runs it.
    #[must_use]
    pub fn for_gate(mut self) -> Scenario {
        self.workers = self.gate.workers.unwrap_or(self.workers);
        self.iterations = self.gate.iterations.unwrap_or(self.iterations);
        self.max_duration_ms = self.gate.max_duration_ms.unwrap_or(self.max_duration_ms);
        self
    }

    /// The drift allowance, ms.
    #[must_use]
    pub fn drift_ms(&self) -> u64 {
        self.lock.drift_ms.unwrap_or_else(|| {
            let ttl = std::time::Duration::from_millis(self.lock.ttl_ms);
            u64::try_from(redmutex::algo::default_drift(ttl).as_millis()).unwrap_or(u64::MAX)
        })
    }
}

/// The largest `specimen_scale`: the documents' sleeps (at most a few seconds) times this
/// still fit any run.
const MAX_SCALE: f64 = 1000.0;
