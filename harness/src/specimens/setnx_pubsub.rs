//! `setnx-pubsub` (seed 004): a lock that waits for a pub/sub message instead of spinning.
//!
//! **What the document does.** Acquire tries `SET key token NX EX expiry`. When the lock is
//! busy it subscribes to the lock's channel and waits for a message; it retries the `SET` only
//! when a message arrived ("retry only on a message"). The wait is forced to time out so that
//! it never waits forever: once the blocking timeout has passed, after a message or not, it
//! gives up without another try. Release runs a script that checks the token, deletes the key
//! and publishes an "unlocked" message on the channel.
//!
//! **What is wrong with it.** Only a release publishes. A lock that *expires* (its holder
//! crashed, or was paused past its lease) frees silently, so every waiter sleeps on through the
//! expiry until its blocking timeout and then fails: the lock stays unused until some client
//! starts a *fresh* acquire (liveness, `crash-holder`: the lock is not taken again within
//! ttl + slack, and the waiters' acquires time out on a free lock). A message published between
//! a waiter's failed `SET` and its `SUBSCRIBE` is lost the same way. Every message wakes every
//! waiter, and all but one go back to sleep.
//!
//! **Mapping.** `expiry` = the harness ttl rounded up to whole seconds (EX); the blocking
//! timeout = the wait timeout (no wait: one try). By default a round waits for whatever is left
//! of the blocking timeout, as in the document. [`Params::first_wait`] turns on a variant in
//! which round `n` waits `first_wait × growth^n` (cut to what is left) and a timed-out round
//! retries too: it shortens, but does not remove, the sleep through a silent expiry.

use std::time::Duration;

use redmutex::algo::{
    AcquireParams, ExtendParams, Protocol, ReleaseParams, checked_release, set_nx, unexpected,
};
use redmutex::proto::{
    Action, Bytes, Command, Event, Expiry, Machine, Outcome, Reply, Script, ScriptHost,
};

use super::CheckerKind;
use super::{KnownBug, scale, whole_secs};

/// The specimen's name.
pub const NAME: &str = "setnx-pubsub";

/// One line for `contend list`.
pub const SUMMARY: &str = "a Python pub/sub lock package: SET NX EX, waiters retry only when a release publishes (a silent expiry strands them until their wait ends)";

/// The known bugs.
pub const BUGS: &[KnownBug] = &[KnownBug {
    id: "silent-expiry",
    what: "a lock that expires publishes nothing, so waiters sleep through the expiry and time out on a free lock",
    checker: CheckerKind::Liveness,
    scenario: "crash-holder",
    fault: "kill the holder: its lock expires instead of being released",
    safety: false,
}];

/// The message the release publishes.
pub const UNLOCKED: &[u8] = b"unlocked";

/// Release: if `KEYS[1]` holds token `ARGV[1]`, delete it and publish `ARGV[2]` on channel
/// `KEYS[2]`. Answers 1 when released, else 0.
pub static RELEASE: Script = Script::new(
    "setnx-pubsub-release",
    r"if redis.call('get', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('del', KEYS[1])
redis.call('publish', KEYS[2], ARGV[2])
return 1",
    release_model,
);

/// How long a round waits for a message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// `None` (the document): a round waits for the rest of the blocking timeout, and only a
    /// message leads to another try. `Some(d)`: the first round waits `d`, and a round that times
    /// out before the blocking timeout tries again too.
    pub first_wait: Option<Duration>,
    /// With `first_wait`, how much longer each round waits than the last.
    pub growth: f64,
}

impl Params {
    /// The document's behaviour.
    pub const DOCUMENT: Params = Params { first_wait: None, growth: 1.0 };

    /// The time constants multiplied by `factor` (the document has none).
    #[must_use]
    pub fn scaled(self, factor: f64) -> Params {
        Params { first_wait: self.first_wait.map(|d| scale(d, factor)), ..self }
    }
}

