//! The system-wide monotonic clock that every process of a run stamps its events with.
//!
//! `std::time::Instant` is opaque and cannot be compared across processes; `CLOCK_MONOTONIC`
//! can, on one Linux host, so coordinator and workers share one timeline.

/// Nanoseconds on `CLOCK_MONOTONIC`.
#[must_use]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always available on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Milliseconds as nanoseconds.
#[must_use]
pub const fn ms(ms: u64) -> u64 {
    ms.saturating_mul(1_000_000)
}

/// The median of nanosecond samples, in µs (`None` without samples).
#[must_use]
pub fn median_us(samples: &mut [u64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    Some(samples[samples.len() / 2] as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_never_goes_back() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && b >= a);
    }
}
