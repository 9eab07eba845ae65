//! `results.json`: everything a run concluded, typed both ways (`contend check` and the gate read
//! it back), and the verdict table printed at the end of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::check::{CheckResult, CheckerKind, Context, Timeline, Verdict};
use crate::history::{Event, Kind, Op};
use crate::registry::{Class, Entry};
use crate::scenario::{Expect, Scenario};

/// How many findings the verdict table shows; the rest are in `report.md`.
const PREVIEW: usize = 5;

/// `v` with at most `places` decimals, trailing zeros dropped: `2000`, `29.5`, `1.05`.
#[must_use]
pub fn num(v: f64, places: usize) -> String {
    let t = format!("{v:.places$}");
    if t.contains('.') { t.trim_end_matches('0').trim_end_matches('.').to_string() } else { t }
}

/// Round trips of one uncontended critical section: 1 acquire + 2 on the witness (`enter` with
/// the `GET` behind it, the `SET` with `exit` behind it: the worker pipelines them) + 1 release.
/// (A fenced section has one more: its write is answered before `exit` is sent.) Reports made
/// before the pipelining counted 6, one per witness command; `results.json` says which.
pub const ROUND_TRIPS_PER_SECTION: u32 = 4;

/// Figures the coordinator measured outside the history.
#[derive(Clone, Debug)]
pub struct Figures {
    /// PING round trips on the lock server before the workers start.
    pub ping: crate::ping::Ping,
    /// The same, sampled while the workers ran.
    pub ping_us_p50_during_run: Option<f64>,
    /// Commands the workers sent to the lock server.
    pub lock_commands_sent: u64,
    /// Commands the lock server ran, including those inside scripts (INFO commandstats).
    pub lock_commands_internal: Option<u64>,
    /// Commands the workers sent to the witness.
    pub witness_commands_sent: u64,
    /// Workers.
    pub workers: u32,
    /// Iterations per worker.
    pub iterations: u32,
    /// Seed.
    pub seed: u64,
    /// Which servers.
    pub server: String,
    /// Workers that died unexpectedly, and other trouble.
    pub worker_failures: Vec<String>,
}

/// One checker's result with its expectation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckerReport {
    /// The checker's result.
    #[serde(flatten)]
    pub result: CheckResult,
    /// What the scenario expected: `any` when its table for the algorithm leaves the checker
    /// out; `None` (JSON `null`) when it has no table for the algorithm, and then anything
    /// but `invalid` is as expected.
    #[serde(default)]
    pub expected: Option<Expect>,
    /// Whether the verdict met the expectation.
    pub as_expected: bool,
}

/// What `contend check` needs of a saved `results.json`, typed: a report folder written by an
/// older `contend`, or by hand, is read as long as it holds the run's context.
#[derive(Clone, Debug, Deserialize)]
pub struct Saved {
    /// The scenario's name.
    pub scenario: String,
    /// The algorithm's name.
    pub algorithm: String,
    /// What the checkers judged against.
    pub context: Context,
    /// Checker name → what it said and what was expected.
    #[serde(default)]
    pub checkers: BTreeMap<String, SavedChecker>,
    /// Whether the scenario stated expectations for the algorithm.
    #[serde(default)]
    pub expectations_stated: bool,
    /// Whether the run reached its time limit.
    #[serde(default)]
    pub time_limit_reached: bool,
    /// Worker trouble the run reported.
    #[serde(default)]
    pub worker_failures: Vec<String>,
    /// Planned faults that never struck.
    #[serde(default)]
    pub faults_unstruck: Vec<String>,
}

/// One checker of a saved run.
#[derive(Clone, Debug, Deserialize)]
pub struct SavedChecker {
    /// What it said.
    pub verdict: Verdict,
    /// What was expected (see [`CheckerReport::expected`]).
    #[serde(default)]
    pub expected: Option<Expect>,
}

