//! `setnx-getset-unchecked` (seed 002): SETNX/GETSET of expiry timestamps with a one-second
//! retry sleep, and a release that deletes whatever is there.
//!
//! **What the document does.** Each try reads the clock and computes
//! `expires = now + expires_param + 1`. `SETNX key expires` wins a free lock. Otherwise it
//! `GET`s the stored value; when there is one, it is a number below a fresh read of the clock,
//! and `GETSET key expires` hands back exactly that value, the lock is taken over. Otherwise it
//! counts one off `timeout`, sleeps one second, and tries again while `timeout ≥ 0`, then
//! raises `LockTimeout`. The key has no Redis expiry. Release is `DEL key`, nothing else.
//!
//! **What is wrong with it.**
//! - Release checks nothing: a holder that outlives its lease (a slow critical section, a
//!   pause) deletes the lock of whoever took it over, and a third client gets in while the
//!   second still works (ownership and mutual exclusion; `stale-release`,
//!   `expiry-mid-section`).
//! - Expiry is judged by each client's own clock against another client's timestamp: a clock
//!   running ahead takes over a live lock (mutual exclusion, `client-clock-skew`).
//! - The retry loop sleeps after its last failed try too, and runs `timeout + 1` tries, so an
//!   acquire overruns its timeout by one sleep (liveness).
//! - A client that loses the `GETSET` race has overwritten the winner's timestamp; one whose
//!   `GETSET` finds the key released leaves its own timestamp behind without holding the lock,
//!   which blocks everyone until it passes.
//!
//! **Mapping.** `expires_param` = the harness ttl (fractional seconds); the document's extra
//! second is [`Params::grace`], so other clients take over only after ttl + grace. `timeout`
//! (counted in sleeps) = the wait timeout divided by the sleep, rounded down; no wait means
//! `timeout = 0`: one try, then, as in the document, one sleep before giving up (`Busy`). The
//! grant's token is the timestamp written; its lease (for the harness) is the ttl from the clock
//! read that produced it.

use std::time::Duration;

use redmutex::algo::{
    AcquireParams, ExtendParams, Protocol, ReleaseParams, bad_reply, lease_end, unexpected,
};
use redmutex::proto::{Action, Bytes, Command, Event, Failure, Grant, Machine, Outcome, Reply};

use super::CheckerKind;
use super::{KnownBug, parse_stamp, scale, secs, stamp};

/// The specimen's name.
pub const NAME: &str = "setnx-getset-unchecked";

/// One line for `contend list`.
pub const SUMMARY: &str = "a blog post's SETNX/GETSET lock of expiry timestamps with a 1 s retry sleep, released by a DEL with no ownership check (deletes whoever holds it)";

/// The known bugs.
pub const BUGS: &[KnownBug] = &[
    KnownBug {
        id: "unchecked-del",
        what: "release is a bare DEL: a holder whose lease ended deletes the lock of the worker that took it over",
        checker: CheckerKind::Ownership,
        scenario: "stale-release",
        fault: "a critical section that outlasts the ttl while another worker takes the lock over",
        safety: true,
    },
    KnownBug {
        id: "third-holder-after-unchecked-del",
        what: "after the stale DEL a third worker acquires while the second still holds a valid lease",
        checker: CheckerKind::MutualExclusion,
        scenario: "stale-release",
        fault: "a critical section that outlasts the ttl while another worker takes the lock over",
        safety: true,
    },
    KnownBug {
        id: "skewed-clock-takeover",
        what: "a client whose clock runs ahead judges a live lock expired and takes it over with GETSET",
        checker: CheckerKind::MutualExclusion,
        scenario: "client-clock-skew",
        fault: "one worker's clock skewed ahead by more than the ttl plus the grace second",
        safety: true,
    },
];

/// The document's time constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The sleep between tries (document: 1 s).
    pub sleep: Duration,
    /// Added to the expiry timestamp beyond the ttl (document: 1 s).
    pub grace: Duration,
}

impl Params {
    /// The document's values.
    pub const DOCUMENT: Params =
        Params { sleep: Duration::from_secs(1), grace: Duration::from_secs(1) };

    /// The time constants multiplied by `factor`.
    #[must_use]
    pub fn scaled(self, factor: f64) -> Params {
        Params { sleep: scale(self.sleep, factor), grace: scale(self.grace, factor) }
    }
}

super::specimen_protocol!(
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    SetnxGetsetUnchecked
);

