//! `unchecked-resource`: the `fenced` lock, but the resource accepts every write without
//! comparing fences.
//!
//! **The mistake.** The lock hands out strictly increasing fences and each holder sends its
//! fence along with its write, but the service that stores the data never compares them: it
//! reads and writes the value like any other. A holder paused past its lease then overwrites
//! the newer holder's work as if it had no fence at all.
//!
//! **Where the harness sees it.** `fence-pause-holder`: the paused holder's stale write is
//! accepted after a newer holder read (and wrote) with a greater fence. Two accepted writes that
//! read the same value prove it: the newer fence was seen (its read) before the older fence's
//! write was accepted; the fencing checker reports `older-fence-accepted`.
//!
//! The lock side is `fenced` itself; what differs is the resource, which the harness's worker
//! asks about with [`resource_checks_fences`].

use redmutex::algo::{AcquireParams, Algorithm, ExtendParams, Protocol, ReleaseParams};
use redmutex::proto::Machine;

use super::CheckerKind;
use super::KnownBug;

/// The specimen's name.
pub const NAME: &str = "unchecked-resource";

/// One line for `contend list`.
pub const SUMMARY: &str =
    "fenced, but the resource accepts every write without comparing fences (plain GET and SET)";

/// The known bug.
pub const BUGS: &[KnownBug] = &[KnownBug {
    id: "fence-not-compared",
    what: "a holder paused past its lease writes with its old fence and the resource accepts it",
    checker: CheckerKind::Fencing,
    scenario: "fence-pause-holder",
    fault: "the holder paused mid-section past its lease",
    safety: true,
}];

/// Whether the resource of `algorithm` compares fences (every algorithm's but this specimen's).
#[must_use]
pub fn resource_checks_fences(algorithm: &str) -> bool {
    algorithm != NAME
}

/// The protocol: `fenced` under another name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UncheckedResource;

/// The specimen (it has no time constants of its own).
pub static DOCUMENT: UncheckedResource = UncheckedResource;

impl Protocol for UncheckedResource {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        Algorithm::Fenced.protocol().acquire(p)
    }

    fn acquire_contended(&self, p: AcquireParams) -> Box<dyn Machine> {
        Algorithm::Fenced.protocol().acquire_contended(p)
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Algorithm::Fenced.protocol().release(p)
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Algorithm::Fenced.protocol().extend(p)
    }

    fn fenced(&self) -> bool {
        true
    }
}
