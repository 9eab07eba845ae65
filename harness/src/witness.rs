//! The witness: a server that is never faulted and sees the critical section from outside.
//!
//! It holds the shared counter, the fenced resource, and the set of workers inside the critical
//! section (the fenced resource is [`redmutex::FencedResource`], read with
//! [`redmutex::FencedResource::read_fenced`]). `enter` adds the worker and answers everyone inside (in the witness's own order,
//! which needs no clock); `exit` removes it. A set rather than a counter, so that a worker
//! killed inside can be taken out by the coordinator without guessing whether its `enter` ran.

use anyhow::Context as _;
use redmutex::proto::{Bytes, Command, Keys, Reply, Script, ScriptHost, num};
use redmutex::{Connection, FencedResource};

/// `enter`: `SADD KEYS[1] ARGV[1]`, answers `SMEMBERS KEYS[1]`.
pub static ENTER: Script = Script::new(
    "witness-enter",
    "redis.call('sadd', KEYS[1], ARGV[1])\nreturn redis.call('smembers', KEYS[1])",
    real_redis_only,
);

/// `exit`: `SREM KEYS[1] ARGV[1]`.
pub static EXIT: Script =
    Script::new("witness-exit", "return redis.call('srem', KEYS[1], ARGV[1])", real_redis_only);

/// The witness scripts use sets, which the model of Redis does not have; a simulator tracks
/// occupancy itself.
fn real_redis_only(_: &mut dyn ScriptHost, _: &[Bytes], _: &[Bytes]) -> Reply {
    Reply::Error("ERR the witness scripts run on real Redis only".into())
}

/// Every key of one run, all under the run's prefix.
#[derive(Clone, Debug)]
pub struct RunKeys {
    /// The lock's keys (on the lock server).
    pub lock: Keys,
    /// The counter (on the witness).
    pub counter: Bytes,
    /// The set of workers inside (on the witness).
    pub inside: Bytes,
    /// The fenced resource's name (its keys are `{name}:value`, `{name}:fence`).
    pub resource: String,
}

impl RunKeys {
    /// The keys under `prefix`.
    #[must_use]
    pub fn new(prefix: &str) -> RunKeys {
        RunKeys {
            lock: Keys::new(prefix, "lock"),
            counter: format!("{prefix}{{witness}}:counter").into_bytes(),
            inside: format!("{prefix}{{witness}}:inside").into_bytes(),
            resource: format!("{prefix}resource"),
        }
    }

    /// The `enter` command for worker `id`.
    #[must_use]
    pub fn enter(&self, id: u32) -> Command {
        Command::Eval { script: &ENTER, keys: vec![self.inside.clone()], args: vec![num(id)] }
    }

    /// The `exit` command for worker `id`.
    #[must_use]
    pub fn exit(&self, id: u32) -> Command {
        Command::Eval { script: &EXIT, keys: vec![self.inside.clone()], args: vec![num(id)] }
    }
}

/// The run's outcome on the witness once its workers are done: the counter, or for a fenced
/// lock the fenced resource's value (0 when nothing was written).
pub async fn outcome(witness: &Connection, keys: &RunKeys, fenced: bool) -> anyhow::Result<i64> {
    let value = if fenced {
        let resource = FencedResource::new(witness.clone(), &keys.resource);
        resource.read().await?.map(|b| String::from_utf8_lossy(&b).into_owned())
    } else {
        match witness.exec(&Command::Get { key: keys.counter.clone() }).await? {
            Reply::Bulk(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        }
    };
    value.map_or(Ok(0), |v| v.parse()).context("the counter on the witness is not a number")
}

/// The worker ids in an `enter` reply, except `me`.
#[must_use]
pub fn others(reply: &Reply, me: u32) -> Option<Vec<u32>> {
    let Reply::Array(items) = reply else { return None };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = u32::try_from(item.as_int()?).ok()?;
        if id != me {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Some(ids)
}
