//! The model's state and the meaning of each command.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::index::{Subscribers, Waiters};
use super::{ClientId, Delivery, Step};
use crate::proto::{Bytes, Command, Expiry, Reply, Script, ScriptHost, SetCond, millis};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const OVERFLOW: &str = "ERR increment or decrement would overflow";
const NOT_FROM_SCRIPT: &str = "ERR This Redis command is not allowed from script";

/// What a simulated restart keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// No persistence: every key is lost.
    None,
    /// An append-only file with `fsync always`: every key survives, with its absolute expiry.
    Aof,
}

/// A deterministic in-memory Redis with a logical clock in milliseconds. See [the module
/// documentation](super) for how to drive it.
#[derive(Clone, Debug, Default)]
pub struct Model {
    now: u64,
    data: BTreeMap<Bytes, Entry>,
    /// Clients blocked in `BLPOP`.
    waiters: Waiters,
    /// Keys pushed to by the command being executed.
    ready: Vec<Bytes>,
    unblocked: VecDeque<(ClientId, Reply)>,
    /// Subscribers of each channel, in subscription order.
    channels: Subscribers,
    deliveries: VecDeque<Delivery>,
    executed: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Str(Bytes),
    List(VecDeque<Bytes>),
}

#[derive(Clone, Debug)]
struct Entry {
    value: Value,
    /// Absolute expiry in model milliseconds; the key is alive while `now <= expires_at`.
    expires_at: Option<u64>,
}

impl Model {
    /// An empty model whose clock reads 0.
    #[must_use]
    pub fn new() -> Model {
        Model::default()
    }

    /// An empty model whose clock starts at `now_ms` (for example a plausible Unix time, so that
    /// algorithms reading the wall clock see one).
    #[must_use]
    pub fn starting_at(now_ms: u64) -> Model {
        Model { now: now_ms, ..Model::default() }
    }

    /// The logical clock, in milliseconds.
    #[must_use]
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Moves the clock forward by `ms`. Blocked clients whose timeout passes are unblocked with a
    /// nil reply; collect them with [`Model::take_unblocked`].
    pub fn advance(&mut self, ms: u64) {
        self.advance_to(self.now.saturating_add(ms));
    }

    /// Moves the clock to `now_ms` if that is later than now (time never runs backwards here).
    /// Blocked clients whose timeout passes are unblocked as by [`Model::advance`].
    pub fn advance_to(&mut self, now_ms: u64) {
        if now_ms > self.now {
            self.set_clock(now_ms);
        }
    }

    /// Sets the clock to `now_ms`, in either direction: for a test that follows a real server's
    /// clock, which may step back. Blocked clients whose timeout passes are unblocked.
    pub fn set_clock(&mut self, now_ms: u64) {
        self.now = now_ms;
        let now = self.now;
        let expired = self.waiters.expire(now);
        self.unblocked.extend(expired.into_iter().map(|w| (w.client, Reply::Nil)));
    }

    /// The earliest instant at which a blocked client times out: advance the clock past it (to
    /// this value + 1) to fire the timeout.
    #[must_use]
    pub fn next_timeout(&self) -> Option<u64> {
        self.waiters.next_deadline()
    }

    /// Executes one command for `client`, atomically. Call [`Model::take_unblocked`] afterwards:
    /// a push may have served blocked clients.
    pub fn exec(&mut self, client: ClientId, command: &Command) -> Step {
        self.executed += 1;
        let step = match command {
            Command::BLPop { key, timeout } => self.blpop(client, key, *timeout),
            Command::Eval { script, keys, args } => Step::Reply(self.eval(script, keys, args)),
            other => Step::Reply(self.apply(other)),
        };
        self.serve_ready();
        step
    }

    /// Replies for clients that were blocked and no longer are (served by a push, or timed out
    /// with [`Reply::Nil`]), in the order they were unblocked. Call after every
    /// [`Model::exec`] and every clock move.
    #[must_use]
    pub fn take_unblocked(&mut self) -> Vec<(ClientId, Reply)> {
        self.unblocked.drain(..).collect()
    }

    /// The reply for `client` if it was unblocked, leaving other clients' replies queued.
    #[must_use]
    pub fn take_unblocked_for(&mut self, client: ClientId) -> Option<Reply> {
        let i = self.unblocked.iter().position(|(c, _)| *c == client)?;
        self.unblocked.remove(i).map(|(_, reply)| reply)
    }

