//! The Lua scripts of the reference algorithms, each with its model face.
//!
//! Internal: hidden from the docs, for the `contend` harness; not covered by semver.
//!
//! A model face must mean exactly what its Lua means: the differential test of the model runs
//! both against the same inputs and requires equal replies.

use crate::proto::{Bytes, Command, Expiry, Reply, Script, ScriptHost, SetCond};

/// Release: delete the lock only if it still holds our token. `KEYS[1]` lock, `ARGV[1]` token.
/// Answers 1 when it was ours, 0 otherwise.
pub static RELEASE: Script = Script::new(
    "release",
    r"if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  return 1
end
return 0",
    release_model,
);

/// Extend: reset the lock's expiry to `ARGV[2]` ms only if it still holds token `ARGV[1]`.
/// Answers 1 when it was ours, 0 otherwise.
pub static EXTEND: Script = Script::new(
    "extend",
    r"if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
return 0",
    extend_model,
);

/// Fenced acquire: `SET NX PX`, and on success the next value of the fence counter `KEYS[2]`
/// (which never expires, so fences strictly increase). Answers the fence, or 0 when busy.
pub static FENCED_ACQUIRE: Script = Script::new(
    "fenced-acquire",
    r"if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('incr', KEYS[2])
end
return 0",
    fenced_acquire_model,
);

/// The protected resource's compare-and-set: store `ARGV[2]` in `KEYS[1]` only if fence
/// `ARGV[1]` is not older than the last accepted one, kept in `KEYS[2]`. Answers 1 when stored.
pub static FENCED_WRITE: Script = Script::new(
    "fenced-write",
    r"local last = tonumber(redis.call('get', KEYS[2]) or '0')
if tonumber(ARGV[1]) < last then
  return 0
end
redis.call('set', KEYS[2], ARGV[1])
redis.call('set', KEYS[1], ARGV[2])
return 1",
    fenced_write_model,
);

/// The protected resource's fenced read: refuse (`{0}`) when fence `ARGV[1]` is older than the
/// last one the resource saw (`KEYS[2]`); otherwise record it as the last and answer `{1}` and
/// the value of `KEYS[1]` when it has one. Reading raises the bar: once a newer holder has read,
/// a stale holder's write is refused even if it arrives before the newer holder's write, so a
/// read-modify-write under a fenced lock cannot be overwritten by a paused predecessor.
pub static FENCED_READ: Script = Script::new(
    "fenced-read",
    r"local last = tonumber(redis.call('get', KEYS[2]) or '0')
if tonumber(ARGV[1]) < last then
  return {0}
end
redis.call('set', KEYS[2], ARGV[1])
local v = redis.call('get', KEYS[1])
if v then
  return {1, v}
end
return {1}",
    fenced_read_model,
);

/// Notify acquire. `KEYS` lock, waiters (a list of waiting tokens, oldest first), the caller's
/// own signal list; `ARGV` token, ttl ms, mode, how long a look keeps the caller's place, ms.
///
/// Takes the lock when it is free, or when a release handed it to the caller (the lock already
/// holds the caller's token): either way the lease restarts now and the caller leaves the
/// waiters. The holder is read with `GET` and a free lock taken with `SET PX` (not one
/// `SET NX PX GET`, which Redis before 7.0 refuses; inside the script the two are one step).
/// Otherwise, by
/// mode: `0` (a try) changes nothing; `1` (a waiter's first look, whose fresh token cannot be
/// queued yet) joins the waiters; `3` (a waiter looking again) joins them unless still there;
/// `2` (a waiter giving up) leaves them. Modes `2` and `3` also empty the caller's signal list
/// when they leave it without the lock: an item left there belongs to a hand-off whose lock
/// has since been lost, and must not wake a later wait. Modes `1` and `3` mark the caller
/// alive (`signal:alive`, for `ARGV[4]` ms): a release hands the lock only to a waiter still
/// marked, so one that died in the queue is skipped once its mark expires. Taking the lock or
/// leaving the queue removes the mark. Answers `{1, token}` when acquired, `{0, pttl}` when
/// busy.
pub static NOTIFY_ACQUIRE: Script = Script::new(
    "notify-acquire",
    r"local me = ARGV[1]
local alive = KEYS[3] .. ':alive'
local held = redis.call('get', KEYS[1])
if not held then
  redis.call('set', KEYS[1], me, 'PX', ARGV[2])
  if ARGV[3] ~= '0' then
    redis.call('lrem', KEYS[2], 0, me)
    redis.call('del', KEYS[3], alive)
  end
  return {1, me}
end
if held == me then
  redis.call('pexpire', KEYS[1], ARGV[2])
  redis.call('del', KEYS[3], alive)
  return {1, me}
end
if ARGV[3] == '1' then
  redis.call('rpush', KEYS[2], me)
  redis.call('pexpire', KEYS[2], ARGV[2])
  redis.call('set', alive, '1', 'PX', ARGV[4])
elseif ARGV[3] == '3' then
  redis.call('del', KEYS[3])
  if not redis.call('lpos', KEYS[2], me) then
    redis.call('rpush', KEYS[2], me)
  end
  redis.call('pexpire', KEYS[2], ARGV[2])
  redis.call('set', alive, '1', 'PX', ARGV[4])
elseif ARGV[3] == '2' then
  redis.call('del', KEYS[3], alive)
  redis.call('lrem', KEYS[2], 0, me)
end
return {0, redis.call('pttl', KEYS[1])}",
    notify_acquire_model,
);

