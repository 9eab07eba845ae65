//! The checkers: each a pure function from a history (and what the run promised) to a verdict.
//!
//! A verdict is `valid`, `invalid` with findings that name the events proving them, or
//! `unknown` with the reason. Verdicts merge as invalid > unknown > valid. The checkers know
//! nothing of processes or Redis: a simulator's history is checked the same way.

mod exclusion;
mod fairness;
mod fencing;
mod liveness;
mod ownership;
mod residue;
mod stranded;
mod timeline;
mod updates;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use exclusion::mutual_exclusion;
pub use fairness::{TOLERANCE_NS as FAIRNESS_TOLERANCE_NS, fairness};
pub use fencing::fencing;
pub use liveness::{jain as jain_index, liveness};
pub use ownership::ownership;
pub use residue::residue;
pub use stranded::stranded_lock;
pub use timeline::{Acquisition, Timeline};
pub use updates::lost_updates;

use crate::history::Event;

/// The most findings a checker lists; the rest are counted in its reason.
pub const MAX_FINDINGS: usize = 20;

/// What the run promised: the settings the checkers judge against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The lock's ttl (lease), ns.
    pub ttl_ns: u64,
    /// The acquire wait timeout, ns.
    pub wait_ns: u64,
    /// Slack allowed on top of a deadline (scheduling, polling intervals), ns.
    pub slack_ns: u64,
    /// Whether the algorithm issues fences (the section writes through the fenced resource).
    pub fenced: bool,
    /// How long after a waiter's last sign of life a release may still hand it the lock
    /// (`redmutex::algo::Protocol::dead_waiter_window`), ns: an acquire cut short by its
    /// worker's death may hold the lock until then + ttl.
    #[serde(default)]
    pub dead_waiter_ns: u64,
    /// Whether the algorithm promises FIFO order among waiters
    /// (`redmutex::algo::Protocol::fifo`): the `fairness` checker then fails it on a bypass.
    #[serde(default)]
    pub fifo: bool,
}

impl Context {
    /// A context from settings in milliseconds.
    #[must_use]
    pub fn from_ms(ttl_ms: u64, wait_ms: u64, slack_ms: u64, fenced: bool) -> Context {
        const MS: u64 = 1_000_000;
        Context {
            ttl_ns: ttl_ms * MS,
            wait_ns: wait_ms * MS,
            slack_ns: slack_ms * MS,
            fenced,
            dead_waiter_ns: 0,
            fifo: false,
        }
    }

    /// The same context for an algorithm that promises (or not) FIFO order among waiters.
    #[must_use]
    pub fn with_fifo(self, fifo: bool) -> Context {
        Context { fifo, ..self }
    }

    /// The same context for an algorithm that may hand the lock to a waiter up to `window`
    /// after its last sign of life.
    #[must_use]
    pub fn with_dead_waiter(self, window: std::time::Duration) -> Context {
        Context { dead_waiter_ns: u64::try_from(window.as_nanos()).unwrap_or(u64::MAX), ..self }
    }
}

/// The verdict of one checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The history proves the property holds (as far as the property can be observed).
    Valid,
    /// The history cannot decide; the result says why.
    Unknown,
    /// The history proves the property broken; the findings say how.
    Invalid,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Valid => "valid",
            Verdict::Unknown => "unknown",
            Verdict::Invalid => "invalid",
        })
    }
}

/// What a finding proves. Serialized (and printed) as the kebab-case names reports have always
/// used: `lease-violated`, `stale-release`, ...; those names are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// mutual-exclusion: the lock was handed out twice within one lease.
    LeaseViolated,
    /// mutual-exclusion: a holder kept working after its lease may have run out.
    LeaseOutlived,
    /// lost-updates: the final counter is not the number of writes.
    CounterMismatch,
    /// lost-updates: two certain writes of one value.
    DuplicateWrite,
    /// lost-updates: a value written or read above the final counter.
    CounterSetBack,
    /// ownership: a release removed another worker's live lock.
    StaleRelease,
    /// ownership: a holder found its lock gone before its lease could have ended.
    LockRemovedUnderHolder,
    /// fencing: an acquisition of a fenced lock without a fence.
    MissingFence,
    /// fencing: a fence not above one handed out before.
    FenceNotIncreasing,
    /// fencing: the resource accepted an older fence after a newer one.
    OlderFenceAccepted,
    /// fencing: the resource's high-water mark at the end is below a fence it accepted.
    FenceMarkBehind,
    /// fencing: the resource's high-water mark at the end is no fence any holder was given.
    FenceMarkUnknown,
    /// liveness: an acquire past its wait timeout and the slack.
    AcquireTooLong,
    /// liveness: a crashed holder's lock not taken again in time while someone waited.
    NotRetaken,
    /// liveness: a worker that never acquired while others did.
    Starved,
    /// stranded-lock: the lock held by no one while someone waited.
    StrandedLock,
    /// residue: a key of the lock left on the server that no one can still need.
    Residue,
    /// fairness: a grant went to a worker past another that had waited longer.
    Bypass,
}

