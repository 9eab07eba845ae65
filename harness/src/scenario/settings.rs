//! What every client of a run needs from its scenario, built once: the real worker process and
//! the simulated client embed the same [`ClientSettings`].

use std::time::Duration;

use redmutex::algo::{AcquireParams, Backoff};
use redmutex::proto::{Keys, Token};
use serde::{Deserialize, Serialize};

use super::{ClockSkew, DelayOp, Fault, Hold, Scenario, StepDelay};

/// The lock settings and the client-side faults of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSettings {
    /// The lock's ttl, ms.
    pub ttl_ms: u64,
    /// How long an acquire waits, ms.
    pub wait_ms: u64,
    /// Drift allowance taken off every lease, ms.
    pub drift_ms: u64,
    /// Extra time between the section's read and write.
    pub hold: Hold,
    /// The run's time limit from its start, ms: no acquire starts after it.
    pub max_duration_ms: u64,
    /// A client stops after this many acquires in a row that did not succeed.
    pub give_up_after: u32,
    /// The scenario's faults; clients carry out the step delays and clock skews among them.
    pub faults: Vec<Fault>,
    /// `WAIT` after each acquire: how many replicas, and how long, ms (`[lock] replicas`).
    #[serde(default)]
    pub replicas: Option<(u32, u64)>,
    /// How many independent lock servers (`[server] count`).
    #[serde(default = "one")]
    pub servers: u32,
    /// How long a quorum lock awaits each server's answer, ms.
    #[serde(default = "server_timeout")]
    pub server_timeout_ms: u64,
}

fn one() -> u32 {
    1
}

fn server_timeout() -> u64 {
    super::SERVER_TIMEOUT_MS
}

impl ClientSettings {
    /// The settings of `scenario`.
    #[must_use]
    pub fn of(scenario: &Scenario) -> ClientSettings {
        ClientSettings {
            ttl_ms: scenario.lock.ttl_ms,
            wait_ms: scenario.lock.wait_ms,
            drift_ms: scenario.drift_ms(),
            hold: scenario.hold,
            max_duration_ms: scenario.max_duration_ms,
            give_up_after: scenario.give_up_after,
            faults: scenario.faults.clone(),
            replicas: scenario
                .lock
                .replicas
                .map(|n| (n, scenario.lock.replicas_timeout_ms.unwrap_or(REPLICAS_TIMEOUT_MS))),
            servers: scenario.server.count,
            server_timeout_ms: scenario.server_timeout_ms(),
        }
    }

    /// The parameters of one acquire with `token`, jitter seeded by `seed`.
    #[must_use]
    pub fn acquire_params(&self, keys: Keys, token: Token, seed: u64) -> AcquireParams {
        AcquireParams {
            keys,
            token,
            ttl: Duration::from_millis(self.ttl_ms),
            wait: Some(Duration::from_millis(self.wait_ms)),
            drift: Duration::from_millis(self.drift_ms),
            seed,
            backoff: Backoff::default(),
        }
    }

    /// The step delays that hit step `step` of the `nth` operation `op` of the client in
    /// `slot`, `now_ms` after the run began, summed, ms.
    #[must_use]
    pub fn step_delay_ms(&self, op: DelayOp, step: usize, nth: u32, slot: u32, now_ms: u64) -> u64 {
        self.step_delays().filter(|d| d.hits(op, step, nth, slot, now_ms)).map(|d| d.delay_ms).sum()
    }

    /// The offset of the wall clock of the client in `slot`, `now_ms` after the run began, ms.
    #[must_use]
    pub fn clock_offset_ms(&self, slot: u32, now_ms: u64) -> i64 {
        self.faults
            .iter()
            .filter_map(|f| if let Fault::ClockSkew(s) = f { Some(s) } else { None })
            .filter(|s| s.hits(slot, now_ms))
            .map(|s| s.offset_ms)
            .sum()
    }

    /// Whether the next acquire of the client in `slot` is to be dropped (`cancel-acquire`),
    /// and after how many ms.
    pub fn cancel_after(
        &self,
        slot: u32,
        now_ms: u64,
        rng: &mut redmutex::algo::Rng,
    ) -> Option<u64> {
        self.faults.iter().find_map(|f| match f {
            Fault::CancelAcquire(c) => c.after(slot, now_ms, rng),
            _ => None,
        })
    }

    fn step_delays(&self) -> impl Iterator<Item = &StepDelay> {
        self.faults.iter().filter_map(|f| if let Fault::StepDelay(d) = f { Some(d) } else { None })
    }
}

/// A client stops after this many acquires in a row that did not succeed, by default.
pub(super) const GIVE_UP_AFTER: u32 = 3;

/// How long `WAIT` waits for the replicas by default, ms.
pub const REPLICAS_TIMEOUT_MS: u64 = 100;

impl ClockSkew {
    /// Whether this skew moves the clock of the client in `slot`, `now_ms` after the run began.
    #[must_use]
    pub fn hits(&self, slot: u32, now_ms: u64) -> bool {
        self.hits_slot(slot) && self.window.contains(now_ms)
    }

    /// Whether this skew moves the clock of the client in `slot` at some time.
    #[must_use]
    pub fn hits_slot(&self, slot: u32) -> bool {
        super::fault::applies_to(self.workers.as_deref(), slot)
    }
}
