//! Scenario files: TOML parsed once, at the edge, into a typed [`Scenario`].
//!
//! Parsing is strict: an unknown key, a wrong type or a setting that does not apply to a fault's
//! kind is an error naming the file, line, column and key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::check::{CheckResult, Verdict};

/// A scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its name (the file stem unless given).
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The file it came from.
    pub path: PathBuf,
    /// Worker processes.
    pub workers: u32,
    /// Acquire → section → release rounds per worker.
    pub iterations: u32,
    /// Seed of the run's randomness (jitter, hold times).
    pub seed: u64,
    /// The run is stopped (workers killed) after this long.
    pub max_duration_ms: u64,
    /// Lock settings.
    pub lock: LockSettings,
    /// Extra time spent between the critical section's read and its write.
    pub hold: Hold,
    /// Slack added to liveness deadlines.
    pub slack_ms: u64,
    /// The faults, in file order.
    pub faults: Vec<Fault>,
    /// Expected verdicts per algorithm name.
    pub expect: BTreeMap<String, Expectations>,
    /// Scale of the specimens' document time constants (retry sleeps, poll delays).
    pub specimen_scale: f64,
    /// Settings the gate uses instead (smaller runs).
    pub gate: GateOverride,
}

/// The lock's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockSettings {
    /// The lease, ms.
    #[serde(default = "default_ttl")]
    pub ttl_ms: u64,
    /// How long an acquire waits, ms.
    #[serde(default = "default_ttl")]
    pub wait_ms: u64,
    /// Drift allowance subtracted from the lease, ms (default ttl/100 + 2).
    #[serde(default)]
    pub drift_ms: Option<u64>,
}

/// How long a holder lingers between reading and writing the counter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "distribution")]
pub enum Hold {
    /// No extra time.
    None,
    /// Always `ms`.
    Fixed {
        /// The hold.
        ms: u64,
    },
    /// Uniform in `min_ms..=max_ms`.
    Uniform {
        /// Lower bound.
        min_ms: u64,
        /// Upper bound.
        max_ms: u64,
    },
    /// Exponential with mean `mean_ms` (capped at 20 × mean).
    Exponential {
        /// The mean.
        mean_ms: u64,
    },
}

impl Hold {
    /// One hold time, drawn with `rng` (workers and the simulator draw alike).
    pub fn draw(self, rng: &mut redmutex::algo::Rng) -> std::time::Duration {
        let unit = |n: u64| n as f64 / (1u64 << 53) as f64;
        let ms = match self {
            Hold::None => 0,
            Hold::Fixed { ms } => ms,
            Hold::Uniform { min_ms, max_ms } => min_ms + rng.below(max_ms - min_ms + 1),
            Hold::Exponential { mean_ms } => {
                let u = unit(rng.next_u64() >> 11);
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let v = (-(1.0 - u).ln() * mean_ms as f64).min(20.0 * mean_ms as f64) as u64;
                v
            }
        };
        std::time::Duration::from_millis(ms)
    }
}

/// The window of a fault, relative to the start of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start, ms after the run began.
    pub start_ms: u64,
    /// Stop, ms after the run began (`None`: until the heal phase).
    pub stop_ms: Option<u64>,
}

impl Window {
    /// Whether `at_ms` (ms since the run began) lies inside.
    #[must_use]
    pub fn contains(&self, at_ms: u64) -> bool {
        at_ms >= self.start_ms && self.stop_ms.is_none_or(|s| at_ms < s)
    }
}

/// Which operation a step delay hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DelayOp {
    /// The acquire machine.
    Acquire,
    /// The release machine.
    Release,
}

/// A pause before step `step` (the index of the machine's action) of an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDelay {
    /// When.
    pub window: Window,
    /// Which operation.
    pub op: DelayOp,
    /// Before which action (0 = the first).
    pub step: usize,
    /// How long, ms.
    pub delay_ms: u64,
    /// Worker slots hit (`None`: all).
    pub workers: Option<Vec<u32>>,
    /// Only every n-th operation of a worker (1 = all).
    pub every: u32,
}

