//! The specimens: the five lock algorithms of the reference documents (`../shared/seeds/`),
//! re-implemented faithfully as sans-IO [`Protocol`]s, **bugs kept**, so that the harness can
//! show what goes wrong with them and so that its checkers are proven to catch real bugs.
//!
//! | name | document | idea |
//! |---|---|---|
//! | [`setnx-getset-expiry`](setnx_getset_expiry) | seed 000 | SETNX of an expiry timestamp, GET/GETSET takeover, elapsed-time check then DEL |
//! | [`poll-get-del`](poll_get_del) | seed 001 | SET NX EX, fixed poll delay, block time; release GET, compare, DEL |
//! | [`setnx-getset-unchecked`](setnx_getset_unchecked) | seed 002 | SETNX/GETSET of timestamps, 1 s retry sleep; release a bare DEL |
//! | [`token-poll`](token_poll) | seed 003 | SET NX PX token, 0.1 s polling, owner-checked Lua release and extend |
//! | [`setnx-pubsub`](setnx_pubsub) | seed 004 | SET NX EX, retry only on a pub/sub message (bounded wait), publishing release |
//!
//! Besides the documents' locks, a few mistakes the issues asked for: [`clock-fence`](clock_fence)
//! and [`unchecked-resource`](unchecked_resource) (fences), [`fair-lifo`](fair_lifo) (a FIFO
//! queue served from the wrong end) and [`fair-client-clock`](fair_client_clock) (Redisson's
//! fair lock: a queue whose places expire at client wall-clock deadlines); and three mistakes
//! of Redlock ports, quorum specimens over a run's servers ([`Specimen::over`]):
//! [`redlock-no-drift`](redlock_no_drift), [`redlock-sequential`](redlock_sequential) and
//! [`redlock-answered-release`](redlock_answered_release).
//!
//! **Time constants.** Each specimen keeps the time constants of its document (retry sleeps,
//! poll delays, grace periods) in a small params struct whose `Default` is the document's value;
//! [`Specimen::scaled`] multiplies them, because a 1 s retry sleep makes a 2000-acquisition run
//! take an hour. The lock's ttl and wait timeout come from the harness per operation
//! ([`AcquireParams::ttl`](redmutex::algo::AcquireParams), `wait`) and each file says how it maps
//! them onto its document's own notions (expiry seconds, retry counts, block time).
//!
//! **Release outcomes** report what the *algorithm believes*: `Released { owned: true }` when it
//! went ahead and deleted the key. Whether that key was still its own is for the ownership
//! checker to judge from the history; that is exactly the bug of several specimens.

pub mod clock_fence;
pub mod fair_client_clock;
pub mod fair_lifo;
pub mod poll_get_del;
pub mod redlock_answered_release;
pub mod redlock_no_drift;
pub mod redlock_sequential;
pub mod setnx_getset_expiry;
pub mod setnx_getset_unchecked;
pub mod setnx_pubsub;
pub mod token_poll;
pub mod unchecked_resource;

use std::time::Duration;

use redmutex::algo::redlock::RedlockAlgorithm;
use redmutex::algo::{AcquireParams, Protocol, bad_reply, grant};
use redmutex::proto::{Action, Bytes, Outcome, Reply};

pub use crate::check::CheckerKind;

/// The scenario names a [`KnownBug`] may name (the scenarios of the harness issue).
pub const SCENARIOS: [&str; 14] = [
    "increment-20x100",
    "expiry-mid-section",
    "stale-release",
    "crash-holder",
    "pause-holder",
    "release-step-delay",
    "client-clock-skew",
    "fence-clock-skew",
    "fence-pause-holder",
    "fair-order",
    "fair-client-clock-skew",
    "redlock-slow-replies",
    "redlock-lost-reply",
    "redlock-drift",
];

/// A bug a specimen is known to have, and where the harness must see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownBug {
    /// A short slug, stable across versions (`stale-del-after-get`).
    pub id: &'static str,
    /// What goes wrong, in one sentence.
    pub what: &'static str,
    /// The checker that must report it.
    pub checker: CheckerKind,
    /// The scenario that provokes it (one of [`SCENARIOS`]).
    pub scenario: &'static str,
    /// The fault of that scenario that matters, in words.
    pub fault: &'static str,
    /// Whether the bug breaks safety (two holders, a stale release, a lost update) rather than
    /// only liveness.
    pub safety: bool,
}

