//! loom over the lock machines (only with the feature `loom`: `just loom`).
//!
//! [`explore`] runs a [`Protocol`]'s real machines in a few client threads against one
//! [`Model`] behind a loom `Mutex`, while the test's main thread is a clock that advances
//! logical time a bounded number of ticks. loom runs every interleaving of those threads (up to
//! its preemption bound), and every execution is judged by the claims below. Violations are
//! collected, not panicked, so a test can assert that a known bug **is** found.
//!
//! How actions are interpreted, so that every execution ends:
//!
//! - `Send`: the command runs atomically on the model. A blocked `BLPOP` waits (on a loom
//!   `Condvar`) until a push serves it or the clock passes its timeout.
//! - `Sleep`: waits until the clock reaches the wake-up time, or until the clock thread is done
//!   (then time stands still and the sleeper goes on: the bounded action budget ends a poll loop).
//! - `Wait`: subscribes, then waits for a message or for the clock to pass the timeout.
//! - A client that waits when the clock is done and no other client is running can never be
//!   woken: it gives up (its connection closes), which ends the execution.
//!
//! Claims, each a [`Claim`]:
//!
//! - [`Claim::MutualExclusion`]: no two clients are inside the critical section with both
//!   leases (`Grant::valid_until`) still running.
//! - [`Claim::Ownership`]: no command of a release changes a lock key that holds another value
//!   than the releaser's token.
//! - [`Claim::Fencing`]: an acquisition's fence is new and above every fence handed out before the
//!   acquisition began; the fenced resource never accepts a write older than one it accepted.
//! - [`Claim::NoStrandedWaiter`]: when a release leaves the lock free, no client is left blocked
//!   or subscribed-waiting for it; nor does a client start waiting on a lock a release freed.
//! - [`Claim::WakesAfterExpiry`] (only with [`Scenario::expiry_slack_ms`]): a client that waits
//!   on a lock which then expires silently is woken within the slack of the later of the
//!   expiry and the start of its wait.
//! - [`Claim::Fifo`]: a client is granted the lock only when no client whose acquire began
//!   earlier (its first command ran first) is blocked waiting; judged for every protocol,
//!   promised by those whose [`Protocol::fifo`] says so.
//! - [`Claim::NothingLeft`]: once every client is done, no key of the lock is left (but the
//!   fence counter), in executions where no client gave up and no lease can expire; with
//!   [`Scenario::cancel`], an acquire cancelled mid-flight is cleaned up as `Lock` does first.
//!
//! Each client runs `rounds` times: acquire, hold for `hold_ms`, (for fenced protocols) a fenced
//! write, release. Set `REDMUTEX_LOOM_TRACE=1` to print the trace of every execution.
//!
//! A specimen test is one call:
//!
//! ```ignore
//! let report = explore(&MySpecimen, &Scenario { ttl: Duration::from_millis(10), ..Scenario::default() });
//! assert!(report.find(Claim::MutualExclusion).is_some(), "the specimen's bug must be found");
//! ```

use std::fmt;
use std::time::Duration;

use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{ClientId, Model, Step};
use crate::algo::{AcquireParams, Backoff, Protocol, ReleaseParams};
use crate::proto::{
    Action, Bytes, Command, Event, Failure, Grant, Keys, Machine, Outcome, Reply, Token, millis,
};
use crate::scripts;

/// The shape of one exploration. Keep it small: loom's work grows quickly with threads, rounds
/// and ticks.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Client threads (2 or 3).
    pub clients: u64,
    /// Acquire/release rounds per client (1 or 2).
    pub rounds: u64,
    /// How many times the clock thread advances time.
    pub ticks: u64,
    /// Milliseconds per tick.
    pub tick_ms: u64,
    /// The lock's ttl.
    pub ttl: Duration,
    /// The acquire's wait timeout (`None`: try once).
    pub wait: Option<Duration>,
    /// How long a holder stays in the critical section, in model ms (it waits for the clock,
    /// or for the clock thread to finish).
    pub hold_ms: u64,
    /// Actions one operation may take before the client abandons it.
    pub max_actions: usize,
    /// Check [`Claim::WakesAfterExpiry`] with this slack (ms); `None` does not check it.
    pub expiry_slack_ms: Option<u64>,
    /// Whether the clock yields to the clients before each tick. With it, loom reaches ticks
    /// between two steps of one client without spending a preemption on the clock (needed to
    /// find some bugs with two clients); without it, three clients stay cheap to explore.
    pub clock_yields: bool,
    /// Cancel one acquire, as dropping its future does: `(client, action)` abandons that
    /// client's first acquire while it awaits the result of its `action`-th action (from 0; a
    /// blocked `BLPOP` is disconnected), then runs the protocol's release with the abandoned
    /// token, as `Lock`'s clean-up does, and ends the client.
    pub cancel: Option<(u64, usize)>,
}

