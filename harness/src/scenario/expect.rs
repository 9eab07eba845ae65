//! What a scenario expects each checker to say of an algorithm.

use serde::{Deserialize, Serialize};

use crate::check::{CheckResult, CheckerKind, Verdict};

/// What a checker is expected to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Valid.
    Valid,
    /// Invalid (any finding).
    Invalid,
    /// Unknown.
    Unknown,
    /// Invalid, and every finding is `lease-outlived` (a holder outlived its lease; the lock did
    /// not hand itself out twice).
    LeaseOutlived,
    /// Not judged.
    Any,
}

impl Expect {
    /// The name scenario files use.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Expect::Valid => "valid",
            Expect::Invalid => "invalid",
            Expect::Unknown => "unknown",
            Expect::LeaseOutlived => "lease-outlived",
            Expect::Any => "any",
        }
    }

    /// Whether `result` meets this expectation.
    #[must_use]
    pub fn met_by(self, result: &CheckResult) -> bool {
        match self {
            Expect::Valid => result.verdict == Verdict::Valid,
            Expect::Invalid => result.verdict == Verdict::Invalid,
            Expect::Unknown => result.verdict == Verdict::Unknown,
            Expect::LeaseOutlived => {
                result.verdict == Verdict::Invalid
                    && result.findings.iter().all(|f| f.kind == "lease-outlived")
            }
            Expect::Any => true,
        }
    }

    /// Whether this expectation says the checker catches a bug.
    #[must_use]
    pub fn catches(self) -> bool {
        matches!(self, Expect::Invalid)
    }
}

/// The expected verdicts of one algorithm, per checker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expectations {
    /// `mutual-exclusion`.
    pub mutual_exclusion: Option<Expect>,
    /// `lost-updates`.
    pub lost_updates: Option<Expect>,
    /// `ownership`.
    pub ownership: Option<Expect>,
    /// `fencing`.
    pub fencing: Option<Expect>,
    /// `liveness`.
    pub liveness: Option<Expect>,
    /// `stranded-lock`.
    pub stranded_lock: Option<Expect>,
    /// `residue`.
    pub residue: Option<Expect>,
    /// `fairness`.
    pub fairness: Option<Expect>,
    /// Why these verdicts are expected (for the reader).
    pub why: Option<String>,
}

impl Expectations {
    /// The expectation for checker `kind`.
    #[must_use]
    pub fn get(&self, kind: CheckerKind) -> Option<Expect> {
        match kind {
            CheckerKind::MutualExclusion => self.mutual_exclusion,
            CheckerKind::LostUpdates => self.lost_updates,
            CheckerKind::Ownership => self.ownership,
            CheckerKind::Fencing => self.fencing,
            CheckerKind::Liveness => self.liveness,
            CheckerKind::StrandedLock => self.stranded_lock,
            CheckerKind::Residue => self.residue,
            CheckerKind::Fairness => self.fairness,
        }
    }
}
