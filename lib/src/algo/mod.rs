//! The reference lock algorithms as sans-IO state machines.
//!
//! Internal: hidden from the docs, for the `contend` harness; not covered by semver.
//!
//! Each algorithm is a [`Protocol`]: a factory of [`Machine`]s for its acquire, release and
//! extend operations. The harness adds its own protocols (the specimens) through the same trait.

mod fair;
mod fenced;
mod notify;
pub mod redlock;
mod token;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use fair::{Fair, acquire_running as fair_acquire_running};
pub use fenced::Fenced;
pub use notify::Notify;
pub use redlock::RedlockAlgorithm;
pub use token::TokenLock;

use crate::proto::{
    Action, Bytes, Command, Event, Expiry, Failure, Grant, Keys, Machine, Outcome, Reply, SetCond,
    Token,
};

/// What an acquire operation needs.
#[derive(Clone, Debug)]
pub struct AcquireParams {
    /// The lock's keys.
    pub keys: Keys,
    /// Our fresh token for this acquisition.
    pub token: Token,
    /// How long the lock lives in Redis unless released or extended.
    pub ttl: Duration,
    /// How long to wait for a busy lock; `None` tries once.
    pub wait: Option<Duration>,
    /// Subtracted from the lease to allow for clock-rate drift between client and server.
    pub drift: Duration,
    /// Seed of the machine's jitter.
    pub seed: u64,
    /// The polling schedule of algorithms that poll.
    pub backoff: Backoff,
}

/// What a release operation needs.
#[derive(Clone, Debug)]
pub struct ReleaseParams {
    /// The lock's keys.
    pub keys: Keys,
    /// What the acquisition returned.
    pub grant: Grant,
    /// The lock's ttl (a hand-off gives the next holder a fresh lease).
    pub ttl: Duration,
    /// A fresh token, for algorithms that hand the lock over under a token of their own (the
    /// reference algorithms do not: `notify` hands it over under the waiter's token).
    pub fresh_token: Token,
}

/// What an extend operation needs.
#[derive(Clone, Debug)]
pub struct ExtendParams {
    /// The lock's keys.
    pub keys: Keys,
    /// What the acquisition returned.
    pub grant: Grant,
    /// The new lease, counted from when the extend is sent.
    pub ttl: Duration,
    /// As in [`AcquireParams::drift`].
    pub drift: Duration,
}

/// A lock algorithm: a factory of operation machines.
pub trait Protocol: Send + Sync + 'static {
    /// The algorithm's name, as the harness lists it.
    fn name(&self) -> &'static str;
    /// A machine that acquires the lock.
    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine>;
    /// A machine that acquires the lock for a caller whose last acquire met a busy lock.
    /// Algorithms with a cheaper path under contention (`notify` skips its plain `SET`) take it
    /// here; the others acquire as usual.
    fn acquire_contended(&self, params: AcquireParams) -> Box<dyn Machine> {
        self.acquire(params)
    }
    /// A machine that releases it.
    fn release(&self, params: ReleaseParams) -> Box<dyn Machine>;
    /// A machine that extends it, if the algorithm can.
    fn extend(&self, params: ExtendParams) -> Option<Box<dyn Machine>>;
    /// Whether acquisitions carry a fence.
    fn fenced(&self) -> bool {
        false
    }
    /// How long after a waiter's last look a release may still hand the lock to it, should the
    /// waiter have died meanwhile (the lock then lies with the dead waiter for a ttl). Zero for
    /// algorithms that never hand the lock to a waiter.
    fn dead_waiter_window(&self, ttl: Duration) -> Duration {
        let _ = ttl;
        Duration::ZERO
    }
    /// Whether the algorithm promises FIFO order: among callers already waiting, the lock goes
    /// to the one that began to wait first, and no newcomer takes it while anyone waits.
    /// The harness's `fairness` checker holds such an algorithm to it; for the others it only
    /// measures how often they break that order.
    fn fifo(&self) -> bool {
        false
    }
    /// How many independent servers each operation addresses: 1 for a single-server lock
    /// (its machines send [`Action::Send`]), N for a quorum lock like `redlock` (its machines
    /// send [`Action::SendEach`] to N servers, run by `crate::fanout::Servers`).
    fn servers(&self) -> usize {
        1
    }
    /// The keys the algorithm keeps on the server by design once every holder and waiter is
    /// gone (the fence counter, which must never go back). Anything else of the lock's left
    /// behind is residue.
    fn kept_keys(&self, keys: &Keys) -> Vec<Bytes> {
        let _ = keys;
        Vec::new()
    }
    /// The keys every waiter's look renews for a ttl: a queue of waiters. A waiter that dies
    /// without clean-up stays in the queue (a release skips it once its mark has expired), so
    /// the key outlives it while others wait, until a ttl after the last look. The harness's
    /// residue checker allows for that, for these keys only.
    fn renewed_keys(&self, keys: &Keys) -> Vec<Bytes> {
        let _ = keys;
        Vec::new()
    }
}