impl Default for Scenario {
    /// Two clients, one round, two ticks of 10 ms, ttl 1 s (no lease expires), wait 1 s, a
    /// 5 ms critical section, 12 actions per operation, a clock that yields.
    fn default() -> Scenario {
        Scenario {
            clients: 2,
            rounds: 1,
            ticks: 2,
            tick_ms: 10,
            ttl: Duration::from_secs(1),
            wait: Some(Duration::from_secs(1)),
            hold_ms: 5,
            max_actions: 12,
            expiry_slack_ms: None,
            clock_yields: true,
            cancel: None,
        }
    }
}

/// A promise of a lock, checked in every explored execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Claim {
    /// Two clients inside the critical section with running leases.
    MutualExclusion,
    /// A release changed a lock that held someone else's token.
    Ownership,
    /// A fence was reused or went backwards, or an older fenced write was accepted.
    Fencing,
    /// A release left the lock free while a client waited for it.
    NoStrandedWaiter,
    /// A client slept on through a silent expiry of the lock for longer than the slack.
    WakesAfterExpiry,
    /// A client was granted the lock while another, whose acquire began first, was blocked
    /// waiting for it.
    Fifo,
    /// Once every client is done, a key of the lock is left (the lock held by no one, a waiter
    /// still queued, a signal list); the fence counter is kept by design. Judged in executions
    /// where no client gave up and the clock cannot reach the ttl.
    NothingLeft,
}

/// A violated claim, with the execution's trace up to the violation.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Which claim.
    pub claim: Claim,
    /// What happened, and the steps of the execution that led there.
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.claim, self.detail)
    }
}

/// What an exploration found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The first violation of each claim that was found.
    pub findings: Vec<Finding>,
    /// How many executions loom ran.
    pub executions: u64,
    /// How long the exploration took.
    pub elapsed: Duration,
}

impl Report {
    /// The first finding of `claim`, if any.
    #[must_use]
    pub fn find(&self, claim: Claim) -> Option<&Finding> {
        self.findings.iter().find(|f| f.claim == claim)
    }
}

/// Explores every interleaving of `scenario` for `protocol` and reports the violations found.
/// Runs loom with a preemption bound of `LOOM_MAX_PREEMPTIONS` (2 when unset).
#[must_use]
pub fn explore(protocol: &'static dyn Protocol, scenario: &Scenario) -> Report {
    run(protocol, scenario, None)
}

/// Like [`explore`], but stops at the first execution that violates `claim`: the way to prove a
/// known bug is found, and to measure how fast. loom's run is stopped by a panic, which this
/// catches (the panic hook still prints one line about it).
#[must_use]
pub fn explore_until(protocol: &'static dyn Protocol, scenario: &Scenario, claim: Claim) -> Report {
    run(protocol, scenario, Some(claim))
}

/// The panic message that stops an exploration early.
const FOUND: &str = "redmutex loom: the sought violation was found; stopping the exploration";

fn run(protocol: &'static dyn Protocol, scenario: &Scenario, stop_at: Option<Claim>) -> Report {
    let started = std::time::Instant::now();
    let collected = std::sync::Arc::new(std::sync::Mutex::new(Report::default()));
    let sink = collected.clone();
    let scenario = scenario.clone();
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    let exploration = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        builder.check(move || {
            let findings = execution(protocol, &scenario);
            let Ok(mut report) = sink.lock() else { return };
            report.executions += 1;
            for finding in findings {
                if report.find(finding.claim).is_none() {
                    report.findings.push(finding);
                }
            }
            if stop_at.is_some_and(|claim| report.find(claim).is_some()) {
                drop(report);
                panic!("{FOUND}");
            }
        });
    }));
    let mut report = collected.lock().map(|r| r.clone()).unwrap_or_default();
    report.elapsed = started.elapsed();
    if let Err(panic) = exploration {
        let ours = panic.downcast_ref::<String>().is_some_and(|m| m == FOUND);
        if !ours {
            std::panic::resume_unwind(panic);
        }
    }
    report
}

