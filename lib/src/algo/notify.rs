//! `notify`: waiters block instead of polling, and a release hands the lock to exactly one of
//! them, oldest first.
//!
//! Acquire first tries a plain `SET NX PX` (one round trip, no script, when the lock is free),
//! then runs [`scripts::NOTIFY_ACQUIRE`]: it takes a free lock, or a lock a release handed to
//! the caller, or puts the caller's token on the waiters list and answers the holder's remaining
//! ttl. The waiter then blocks on `BLPOP` of its own signal list for at most that remaining ttl
//! (and at most half a ttl), so a lock that expires instead of being released still wakes it.
//!
//! Release runs [`scripts::NOTIFY_RELEASE`]: with a waiter queued, it pops the oldest, stores
//! *that waiter's own token* in the lock with a new lease, and pushes the token to the waiter's
//! signal list. The waiter owns the lock from that instant, whether or not it is still blocked:
//! no late-comer can barge in, and one command wakes one waiter. Steady contention costs three
//! commands per acquisition (the failed attempt, the `BLPOP`, the release).
//!
//! The accounting is exact: a waiter is on the list at most once, and leaves it when it takes
//! the lock by any path (the scripts remove it), when it gives up at its deadline (a last look,
//! which also takes the lock if it was just handed over), or when its acquire is abandoned:
//! then the release script, run with the abandoned token, withdraws it, and if the lock was
//! handed to that token meanwhile, passes it on. Because a hand-off stores the waiter's own
//! token, whoever knows that token can always undo it; no hand-off is ever lost.
//!
//! Why the lease of a handed-over lock is safe to count from the waiter's last acquire attempt:
//! every attempt that does not take the lock empties the caller's signal list in the same atomic
//! step, so an item a waiter pops was pushed, and its lease started, after that attempt was
//! sent.
//!
//! Dead waiters: each look marks the waiter alive for a ttl (`signal:token:alive`; a waiter
//! looks again at least every half ttl), and a release hands the lock only to a waiter still
//! marked, dropping the others from the queue. A waiter that dies without any clean-up (a
//! killed process) can therefore be handed the lock only within a ttl of its last look (then
//! the lock lies with it for one more ttl); after that it is skipped.
//!
//! What stays on the server: nothing once every acquire has ended (the waiters list, signal
//! lists and marks are deleted as they empty, and expire after a ttl without a look). A waiter
//! that died without clean-up stays on the waiters list, which the others' looks keep alive:
//! the list then goes a ttl after the last look ([`Protocol::renewed_keys`]).

use std::time::Duration;

use super::{
    AcquireParams, ExtendParams, Protocol, ReleaseParams, bad_reply, checked_extend,
    checked_release, grant, lease_end, set_nx, unexpected,
};
use crate::proto::{
    Action, Bytes, Command, Event, Expiry, Keys, Machine, Outcome, Reply, Script, millis, num,
};
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

    /// A waiter's look marks it alive for a ttl (it looks again at least every half ttl while it
    /// waits); a release skips waiters whose mark has expired.
    fn dead_waiter_window(&self, ttl: Duration) -> Duration {
        ttl
    }

    /// The waiters list: each look that does not take the lock renews it for a ttl.
    fn renewed_keys(&self, keys: &Keys) -> Vec<Bytes> {
        vec![keys.waiters.clone()]
    }

    /// Hands the lock to the oldest waiter, or deletes it. Run with a token that does not hold
    /// the lock (an abandoned acquire's), it withdraws that token from the waiters instead.
    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        let own_signal = signal_of(&p.keys, &p.grant.token);
        let args = vec![p.grant.token, num(millis(p.ttl))];
        let keys = vec![p.keys.lock, p.keys.waiters, p.keys.signal, own_signal];
        Box::new(checked_release(&scripts::NOTIFY_RELEASE, args, keys))
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Some(Box::new(checked_extend(&p)))
    }
}

/// The signal list of the waiter whose token is `token`: `signal:token`, under the lock's hash
/// tag. A release that hands the lock over pushes the token there.
#[must_use]
pub fn signal_of(keys: &Keys, token: &[u8]) -> Vec<u8> {
    [keys.signal.as_slice(), b":", token].concat()
}

/// What the last acquire script sent asked for (see [`scripts::NOTIFY_ACQUIRE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A try: take a free lock, or nothing.
    Try,
    /// A waiter's first look: take the lock, or join the waiters.
    Look,
    /// A waiter's look after a wait ran out: take the lock, or stay among the waiters.
    LookAgain,
    /// A waiter's last look: take the lock, or leave the waiters.
    GiveUp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    /// The plain `SET NX PX` of the fast path is in flight.
    Fast,
    Trying(Mode),
    Blocked,
}

pub(super) struct NotifyAcquire {
    p: AcquireParams,
    deadline: Option<Duration>,
    /// When the last acquire script was sent. Every script empties our signal list unless it
    /// gives us the lock, so a hand-off we are woken by happened after that: its lease began
    /// no earlier.
    sent_at: Duration,
    state: State,
    fast_first: bool,
    signal: Vec<u8>,
    /// `fair`'s acquire script (or a specimen's variant of it), which never lets the caller
    /// pass a live waiter; `None` for notify's.
    fair: Option<&'static Script>,
}