/// The reference algorithms of this crate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `SET NX PX` with a random token, owner-checked release and extend, polling with capped
    /// exponential backoff and jitter.
    Token,
    /// `token`, but a release hands the lock straight to one blocked waiter; waiters block on a
    /// signal list, bounded by the holder's remaining ttl, instead of polling.
    #[default]
    Notify,
    /// `token` plus a strictly increasing fence per acquisition, for a resource that rejects
    /// writes carrying an older fence.
    Fenced,
    /// `notify` with a strict FIFO queue: no fast path, and a free lock goes to the oldest
    /// live waiter (the acquire script hands it over as a release would), so no newcomer
    /// takes the lock while anyone waits.
    Fair,
}

impl Algorithm {
    /// Every reference algorithm.
    pub const ALL: [Algorithm; 4] =
        [Algorithm::Token, Algorithm::Notify, Algorithm::Fenced, Algorithm::Fair];

    /// The algorithm's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        self.protocol().name()
    }

    /// The algorithm's machines.
    #[doc(hidden)]
    #[must_use]
    pub fn protocol(self) -> &'static dyn Protocol {
        match self {
            Algorithm::Token => &TokenLock,
            Algorithm::Notify => &Notify,
            Algorithm::Fenced => &Fenced,
            Algorithm::Fair => &Fair,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Algorithm, String> {
        Algorithm::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            let known: Vec<_> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            format!("unknown algorithm '{s}'; known: {}", known.join(", "))
        })
    }
}

/// Capped exponential backoff with jitter: the n-th wait is drawn from [d/2, d] where
/// d = min(max, initial × 2ⁿ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait's upper bound.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { initial: Duration::from_millis(1), max: Duration::from_millis(64) }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (from 0), jittered by `rng`.
    #[doc(hidden)]
    #[must_use]
    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let d = self.initial.saturating_mul(1u32 << attempt.min(20)).min(self.max);
        let half = d / 2;
        let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rng.below(span.saturating_add(1)))
    }
}

/// A small deterministic generator (SplitMix64): machines draw jitter from it so that a seed
/// reproduces a simulation exactly.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    #[must_use]
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next_u64() % n
    }
}

/// The drift allowance taken off every lease unless set otherwise: ttl/100 + 2 ms.
#[must_use]
pub fn default_drift(ttl: Duration) -> Duration {
    ttl / 100 + Duration::from_millis(2)
}

/// The end of a lease that began when a command was sent at `sent_at`.
#[must_use]
pub fn lease_end(sent_at: Duration, ttl: Duration, drift: Duration) -> Duration {
    (sent_at + ttl).saturating_sub(drift)
}

/// `SET key token NX` with `expiry`: the acquire attempt most token locks send.
#[must_use]
pub fn set_nx(key: &[u8], token: Token, expiry: Expiry) -> Command {
    Command::Set {
        key: key.to_vec(),
        value: token.to_bytes(),
        cond: Some(SetCond::Nx),
        expiry: Some(expiry),
        get: false,
    }
}

/// The grant of an unfenced acquisition under `token`, won by a command sent at `sent_at`.
#[must_use]
pub fn grant(token: Vec<u8>, sent_at: Duration, ttl: Duration, drift: Duration) -> Grant {
    Grant {
        token,
        fence: None,
        acquired_at: sent_at,
        valid_until: lease_end(sent_at, ttl, drift),
        clock_ms: None,
    }
}