struct Shared {
    world: Mutex<World>,
    /// Clients wait on it for time to pass or for a push or message.
    changed: Condvar,
}

/// Everything the threads share: the model, and the witness state the claims are judged by.
struct World {
    model: Model,
    keys: Keys,
    /// Clients inside the critical section, with their lease end (model ms).
    inside: Vec<(ClientId, u64)>,
    /// Clients waiting for a wake-up: blocked in `BLPOP`, or in a `Wait`.
    waiting: Vec<Waiter>,
    /// The lock's expiry as last seen while it existed; `None` when it has none or a command
    /// removed it.
    lock_expiry: Option<u64>,
    /// The lock is free because a release freed it (not because it expired).
    freed_by_release: bool,
    /// Fences handed out by finished acquisitions.
    fences: Vec<u64>,
    /// The highest fence the fenced resource accepted.
    accepted: Option<u64>,
    clock_done: bool,
    /// A client gave up because nothing could wake it (the execution's bounds, not the lock).
    gave_up: bool,
    /// Clients neither waiting nor finished.
    running: u64,
    /// Commands executed so far: the order in which acquires began.
    executed: u64,
    /// Each client's current acquire and the count of commands executed before it began.
    arrivals: Vec<(ClientId, u64)>,
    trace: Vec<String>,
    findings: Vec<Finding>,
}

/// A client waiting for a wake-up.
#[derive(Clone, Copy, Debug)]
struct Waiter {
    client: ClientId,
    how: Waiting,
    /// When it began waiting (model ms).
    since: u64,
    /// When a `Wait` times out; `BLPOP` timeouts live in the model.
    until: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    Blocked,
    Subscribed,
}

/// What the operation a client drives is, for the claims.
#[derive(Clone)]
enum Role {
    /// An acquire; the highest fence handed out when it began.
    Acquire { floor: Option<u64> },
    /// A release of the lock held with this token.
    Release { token: Bytes },
}

fn execution(protocol: &'static dyn Protocol, scenario: &Scenario) -> Vec<Finding> {
    let shared = Arc::new(Shared {
        world: Mutex::new(World {
            model: Model::new(),
            keys: Keys::new("loom:", "lock"),
            inside: Vec::new(),
            waiting: Vec::new(),
            lock_expiry: None,
            freed_by_release: false,
            fences: Vec::new(),
            accepted: None,
            clock_done: false,
            gave_up: false,
            running: scenario.clients,
            executed: 0,
            arrivals: Vec::new(),
            trace: Vec::new(),
            findings: Vec::new(),
        }),
        changed: Condvar::new(),
    });
    let clients: Vec<_> = (0..scenario.clients)
        .map(|i| {
            let (shared, scenario) = (shared.clone(), scenario.clone());
            loom::thread::spawn(move || client(&shared, protocol, &scenario, ClientId(i + 1)))
        })
        .collect();
    for _ in 0..scenario.ticks {
        // Let the clients go first: a tick is then taken when they wait, or when loom preempts
        // one of them, rather than only by preempting the clock.
        if scenario.clock_yields {
            loom::thread::yield_now();
        }
        let mut w = lock(&shared);
        w.model.advance(scenario.tick_ms);
        let now = w.model.now();
        w.trace.push(format!("clock -> {now} ms"));
        if let Some(slack) = scenario.expiry_slack_ms {
            w.judge_expiry(slack);
        }
        shared.changed.notify_all();
    }
    lock(&shared).clock_done = true;
    shared.changed.notify_all();
    for c in clients {
        let _ = c.join();
    }
    let mut w = lock(&shared);
    let expires = scenario.ttl <= Duration::from_millis(scenario.ticks * scenario.tick_ms);
    if !w.gave_up && !expires {
        let fence = w.keys.fence.clone();
        let left: Vec<String> =
            w.model.live_keys().into_iter().filter(|k| *k != fence).map(|k| text(&k)).collect();
        if !left.is_empty() {
            w.violate(Claim::NothingLeft, format!("every client is done and {left:?} remain"));
        }
    }
    if std::env::var_os("REDMUTEX_LOOM_TRACE").is_some() {
        eprintln!("execution:\n  {}", w.trace.join("\n  "));
    }
    std::mem::take(&mut w.findings)
}

