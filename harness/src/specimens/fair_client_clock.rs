//! `fair-client-clock`: a fair lock whose waiters keep their places by deadlines read on the
//! clients' own wall clocks, the design of Redisson's `RedissonFairLock`.
//!
//! **What it does.** Three things on the server: the lock (our token, a `PX` lease), a queue of
//! waiting tokens (a list, oldest first), and each waiter's deadline, a wall-clock timestamp in
//! milliseconds. Every script call carries the caller's wall clock, read just before
//! ([`Action::ReadClock`]), and begins by dropping from the head of the queue every waiter
//! whose deadline is not after that clock: such a waiter is presumed gone. Then:
//!
//! * acquire: a free lock goes to the caller if the queue is empty or the caller is its head;
//!   it leaves the queue, and every waiter left has its deadline brought forward by one
//!   *step* (they are a place closer). Otherwise the caller joins the tail, its deadline the
//!   deadline of the waiter before it plus one step (behind nobody: the lock's remaining ttl
//!   plus one step, from now), and is answered how long to wait; a waiter already queued is
//!   answered its deadline less one step, less now. The step is the acquire's wait timeout
//!   (Redisson's `threadWaitTime`, [`THREAD_WAIT`] for an acquire that does not wait).
//! * waiting: after its first try the waiter subscribes to a channel of its own and tries
//!   again, then waits for a message on it, at most the answered time (or what is left of its
//!   wait when that is negative or longer), and tries again; at its deadline it leaves the
//!   queue, bringing forward by one step the deadlines of those behind it.
//! * release: delete the lock if it holds our token, then publish on the channel of the
//!   queue's head (only the head can take a free lock, so nobody barges).
//!
//! **What is wrong with it.** The deadlines are client timestamps compared with another
//! client's clock. A client whose clock runs ahead by more than a waiter's deadline is away
//! takes that live waiter for gone, and drops it: the waiter finds itself out of the queue at
//! its next look and joins at the tail, behind everyone who came after it, while the skewed
//! client, finding the queue emptied and the lock free, takes the lock at once. The lock claims
//! FIFO order ([`Protocol::fifo`], as Redisson documents its fair lock) and breaks it. A client
//! whose clock lags keeps a dead waiter at the head long after its deadline, and a free lock
//! then waits for it. A dropped waiter is not woken either (a release publishes to the head
//! only): it sleeps out the time it was told to wait while the lock may lie free.
//!
//! With true clocks, grants follow the queue as long as it has not stayed non-empty for more
//! than a lease and a step: a newcomer's deadline is the last one's plus a step and every
//! grant takes a step off every deadline, so under unbroken contention the head's deadline
//! stands still while time passes, and once it is passed the next look drops a live head
//! (Redisson issue 3004 reports live waiters dropped after `threadWaitTime`). The scenarios
//! keep their runs well inside that.
//!
//! **Faithful to.** Redisson's fair lock (`RedissonFairLock`, 3.x): the queue list, the timeout
//! sorted set scored by `System.currentTimeMillis()` passed in as an argument, the eviction at
//! the head on every acquire and release, the deadlines brought forward by the wait time on a
//! grant and on a failed acquire, the per-thread channel the release publishes on, the
//! subscribe-then-retry loop of `tryLock(waitTime, leaseTime)`. What differs, and why: the
//! deadlines are string keys (`queue:timeout:TOKEN`) instead of sorted-set members, because
//! the model of Redis the simulator runs has strings and lists only; the scripts read each
//! deadline by member, as Redisson's `ZSCORE` does, and walk the queue list, so the order of
//! evictions is the same. The lock is a string holding our token, not a hash of re-entry
//! counts (the harness never re-enters).
//!
//! **Where the harness sees it.** `fair-client-clock-skew`: one worker's clock runs a minute
//! ahead; the `fairness` checker reports grants to later waiters while earlier ones still
//! wait (`bypass`), and the `stranded-lock` checker the free lock the dropped waiters sleep
//! on. The same scenario without the skew is FIFO (`harness/tests/scenarios.rs`).

use std::time::Duration;

use redmutex::algo::{
    AcquireParams, ExtendParams, Protocol, ReleaseParams, bad_reply, checked_extend, grant,
    unexpected,
};
use redmutex::proto::{
    Action, Bytes, Command, Event, Keys, Machine, Outcome, Reply, Script, ScriptHost, millis, num,
};

use super::{CheckerKind, KnownBug};

/// The specimen's name.
pub const NAME: &str = "fair-client-clock";

/// One line for `contend list`.
pub const SUMMARY: &str = "a FIFO queue whose places expire at client wall-clock deadlines (Redisson's fair lock): a client with a fast clock drops live waiters";