/// Notify release. `KEYS` lock, waiters, the signal lists' common prefix, the caller's own
/// signal list; `ARGV` token, ttl ms.
///
/// When the lock is ours and a waiter is queued, hand the lock to the oldest one still marked
/// alive (`prefix:token:alive`; the others, gone from the queue, are dropped from it): the
/// lock now holds *that waiter's own token* with a fresh lease, its mark is removed (it waits
/// no more), and the token is pushed to the waiter's signal list (`prefix:token`), which wakes
/// it. With no such waiter, delete the
/// lock. When the lock is not ours, withdraw the caller from the waiters. Either way the
/// caller's signal list and mark are deleted (a hand-off to an abandoned acquire may have left
/// an item there). So the same script
/// releases a held lock and cleans up after an abandoned acquire, and running it twice is
/// harmless. Answers `{1, token}` when it was ours and went to the waiter with that token, 1
/// when it was ours and is deleted, 0 otherwise.
///
/// The signal list of the waiter handed to is named inside the script, not in `KEYS`: it shares
/// the lock's hash tag, so a cluster keeps it on the same slot.
pub static NOTIFY_RELEASE: Script = Script::new(
    "notify-release",
    r"redis.call('del', KEYS[4], KEYS[4] .. ':alive')
if redis.call('get', KEYS[1]) ~= ARGV[1] then
  redis.call('lrem', KEYS[2], 0, ARGV[1])
  return 0
end
local w = redis.call('lpop', KEYS[2])
while w and not redis.call('get', KEYS[3] .. ':' .. w .. ':alive') do
  w = redis.call('lpop', KEYS[2])
end
if w then
  local signal = KEYS[3] .. ':' .. w
  redis.call('del', signal .. ':alive')
  redis.call('set', KEYS[1], w, 'PX', ARGV[2])
  redis.call('rpush', signal, w)
  redis.call('pexpire', signal, ARGV[2])
  return {1, w}
end
redis.call('del', KEYS[1])
return 1",
    notify_release_model,
);