/// Latency percentiles, ms.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// The run's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stats {
    /// Critical sections completed.
    pub completed: u64,
    /// The counter (fenced: the resource's value) read on the witness at the end.
    pub counter: i64,
    /// Successful acquisitions.
    pub acquisitions: u64,
    /// Acquires that did not succeed.
    pub acquire_failures: u64,
    /// Median PING round trip on the lock server, µs, measured by the coordinator in this run
    /// just before the workers start, with itself and the lock server pinned to two different
    /// cores when `ping_placement` is `cross-core` (see [`crate::ping`]).
    pub ping_us_p50: f64,
    /// How `ping_us_p50` was taken: `cross-core` (pinned apart), `unpinned` (the scheduler
    /// chose: someone else's server, or one core) or `simulated`.
    pub ping_placement: String,
    /// The PING with the coordinator and the lock server pinned to the same core: context
    /// switches rather than a round trip, reported for comparison.
    pub ping_us_p50_same_core: Option<f64>,
    /// `floor_ratio` with the same-core PING.
    pub floor_ratio_same_core: Option<f64>,
    /// Median PING round trip sampled by the coordinator while the workers ran (the machine
    /// as loaded by the run itself).
    pub ping_us_p50_during_run: Option<f64>,
    /// From the first acquire's invocation to the last release's completion, s.
    pub lock_work_s: f64,
    /// See [`ROUND_TRIPS_PER_SECTION`].
    pub round_trips_per_section: u32,
    /// `lock_work_s / (completed × round_trips_per_section × ping_us_p50)`: 1 is that many
    /// serial round trips per section; a lock that hands off (`notify`) can go below it.
    pub floor_ratio: f64,
    /// `floor_ratio` with the round trip sampled during the run.
    pub floor_ratio_during_run: Option<f64>,
    /// Critical sections per second.
    pub throughput_per_s: f64,
    /// Commands the workers sent to the lock server per acquisition.
    pub server_commands_per_acquisition: f64,
    /// Commands the lock server ran per acquisition, counting those inside Lua scripts (INFO
    /// commandstats); only with servers of our own.
    pub server_commands_per_acquisition_incl_scripts: Option<f64>,
    /// Commands sent to the witness per completed section.
    pub witness_commands_per_section: f64,
    /// Acquire, section and release latencies.
    pub latency_ms: BTreeMap<String, Percentiles>,
}

/// Everything `results.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    /// The scenario's name.
    pub scenario: String,
    /// The algorithm's name.
    pub algorithm: String,
    /// `reference` or `specimen`.
    pub class: Class,
    /// Seed.
    pub seed: u64,
    /// Which servers.
    pub server: String,
    /// Workers.
    pub workers: u32,
    /// Iterations per worker.
    pub iterations: u32,
    /// What the checkers judged against.
    pub context: Context,
    /// Checker name → verdict, findings, expectation.
    pub checkers: BTreeMap<String, CheckerReport>,
    /// Whether every verdict met its expectation (with none stated: no verdict is invalid) and
    /// no worker had trouble (`worker_failures` is empty).
    pub as_expected: bool,
    /// Whether the scenario states expectations for this algorithm.
    pub expectations_stated: bool,
    /// The scenario's `description`.
    pub description: String,
    /// The faults that struck, by kind (`kill-holder`, `pause-holder`, `step-delay`,
    /// `clock-skew`; the simulator's nemesis adds `restart`): how many times each began.
    pub faults_struck: BTreeMap<String, u64>,
    /// The kinds of the scenario's faults, one per `[[faults]]` table.
    pub faults_planned: Vec<String>,
    /// The planned fault kinds that never struck: a holder fault that found no holder, a step
    /// delay that delayed no operation, a window that never opened. A run with any is not as
    /// expected: its verdicts would rest on nothing having happened.
    #[serde(default)]
    pub faults_unstruck: Vec<String>,
    /// Whether the run reached `max_duration_ms` before every worker finished its iterations
    /// (no acquire starts after it; operations under way end, within a grace period).
    pub time_limit_reached: bool,
    /// Figures.
    pub stats: Stats,
    /// Workers that died unexpectedly, and other trouble.
    pub worker_failures: Vec<String>,
    /// The report folder.
    #[serde(default)]
    pub dir: PathBuf,
    /// With `failover` faults: how many replicas were promoted, and after how many of those
    /// the lock was held twice at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_rate: Option<FailoverRate>,
}

/// The residual violation rate of a run's failovers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverRate {
    /// Failovers that promoted a replica.
    pub failovers: u64,
    /// Of those, the ones after which (before the next) a `mutual-exclusion` finding's events
    /// end: the lock handed out twice. A lower bound when the checker kept only its first
    /// findings.
    pub broken: u64,
    /// The replicas each acquire waited for (`[lock] replicas`), if it waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_replicas: Option<u32>,
}

