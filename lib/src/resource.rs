//! The protected resource's side of fencing.

use crate::driver::Connection;
use crate::error::{Error, Result};
use crate::proto::{Command, Reply, num};
use crate::scripts;

/// What [`FencedResource::read_fenced`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FencedRead {
    /// The value (`None`: never written); the reader's fence is now the newest.
    Value(Option<Vec<u8>>),
    /// A newer fence has already read or written: the reader's lease is over.
    Refused,
}

impl FencedRead {
    /// What the reply to [`FencedResource::read_command`] says (for drivers other than this
    /// one).
    #[doc(hidden)]
    pub fn from_reply(reply: Reply) -> Result<FencedRead> {
        if let Reply::Array(items) = &reply {
            match items.as_slice() {
                [Reply::Int(0)] => return Ok(FencedRead::Refused),
                [Reply::Int(1)] => return Ok(FencedRead::Value(None)),
                [Reply::Int(1), Reply::Bulk(v)] => return Ok(FencedRead::Value(Some(v.clone()))),
                _ => {}
            }
        }
        Err(Error::reply("fenced read", &reply))
    }
}

/// A value in Redis that only accepts writes whose fence is not older than the last accepted
/// one: the resource side of [`crate::Algorithm::Fenced`]. A holder whose lease ran out while it
/// was paused gets its late write refused instead of overwriting a newer holder's work.
#[derive(Clone, Debug)]
pub struct FencedResource {
    conn: Connection,
    value: Vec<u8>,
    fence: Vec<u8>,
}

impl FencedResource {
    /// The resource `name` on `conn`: keys `{name}:value` and `{name}:fence`.
    #[must_use]
    pub fn new(conn: Connection, name: &str) -> FencedResource {
        FencedResource {
            conn,
            value: format!("{{{name}}}:value").into_bytes(),
            fence: format!("{{{name}}}:fence").into_bytes(),
        }
    }

    /// The command that writes `value` under `fence` (for drivers other than this one).
    #[doc(hidden)]
    #[must_use]
    pub fn write_command(&self, fence: u64, value: &[u8]) -> Command {
        Command::Eval {
            script: &scripts::FENCED_WRITE,
            keys: vec![self.value.clone(), self.fence.clone()],
            args: vec![num(fence), value.to_vec()],
        }
    }

    /// Stores `value` if `fence` is not older than the last accepted fence. `Ok(false)` when
    /// refused.
    pub async fn write(&self, fence: u64, value: &[u8]) -> Result<bool> {
        match self.conn.exec(&self.write_command(fence, value)).await? {
            Reply::Int(1) => Ok(true),
            Reply::Int(0) => Ok(false),
            other => Err(Error::reply("fenced write", &other)),
        }
    }

    /// The command that reads the value under `fence` (for drivers other than this one).
    #[doc(hidden)]
    #[must_use]
    pub fn read_command(&self, fence: u64) -> Command {
        Command::Eval {
            script: &scripts::FENCED_READ,
            keys: vec![self.value.clone(), self.fence.clone()],
            args: vec![num(fence)],
        }
    }

    /// Reads the value as the holder of `fence`: refused when a newer fence has already read or
    /// written, and otherwise records `fence` as the newest, so that from now on every older
    /// holder's write is refused. The read half of a read-modify-write under a fenced lock: a
    /// paused predecessor can neither overwrite the new value nor slip its own write in between
    /// this read and the write that follows it.
    pub async fn read_fenced(&self, fence: u64) -> Result<FencedRead> {
        FencedRead::from_reply(self.conn.exec(&self.read_command(fence)).await?)
    }

    /// The current value, read without a fence (for inspection, not for read-modify-write).
    pub async fn read(&self) -> Result<Option<Vec<u8>>> {
        match self.conn.exec(&Command::Get { key: self.value.clone() }).await? {
            Reply::Bulk(b) => Ok(Some(b)),
            Reply::Nil => Ok(None),
            other => Err(Error::reply("read", &other)),
        }
    }

    /// The last accepted fence (0 before any write).
    pub async fn last_fence(&self) -> Result<u64> {
        match self.conn.exec(&Command::Get { key: self.fence.clone() }).await? {
            Reply::Nil => Ok(0),
            r => r
                .as_int()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| Error::reply("last fence", &r)),
        }
    }
}