/// Fair acquire. `KEYS` lock, waiters (a list of waiting tokens, oldest first), the caller's
/// own signal list, the signal lists' common prefix; `ARGV` token, ttl ms, mode, how long a
/// look keeps the caller's place, ms. Modes as in [`NOTIFY_ACQUIRE`].
///
/// The difference from `notify-acquire` is that nobody barges: a free lock goes to the head
/// of the queue, the oldest waiter still marked alive (dead ones ahead of it are dropped; the
/// caller counts as alive). When the caller is that head, or the queue holds no live waiter,
/// the caller takes the lock. When another waiter is the head, the script hands the free lock
/// to it as a release would (its own token with a fresh lease, its mark removed, the token
/// pushed to its signal list) and the caller queues as when the lock is held. A lock that
/// expired under its holder is therefore handed on by the first script that finds it free,
/// and a newcomer always queues behind everyone already waiting. Every timing is a key expiry
/// on the server (the lease, the marks, the queue's own life): the server's clock alone.
/// Answers `{1, token}` when acquired, `{0, pttl}` when busy.
pub static FAIR_ACQUIRE: Script = Script::new(
    "fair-acquire",
    r"local me = ARGV[1]
local alive = KEYS[3] .. ':alive'
local held = redis.call('get', KEYS[1])
if held == me then
  redis.call('pexpire', KEYS[1], ARGV[2])
  redis.call('del', KEYS[3], alive)
  return {1, me}
end
if not held then
  local w = redis.call('lpop', KEYS[2])
  while w and w ~= me and not redis.call('get', KEYS[4] .. ':' .. w .. ':alive') do
    w = redis.call('lpop', KEYS[2])
  end
  if not w or w == me then
    redis.call('set', KEYS[1], me, 'PX', ARGV[2])
    redis.call('del', KEYS[3], alive)
    return {1, me}
  end
  local signal = KEYS[4] .. ':' .. w
  redis.call('del', signal .. ':alive')
  redis.call('set', KEYS[1], w, 'PX', ARGV[2])
  redis.call('rpush', signal, w)
  redis.call('pexpire', signal, ARGV[2])
end
if ARGV[3] == '1' then
  redis.call('rpush', KEYS[2], me)
  redis.call('set', alive, '1', 'PX', ARGV[4])
elseif ARGV[3] == '3' then
  redis.call('del', KEYS[3])
  if not redis.call('lpos', KEYS[2], me) then
    redis.call('rpush', KEYS[2], me)
  end
  redis.call('set', alive, '1', 'PX', ARGV[4])
elseif ARGV[3] == '2' then
  redis.call('del', KEYS[3], alive)
  redis.call('lrem', KEYS[2], 0, me)
end
redis.call('pexpire', KEYS[2], ARGV[2])
return {0, redis.call('pttl', KEYS[1])}",
    fair_acquire_model,
);

fn get(h: &mut dyn ScriptHost, key: &[u8]) -> Option<Bytes> {
    match h.call(Command::Get { key: key.to_vec() }) {
        Reply::Bulk(b) => Some(b),
        _ => None,
    }
}

fn int(h: &mut dyn ScriptHost, command: Command) -> i64 {
    h.call(command).as_int().unwrap_or(0)
}

fn arg_u64(args: &[Bytes], i: usize) -> u64 {
    args.get(i).and_then(|a| std::str::from_utf8(a).ok()?.parse().ok()).unwrap_or(0)
}

fn arg(args: &[Bytes], i: usize) -> Bytes {
    args.get(i).cloned().unwrap_or_default()
}

/// Lua's `tonumber` on a string, for the values scripts meet: decimal numbers, with surrounding
/// spaces allowed.
fn lua_tonumber(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b).ok()?.trim_ascii().parse().ok()
}

/// The error Lua raises when a script compares a number with the `nil` of a failed `tonumber`.
fn lua_compare_error() -> Reply {
    Reply::Error("ERR user_script: attempt to compare number with nil".into())
}

fn release_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    if get(h, &keys[0]) != Some(arg(args, 0)) {
        return Reply::Int(0);
    }
    h.call(Command::Del { keys: vec![keys[0].clone()] });
    Reply::Int(1)
}

fn extend_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    if get(h, &keys[0]) != Some(arg(args, 0)) {
        return Reply::Int(0);
    }
    h.call(Command::PExpire { key: keys[0].clone(), ms: arg_u64(args, 1) });
    Reply::Int(1)
}

fn set_nx_px(h: &mut dyn ScriptHost, key: &[u8], value: Bytes, ms: u64) -> bool {
    let set = Command::Set {
        key: key.to_vec(),
        value,
        cond: Some(SetCond::Nx),
        expiry: Some(Expiry::Px(ms)),
        get: false,
    };
    h.call(set).is_ok()
}

fn fenced_acquire_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    if set_nx_px(h, &keys[0], arg(args, 0), arg_u64(args, 1)) {
        return Reply::Int(int(h, Command::Incr { key: keys[1].clone() }));
    }
    Reply::Int(0)
}

/// The fence comparison both fenced scripts begin with: `Some(Int(0))` when `fence` is older
/// than the last one in `last_key`, `Some(error)` when either is not a number (Lua compares
/// `tonumber` results, and comparing with nil fails the script), `None` to go on.
fn fence_check(h: &mut dyn ScriptHost, last_key: &[u8], fence: &[u8]) -> Option<Reply> {
    let last = match get(h, last_key) {
        None => 0.0,
        Some(b) => match lua_tonumber(&b) {
            Some(n) => n,
            None => return Some(lua_compare_error()),
        },
    };
    let Some(fence) = lua_tonumber(fence) else { return Some(lua_compare_error()) };
    (fence < last).then_some(Reply::Int(0))
}