impl FailoverRate {
    /// The rate of `history`'s failovers, judged by the `mutual-exclusion` findings
    /// `findings`, for acquires that waited for `wait_replicas`; `None` without a failover.
    #[must_use]
    pub fn of(
        history: &[Event],
        findings: &[crate::check::Finding],
        wait_replicas: Option<u32>,
    ) -> Option<FailoverRate> {
        let starts: Vec<u64> = history
            .iter()
            .filter(|e| e.f == Op::Failover && e.kind == Kind::Ok)
            .map(|e| e.time)
            .collect();
        if starts.is_empty() {
            return None;
        }
        let mut broken = std::collections::BTreeSet::new();
        for f in findings {
            let Some(end) = f.events.iter().filter_map(|&i| history.get(i)).map(|e| e.time).max()
            else {
                continue;
            };
            // The last promotion before the finding's last event.
            if let Some(i) = starts.iter().rposition(|&t| t <= end) {
                broken.insert(i);
            }
        }
        Some(FailoverRate {
            failovers: starts.len() as u64,
            broken: broken.len() as u64,
            wait_replicas,
        })
    }

    /// `2 of 4 failovers (50 %)`.
    #[must_use]
    pub fn text(&self) -> String {
        let pct = 100.0 * self.broken as f64 / self.failovers.max(1) as f64;
        format!("{} of {} failovers ({pct:.0} %)", self.broken, self.failovers)
    }
}

impl Results {
    /// Results of a checked history.
    #[must_use]
    pub fn new(
        scenario: &Scenario,
        entry: &Entry,
        history: &[Event],
        ctx: &Context,
        checked: BTreeMap<String, CheckResult>,
        figures: Figures,
    ) -> Results {
        let expect = scenario.expect.get(entry.name);
        let exclusion = checked.get(CheckerKind::MutualExclusion.as_str());
        let failover_rate = FailoverRate::of(
            history,
            exclusion.map_or(&[][..], |c| &c.findings[..]),
            scenario.lock.replicas,
        );
        let checkers: BTreeMap<String, CheckerReport> = checked
            .into_iter()
            .map(|(name, result)| {
                // With a table for the algorithm, a checker it leaves out may say anything.
                let expected = expect.map(|e| {
                    CheckerKind::named(&name).and_then(|k| e.get(k)).unwrap_or(Expect::Any)
                });
                let as_expected = meets(expected, &result);
                (name, CheckerReport { result, expected, as_expected })
            })
            .collect();
        // A worker that died without the nemesis, wrote something that is not an event, or had
        // to be killed at the end leaves a history that cannot be trusted whole; a planned fault
        // that never struck leaves verdicts that prove nothing about it.
        let faults_unstruck = unstruck(scenario, history);
        let as_expected = checkers.values().all(|c| c.as_expected)
            && figures.worker_failures.is_empty()
            && faults_unstruck.is_empty();
        Results {
            scenario: scenario.name.clone(),
            algorithm: entry.name.to_string(),
            class: entry.class,
            seed: figures.seed,
            server: figures.server.clone(),
            workers: figures.workers,
            iterations: figures.iterations,
            context: *ctx,
            checkers,
            as_expected,
            expectations_stated: expect.is_some(),
            description: scenario.description.clone(),
            faults_struck: faults_struck(history),
            faults_planned: scenario.faults.iter().map(|f| f.kind_name().to_string()).collect(),
            faults_unstruck,
            time_limit_reached: history.iter().any(|e| {
                e.f == crate::history::Op::Heal
                    && e.details.as_deref() == Some(crate::history::TIME_LIMIT)
            }),
            stats: stats(history, &figures),
            worker_failures: figures.worker_failures,
            dir: PathBuf::new(),
            failover_rate,
        }
    }

    /// `kill-holder ×2, step-delay ×1`, or `none` (the scenario planned faults, none struck).
    pub(super) fn faults_text(&self) -> String {
        if self.faults_struck.is_empty() {
            return format!("none (planned: {})", self.faults_planned.join(", "));
        }
        let struck: Vec<String> =
            self.faults_struck.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        struck.join(", ")
    }

