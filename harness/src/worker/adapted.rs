//! The worker's acquire and release when the lock is an adapter's: the same events as the
//! built-in path, timed by the worker around each call, so the checkers cannot tell the paths
//! apart. Only the step delays before an operation (step 0) apply: the run refuses the others.
//! When the run has a fault proxy, each operation is marked there before its request goes to
//! the adapter, so the adapter's own commands (on its connection to the worker's port of the
//! proxy) are counted in that operation and command faults strike them.

use std::time::Duration;

use redmutex::proto::Grant;

use super::Worker;
use crate::adapter::AdapterFailed;
use crate::adapter::proto::{Acquired, Owned};
use crate::history::{Kind, Op};
use crate::scenario::DelayOp;

impl Worker<'_> {
    /// Acquires through the adapter. The lease's start is not known to the worker, so the
    /// event has no `lease_from`: the checkers take the invocation, the earliest it can be.
    pub(super) async fn acquire_adapted(&mut self) -> Result<Option<Grant>, AdapterFailed> {
        let key = self.lock_key();
        let (ttl_ms, wait_ms) = (self.cfg.client.ttl_ms, self.cfg.client.wait_ms);
        let mut hooks = self.hooks(DelayOp::Acquire);
        hooks.before_invoke(&mut self.out).await;
        self.mark(DelayOp::Acquire).await;
        self.out.emit(self.out.now(Kind::Invoke, Op::Acquire));
        let Some(adapter) = self.adapter.as_mut() else { return Ok(None) };
        let result = adapter.acquire(&key, ttl_ms, wait_ms).await?;
        let mut ev = self.out.now(Kind::Info, Op::Acquire);
        ev.delayed_ms = hooks.delayed_ms();
        let grant = match result {
            Acquired::Acquired { token, fence } => {
                ev.kind = Kind::Ok;
                ev.token = Some(token.clone());
                ev.fence = fence;
                Some(Grant {
                    token: token.into_bytes(),
                    fence,
                    acquired_at: Duration::ZERO,
                    valid_until: Duration::ZERO,
                    clock_ms: None,
                })
            }
            Acquired::TimedOut => {
                ev.kind = Kind::Fail;
                ev.details = Some("timed out".into());
                None
            }
            Acquired::Error(message) => {
                ev.details = Some(format!("the adapter answered error: {message}"));
                None
            }
        };
        let (lock_sent, witness_sent) = (self.lock.commands_sent(), self.witness.commands_sent());
        self.out.emit_with_counts(Some(ev), lock_sent, witness_sent);
        Ok(grant)
    }

    /// Releases through the adapter: `owned` is what the adapter says, absent when it cannot
    /// tell.
    pub(super) async fn release_adapted(&mut self, grant: Grant) -> Result<(), AdapterFailed> {
        let key = self.lock_key();
        let token = String::from_utf8_lossy(&grant.token).into_owned();
        let mut ev = self.out.now(Kind::Invoke, Op::Release);
        ev.token = Some(token.clone());
        ev.fence = grant.fence;
        let mut hooks = self.hooks(DelayOp::Release);
        hooks.before_invoke(&mut self.out).await;
        self.mark(DelayOp::Release).await;
        ev.time = crate::clock::monotonic_ns();
        self.out.emit(ev.clone());
        let Some(adapter) = self.adapter.as_mut() else { return Ok(()) };
        let result = adapter.release(&key, &token).await?;
        ev.time = crate::clock::monotonic_ns();
        ev.delayed_ms = hooks.delayed_ms();
        match result {
            Owned::Yes | Owned::No => {
                ev.kind = Kind::Ok;
                ev.owned = Some(result == Owned::Yes);
            }
            Owned::Unknown => ev.kind = Kind::Ok,
            Owned::Error(message) => {
                ev.kind = Kind::Info;
                ev.details = Some(format!("the adapter answered error: {message}"));
            }
        }
        let (lock_sent, witness_sent) = (self.lock.commands_sent(), self.witness.commands_sent());
        self.out.emit_with_counts(Some(ev), lock_sent, witness_sent);
        Ok(())
    }

    /// The lock's key as the built-in algorithms name it; the adapter may add keys after it.
    fn lock_key(&self) -> String {
        String::from_utf8_lossy(&self.keys.lock.lock).into_owned()
    }
}