/// One client thread: `rounds` × (acquire, fenced write, release).
fn client(shared: &Shared, protocol: &'static dyn Protocol, scenario: &Scenario, me: ClientId) {
    for round in 0..scenario.rounds {
        let keys = Keys::new("loom:", "lock");
        let params = AcquireParams {
            keys: keys.clone(),
            token: Token::from_u128((u128::from(me.0) << 8) | u128::from(round)),
            ttl: scenario.ttl,
            wait: scenario.wait,
            drift: Duration::ZERO,
            seed: me.0 ^ (round << 16),
            backoff: Backoff::default(),
        };
        let token = params.token;
        let cancel_at = scenario.cancel.filter(|(c, _)| *c == me.0 && round == 0).map(|(_, a)| a);
        let mut role = Role::Acquire { floor: None };
        let acquire = protocol.acquire(params);
        let acquired = operate(shared, me, acquire, &mut role, scenario, cancel_at);
        if cancel_at.is_some() && acquired.is_none() && !lock(shared).gave_up {
            clean_up(shared, protocol, scenario, me, token);
            break;
        }
        let Some(Outcome::Acquired(grant)) = acquired else { break };
        hold(shared, scenario.hold_ms);
        if let Some(fence) = grant.fence {
            fenced_write(shared, me, fence);
        }
        let release = ReleaseParams {
            keys,
            grant: grant.clone(),
            ttl: scenario.ttl,
            fresh_token: Token::from_u128((u128::from(me.0) << 8) | u128::from(round) | 0x80),
        };
        let mut role = Role::Release { token: grant.token.clone() };
        if operate(shared, me, protocol.release(release), &mut role, scenario, None).is_none() {
            break;
        }
    }
    let mut w = lock(shared);
    w.running -= 1;
    w.inside.retain(|(c, _)| *c != me);
    w.trace.push(format!("{me:?} done"));
    shared.changed.notify_all();
}

/// What `Lock` does for a dropped acquire: the protocol's release with the abandoned token.
fn clean_up(
    shared: &Shared,
    protocol: &'static dyn Protocol,
    scenario: &Scenario,
    me: ClientId,
    token: Token,
) {
    let grant = Grant::for_cleanup(token.to_bytes());
    let release = ReleaseParams {
        keys: Keys::new("loom:", "lock"),
        grant,
        ttl: scenario.ttl,
        fresh_token: Token::from_u128((u128::from(me.0) << 8) | 0xc0),
    };
    let mut role = Role::Release { token: token.to_bytes() };
    lock(shared).trace.push(format!("{me:?} cleans up its cancelled acquire"));
    let _ = operate(shared, me, protocol.release(release), &mut role, scenario, None);
}