    /// What makes the run not as expected, one phrase each: a checker that said what was not
    /// expected, worker trouble, a planned fault that never struck. Empty when it is as expected.
    #[must_use]
    pub fn off(&self) -> Vec<String> {
        let mut why: Vec<String> = self
            .checkers
            .iter()
            .filter(|(_, c)| !c.as_expected)
            .map(|(name, c)| {
                format!(
                    "{name} said {} where {} was expected",
                    c.result.verdict,
                    expected_name(c.expected)
                )
            })
            .collect();
        if let Some(first) = self.worker_failures.first() {
            let more = self.worker_failures.len() - 1;
            let more = if more > 0 { format!(" (+{more} more)") } else { String::new() };
            why.push(format!("worker trouble: {first}{more}"));
        }
        for kind in &self.faults_unstruck {
            why.push(format!("the planned fault `{kind}` never struck"));
        }
        why
    }

    /// One plain sentence on the whole run: `As expected: …` or `Not as expected: …`.
    #[must_use]
    pub fn sentence(&self) -> String {
        if self.as_expected {
            format!(
                "As expected: every checker said what the scenario expects of `{}`.",
                self.algorithm
            )
        } else {
            format!("Not as expected: {}.", self.off().join("; "))
        }
    }

    /// Whether `floor_ratio` means anything for this run: not when faults were planned (a pause
    /// or a delay is time no lock can win back).
    #[must_use]
    pub fn floor_ratio_meaningful(&self) -> bool {
        self.faults_planned.is_empty() && self.faults_struck.is_empty()
    }

    /// `; floor_ratio 1.05 (6 round trips per section) [...]`, or nothing for a run with faults.
    fn floor_text(&self) -> String {
        let s = &self.stats;
        if !self.floor_ratio_meaningful() {
            return String::new();
        }
        let mut t = format!(
            "; floor_ratio {} ({} round trips per section)",
            num(s.floor_ratio, 2),
            s.round_trips_per_section
        );
        if let (Some(p), Some(r)) = (s.ping_us_p50_same_core, s.floor_ratio_same_core) {
            let _ = write!(t, " [same-core ping {} µs, ratio {}]", num(p, 1), num(r, 2));
        }
        if let (Some(p), Some(r)) = (s.ping_us_p50_during_run, s.floor_ratio_during_run) {
            let _ = write!(t, " [during the run: ping {} µs, ratio {}]", num(p, 1), num(r, 2));
        }
        t
    }

    /// The first findings, so the next question (which workers, when) is answered at once.
    fn findings_preview(&self, t: &mut String) {
        let all: Vec<(&String, &crate::check::Finding)> = self
            .checkers
            .iter()
            .flat_map(|(name, c)| c.result.findings.iter().map(move |f| (name, f)))
            .collect();
        for (name, f) in all.iter().take(PREVIEW) {
            let events: Vec<String> = f.events.iter().map(|e| format!("#{e}")).collect();
            let _ = writeln!(
                t,
                "  finding  {name} / {}: {} (events {})",
                f.kind,
                f.message,
                events.join(", ")
            );
        }
        let listed: usize = self.checkers.values().map(|c| c.result.findings.len()).sum();
        if listed > PREVIEW {
            let _ = writeln!(
                t,
                "  … {} more finding(s) listed in {}",
                listed - PREVIEW,
                self.dir.join("report.md").display()
            );
        }
    }