fn fenced_write_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    if let Some(refused) = fence_check(h, &keys[1], &arg(args, 0)) {
        return refused;
    }
    let set = |key: &Bytes, value: Bytes| Command::Set {
        key: key.clone(),
        value,
        cond: None,
        expiry: None,
        get: false,
    };
    h.call(set(&keys[1], arg(args, 0)));
    h.call(set(&keys[0], arg(args, 1)));
    Reply::Int(1)
}

fn fenced_read_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    if let Some(refused) = fence_check(h, &keys[1], &arg(args, 0)) {
        return match refused {
            Reply::Int(0) => Reply::Array(vec![Reply::Int(0)]),
            error => error,
        };
    }
    h.call(Command::Set {
        key: keys[1].clone(),
        value: arg(args, 0),
        cond: None,
        expiry: None,
        get: false,
    });
    match get(h, &keys[0]) {
        Some(v) => Reply::Array(vec![Reply::Int(1), Reply::Bulk(v)]),
        None => Reply::Array(vec![Reply::Int(1)]),
    }
}

fn notify_acquire_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    let (me, ttl, mode, alive_ms) =
        (arg(args, 0), arg_u64(args, 1), arg(args, 2), arg_u64(args, 3));
    let alive = [keys[2].as_slice(), b":alive"].concat();
    let unmark = |h: &mut dyn ScriptHost| {
        h.call(Command::Del { keys: vec![keys[2].clone(), alive.clone()] });
    };
    let mark = |h: &mut dyn ScriptHost| {
        h.call(Command::Set {
            key: alive.clone(),
            value: b"1".to_vec(),
            cond: None,
            expiry: Some(Expiry::Px(alive_ms)),
            get: false,
        });
    };
    let won = Reply::Array(vec![Reply::Int(1), Reply::Bulk(me.clone())]);
    let del =
        |h: &mut dyn ScriptHost, key: &Bytes| h.call(Command::Del { keys: vec![key.clone()] });
    let lrem = |h: &mut dyn ScriptHost| {
        h.call(Command::LRem { key: keys[1].clone(), count: 0, value: me.clone() });
    };
    // `GET` answers who holds the lock; a free one is taken with `SET PX`.
    let held = h.call(Command::Get { key: keys[0].clone() });
    match held {
        Reply::Error(_) => return held,
        Reply::Nil => {
            h.call(Command::Set {
                key: keys[0].clone(),
                value: me.clone(),
                cond: None,
                expiry: Some(Expiry::Px(ttl)),
                get: false,
            });
            if mode != b"0" {
                lrem(h);
                unmark(h);
            }
            return won;
        }
        Reply::Bulk(held) if held == me => {
            h.call(Command::PExpire { key: keys[0].clone(), ms: ttl });
            unmark(h);
            return won;
        }
        _ => {}
    }
    if mode == b"1" {
        h.call(Command::RPush { key: keys[1].clone(), values: vec![me.clone()] });
        h.call(Command::PExpire { key: keys[1].clone(), ms: ttl });
        mark(h);
    } else if mode == b"3" {
        del(h, &keys[2]);
        let pos = h.call(Command::LPos { key: keys[1].clone(), value: me.clone() });
        if let Reply::Error(_) = pos {
            return pos;
        }
        if pos == Reply::Nil {
            h.call(Command::RPush { key: keys[1].clone(), values: vec![me.clone()] });
        }
        h.call(Command::PExpire { key: keys[1].clone(), ms: ttl });
        mark(h);
    } else if mode == b"2" {
        unmark(h);
        lrem(h);
    }
    let pttl = int(h, Command::Pttl { key: keys[0].clone() });
    Reply::Array(vec![Reply::Int(0), Reply::Int(pttl)])
}

