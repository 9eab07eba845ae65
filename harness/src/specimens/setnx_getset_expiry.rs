//! `setnx-getset-expiry` (seed 000): the "locking with SETNX" design pattern with an expiry
//! timestamp as the value.
//!
//! **What the document does.** Acquire runs up to `retry_count` rounds. A round first tries
//! `SETNX key (now + expire)`; when the key exists it `GET`s the stored expiry, and when `GET`
//! finds nothing (released in between) it tries `SETNX` again, up to `retry_setnx_count` times
//! before giving up with an error. If the stored expiry is still in the future it sleeps
//! `retry_sleep` and starts the next round. If it has passed, it `GETSET`s its own
//! `now + expire`: when the old value it gets back has passed too (or there was none) the lock
//! is its own; otherwise someone raced it to the takeover, and it sleeps and starts the next
//! round. Every `now` is a fresh read of the client's wall clock. The key has no Redis expiry.
//! Release reads the clock again: when `now − lock time ≥ expire` it refuses (the document
//! raises `ExpiredLockError`) and deletes nothing; otherwise it sends a plain `DEL`.
//!
//! **What is wrong with it.**
//! - Expiry is judged by each *client's* wall clock against a timestamp another client wrote:
//!   a client whose clock runs ahead sees a live lock as expired and takes it over with
//!   `GETSET` (mutual exclusion, `client-clock-skew`). The victim, whose own elapsed-time
//!   check still passes, then `DEL`s the usurper's lock (ownership).
//! - The release's elapsed-time check and its `DEL` are two steps: a holder that passes the
//!   check just before its lease ends and is delayed before the `DEL` deletes the lock of
//!   whoever took it over meanwhile (ownership, `release-step-delay` before step 1).
//! - A client that loses the `GETSET` race has still overwritten the winner's timestamp.
//!
//! **Mapping.** `expire` = the harness ttl (fractional seconds). `retry_count` = the wait
//! timeout divided by `retry_sleep`, rounded down, at least 1 (the document's own rule:
//! "retry_count × retry_sleep_sec = maximum waiting time"); with no wait, one round, which still
//! sleeps once when the lock is busy, as in the document, then answers `Busy`. The grant's
//! token is the timestamp written; its lease counts from the clock read that produced it;
//! `clock_ms` is the lock time the release compares against.

use std::time::Duration;

use redmutex::algo::{
    AcquireParams, ExtendParams, Protocol, ReleaseParams, bad_reply, lease_end, unexpected,
};
use redmutex::proto::{Action, Bytes, Command, Event, Failure, Grant, Machine, Outcome, Reply};

use super::CheckerKind;
use super::{KnownBug, parse_stamp, scale, secs, stamp};

/// The specimen's name.
pub const NAME: &str = "setnx-getset-expiry";

/// One line for `contend list`.
pub const SUMMARY: &str = "a blog post's \"locking with SETNX\" pattern: SETNX of an expiry timestamp, GET/GETSET takeover by the client's clock, elapsed-time check then DEL (clock skew and slow releases break it)";

/// The known bugs.
pub const BUGS: &[KnownBug] = &[
    KnownBug {
        id: "skewed-clock-takeover",
        what: "a client whose clock runs ahead judges a live lock expired and takes it over with GETSET",
        checker: CheckerKind::MutualExclusion,
        scenario: "client-clock-skew",
        fault: "one worker's clock skewed ahead by more than the ttl",
        safety: true,
    },
    KnownBug {
        id: "victim-deletes-usurper",
        what: "the holder whose lock was taken over by a skewed client passes its own elapsed check and DELs the usurper's lock",
        checker: CheckerKind::Ownership,
        scenario: "client-clock-skew",
        fault: "one worker's clock skewed ahead by more than the ttl",
        safety: true,
    },
    KnownBug {
        id: "del-after-elapsed-check",
        what: "the release's elapsed-time check and its DEL are separate steps; a delay between them deletes the next holder's lock",
        checker: CheckerKind::Ownership,
        scenario: "release-step-delay",
        fault: "pause before release step 1 (the DEL) until the lease has ended and another worker took over",
        safety: true,
    },
];

/// The document's time constants and retry limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The sleep between rounds (document: 0.25 s).
    pub retry_sleep: Duration,
    /// How many `SETNX` attempts one round makes while `GET` finds the key gone (document: 100).
    pub retry_setnx_count: u32,
}

impl Params {
    /// The document's values.
    pub const DOCUMENT: Params =
        Params { retry_sleep: Duration::from_millis(250), retry_setnx_count: 100 };

    /// The time constants multiplied by `factor`.
    #[must_use]
    pub fn scaled(self, factor: f64) -> Params {
        Params { retry_sleep: scale(self.retry_sleep, factor), ..self }
    }
}

