//! The faults a scenario can plan, and the hold of its critical section.

use serde::{Deserialize, Serialize};

/// How long a holder lingers between reading and writing the counter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "distribution")]
pub enum Hold {
    /// No extra time.
    None,
    /// Always `ms`.
    Fixed {
        /// The hold.
        ms: u64,
    },
    /// Uniform in `min_ms..=max_ms`.
    Uniform {
        /// Lower bound.
        min_ms: u64,
        /// Upper bound.
        max_ms: u64,
    },
    /// Exponential with mean `mean_ms` (capped at 20 × mean).
    Exponential {
        /// The mean.
        mean_ms: u64,
    },
}

impl Hold {
    /// One hold time, drawn with `rng` (workers and the simulator draw alike).
    pub fn draw(self, rng: &mut redmutex::algo::Rng) -> std::time::Duration {
        let unit = |n: u64| n as f64 / (1u64 << 53) as f64;
        let ms = match self {
            Hold::None => 0,
            Hold::Fixed { ms } => ms,
            Hold::Uniform { min_ms, max_ms } => min_ms + rng.below(max_ms - min_ms + 1),
            Hold::Exponential { mean_ms } => {
                let u = unit(rng.next_u64() >> 11);
                (-(1.0 - u).ln() * mean_ms as f64).min(20.0 * mean_ms as f64) as u64
            }
        };
        std::time::Duration::from_millis(ms)
    }
}

/// The window of a fault, relative to the start of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start, ms after the run began.
    pub start_ms: u64,
    /// Stop, ms after the run began (`None`: until the heal phase).
    pub stop_ms: Option<u64>,
}

impl Window {
    /// Whether `at_ms` (ms since the run began) lies inside.
    #[must_use]
    pub fn contains(&self, at_ms: u64) -> bool {
        at_ms >= self.start_ms && self.stop_ms.is_none_or(|s| at_ms < s)
    }
}

/// Which operation a step delay hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DelayOp {
    /// The acquire machine.
    Acquire,
    /// The release machine.
    Release,
}

/// A pause before step `step` (the index of the machine's action) of an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDelay {
    /// When.
    pub window: Window,
    /// Which operation.
    pub op: DelayOp,
    /// Before which action (0 = the first).
    pub step: usize,
    /// How long, ms.
    pub delay_ms: u64,
    /// Worker slots hit (`None`: all).
    pub workers: Option<Vec<u32>>,
    /// Only every n-th operation of a worker (1 = all).
    pub every: u32,
}

/// A wall-clock offset for some workers' algorithms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSkew {
    /// When.
    pub window: Window,
    /// Added to the wall clock, ms.
    pub offset_ms: i64,
    /// Worker slots hit (`None`: all).
    pub workers: Option<Vec<u32>>,
}

/// A fault aimed at whoever holds the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderFault {
    /// When strikes may happen.
    pub window: Window,
    /// Time between strikes (`None`: once).
    pub every_ms: Option<u64>,
    /// Strike this long after the holder's acquire completed.
    pub after_acquire_ms: u64,
    /// At most this many strikes.
    pub count: Option<u32>,
}

/// A fault of the scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// SIGKILL the holder (a fresh worker takes its slot).
    KillHolder(HolderFault),
    /// SIGSTOP the holder, SIGCONT after `pause_ms`.
    PauseHolder {
        /// When and how often.
        strike: HolderFault,
        /// How long the holder stays stopped.
        pause_ms: u64,
    },
    /// Sleep before a step of an operation.
    StepDelay(StepDelay),
    /// Skew the wall clock the algorithm reads.
    ClockSkew(ClockSkew),
}

/// The longest pause or step delay, ms (an hour).
pub(super) const MAX_FAULT_MS: u64 = 3_600_000;

/// The largest clock skew, ms (a day).
pub(super) const MAX_SKEW_MS: u64 = 86_400_000;

impl Fault {
    /// The kind's name in scenario files: `kill-holder`, `pause-holder`, `step-delay`,
    /// `clock-skew`.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            Fault::KillHolder(_) => "kill-holder",
            Fault::PauseHolder { .. } => "pause-holder",
            Fault::StepDelay(_) => "step-delay",
            Fault::ClockSkew(_) => "clock-skew",
        }
    }
}

impl StepDelay {
    /// For the history: `release step 1 +700 ms, worker slot 0, each time`.
    #[must_use]
    pub fn describe(&self) -> String {
        let op = match self.op {
            DelayOp::Acquire => "acquire",
            DelayOp::Release => "release",
        };
        let how_often = if self.every == 1 {
            "each time".to_string()
        } else {
            format!("one time in {}", self.every)
        };
        let slots = slots(self.workers.as_deref());
        format!("{op} step {} +{} ms, {slots}, {how_often}", self.step, self.delay_ms)
    }
}

impl ClockSkew {
    /// For the history: `+3000 ms, worker slot 0`.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("{:+} ms, {}", self.offset_ms, slots(self.workers.as_deref()))
    }
}

/// The worker slots a fault applies to: `all workers` or `worker slots 0, 2`.
fn slots(workers: Option<&[u32]>) -> String {
    match workers {
        None => "all workers".into(),
        Some(w) => {
            let list: Vec<String> = w.iter().map(u32::to_string).collect();
            format!("worker slot{} {}", if w.len() == 1 { "" } else { "s" }, list.join(", "))
        }
    }
}

impl StepDelay {
    /// Whether this delay hits step `step` of the `nth` operation `op` (from 0) of the worker in
    /// `slot`, `now_ms` after the run began.
    #[must_use]
    pub fn hits(&self, op: DelayOp, step: usize, nth: u32, slot: u32, now_ms: u64) -> bool {
        self.op == op
            && self.step == step
            && nth.is_multiple_of(self.every)
            && applies_to(self.workers.as_deref(), slot)
            && self.window.contains(now_ms)
    }
}

/// Whether a fault aimed at worker slots `workers` (`None`: all) hits `slot`.
pub(super) fn applies_to(workers: Option<&[u32]>, slot: u32) -> bool {
    workers.is_none_or(|w| w.contains(&slot))
}
