//! What the lock reports through the `metrics` facade (feature `metrics`); without the feature
//! every function here does nothing. The names and labels are listed in the crate's docs
//! ("Metrics") and in the README; `lib/tests/metrics_facade.rs` holds them to it.

use std::time::Duration;

use crate::Algorithm;

/// How an `acquire` or `try_acquire` call ended, as the `outcome` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AcquireEnd {
    Acquired,
    Busy,
    Timeout,
    Error,
}

impl AcquireEnd {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            AcquireEnd::Acquired => "acquired",
            AcquireEnd::Busy => "busy",
            AcquireEnd::Timeout => "timeout",
            AcquireEnd::Error => "error",
        }
    }
}

/// An `acquire` or `try_acquire` call ended; `waited` is the acquisition's wait when it won.
pub(crate) fn acquire_ended(algorithm: Algorithm, end: AcquireEnd, waited: Option<Duration>) {
    #[cfg(feature = "metrics")]
    {
        let algorithm = algorithm.name();
        metrics::counter!("redmutex_acquires_total", "algorithm" => algorithm, "outcome" => end.label())
            .increment(1);
        if let Some(waited) = waited {
            metrics::histogram!("redmutex_acquire_wait_seconds", "algorithm" => algorithm)
                .record(waited);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (algorithm, end, waited);
}

/// A guard is being released (explicitly or dropped); `loss` is [`crate::Guard::loss`] just
/// before, which says whether its lease was already over, and why.
pub(crate) fn releasing(algorithm: Algorithm, loss: Option<crate::Loss>) {
    #[cfg(feature = "metrics")]
    {
        let reason = match loss {
            Some(crate::Loss::Gone) => "gone",
            Some(crate::Loss::Expired) => "expired",
            _ => return,
        };
        metrics::counter!("redmutex_leases_lost_total", "algorithm" => algorithm.name(), "reason" => reason)
            .increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (algorithm, loss);
}

/// A release (explicit or a dropped guard's) got its answer: `owned`, `held` and `margin` as
/// in [`crate::Released`].
pub(crate) fn released(
    algorithm: Algorithm,
    owned: bool,
    held: Duration,
    margin: Option<Duration>,
) {
    #[cfg(feature = "metrics")]
    {
        let algorithm = algorithm.name();
        let owned = if owned { "true" } else { "false" };
        metrics::counter!("redmutex_releases_total", "algorithm" => algorithm, "owned" => owned)
            .increment(1);
        metrics::histogram!("redmutex_hold_seconds", "algorithm" => algorithm).record(held);
        if let Some(margin) = margin {
            metrics::histogram!("redmutex_release_margin_seconds", "algorithm" => algorithm)
                .record(margin);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (algorithm, owned, held, margin);
}

/// A release or extend (`op`) lost its connection or reply on every attempt.
pub(crate) fn unconfirmed(algorithm: Algorithm, op: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("redmutex_unconfirmed_total", "algorithm" => algorithm.name(), "op" => op)
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (algorithm, op);
}