impl FindingKind {
    /// Every kind, in declaration order.
    pub const ALL: [FindingKind; 18] = [
        FindingKind::LeaseViolated,
        FindingKind::LeaseOutlived,
        FindingKind::CounterMismatch,
        FindingKind::DuplicateWrite,
        FindingKind::CounterSetBack,
        FindingKind::StaleRelease,
        FindingKind::LockRemovedUnderHolder,
        FindingKind::MissingFence,
        FindingKind::FenceNotIncreasing,
        FindingKind::OlderFenceAccepted,
        FindingKind::FenceMarkBehind,
        FindingKind::FenceMarkUnknown,
        FindingKind::AcquireTooLong,
        FindingKind::NotRetaken,
        FindingKind::Starved,
        FindingKind::StrandedLock,
        FindingKind::Residue,
        FindingKind::Bypass,
    ];

    /// The stable name, as reports spell it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::LeaseViolated => "lease-violated",
            FindingKind::LeaseOutlived => "lease-outlived",
            FindingKind::CounterMismatch => "counter-mismatch",
            FindingKind::DuplicateWrite => "duplicate-write",
            FindingKind::CounterSetBack => "counter-set-back",
            FindingKind::StaleRelease => "stale-release",
            FindingKind::LockRemovedUnderHolder => "lock-removed-under-holder",
            FindingKind::MissingFence => "missing-fence",
            FindingKind::FenceNotIncreasing => "fence-not-increasing",
            FindingKind::OlderFenceAccepted => "older-fence-accepted",
            FindingKind::FenceMarkBehind => "fence-mark-behind",
            FindingKind::FenceMarkUnknown => "fence-mark-unknown",
            FindingKind::AcquireTooLong => "acquire-too-long",
            FindingKind::NotRetaken => "not-retaken",
            FindingKind::Starved => "starved",
            FindingKind::StrandedLock => "stranded-lock",
            FindingKind::Residue => "residue",
            FindingKind::Bypass => "bypass",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for FindingKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for FindingKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// One proof that a property broke.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What it proves, e.g. `lease-violated`, `stale-release`.
    pub kind: FindingKind,
    /// What the events show, in a sentence.
    pub message: String,
    /// Indices into the history of the events that prove it.
    pub events: Vec<usize>,
}

/// The result of one checker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The verdict.
    pub verdict: Verdict,
    /// Why the verdict is unknown, or a summary of the findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The proofs of an invalid verdict (at most [`MAX_FINDINGS`]).
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Figures the checker measured on the way (fairness index, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub figures: BTreeMap<String, f64>,
}

impl CheckResult {
    /// Valid, with no findings.
    #[must_use]
    pub fn valid() -> CheckResult {
        CheckResult {
            verdict: Verdict::Valid,
            reason: None,
            findings: Vec::new(),
            figures: BTreeMap::new(),
        }
    }

    /// Unknown, for `reason`.
    #[must_use]
    pub fn unknown(reason: impl Into<String>) -> CheckResult {
        CheckResult {
            verdict: Verdict::Unknown,
            reason: Some(reason.into()),
            ..CheckResult::valid()
        }
    }

    /// Invalid when there are findings (of `total`, of which the first are listed), else valid.
    #[must_use]
    pub fn from_findings(mut findings: Vec<Finding>, total: usize) -> CheckResult {
        if total == 0 {
            return CheckResult::valid();
        }
        findings.truncate(MAX_FINDINGS);
        let reason = format!(
            "{total} finding(s){}",
            if total > findings.len() { ", first ones listed" } else { "" }
        );
        CheckResult {
            verdict: Verdict::Invalid,
            reason: Some(reason),
            findings,
            figures: BTreeMap::new(),
        }
    }

    /// The same result with a figure added.
    #[must_use]
    pub fn figure(mut self, name: &str, value: f64) -> CheckResult {
        self.figures.insert(name.to_string(), value);
        self
    }
}

/// Which checker: each has a stable name, as scenario files, reports and findings spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckerKind {
    /// No two holders inside the critical section at once.
    MutualExclusion,
    /// The counter counts every write.
    LostUpdates,
    /// No release removes another's lock.
    Ownership,
    /// Fences increase and the resource refuses older ones.
    Fencing,
    /// Acquires end in time; a crashed holder's lock is retaken; no one starves.
    Liveness,
    /// The lock is never held by no one while someone waits.
    StrandedLock,
    /// Nothing of the lock is left on the server but what the algorithm keeps by design.
    Residue,
    /// Grants follow the order in which waiters began to wait (judged for FIFO algorithms).
    Fairness,
}