super::specimen_protocol!(
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    SetnxGetsetExpiry
);

impl Protocol for SetnxGetsetExpiry {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        let rounds = p.wait.map_or(1, |w| {
            let n = w.as_secs_f64() / self.params.retry_sleep.as_secs_f64().max(1e-9);
            // A float count of sleeps, rounded down; the cast saturates.
            let n = n.floor() as u32;
            n.max(1)
        });
        Box::new(Acquire {
            p,
            params: self.params,
            rounds,
            round: 0,
            setnx_tries: 0,
            value: Vec::new(),
            stamped_at: Duration::ZERO,
            state: State::New,
        })
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Box::new(Release { p, state: ReleaseState::New })
    }

    fn extend(&self, _: ExtendParams) -> Option<Box<dyn Machine>> {
        None
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    New,
    /// Reading the clock for the value of a `SETNX`.
    StampSetNx,
    SetNx,
    Get,
    /// `_need_retry(old)` after `GET`: reading the clock to compare.
    CheckStored(f64),
    /// Reading the clock for the value of a `GETSET`.
    StampGetSet,
    GetSet,
    /// `_need_retry(old)` after `GETSET`: reading the clock to compare.
    CheckTaken(f64),
    Sleeping,
    /// Won; reading the clock for the lock time.
    StampLock,
}

struct Acquire {
    p: AcquireParams,
    params: Params,
    rounds: u32,
    round: u32,
    setnx_tries: u32,
    /// The value of the last `SETNX`/`GETSET`, and when its clock was read.
    value: Bytes,
    stamped_at: Duration,
    state: State,
}

impl Acquire {
    fn start_round(&mut self) -> Action {
        if self.round >= self.rounds {
            let out = if self.p.wait.is_some() { Outcome::TimedOut } else { Outcome::Busy };
            return Action::Done(out);
        }
        self.setnx_tries = 0;
        self.try_setnx()
    }

    fn try_setnx(&mut self) -> Action {
        if self.setnx_tries >= self.params.retry_setnx_count {
            return Action::Done(Outcome::Failed(Failure::Other(format!(
                "SetnxError: {} SETNX attempts found the key gone by the GET",
                self.params.retry_setnx_count
            ))));
        }
        self.setnx_tries += 1;
        self.state = State::StampSetNx;
        Action::ReadClock
    }

    /// `_need_retry`: false when `old` has passed; else sleep and take the next round.
    fn need_retry(&mut self, old: f64, now_s: f64, then: State) -> Action {
        if old < now_s {
            self.state = then;
            return Action::ReadClock;
        }
        self.round += 1;
        self.state = State::Sleeping;
        Action::Sleep(self.params.retry_sleep)
    }

    fn stamped(&mut self, now: Duration, unix_ms: u64) -> Bytes {
        self.stamped_at = now;
        self.value = stamp(secs(unix_ms) + self.p.ttl.as_secs_f64());
        self.value.clone()
    }

    fn on_clock(&mut self, now: Duration, unix_ms: u64) -> Action {
        let key = self.p.keys.lock.clone();
        match self.state {
            State::StampSetNx => {
                let value = self.stamped(now, unix_ms);
                self.state = State::SetNx;
                Action::Send(Command::SetNx { key, value })
            }
            State::CheckStored(old) => self.need_retry(old, secs(unix_ms), State::StampGetSet),
            State::StampGetSet => {
                let value = self.stamped(now, unix_ms);
                self.state = State::GetSet;
                Action::Send(Command::GetSet { key, value })
            }
            State::CheckTaken(old) => self.need_retry(old, secs(unix_ms), State::StampLock),
            State::StampLock => Action::Done(Outcome::Acquired(Grant {
                token: self.value.clone(),
                fence: None,
                acquired_at: self.stamped_at,
                valid_until: lease_end(self.stamped_at, self.p.ttl, self.p.drift),
                clock_ms: Some(unix_ms),
            })),
            _ => Action::Done(unexpected(&Event::Clock(unix_ms))),
        }
    }

    fn on_reply(&mut self, reply: Reply) -> Action {
        match (self.state, reply) {
            (State::SetNx, Reply::Int(1)) => {
                self.state = State::StampLock;
                Action::ReadClock
            }
            (State::SetNx, Reply::Int(0)) => {
                self.state = State::Get;
                Action::Send(Command::Get { key: self.p.keys.lock.clone() })
            }
            // Released between SETNX and GET: try SETNX again.
            (State::Get, Reply::Nil) => self.try_setnx(),
            (State::Get, Reply::Bulk(b)) => self.compare(&b, State::CheckStored),
            // No old value: `_getset` answers 0, which has always passed.
            (State::GetSet, Reply::Nil) => {
                self.state = State::CheckTaken(0.0);
                Action::ReadClock
            }
            (State::GetSet, Reply::Bulk(b)) => self.compare(&b, State::CheckTaken),
            (_, reply) => Action::Done(bad_reply("acquire", &reply)),
        }
    }