super::specimen_protocol!(
    #[derive(Clone, Copy, Debug, PartialEq)]
    SetnxPubsub
);

impl Protocol for SetnxPubsub {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        Box::new(Acquire {
            p,
            params: self.params,
            deadline: None,
            round: 0,
            sent_at: Duration::ZERO,
            started: false,
        })
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        let args = vec![p.grant.token, UNLOCKED.to_vec()];
        Box::new(checked_release(&RELEASE, args, vec![p.keys.lock, p.keys.channel]))
    }

    fn extend(&self, _: ExtendParams) -> Option<Box<dyn Machine>> {
        None
    }
}

struct Acquire {
    p: AcquireParams,
    params: Params,
    deadline: Option<Duration>,
    round: i32,
    sent_at: Duration,
    started: bool,
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
        let Some(deadline) = self.deadline else { return Action::Done(Outcome::Busy) };
        let left = deadline.saturating_sub(now);
        if left.is_zero() {
            return Action::Done(Outcome::TimedOut);
        }
        let wait = self.params.first_wait.map_or(left, |first| {
            let grown = first.as_secs_f64() * self.params.growth.powi(self.round);
            Duration::try_from_secs_f64(grown).unwrap_or(left).min(left)
        });
        self.round = self.round.saturating_add(1);
        Action::Wait { channel: self.p.keys.channel.clone(), timeout: wait }
    }

    /// After a wait: past the blocking timeout, give up without another try (the document
    /// checks its deadline first). Otherwise try again, after a message, or after a timed-out
    /// round of the growing variant.
    fn woken(&mut self, now: Duration) -> Action {
        if self.deadline.is_none_or(|deadline| now >= deadline) {
            return Action::Done(Outcome::TimedOut);
        }
        self.attempt(now)
    }
}

impl Machine for Acquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match event {
            Event::Start if !self.started => {
                self.started = true;
                self.deadline = self.p.wait.map(|w| now + w);
                self.attempt(now)
            }
            Event::Notified(_) | Event::TimedOut => self.woken(now),
            Event::Reply(reply) => self.on_reply(now, &reply),
            other => Action::Done(unexpected(&other)),
        }
    }
}