    /// Subscribes `client` to `channel`: later `PUBLISH`es to it produce [`Delivery`]s.
    pub fn subscribe(&mut self, client: ClientId, channel: &[u8]) {
        self.channels.add(client, channel);
    }

    /// Unsubscribes `client` from `channel`.
    pub fn unsubscribe(&mut self, client: ClientId, channel: &[u8]) {
        self.channels.remove(client, channel);
    }

    /// The connection of `client` closed (a crash): its `BLPOP` is cancelled without a reply and
    /// its subscriptions end.
    pub fn disconnect(&mut self, client: ClientId) {
        self.waiters.cancel(client);
        self.channels.remove_everywhere(client);
    }

    /// Pub/sub messages published since the last call, in publication order.
    #[must_use]
    pub fn take_deliveries(&mut self) -> Vec<Delivery> {
        self.deliveries.drain(..).collect()
    }

    /// The next message for `client`, leaving other clients' messages queued.
    #[must_use]
    pub fn take_delivery_for(&mut self, client: ClientId) -> Option<Delivery> {
        let i = self.deliveries.iter().position(|d| d.client == client)?;
        self.deliveries.remove(i)
    }

    /// How many messages wait for `client` in [`Model::take_deliveries`].
    #[must_use]
    pub fn pending_deliveries(&self, client: ClientId) -> usize {
        self.deliveries.iter().filter(|d| d.client == client).count()
    }

    /// Restarts the server: every connection drops (blocked clients get no reply,
    /// subscriptions end) and the data survives only with [`Persistence::Aof`]. Answers the
    /// clients that were blocked or subscribed, in id order. Replies and messages already sent
    /// stay in [`Model::take_unblocked`] and [`Model::take_deliveries`].
    pub fn restart(&mut self, persistence: Persistence) -> Vec<ClientId> {
        let mut dropped = self.waiters.clear();
        dropped.extend(self.channels.clear());
        dropped.sort_unstable();
        dropped.dedup();
        self.ready.clear();
        if persistence == Persistence::None {
            self.data.clear();
        }
        dropped
    }

    /// A failover: the server now holds what `replica` holds (a copy of this model taken when
    /// replication last reached the replica), on its own clock; like a restart, every
    /// connection drops. Answers the clients that were blocked or subscribed, in id order.
    pub fn promote(&mut self, replica: &Model) -> Vec<ClientId> {
        let dropped = self.restart(Persistence::None);
        self.data = replica.data.clone();
        dropped
    }

    /// The string stored at `key`, if it is alive and a string (for checkers; no side effect).
    #[must_use]
    pub fn string(&self, key: &[u8]) -> Option<&[u8]> {
        match self.data.get(key) {
            Some(Entry { value: Value::Str(s), expires_at }) if self.alive(*expires_at) => Some(s),
            _ => None,
        }
    }

    /// Every live key, in order (for checkers; no side effect).
    #[must_use]
    pub fn live_keys(&self) -> Vec<Bytes> {
        self.data.iter().filter(|(_, e)| self.alive(e.expires_at)).map(|(k, _)| k.clone()).collect()
    }

    /// Whether `key` exists (is alive), of any type.
    #[must_use]
    pub fn exists(&self, key: &[u8]) -> bool {
        self.data.get(key).is_some_and(|e| self.alive(e.expires_at))
    }

    /// The absolute expiry of `key` in model milliseconds, if it is alive and has one.
    #[must_use]
    pub fn expires_at(&self, key: &[u8]) -> Option<u64> {
        self.data.get(key).filter(|e| self.alive(e.expires_at)).and_then(|e| e.expires_at)
    }

    /// The clients blocked on `key`, longest-blocked first.
    #[must_use]
    pub fn blocked_on(&self, key: &[u8]) -> Vec<ClientId> {
        self.waiters.on(key)
    }

    /// Whether `client` is blocked.
    #[must_use]
    pub fn is_blocked(&self, client: ClientId) -> bool {
        self.waiters.contains(client)
    }

    /// How many commands [`Model::exec`] has executed (a script counts once).
    #[must_use]
    pub fn executed(&self) -> u64 {
        self.executed
    }

    fn alive(&self, expires_at: Option<u64>) -> bool {
        expires_at.is_none_or(|at| self.now <= at)
    }

    /// The live entry at `key`, deleting it first if it has expired (lazy expiry, as Redis).
    fn live(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let expired = self.data.get(key).is_some_and(|e| !self.alive(e.expires_at));
        if expired {
            self.data.remove(key);
        }
        self.data.get_mut(key)
    }