    fn compare(&mut self, stored: &[u8], then: fn(f64) -> State) -> Action {
        let Some(old) = parse_stamp(stored) else {
            let text = String::from_utf8_lossy(stored);
            return Action::Done(Outcome::Failed(Failure::Reply {
                op: "acquire",
                reply: format!("{text:?}, not a timestamp"),
            }));
        };
        self.state = then(old);
        Action::ReadClock
    }
}

impl Machine for Acquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match (self.state, event) {
            (State::New, Event::Start) => self.start_round(),
            (State::Sleeping, Event::Slept) => self.start_round(),
            (_, Event::Clock(ms)) => self.on_clock(now, ms),
            (_, Event::Reply(r)) => self.on_reply(r),
            (_, other) => Action::Done(unexpected(&other)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReleaseState {
    New,
    Clock,
    Del,
}

struct Release {
    p: ReleaseParams,
    state: ReleaseState,
}

impl Machine for Release {
    fn handle(&mut self, _now: Duration, event: Event) -> Action {
        match (self.state, event) {
            (ReleaseState::New, Event::Start) => {
                self.state = ReleaseState::Clock;
                Action::ReadClock
            }
            (ReleaseState::Clock, Event::Clock(ms)) => {
                let Some(locked_ms) = self.p.grant.clock_ms else {
                    return Action::Done(Outcome::Failed(Failure::Other(
                        "the grant has no lock time".into(),
                    )));
                };
                let elapsed = secs(ms) - secs(locked_ms);
                if self.p.ttl.as_secs_f64() <= elapsed {
                    // ExpiredLockError: refuse, delete nothing.
                    return Action::Done(Outcome::Released { owned: false, handed: None });
                }
                self.state = ReleaseState::Del;
                Action::Send(Command::Del { keys: vec![self.p.keys.lock.clone()] })
            }
            // The document ignores DEL's answer; 1 means it deleted a lock it believes its own.
            (ReleaseState::Del, Event::Reply(Reply::Int(n))) => {
                Action::Done(Outcome::Released { owned: n == 1, handed: None })
            }
            (ReleaseState::Del, Event::Reply(r)) => Action::Done(bad_reply("release", &r)),
            (_, other) => Action::Done(unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use redmutex::proto::Command;

    use super::*;
    use crate::specimens::testkit::{Drive, acquire, done, grant, lock_key, release, sent};

    const T0: u64 = 1_700_000_000_000;

    fn spec() -> SetnxGetsetExpiry {
        SetnxGetsetExpiry::new(Params::DOCUMENT)
    }

    #[test]
    fn a_free_lock_is_taken_by_setnx_of_now_plus_expire() {
        let (mut d, first) = Drive::start(spec().acquire(acquire(10_000, Some(1_500))), 5);
        assert_eq!(first, Action::ReadClock);
        let value = b"1700000010.000".to_vec();
        assert_eq!(
            d.feed(Event::Clock(T0)),
            Action::Send(Command::SetNx { key: lock_key(), value: value.clone() })
        );
        assert_eq!(d.feed(Event::Reply(Reply::Int(1))), Action::ReadClock);
        let g = grant(d.feed(Event::Clock(T0 + 3)));
        assert_eq!(g.token, value);
        assert_eq!(g.clock_ms, Some(T0 + 3));
        assert_eq!(g.valid_until, Duration::from_millis(10_005));
    }

    #[test]
    fn an_expired_timestamp_is_taken_over_with_getset() {
        let (mut d, _) = Drive::start(spec().acquire(acquire(10_000, Some(1_500))), 0);
        let _ = d.feed(Event::Clock(T0));
        d.reply_expect_send(Reply::Int(0), &Command::Get { key: lock_key() });
        // The stored expiry passed a second ago.
        assert_eq!(
            d.feed(Event::Reply(Reply::Bulk(b"1699999999.000".to_vec()))),
            Action::ReadClock
        );
        assert_eq!(d.feed(Event::Clock(T0)), Action::ReadClock);
        let getset = Command::GetSet { key: lock_key(), value: b"1700000010.001".to_vec() };
        assert_eq!(d.feed(Event::Clock(T0 + 1)), Action::Send(getset));
        // GETSET hands back the same expired value: nobody raced us.
        assert_eq!(
            d.feed(Event::Reply(Reply::Bulk(b"1699999999.000".to_vec()))),
            Action::ReadClock
        );
        assert_eq!(d.feed(Event::Clock(T0 + 2)), Action::ReadClock);
        assert_eq!(grant(d.feed(Event::Clock(T0 + 2))).token, b"1700000010.001");
    }

    #[test]
    fn losing_the_getset_race_sleeps_and_takes_the_next_round() {
        let (mut d, _) = Drive::start(spec().acquire(acquire(10_000, Some(500))), 0);
        let _ = d.feed(Event::Clock(T0));
        let _ = d.feed(Event::Reply(Reply::Int(0)));
        let _ = d.feed(Event::Reply(Reply::Bulk(b"1699999999.000".to_vec())));
        let _ = d.feed(Event::Clock(T0));
        let _ = d.feed(Event::Clock(T0));
        // Someone else's fresh expiry came back: they won.
        assert_eq!(
            d.feed(Event::Reply(Reply::Bulk(b"1700000009.000".to_vec()))),
            Action::ReadClock
        );
        assert_eq!(d.feed(Event::Clock(T0)), Action::Sleep(Duration::from_millis(250)));
        // Round 2 of 2 (0.5 s / 0.25 s) finds a live lock, sleeps, and gives up.
        assert_eq!(d.feed(Event::Slept), Action::ReadClock);
        let _ = d.feed(Event::Clock(T0));
        let _ = d.feed(Event::Reply(Reply::Int(0)));
        let _ = d.feed(Event::Reply(Reply::Bulk(b"1700000009.000".to_vec())));
        assert_eq!(d.feed(Event::Clock(T0)), Action::Sleep(Duration::from_millis(250)));
        assert_eq!(done(d.feed(Event::Slept)), Outcome::TimedOut);
    }

    #[test]
    fn a_key_gone_by_the_get_retries_setnx_then_fails_after_the_limit() {
        let params = Params { retry_setnx_count: 2, ..Params::DOCUMENT };
        let (mut d, _) =
            Drive::start(SetnxGetsetExpiry::new(params).acquire(acquire(1_000, None)), 0);
        for _ in 0..2 {
            assert!(matches!(sent(d.feed(Event::Clock(T0))), Command::SetNx { .. }));
            d.reply_expect_send(Reply::Int(0), &Command::Get { key: lock_key() });
            let next = d.feed(Event::Reply(Reply::Nil));
            if next != Action::ReadClock {
                assert!(
                    matches!(done(next), Outcome::Failed(Failure::Other(e)) if e.contains("SetnxError"))
                );
                return;
            }
        }
        panic!("the SETNX retries did not stop");
    }

    #[test]
    fn a_skewed_clock_takes_over_a_live_lock() {
        // The holder wrote T0 + 10 s; this client's clock reads T0 + 20 s.
        let (mut d, _) = Drive::start(spec().acquire(acquire(10_000, None)), 0);
        let _ = d.feed(Event::Clock(T0 + 20_000));
        let _ = d.feed(Event::Reply(Reply::Int(0)));
        let _ = d.feed(Event::Reply(Reply::Bulk(b"1700000010.000".to_vec())));
        // Its clock says the stored expiry passed ten seconds ago.
        assert_eq!(d.feed(Event::Clock(T0 + 20_000)), Action::ReadClock);
        assert!(matches!(sent(d.feed(Event::Clock(T0 + 20_000))), Command::GetSet { .. }));
        let _ = d.feed(Event::Reply(Reply::Bulk(b"1700000010.000".to_vec())));
        let _ = d.feed(Event::Clock(T0 + 20_000));
        let _ = grant(d.feed(Event::Clock(T0 + 20_000)));
    }

    fn held(clock_ms: u64) -> Grant {
        Grant {
            token: b"x".to_vec(),
            fence: None,
            acquired_at: Duration::ZERO,
            valid_until: Duration::from_secs(10),
            clock_ms: Some(clock_ms),
        }
    }

    #[test]
    fn release_checks_elapsed_time_then_sends_a_plain_del() {
        let (mut d, first) = Drive::start(spec().release(release(held(T0), 10_000)), 0);
        assert_eq!(first, Action::ReadClock);
        assert_eq!(
            d.feed(Event::Clock(T0 + 9_999)),
            Action::Send(Command::Del { keys: vec![lock_key()] })
        );
        assert_eq!(
            done(d.feed(Event::Reply(Reply::Int(1)))),
            Outcome::Released { owned: true, handed: None }
        );
    }

    #[test]
    fn release_after_expire_refuses_and_deletes_nothing() {
        let (mut d, _) = Drive::start(spec().release(release(held(T0), 10_000)), 0);
        assert_eq!(
            done(d.feed(Event::Clock(T0 + 10_000))),
            Outcome::Released { owned: false, handed: None }
        );
    }
}