/// The known bugs: one mistake, two consequences.
pub const BUGS: &[KnownBug] = &[
    KnownBug {
        id: "fast-clock-evicts-waiters",
        what: "a client whose clock runs ahead takes live waiters' deadlines for past and drops them from the queue; later waiters are granted the lock first",
        checker: CheckerKind::Fairness,
        scenario: "fair-client-clock-skew",
        fault: "one worker's wall clock runs ahead by more than the ttl plus the wait",
        safety: false,
    },
    KnownBug {
        id: "evicted-waiters-sleep-on-a-free-lock",
        what: "a dropped waiter is never woken (a release wakes only the queue's head): it sleeps out its wait while the lock lies free",
        checker: CheckerKind::StrandedLock,
        scenario: "fair-client-clock-skew",
        fault: "one worker's wall clock runs ahead by more than the ttl plus the wait",
        safety: false,
    },
];

/// How much later than the waiter before it a waiter's place expires when its acquire does not
/// wait (Redisson's default `threadWaitTime`, five minutes); an acquire that waits uses its
/// wait timeout.
pub const THREAD_WAIT: Duration = Duration::from_secs(300);

/// How long the wait right after the first try lasts: it is there to subscribe to the waiter's
/// channel before the second try, so that a release between the two is not missed.
pub const SUBSCRIBE_WAIT: Duration = Duration::from_millis(1);

/// The message a release publishes to the queue's head.
pub const UNLOCK: &[u8] = b"unlock";

/// Drops the waiters at the head of queue `KEYS[2]` whose deadline (`KEYS[3]:token`) is not
/// after `now`; needs `now` and `deadline` defined.
macro_rules! evict {
    () => {
        r"while true do
  local head = redis.call('lindex', KEYS[2], 0)
  if not head then
    break
  end
  local d = deadline(head)
  if d and d > now then
    break
  end
  redis.call('lpop', KEYS[2])
  redis.call('del', KEYS[3] .. ':' .. head)
end
"
    };
}

/// Acquire. `KEYS` lock, queue, deadline prefix; `ARGV` token, lease ms, step ms, the caller's
/// wall clock ms, mode (`0` try: never join; `1` join). Answers nil when acquired, else how
/// long to wait, ms.
pub static ACQUIRE: Script = Script::new(
    "fair-client-clock-acquire",
    concat!(
        r"local me, step, now = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local function deadline(id)
  return tonumber(redis.call('get', KEYS[3] .. ':' .. id))
end
",
        evict!(),
        r"local head = redis.call('lindex', KEYS[2], 0)
if redis.call('exists', KEYS[1]) == 0 and (not head or head == me) then
  if head then
    redis.call('lpop', KEYS[2])
    redis.call('del', KEYS[3] .. ':' .. me)
  end
  for _, id in ipairs(redis.call('lrange', KEYS[2], 0, -1)) do
    local d = deadline(id)
    if d then
      redis.call('set', KEYS[3] .. ':' .. id, string.format('%d', d - step))
    end
  end
  redis.call('set', KEYS[1], me, 'PX', ARGV[2])
  return nil
end
if ARGV[5] == '0' then
  return redis.call('pttl', KEYS[1])
end
local mine = deadline(me)
if mine then
  return mine - step - now
end
local last = redis.call('lindex', KEYS[2], -1)
local ttl
if last then
  ttl = (deadline(last) or now) - now
else
  ttl = redis.call('pttl', KEYS[1])
end
redis.call('set', KEYS[3] .. ':' .. me, string.format('%d', ttl + step + now))
redis.call('rpush', KEYS[2], me)
return ttl"
    ),
    acquire_model,
);

/// Release. `KEYS` lock, queue, deadline prefix, channel prefix; `ARGV` token, the caller's
/// wall clock ms. Deletes the lock if it holds the token; unless the lock is another's,
/// publishes [`UNLOCK`] on the channel of the queue's head. Answers 1 when it deleted our
/// lock, else 0.
pub static RELEASE: Script = Script::new(
    "fair-client-clock-release",
    concat!(
        r"local now = tonumber(ARGV[2])
local function deadline(id)
  return tonumber(redis.call('get', KEYS[3] .. ':' .. id))
end
",
        evict!(),
        r"local held = redis.call('get', KEYS[1])
if held == ARGV[1] then
  redis.call('del', KEYS[1])
elseif held then
  return 0
end
local head = redis.call('lindex', KEYS[2], 0)
if head then
  redis.call('publish', KEYS[4] .. ':' .. head, 'unlock')
end
if held then
  return 1
end
return 0"
    ),
    release_model,
);

