//! `token-poll` (seed 003): the shared lock of a popular Redis client library, with a random
//! token, fixed-sleep polling and owner-checked Lua release and extend.
//!
//! **What the document does.** Acquire makes a fresh random token and sends
//! `SET name token NX PX timeout`. A non-blocking acquire answers at once; a blocking one
//! checks whether its blocking timeout has passed and otherwise sleeps `sleep` (0.1 s) and tries
//! again. Release runs a script that deletes the key only if it still holds the token (the
//! document raises "cannot release a lock that's no longer owned" otherwise). Extend runs a
//! script that, if the key still holds the token and has an expiry, sets the expiry to the
//! *remaining* time plus the additional time: it adds, it does not reset.
//!
//! **What is wrong with it.** Nothing that a single healthy Redis could prevent: it is the
//! correct baseline among the specimens. It is slow under contention (a fixed 0.1 s sleep, no
//! wake-up), and it issues no fence, so a holder paused past its lease keeps working while the
//! next holder works too ("lease outlived" under `pause-holder`, which the lost-updates checker
//! sees as well). That hazard is shared by every unfenced lease and is not listed as a bug.
//!
//! **Mapping.** `timeout` = the harness ttl (milliseconds, `PX`); `blocking_timeout` = the wait
//! timeout (no wait: non-blocking). The blocking timeout is checked before each sleep, as in the
//! document, so an acquire may overrun it by one sleep. Extend's additional time = the harness
//! extend ttl; the new lease is at least that long from when the extend was sent.

use std::time::Duration;

use redmutex::algo::{
    AcquireParams, ExtendParams, OneShot, Protocol, ReleaseParams, bad_reply, checked_release,
    lease_end, set_nx, unexpected,
};
use redmutex::proto::{
    Action, Bytes, Command, Event, Expiry, Machine, Outcome, Reply, Script, ScriptHost, millis, num,
};

use super::{KnownBug, scale};

/// The specimen's name.
pub const NAME: &str = "token-poll";

/// One line for `contend list`.
pub const SUMMARY: &str = "a Python client library's built-in lock: SET NX PX with a random token, 0.1 s sleep polling, owner-checked Lua release and additive extend (no known bug; shows what an expired holder does)";

/// The known bugs: none; see the module documentation for its hazard.
pub const BUGS: &[KnownBug] = &[];

/// Release: delete `KEYS[1]` only if it holds token `ARGV[1]`. Answers 1 when deleted, else 0.
pub static RELEASE: Script = Script::new(
    "token-poll-release",
    r"local held = redis.call('get', KEYS[1])
if held == false or held ~= ARGV[1] then
  return 0
end
redis.call('del', KEYS[1])
return 1",
    release_model,
);

/// Extend: if `KEYS[1]` holds token `ARGV[1]` and has an expiry, add `ARGV[2]` ms to its
/// remaining time. Answers 1 when extended, else 0.
pub static EXTEND: Script = Script::new(
    "token-poll-extend",
    r"if redis.call('get', KEYS[1]) ~= ARGV[1] then
  return 0
end
local left = redis.call('pttl', KEYS[1])
if left < 0 then
  return 0
end
redis.call('pexpire', KEYS[1], left + tonumber(ARGV[2]))
return 1",
    extend_model,
);

/// The document's time constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The sleep between tries (document: 0.1 s).
    pub sleep: Duration,
}

impl Params {
    /// The document's values.
    pub const DOCUMENT: Params = Params { sleep: Duration::from_millis(100) };

    /// The time constants multiplied by `factor`.
    #[must_use]
    pub fn scaled(self, factor: f64) -> Params {
        Params { sleep: scale(self.sleep, factor) }
    }
}

super::specimen_protocol!(
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    TokenPoll
);

impl Protocol for TokenPoll {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        Box::new(Acquire { p, sleep: self.params.sleep, stop_at: None, sent_at: Duration::ZERO })
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Box::new(checked_release(&RELEASE, vec![p.grant.token], vec![p.keys.lock]))
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        let (add, drift) = (p.ttl, p.drift);
        let command = Command::Eval {
            script: &EXTEND,
            keys: vec![p.keys.lock],
            args: vec![p.grant.token, num(millis(add))],
        };
        Some(Box::new(OneShot::new("extend", command, move |sent_at, reply| {
            match reply.as_int() {
                Some(1) => Outcome::Extended { valid_until: Some(lease_end(sent_at, add, drift)) },
                Some(0) => Outcome::Extended { valid_until: None },
                _ => bad_reply("extend", &reply),
            }
        })))
    }
}

struct Acquire {
    p: AcquireParams,
    sleep: Duration,
    /// `None` before the start; then the blocking deadline, if any.
    stop_at: Option<Option<Duration>>,
    sent_at: Duration,
}

impl Acquire {
    fn attempt(&mut self, now: Duration) -> Action {
        self.sent_at = now;
        Action::Send(set_nx(&self.p.keys.lock, self.p.token, Expiry::Px(millis(self.p.ttl))))
    }

    fn on_reply(&mut self, now: Duration, reply: &Reply) -> Action {
        if let Some(end) = super::set_nx_end(&self.p, self.sent_at, reply) {
            return end;
        }
        let Some(Some(stop_at)) = self.stop_at else { return Action::Done(Outcome::Busy) };
        if now > stop_at {
            return Action::Done(Outcome::TimedOut);
        }
        Action::Sleep(self.sleep)
    }
}

