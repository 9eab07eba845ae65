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
use crate::telemetry;

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
    /// Why the lock stopped being ours, once an extend, renewal or release said so.
    loss: Arc<std::sync::Mutex<Option<Loss>>>,
    stats: AcquireStats,
    renewer: Option<JoinHandle<()>>,
    released: bool,
}

/// What the acquire that made a guard cost.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AcquireStats {
    pub(crate) waited: Duration,
    pub(crate) commands: u64,
}

/// What [`Guard::release`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Released {
    /// Whether the lock was still ours: `false` means the lease had run out and the protected
    /// work may have overlapped with another holder's.
    pub owned: bool,
    /// How long the lock was held: from when the winning acquire command was sent to when the
    /// release was.
    pub held: Duration,
    /// How much of the lease was left when the release was sent (`None` when none was: the
    /// lease had run out, or an extend had found the lock gone).
    pub margin: Option<Duration>,
}

/// Why a guard's lock may no longer be ours ([`Guard::loss`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loss {
    /// The validity deadline passed by our clock.
    Expired,
    /// An extend or an auto-renewal found the lock no longer ours.
    Gone,
    /// The guard was released (or dropped).
    Released,
}

impl Guard {
    pub(crate) fn new(lock: Lock, grant: Grant, stats: AcquireStats) -> Guard {
        let until = lock.inner.conn.origin() + grant.valid_until;
        let validity = Arc::new(watch::Sender::new(Some(until)));
        let loss = Arc::default();
        let renewals = lock.inner.settings.renewals;
        let renewer = (renewals > 0).then(|| {
            let (validity, loss) = (Arc::clone(&validity), Arc::clone(&loss));
            tokio::spawn(renew(lock.clone(), grant.clone(), validity, loss, renewals))
        });
        Guard { lock, grant, validity, loss, stats, renewer, released: false }
    }

    /// When the command that won the lock was sent: the instant the lease counts from.
    #[must_use]
    pub fn acquired_at(&self) -> Instant {
        self.lock.inner.conn.origin() + self.grant.acquired_at
    }

    /// How long the acquire that made this guard took, from its call to its answer.
    #[must_use]
    pub fn waited(&self) -> Duration {
        self.stats.waited
    }

    /// How many commands the acquire that made this guard sent (1 for an uncontended lock).
    #[must_use]
    pub fn commands(&self) -> u64 {
        self.stats.commands
    }

    /// Why the lock may no longer be ours, once [`Guard::lost`] would resolve; `None` while
    /// the lease runs.
    #[must_use]
    pub fn loss(&self) -> Option<Loss> {
        if let Some(loss) = self.loss.lock().ok().and_then(|l| *l) {
            return Some(loss);
        }
        match self.valid_until() {
            Some(t) if Instant::now() < t => None,
            _ => Some(Loss::Expired),
        }
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
        extend_once(&self.lock, &self.grant, &self.validity, &self.loss).await
    }

    /// A future that resolves when the lock may no longer be ours: the validity deadline passed
    /// (after any extensions), an extend or renewal found the lock gone, or the guard was
    /// released or dropped. Race it against the protected work.
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        lost_when(self.validity.subscribe())
    }

    /// Releases the lock. [`Released::owned`] is `true` if it was still ours, `false` if its
    /// lease had run out (and perhaps another client holds it now, untouched): the protected
    /// work may have overlapped with another holder's. [`Released`] also tells how long the
    /// lock was held and how much of the lease was left.
    ///
    /// A lost connection or reply is retried: the release script is idempotent, so sending it
    /// again is safe. Three attempts in all; when a retry finds the lock no longer ours after an
    /// attempt whose reply was lost *within the lease*, that attempt is what released it, and
    /// `owned` is `true` (the lock was ours until the work ended). When every attempt
    /// fails in transit, the error is [`Error::Unconfirmed`], carrying this guard's token: the
    /// lock is released, or held under that token until its ttl.
    ///
    /// Dropping this future before it finishes leaves the release to the guard's background
    /// clean-up, as dropping the guard does.
    pub async fn release(mut self) -> Result<Released> {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        let (held, margin) = self.hold_and_margin();
        let algorithm = self.lock.inner.settings.algorithm;
        telemetry::releasing(algorithm, self.loss());
        self.set_loss(Loss::Released);
        let result = self.lock.release_grant(self.grant.clone()).await;
        // Only now: if this future is dropped before, `Drop` releases in the background.
        self.released = true;
        let owned = result?;
        telemetry::released(algorithm, owned, held, margin);
        Ok(Released { owned, held, margin })
    }

    /// How long the lock has been held, and how much of the lease is left, as of now.
    fn hold_and_margin(&self) -> (Duration, Option<Duration>) {
        let now = Instant::now();
        let held = now.saturating_duration_since(self.acquired_at());
        (held, self.valid_until().and_then(|t| t.checked_duration_since(now)))
    }

    /// Records why the lock is no longer ours (the first reason stays) and wakes `lost()`.
    fn set_loss(&self, loss: Loss) {
        set_loss(&self.loss, loss);
        self.validity.send_replace(None);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        let (loss, (held, margin)) = (self.loss(), self.hold_and_margin());
        self.set_loss(Loss::Released);
        if self.released {
            return;
        }
        let algorithm = self.lock.inner.settings.algorithm;
        // A release future dropped midway has counted this already (the loss is `Released`).
        telemetry::releasing(algorithm, loss);
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let (lock, grant) = (self.lock.clone(), self.grant.clone());
        rt.spawn(async move {
            if let Ok(owned) = lock.release_grant(grant).await {
                telemetry::released(algorithm, owned, held, margin);
            }
        });
    }
}

/// Resolves once the deadline `rx` holds has passed or is taken away (`None`), or its sender
/// is gone.
pub(crate) async fn lost_when(mut rx: watch::Receiver<Option<Instant>>) {
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

fn set_loss(slot: &std::sync::Mutex<Option<Loss>>, loss: Loss) {
    if let Ok(mut slot) = slot.lock() {
        slot.get_or_insert(loss);
    }
}

async fn extend_once(
    lock: &Lock,
    grant: &Grant,
    validity: &watch::Sender<Option<Instant>>,
    loss: &std::sync::Mutex<Option<Loss>>,
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
            set_loss(loss, Loss::Gone);
            validity.send_replace(None);
            Err(Error::Lost(lock.inner.name.clone()))
        }
        Outcome::Failed(failure) => Err(Error::from_failure(failure)),
        other => Err(Error::Internal(format!("extend ended with {other:?}"))),
    }
}

/// Renews every third of a ttl, at most `renewals` times; on loss, says so and stops.
async fn renew(
    lock: Lock,
    grant: Grant,
    validity: Arc<watch::Sender<Option<Instant>>>,
    loss: Arc<std::sync::Mutex<Option<Loss>>>,
    renewals: u32,
) {
    let period = lock.inner.settings.ttl / 3;
    let mut next = Instant::now() + period;
    for _ in 0..renewals {
        tokio::time::sleep_until(next.into()).await;
        next += period;
        match extend_once(&lock, &grant, &validity, &loss).await {
            Ok(()) => {}
            Err(Error::Lost(_)) => return,
            // A failed round trip is not a loss yet: the lease still runs; try again sooner.
            Err(_) => next = Instant::now() + period.min(Duration::from_millis(100)),
        }
    }
}