    fn string_at(&mut self, key: &[u8]) -> Result<Option<Bytes>, Reply> {
        match self.live(key).map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(Value::List(_)) => Err(Reply::Error(WRONGTYPE.into())),
        }
    }

    fn put(&mut self, key: &[u8], value: Bytes, expires_at: Option<u64>) {
        self.data.insert(key.to_vec(), Entry { value: Value::Str(value), expires_at });
    }

    /// One command with the meaning it has at top level, except that `BLPOP` never blocks (as
    /// inside a script) and `EVAL` is refused (scripts cannot call scripts).
    fn apply(&mut self, command: &Command) -> Reply {
        match command {
            Command::Ping => Reply::Status("PONG".into()),
            Command::Get { key } => match self.string_at(key) {
                Ok(Some(v)) => Reply::Bulk(v),
                Ok(None) => Reply::Nil,
                Err(e) => e,
            },
            Command::Set { key, value, cond, expiry, get } => {
                self.set(key, value, *cond, *expiry, *get)
            }
            Command::SetNx { key, value } => {
                if self.live(key).is_some() {
                    return Reply::Int(0);
                }
                self.put(key, value.clone(), None);
                Reply::Int(1)
            }
            Command::GetSet { key, value } => match self.string_at(key) {
                Err(e) => e,
                Ok(old) => {
                    self.put(key, value.clone(), None);
                    old.map_or(Reply::Nil, Reply::Bulk)
                }
            },
            Command::Del { keys } => {
                let mut deleted = 0;
                for key in keys {
                    if self.live(key).is_some() {
                        self.data.remove(key);
                        deleted += 1;
                    }
                }
                Reply::Int(deleted)
            }
            Command::Expire { key, seconds } => self.expire(key, *seconds, 1000, "expire"),
            Command::PExpire { key, ms } => self.expire(key, *ms, 1, "pexpire"),
            Command::Pttl { key } => Reply::Int(self.pttl(key)),
            Command::Ttl { key } => Reply::Int(match self.pttl(key) {
                ms if ms < 0 => ms,
                ms => (ms + 500) / 1000,
            }),
            Command::Incr { key } => self.incr_by(key, 1),
            Command::Decr { key } => self.incr_by(key, -1),
            Command::LPush { key, values } => self.push(key, values, true),
            Command::RPush { key, values } => self.push(key, values, false),
            Command::LPop { key } => match self.list(key) {
                Err(e) => e,
                Ok(None) => Reply::Nil,
                Ok(Some(_)) => self.pop(key).map_or(Reply::Nil, Reply::Bulk),
            },
            Command::LLen { key } => match self.list(key) {
                Err(e) => e,
                Ok(len) => Reply::Int(count(len.unwrap_or(0))),
            },
            Command::LRem { key, count, value } => self.lrem(key, *count, value),
            Command::LPos { key, value } => match self.list(key) {
                Err(e) => e,
                Ok(None) => Reply::Nil,
                Ok(Some(_)) => self.lpos(key, value),
            },
            Command::BLPop { key, .. } => match self.list(key) {
                Err(e) => e,
                Ok(None) => Reply::Nil,
                Ok(Some(_)) => self.pop(key).map_or(Reply::Nil, |v| popped(key, v)),
            },
            Command::Publish { channel, message } => self.publish(channel, message),
            Command::Time => {
                let (secs, micros) = (self.now / 1000, self.now % 1000 * 1000);
                Reply::Array(vec![Reply::Bulk(num(secs)), Reply::Bulk(num(micros))])
            }
            // The model is a lone server: no replica ever acknowledges.
            Command::Wait { .. } => Reply::Int(0),
            Command::Eval { .. } => Reply::Error(NOT_FROM_SCRIPT.into()),
        }
    }

    fn set(
        &mut self,
        key: &[u8],
        value: &Bytes,
        cond: Option<SetCond>,
        expiry: Option<Expiry>,
        get: bool,
    ) -> Reply {
        let expires_at = match expiry {
            None => None,
            Some(expiry) => match self.set_expiry(expiry) {
                Ok(at) => Some(at),
                Err(e) => return e,
            },
        };
        let old = if get {
            match self.string_at(key) {
                Ok(old) => Some(old),
                Err(e) => return e,
            }
        } else {
            None
        };
        let found = self.live(key).is_some();
        let blocked = match cond {
            Some(SetCond::Nx) => found,
            Some(SetCond::Xx) => !found,
            None => false,
        };
        if !blocked {
            self.put(key, value.clone(), expires_at);
        }
        match old {
            Some(old) => old.map_or(Reply::Nil, Reply::Bulk),
            None if blocked => Reply::Nil,
            None => Reply::Status("OK".into()),
        }
    }

    /// The absolute expiry of `SET ... PX|EX n`, or Redis's error for `n`.
    fn set_expiry(&self, expiry: Expiry) -> Result<u64, Reply> {
        let invalid = || Reply::Error("ERR invalid expire time in 'set' command".into());
        let (n, unit) = match expiry {
            Expiry::Px(ms) => (ms, 1),
            Expiry::Ex(s) => (s, 1000),
        };
        let n = i64::try_from(n).map_err(|_| Reply::Error(NOT_AN_INTEGER.into()))?;
        if n <= 0 || n > i64::MAX / unit {
            return Err(invalid());
        }
        let at = (n * unit).checked_add(self.now_i64()).ok_or_else(invalid)?;
        u64::try_from(at).map_err(|_| invalid())
    }

    fn expire(&mut self, key: &[u8], n: u64, unit: i64, name: &str) -> Reply {
        let invalid = || Reply::Error(format!("ERR invalid expire time in '{name}' command"));
        let Ok(n) = i64::try_from(n) else { return Reply::Error(NOT_AN_INTEGER.into()) };
        let Some(at) = n.checked_mul(unit).and_then(|ms| ms.checked_add(self.now_i64())) else {
            return invalid();
        };
        let now = self.now;
        let Some(entry) = self.live(key) else { return Reply::Int(0) };
        match u64::try_from(at) {
            // Already in the past (or now): Redis deletes the key at once.
            Ok(at) if at > now => entry.expires_at = Some(at),
            _ => {
                self.data.remove(key);
            }
        }
        Reply::Int(1)
    }

    fn pttl(&mut self, key: &[u8]) -> i64 {
        let now = self.now;
        match self.live(key) {
            None => -2,
            Some(Entry { expires_at: None, .. }) => -1,
            Some(Entry { expires_at: Some(at), .. }) => {
                i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX)
            }
        }
    }

    fn incr_by(&mut self, key: &[u8], by: i64) -> Reply {
        let entry = self.live(key);
        let (current, expires_at) = match entry {
            None => (0, None),
            Some(Entry { value: Value::List(_), .. }) => return Reply::Error(WRONGTYPE.into()),
            Some(Entry { value: Value::Str(s), expires_at }) => match parse_integer(s) {
                Some(n) => (n, *expires_at),
                None => return Reply::Error(NOT_AN_INTEGER.into()),
            },
        };
        let Some(next) = current.checked_add(by) else { return Reply::Error(OVERFLOW.into()) };
        // INCR keeps the key's expiry.
        self.put(key, num(next), expires_at);
        Reply::Int(next)
    }

    /// The length of the list at `key` (`None` when absent), or `WRONGTYPE`.
    fn list(&mut self, key: &[u8]) -> Result<Option<usize>, Reply> {
        match self.live(key).map(|e| &e.value) {
            None => Ok(None),
            Some(Value::List(l)) => Ok(Some(l.len())),
            Some(Value::Str(_)) => Err(Reply::Error(WRONGTYPE.into())),
        }
    }

    fn push(&mut self, key: &[u8], values: &[Bytes], front: bool) -> Reply {
        if let Err(e) = self.list(key) {
            return e;
        }
        let entry = self
            .data
            .entry(key.to_vec())
            .or_insert_with(|| Entry { value: Value::List(VecDeque::new()), expires_at: None });
        let Value::List(list) = &mut entry.value else { return Reply::Error(WRONGTYPE.into()) };
        for v in values {
            if front {
                list.push_front(v.clone());
            } else {
                list.push_back(v.clone());
            }
        }
        let len = list.len();
        if !self.ready.iter().any(|k| k == key) {
            self.ready.push(key.to_vec());
        }
        Reply::Int(count(len))
    }

    /// `LREM`: removes up to `|count|` occurrences of `value` (from the tail when negative, all
    /// when 0), deleting the key when it empties.
    fn lrem(&mut self, key: &[u8], n: i64, value: &[u8]) -> Reply {
        match self.list(key) {
            Err(e) => return e,
            Ok(None) => return Reply::Int(0),
            Ok(Some(_)) => {}
        }
        let Some(Entry { value: Value::List(list), .. }) = self.live(key) else {
            return Reply::Int(0);
        };
        let limit = if n == 0 {
            usize::MAX
        } else {
            usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX)
        };
        let mut removed = 0;
        let mut kept: VecDeque<Bytes> = VecDeque::with_capacity(list.len());
        let items: Vec<Bytes> =
            if n < 0 { list.drain(..).rev().collect() } else { list.drain(..).collect() };
        for item in items {
            if removed < limit && item == value {
                removed += 1;
            } else if n < 0 {
                kept.push_front(item);
            } else {
                kept.push_back(item);
            }
        }
        *list = kept;
        if list.is_empty() {
            self.data.remove(key);
        }
        Reply::Int(count(removed))
    }

    /// `LPOS key value` (no options) on the live list at `key`.
    fn lpos(&mut self, key: &[u8], value: &[u8]) -> Reply {
        let Some(Entry { value: Value::List(list), .. }) = self.live(key) else {
            return Reply::Nil;
        };
        list.iter().position(|item| item == value).map_or(Reply::Nil, |i| Reply::Int(count(i)))
    }

    /// Pops the head of the live list at `key`, deleting the key when it empties.
    fn pop(&mut self, key: &[u8]) -> Option<Bytes> {
        let Some(Entry { value: Value::List(list), .. }) = self.live(key) else { return None };
        let head = list.pop_front();
        if list.is_empty() {
            self.data.remove(key);
        }
        head
    }

    fn blpop(&mut self, client: ClientId, key: &[u8], timeout: Duration) -> Step {
        match self.list(key) {
            Err(e) => Step::Reply(e),
            Ok(Some(_)) => Step::Reply(self.pop(key).map_or(Reply::Nil, |v| popped(key, v))),
            Ok(None) => {
                let deadline = self.now.saturating_add(millis(timeout));
                self.waiters.block(client, key, deadline);
                Step::Blocked
            }
        }
    }

    /// Serves clients blocked on the keys the last command pushed to, longest-blocked first, as
    /// Redis does once a command or script has finished.
    fn serve_ready(&mut self) {
        for key in std::mem::take(&mut self.ready) {
            while self.waiters.any_on(&key) && matches!(self.list(&key), Ok(Some(_))) {
                let Some(item) = self.pop(&key) else { break };
                let Some(w) = self.waiters.first_on(&key) else { break };
                self.unblocked.push_back((w.client, popped(&key, item)));
            }
        }
    }

    fn publish(&mut self, channel: &[u8], message: &[u8]) -> Reply {
        let before = self.deliveries.len();
        let deliveries = self.channels.of(channel).map(|client| Delivery {
            client,
            channel: channel.to_vec(),
            message: message.to_vec(),
        });
        self.deliveries.extend(deliveries);
        Reply::Int(count(self.deliveries.len() - before))
    }

    fn eval(&mut self, script: &Script, keys: &[Bytes], args: &[Bytes]) -> Reply {
        let mut host = InScript { model: self, error: None };
        let reply = (script.model)(&mut host, keys, args);
        host.error.unwrap_or(reply)
    }

    fn now_i64(&self) -> i64 {
        i64::try_from(self.now).unwrap_or(i64::MAX)
    }
}