/// An acquire that gives up. `KEYS` queue, deadline prefix; `ARGV` token, step ms. Brings the
/// deadlines of the waiters behind the caller forward by one step and leaves the queue.
/// Answers 0.
pub static GIVE_UP: Script = Script::new(
    "fair-client-clock-give-up",
    r"local behind = false
for _, id in ipairs(redis.call('lrange', KEYS[1], 0, -1)) do
  if behind then
    local d = tonumber(redis.call('get', KEYS[2] .. ':' .. id))
    if d then
      redis.call('set', KEYS[2] .. ':' .. id, string.format('%d', d - tonumber(ARGV[2])))
    end
  elseif id == ARGV[1] then
    behind = true
  end
end
redis.call('lrem', KEYS[1], 0, ARGV[1])
redis.call('del', KEYS[2] .. ':' .. ARGV[1])
return 0",
    give_up_model,
);

/// The protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FairClientClock;

/// The specimen (its one time constant, [`THREAD_WAIT`], only matters to acquires that do not
/// wait).
pub static DOCUMENT: FairClientClock = FairClientClock;

/// The prefix of the waiters' deadline keys: `queue:timeout`, a deadline at `prefix:token`.
#[must_use]
pub fn deadlines(keys: &Keys) -> Bytes {
    [keys.waiters.as_slice(), b":timeout"].concat()
}

/// The channel a release publishes on to wake the waiter with `token`.
#[must_use]
pub fn channel_of(keys: &Keys, token: &[u8]) -> Bytes {
    [keys.channel.as_slice(), b":", token].concat()
}

impl Protocol for FairClientClock {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        let channel = channel_of(&p.keys, &p.token.to_bytes());
        Box::new(Acquire {
            step: p.wait.unwrap_or(THREAD_WAIT),
            p,
            channel,
            deadline: None,
            state: State::New,
            sent_at: Duration::ZERO,
            subscribed: false,
        })
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Box::new(Release { p, read: false })
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Some(Box::new(checked_extend(&p)))
    }

    /// It claims what Redisson's fair lock documents; the checker finds that a fast client
    /// clock breaks it.
    fn fifo(&self) -> bool {
        true
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    /// The wall clock is being read for the next try.
    Clock,
    /// The acquire script is in flight.
    Trying,
    /// Waiting for a message (or subscribing, the first time).
    Waiting,
    /// The give-up script is in flight.
    GivingUp,
}

struct Acquire {
    p: AcquireParams,
    step: Duration,
    channel: Bytes,
    deadline: Option<Duration>,
    state: State,
    /// When the last acquire script was sent: a lease it won began no earlier.
    sent_at: Duration,
    subscribed: bool,
}

impl Acquire {
    fn attempt(&mut self, now: Duration, clock_ms: u64) -> Action {
        self.sent_at = now;
        self.state = State::Trying;
        let mode: &[u8] = if self.deadline.is_some() { b"1" } else { b"0" };
        Action::Send(Command::Eval {
            script: &ACQUIRE,
            keys: vec![
                self.p.keys.lock.clone(),
                self.p.keys.waiters.clone(),
                deadlines(&self.p.keys),
            ],
            args: vec![
                self.p.token.to_bytes(),
                num(millis(self.p.ttl)),
                num(millis(self.step)),
                num(clock_ms),
                mode.to_vec(),
            ],
        })
    }

    fn busy(&mut self, now: Duration, wait_ms: i64) -> Action {
        let Some(deadline) = self.deadline else { return Action::Done(Outcome::Busy) };
        if now >= deadline {
            return self.give_up();
        }
        let left = deadline - now;
        let timeout = if self.subscribed {
            // As Redisson: the answered time when it is shorter than what is left of the wait,
            // else what is left (a negative answer included).
            match u64::try_from(wait_ms).map(Duration::from_millis) {
                Ok(d) if d < left => d,
                _ => left,
            }
        } else {
            self.subscribed = true;
            SUBSCRIBE_WAIT
        };
        self.state = State::Waiting;
        Action::Wait {
            channel: self.channel.clone(),
            timeout: timeout.max(Duration::from_millis(1)),
        }
    }

    fn give_up(&mut self) -> Action {
        self.state = State::GivingUp;
        Action::Send(Command::Eval {
            script: &GIVE_UP,
            keys: vec![self.p.keys.waiters.clone(), deadlines(&self.p.keys)],
            args: vec![self.p.token.to_bytes(), num(millis(self.step))],
        })
    }
}

