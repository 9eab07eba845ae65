//! Test helpers: drive a machine by hand with scripted events, and a tiny in-memory host for
//! the model faces of the specimens' scripts.

use std::collections::HashMap;
use std::time::Duration;

use redmutex::algo::{AcquireParams, Backoff, ReleaseParams};
use redmutex::proto::{
    Action, Bytes, Command, Event, Expiry, Grant, Keys, Machine, Outcome, Reply, ScriptHost,
    SetCond, Token,
};

/// Acquire params with ttl `ttl_ms`, the given wait, no drift.
pub fn acquire(ttl_ms: u64, wait_ms: Option<u64>) -> AcquireParams {
    AcquireParams {
        keys: Keys::new("t:", "l"),
        token: Token::from_u128(7),
        ttl: Duration::from_millis(ttl_ms),
        wait: wait_ms.map(Duration::from_millis),
        drift: Duration::ZERO,
        seed: 1,
        backoff: Backoff::default(),
    }
}

/// Release params for `grant` with ttl `ttl_ms`.
pub fn release(grant: Grant, ttl_ms: u64) -> ReleaseParams {
    ReleaseParams {
        keys: Keys::new("t:", "l"),
        grant,
        ttl: Duration::from_millis(ttl_ms),
        fresh_token: Token::from_u128(8),
    }
}

/// The lock key of [`acquire`] and [`release`].
pub fn lock_key() -> Bytes {
    Keys::new("t:", "l").lock
}

/// A machine driven by hand; time is whatever the test says.
pub struct Drive {
    machine: Box<dyn Machine>,
    /// Driver time of the next event, in milliseconds.
    pub now_ms: u64,
}

impl Drive {
    /// Starts `machine` at time `now_ms`; answers its first action.
    pub fn start(machine: Box<dyn Machine>, now_ms: u64) -> (Drive, Action) {
        let mut d = Drive { machine, now_ms };
        let first = d.feed(Event::Start);
        (d, first)
    }

    /// Feeds one event at the current time.
    pub fn feed(&mut self, event: Event) -> Action {
        self.machine.handle(Duration::from_millis(self.now_ms), event)
    }

    /// Feeds a reply and expects a `Send` of `expected`.
    pub fn reply_expect_send(&mut self, reply: Reply, expected: &Command) {
        assert_eq!(self.feed(Event::Reply(reply)), Action::Send(expected.clone()));
    }
}

/// The outcome inside a `Done`, or a panic naming the action.
pub fn done(action: Action) -> Outcome {
    match action {
        Action::Done(o) => o,
        other => panic!("expected Done, got {other:?}"),
    }
}

/// The grant inside an `Acquired` outcome.
pub fn grant(action: Action) -> Grant {
    match done(action) {
        Outcome::Acquired(g) => g,
        other => panic!("expected Acquired, got {other:?}"),
    }
}

/// The command inside a `Send`.
pub fn sent(action: Action) -> Command {
    match action {
        Action::Send(c) => c,
        other => panic!("expected Send, got {other:?}"),
    }
}

/// A few string keys with optional expiry on a logical clock, and a log of publishes: enough
/// Redis for the scripts' model faces.
#[derive(Default)]
pub struct Mem {
    /// Logical milliseconds.
    pub now_ms: u64,
    keys: HashMap<Bytes, (Bytes, Option<u64>)>,
    /// Every `PUBLISH`, in order.
    pub published: Vec<(Bytes, Bytes)>,
}

impl Mem {
    /// Sets `key` to `value` with an optional expiry after `px` ms.
    pub fn put(&mut self, key: &[u8], value: &[u8], px: Option<u64>) {
        self.keys.insert(key.to_vec(), (value.to_vec(), px.map(|ms| self.now_ms + ms)));
    }

    fn live(&mut self, key: &[u8]) -> Option<&mut (Bytes, Option<u64>)> {
        let now = self.now_ms;
        if self.keys.get(key).is_some_and(|(_, at)| at.is_some_and(|at| at <= now)) {
            self.keys.remove(key);
        }
        self.keys.get_mut(key)
    }

    /// The value of `key`, if live.
    pub fn value(&mut self, key: &[u8]) -> Option<Bytes> {
        self.live(key).map(|(v, _)| v.clone())
    }
}

impl ScriptHost for Mem {
    fn call(&mut self, command: Command) -> Reply {
        let now = self.now_ms;
        match command {
            Command::Get { key } => self.value(&key).map_or(Reply::Nil, Reply::Bulk),
            Command::Del { keys } => {
                let gone = keys.iter().filter(|k| self.live(k).is_some()).count();
                keys.iter().for_each(|k| {
                    self.keys.remove(k);
                });
                Reply::Int(i64::try_from(gone).unwrap_or(0))
            }
            Command::Pttl { key } => match self.live(&key) {
                None => Reply::Int(-2),
                Some((_, None)) => Reply::Int(-1),
                Some((_, Some(at))) => Reply::Int(i64::try_from(*at - now).unwrap_or(0)),
            },
            Command::PExpire { key, ms } => match self.live(&key) {
                None => Reply::Int(0),
                Some(entry) => {
                    entry.1 = Some(now + ms);
                    Reply::Int(1)
                }
            },
            Command::Publish { channel, message } => {
                self.published.push((channel, message));
                Reply::Int(0)
            }
            Command::Set { key, value, cond: Some(SetCond::Nx), expiry, get: false } => {
                if self.live(&key).is_some() {
                    return Reply::Nil;
                }
                let px = match expiry {
                    Some(Expiry::Px(ms)) => Some(ms),
                    Some(Expiry::Ex(s)) => Some(s * 1000),
                    None => None,
                };
                self.put(&key, &value, px);
                Reply::Status("OK".into())
            }
            other => Reply::Error(format!("ERR the test host does not know {other:?}")),
        }
    }
}