/// A wall-clock offset for some workers' algorithms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSkew {
    /// When.
    pub window: Window,
    /// Added to the wall clock, ms.
    pub offset_ms: i64,
    /// Worker slots hit (`None`: all).
    pub workers: Option<Vec<u32>>,
}

/// A fault aimed at whoever holds the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HolderFault {
    /// When strikes may happen.
    pub window: Window,
    /// Time between strikes (`None`: once).
    pub every_ms: Option<u64>,
    /// Strike this long after the holder's acquire completed.
    pub after_acquire_ms: u64,
    /// At most this many strikes.
    pub count: Option<u32>,
}

/// A fault of the scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the holder (a fresh worker takes its slot).
    KillHolder(HolderFault),
    /// SIGSTOP the holder, SIGCONT after `pause_ms`.
    PauseHolder {
        /// When and how often.
        strike: HolderFault,
        /// How long the holder stays stopped.
        pause_ms: u64,
    },
    /// Sleep before a step of an operation.
    StepDelay(StepDelay),
    /// Skew the wall clock the algorithm reads.
    ClockSkew(ClockSkew),
}

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
    /// Why these verdicts are expected (for the reader).
    pub why: Option<String>,
}

impl Expectations {
    /// The expectation for checker `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Expect> {
        match name {
            "mutual-exclusion" => self.mutual_exclusion,
            "lost-updates" => self.lost_updates,
            "ownership" => self.ownership,
            "fencing" => self.fencing,
            "liveness" => self.liveness,
            _ => None,
        }
    }
}

/// Settings the gate uses instead of the scenario's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateOverride {
    /// Workers in the gate.
    pub workers: Option<u32>,
    /// Iterations in the gate.
    pub iterations: Option<u32>,
    /// Run limit in the gate.
    pub max_duration_ms: Option<u64>,
}

