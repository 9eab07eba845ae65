//! `contend gate`: every scenario × every algorithm it states expectations for, the matrix,
//! JUnit XML, and the verdict for CI: a reference algorithm that breaks a promise, or a
//! specimen whose known bug goes undetected, fails the gate.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use crate::check::Verdict;
use crate::registry::{self, Class};
use crate::report::{FailoverRate, Results};
use crate::run::{Interrupted, RunOptions, run};
use crate::scenario::Scenario;
use crate::servers::ServerChoice;

/// What happened to one scenario × algorithm.
#[derive(Debug)]
pub enum Cell {
    /// It ran.
    Ran(Box<Results>, f64),
    /// The algorithm is not registered.
    Skipped(String),
    /// The run failed to happen.
    Error(String),
}

/// Runs the gate over the scenarios in `dir`; answers whether it passed.
pub async fn gate(
    dir: &Path,
    junit: Option<&Path>,
    breaks: Option<&Path>,
    opts: &RunOptions,
) -> anyhow::Result<bool> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| {
            format!("cannot read the scenario folder {}: check the path", dir.display())
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    // Every bad file at once, not one per try.
    let (mut scenarios, mut bad) = (Vec::new(), Vec::new());
    for f in &files {
        match Scenario::load(f) {
            Ok(s) => scenarios.push(s),
            Err(e) => bad.push(format!("{e:#}")),
        }
    }
    if !bad.is_empty() {
        anyhow::bail!(
            "{} scenario file(s) of {} are bad:\n  {}",
            bad.len(),
            dir.display(),
            bad.join("\n  ")
        );
    }
    let runnable = scenarios.iter().any(|s| s.expect.keys().any(|a| registry::find(a).is_ok()));
    if !runnable {
        anyhow::bail!(
            "nothing to gate in {}: no scenario there has an [expect.<algorithm>] table for a known \
             algorithm ({} .toml file(s) found; `contend list` shows the algorithms)",
            dir.display(),
            files.len()
        );
    }
    for s in scenarios.iter().filter(|s| s.expect.is_empty()) {
        eprintln!("gate: {} states no expectations, so the gate does not run it", s.path.display());
    }
    crate::report::check_out(&opts.out)?;
    crate::servers::Servers::check(&opts.server, opts.witness.as_deref()).await?;
    let mut cells: Vec<(String, String, Cell)> = Vec::new();
    for scenario in scenarios {
        let scenario = scenario.for_gate();
        for algorithm in scenario.expect.keys() {
            let cell = match registry::find(algorithm) {
                Err(_) => Cell::Skipped(format!(
                    "skipped: unknown algorithm `{algorithm}` (`contend list` shows the names)"
                )),
                Ok(entry) if entry.adapter.is_some() && opts.server == ServerChoice::Sim => {
                    Cell::Skipped(format!(
                        "skipped: adapter `{algorithm}` runs in its own process, on a real server"
                    ))
                }
                Ok(entry) => {
                    eprintln!("gate: {} × {} ...", scenario.name, algorithm);
                    let started = Instant::now();
                    let ran = run(&scenario, entry, opts).await;
                    let secs = started.elapsed().as_secs_f64();
                    tracing::info!(scenario = %scenario.name, %algorithm, secs, ok = ran.is_ok(), "gate cell done");
                    match ran {
                        Ok(r) => Cell::Ran(Box::new(r), secs),
                        Err(e) if e.is::<Interrupted>() => return Err(e),
                        Err(e) => Cell::Error(format!("{e:#}")),
                    }
                }
            };
            cells.push((scenario.name.clone(), algorithm.clone(), cell));
        }
    }
    let bugs = known_bugs(&cells);
    print!("{}", matrix(&cells));
    print!("{}", bug_lines(&bugs));
    if let Some(path) = junit {
        std::fs::write(path, junit_xml(&cells, &bugs))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = breaks {
        std::fs::write(path, what_breaks_what(dir, &cells))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let missed: Vec<&BugStatus> = bugs.iter().filter(|b| b.seen == Seen::Missed).collect();
    let uncaught = specimens_uncaught(&bugs);
    let failed_cells = cells
        .iter()
        .filter(|(_, _, c)| match c {
            Cell::Ran(r, _) => !r.as_expected,
            Cell::Skipped(_) => false,
            Cell::Error(_) => true,
        })
        .count();
    if failed_cells > 0 {
        println!(
            "gate: {failed_cells} scenario × algorithm cell(s) not as expected (FAIL/ERROR above)"
        );
    }
    if !missed.is_empty() {
        println!("gate: {} known specimen bug(s) MISSED (listed above)", missed.len());
    }
    for name in &uncaught {
        println!("gate: no scenario in this folder caught a known bug of {name}");
    }
    Ok(failed_cells == 0 && missed.is_empty() && uncaught.is_empty())
}

/// One known bug of a specimen and whether the gate saw it.
#[derive(Debug)]
pub struct BugStatus {
    /// The specimen.
    pub algorithm: String,
    /// The bug's id.
    pub id: String,
    /// Its scenario.
    pub scenario: String,
    /// Its checker.
    pub checker: String,
    /// What the gate saw of it.
    pub seen: Seen,
}

/// What the gate saw of a known bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Its scenario ran the specimen and the checker said invalid.
    Caught,
    /// Its scenario ran the specimen and the checker said valid or unknown.
    Missed,
    /// Its scenario × specimen cell could not run (the cell shows the error).
    Error,
    /// The folder has no such scenario, or it states no expectations for the specimen.
    NotRun,
}

fn known_bugs(cells: &[(String, String, Cell)]) -> Vec<BugStatus> {
    let mut out = Vec::new();
    for entry in registry::all().into_iter().filter(|e| e.class == Class::Specimen) {
        for bug in entry.bugs {
            let cell = cells.iter().find(|(s, a, _)| s == bug.scenario && a == entry.name);
            let seen = match cell.map(|(_, _, c)| c) {
                Some(Cell::Ran(r, _)) => {
                    if r.checkers
                        .get(bug.checker.as_str())
                        .is_some_and(|c| c.result.verdict == Verdict::Invalid)
                    {
                        Seen::Caught
                    } else {
                        Seen::Missed
                    }
                }
                Some(Cell::Error(_)) => Seen::Error,
                Some(Cell::Skipped(_)) | None => Seen::NotRun,
            };
            out.push(BugStatus {
                algorithm: entry.name.into(),
                id: bug.id.into(),
                scenario: bug.scenario.into(),
                checker: bug.checker.to_string(),
                seen,
            });
        }
    }
    out
}

/// The specimens none of whose known bugs was caught, among those the folder ran in at least
/// one of their bugs' scenarios. A folder of one's own that holds none of a specimen's bug
/// scenarios does not fail for it (those bugs show as "not run"); the shipped `scenarios/`
/// holds them all, so there every specimen must be caught.
fn specimens_uncaught(bugs: &[BugStatus]) -> Vec<&str> {
    let names: BTreeSet<&str> = bugs.iter().map(|b| b.algorithm.as_str()).collect();
    names
        .into_iter()
        .filter(|&n| {
            let mine = || bugs.iter().filter(move |b| b.algorithm == n);
            mine().any(|b| b.seen != Seen::NotRun) && !mine().any(|b| b.seen == Seen::Caught)
        })
        .collect()
}

fn bug_lines(bugs: &[BugStatus]) -> String {
    let mut s = String::from("\nknown bugs of the specimens:\n");
    for b in bugs {
        let status = match b.seen {
            Seen::Caught => "caught",
            Seen::Missed => "MISSED",
            Seen::Error => "ERROR",
            Seen::NotRun => "not run",
        };
        let scenario = if b.seen == Seen::NotRun {
            format!(
                "{} (not a scenario of this folder, or it has no expectations for this specimen)",
                b.scenario
            )
        } else {
            b.scenario.clone()
        };
        let _ = writeln!(
            s,
            "  {:<8} {} / {}: {} in {}",
            status, b.algorithm, b.id, b.checker, scenario
        );
    }
    s
}

/// The scenarios and the algorithms of `cells`, the algorithms in `contend list`'s order.
fn axes(cells: &[(String, String, Cell)]) -> (Vec<&str>, Vec<&str>) {
    let scenarios: Vec<&str> =
        cells.iter().map(|c| c.0.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    let known: Vec<&str> = registry::all().iter().map(|e| e.name).collect();
    let mut algorithms: Vec<&str> =
        cells.iter().map(|c| c.1.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    algorithms.sort_by_key(|n| known.iter().position(|k| k == n).unwrap_or(usize::MAX));
    (scenarios, algorithms)
}

/// "What breaks what": scenario × algorithm → the checkers that found a violation, as
/// Markdown, generated from this gate run.
fn what_breaks_what(dir: &Path, cells: &[(String, String, Cell)]) -> String {
    let (scenarios, algorithms) = axes(cells);
    let by: BTreeMap<(&str, &str), &Cell> =
        cells.iter().map(|(s, a, c)| ((s.as_str(), a.as_str()), c)).collect();
    let mut out = format!(
        "# What breaks what\n\nGenerated by `contend gate {} --breaks FILE` (`just gate`) from \
         one gate run on real Redis; do not edit by hand. Each cell names the checkers that \
         found a violation (`lease-outlived` only: a holder outlived its lease, which only \
         fencing can stop), or `safe` when none did; `·` the gate does not run that pair. \
         Every scenario's faults struck in the runs behind this table, or the gate failed.\n\n\
         | scenario | what it does |",
        dir.display()
    );
    for a in &algorithms {
        let _ = write!(out, " {a} |");
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(algorithms.len()));
    out.push('\n');
    for s in &scenarios {
        let description = algorithms
            .iter()
            .find_map(|a| match by.get(&(*s, *a)) {
                Some(Cell::Ran(r, _)) => Some(r.description.replace('|', "/")),
                _ => None,
            })
            .unwrap_or_default();
        let _ = write!(out, "| {s} | {description} |");
        for a in &algorithms {
            let text = match by.get(&(*s, *a)) {
                None | Some(Cell::Skipped(_)) => "·".to_string(),
                Some(Cell::Error(_)) => "error".to_string(),
                Some(Cell::Ran(r, _)) => broken(r),
            };
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out.push_str(&failover_rates(cells));
    out
}

/// The failover scenarios' residual violation rates: after how many of a cell's failovers the
/// lock was held twice, per scenario and algorithm. Empty without failovers.
fn failover_rates(cells: &[(String, String, Cell)]) -> String {
    let rows: Vec<(&str, &str, FailoverRate)> = cells
        .iter()
        .filter_map(|(s, a, c)| match c {
            Cell::Ran(r, _) => r.failover_rate.map(|f| (s.as_str(), a.as_str(), f)),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Failover: how often the lock was held twice\n\nPer cell, the failovers that \
         promoted a replica in that run, and after how many of them (before the next) the \
         mutual-exclusion checker found two holders at once. A `[lock] replicas` scenario waits \
         (`WAIT`) after each acquire for that many replicas, and gives the lock back when too \
         few acknowledged.\n\n| scenario | algorithm | WAIT | held twice after |\n|---|---|---|---|\n",
    );
    for (s, a, f) in rows {
        let wait = f.wait_replicas.map_or_else(|| "no".to_string(), |n| format!("{n} replica(s)"));
        let _ = writeln!(out, "| {s} | {a} | {wait} | {} |", f.text());
    }
    out
}

/// The checkers of `r` that said invalid, or `safe`.
fn broken(r: &Results) -> String {
    let names: Vec<String> = r
        .checkers
        .iter()
        .filter(|(_, c)| c.result.verdict == Verdict::Invalid)
        .map(|(name, c)| {
            let outlived = !c.result.findings.is_empty()
                && c.result.findings.iter().all(|f| f.kind == "lease-outlived");
            if outlived { "lease-outlived".to_string() } else { format!("**{name}**") }
        })
        .collect();
    if names.is_empty() { "safe".to_string() } else { names.join(", ") }
}

fn matrix(cells: &[(String, String, Cell)]) -> String {
    let (scenarios, algorithms) = axes(cells);
    let by: BTreeMap<(&str, &str), &Cell> =
        cells.iter().map(|(s, a, c)| ((s.as_str(), a.as_str()), c)).collect();
    let width = algorithms.iter().map(|a| a.len()).max().unwrap_or(4).max(4);
    let mut out = format!("\n{:<22}", "scenario");
    for a in &algorithms {
        let _ = write!(out, " {a:>width$}");
    }
    out.push('\n');
    for s in &scenarios {
        let _ = write!(out, "{s:<22}");
        for a in &algorithms {
            let mark = match by.get(&(*s, *a)) {
                None => "·",
                Some(Cell::Ran(r, _)) if r.as_expected => "ok",
                Some(Cell::Ran(..)) => "FAIL",
                Some(Cell::Skipped(_)) => "skip",
                Some(Cell::Error(_)) => "ERROR",
            };
            let _ = write!(out, " {mark:>width$}");
        }
        out.push('\n');
    }
    for (s, a, c) in cells {
        match c {
            Cell::Ran(r, _) if !r.as_expected => {
                let _ = writeln!(out, "FAIL {s} × {a}: {}", unexpected(r));
            }
            Cell::Error(e) => {
                let _ = writeln!(out, "ERROR {s} × {a}: {e}");
            }
            Cell::Skipped(why) => {
                let _ = writeln!(out, "SKIP {s} × {a}: {why}");
            }
            Cell::Ran(..) => {}
        }
    }
    out
}

fn unexpected(r: &Results) -> String {
    r.off().join("; ") + &format!(" — {}", r.dir.display())
}

fn junit_xml(cells: &[(String, String, Cell)], bugs: &[BugStatus]) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let with_message = |mut status: TestCaseStatus, message: String| {
        status.set_message(message);
        status
    };
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for (s, a, c) in cells {
        let (time, status) = match c {
            Cell::Ran(r, t) if r.as_expected => (*t, TestCaseStatus::success()),
            Cell::Ran(r, t) => (
                *t,
                with_message(TestCaseStatus::non_success(NonSuccessKind::Failure), unexpected(r)),
            ),
            Cell::Skipped(why) => (0.0, with_message(TestCaseStatus::skipped(), why.clone())),
            Cell::Error(e) => {
                (0.0, with_message(TestCaseStatus::non_success(NonSuccessKind::Error), e.clone()))
            }
        };
        let mut case = TestCase::new(a.as_str(), status);
        case.set_classname(s.as_str());
        case.set_time(std::time::Duration::from_secs_f64(time.max(0.0)));
        suites.entry(s).or_insert_with(|| TestSuite::new(s.as_str())).add_test_case(case);
    }
    let mut report = Report::new("contend gate");
    report.add_test_suites(suites.into_values());
    let mut known = TestSuite::new("known-bugs");
    for b in bugs {
        let status = match b.seen {
            Seen::Caught => TestCaseStatus::success(),
            Seen::Error => with_message(
                TestCaseStatus::non_success(NonSuccessKind::Error),
                format!("{} × {} could not run", b.scenario, b.algorithm),
            ),
            Seen::Missed => with_message(
                TestCaseStatus::non_success(NonSuccessKind::Failure),
                format!("{} did not report it in {}", b.checker, b.scenario),
            ),
            Seen::NotRun => with_message(
                TestCaseStatus::skipped(),
                format!(
                    "scenario {} is not in this folder, or does not run this specimen",
                    b.scenario
                ),
            ),
        };
        let mut case = TestCase::new(b.id.as_str(), status);
        case.set_classname(b.algorithm.as_str());
        known.add_test_case(case);
    }
    report.add_test_suite(known);
    // Serializing owned strings into a Vec cannot fail but for a bug in the crate; say so in
    // the file rather than lose the gate's verdict over it.
    report.to_string().unwrap_or_else(|e| format!("<!-- JUnit XML could not be written: {e} -->\n"))
}
