//! `notify`: waiters block instead of polling, and a release hands the lock to exactly one of
//! them.
//!
//! Acquire first tries a plain `SET NX PX` (one round trip, no script, when the lock is free),
//! then runs [`scripts::NOTIFY_ACQUIRE`]: it takes a free lock, or a lock that a release left
//! for whoever comes next, or counts the caller as a waiter and answers the holder's remaining
//! ttl. The waiter then blocks on `BLPOP signal` for at most that remaining ttl (and at most
//! half a ttl), so a lock that expires instead of being released still wakes it.
//!
//! Release runs [`scripts::NOTIFY_RELEASE`]: with a waiter counted, it stores a fresh token with a
//! new lease and pushes that token to the signal list. Redis gives the pushed item to the
//! longest-blocked `BLPOP`, whose client now owns the lock: one command wakes one waiter, and no
//! late-comer can barge in between. Steady contention costs three commands per acquisition
//! (the failed attempt, the `BLPOP`, the release).
//!
//! Why the lease of a handed-over lock is safe to count from the waiter's last acquire attempt:
//! every attempt drains the signal list in the same atomic step, so an item a waiter pops was
//! pushed, and its lease started, after that attempt was sent.
//!
//! The waiter count is a hint, not an invariant: a waiter that gives up or dies stays counted
//! until a release spends its count on a hand-off nobody is blocked for. Such a lock is then
//! taken by the next acquire attempt of anyone (the script drains the list), or expires.

use std::time::Duration;

use super::{
    AcquireParams, ExtendParams, Protocol, ReleaseParams, bad_reply, checked_extend,
    checked_release, grant, lease_end, set_nx, unexpected,
};
use crate::proto::{Action, Command, Event, Expiry, Machine, Outcome, Reply, millis, num};
use crate::scripts;

/// The `notify` algorithm.
#[derive(Clone, Copy, Debug, Default)]
pub struct Notify;

impl Protocol for Notify {
    fn name(&self) -> &'static str {
        "notify"
    }

    /// An acquire that waits starts with a plain `SET NX PX` (the uncontended fast path, no
    /// script); only when that finds the lock busy does it run the acquire script. A try
    /// (no wait) runs the script at once, so it also takes a lock left for whoever comes next.
    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine> {
        Box::new(NotifyAcquire::new(params, true))
    }

    /// Skips the plain `SET` and runs the acquire script at once, saving a round trip when the
    /// lock is likely busy.
    fn acquire_contended(&self, params: AcquireParams) -> Box<dyn Machine> {
        Box::new(NotifyAcquire::new(params, false))
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        let args = vec![p.grant.token, p.fresh_token.to_bytes(), num(millis(p.ttl))];
        let keys = vec![p.keys.lock, p.keys.waiters, p.keys.signal];
        Box::new(checked_release(&scripts::NOTIFY_RELEASE, args, keys))
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Some(Box::new(checked_extend(&p)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    /// The plain `SET NX PX` of the fast path is in flight.
    Fast,
    Trying,
    Blocked,
}

struct NotifyAcquire {
    p: AcquireParams,
    deadline: Option<Duration>,
    /// When the last acquire attempt was sent: the earliest a handed-over lease can have begun.
    sent_at: Duration,
    state: State,
    fast_first: bool,
    /// Whether an attempt of ours counted us as a waiter.
    counted: bool,
}

impl NotifyAcquire {
    fn new(p: AcquireParams, fast_first: bool) -> NotifyAcquire {
        NotifyAcquire {
            p,
            deadline: None,
            sent_at: Duration::ZERO,
            state: State::New,
            fast_first,
            counted: false,
        }
    }

    fn fast(&mut self, now: Duration) -> Action {
        self.sent_at = now;
        self.state = State::Fast;
        Action::Send(set_nx(&self.p.keys.lock, self.p.token, Expiry::Px(millis(self.p.ttl))))
    }

    fn attempt(&mut self, now: Duration) -> Action {
        self.sent_at = now;
        self.state = State::Trying;
        // See the script's doc: 0 = a try, 1 = a first look by a waiter (counts itself when
        // busy), 2 = a counted waiter looking again after its wait ran out.
        let mode = match (self.deadline, self.counted) {
            (None, _) => "0",
            (Some(_), false) => "1",
            (Some(_), true) => "2",
        };
        Action::Send(Command::Eval {
            script: &scripts::NOTIFY_ACQUIRE,
            keys: vec![
                self.p.keys.lock.clone(),
                self.p.keys.waiters.clone(),
                self.p.keys.signal.clone(),
            ],
            args: vec![self.p.token.to_bytes(), num(millis(self.p.ttl)), mode.into()],
        })
    }

    fn won(&self, token: Vec<u8>, now: Duration) -> Action {
        let valid_until = lease_end(self.sent_at, self.p.ttl, self.p.drift);
        if valid_until <= now {
            // A hand-off so late that its lease may be over; never report a lock we may not hold.
            return Action::Done(Outcome::Failed("hand-off arrived after its lease".into()));
        }
        Action::Done(Outcome::Acquired(grant(token, self.sent_at, self.p.ttl, self.p.drift)))
    }

    fn on_attempt(&mut self, now: Duration, reply: Reply) -> Action {
        let Reply::Array(items) = &reply else { return Action::Done(bad_reply("acquire", &reply)) };
        match items.as_slice() {
            [Reply::Int(1), Reply::Bulk(token)] => self.won(token.clone(), now),
            [Reply::Int(0), Reply::Int(pttl)] => {
                let Some(deadline) = self.deadline else { return Action::Done(Outcome::Busy) };
                if now >= deadline {
                    return Action::Done(Outcome::TimedOut);
                }
                let remaining = match *pttl {
                    // No expiry on the key (not ours to judge): look again after half a ttl.
                    -1 => self.p.ttl,
                    ms if ms <= 0 => Duration::from_millis(1),
                    ms => Duration::from_millis(ms.unsigned_abs()),
                };
                let block =
                    remaining.min(self.p.ttl / 2).min(deadline - now).max(Duration::from_millis(1));
                self.state = State::Blocked;
                Action::Send(Command::BLPop { key: self.p.keys.signal.clone(), timeout: block })
            }
            _ => Action::Done(bad_reply("acquire", &reply)),
        }
    }

    fn on_wake(&mut self, now: Duration, reply: Reply) -> Action {
        match reply {
            // Timed out: the holder's lease ran out, or it extended; look again.
            Reply::Nil => self.attempt(now),
            Reply::Array(items) => match items.as_slice() {
                [_, Reply::Bulk(token)] => self.won(token.clone(), now),
                _ => Action::Done(bad_reply("wait", &Reply::Array(items))),
            },
            other => Action::Done(bad_reply("wait", &other)),
        }
    }
}

impl Machine for NotifyAcquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match (self.state, event) {
            (State::New, Event::Start) => {
                self.deadline = self.p.wait.map(|w| now + w);
                if self.fast_first && self.deadline.is_some() {
                    self.fast(now)
                } else {
                    self.attempt(now)
                }
            }
            (State::Fast, Event::Reply(r)) if r.is_ok() => self.won(self.p.token.to_bytes(), now),
            (State::Fast, Event::Reply(Reply::Nil)) => self.attempt(now),
            (State::Fast, Event::Reply(r)) => Action::Done(bad_reply("acquire", &r)),
            (State::Trying, Event::Reply(r)) => self.on_attempt(now, r),
            (State::Blocked, Event::Reply(r)) => self.on_wake(now, r),
            (_, other) => Action::Done(unexpected(&other)),
        }
    }
}