impl Machine for Acquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match (self.state, event) {
            (State::New, Event::Start) => {
                self.deadline = self.p.wait.map(|w| now + w);
                self.state = State::Clock;
                Action::ReadClock
            }
            (State::Clock, Event::Clock(ms)) => self.attempt(now, ms),
            (State::Trying, Event::Reply(Reply::Nil)) => {
                let won = grant(self.p.token.to_bytes(), self.sent_at, self.p.ttl, self.p.drift);
                Action::Done(Outcome::Acquired(won))
            }
            (State::Trying, Event::Reply(Reply::Int(wait_ms))) => self.busy(now, wait_ms),
            (State::Trying, Event::Reply(other)) => Action::Done(bad_reply("acquire", &other)),
            (State::Waiting, Event::Notified(_) | Event::TimedOut) => {
                if self.deadline.is_some_and(|d| now >= d) {
                    return self.give_up();
                }
                self.state = State::Clock;
                Action::ReadClock
            }
            (State::GivingUp, Event::Reply(r @ Reply::Error(_))) => {
                Action::Done(bad_reply("acquire", &r))
            }
            (State::GivingUp, Event::Reply(_)) => Action::Done(Outcome::TimedOut),
            (_, other) => Action::Done(unexpected(&other)),
        }
    }
}

struct Release {
    p: ReleaseParams,
    read: bool,
}

impl Machine for Release {
    fn handle(&mut self, _now: Duration, event: Event) -> Action {
        match event {
            Event::Start if !self.read => Action::ReadClock,
            Event::Clock(ms) if !self.read => {
                self.read = true;
                let k = &self.p.keys;
                Action::Send(Command::Eval {
                    script: &RELEASE,
                    keys: vec![k.lock.clone(), k.waiters.clone(), deadlines(k), k.channel.clone()],
                    args: vec![self.p.grant.token.clone(), num(ms)],
                })
            }
            Event::Reply(reply) if self.read => Action::Done(match reply {
                Reply::Int(1) => Outcome::Released { owned: true, handed: None },
                Reply::Int(0) => Outcome::Released { owned: false, handed: None },
                other => bad_reply("release", &other),
            }),
            other => Action::Done(unexpected(&other)),
        }
    }
}

/// The queue, taken off the server so that the model faces can read it whole (the model has
/// no `LRANGE`); [`Queue::put_back`] restores it as the scripts left it.
struct Queue {
    key: Bytes,
    items: Vec<Bytes>,
}

impl Queue {
    fn take(h: &mut dyn ScriptHost, key: &[u8]) -> Queue {
        let mut items = Vec::new();
        while let Reply::Bulk(item) = h.call(Command::LPop { key: key.to_vec() }) {
            items.push(item);
        }
        Queue { key: key.to_vec(), items }
    }

    fn put_back(self, h: &mut dyn ScriptHost) {
        if !self.items.is_empty() {
            h.call(Command::RPush { key: self.key, values: self.items });
        }
    }
}

/// A deadline key's name.
fn deadline_key(prefix: &[u8], id: &[u8]) -> Bytes {
    [prefix, b":", id].concat()
}