/// Builds a quorum specimen's protocol over a run's servers.
pub type Over = fn(&crate::registry::Build) -> Box<dyn Protocol>;

/// One specimen: its protocol with the document's defaults, and what the harness needs to
/// list it and to judge its runs.
pub struct Specimen {
    /// The algorithm's name, as `contend list` prints it.
    pub name: &'static str,
    /// Which reference document it re-implements (`seed 000`).
    pub document: &'static str,
    /// One line for `contend list`.
    pub summary: &'static str,
    /// Its known bugs; empty for a specimen that is correct (if slow).
    pub bugs: &'static [KnownBug],
    protocol: &'static dyn Protocol,
    scaled: fn(f64) -> Box<dyn Protocol>,
    /// For a specimen of a quorum lock: its protocol over the run's servers (`[server] count`,
    /// the server timeout, the scale). `None` for a single-server lock.
    pub over: Option<Over>,
}

impl Specimen {
    /// The protocol with the document's time constants.
    #[must_use]
    pub fn protocol(&self) -> &'static dyn Protocol {
        self.protocol
    }

    /// The protocol with the document's time constants (sleeps, poll delays, grace periods)
    /// multiplied by `factor`; ttl and wait timeout are not touched (they come per operation).
    /// A factor that is not finite and positive is taken as 1.
    #[must_use]
    pub fn scaled(&self, factor: f64) -> Box<dyn Protocol> {
        (self.scaled)(factor)
    }
}