impl Machine for Acquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match event {
            Event::Start if self.stop_at.is_none() => {
                self.stop_at = Some(self.p.wait.map(|w| now + w));
                self.attempt(now)
            }
            Event::Slept => self.attempt(now),
            Event::Reply(reply) => self.on_reply(now, &reply),
            other => Action::Done(unexpected(&other)),
        }
    }
}

fn held(h: &mut dyn ScriptHost, key: &Bytes) -> Option<Bytes> {
    match h.call(Command::Get { key: key.clone() }) {
        Reply::Bulk(b) => Some(b),
        _ => None,
    }
}

fn release_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    let (Some(key), Some(token)) = (keys.first(), args.first()) else {
        return Reply::Error("ERR token-poll-release needs KEYS[1] and ARGV[1]".into());
    };
    if held(h, key).as_ref() != Some(token) {
        return Reply::Int(0);
    }
    h.call(Command::Del { keys: vec![key.clone()] });
    Reply::Int(1)
}

fn extend_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    let (Some(key), Some(token), Some(add)) = (keys.first(), args.first(), args.get(1)) else {
        return Reply::Error("ERR token-poll-extend needs KEYS[1], ARGV[1] and ARGV[2]".into());
    };
    if held(h, key).as_ref() != Some(token) {
        return Reply::Int(0);
    }
    let left = h.call(Command::Pttl { key: key.clone() }).as_int().unwrap_or(-2);
    let Ok(left) = u64::try_from(left) else { return Reply::Int(0) };
    let Some(add) = std::str::from_utf8(add).ok().and_then(|s| s.parse::<u64>().ok()) else {
        return Reply::Error("ERR value is not an integer or out of range".into());
    };
    h.call(Command::PExpire { key: key.clone(), ms: left + add });
    Reply::Int(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specimens::testkit::{Drive, Mem, acquire, done, grant, lock_key, release};
    use redmutex::proto::Grant;

    #[test]
    fn acquire_polls_set_nx_px_with_a_fixed_sleep() {
        let (mut d, first) = Drive::start(DOCUMENT.acquire(acquire(2_000, Some(150))), 0);
        assert!(matches!(
            first,
            Action::Send(Command::Set { expiry: Some(Expiry::Px(2_000)), .. })
        ));
        assert_eq!(d.feed(Event::Reply(Reply::Nil)), Action::Sleep(Duration::from_millis(100)));
        d.now_ms = 100;
        let _ = d.feed(Event::Slept);
        assert_eq!(d.feed(Event::Reply(Reply::Nil)), Action::Sleep(Duration::from_millis(100)));
        d.now_ms = 200;
        let _ = d.feed(Event::Slept);
        assert_eq!(done(d.feed(Event::Reply(Reply::Nil))), Outcome::TimedOut);
    }

    #[test]
    fn acquire_wins_with_its_token() {
        let (mut d, _) = Drive::start(DOCUMENT.acquire(acquire(2_000, None)), 10);
        let g = grant(d.feed(Event::Reply(Reply::Status("OK".into()))));
        assert_eq!(g.valid_until, Duration::from_millis(2_010));
    }

    #[test]
    fn release_and_extend_run_their_scripts() {
        let g = Grant {
            token: b"tok".to_vec(),
            fence: None,
            acquired_at: Duration::ZERO,
            valid_until: Duration::ZERO,
            clock_ms: None,
        };
        let (_, first) = Drive::start(DOCUMENT.release(release(g.clone(), 2_000)), 0);
        assert!(
            matches!(first, Action::Send(Command::Eval { script, .. }) if script.name == RELEASE.name)
        );
        let p = ExtendParams {
            keys: redmutex::proto::Keys::new("t:", "l"),
            grant: g,
            ttl: Duration::from_millis(500),
            drift: Duration::ZERO,
        };
        let machine = DOCUMENT.extend(p).map(|m| Drive::start(m, 0));
        let Some((_, Action::Send(Command::Eval { script, args, .. }))) = machine else {
            panic!("extend must send its script");
        };
        assert_eq!((script.name, args[1].as_slice()), (EXTEND.name, &b"500"[..]));
    }

    #[test]
    fn release_model_deletes_only_our_token() {
        let mut mem = Mem::default();
        mem.put(&lock_key(), b"theirs", Some(1_000));
        let run = |mem: &mut Mem| (RELEASE.model)(mem, &[lock_key()], &[b"mine".to_vec()]);
        assert_eq!(run(&mut mem), Reply::Int(0));
        assert_eq!(mem.value(&lock_key()), Some(b"theirs".to_vec()));
        mem.put(&lock_key(), b"mine", Some(1_000));
        assert_eq!(run(&mut mem), Reply::Int(1));
        assert_eq!(mem.value(&lock_key()), None);
        assert_eq!(run(&mut mem), Reply::Int(0));
    }

    #[test]
    fn extend_model_adds_to_the_remaining_time() {
        let mut mem = Mem::default();
        mem.put(&lock_key(), b"mine", Some(1_000));
        mem.now_ms = 400;
        let args = [b"mine".to_vec(), b"500".to_vec()];
        assert_eq!((EXTEND.model)(&mut mem, &[lock_key()], &args), Reply::Int(1));
        // 600 ms were left; now 1100.
        assert_eq!(mem.call(Command::Pttl { key: lock_key() }), Reply::Int(1_100));
        mem.put(&lock_key(), b"mine", None);
        assert_eq!((EXTEND.model)(&mut mem, &[lock_key()], &args), Reply::Int(0));
        let theirs = [b"theirs".to_vec(), b"500".to_vec()];
        assert_eq!((EXTEND.model)(&mut mem, &[lock_key()], &theirs), Reply::Int(0));
    }
}
