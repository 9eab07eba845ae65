//! `poll-get-del` (seed 001): a mutex "inspired by" the Redis distributed-lock page, with a
//! random value, a fixed poll delay and a block-time limit.
//!
//! **What the document does.** Acquire sends `SET key value NX EX expiry` with a random value.
//! A non-blocking mutex answers at once. A blocking one polls: after each failed attempt it
//! sleeps `delay` and tries again, until `block_time` has passed, then raises
//! `BlockTimeExceedError`. The key expires after `expiry` seconds if never released. Release
//! reads the key with `GET`, compares it with its value, and when they match sends `DEL`: three
//! steps, two of them round trips to the server.
//!
//! **What is wrong with it.** The compare and the delete are not atomic. Between the `GET`
//! that saw our value and the `DEL` (step 1 of the release), the lease can end and another
//! client can take the lock; the `DEL` then removes *that* client's lock, and a third client
//! gets in while the second still works (ownership, then mutual exclusion;
//! `release-step-delay` with a pause before step 1). Without a fault the window is one round
//! trip, so it is rare, not absent.
//!
//! **Mapping.** `expiry` = the harness ttl rounded up to whole seconds (EX takes seconds;
//! rounding down would shorten the lease). `block_time` = the wait timeout; no wait means a
//! non-blocking mutex. The poll gives up when the next sleep would end past the block time, so
//! an acquire never outlasts its wait timeout by more than a round trip. The document's
//! constructor checks (`delay < block_time < expiry`) are not enforced: the harness chooses ttl
//! and wait per scenario, and they do not change the algorithm.

use std::time::Duration;

use redmutex::algo::{
    AcquireParams, ExtendParams, Protocol, ReleaseParams, bad_reply, set_nx, unexpected,
};
use redmutex::proto::{Action, Command, Event, Expiry, Machine, Outcome, Reply};

use super::CheckerKind;
use super::{KnownBug, scale, whole_secs};

/// The specimen's name.
pub const NAME: &str = "poll-get-del";

/// One line for `contend list`.
pub const SUMMARY: &str = "a small Python mutex package \"inspired by\" the Redis lock page: SET NX EX, fixed poll delay, block time; release GETs, compares, then DELs (a stale release deletes the next holder's lock)";

/// The known bugs.
pub const BUGS: &[KnownBug] = &[
    KnownBug {
        id: "del-after-get",
        what: "release compares with GET and deletes with a separate DEL; a lock taken over in between is deleted",
        checker: CheckerKind::Ownership,
        scenario: "release-step-delay",
        fault: "pause before release step 1 (the DEL) until the lease has ended and another worker took over",
        safety: true,
    },
    KnownBug {
        id: "third-holder-after-stale-del",
        what: "after the stale DEL a third worker acquires while the second still holds a valid lease",
        checker: CheckerKind::MutualExclusion,
        scenario: "release-step-delay",
        fault: "pause before release step 1 (the DEL) until the lease has ended and another worker took over",
        safety: true,
    },
];

/// The document's time constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The sleep between polls (document: 0.5 s).
    pub delay: Duration,
}

impl Params {
    /// The document's values.
    pub const DOCUMENT: Params = Params { delay: Duration::from_millis(500) };

    /// The time constants multiplied by `factor`.
    #[must_use]
    pub fn scaled(self, factor: f64) -> Params {
        Params { delay: scale(self.delay, factor) }
    }
}

super::specimen_protocol!(
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    PollGetDel
);

impl Protocol for PollGetDel {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        Box::new(Acquire { p, delay: self.params.delay, started: None, sent_at: Duration::ZERO })
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Box::new(Release { p, state: ReleaseState::New })
    }

    fn extend(&self, _: ExtendParams) -> Option<Box<dyn Machine>> {
        None
    }
}

struct Acquire {
    p: AcquireParams,
    delay: Duration,
    started: Option<Duration>,
    sent_at: Duration,
}

impl Acquire {
    fn attempt(&mut self, now: Duration) -> Action {
        self.sent_at = now;
        Action::Send(set_nx(&self.p.keys.lock, self.p.token, Expiry::Ex(whole_secs(self.p.ttl))))
    }

    fn on_reply(&mut self, now: Duration, reply: &Reply) -> Action {
        if let Some(end) = super::set_nx_end(&self.p, self.sent_at, reply) {
            return end;
        }
        let Some(block_time) = self.p.wait else { return Action::Done(Outcome::Busy) };
        let waited = now.saturating_sub(self.started.unwrap_or(now));
        if waited + self.delay > block_time {
            return Action::Done(Outcome::TimedOut);
        }
        Action::Sleep(self.delay)
    }
}