impl Scenario {
    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::InvalidData {
                "it is not text (a scenario is a TOML file)"
            } else {
                "check the path"
            };
            anyhow::Error::new(e)
                .context(format!("cannot read scenario {}: {what}", path.display()))
        })?;
        Scenario::parse(&text, path)
    }

    /// Parses scenario text; `path` names it in errors and gives the default name.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Scenario> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or_else(String::new, |s| position(text, &s));
            let message = e.message().trim_end();
            // The parser names the duplicate key by its place only: name it too.
            let key = e
                .span()
                .and_then(|s| text.get(s))
                .map(str::trim)
                .filter(|k| message == "duplicate key" && !k.is_empty() && k.len() < 80);
            match key {
                Some(key) => anyhow::anyhow!("{}{at}: duplicate key `{key}`", path.display()),
                None => anyhow::anyhow!("{}{at}: {message}", path.display()),
            }
        })?;
        let at = |span: &Range<usize>| format!("{}{}", path.display(), position(text, span));
        let stem = path
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
        let lock = raw.lock.unwrap_or(LockSettings {
            ttl_ms: default_ttl(),
            wait_ms: default_ttl(),
            drift_ms: None,
        });
        if lock.ttl_ms == 0 {
            bail!("{}: [lock] ttl_ms must be positive", path.display());
        }
        let hold = match raw.section.and_then(|s| s.hold) {
            None => Hold::None,
            Some(h) => {
                h.get_ref().to_hold().map_err(|m| anyhow::anyhow!("{}: {m}", at(&h.span())))?
            }
        };
        let faults = raw
            .faults
            .into_iter()
            .map(|f| {
                let span = f.kind.span();
                f.into_fault().map_err(|m| anyhow::anyhow!("{}: {m}", at(&span)))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let scenario = Scenario {
            name: raw.name.unwrap_or(stem),
            description: raw.description.unwrap_or_default(),
            path: path.to_path_buf(),
            workers: raw.workers.unwrap_or(4),
            iterations: raw.iterations.unwrap_or(10),
            seed: raw.seed.unwrap_or(1),
            max_duration_ms: raw.max_duration_ms.unwrap_or(120_000),
            lock,
            hold,
            slack_ms: raw.liveness.map_or(1000, |l| l.slack_ms),
            faults,
            expect: raw.expect,
            specimen_scale: raw.specimen_scale.unwrap_or(1.0),
            gate: raw.gate.unwrap_or_default(),
        };
        if let Some(problem) = scenario.problem() {
            bail!("{}: {problem}", path.display());
        }
        if let Some(problem) = scenario.clone().for_gate().problem() {
            bail!("{}: in the gate's settings ([gate]): {problem}", path.display());
        }
        Ok(scenario)
    }

    /// The scenario with a run's command-line overrides (`--workers`, `--iterations`,
    /// `--scale`), checked again.
    pub fn overridden(
        &self,
        workers: Option<u32>,
        iterations: Option<u32>,
        scale: Option<f64>,
    ) -> anyhow::Result<Scenario> {
        let mut s = self.clone();
        s.workers = workers.unwrap_or(s.workers);
        s.iterations = iterations.unwrap_or(s.iterations);
        s.specimen_scale = scale.unwrap_or(s.specimen_scale);
        if let Some(problem) = s.problem() {
            bail!("{} with the command line's settings: {problem}", self.path.display());
        }
        Ok(s)
    }

    /// What makes no sense in values that each parsed on its own.
    fn problem(&self) -> Option<String> {
        let name = &self.name;
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
            return Some(format!(
                "name {name:?} cannot name a report folder: use letters, digits, `-`, `_` and \
                 `.`, not first"
            ));
        }
        if self.workers == 0 {
            return Some("workers must be at least 1".into());
        }
        if self.iterations == 0 {
            return Some("iterations must be at least 1 (acquisitions per worker)".into());
        }
        if self.max_duration_ms == 0 {
            return Some("max_duration_ms must be positive: it is the run's time limit".into());
        }
        let scale = self.specimen_scale;
        if !(scale.is_finite() && scale > 0.0 && scale <= MAX_SCALE) {
            return Some(format!(
                "specimen_scale (--scale) must be a number above 0 and at most {MAX_SCALE}, not {scale}"
            ));
        }
        let (max_ttl, max_wait) = (redmutex::MAX_TTL.as_millis(), redmutex::MAX_WAIT.as_millis());
        if u128::from(self.lock.ttl_ms) > max_ttl {
            return Some(format!("[lock] ttl_ms must be at most {max_ttl} (a day)"));
        }
        if u128::from(self.lock.wait_ms) > max_wait {
            return Some(format!("[lock] wait_ms must be at most {max_wait} (an hour)"));
        }
        let (ttl, drift) = (self.lock.ttl_ms, self.drift_ms());
        if drift >= ttl && self.lock.drift_ms.is_none() {
            return Some(format!(
                "[lock] ttl_ms {ttl} is too short: the default drift allowance (ttl/100 + 2 = \
                 {drift} ms) is taken off every lease and would leave nothing; use at least 3"
            ));
        }
        if drift >= ttl {
            return Some(format!(
                "[lock] drift_ms {drift} must be less than ttl_ms {ttl}: the drift allowance is \
                 taken off every lease"
            ));
        }
        for fault in &self.faults {
            let (name, slots) = match fault {
                Fault::StepDelay(d) => ("step-delay", d.workers.as_ref()),
                Fault::ClockSkew(c) => ("clock-skew", c.workers.as_ref()),
                _ => continue,
            };
            if let Some(w) = slots.into_iter().flatten().find(|&&w| w >= self.workers) {
                return Some(format!(
                    "fault `{name}`: worker slot {w} does not exist (slots are 0 to {} with {} \
                     workers)",
                    self.workers - 1,
                    self.workers
                ));
            }
        }
        None
    }

    /// The scenario as the gate runs it.
    #[must_use]
    pub fn for_gate(mut self) -> Scenario {
        self.workers = self.gate.workers.unwrap_or(self.workers);
        self.iterations = self.gate.iterations.unwrap_or(self.iterations);
        self.max_duration_ms = self.gate.max_duration_ms.unwrap_or(self.max_duration_ms);
        self
    }

    /// The drift allowance, ms.
    #[must_use]
    pub fn drift_ms(&self) -> u64 {
        self.lock.drift_ms.unwrap_or_else(|| {
            let ttl = std::time::Duration::from_millis(self.lock.ttl_ms);
            u64::try_from(redmutex::algo::default_drift(ttl).as_millis()).unwrap_or(u64::MAX)
        })
    }
}