fn release_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    let ([key, channel, ..], [token, message, ..]) = (keys, args) else {
        return Reply::Error("ERR setnx-pubsub-release needs 2 keys and 2 args".into());
    };
    let held = h.call(Command::Get { key: key.clone() });
    if held != Reply::Bulk(token.clone()) {
        return Reply::Int(0);
    }
    h.call(Command::Del { keys: vec![key.clone()] });
    h.call(Command::Publish { channel: channel.clone(), message: message.clone() });
    Reply::Int(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specimens::testkit::{Drive, Mem, acquire, done, grant, lock_key, release};
    use redmutex::proto::Grant;

    fn channel() -> Bytes {
        redmutex::proto::Keys::new("t:", "l").channel
    }

    #[test]
    fn a_busy_lock_waits_for_a_message_and_gives_up_at_the_timeout_without_another_try() {
        let (mut d, first) = Drive::start(DOCUMENT.acquire(acquire(1_000, Some(3_000))), 0);
        assert!(matches!(first, Action::Send(Command::Set { .. })));
        let wait = |ms| Action::Wait { channel: channel(), timeout: Duration::from_millis(ms) };
        assert_eq!(d.feed(Event::Reply(Reply::Nil)), wait(3_000));
        d.now_ms = 1_200;
        // A release's message: try again, and wait for the rest of the timeout when still busy.
        assert!(matches!(d.feed(Event::Notified(UNLOCKED.to_vec())), Action::Send(_)));
        assert_eq!(d.feed(Event::Reply(Reply::Nil)), wait(1_800));
        // The holder's lock expired meanwhile, silently: the wait runs out, and that is the end.
        d.now_ms = 3_000;
        assert_eq!(done(d.feed(Event::TimedOut)), Outcome::TimedOut);
    }

    #[test]
    fn the_growing_variant_retries_after_each_timed_out_round() {
        let params = Params { first_wait: Some(Duration::from_millis(100)), growth: 2.0 };
        let growing = SetnxPubsub::new(params);
        let (mut d, first) = Drive::start(growing.acquire(acquire(1_500, Some(1_000))), 0);
        assert!(matches!(first, Action::Send(Command::Set { expiry: Some(Expiry::Ex(2)), .. })));
        let wait = |ms| Action::Wait { channel: channel(), timeout: Duration::from_millis(ms) };
        assert_eq!(d.feed(Event::Reply(Reply::Nil)), wait(100));
        d.now_ms = 100;
        assert!(matches!(d.feed(Event::TimedOut), Action::Send(Command::Set { .. })));
        assert_eq!(d.feed(Event::Reply(Reply::Nil)), wait(200));
        d.now_ms = 150;
        // A message cuts the wait short; the next round still waits longer.
        assert!(matches!(d.feed(Event::Notified(UNLOCKED.to_vec())), Action::Send(_)));
        assert_eq!(d.feed(Event::Reply(Reply::Nil)), wait(400));
        d.now_ms = 550;
        let _ = d.feed(Event::TimedOut);
        // 800 ms would pass the deadline: cut to the 450 ms left.
        assert_eq!(d.feed(Event::Reply(Reply::Nil)), wait(450));
        d.now_ms = 1_000;
        assert_eq!(done(d.feed(Event::TimedOut)), Outcome::TimedOut);
    }

    #[test]
    fn without_a_wait_a_busy_lock_is_busy() {
        let (mut d, _) = Drive::start(DOCUMENT.acquire(acquire(1_000, None)), 0);
        assert_eq!(done(d.feed(Event::Reply(Reply::Nil))), Outcome::Busy);
        let (mut d, _) = Drive::start(DOCUMENT.acquire(acquire(1_000, None)), 0);
        let _ = grant(d.feed(Event::Reply(Reply::Status("OK".into()))));
    }

    #[test]
    fn release_runs_the_publishing_script() {
        let g = Grant {
            token: b"tok".to_vec(),
            fence: None,
            acquired_at: Duration::ZERO,
            valid_until: Duration::ZERO,
            clock_ms: None,
        };
        let (_, first) = Drive::start(DOCUMENT.release(release(g, 1_000)), 0);
        let Action::Send(Command::Eval { script, keys, args }) = first else { panic!("{first:?}") };
        assert_eq!(script.name, RELEASE.name);
        assert_eq!(keys, vec![lock_key(), channel()]);
        assert_eq!(args, vec![b"tok".to_vec(), UNLOCKED.to_vec()]);
    }

    #[test]
    fn release_model_deletes_and_publishes_only_for_our_token() {
        let mut mem = Mem::default();
        let keys = [lock_key(), channel()];
        mem.put(&lock_key(), b"theirs", Some(1_000));
        let args = [b"mine".to_vec(), UNLOCKED.to_vec()];
        assert_eq!((RELEASE.model)(&mut mem, &keys, &args), Reply::Int(0));
        assert!(mem.published.is_empty());
        mem.put(&lock_key(), b"mine", Some(1_000));
        assert_eq!((RELEASE.model)(&mut mem, &keys, &args), Reply::Int(1));
        assert_eq!(mem.value(&lock_key()), None);
        assert_eq!(mem.published, vec![(channel(), UNLOCKED.to_vec())]);
    }

    #[test]
    fn an_expired_lock_publishes_nothing() {
        // The weakness in the model: expiry is silent, only the script publishes.
        let mut mem = Mem::default();
        mem.put(&lock_key(), b"mine", Some(1_000));
        mem.now_ms = 1_000;
        assert_eq!(mem.value(&lock_key()), None);
        assert!(mem.published.is_empty());
    }
}
