//! The faults a scenario can plan, and the hold of its critical section.

use serde::{Deserialize, Serialize};

pub use crate::server_faults::restart::{Crash, Persistence};

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
    /// Until `margin_ms` before the lease ends as the algorithm computed it (the grant's
    /// validity, drift allowance and time to acquire already off): a holder that uses all the
    /// time its lock says it has, as Redlock's validity time invites.
    Lease {
        /// How long before the lease's end the holder writes.
        margin_ms: u64,
    },
}

impl Hold {
    /// One hold time, drawn with `rng` (workers and the simulator draw alike), for a holder
    /// whose lease has `lease_left` to run by its own clock.
    pub fn draw(
        self,
        rng: &mut redmutex::algo::Rng,
        lease_left: std::time::Duration,
    ) -> std::time::Duration {
        let unit = |n: u64| n as f64 / (1u64 << 53) as f64;
        let ms = match self {
            Hold::None => 0,
            Hold::Lease { margin_ms } => {
                return lease_left.saturating_sub(std::time::Duration::from_millis(margin_ms));
            }
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

/// Which of a run's independent lock servers (`[server] count`) a server or network fault
/// strikes: a set of indexes from 0, every one by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServerSet {
    /// Bit `i` set: server `i` is struck.
    mask: u32,
}

impl Default for ServerSet {
    fn default() -> ServerSet {
        ServerSet::ALL
    }
}

impl ServerSet {
    /// Every server.
    pub const ALL: ServerSet = ServerSet { mask: u32::MAX };

    /// The servers with these indexes; `None` for an index past [`MAX_SERVERS`].
    #[must_use]
    pub fn of(indexes: &[u32]) -> Option<ServerSet> {
        let mut mask = 0;
        for &i in indexes {
            if i >= MAX_SERVERS {
                return None;
            }
            mask |= 1 << i;
        }
        Some(ServerSet { mask })
    }

    /// Whether server `i` is in the set.
    #[must_use]
    pub fn contains(self, i: usize) -> bool {
        i < 32 && self.mask & (1 << i) != 0
    }

    /// Whether the set is every server.
    #[must_use]
    pub fn is_all(self) -> bool {
        self == ServerSet::ALL
    }

    /// The indexes in the set among `count` servers.
    #[must_use]
    pub fn among(self, count: u32) -> Vec<u32> {
        (0..count).filter(|&i| self.contains(i as usize)).collect()
    }

    /// The first index in the set that is not below `count`, if the set names one (a set of
    /// every server names none).
    #[must_use]
    pub fn beyond(self, count: u32) -> Option<u32> {
        if self.is_all() {
            return None;
        }
        (count..MAX_SERVERS).find(|&i| self.contains(i as usize))
    }
}

/// The most independent lock servers a scenario may have (`[server] count`).
pub const MAX_SERVERS: u32 = 9;

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
    /// Which lock servers a server or network fault strikes (`servers = [0]`; every one by
    /// default). Holder faults on the worker (kill, pause) strike no server.
    #[serde(default)]
    pub servers: ServerSet,
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
    /// Crash the lock server while someone holds the lock, and start it again on the same port
    /// and data folder after `downtime_ms`; what survives is the scenario's `[server]
    /// persistence`.
    RestartServer {
        /// When and how often.
        strike: HolderFault,
        /// SIGKILL or SHUTDOWN NOSAVE.
        crash: Crash,
        /// How long the server stays down.
        downtime_ms: u64,
    },
    /// Block the lock server whole (`DEBUG SLEEP`) for `pause_ms` while someone holds the lock.
    SlowServer {
        /// When and how often.
        strike: HolderFault,
        /// How long the server sleeps.
        pause_ms: u64,
    },
    /// Cut the holder off from the lock server (both ways, nothing closed) for `pause_ms`.
    PartitionHolder {
        /// When and how often.
        strike: HolderFault,
        /// How long the partition lasts.
        pause_ms: u64,
    },
    /// A fault on single commands, struck at the fault proxy in front of the lock server.
    Command(CommandFault),
    /// Drop some acquire futures after a random delay, as services do with deadlines and
    /// `select!`; the worker then cleans up as `redmutex::Lock` does (a release with the dropped
    /// acquire's token) and goes on with its loop.
    CancelAcquire(CancelAcquire),
    /// Step the lock server's wall clock by `jump_ms` while someone holds the lock (the server
    /// runs under libfaketime; Redis expires keys by its wall clock). Scenario files give it as
    /// `jump_s` or `jump_ms`.
    ServerClockJump {
        /// When and how often.
        strike: HolderFault,
        /// The step, seconds (forward if positive).
        jump_ms: i64,
    },
    /// Take the primary of a Sentinel group (`[server] replicas`) away while someone holds the
    /// lock, let the Sentinels promote a replica, then move the workers to it (the front proxy
    /// is re-pointed and its connections reset, as when a virtual IP moves).
    Failover {
        /// When and how often.
        strike: HolderFault,
        /// How the primary goes away: partitioned from the Sentinels and replicas while the
        /// workers still reach it, or killed.
        outage: crate::server_faults::sentinel::Outage,
    },
}

/// Which acquires a `cancel-acquire` fault drops, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelAcquire {
    /// When.
    pub window: Window,
    /// The share of acquires dropped, percent (1 to 100).
    pub percent: u32,
    /// The shortest time an acquire runs before it is dropped, ms.
    pub min_after_ms: u64,
    /// The longest, ms.
    pub max_after_ms: u64,
    /// Worker slots hit (`None`: all).
    pub workers: Option<Vec<u32>>,
}