/// `:line:column` of a byte offset (both from 1).
fn position(text: &str, span: &Range<usize>) -> String {
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(":{line}:{column}")
}

/// The longest pause or step delay, ms (an hour).
const MAX_FAULT_MS: u64 = 3_600_000;

/// The largest clock skew, ms (a day).
const MAX_SKEW_MS: u64 = 86_400_000;

impl Fault {
    /// The kind's name in scenario files: `kill-holder`, `pause-holder`, `step-delay`,
    /// `clock-skew`.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            Fault::KillHolder(_) => "kill-holder",
            Fault::PauseHolder { .. } => "pause-holder",
            Fault::StepDelay(_) => "step-delay",
            Fault::ClockSkew(_) => "clock-skew",
        }
    }
}

impl StepDelay {
    /// For the history: `release step 1 +700 ms, worker slot 0, each time`.
    #[must_use]
    pub fn describe(&self) -> String {
        let op = match self.op {
            DelayOp::Acquire => "acquire",
            DelayOp::Release => "release",
        };
        let how_often = if self.every == 1 {
            "each time".to_string()
        } else {
            format!("one time in {}", self.every)
        };
        let slots = slots(self.workers.as_deref());
        format!("{op} step {} +{} ms, {slots}, {how_often}", self.step, self.delay_ms)
    }
}

impl ClockSkew {
    /// For the history: `+3000 ms, worker slot 0`.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("{:+} ms, {}", self.offset_ms, slots(self.workers.as_deref()))
    }
}

/// The worker slots a fault applies to: `all workers` or `worker slots 0, 2`.
fn slots(workers: Option<&[u32]>) -> String {
    match workers {
        None => "all workers".into(),
        Some(w) => {
            let list: Vec<String> = w.iter().map(u32::to_string).collect();
            format!("worker slot{} {}", if w.len() == 1 { "" } else { "s" }, list.join(", "))
        }
    }
}

/// The largest `specimen_scale`: the documents' sleeps (at most a few seconds) times this
/// still fit any run.
const MAX_SCALE: f64 = 1000.0;