    /// The verdict table, as printed at the end of a run.
    #[must_use]
    pub fn table(&self) -> String {
        let mut t = format!("{} × {}\n", self.scenario, self.algorithm);
        if !self.description.is_empty() {
            let _ = writeln!(t, "  {}", self.description);
        }
        let _ = writeln!(t, "  {:<18} {:<9} {:<15}", "checker", "verdict", "expected");
        for (name, c) in &self.checkers {
            let expected = expected_name(c.expected);
            let mark = if c.as_expected { "ok" } else { "UNEXPECTED" };
            let why = c.result.reason.as_deref().unwrap_or("");
            let _ = writeln!(
                t,
                "  {name:<18} {:<9} {expected:<15} {mark:<10} {why}",
                c.result.verdict.to_string()
            );
        }
        self.findings_preview(&mut t);
        let s = &self.stats;
        let _ = writeln!(
            t,
            "  completed {} sections, counter {}, {} s of lock work, {}/s; ping p50 {} µs ({}){}; lock-server commands per acquisition {}{}",
            s.completed,
            s.counter,
            num(s.lock_work_s, 3),
            num(s.throughput_per_s, 0),
            num(s.ping_us_p50, 1),
            s.ping_placement,
            self.floor_text(),
            // An adapter's commands are sent by another process, which does not count them.
            if self.class == Class::Adapter {
                "not counted by the adapter".to_string()
            } else {
                format!("{} sent", num(s.server_commands_per_acquisition, 2))
            },
            s.server_commands_per_acquisition_incl_scripts
                .map_or_else(String::new, |v| format!(", {} incl. script-internal", num(v, 2)))
        );
        if !self.expectations_stated {
            let _ = writeln!(
                t,
                "  (no [expect.{}] in the scenario: every verdict but invalid is as expected)",
                self.algorithm
            );
        }
        if !self.faults_struck.is_empty() || !self.faults_planned.is_empty() {
            let _ = writeln!(t, "  faults struck: {}", self.faults_text());
        }
        if let Some(rate) = self.failover_rate {
            let _ = writeln!(
                t,
                "  failover: the lock was held twice after {} (mutual-exclusion findings between \
                 one promotion and the next)",
                rate.text()
            );
        }
        for kind in &self.faults_unstruck {
            let _ = writeln!(
                t,
                "  fault `{kind}` never struck: the verdicts say nothing about it (make the \
                 scenario's fault meet the run: its window, after_acquire_ms, step, workers)"
            );
        }
        if self.time_limit_reached {
            let _ = writeln!(
                t,
                "  time limit: the run reached max_duration_ms before every worker finished its \
                 iterations; no acquire started after it"
            );
        }
        for f in &self.worker_failures {
            let _ = writeln!(t, "  trouble: {f}");
        }
        let _ = writeln!(
            t,
            "  {} — report: {}",
            if self.as_expected { "AS EXPECTED" } else { "NOT AS EXPECTED" },
            self.dir.display()
        );
        t
    }
}

fn percentiles(mut v: Vec<u64>) -> Percentiles {
    if v.is_empty() {
        return Percentiles::default();
    }
    v.sort_unstable();
    let at = |q: f64| {
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        crate::check::ms(v[i])
    };
    Percentiles { n: v.len(), p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1.0) }
}

/// Whether `result` meets `expected`; `None` (no table for the algorithm): anything but
/// invalid.
#[must_use]
pub fn meets(expected: Option<Expect>, result: &CheckResult) -> bool {
    expected.map_or(result.verdict != Verdict::Invalid, |e| e.met_by(result))
}

/// What a checker was expected to say: the stated verdict (`any` when the table leaves the
/// checker out), or `not invalid` when there is no table for the algorithm.
#[must_use]
pub fn expected_name(expected: Option<Expect>) -> &'static str {
    expected.map_or("not invalid", Expect::name)
}

/// The kinds of `scenario`'s faults that never struck in `history`: a kill or pause with no
/// strike, a step delay that delayed no operation, a clock skew whose window never opened.
/// Judged per kind: with two tables of one kind, one striking is enough.
#[must_use]
pub fn unstruck(scenario: &Scenario, history: &[Event]) -> Vec<String> {
    let struck = faults_struck(history);
    let delayed = history.iter().any(|e| e.delayed_ms.is_some_and(|d| d > 0));
    let mut missed: Vec<String> = scenario
        .faults
        .iter()
        .map(crate::scenario::Fault::kind_name)
        .filter(|&kind| match kind {
            "step-delay" => !delayed,
            kind => !struck.contains_key(kind),
        })
        .map(str::to_string)
        .collect();
    missed.sort();
    missed.dedup();
    missed
}

/// How many times each kind of fault began in `history`.
#[must_use]
pub fn faults_struck(history: &[Event]) -> BTreeMap<String, u64> {
    let mut struck = BTreeMap::new();
    for e in history {
        // A failover struck when a replica was promoted (its `ok`; `fail` when none was), not
        // when it was tried.
        if e.f == Op::Failover {
            if e.kind == Kind::Ok {
                *struck.entry("failover".to_string()).or_insert(0) += 1;
            }
            continue;
        }
        if e.kind != Kind::Invoke {
            continue;
        }
        let name = match e.f {
            Op::Kill => "kill-holder",
            Op::Pause => "pause-holder",
            Op::StepDelay => "step-delay",
            Op::ClockSkew => "clock-skew",
            Op::Restart => "restart-server",
            Op::SlowServer => "slow-server",
            Op::Partition => "partition-holder",
            Op::Command => "command",
            Op::ServerClock => "server-clock-jump",
            Op::CancelAcquire => "cancel-acquire",
            _ => continue,
        };
        *struck.entry(name.to_string()).or_insert(0) += 1;
    }
    struck
}

