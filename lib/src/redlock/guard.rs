//! [`RedlockGuard`]: one acquisition of a [`Redlock`], with its token and validity deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Redlock;
use crate::algo::ExtendParams;
use crate::algo::redlock;
use crate::driver::NoHooks;
use crate::error::{Error, Result};
use crate::guard::Released;
use crate::proto::{Grant, Outcome};

/// One acquisition of a [`Redlock`].
///
/// The lock is ours until [`RedlockGuard::valid_until`]: the instant the acquire's commands
/// were *sent*, plus the ttl, minus the drift allowance. The time the servers took to answer is
/// already off it. Past that instant a majority may have expired the key: stop writing. Redlock
/// issues no fence, so nothing stops a holder that wakes up past its lease from writing.
///
/// Dropping a guard without [`RedlockGuard::release`] releases the lock on every server in a
/// background task (owner-checked); without a tokio runtime, or if that fails, the keys live
/// until their ttl.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped: bind it (`let _guard = ...`)"]
pub struct RedlockGuard {
    lock: Redlock,
    grant: Grant,
    validity: watch::Sender<Option<Instant>>,
    waited: Duration,
    released: bool,
}

impl RedlockGuard {
    pub(super) fn new(lock: Redlock, grant: Grant, waited: Duration) -> RedlockGuard {
        let until = lock.origin() + grant.valid_until;
        let validity = watch::Sender::new(Some(until));
        RedlockGuard { lock, grant, validity, waited, released: false }
    }

    /// When the winning round's commands were sent: the instant the lease counts from.
    #[must_use]
    pub fn acquired_at(&self) -> Instant {
        self.lock.origin() + self.grant.acquired_at
    }

    /// How long the acquire took, from its call to its answer.
    #[must_use]
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The token stored in the lock key on the servers that granted it (hex text).
    #[must_use]
    pub fn token(&self) -> &str {
        std::str::from_utf8(&self.grant.token).unwrap_or("")
    }

    /// Until when the lock is safely ours; `None` once an extend found it gone or it was
    /// released.
    #[must_use]
    pub fn valid_until(&self) -> Option<Instant> {
        *self.validity.borrow()
    }

    /// Whether the lease still runs by our clock.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.valid_until().is_some_and(|t| Instant::now() < t)
    }

    /// The lock this guard belongs to.
    #[must_use]
    pub fn lock(&self) -> &Redlock {
        &self.lock
    }

    /// A future that resolves when the lock may no longer be ours: the validity deadline passed
    /// (after any extensions), an extend found the lock gone, or the guard was released or
    /// dropped. Race it against the protected work.
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        crate::guard::lost_when(self.validity.subscribe())
    }

    /// Resets the lease to a full ttl on every server that still holds our token. The new lease
    /// counts from when the extend was sent and needs a majority: [`Error::Lost`] when a
    /// majority answered but too few still held our token (then [`RedlockGuard::lost`]
    /// resolves), [`Error::NoQuorum`] when fewer than a majority answered (silent servers are
    /// asked again twice; the lease then stays as it was).
    pub async fn extend(&self) -> Result<()> {
        let s = &self.lock.inner.settings;
        let params = ExtendParams {
            keys: self.lock.inner.keys.clone(),
            grant: self.grant.clone(),
            ttl: s.ttl,
            drift: s.drift,
        };
        let mut machine = redlock::extend(self.lock.algorithm(), &params);
        match self.lock.inner.servers.run(&mut machine, &mut NoHooks).await? {
            Outcome::Extended { valid_until: Some(t) } => {
                self.validity.send_replace(Some(self.lock.origin() + t));
                Ok(())
            }
            Outcome::Extended { valid_until: None } => {
                self.validity.send_replace(None);
                Err(Error::Lost(self.lock.inner.name.clone()))
            }
            Outcome::Failed(failure) => Err(Error::from_failure(failure)),
            other => Err(Error::Internal(format!("extend ended with {other:?}"))),
        }
    }

    /// Releases the lock on every server, whether or not it answered the acquire (a server
    /// that was slow then may hold our token now). [`Released::owned`] is `true` if a majority
    /// still held our token: `false` means the lease had run out (or too few of the servers
    /// that answered still held it) and the work may have overlapped another holder's. Silent
    /// servers are asked again twice while fewer than a majority answered; then the error is
    /// [`Error::NoQuorum`], and what is left expires within the ttl.
    ///
    /// `false` means *not confirmed*, not *taken*: a server that stayed silent to the first
    /// release and answers the second may have run both, in order, and the second then finds
    /// nothing to delete. With a majority confirmed only by such a server, `owned` is `false`
    /// although no one else held the lock (one server down, another slow: measured in the
    /// simulator). It never says `true` for a lock a majority did not confirm.
    ///
    /// Dropping this future before it finishes leaves the release to the guard's background
    /// clean-up, as dropping the guard does.
    pub async fn release(mut self) -> Result<Released> {
        let now = Instant::now();
        let held = now.saturating_duration_since(self.acquired_at());
        let margin = self.valid_until().and_then(|t| t.checked_duration_since(now));
        self.validity.send_replace(None);
        let result = self.lock.release_token(self.grant.token.clone()).await;
        // Only now: if this future is dropped before, `Drop` releases in the background.
        self.released = true;
        Ok(Released { owned: result?, held, margin })
    }
}

impl Drop for RedlockGuard {
    fn drop(&mut self) {
        self.validity.send_replace(None);
        if self.released {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let (lock, token) = (self.lock.clone(), self.grant.token.clone());
        rt.spawn(async move {
            let _ = lock.release_token(token).await;
        });
    }
}