impl CheckerKind {
    /// Every checker, in report order.
    pub const ALL: [CheckerKind; 8] = [
        CheckerKind::MutualExclusion,
        CheckerKind::LostUpdates,
        CheckerKind::Ownership,
        CheckerKind::Fencing,
        CheckerKind::Liveness,
        CheckerKind::StrandedLock,
        CheckerKind::Residue,
        CheckerKind::Fairness,
    ];

    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CheckerKind::MutualExclusion => "mutual-exclusion",
            CheckerKind::LostUpdates => "lost-updates",
            CheckerKind::Ownership => "ownership",
            CheckerKind::Fencing => "fencing",
            CheckerKind::Liveness => "liveness",
            CheckerKind::StrandedLock => "stranded-lock",
            CheckerKind::Residue => "residue",
            CheckerKind::Fairness => "fairness",
        }
    }

    /// The checker called `name`, if any.
    #[must_use]
    pub fn named(name: &str) -> Option<CheckerKind> {
        CheckerKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Its function.
    #[must_use]
    pub fn checker(self) -> Checker {
        match self {
            CheckerKind::MutualExclusion => mutual_exclusion,
            CheckerKind::LostUpdates => lost_updates,
            CheckerKind::Ownership => ownership,
            CheckerKind::Fencing => fencing,
            CheckerKind::Liveness => liveness,
            CheckerKind::StrandedLock => stranded_lock,
            CheckerKind::Residue => residue,
            CheckerKind::Fairness => fairness,
        }
    }
}

impl fmt::Display for CheckerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checker: a pure function of the history's timeline and the context.
pub type Checker = fn(&Timeline<'_>, &Context) -> CheckResult;

/// Runs every checker on a history.
#[must_use]
pub fn check_all(history: &[Event], ctx: &Context) -> BTreeMap<String, CheckResult> {
    let timeline = Timeline::new(history);
    CheckerKind::ALL
        .iter()
        .map(|kind| (kind.as_str().to_string(), kind.checker()(&timeline, ctx)))
        .collect()
}

/// The verdicts merged: invalid > unknown > valid.
#[must_use]
pub fn merge(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    verdicts.into_iter().max().unwrap_or(Verdict::Valid)
}

/// Milliseconds of a nanosecond span, rounded to 0.1 ms, for messages.
pub fn ms(ns: u64) -> f64 {
    // Precision loss is irrelevant for a message.
    let v = ns as f64 / 1e6;
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_merge_invalid_over_unknown_over_valid() {
        assert_eq!(merge([Verdict::Valid, Verdict::Unknown]), Verdict::Unknown);
        assert_eq!(merge([Verdict::Unknown, Verdict::Invalid, Verdict::Valid]), Verdict::Invalid);
        assert_eq!(merge([]), Verdict::Valid);
    }

    #[test]
    fn finding_kinds_serialize_as_their_stable_names() {
        for kind in FindingKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str(), "{kind:?}");
            assert_eq!(kind.to_string(), kind.as_str());
        }
        let names: std::collections::BTreeSet<_> =
            FindingKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), FindingKind::ALL.len());
    }

    #[test]
    fn a_finding_kind_equals_its_own_stable_name_only() {
        for kind in FindingKind::ALL {
            let name: &str = kind.as_str();
            assert!(kind == *name && kind == name, "{kind:?}");
            assert!(kind != *"lease-violated " && kind != "", "{kind:?}");
        }
        assert!(FindingKind::Residue != *"bypass");
        assert!(FindingKind::Bypass != "residue");
    }

    #[test]
    fn verdicts_print_as_the_reports_spell_them() {
        let printed: Vec<String> = [Verdict::Valid, Verdict::Unknown, Verdict::Invalid]
            .iter()
            .map(Verdict::to_string)
            .collect();
        assert_eq!(printed, ["valid", "unknown", "invalid"]);
    }

    #[test]
    fn check_all_answers_every_checker_by_name() {
        let checked = check_all(&[], &Context::from_ms(0, 0, 0, false));
        let names: Vec<&str> = checked.keys().map(String::as_str).collect();
        let mut expected: Vec<&str> = CheckerKind::ALL.iter().map(|k| k.as_str()).collect();
        expected.sort_unstable();
        assert_eq!(names, expected);
        assert!(checked.values().all(|r| r.verdict != Verdict::Invalid), "{checked:?}");
    }

    #[test]
    fn checker_kinds_keep_their_names_both_ways() {
        for kind in CheckerKind::ALL {
            assert_eq!(CheckerKind::named(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(CheckerKind::named("nope"), None);
    }
}