impl CancelAcquire {
    /// Whether the next acquire of the worker in `slot`, `now_ms` into the run, is dropped,
    /// and after how long: two draws from `rng`, made whenever the fault is in force.
    pub fn after(&self, slot: u32, now_ms: u64, rng: &mut redmutex::algo::Rng) -> Option<u64> {
        if !applies_to(self.workers.as_deref(), slot) || !self.window.contains(now_ms) {
            return None;
        }
        let hit = rng.below(100) < u64::from(self.percent);
        let after = self.min_after_ms + rng.below(self.max_after_ms - self.min_after_ms + 1);
        hit.then_some(after)
    }
}

/// A fault on single commands of an operation: "drop the reply of the 1st command of the 3rd
/// release of worker slot 2".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandFault {
    /// What happens to a command it strikes.
    pub action: CommandAction,
    /// For the delays: how long, ms.
    pub delay_ms: u64,
    /// Which operation.
    pub op: DelayOp,
    /// Only the n-th operation of its kind of a worker (1-based; `None`: every one).
    pub nth_op: Option<u64>,
    /// Only the n-th command of the operation (1-based; `None`: every one).
    pub nth_command: Option<u64>,
    /// Worker slots hit (`None`: all).
    pub workers: Option<Vec<u32>>,
    /// At most this many strikes (per worker slot named, or in all without `workers`).
    pub count: Option<u32>,
    /// At the proxies of which lock servers (every one by default).
    #[serde(default)]
    pub servers: ServerSet,
}

/// What a command fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandAction {
    /// The command runs; its reply is lost and the connection reset.
    DropReply,
    /// The command never reaches the server; the connection is reset.
    DropCommand,
    /// The command reaches the server `delay_ms` late.
    DelayCommand,
    /// The reply reaches the client `delay_ms` late.
    DelayReply,
}

impl CommandAction {
    /// The name scenario files use.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CommandAction::DropReply => "drop-reply",
            CommandAction::DropCommand => "drop-command",
            CommandAction::DelayCommand => "delay-command",
            CommandAction::DelayReply => "delay-reply",
        }
    }
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
            Fault::RestartServer { .. } => "restart-server",
            Fault::SlowServer { .. } => "slow-server",
            Fault::PartitionHolder { .. } => "partition-holder",
            Fault::Command(_) => "command",
            Fault::ServerClockJump { .. } => "server-clock-jump",
            Fault::CancelAcquire(_) => "cancel-acquire",
            Fault::Failover { .. } => "failover",
        }
    }

    /// Whether the fault needs a lock server the harness owns (restart, slow), or the fault
    /// proxy in front of it (partition, command faults): not an existing server's URL.
    #[must_use]
    pub fn needs_own_server(&self) -> bool {
        matches!(
            self,
            Fault::RestartServer { .. }
                | Fault::SlowServer { .. }
                | Fault::PartitionHolder { .. }
                | Fault::Command(_)
                | Fault::ServerClockJump { .. }
                | Fault::Failover { .. }
        )
    }

    /// What is wrong with this fault given `replicas` replicas of the lock server, if anything:
    /// a failover needs one to promote, and a killed primary never comes back.
    #[must_use]
    pub fn replicas_problem(&self, replicas: u32) -> Option<String> {
        let Fault::Failover { strike, outage } = self else { return None };
        if replicas == 0 {
            return Some(
                "fault `failover` needs replicas to promote: set [server] replicas = 1 or 2".into(),
            );
        }
        if *outage == crate::server_faults::sentinel::Outage::Kill
            && strike.count.is_none_or(|c| c > replicas)
        {
            return Some(format!(
                "fault `failover` with outage = \"kill\": a killed primary never comes back, so \
                 at most {replicas} failovers can happen with {replicas} replicas: set count to \
                 at most {replicas}, or use outage = \"partition\""
            ));
        }
        None
    }

    /// The lock servers a server or network fault strikes (`servers = [..]`); `None` for a
    /// fault that strikes no server (on the worker) or the whole group (`failover`).
    #[must_use]
    pub fn servers(&self) -> Option<ServerSet> {
        match self {
            Fault::RestartServer { strike, .. }
            | Fault::SlowServer { strike, .. }
            | Fault::PartitionHolder { strike, .. }
            | Fault::ServerClockJump { strike, .. } => Some(strike.servers),
            Fault::Command(c) => Some(c.servers),
            _ => None,
        }
    }

    /// Whether the fault goes through the fault proxy (then workers mark their operations).
    #[must_use]
    pub fn needs_proxy(&self) -> bool {
        matches!(self, Fault::PartitionHolder { .. } | Fault::Command(_))
    }
}

impl CommandFault {
    /// For the history: `drop-reply of release #3, command 1, worker slot 2`.
    #[must_use]
    pub fn describe(&self) -> String {
        let op = match self.op {
            DelayOp::Acquire => "acquire",
            DelayOp::Release => "release",
        };
        let nth = self.nth_op.map_or_else(|| format!("every {op}"), |n| format!("{op} #{n}"));
        let command =
            self.nth_command.map_or_else(|| "every command".into(), |n| format!("command {n}"));
        let delay = match self.action {
            CommandAction::DelayCommand | CommandAction::DelayReply => {
                format!(" +{} ms", self.delay_ms)
            }
            _ => String::new(),
        };
        format!(
            "{}{delay} of {nth}, {command}, {}",
            self.action.name(),
            slots(self.workers.as_deref())
        )
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