/// Lua's `tonumber(redis.call('get', key))`.
fn deadline(h: &mut dyn ScriptHost, prefix: &[u8], id: &[u8]) -> Option<f64> {
    match h.call(Command::Get { key: deadline_key(prefix, id) }) {
        Reply::Bulk(b) => std::str::from_utf8(&b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// `SET key string.format('%d', value)`.
fn set_deadline(h: &mut dyn ScriptHost, prefix: &[u8], id: &[u8], value: f64) {
    // Deadlines are whole milliseconds; `%d` truncates as this cast does.
    let value = value as i64;
    h.call(Command::Set {
        key: deadline_key(prefix, id),
        value: num(value),
        cond: None,
        expiry: None,
        get: false,
    });
}

/// The eviction every acquire and release begins with.
fn evict(h: &mut dyn ScriptHost, queue: &mut Queue, prefix: &[u8], now: f64) {
    while let Some(head) = queue.items.first().cloned() {
        if deadline(h, prefix, &head).is_some_and(|d| d > now) {
            break;
        }
        queue.items.remove(0);
        h.call(Command::Del { keys: vec![deadline_key(prefix, &head)] });
    }
}

fn arg_f64(args: &[Bytes], i: usize) -> f64 {
    args.get(i).and_then(|a| std::str::from_utf8(a).ok()?.trim().parse().ok()).unwrap_or(0.0)
}

/// A Lua number returned from a script: Redis truncates it to an integer.
fn lua_int(n: f64) -> Reply {
    // Truncation toward zero is what Redis does with a Lua number reply.
    Reply::Int(n as i64)
}

fn acquire_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    let (Some(lock), Some(queue_key), Some(prefix)) = (keys.first(), keys.get(1), keys.get(2))
    else {
        return Reply::Error("ERR fair-client-clock-acquire needs three keys".into());
    };
    let me = args.first().cloned().unwrap_or_default();
    let (step, now) = (arg_f64(args, 2), arg_f64(args, 3));
    let mut queue = Queue::take(h, queue_key);
    evict(h, &mut queue, prefix, now);
    let free = h.call(Command::Get { key: lock.clone() }) == Reply::Nil;
    let head = queue.items.first().cloned();
    if free && head.as_ref().is_none_or(|head| *head == me) {
        if head.is_some() {
            queue.items.remove(0);
            h.call(Command::Del { keys: vec![deadline_key(prefix, &me)] });
        }
        for id in &queue.items {
            if let Some(d) = deadline(h, prefix, id) {
                set_deadline(h, prefix, id, d - step);
            }
        }
        queue.put_back(h);
        let lease = arg_f64(args, 1) as u64;
        h.call(Command::Set {
            key: lock.clone(),
            value: me,
            cond: None,
            expiry: Some(redmutex::proto::Expiry::Px(lease)),
            get: false,
        });
        return Reply::Nil;
    }
    let pttl = |h: &mut dyn ScriptHost| h.call(Command::Pttl { key: lock.clone() });
    if args.get(4).is_some_and(|m| m == b"0") {
        queue.put_back(h);
        return pttl(h);
    }
    if let Some(mine) = deadline(h, prefix, &me) {
        queue.put_back(h);
        return lua_int(mine - step - now);
    }
    let ttl = match queue.items.last() {
        Some(last) => deadline(h, prefix, last).unwrap_or(now) - now,
        None => pttl(h).as_int().unwrap_or(-2) as f64,
    };
    set_deadline(h, prefix, &me, ttl + step + now);
    queue.items.push(me);
    queue.put_back(h);
    lua_int(ttl)
}

fn release_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    let [lock, queue_key, prefix, channel, ..] = keys else {
        return Reply::Error("ERR fair-client-clock-release needs four keys".into());
    };
    let me = args.first().cloned().unwrap_or_default();
    let mut queue = Queue::take(h, queue_key);
    evict(h, &mut queue, prefix, arg_f64(args, 1));
    let head = queue.items.first().cloned();
    queue.put_back(h);
    let ours = match h.call(Command::Get { key: lock.clone() }) {
        Reply::Bulk(held) if held == me => {
            h.call(Command::Del { keys: vec![lock.clone()] });
            true
        }
        Reply::Nil => false,
        _ => return Reply::Int(0),
    };
    if let Some(head) = head {
        let channel = [channel.as_slice(), b":", &head].concat();
        h.call(Command::Publish { channel, message: UNLOCK.to_vec() });
    }
    Reply::Int(i64::from(ours))
}

fn give_up_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    let [queue_key, prefix, ..] = keys else {
        return Reply::Error("ERR fair-client-clock-give-up needs two keys".into());
    };
    let me = args.first().cloned().unwrap_or_default();
    let step = arg_f64(args, 1);
    let mut queue = Queue::take(h, queue_key);
    let behind: Vec<Bytes> =
        queue.items.iter().skip_while(|id| **id != me).skip(1).cloned().collect();
    for id in &behind {
        if let Some(d) = deadline(h, prefix, id) {
            set_deadline(h, prefix, id, d - step);
        }
    }
    queue.items.retain(|id| *id != me);
    queue.put_back(h);
    h.call(Command::Del { keys: vec![deadline_key(prefix, &me)] });
    Reply::Int(0)
}

#[cfg(test)]
mod tests {
    use redmutex::proto::{Grant, Token};
    use redmutex::sim::{ClientId, Model, Step};

    use super::*;
    use crate::specimens::testkit::{Drive, acquire, done, grant, release, sent};

    const T0: u64 = 1_700_000_000_000;
    const LEASE: u64 = 2_000;
    const STEP: u64 = 10_000;
    /// A minute ahead: past every deadline of a short queue.
    const AHEAD: i64 = 60_000;
    const H: u128 = 1;
    const A: u128 = 2;
    const B: u128 = 3;
    const S: u128 = 4;

    fn id(who: u128) -> Bytes {
        Token::from_u128(who).to_bytes()
    }

    /// One lock on a model server; each call runs one of the scripts as the client `who`
    /// whose clock reads `offset` ms off the server's.
    #[derive(Clone)]
    struct Lock {
        model: Model,
        keys: Keys,
    }

    impl Lock {
        fn new() -> Lock {
            Lock { model: Model::starting_at(T0), keys: Keys::new("t:", "l") }
        }

        fn eval(&mut self, script: &'static Script, keys: Vec<Bytes>, args: Vec<Bytes>) -> Reply {
            match self.model.exec(ClientId(0), &Command::Eval { script, keys, args }) {
                Step::Reply(reply) => reply,
                Step::Blocked => panic!("a script blocked"),
            }
        }

        fn clock(&self, offset: i64) -> Bytes {
            num(self.model.now().saturating_add_signed(offset))
        }