impl NotifyAcquire {
    fn new(p: AcquireParams, fast_first: bool) -> NotifyAcquire {
        let signal = signal_of(&p.keys, &p.token.to_bytes());
        NotifyAcquire {
            p,
            deadline: None,
            sent_at: Duration::ZERO,
            state: State::New,
            fast_first,
            signal,
            fair: None,
        }
    }

    /// `fair`'s acquire: no fast path (a plain `SET NX` would pass the queue), and `script`
    /// ([`scripts::FAIR_ACQUIRE`]'s keys, arguments and replies) instead of notify's script.
    pub(super) fn fair(p: AcquireParams, script: &'static Script) -> NotifyAcquire {
        NotifyAcquire { fair: Some(script), ..NotifyAcquire::new(p, false) }
    }

    fn fast(&mut self, now: Duration) -> Action {
        self.sent_at = now;
        self.state = State::Fast;
        Action::Send(set_nx(&self.p.keys.lock, self.p.token, Expiry::Px(millis(self.p.ttl))))
    }

    fn attempt(&mut self, now: Duration, mode: Mode) -> Action {
        self.sent_at = now;
        self.state = State::Trying(mode);
        let mode_arg = match mode {
            Mode::Try => "0",
            Mode::Look => "1",
            Mode::GiveUp => "2",
            Mode::LookAgain => "3",
        };
        let mut keys =
            vec![self.p.keys.lock.clone(), self.p.keys.waiters.clone(), self.signal.clone()];
        let script = match self.fair {
            Some(script) => {
                keys.push(self.p.keys.signal.clone());
                script
            }
            None => &scripts::NOTIFY_ACQUIRE,
        };
        Action::Send(Command::Eval {
            script,
            keys,
            args: vec![
                self.p.token.to_bytes(),
                num(millis(self.p.ttl)),
                mode_arg.into(),
                // The mark that keeps our place: a ttl, twice the longest wait between looks.
                num(millis(self.p.ttl)),
            ],
        })
    }

    /// A look after a wait, or the last look once the deadline has come.
    fn look(&mut self, now: Duration) -> Action {
        match self.deadline {
            Some(deadline) if now < deadline => self.attempt(now, Mode::LookAgain),
            _ => self.attempt(now, Mode::GiveUp),
        }
    }

    fn won(&self, token: Vec<u8>) -> Action {
        Action::Done(Outcome::Acquired(grant(token, self.sent_at, self.p.ttl, self.p.drift)))
    }

    fn on_attempt(&mut self, now: Duration, mode: Mode, reply: Reply) -> Action {
        let Reply::Array(items) = &reply else { return Action::Done(bad_reply("acquire", &reply)) };
        match items.as_slice() {
            [Reply::Int(1), Reply::Bulk(token)] if *token == self.p.token.to_bytes() => {
                self.won(token.clone())
            }
            [Reply::Int(0), Reply::Int(pttl)] => {
                let deadline = match (mode, self.deadline) {
                    (Mode::Try, _) | (_, None) => return Action::Done(Outcome::Busy),
                    (Mode::GiveUp, _) => return Action::Done(Outcome::TimedOut),
                    (Mode::Look | Mode::LookAgain, Some(deadline)) => deadline,
                };
                if now >= deadline {
                    return self.attempt(now, Mode::GiveUp);
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
                Action::Send(Command::BLPop { key: self.signal.clone(), timeout: block })
            }
            _ => Action::Done(bad_reply("acquire", &reply)),
        }
    }

    fn on_wake(&mut self, now: Duration, reply: Reply) -> Action {
        match reply {
            // Timed out: the holder's lease ran out, or it extended; look again.
            Reply::Nil => self.look(now),
            Reply::Array(items) => match items.as_slice() {
                [_, Reply::Bulk(token)] if *token == self.p.token.to_bytes() => {
                    if lease_end(self.sent_at, self.p.ttl, self.p.drift) > now {
                        return self.won(token.clone());
                    }
                    // Handed over so late that the lease we can vouch for is over: look again,
                    // which renews the lock if it is still ours.
                    self.look(now)
                }
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
                match (self.deadline.is_some(), self.fast_first) {
                    (false, _) => self.attempt(now, Mode::Try),
                    (true, true) => self.fast(now),
                    (true, false) => self.attempt(now, Mode::Look),
                }
            }
            (State::Fast, Event::Reply(r)) if r.is_ok() => self.won(self.p.token.to_bytes()),
            (State::Fast, Event::Reply(Reply::Nil)) => self.attempt(now, Mode::Look),
            (State::Fast, Event::Reply(r)) => Action::Done(bad_reply("acquire", &r)),
            (State::Trying(mode), Event::Reply(r)) => self.on_attempt(now, mode, r),
            (State::Blocked, Event::Reply(r)) => self.on_wake(now, r),
            (_, other) => Action::Done(unexpected(&other)),
        }
    }
}