fn stats(history: &[Event], f: &Figures) -> Stats {
    let t = Timeline::new(history);
    let span = |i: usize, d: Option<usize>| d.map(|d| t.time(d).saturating_sub(t.time(i)));
    let ok = |d: &Option<usize>| d.is_some_and(|d| history[d].kind == Kind::Ok);
    let acquire: Vec<u64> =
        t.acquisitions.iter().map(|a| t.time(a.ok) - t.time(a.invoke)).collect();
    let section: Vec<u64> = t
        .acquisitions
        .iter()
        .filter(|a| ok(&a.section_done))
        .filter_map(|a| span(a.section_invoke?, a.section_done))
        .collect();
    let release: Vec<u64> = t
        .acquisitions
        .iter()
        .filter(|a| ok(&a.release_done))
        .filter_map(|a| span(a.release_invoke?, a.release_done))
        .collect();
    let completed = section.len() as u64;
    let acquisitions = t.acquisitions.len() as u64;
    let first = t.attempts.first().map(|a| t.time(a.invoke));
    let last = t.acquisitions.iter().filter_map(|a| a.release_done).map(|d| t.time(d)).max();
    let lock_work_s = match (first, last) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e9,
        _ => 0.0,
    };
    let ratio_with = |ping_us: f64| {
        let floor = completed as f64 * f64::from(ROUND_TRIPS_PER_SECTION) * ping_us / 1e6;
        (floor > 0.0).then(|| lock_work_s / floor)
    };
    let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let counter = t.final_event.and_then(|i| history[i].value).unwrap_or(0);
    let mut latency_ms = BTreeMap::new();
    latency_ms.insert("acquire".to_string(), percentiles(acquire));
    latency_ms.insert("section".to_string(), percentiles(section));
    latency_ms.insert("release".to_string(), percentiles(release));
    Stats {
        completed,
        counter,
        acquisitions,
        acquire_failures: t.attempts.len() as u64 - acquisitions,
        ping_us_p50: f.ping.p50_us,
        ping_placement: f.ping.placement.name().into(),
        ping_us_p50_same_core: f.ping.same_core_p50_us,
        floor_ratio_same_core: f.ping.same_core_p50_us.and_then(ratio_with),
        ping_us_p50_during_run: f.ping_us_p50_during_run,
        floor_ratio_during_run: f.ping_us_p50_during_run.and_then(ratio_with),
        lock_work_s,
        round_trips_per_section: ROUND_TRIPS_PER_SECTION,
        floor_ratio: ratio_with(f.ping.p50_us).unwrap_or(0.0),
        throughput_per_s: if lock_work_s > 0.0 { completed as f64 / lock_work_s } else { 0.0 },
        server_commands_per_acquisition: per(f.lock_commands_sent, acquisitions),
        server_commands_per_acquisition_incl_scripts: f
            .lock_commands_internal
            .map(|n| per(n, acquisitions)),
        witness_commands_per_section: per(f.witness_commands_sent, completed),
        latency_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Finding, FindingKind};

    #[test]
    fn a_failover_counts_when_a_replica_was_promoted_and_breaks_when_a_finding_follows_it() {
        let ev = |time, kind| Event::new(time, kind, Op::Failover);
        let history = vec![
            ev(10, Kind::Invoke),
            ev(20, Kind::Ok),
            Event::new(25, Kind::Ok, Op::Acquire),
            ev(30, Kind::Invoke),
            ev(40, Kind::Fail),
            ev(50, Kind::Invoke),
            ev(60, Kind::Ok),
        ];
        assert_eq!(faults_struck(&history).get("failover"), Some(&2), "the fail is no strike");
        let finding =
            Finding { kind: FindingKind::LeaseViolated, message: String::new(), events: vec![2] };
        let rate = FailoverRate::of(&history, &[finding], Some(1)).unwrap();
        assert_eq!(rate, FailoverRate { failovers: 2, broken: 1, wait_replicas: Some(1) });
        assert_eq!(rate.text(), "1 of 2 failovers (50 %)");
        assert!(FailoverRate::of(&history[2..3], &[], None).is_none(), "no failover, no rate");
    }
}