        fn acquire(&mut self, who: u128, offset: i64) -> Reply {
            let k = &self.keys;
            let keys = vec![k.lock.clone(), k.waiters.clone(), deadlines(k)];
            let args = vec![id(who), num(LEASE), num(STEP), self.clock(offset), b"1".to_vec()];
            self.eval(&ACQUIRE, keys, args)
        }

        fn release(&mut self, who: u128, offset: i64) -> Reply {
            let k = &self.keys;
            let keys = vec![k.lock.clone(), k.waiters.clone(), deadlines(k), k.channel.clone()];
            self.eval(&RELEASE, keys, vec![id(who), self.clock(offset)])
        }

        fn give_up(&mut self, who: u128) -> Reply {
            let keys = vec![self.keys.waiters.clone(), deadlines(&self.keys)];
            self.eval(&GIVE_UP, keys, vec![id(who), num(STEP)])
        }

        /// The queue, oldest first (read off a copy: the model has no `LRANGE`).
        fn queue(&self) -> Vec<Bytes> {
            let mut copy = self.model.clone();
            Queue::take(&mut copy, &self.keys.waiters).items
        }

        fn deadline(&self, who: u128) -> Option<u64> {
            self.deadline_of(&id(who))
        }

        fn deadline_of(&self, token: &[u8]) -> Option<u64> {
            let key = deadline_key(&deadlines(&self.keys), token);
            std::str::from_utf8(self.model.string(&key)?).ok()?.parse().ok()
        }

        fn holder(&self) -> Option<Bytes> {
            self.model.string(&self.keys.lock).map(<[u8]>::to_vec)
        }
    }

    /// H holds; A then B queue behind it (true clocks); H releases and publishes to A.
    fn a_and_b_queued_behind_a_release() -> Lock {
        let mut lock = Lock::new();
        assert_eq!(lock.acquire(H, 0), Reply::Nil);
        lock.model.advance(10);
        // Behind nobody: the lease's remaining ttl.
        assert_eq!(lock.acquire(A, 0), Reply::Int(1_990));
        lock.model.advance(10);
        // Behind A: until A's deadline.
        assert_eq!(lock.acquire(B, 0), Reply::Int(11_980));
        assert_eq!(lock.queue(), [id(A), id(B)]);
        lock.model.advance(10);
        assert_eq!(lock.release(H, 0), Reply::Int(1));
        lock
    }

    #[test]
    fn deadlines_chain_one_step_apart_and_move_up_a_step_on_each_grant() {
        let mut lock = a_and_b_queued_behind_a_release();
        let a = T0 + 10 + 1_990 + STEP;
        assert_eq!((lock.deadline(A), lock.deadline(B)), (Some(a), Some(a + STEP)));
        // A, woken, takes the lock; B moves up a place and a step.
        assert_eq!(lock.acquire(A, 0), Reply::Nil);
        assert_eq!(lock.holder(), Some(id(A)));
        assert_eq!(
            (lock.queue(), lock.deadline(A), lock.deadline(B)),
            (vec![id(B)], None, Some(a))
        );
        // B asks again: its deadline less a step, less now.
        let now = lock.model.now();
        assert_eq!(lock.acquire(B, 0), Reply::Int(i64::try_from(a - STEP - now).unwrap()));
        assert_eq!(lock.queue(), [id(B)], "asking again does not queue twice");
    }

    #[test]
    fn with_true_clocks_a_newcomer_queues_behind_the_woken_head() {
        let mut lock = a_and_b_queued_behind_a_release();
        // The lock is free, but A heads the queue: S queues.
        assert!(matches!(lock.acquire(S, 0), Reply::Int(_)));
        assert_eq!(lock.queue(), [id(A), id(B), id(S)]);
        assert_eq!(lock.acquire(A, 0), Reply::Nil);
    }

    #[test]
    fn a_client_whose_clock_runs_ahead_drops_live_waiters_and_takes_the_lock_first() {
        let mut lock = a_and_b_queued_behind_a_release();
        // A minute ahead, S sees A's and B's deadlines long past: it drops both, finds the
        // queue empty and the lock free, and takes it.
        assert_eq!(lock.acquire(S, AHEAD), Reply::Nil);
        assert_eq!(lock.holder(), Some(id(S)));
        assert!(lock.queue().is_empty());
        assert_eq!((lock.deadline(A), lock.deadline(B)), (None, None));
        // A, woken by H's release, asks and finds its place gone: it joins at the tail, as a
        // newcomer would.
        assert!(matches!(lock.acquire(A, 0), Reply::Int(_)));
        assert_eq!(lock.queue(), [id(A)]);
    }