/// A machine that sends one command and maps its reply to an outcome.
pub struct OneShot {
    op: &'static str,
    command: Option<Command>,
    sent_at: Duration,
    map: Box<dyn FnMut(Duration, Reply) -> Outcome + Send>,
}

impl OneShot {
    /// Operation `op` (`release`, `extend`, ...: named in its failures) sends `command`; `map`
    /// gets the send time and the reply, unless that is an error reply, which fails the
    /// operation with [`Failure::Server`].
    pub fn new(
        op: &'static str,
        command: Command,
        map: impl FnMut(Duration, Reply) -> Outcome + Send + 'static,
    ) -> OneShot {
        OneShot { op, command: Some(command), sent_at: Duration::ZERO, map: Box::new(map) }
    }
}

impl Machine for OneShot {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match (event, self.command.take()) {
            (Event::Start, Some(command)) => {
                self.sent_at = now;
                Action::Send(command)
            }
            (Event::Reply(r @ Reply::Error(_)), None) => Action::Done(bad_reply(self.op, &r)),
            (Event::Reply(reply), None) => Action::Done((self.map)(self.sent_at, reply)),
            (event, _) => Action::Done(unexpected(&event)),
        }
    }
}

/// The outcome for an event a machine does not expect: a driver bug, reported, never a panic.
#[must_use]
pub fn unexpected(event: &Event) -> Outcome {
    Outcome::Failed(Failure::Other(format!("unexpected event {event:?}")))
}

/// The outcome for a reply operation `op` cannot interpret: [`Failure::Server`] for an error
/// reply, [`Failure::Reply`] for any other.
#[must_use]
pub fn bad_reply(op: &'static str, reply: &Reply) -> Outcome {
    Outcome::Failed(Failure::reply(op, reply))
}

/// The owner-checked release shared by the reference algorithms (and by specimens that got it
/// right).
#[must_use]
pub fn checked_release(
    script: &'static crate::proto::Script,
    args: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
) -> OneShot {
    OneShot::new("release", Command::Eval { script, keys, args }, |_, reply| match &reply {
        Reply::Int(1) => Outcome::Released { owned: true, handed: None },
        Reply::Int(0) => Outcome::Released { owned: false, handed: None },
        // Ours, and handed over to the waiter with this token (`notify`).
        Reply::Array(items) => match items.as_slice() {
            [Reply::Int(1), Reply::Bulk(to)] => {
                Outcome::Released { owned: true, handed: Some(to.clone()) }
            }
            _ => bad_reply("release", &reply),
        },
        _ => bad_reply("release", &reply),
    })
}

/// The owner-checked extend shared by the reference algorithms.
#[must_use]
pub fn checked_extend(p: &ExtendParams) -> OneShot {
    let (ttl, drift) = (p.ttl, p.drift);
    let command = Command::Eval {
        script: &crate::scripts::EXTEND,
        keys: vec![p.keys.lock.clone()],
        args: vec![p.grant.token.clone(), crate::proto::num(crate::proto::millis(ttl))],
    };
    OneShot::new("extend", command, move |sent_at, reply| match reply.as_int() {
        Some(1) => Outcome::Extended { valid_until: Some(lease_end(sent_at, ttl, drift)) },
        Some(0) => Outcome::Extended { valid_until: None },
        _ => bad_reply("extend", &reply),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_stays_in_the_jitter_band() {
        let b = Backoff { initial: Duration::from_millis(2), max: Duration::from_millis(40) };
        let mut rng = Rng::new(7);
        for attempt in 0..30 {
            let d = b.delay(attempt, &mut rng);
            let cap = (Duration::from_millis(2) * (1 << attempt.min(20))).min(b.max);
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {attempt}: {d:?} outside [{:?}, {cap:?}]",
                cap / 2
            );
        }
    }

    #[test]
    fn unknown_algorithm_lists_the_known_ones() {
        let err = "nope".parse::<Algorithm>().unwrap_err();
        assert!(err.contains("token") && err.contains("notify") && err.contains("fenced"));
        assert_eq!("fenced".parse::<Algorithm>(), Ok(Algorithm::Fenced));
    }
}