/// The model as a plain script host: each call is one command at top level (non-blocking).
impl ScriptHost for Model {
    fn call(&mut self, command: Command) -> Reply {
        self.apply(&command)
    }
}

/// The host a script's model face runs against: like Lua's `redis.call`, the first error
/// aborts the script (later calls do nothing) and becomes its reply; what ran before stays done.
struct InScript<'a> {
    model: &'a mut Model,
    error: Option<Reply>,
}

impl ScriptHost for InScript<'_> {
    fn call(&mut self, command: Command) -> Reply {
        if let Some(e) = &self.error {
            return e.clone();
        }
        let reply = self.model.apply(&command);
        if matches!(reply, Reply::Error(_)) {
            self.error = Some(reply.clone());
        }
        reply
    }
}

fn popped(key: &[u8], item: Bytes) -> Reply {
    Reply::Array(vec![Reply::Bulk(key.to_vec()), Reply::Bulk(item)])
}

fn num(n: impl std::fmt::Display) -> Bytes {
    n.to_string().into_bytes()
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A value as Redis reads an integer from a string: optional `-`, no `+`, no leading zeros, no
/// spaces, in `i64` range.
fn parse_integer(s: &[u8]) -> Option<i64> {
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let n: i64 = text.parse().ok()?;
    // `-0...` is excluded above by the first-digit rule; the sign matches the text.
    ((n < 0) == negative).then_some(n)
}

#[cfg(test)]
mod tests;