    #[test]
    fn a_release_by_a_fast_clock_drops_the_waiters_it_should_wake() {
        let mut lock = Lock::new();
        assert_eq!(lock.acquire(S, AHEAD), Reply::Nil);
        assert!(matches!(lock.acquire(A, 0), Reply::Int(_)));
        assert!(matches!(lock.acquire(B, 0), Reply::Int(_)));
        lock.model.subscribe(ClientId(1), &channel_of(&lock.keys, &id(A)));
        assert_eq!(lock.release(S, AHEAD), Reply::Int(1));
        assert!(lock.queue().is_empty(), "A and B dropped by the releaser's clock");
        assert!(lock.model.take_deliveries().is_empty(), "and nobody woken");

        // With a true clock the release wakes A, the head.
        let mut lock = Lock::new();
        assert_eq!(lock.acquire(S, 0), Reply::Nil);
        assert!(matches!(lock.acquire(A, 0), Reply::Int(_)));
        lock.model.subscribe(ClientId(1), &channel_of(&lock.keys, &id(A)));
        assert_eq!(lock.release(S, 0), Reply::Int(1));
        let woken = lock.model.take_deliveries();
        assert_eq!((woken.len(), woken[0].client), (1, ClientId(1)));
    }

    #[test]
    fn a_client_whose_clock_lags_cannot_drop_a_dead_head() {
        let mut lock = Lock::new();
        assert_eq!(lock.acquire(H, 0), Reply::Nil);
        // D queues, then dies: it never asks again.
        let d = A;
        assert!(matches!(lock.acquire(d, 0), Reply::Int(_)));
        assert_eq!(lock.release(H, 0), Reply::Int(1));
        // Well past D's deadline (lease + step), the lock is free.
        lock.model.advance(LEASE + STEP + 1_000);
        let mut lagging = lock.clone();
        // A clock a minute behind still sees D's place as live: the free lock waits for D.
        assert!(matches!(lagging.acquire(S, -AHEAD), Reply::Int(_)));
        assert_eq!(lagging.queue(), [id(d), id(S)]);
        // A true clock drops D and takes the lock.
        assert_eq!(lock.acquire(S, 0), Reply::Nil);
    }

    #[test]
    fn with_true_clocks_unbroken_contention_longer_than_a_lease_and_a_step_drops_a_live_head() {
        let mut lock = a_and_b_queued_behind_a_release();
        let first = lock.deadline(A).unwrap();
        // Every second the head takes the lock, a newcomer queues, the holder releases: the
        // queue never empties, and whoever heads it has the first head's deadline.
        let mut next = 10;
        while lock.model.now() < first {
            let head = lock_head(&lock);
            assert_eq!(lock.acquire(head, 0), Reply::Nil);
            assert_eq!(lock.deadline(lock_head(&lock)), Some(first));
            assert!(matches!(lock.acquire(next, 0), Reply::Int(_)));
            next += 1;
            lock.model.advance(1_000);
            let woken = lock_head(&lock);
            assert_eq!(lock.release(head, 0), Reply::Int(1));
            // Once the clock passes that deadline, the release drops the live head it was
            // about to wake.
            let dropped = !lock.queue().contains(&id(woken));
            assert_eq!(dropped, lock.model.now() >= first, "at {}", lock.model.now() - T0);
        }
        assert!(lock.model.now() - T0 > LEASE + STEP);
    }

    fn lock_head(lock: &Lock) -> u128 {
        let head = lock.queue()[0].clone();
        (1..1_000).find(|&n| id(n) == head).unwrap()
    }

    #[test]
    fn a_waiter_that_gives_up_leaves_and_those_behind_it_move_up_a_step() {
        let mut lock = a_and_b_queued_behind_a_release();
        let b = lock.deadline(B).unwrap();
        assert_eq!(lock.give_up(A), Reply::Int(0));
        assert_eq!(
            (lock.queue(), lock.deadline(A), lock.deadline(B)),
            (vec![id(B)], None, Some(b - STEP))
        );
        // Giving up when not queued changes nothing.
        assert_eq!(lock.give_up(S), Reply::Int(0));
        assert_eq!(lock.queue(), [id(B)]);
    }

    fn clocked(action: Action) {
        assert_eq!(action, Action::ReadClock);
    }

    fn script_args(action: Action, script: &Script) -> Vec<Bytes> {
        match sent(action) {
            Command::Eval { script: s, args, .. } if s == script => args,
            other => panic!("expected {}, sent {other:?}", script.name),
        }
    }

