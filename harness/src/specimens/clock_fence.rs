//! `clock-fence`: the `token` lock with a fence taken from the client's wall clock.
//!
//! **The mistake.** A fence must grow with every acquisition, so it is tempting to take "the
//! time" as the fence: milliseconds since the epoch, read by the client that just won the lock.
//! The lock itself is sound (`token`: `SET NX PX`, owner-checked release), and on one healthy
//! machine the fences even grow. But a client's wall clock is its own: a client whose clock runs
//! ahead issues a fence from the future, and every later holder with a true clock gets a
//! *smaller* fence. The resource then refuses the honest holders' writes, and the fences are
//! not increasing.
//!
//! **Where the harness sees it.** `fence-clock-skew`: one worker's clock runs 3 s ahead; the
//! fencing checker reports `fence-not-increasing`.

use std::time::Duration;

use redmutex::algo::{AcquireParams, Algorithm, ExtendParams, Protocol, ReleaseParams};
use redmutex::proto::{Action, Event, Grant, Machine, Outcome};

use super::CheckerKind;
use super::KnownBug;

/// The specimen's name.
pub const NAME: &str = "clock-fence";

/// One line for `contend list`.
pub const SUMMARY: &str =
    "token, with the fence taken from the client's wall clock (ms since the epoch)";

/// The known bug.
pub const BUGS: &[KnownBug] = &[KnownBug {
    id: "wall-clock-fence",
    what: "a client whose clock runs ahead issues a fence from the future; later holders get smaller fences",
    checker: CheckerKind::Fencing,
    scenario: "fence-clock-skew",
    fault: "one worker's clock skewed ahead",
    safety: true,
}];

/// The protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockFence;

/// The specimen (it has no time constants of its own).
pub static DOCUMENT: ClockFence = ClockFence;

impl Protocol for ClockFence {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        Box::new(Acquire { inner: Algorithm::Token.protocol().acquire(p), won: None })
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Algorithm::Token.protocol().release(p)
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Algorithm::Token.protocol().extend(p)
    }

    fn fenced(&self) -> bool {
        true
    }
}

/// `token`'s acquire; once it wins, one read of the wall clock becomes the fence.
struct Acquire {
    inner: Box<dyn Machine>,
    won: Option<Grant>,
}

impl Machine for Acquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        if let Some(mut grant) = self.won.take() {
            return Action::Done(match event {
                Event::Clock(unix_ms) => {
                    grant.fence = Some(unix_ms);
                    Outcome::Acquired(grant)
                }
                other => redmutex::algo::unexpected(&other),
            });
        }
        match self.inner.handle(now, event) {
            Action::Done(Outcome::Acquired(grant)) => {
                self.won = Some(grant);
                Action::ReadClock
            }
            action => action,
        }
    }
}

#[cfg(test)]
mod tests {
    use redmutex::proto::Reply;

    use super::*;
    use crate::specimens::testkit::{Drive, acquire, grant};

    #[test]
    fn the_fence_is_the_clock_read_after_winning() {
        let (mut d, first) = Drive::start(DOCUMENT.acquire(acquire(1000, None)), 5);
        assert!(matches!(first, Action::Send(_)), "{first:?}");
        assert_eq!(d.feed(Event::Reply(Reply::Status("OK".into()))), Action::ReadClock);
        let g = grant(d.feed(Event::Clock(1_700_000_000_123)));
        assert_eq!(g.fence, Some(1_700_000_000_123));
        assert_eq!(g.acquired_at, Duration::from_millis(5));
    }
}