fn default_ttl() -> u64 {
    10_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Option<String>,
    description: Option<String>,
    workers: Option<u32>,
    iterations: Option<u32>,
    seed: Option<u64>,
    max_duration_ms: Option<u64>,
    specimen_scale: Option<f64>,
    lock: Option<LockSettings>,
    section: Option<RawSection>,
    liveness: Option<RawLiveness>,
    #[serde(default)]
    faults: Vec<RawFault>,
    #[serde(default)]
    expect: BTreeMap<String, Expectations>,
    gate: Option<GateOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    hold: Option<Spanned<RawHold>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLiveness {
    slack_ms: u64,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Distribution {
    None,
    Fixed,
    Uniform,
    Exponential,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHold {
    distribution: Distribution,
    ms: Option<u64>,
    min_ms: Option<u64>,
    max_ms: Option<u64>,
    mean_ms: Option<u64>,
}

impl RawHold {
    fn to_hold(&self) -> Result<Hold, String> {
        let h = self;
        let fields = [
            ("ms", h.ms.is_some()),
            ("min_ms", h.min_ms.is_some()),
            ("max_ms", h.max_ms.is_some()),
            ("mean_ms", h.mean_ms.is_some()),
        ];
        let (hold, allowed): (Option<Hold>, &[&str]) = match h.distribution {
            Distribution::None => (Some(Hold::None), &[]),
            Distribution::Fixed => (h.ms.map(|ms| Hold::Fixed { ms }), &["ms"]),
            Distribution::Uniform => match (h.min_ms, h.max_ms) {
                (Some(min_ms), Some(max_ms)) if min_ms <= max_ms => {
                    (Some(Hold::Uniform { min_ms, max_ms }), &["min_ms", "max_ms"])
                }
                (Some(_), Some(_)) => {
                    return Err("section.hold: min_ms must not exceed max_ms".into());
                }
                _ => (None, &["min_ms", "max_ms"]),
            },
            Distribution::Exponential => {
                (h.mean_ms.map(|mean_ms| Hold::Exponential { mean_ms }), &["mean_ms"])
            }
        };
        if let Some((key, _)) = fields.iter().find(|(k, set)| *set && !allowed.contains(k)) {
            return Err(format!(
                "section.hold: key `{key}` does not apply to this distribution (it takes: {})",
                allowed.join(", ")
            ));
        }
        hold.ok_or_else(|| {
            let missing: Vec<&str> = allowed
                .iter()
                .copied()
                .filter(|k| fields.iter().any(|(f, set)| f == k && !set))
                .collect();
            format!("section.hold: this distribution also needs: {}", missing.join(", "))
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FaultKind {
    KillHolder,
    PauseHolder,
    StepDelay,
    ClockSkew,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: Spanned<FaultKind>,
    #[serde(default)]
    start_ms: u64,
    stop_ms: Option<u64>,
    every_ms: Option<u64>,
    after_acquire_ms: Option<u64>,
    count: Option<u32>,
    pause_ms: Option<u64>,
    op: Option<DelayOp>,
    step: Option<usize>,
    delay_ms: Option<u64>,
    every: Option<u32>,
    offset_ms: Option<i64>,
    workers: Option<Vec<u32>>,
}

impl RawFault {
    fn into_fault(self) -> Result<Fault, String> {
        let kind = *self.kind.get_ref();
        let set = [
            ("every_ms", self.every_ms.is_some()),
            ("after_acquire_ms", self.after_acquire_ms.is_some()),
            ("count", self.count.is_some()),
            ("pause_ms", self.pause_ms.is_some()),
            ("op", self.op.is_some()),
            ("step", self.step.is_some()),
            ("delay_ms", self.delay_ms.is_some()),
            ("every", self.every.is_some()),
            ("offset_ms", self.offset_ms.is_some()),
            ("workers", self.workers.is_some()),
        ];
        let (name, allowed): (&str, &[&str]) = match kind {
            FaultKind::KillHolder => ("kill-holder", &["every_ms", "after_acquire_ms", "count"]),
            FaultKind::PauseHolder => {
                ("pause-holder", &["every_ms", "after_acquire_ms", "count", "pause_ms"])
            }
            FaultKind::StepDelay => ("step-delay", &["op", "step", "delay_ms", "every", "workers"]),
            FaultKind::ClockSkew => ("clock-skew", &["offset_ms", "workers"]),
        };
        if let Some((key, _)) = set.iter().find(|(k, on)| *on && !allowed.contains(k)) {
            return Err(format!(
                "fault `{name}`: key `{key}` does not apply (it takes start_ms, stop_ms, {})",
                allowed.join(", ")
            ));
        }
        let window = Window { start_ms: self.start_ms, stop_ms: self.stop_ms };
        if window.stop_ms.is_some_and(|s| s <= window.start_ms) {
            return Err(format!("fault `{name}`: stop_ms must be after start_ms"));
        }
        let need = |key: &str| format!("fault `{name}` needs `{key}`");
        let bad = |what: &str| Err(format!("fault `{name}`: {what}"));
        if self.workers.as_ref().is_some_and(Vec::is_empty) {
            return bad("workers = [] names no worker (leave `workers` out for all of them)");
        }
        if self.every == Some(0) {
            return bad("every must be at least 1 (1: every operation)");
        }
        if self.every_ms == Some(0) {
            return bad("every_ms must be at least 1");
        }
        if self.count == Some(0) {
            return bad("count must be at least 1 (leave it out for no limit)");
        }
        for (key, value) in [("pause_ms", self.pause_ms), ("delay_ms", self.delay_ms)] {
            if value.is_some_and(|v| v > MAX_FAULT_MS) {
                return bad(&format!("{key} must be at most {MAX_FAULT_MS} (an hour)"));
            }
        }
        if self.offset_ms.is_some_and(|v| v.unsigned_abs() > MAX_SKEW_MS) {
            return bad(&format!("offset_ms must be within ±{MAX_SKEW_MS} (a day)"));
        }
        let strike = HolderFault {
            window,
            every_ms: self.every_ms,
            after_acquire_ms: self.after_acquire_ms.unwrap_or(0),
            count: self.count,
        };
        Ok(match kind {
            FaultKind::KillHolder => Fault::KillHolder(strike),
            FaultKind::PauseHolder => Fault::PauseHolder {
                strike,
                pause_ms: self.pause_ms.ok_or_else(|| need("pause_ms"))?,
            },
            FaultKind::StepDelay => Fault::StepDelay(StepDelay {
                window,
                op: self.op.ok_or_else(|| need("op"))?,
                step: self.step.ok_or_else(|| need("step"))?,
                delay_ms: self.delay_ms.ok_or_else(|| need("delay_ms"))?,
                workers: self.workers,
                every: self.every.unwrap_or(1),
            }),
            FaultKind::ClockSkew => Fault::ClockSkew(ClockSkew {
                window,
                offset_ms: self.offset_ms.ok_or_else(|| need("offset_ms"))?,
                workers: self.workers,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Scenario> {
        Scenario::parse(text, Path::new("s.toml"))
    }

    #[test]
    fn faults_describe_themselves_in_plain_words() {
        let s = parse(
            "workers = 3\n[[faults]]\nkind = \"step-delay\"\nop = \"release\"\nstep = 1\n\
             delay_ms = 700\nworkers = [0, 2]\nevery = 3\n\
             [[faults]]\nkind = \"clock-skew\"\noffset_ms = -40\n",
        )
        .unwrap();
        let described: Vec<String> = s
            .faults
            .iter()
            .map(|f| match f {
                Fault::StepDelay(d) => d.describe(),
                Fault::ClockSkew(c) => c.describe(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            described,
            ["release step 1 +700 ms, worker slots 0, 2, one time in 3", "-40 ms, all workers"]
        );
    }

    #[test]
    fn an_unknown_key_names_file_line_column_and_key() {
        let err = parse("workers = 2\n[lock]\nttl_ms = 1000\nttl = 5\n").unwrap_err().to_string();
        assert!(err.starts_with("s.toml:4:1:"), "{err}");
        assert!(err.contains("unknown field `ttl`"), "{err}");
    }

    #[test]
    fn a_fault_setting_of_another_kind_is_refused_with_its_line() {
        let err =
            parse("[[faults]]\nkind = \"kill-holder\"\npause_ms = 5\n").unwrap_err().to_string();
        assert!(err.starts_with("s.toml:2:8:") && err.contains("`pause_ms`"), "{err}");
    }

    #[test]
    fn a_full_scenario_parses_into_types() {
        let s = parse(
            r#"
workers = 3
[lock]
ttl_ms = 1000
wait_ms = 3000
[section]
hold = { distribution = "uniform", min_ms = 1, max_ms = 5 }
[[faults]]
kind = "step-delay"
op = "release"
step = 1
delay_ms = 1500
workers = [0]
[expect.token]
mutual-exclusion = "valid"
fencing = "unknown"
[gate]
workers = 2
"#,
        )
        .unwrap();
        assert_eq!(s.name, "s");
        assert_eq!(s.hold, Hold::Uniform { min_ms: 1, max_ms: 5 });
        assert!(
            matches!(&s.faults[0], Fault::StepDelay(d) if d.step == 1 && d.op == DelayOp::Release)
        );
        assert_eq!(s.expect["token"].get("mutual-exclusion"), Some(Expect::Valid));
        assert_eq!(s.for_gate().workers, 2);
    }
}