    #[test]
    fn an_acquire_reads_the_clock_before_each_try_subscribes_then_waits_its_answer() {
        let (mut d, first) = Drive::start(DOCUMENT.acquire(acquire(2_000, Some(10_000))), 0);
        clocked(first);
        let args = script_args(d.feed(Event::Clock(T0)), &ACQUIRE);
        assert_eq!(args[1..], [num(2_000), num(10_000), num(T0), b"1".to_vec()]);
        // Busy: subscribe to its channel first, and try again.
        let channel = channel_of(&Keys::new("t:", "l"), &Token::from_u128(7).to_bytes());
        let subscribe = Action::Wait { channel: channel.clone(), timeout: SUBSCRIBE_WAIT };
        assert_eq!(d.feed(Event::Reply(Reply::Int(1_500))), subscribe);
        d.now_ms = 1;
        clocked(d.feed(Event::TimedOut));
        let args = script_args(d.feed(Event::Clock(T0 + 1)), &ACQUIRE);
        assert_eq!(args[3], num(T0 + 1));
        // Then wait for a message, at most the answered time.
        let wait = Action::Wait { channel: channel.clone(), timeout: Duration::from_millis(1_499) };
        assert_eq!(d.feed(Event::Reply(Reply::Int(1_499))), wait);
        // A negative answer, or one past the wait's end: what is left of the wait.
        d.now_ms = 500;
        clocked(d.feed(Event::Notified(UNLOCK.to_vec())));
        let _ = d.feed(Event::Clock(T0 + 500));
        let rest = Action::Wait { channel, timeout: Duration::from_millis(9_500) };
        assert_eq!(d.feed(Event::Reply(Reply::Int(-3))), rest);
        d.now_ms = 700;
        clocked(d.feed(Event::Notified(UNLOCK.to_vec())));
        let _ = d.feed(Event::Clock(T0 + 700));
        let won = grant(d.feed(Event::Reply(Reply::Nil)));
        assert_eq!((won.acquired_at, won.valid_until), (ms(700), ms(2_700)));
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_acquire_past_its_wait_leaves_the_queue_and_times_out() {
        let (mut d, _) = Drive::start(DOCUMENT.acquire(acquire(2_000, Some(1_000))), 0);
        let _ = d.feed(Event::Clock(T0));
        let _ = d.feed(Event::Reply(Reply::Int(5_000)));
        d.now_ms = 1;
        let _ = d.feed(Event::TimedOut);
        let _ = d.feed(Event::Clock(T0 + 1));
        let _ = d.feed(Event::Reply(Reply::Int(5_000)));
        d.now_ms = 1_000;
        let args = script_args(d.feed(Event::TimedOut), &GIVE_UP);
        assert_eq!(args, [Token::from_u128(7).to_bytes(), num(1_000)]);
        assert_eq!(done(d.feed(Event::Reply(Reply::Int(0)))), Outcome::TimedOut);
    }

    #[test]
    fn an_acquire_without_a_wait_tries_once_and_never_queues() {
        let (mut d, _) = Drive::start(DOCUMENT.acquire(acquire(2_000, None)), 0);
        let args = script_args(d.feed(Event::Clock(T0)), &ACQUIRE);
        assert_eq!(args[2..], [num(millis(THREAD_WAIT)), num(T0), b"0".to_vec()]);
        assert_eq!(done(d.feed(Event::Reply(Reply::Int(700)))), Outcome::Busy);

        let mut lock = Lock::new();
        assert_eq!(lock.acquire(H, 0), Reply::Nil);
        let k = lock.keys.clone();
        let keys = vec![k.lock.clone(), k.waiters.clone(), deadlines(&k)];
        let args = vec![id(S), num(LEASE), num(STEP), lock.clock(0), b"0".to_vec()];
        assert_eq!(lock.eval(&ACQUIRE, keys, args), Reply::Int(i64::try_from(LEASE).unwrap()));
        assert!(lock.queue().is_empty());
    }

    #[test]
    fn a_release_sends_its_clock_and_reports_whether_the_lock_was_its_own() {
        let g = Grant {
            token: b"tok".to_vec(),
            fence: None,
            acquired_at: Duration::ZERO,
            valid_until: Duration::ZERO,
            clock_ms: None,
        };
        for (reply, owned) in [(1, true), (0, false)] {
            let (mut d, first) = Drive::start(DOCUMENT.release(release(g.clone(), 2_000)), 0);
            clocked(first);
            let args = script_args(d.feed(Event::Clock(T0)), &RELEASE);
            assert_eq!(args, [b"tok".to_vec(), num(T0)]);
            let outcome = done(d.feed(Event::Reply(Reply::Int(reply))));
            assert_eq!(outcome, Outcome::Released { owned, handed: None });
        }
        let mut lock = Lock::new();
        assert_eq!(lock.acquire(H, 0), Reply::Nil);
        assert_eq!(lock.release(S, 0), Reply::Int(0), "not S's");
        assert_eq!(lock.holder(), Some(id(H)));
    }
}