impl Protocol for SetnxGetsetUnchecked {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        let timeout = p.wait.map_or(0, |w| {
            let n = w.as_secs_f64() / self.params.sleep.as_secs_f64().max(1e-9);
            // A float count of sleeps, rounded down; the cast saturates.
            n.floor() as i64
        });
        Box::new(Acquire {
            p,
            params: self.params,
            timeout,
            expires: Vec::new(),
            current: Vec::new(),
            stamped_at: Duration::ZERO,
            stamp_ms: 0,
            state: State::New,
        })
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        let del = Command::Del { keys: vec![p.keys.lock] };
        // The document ignores DEL's answer; 1 means it deleted a lock it believes its own.
        Box::new(redmutex::algo::OneShot::new("release", del, |_, reply| match reply {
            Reply::Int(n) => Outcome::Released { owned: n == 1, handed: None },
            other => bad_reply("release", &other),
        }))
    }

    fn extend(&self, _: ExtendParams) -> Option<Box<dyn Machine>> {
        None
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    /// Reading the clock for this try's `expires`.
    Stamp,
    SetNx,
    Get,
    /// Reading the clock to compare the stored value with.
    Compare,
    GetSet,
    Sleeping,
}

struct Acquire {
    p: AcquireParams,
    params: Params,
    /// Tries left after this one, in the document's units (sleeps).
    timeout: i64,
    /// This try's timestamp, and when and at what wall time its clock was read.
    expires: Bytes,
    stamped_at: Duration,
    stamp_ms: u64,
    /// The value `GET` found.
    current: Bytes,
    state: State,
}

impl Acquire {
    fn won(&self) -> Action {
        Action::Done(Outcome::Acquired(Grant {
            token: self.expires.clone(),
            fence: None,
            acquired_at: self.stamped_at,
            valid_until: lease_end(self.stamped_at, self.p.ttl, self.p.drift),
            clock_ms: Some(self.stamp_ms),
        }))
    }

    /// `timeout -= 1; sleep(1)`.
    fn fail_try(&mut self) -> Action {
        self.timeout -= 1;
        self.state = State::Sleeping;
        Action::Sleep(self.params.sleep)
    }

    fn on_clock(&mut self, now: Duration, unix_ms: u64) -> Action {
        let key = self.p.keys.lock.clone();
        match self.state {
            State::Stamp => {
                let ahead = self.p.ttl + self.params.grace;
                self.expires = stamp(secs(unix_ms) + ahead.as_secs_f64());
                self.stamped_at = now;
                self.stamp_ms = unix_ms;
                self.state = State::SetNx;
                Action::Send(Command::SetNx { key, value: self.expires.clone() })
            }
            State::Compare => {
                let Some(current) = parse_stamp(&self.current) else {
                    let text = String::from_utf8_lossy(&self.current);
                    return Action::Done(Outcome::Failed(Failure::Reply {
                        op: "acquire",
                        reply: format!("{text:?}, not a timestamp"),
                    }));
                };
                if current >= secs(unix_ms) {
                    return self.fail_try();
                }
                self.state = State::GetSet;
                Action::Send(Command::GetSet { key, value: self.expires.clone() })
            }
            _ => Action::Done(unexpected(&Event::Clock(unix_ms))),
        }
    }

    fn on_reply(&mut self, reply: Reply) -> Action {
        match (self.state, reply) {
            (State::SetNx, Reply::Int(1)) => self.won(),
            (State::SetNx, Reply::Int(0)) => {
                self.state = State::Get;
                Action::Send(Command::Get { key: self.p.keys.lock.clone() })
            }
            // Python's truth test: no value, or an empty one, is no expired lock to take.
            (State::Get, Reply::Nil) => self.fail_try(),
            (State::Get, Reply::Bulk(b)) if b.is_empty() => self.fail_try(),
            (State::Get, Reply::Bulk(b)) => {
                self.current = b;
                self.state = State::Compare;
                Action::ReadClock
            }
            (State::GetSet, Reply::Bulk(b)) if b == self.current => self.won(),
            (State::GetSet, Reply::Bulk(_) | Reply::Nil) => self.fail_try(),
            (_, reply) => Action::Done(bad_reply("acquire", &reply)),
        }
    }
}