/// Drives one operation to its outcome; `None` when the client gave up, or was cancelled
/// while it awaited the result of its action number `cancel_at`.
fn operate(
    shared: &Shared,
    me: ClientId,
    mut machine: Box<dyn Machine>,
    role: &mut Role,
    scenario: &Scenario,
    cancel_at: Option<usize>,
) -> Option<Outcome> {
    let mut event = Event::Start;
    let mut subscribed: Option<Bytes> = None;
    for step in 0..scenario.max_actions {
        let mut w = lock(shared);
        let cancelled = cancel_at == Some(step);
        if step == 0 {
            match role {
                Role::Acquire { floor } => {
                    *floor = w.fences.iter().max().copied();
                    let arrived = w.executed;
                    w.arrivals.retain(|(c, _)| *c != me);
                    w.arrivals.push((me, arrived));
                }
                Role::Release { .. } => w.inside.retain(|(c, _)| *c != me),
            }
        }
        let now = w.model.now();
        event = match machine.handle(Duration::from_millis(now), event) {
            Action::Done(outcome) => return Some(finish(shared, w, me, role, outcome)),
            // One model server: refused as by the real driver, and judged as any outcome.
            Action::SendEach { .. } => {
                let refused = Outcome::Failed(Failure::single_server());
                return Some(finish(shared, w, me, role, refused));
            }
            Action::Send(command) => {
                let step = w.exec(me, role, &command);
                shared.changed.notify_all();
                if cancelled {
                    w.trace.push(format!("{me:?} is cancelled awaiting that reply"));
                    w.model.disconnect(me);
                    let _ = w.model.take_unblocked_for(me);
                    return None;
                }
                match step {
                    Step::Reply(reply) => Event::Reply(reply),
                    Step::Blocked => {
                        w.start_waiting(me, Waiting::Blocked, None);
                        let (mut w, reply) = wait(shared, w, |w| w.model.take_unblocked_for(me));
                        w.stop_waiting(me);
                        match reply {
                            Some(reply) => Event::Reply(reply),
                            None => return give_up(shared, w, me),
                        }
                    }
                }
            }
            Action::Sleep(d) => {
                let wake = now.saturating_add(millis(d));
                let _ = wait(shared, w, |w| (w.model.now() >= wake || w.clock_done).then_some(()));
                Event::Slept
            }
            Action::ReadClock => Event::Clock(now),
            Action::Wait { channel, timeout } => {
                if subscribed.as_ref() != Some(&channel) {
                    w.model.subscribe(me, &channel);
                    subscribed = Some(channel);
                }
                let deadline = now.saturating_add(millis(timeout));
                w.trace.push(format!("{me:?} waits for a message until {deadline} ms"));
                w.start_waiting(me, Waiting::Subscribed, Some(deadline));
                let (mut w, woken) = wait(shared, w, |w| match w.model.take_delivery_for(me) {
                    Some(d) => Some(Event::Notified(d.message)),
                    None => (w.model.now() > deadline).then_some(Event::TimedOut),
                });
                w.stop_waiting(me);
                match woken {
                    Some(event) => event,
                    None => return give_up(shared, w, me),
                }
            }
        };
    }
    let mut w = lock(shared);
    w.trace.push(format!("{me:?} abandons its operation after {} actions", scenario.max_actions));
    w.gave_up = true;
    w.model.disconnect(me);
    None
}

/// Records and judges how an operation ended.
fn finish(
    shared: &Shared,
    mut w: MutexGuard<'_, World>,
    me: ClientId,
    role: &Role,
    outcome: Outcome,
) -> Outcome {
    w.trace.push(format!("{me:?} {}", describe_outcome(&outcome)));
    w.judge_outcome(me, role, &outcome);
    shared.changed.notify_all();
    outcome
}

