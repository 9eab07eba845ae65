//! `fair`: `notify`'s blocking waiters and direct hand-off, with a strict FIFO queue: nobody
//! barges.
//!
//! `notify` lets a newcomer take a lock it finds free, whoever waits: its first command is a
//! plain `SET NX PX`, and its acquire script takes any free lock. A free lock with live waiters
//! happens whenever a lease expires under its holder (killed, paused, or slower than its ttl),
//! and then the quickest caller wins, not the oldest. `fair` closes both doors: there is no
//! fast path, and [`scripts::FAIR_ACQUIRE`] gives a free lock only to the head of the queue,
//! the oldest waiter still marked alive. When the script's caller is not that head, the script
//! hands the lock to the head (as a release does) and queues the caller. So every grant goes
//! to the oldest live waiter, and a newcomer queues while anyone does.
//!
//! Everything else is `notify`'s: the waiters list, the signal lists, the release script
//! ([`scripts::NOTIFY_RELEASE`], which hands to the oldest live waiter and, run with an
//! abandoned acquire's token, withdraws it and passes on a hand-off it was given), the exact
//! accounting and the lease reasoning (see [`super::Notify`]).
//!
//! Time is the server's alone: a waiter's place is kept by its alive mark, a key that expires
//! a ttl after the waiter's last look (it looks at least every half ttl), the lease is the lock
//! key's expiry, and the queue expires a ttl after anyone last touched it. No client timestamp
//! is stored, so client clock skew cannot reorder the queue or keep a dead waiter in it (the
//! mistake of locks that store each waiter's deadline computed on its own clock). `TIME` is not
//! needed: a key's `PX` is the server's clock, and works the same on every Redis version.
//!
//! Dead waiters: a waiter that dies without clean-up keeps its place until its mark expires,
//! a ttl after its last look ([`Protocol::dead_waiter_window`]); the lock may be handed to it
//! until then, and lies with it for at most one more ttl. A cancelled acquire (`Lock`'s
//! clean-up) and one that gives up at its deadline leave the queue at once.
//!
//! Cost: uncontended, two commands per acquisition (the script, the release); contended,
//! three (the script, the `BLPOP` that the hand-off ends, the release).

use std::time::Duration;

use super::notify::NotifyAcquire;
use super::{AcquireParams, ExtendParams, Notify, Protocol, ReleaseParams};
use crate::proto::{Bytes, Keys, Machine, Script};
use crate::scripts;

/// The `fair` algorithm.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fair;

impl Protocol for Fair {
    fn name(&self) -> &'static str {
        "fair"
    }

    /// Runs the fair acquire script at once (there is no plain `SET` fast path: it would pass
    /// the queue), then blocks on the caller's signal list like `notify`.
    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine> {
        acquire_running(params, &scripts::FAIR_ACQUIRE)
    }

    /// `notify`'s release: hands the lock to the oldest live waiter, or withdraws an abandoned
    /// acquire from the queue.
    fn release(&self, params: ReleaseParams) -> Box<dyn Machine> {
        Notify.release(params)
    }

    fn extend(&self, params: ExtendParams) -> Option<Box<dyn Machine>> {
        Notify.extend(params)
    }

    /// As `notify`: a waiter's mark lasts a ttl after its last look.
    fn dead_waiter_window(&self, ttl: Duration) -> Duration {
        Notify.dead_waiter_window(ttl)
    }

    /// The waiters list: every acquire script that does not take the lock renews it for a ttl.
    fn renewed_keys(&self, keys: &Keys) -> Vec<Bytes> {
        vec![keys.waiters.clone()]
    }

    fn fifo(&self) -> bool {
        true
    }
}

/// `fair`'s acquire machine running `script` in place of [`scripts::FAIR_ACQUIRE`] (the same
/// keys, arguments and replies): how the harness builds specimens of broken fair locks.
#[must_use]
pub fn acquire_running(params: AcquireParams, script: &'static Script) -> Box<dyn Machine> {
    Box::new(NotifyAcquire::fair(params, script))
}