impl std::fmt::Debug for Specimen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Specimen").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Every specimen, in the order of the reference documents.
pub static SPECIMENS: [Specimen; 12] = [
    Specimen {
        name: setnx_getset_expiry::NAME,
        document: "seed 000",
        summary: setnx_getset_expiry::SUMMARY,
        bugs: setnx_getset_expiry::BUGS,
        protocol: &setnx_getset_expiry::DOCUMENT,
        over: None,
        scaled: |f| {
            Box::new(setnx_getset_expiry::SetnxGetsetExpiry::new(
                setnx_getset_expiry::Params::default().scaled(f),
            ))
        },
    },
    Specimen {
        name: poll_get_del::NAME,
        document: "seed 001",
        summary: poll_get_del::SUMMARY,
        bugs: poll_get_del::BUGS,
        protocol: &poll_get_del::DOCUMENT,
        over: None,
        scaled: |f| {
            Box::new(poll_get_del::PollGetDel::new(poll_get_del::Params::default().scaled(f)))
        },
    },
    Specimen {
        name: setnx_getset_unchecked::NAME,
        document: "seed 002",
        summary: setnx_getset_unchecked::SUMMARY,
        bugs: setnx_getset_unchecked::BUGS,
        protocol: &setnx_getset_unchecked::DOCUMENT,
        over: None,
        scaled: |f| {
            Box::new(setnx_getset_unchecked::SetnxGetsetUnchecked::new(
                setnx_getset_unchecked::Params::default().scaled(f),
            ))
        },
    },
    Specimen {
        name: token_poll::NAME,
        document: "seed 003",
        summary: token_poll::SUMMARY,
        bugs: token_poll::BUGS,
        protocol: &token_poll::DOCUMENT,
        over: None,
        scaled: |f| Box::new(token_poll::TokenPoll::new(token_poll::Params::default().scaled(f))),
    },
    Specimen {
        name: setnx_pubsub::NAME,
        document: "seed 004",
        summary: setnx_pubsub::SUMMARY,
        bugs: setnx_pubsub::BUGS,
        protocol: &setnx_pubsub::DOCUMENT,
        over: None,
        scaled: |f| {
            Box::new(setnx_pubsub::SetnxPubsub::new(setnx_pubsub::Params::default().scaled(f)))
        },
    },
    Specimen {
        name: clock_fence::NAME,
        document: "issue 11",
        summary: clock_fence::SUMMARY,
        bugs: clock_fence::BUGS,
        protocol: &clock_fence::DOCUMENT,
        over: None,
        scaled: |_| Box::new(clock_fence::ClockFence),
    },
    Specimen {
        name: unchecked_resource::NAME,
        document: "issue 11",
        summary: unchecked_resource::SUMMARY,
        bugs: unchecked_resource::BUGS,
        protocol: &unchecked_resource::DOCUMENT,
        over: None,
        scaled: |_| Box::new(unchecked_resource::UncheckedResource),
    },
    Specimen {
        name: fair_lifo::NAME,
        document: "issue 16",
        summary: fair_lifo::SUMMARY,
        bugs: fair_lifo::BUGS,
        protocol: &fair_lifo::DOCUMENT,
        over: None,
        scaled: |_| Box::new(fair_lifo::FairLifo),
    },
    Specimen {
        name: fair_client_clock::NAME,
        document: "issue 16",
        summary: fair_client_clock::SUMMARY,
        bugs: fair_client_clock::BUGS,
        protocol: &fair_client_clock::DOCUMENT,
        over: None,
        scaled: |_| Box::new(fair_client_clock::FairClientClock),
    },
    Specimen {
        name: redlock_no_drift::NAME,
        document: "issue 16",
        summary: redlock_no_drift::SUMMARY,
        bugs: redlock_no_drift::BUGS,
        protocol: &redlock_no_drift::DOCUMENT,
        over: Some(|b| Box::new(redlock_no_drift::RedlockNoDrift(quorum(b)))),
        scaled: |_| Box::new(redlock_no_drift::DOCUMENT),
    },
    Specimen {
        name: redlock_sequential::NAME,
        document: "issue 16",
        summary: redlock_sequential::SUMMARY,
        bugs: redlock_sequential::BUGS,
        protocol: &redlock_sequential::DOCUMENT,
        over: Some(|b| Box::new(redlock_sequential::RedlockSequential(quorum(b)))),
        scaled: |_| Box::new(redlock_sequential::DOCUMENT),
    },
    Specimen {
        name: redlock_answered_release::NAME,
        document: "issue 16",
        summary: redlock_answered_release::SUMMARY,
        bugs: redlock_answered_release::BUGS,
        protocol: &redlock_answered_release::DOCUMENT,
        over: Some(|b| Box::new(redlock_answered_release::RedlockAnsweredRelease::new(quorum(b)))),
        scaled: |_| Box::new(redlock_answered_release::RedlockAnsweredRelease::new(THREE)),
    },
];

/// `redlock` over three servers, each awaited the harness's default server timeout: what a
/// quorum specimen's protocol runs over outside a run (`contend list`, its `DOCUMENT`).
pub const THREE: RedlockAlgorithm = RedlockAlgorithm {
    servers: 3,
    server_timeout: Duration::from_millis(crate::scenario::SERVER_TIMEOUT_MS),
};

/// The `redlock` a quorum specimen departs from, over a run's servers.
fn quorum(build: &crate::registry::Build) -> RedlockAlgorithm {
    RedlockAlgorithm { servers: build.servers, server_timeout: build.server_timeout }
}

/// Every specimen's protocol with the documents' time constants.
#[must_use]
pub fn all() -> Vec<&'static dyn Protocol> {
    SPECIMENS.iter().map(Specimen::protocol).collect()
}

/// The specimen named `name`, if there is one.
#[must_use]
pub fn find(name: &str) -> Option<&'static Specimen> {
    SPECIMENS.iter().find(|s| s.name == name)
}