/// Waits on the condvar until `ready` answers; `None` once nothing can wake this client any
/// more (the clock is done and no other client runs).
fn wait<'a, T>(
    shared: &'a Shared,
    mut w: MutexGuard<'a, World>,
    mut ready: impl FnMut(&mut World) -> Option<T>,
) -> (MutexGuard<'a, World>, Option<T>) {
    loop {
        if let Some(value) = ready(&mut w) {
            return (w, Some(value));
        }
        if w.clock_done && w.running == 0 {
            return (w, None);
        }
        w = match shared.changed.wait(w) {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
    }
}

fn give_up(shared: &Shared, mut w: MutexGuard<'_, World>, me: ClientId) -> Option<Outcome> {
    w.trace.push(format!("{me:?} gives up: nothing can wake it"));
    w.gave_up = true;
    w.model.disconnect(me);
    shared.changed.notify_all();
    None
}

/// The critical section's duration: wait for the clock to move `ms` (or to stop).
fn hold(shared: &Shared, ms: u64) {
    if ms == 0 {
        return;
    }
    let w = lock(shared);
    let until = w.model.now().saturating_add(ms);
    let _ = wait(shared, w, |w| (w.model.now() >= until || w.clock_done).then_some(()));
}

/// The critical section of a fenced lock: a write through the fenced resource's script.
fn fenced_write(shared: &Shared, me: ClientId, fence: u64) {
    let mut w = lock(shared);
    let write = Command::Eval {
        script: &scripts::FENCED_WRITE,
        keys: vec![b"loom:resource".to_vec(), b"loom:resource:fence".to_vec()],
        args: vec![fence.to_string().into_bytes(), me.0.to_string().into_bytes()],
    };
    let Step::Reply(reply) = w.model.exec(me, &write) else { return };
    w.trace.push(format!("{me:?} fenced write with {fence}: {reply:?}"));
    if reply.as_int() != Some(1) {
        return;
    }
    if w.accepted.is_some_and(|last| fence < last) {
        let last = w.accepted.unwrap_or(0);
        w.violate(Claim::Fencing, format!("the resource accepted fence {fence} after {last}"));
    }
    w.accepted = w.accepted.max(Some(fence));
}

fn lock(shared: &Shared) -> MutexGuard<'_, World> {
    match shared.world.lock() {
        Ok(w) => w,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl World {
    fn exec(&mut self, me: ClientId, role: &Role, command: &Command) -> Step {
        let before = self.model.string(&self.keys.lock).map(<[u8]>::to_vec);
        let existed = self.model.exists(&self.keys.lock);
        let step = self.model.exec(me, command);
        self.executed += 1;
        if self.model.exists(&self.keys.lock) {
            self.lock_expiry = self.model.expires_at(&self.keys.lock);
        } else if existed {
            self.lock_expiry = None;
        }
        let after = self.model.string(&self.keys.lock).map(<[u8]>::to_vec);
        let shown = match &step {
            Step::Reply(reply) => show(reply),
            Step::Blocked => "blocked".into(),
        };
        self.trace.push(format!("{me:?} {} -> {shown}", describe(command)));
        if self.model.exists(&self.keys.lock) {
            self.freed_by_release = false;
        }
        if let (Role::Release { token }, Some(held)) = (role, &before)
            && held != token
            && after != before
        {
            let detail = format!(
                "{me:?}'s release changed the lock from {:?} to {:?}; its token is {:?}",
                text(held),
                after.as_deref().map(text),
                text(token)
            );
            self.violate(Claim::Ownership, detail);
        }
        step
    }

    fn judge_outcome(&mut self, me: ClientId, role: &Role, outcome: &Outcome) {
        let now = self.model.now();
        match (role, outcome) {
            (Role::Acquire { floor }, Outcome::Acquired(grant)) => {
                self.freed_by_release = false;
                self.judge_order(me);
                self.judge_grant(me, *floor, grant, now);
                self.arrivals.retain(|(c, _)| *c != me);
            }
            (Role::Acquire { .. }, _) => self.arrivals.retain(|(c, _)| *c != me),
            (Role::Release { .. }, Outcome::Released { owned: true, .. }) => {
                if self.model.exists(&self.keys.lock) {
                    return;
                }
                self.freed_by_release = true;
                let stranded: Vec<ClientId> = self
                    .waiting
                    .iter()
                    .filter(|waiter| self.asleep(waiter))
                    .map(|waiter| waiter.client)
                    .collect();
                if !stranded.is_empty() {
                    let detail = format!("{me:?} released the lock and left {stranded:?} waiting");
                    self.violate(Claim::NoStrandedWaiter, detail);
                }
            }
            _ => {}
        }
    }

    fn judge_grant(&mut self, me: ClientId, floor: Option<u64>, grant: &Grant, now: u64) {
        let lease_end = u64::try_from(grant.valid_until.as_millis()).unwrap_or(u64::MAX);
        let rivals: Vec<ClientId> = self
            .inside
            .iter()
            .filter(|(c, end)| *c != me && *end > now && lease_end > now)
            .map(|(c, _)| *c)
            .collect();
        if !rivals.is_empty() {
            let detail =
                format!("{me:?} acquired at {now} ms while {rivals:?} held a running lease");
            self.violate(Claim::MutualExclusion, detail);
        }
        self.inside.push((me, lease_end));
        let Some(fence) = grant.fence else { return };
        if self.fences.contains(&fence) || floor.is_some_and(|f| fence <= f) {
            let detail =
                format!("{me:?} got fence {fence}; fences handed out before: {:?}", self.fences);
            self.violate(Claim::Fencing, detail);
        }
        self.fences.push(fence);
    }

    /// A grant to `me` passes no client that began to acquire earlier and is still blocked.
    fn judge_order(&mut self, me: ClientId) {
        let arrival = |c: ClientId| self.arrivals.iter().find(|(a, _)| *a == c).map(|(_, n)| *n);
        let Some(mine) = arrival(me) else { return };
        let passed: Vec<ClientId> = self
            .waiting
            .iter()
            .filter(|w| w.client != me && w.how == Waiting::Blocked)
            .filter(|w| self.model.is_blocked(w.client))
            .filter(|w| arrival(w.client).is_some_and(|theirs| theirs < mine))
            .map(|w| w.client)
            .collect();
        if !passed.is_empty() {
            let detail =
                format!("{me:?} was granted the lock past {passed:?}, blocked since earlier");
            self.violate(Claim::Fifo, detail);
        }
    }

    /// Whether a waiting client has nothing coming to wake it yet.
    fn asleep(&self, waiter: &Waiter) -> bool {
        match waiter.how {
            Waiting::Blocked => self.model.is_blocked(waiter.client),
            Waiting::Subscribed => {
                self.model.pending_deliveries(waiter.client) == 0
                    && waiter.until.is_none_or(|until| self.model.now() <= until)
            }
        }
    }

    /// After a tick: nobody sleeps on through a silent expiry for longer than `slack`.
    fn judge_expiry(&mut self, slack: u64) {
        let now = self.model.now();
        let Some(expired) = self.lock_expiry.filter(|e| *e < now) else { return };
        if self.model.exists(&self.keys.lock) {
            return;
        }
        let late: Vec<ClientId> = self
            .waiting
            .iter()
            .filter(|w| self.asleep(w) && now > expired.max(w.since).saturating_add(slack))
            .map(|w| w.client)
            .collect();
        if !late.is_empty() {
            let detail =
                format!("{late:?} still wait at {now} ms on a lock that expired at {expired} ms");
            self.violate(Claim::WakesAfterExpiry, detail);
        }
    }

    fn start_waiting(&mut self, me: ClientId, how: Waiting, until: Option<u64>) {
        self.running -= 1;
        let since = self.model.now();
        self.waiting.push(Waiter { client: me, how, since, until });
        if self.freed_by_release && !self.model.exists(&self.keys.lock) {
            let detail = format!("{me:?} starts waiting ({how:?}) on a lock a release freed");
            self.violate(Claim::NoStrandedWaiter, detail);
        }
    }

    fn stop_waiting(&mut self, me: ClientId) {
        self.running += 1;
        self.waiting.retain(|w| w.client != me);
    }

    fn violate(&mut self, claim: Claim, detail: String) {
        if self.findings.iter().any(|f| f.claim == claim) {
            return;
        }
        let trace = self.trace.iter().map(|s| format!("\n    {s}")).collect::<String>();
        self.findings.push(Finding { claim, detail: format!("{detail}; trace:{trace}") });
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A reply as a short text for traces: bulk strings as quoted text.
fn show(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(b) => format!("{:?}", text(b)),
        Reply::Array(items) => {
            format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", "))
        }
        Reply::Int(n) => n.to_string(),
        Reply::Nil => "nil".into(),
        Reply::Status(s) => s.clone(),
        Reply::Error(e) => format!("error {e:?}"),
    }
}

/// An outcome as a short line for traces.
fn describe_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Acquired(g) => format!(
            "acquired {} (fence {:?}, lease until {} ms)",
            text(&g.token),
            g.fence,
            g.valid_until.as_millis()
        ),
        other => format!("{other:?}"),
    }
}

/// A command as a short line for traces.
fn describe(command: &Command) -> String {
    match command {
        Command::Eval { script, keys, args } => {
            let words: Vec<String> = keys.iter().chain(args).map(|a| text(a)).collect();
            format!("EVAL {} {}", script.name, words.join(" "))
        }
        other => {
            let packed = crate::driver::encode(other);
            let words: Vec<String> = packed
                .args_iter()
                .map(|arg| match arg {
                    redis::Arg::Simple(b) => text(b),
                    _ => "?".into(),
                })
                .collect();
            words.join(" ")
        }
    }
}
