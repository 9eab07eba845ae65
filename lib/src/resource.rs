//! The protected resource's side of fencing.

use crate::driver::Connection;
use crate::error::{Error, Result};
use crate::proto::{Bytes, Command, Reply, num};
use crate::scripts;

/// A value in Redis that only accepts writes whose fence is not older than the last accepted
/// one: the resource side of [`crate::Algorithm::Fenced`]. A holder whose lease ran out while it
/// was paused gets its late write refused instead of overwriting a newer holder's work.
#[derive(Clone, Debug)]
pub struct FencedResource {
    conn: Connection,
    value: Bytes,
    fence: Bytes,
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
            other => Err(Error::Protocol(format!("fenced write answered {other:?}"))),
        }
    }

    /// The current value.
    pub async fn read(&self) -> Result<Option<Bytes>> {
        match self.conn.exec(&Command::Get { key: self.value.clone() }).await? {
            Reply::Bulk(b) => Ok(Some(b)),
            Reply::Nil => Ok(None),
            other => Err(Error::Protocol(format!("GET answered {other:?}"))),
        }
    }

    /// The last accepted fence (0 before any write).
    pub async fn last_fence(&self) -> Result<u64> {
        match self.conn.exec(&Command::Get { key: self.fence.clone() }).await? {
            Reply::Nil => Ok(0),
            r => r
                .as_int()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| Error::Protocol(format!("fence key holds {r:?}"))),
        }
    }
}