impl Machine for Acquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match (self.state, event) {
            (State::New, Event::Start) => {
                self.state = State::Stamp;
                Action::ReadClock
            }
            (State::Sleeping, Event::Slept) if self.timeout >= 0 => {
                self.state = State::Stamp;
                Action::ReadClock
            }
            (State::Sleeping, Event::Slept) => {
                let out = if self.p.wait.is_some() { Outcome::TimedOut } else { Outcome::Busy };
                Action::Done(out)
            }
            (_, Event::Clock(ms)) => self.on_clock(now, ms),
            (_, Event::Reply(r)) => self.on_reply(r),
            (_, other) => Action::Done(unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specimens::testkit::{Drive, acquire, done, grant, lock_key, release, sent};

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn a_free_lock_is_taken_by_setnx_of_now_plus_ttl_plus_one() {
        let (mut d, first) = Drive::start(DOCUMENT.acquire(acquire(60_000, Some(10_000))), 0);
        assert_eq!(first, Action::ReadClock);
        let value = b"1700000061.000".to_vec();
        assert_eq!(
            d.feed(Event::Clock(T0)),
            Action::Send(Command::SetNx { key: lock_key(), value: value.clone() })
        );
        let g = grant(d.feed(Event::Reply(Reply::Int(1))));
        assert_eq!((g.token, g.clock_ms), (value, Some(T0)));
    }

    #[test]
    fn an_expired_value_is_taken_over_only_if_getset_returns_it_unchanged() {
        let (mut d, _) = Drive::start(DOCUMENT.acquire(acquire(60_000, Some(10_000))), 0);
        let _ = d.feed(Event::Clock(T0));
        d.reply_expect_send(Reply::Int(0), &Command::Get { key: lock_key() });
        let old = b"1699999990.500".to_vec();
        assert_eq!(d.feed(Event::Reply(Reply::Bulk(old.clone()))), Action::ReadClock);
        let getset = Command::GetSet { key: lock_key(), value: b"1700000061.000".to_vec() };
        assert_eq!(d.feed(Event::Clock(T0 + 5)), Action::Send(getset));
        assert_eq!(grant(d.feed(Event::Reply(Reply::Bulk(old)))).token, b"1700000061.000");
    }

    #[test]
    fn a_raced_getset_sleeps_one_second_and_tries_again() {
        let (mut d, _) = Drive::start(DOCUMENT.acquire(acquire(60_000, Some(10_000))), 0);
        let _ = d.feed(Event::Clock(T0));
        let _ = d.feed(Event::Reply(Reply::Int(0)));
        let _ = d.feed(Event::Reply(Reply::Bulk(b"1699999990.500".to_vec())));
        let _ = d.feed(Event::Clock(T0));
        let raced = d.feed(Event::Reply(Reply::Bulk(b"1700000060.900".to_vec())));
        assert_eq!(raced, Action::Sleep(Duration::from_secs(1)));
        assert_eq!(d.feed(Event::Slept), Action::ReadClock);
    }

    #[test]
    fn timeout_counts_tries_and_sleeps_after_the_last_one() {
        // timeout = 2 s / 1 s = 2: tries at timeout 2, 1, 0, each followed by a sleep.
        let (mut d, _) = Drive::start(DOCUMENT.acquire(acquire(60_000, Some(2_000))), 0);
        for _ in 0..3 {
            assert!(matches!(sent(d.feed(Event::Clock(T0))), Command::SetNx { .. }));
            let _ = d.feed(Event::Reply(Reply::Int(0)));
            let live = d.feed(Event::Reply(Reply::Bulk(b"1700000030.000".to_vec())));
            assert_eq!(live, Action::ReadClock);
            assert_eq!(d.feed(Event::Clock(T0)), Action::Sleep(Duration::from_secs(1)));
            let next = d.feed(Event::Slept);
            if next != Action::ReadClock {
                assert_eq!(done(next), Outcome::TimedOut);
                return;
            }
        }
        panic!("more tries than timeout + 1");
    }

    #[test]
    fn release_is_a_bare_del() {
        let g = Grant {
            token: b"1700000061.000".to_vec(),
            fence: None,
            acquired_at: Duration::ZERO,
            valid_until: Duration::ZERO,
            clock_ms: Some(T0),
        };
        let (mut d, first) = Drive::start(DOCUMENT.release(release(g, 60_000)), 999_999);
        assert_eq!(first, Action::Send(Command::Del { keys: vec![lock_key()] }));
        assert_eq!(
            done(d.feed(Event::Reply(Reply::Int(1)))),
            Outcome::Released { owned: true, handed: None }
        );
    }
}