impl Machine for Acquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match event {
            Event::Start if self.started.is_none() => {
                self.started = Some(now);
                self.attempt(now)
            }
            Event::Slept => self.attempt(now),
            Event::Reply(reply) => self.on_reply(now, &reply),
            other => Action::Done(unexpected(&other)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReleaseState {
    New,
    Get,
    Del,
}

struct Release {
    p: ReleaseParams,
    state: ReleaseState,
}

impl Machine for Release {
    fn handle(&mut self, _now: Duration, event: Event) -> Action {
        let key = self.p.keys.lock.clone();
        match (self.state, event) {
            (ReleaseState::New, Event::Start) => {
                self.state = ReleaseState::Get;
                Action::Send(Command::Get { key })
            }
            (ReleaseState::Get, Event::Reply(Reply::Bulk(v))) if v == self.p.grant.token => {
                // The race window: the lease may end, and another client win, before this DEL.
                self.state = ReleaseState::Del;
                Action::Send(Command::Del { keys: vec![key] })
            }
            (ReleaseState::Get, Event::Reply(Reply::Bulk(_) | Reply::Nil)) => {
                Action::Done(Outcome::Released { owned: false, handed: None })
            }
            (ReleaseState::Del, Event::Reply(Reply::Int(n))) => {
                Action::Done(Outcome::Released { owned: n == 1, handed: None })
            }
            (_, Event::Reply(r)) => Action::Done(bad_reply("release", &r)),
            (_, other) => Action::Done(unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specimens::testkit::{Drive, acquire, done, grant, lock_key, release};
    use redmutex::proto::{Grant, SetCond};

    fn set_nx_ex(secs: u64) -> Command {
        Command::Set {
            key: lock_key(),
            value: redmutex::proto::Token::from_u128(7).to_bytes(),
            cond: Some(SetCond::Nx),
            expiry: Some(Expiry::Ex(secs)),
            get: false,
        }
    }

    #[test]
    fn acquire_sets_nx_ex_with_the_ttl_in_whole_seconds() {
        let (mut d, first) = Drive::start(DOCUMENT.acquire(acquire(1_500, None)), 0);
        assert_eq!(first, Action::Send(set_nx_ex(2)));
        let g = grant(d.feed(Event::Reply(Reply::Status("OK".into()))));
        assert_eq!(g.token, redmutex::proto::Token::from_u128(7).to_bytes());
        assert_eq!(g.valid_until, Duration::from_millis(1_500));
    }

    #[test]
    fn a_busy_lock_is_polled_every_delay_until_the_block_time() {
        let (mut d, _) = Drive::start(DOCUMENT.acquire(acquire(7_000, Some(1_200))), 0);
        assert_eq!(d.feed(Event::Reply(Reply::Nil)), Action::Sleep(Duration::from_millis(500)));
        d.now_ms = 500;
        assert_eq!(d.feed(Event::Slept), Action::Send(set_nx_ex(7)));
        assert_eq!(d.feed(Event::Reply(Reply::Nil)), Action::Sleep(Duration::from_millis(500)));
        d.now_ms = 1_000;
        let _ = d.feed(Event::Slept);
        // Another 0.5 s would pass the 1.2 s block time.
        assert_eq!(done(d.feed(Event::Reply(Reply::Nil))), Outcome::TimedOut);
    }

    #[test]
    fn a_non_blocking_mutex_answers_busy_at_once() {
        let (mut d, _) = Drive::start(DOCUMENT.acquire(acquire(7_000, None)), 0);
        assert_eq!(done(d.feed(Event::Reply(Reply::Nil))), Outcome::Busy);
    }

    fn ours() -> Grant {
        Grant {
            token: b"mine".to_vec(),
            fence: None,
            acquired_at: Duration::ZERO,
            valid_until: Duration::from_secs(7),
            clock_ms: None,
        }
    }

    #[test]
    fn release_is_get_then_del_as_two_steps() {
        let (mut d, first) = Drive::start(DOCUMENT.release(release(ours(), 7_000)), 0);
        assert_eq!(first, Action::Send(Command::Get { key: lock_key() }));
        // Step 1 is the DEL, sent only after the GET's answer came back.
        d.reply_expect_send(
            Reply::Bulk(b"mine".to_vec()),
            &Command::Del { keys: vec![lock_key()] },
        );
        assert_eq!(
            done(d.feed(Event::Reply(Reply::Int(1)))),
            Outcome::Released { owned: true, handed: None }
        );
    }

    #[test]
    fn release_of_a_lock_someone_else_holds_deletes_nothing() {
        let (mut d, _) = Drive::start(DOCUMENT.release(release(ours(), 7_000)), 0);
        let theirs = d.feed(Event::Reply(Reply::Bulk(b"theirs".to_vec())));
        assert_eq!(done(theirs), Outcome::Released { owned: false, handed: None });
    }
}