/// The protocol type of a specimen module, around the module's `Params` (which has a
/// `DOCUMENT` constant): `Default` for `Params`, the type, its `DOCUMENT` static and `new`.
macro_rules! specimen_protocol {
    ($(#[$derive:meta])* $name:ident) => {
        impl Default for Params {
            fn default() -> Params {
                Params::DOCUMENT
            }
        }

        /// The protocol.
        $(#[$derive])*
        pub struct $name {
            params: Params,
        }

        /// The specimen with the document's values.
        pub static DOCUMENT: $name = $name { params: Params::DOCUMENT };

        impl $name {
            /// The specimen with `params`.
            #[must_use]
            pub fn new(params: Params) -> $name {
                $name { params }
            }
        }
    };
}
use specimen_protocol;

/// The end of a `SET key token NX …` attempt sent at `sent_at`, if the reply ends it: acquired
/// on `OK`, a failure on a reply that makes no sense; `None` on `Nil` (the key was held), when
/// the specimen decides what comes next.
pub(crate) fn set_nx_end(p: &AcquireParams, sent_at: Duration, reply: &Reply) -> Option<Action> {
    if reply.is_ok() {
        let grant = grant(p.token.to_bytes(), sent_at, p.ttl, p.drift);
        return Some(Action::Done(Outcome::Acquired(grant)));
    }
    (*reply != Reply::Nil).then(|| Action::Done(bad_reply("acquire", reply)))
}

/// `d` multiplied by `factor` (1 when `factor` is not finite and positive).
pub(crate) fn scale(d: Duration, factor: f64) -> Duration {
    let factor = if factor.is_finite() && factor > 0.0 { factor } else { 1.0 };
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(d)
}

/// Whole seconds for an `EX` argument: the ttl rounded up, at least one (Redis rejects zero,
/// and rounding down would shorten the lease below what the harness asked for).
pub(crate) fn whole_secs(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000_000)).unwrap_or(u64::MAX).max(1)
}

/// Seconds since the epoch as a float, from the driver's wall-clock milliseconds; the documents
/// compare timestamps as Python floats.
pub(crate) fn secs(unix_ms: u64) -> f64 {
    // Precision: f64 holds integers exactly up to 2^53 ms, far beyond any real clock.
    let ms = unix_ms as f64;
    ms / 1000.0
}

/// A timestamp as the documents store it: decimal seconds (millisecond precision).
pub(crate) fn stamp(seconds: f64) -> Bytes {
    format!("{seconds:.3}").into_bytes()
}

/// A stored timestamp read back, as Python's `float(value)` would; `None` when it is not a
/// number (the documents would raise).
pub(crate) fn parse_stamp(value: &[u8]) -> Option<f64> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod in_model;
#[cfg(test)]
pub(crate) mod quorum_testkit;
#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_specimen_is_listed_once_under_its_protocol_name() {
        let names: Vec<_> = SPECIMENS.iter().map(|s| s.name).collect();
        for (i, s) in SPECIMENS.iter().enumerate() {
            assert_eq!(s.protocol().name(), s.name);
            assert_eq!(s.scaled(0.1).name(), s.name);
            assert!(!names[..i].contains(&s.name), "{} listed twice", s.name);
            assert!(!s.summary.is_empty() && !s.summary.contains('\n'));
        }
        assert_eq!(all().len(), 12);
        assert!(find("poll-get-del").is_some() && find("token").is_none());
    }

    #[test]
    fn known_bugs_name_real_checkers_and_scenarios() {
        for s in &SPECIMENS {
            for bug in s.bugs {
                assert!(SCENARIOS.contains(&bug.scenario), "{}: scenario {}", s.name, bug.scenario);
            }
        }
        // Every specimen but the correct one has a safety or liveness bug for the gate.
        let buggy = SPECIMENS.iter().filter(|s| !s.bugs.is_empty()).count();
        assert_eq!(buggy, 11);
    }

    #[test]
    fn whole_seconds_round_up_and_are_never_zero() {
        assert_eq!(whole_secs(Duration::from_millis(1)), 1);
        assert_eq!(whole_secs(Duration::ZERO), 1);
        assert_eq!(whole_secs(Duration::from_secs(2)), 2);
        assert_eq!(whole_secs(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn stamps_read_back_as_the_documents_floats() {
        let s = stamp(secs(1_700_000_000_123) + 10.0);
        assert_eq!(s, b"1700000010.123");
        assert_eq!(parse_stamp(&s), Some(1_700_000_010.123));
        assert_eq!(parse_stamp(b"garbage"), None);
        assert_eq!(scale(Duration::from_secs(1), 0.05), Duration::from_millis(50));
        assert_eq!(scale(Duration::from_secs(1), f64::NAN), Duration::from_secs(1));
    }
}
