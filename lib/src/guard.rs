//! [`Guard`]: proof of one acquisition, with its token, fence and validity deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::algo::ExtendParams;
use crate::driver::NoHooks;
use crate::error::{Error, Result};
use crate::lock::{Lock, RETRY_DELAYS};
use crate::proto::{Grant, Outcome};

/// One acquisition of a [`Lock`].
///
/// The lock is ours until [`Guard::valid_until`]: the instant the winning command was *sent*,
/// plus the ttl, minus the drift allowance. Past that instant Redis may already have expired the
/// key and handed the lock to someone else: stop writing, or protect the resource with a fence
/// ([`crate::Algorithm::Fenced`]).
///
/// Dropping a guard without [`Guard::release`] stops its auto-renewal and releases the lock in
/// a background task (owner-checked), so for a moment after the drop the lock may still look
/// held. Without a tokio runtime, when the runtime is shutting down (a guard still alive when
/// `#[tokio::main]` returns), or if that release fails, the key lives until its ttl: release
/// explicitly where it matters.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped: bind it (`let _guard = ...`)"]
pub struct Guard {
    lock: Lock,
    grant: Grant,
    validity: Arc<watch::Sender<Option<Instant>>>,
    renewer: Option<JoinHandle<()>>,
    released: bool,
}

impl Guard {
    pub(crate) fn new(lock: Lock, grant: Grant) -> Guard {
        let until = lock.inner.conn.origin() + grant.valid_until;
        let validity = Arc::new(watch::Sender::new(Some(until)));
        let renewals = lock.inner.settings.renewals;
        let renewer = (renewals > 0).then(|| {
            tokio::spawn(renew(lock.clone(), grant.clone(), Arc::clone(&validity), renewals))
        });
        Guard { lock, grant, validity, renewer, released: false }
    }

    /// The token stored in the lock key (hex text): our proof of ownership.
    #[must_use]
    pub fn token(&self) -> &str {
        std::str::from_utf8(&self.grant.token).unwrap_or("")
    }

    /// The fence of this acquisition ([`crate::Algorithm::Fenced`] only): strictly greater than
    /// every earlier acquisition's fence.
    #[must_use]
    pub fn fence(&self) -> Option<u64> {
        self.grant.fence
    }

    /// Until when the lock is safely ours; `None` once an extend or renewal found it gone.
    #[must_use]
    pub fn valid_until(&self) -> Option<Instant> {
        *self.validity.borrow()
    }

    /// Whether the lease is still running by our clock.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.valid_until().is_some_and(|t| Instant::now() < t)
    }

    /// The lock this guard belongs to.
    #[must_use]
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// Resets the lease to a full ttl from now. Fails with [`Error::Lost`] if the lock is no
    /// longer ours (then [`Guard::lost`] resolves too). A lost connection or reply is retried
    /// as by [`Guard::release`] (the extend script is idempotent), and the lease counts from
    /// the attempt that answered; [`Error::Unconfirmed`] when none did, and then the lease
    /// stays as it was.
    pub async fn extend(&self) -> Result<()> {
        extend_once(&self.lock, &self.grant, &self.validity).await
    }

    /// A future that resolves when the lock may no longer be ours: the validity deadline passed
    /// (after any extensions), an extend or renewal found the lock gone, or the guard was
    /// released or dropped. Race it against the protected work.
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.validity.subscribe();
        async move {
            loop {
                let Some(deadline) = *rx.borrow_and_update() else { return };
                if Instant::now() >= deadline {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep_until(deadline.into()) => {}
                    changed = rx.changed() => if changed.is_err() { return },
                }
            }
        }
    }

    /// Releases the lock. `Ok(true)` if it was still ours; `Ok(false)` if its lease had run out
    /// (and perhaps another client holds it now, untouched): the protected work may have
    /// overlapped with another holder's.
    ///
    /// A lost connection or reply is retried: the release script is idempotent, so sending it
    /// again is safe. Three attempts in all; when a retry finds the lock no longer ours after an
    /// attempt whose reply was lost *within the lease*, that attempt is what released it, and
    /// the answer is `Ok(true)` (the lock was ours until the work ended). When every attempt
    /// fails in transit, the error is [`Error::Unconfirmed`], carrying this guard's token: the
    /// lock is released, or held under that token until its ttl.
    ///
    /// Dropping this future before it finishes leaves the release to the guard's background
    /// clean-up, as dropping the guard does.
    pub async fn release(mut self) -> Result<bool> {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        self.validity.send_replace(None);
        let result = self.lock.release_grant(self.grant.clone()).await;
        // Only now: if this future is dropped before, `Drop` releases in the background.
        self.released = true;
        result
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        self.validity.send_replace(None);
        if self.released {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let (lock, grant) = (self.lock.clone(), self.grant.clone());
        rt.spawn(async move {
            let _ = lock.release_grant(grant).await;
        });
    }
}

async fn extend_once(
    lock: &Lock,
    grant: &Grant,
    validity: &watch::Sender<Option<Instant>>,
) -> Result<()> {
    let s = &lock.inner.settings;
    let params = ExtendParams {
        keys: lock.inner.keys.clone(),
        grant: grant.clone(),
        ttl: s.ttl,
        drift: s.drift,
    };
    let protocol = s.algorithm.protocol();
    let mut attempts = 0;
    let outcome = loop {
        let Some(mut machine) = protocol.extend(params.clone()) else {
            return Err(Error::Config(format!("{} locks cannot be extended", s.algorithm)));
        };
        attempts += 1;
        let err = match lock.inner.conn.run(machine.as_mut(), &mut NoHooks).await {
            Ok(outcome) => break outcome,
            Err(e) if !e.is_transient() => return Err(e),
            Err(e) => e,
        };
        let Some(delay) = RETRY_DELAYS.get(attempts - 1) else {
            return Err(lock.unconfirmed("extend", grant, attempts, err));
        };
        tokio::time::sleep(*delay).await;
    };
    match outcome {
        Outcome::Extended { valid_until: Some(t) } => {
            validity.send_replace(Some(lock.inner.conn.origin() + t));
            Ok(())
        }
        Outcome::Extended { valid_until: None } => {
            validity.send_replace(None);
            Err(Error::Lost(lock.inner.name.clone()))
        }
        Outcome::Failed(why) => Err(Error::Protocol(why)),
        other => Err(Error::Protocol(format!("extend ended with {other:?}"))),
    }
}

/// Renews every third of a ttl, at most `renewals` times; on loss, says so and stops.
async fn renew(
    lock: Lock,
    grant: Grant,
    validity: Arc<watch::Sender<Option<Instant>>>,
    renewals: u32,
) {
    let period = lock.inner.settings.ttl / 3;
    let mut next = Instant::now() + period;
    for _ in 0..renewals {
        tokio::time::sleep_until(next.into()).await;
        next += period;
        match extend_once(&lock, &grant, &validity).await {
            Ok(()) => {}
            Err(Error::Lost(_)) => return,
            // A failed round trip is not a loss yet: the lease still runs; try again sooner.
            Err(_) => next = Instant::now() + period.min(Duration::from_millis(100)),
        }
    }
}