fn notify_release_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    let me = arg(args, 0);
    let own = keys.get(3).cloned().unwrap_or_default();
    let own_alive = [own.as_slice(), b":alive"].concat();
    h.call(Command::Del { keys: vec![own, own_alive] });
    if get(h, &keys[0]) != Some(me.clone()) {
        h.call(Command::LRem { key: keys[1].clone(), count: 0, value: me });
        return Reply::Int(0);
    }
    // The oldest waiter still marked alive; the others are dropped from the queue.
    let w = loop {
        let Reply::Bulk(w) = h.call(Command::LPop { key: keys[1].clone() }) else { break None };
        if get(h, &[keys[2].as_slice(), b":", &w, b":alive"].concat()).is_some() {
            break Some(w);
        }
    };
    let Some(w) = w else {
        h.call(Command::Del { keys: vec![keys[0].clone()] });
        return Reply::Int(1);
    };
    let ttl = arg_u64(args, 1);
    let signal = [keys[2].as_slice(), b":", &w].concat();
    h.call(Command::Del { keys: vec![[signal.as_slice(), b":alive"].concat()] });
    h.call(Command::Set {
        key: keys[0].clone(),
        value: w.clone(),
        cond: None,
        expiry: Some(Expiry::Px(ttl)),
        get: false,
    });
    h.call(Command::RPush { key: signal.clone(), values: vec![w.clone()] });
    h.call(Command::PExpire { key: signal, ms: ttl });
    Reply::Array(vec![Reply::Int(1), Reply::Bulk(w)])
}

fn fair_acquire_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    let (me, ttl, mode, alive_ms) =
        (arg(args, 0), arg_u64(args, 1), arg(args, 2), arg_u64(args, 3));
    let alive = [keys[2].as_slice(), b":alive"].concat();
    let prefix = keys.get(3).cloned().unwrap_or_default();
    let won = Reply::Array(vec![Reply::Int(1), Reply::Bulk(me.clone())]);
    let del = |h: &mut dyn ScriptHost, ks: Vec<Bytes>| h.call(Command::Del { keys: ks });
    let set_px = |h: &mut dyn ScriptHost, key: &Bytes, value: Bytes, ms: u64| {
        h.call(Command::Set {
            key: key.clone(),
            value,
            cond: None,
            expiry: Some(Expiry::Px(ms)),
            get: false,
        })
    };
    let held = h.call(Command::Get { key: keys[0].clone() });
    match &held {
        Reply::Error(_) => return held,
        Reply::Bulk(held) if *held == me => {
            h.call(Command::PExpire { key: keys[0].clone(), ms: ttl });
            del(h, vec![keys[2].clone(), alive]);
            return won;
        }
        Reply::Nil => {
            // The head: the oldest waiter still marked alive, or the caller itself.
            let head = loop {
                let Reply::Bulk(w) = h.call(Command::LPop { key: keys[1].clone() }) else {
                    break None;
                };
                let mark = [prefix.as_slice(), b":", &w, b":alive"].concat();
                if w == me || get(h, &mark).is_some() {
                    break Some(w);
                }
            };
            let Some(w) = head.filter(|w| *w != me) else {
                set_px(h, &keys[0], me.clone(), ttl);
                del(h, vec![keys[2].clone(), alive]);
                return won;
            };
            let signal = [prefix.as_slice(), b":", &w].concat();
            del(h, vec![[signal.as_slice(), b":alive"].concat()]);
            set_px(h, &keys[0], w.clone(), ttl);
            h.call(Command::RPush { key: signal.clone(), values: vec![w] });
            h.call(Command::PExpire { key: signal, ms: ttl });
        }
        _ => {}
    }
    if mode == b"1" {
        h.call(Command::RPush { key: keys[1].clone(), values: vec![me.clone()] });
        set_px(h, &alive, b"1".to_vec(), alive_ms);
    } else if mode == b"3" {
        del(h, vec![keys[2].clone()]);
        let pos = h.call(Command::LPos { key: keys[1].clone(), value: me.clone() });
        if let Reply::Error(_) = pos {
            return pos;
        }
        if pos == Reply::Nil {
            h.call(Command::RPush { key: keys[1].clone(), values: vec![me.clone()] });
        }
        set_px(h, &alive, b"1".to_vec(), alive_ms);
    } else if mode == b"2" {
        del(h, vec![keys[2].clone(), alive]);
        h.call(Command::LRem { key: keys[1].clone(), count: 0, value: me });
    }
    h.call(Command::PExpire { key: keys[1].clone(), ms: ttl });
    let pttl = int(h, Command::Pttl { key: keys[0].clone() });
    Reply::Array(vec![Reply::Int(0), Reply::Int(pttl)])
}
