//! One run of a scenario with one algorithm: the spine both backends share.
//!
//! [`run`] applies the command line's overrides once, picks the backend — `real.rs` (worker
//! processes against real servers: local, a URL, or containers) or `sim.rs` (the seeded
//! simulator) — and hands what the backend recorded to [`finish`], which checks the history,
//! writes the report folder and decides whether the run went as expected. A backend only
//! produces a history and the figures it measured outside it.

mod lockset;
mod pipe;
mod real;
mod residue;
mod sim;
mod topology;

use std::path::{Path, PathBuf};

use crate::check::{Context, check_all};
use crate::history::History;
use crate::registry::Entry;
use crate::report::{self, Figures, Results};
use crate::scenario::Scenario;
use crate::servers::ServerChoice;

/// How to run a scenario.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Where the servers come from.
    pub server: ServerChoice,
    /// With a URL server: where the witness lives (default: the same server as the lock).
    pub witness: Option<String>,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// The folder report folders go into.
    pub out: PathBuf,
    /// Overrides the scenario's worker count.
    pub workers: Option<u32>,
    /// Overrides the scenario's iterations.
    pub iterations: Option<u32>,
    /// Overrides the scenario's scale of the specimens' document time constants.
    pub scale: Option<f64>,
    /// Show a live progress line on stderr.
    pub progress: bool,
}

/// The run was interrupted (Ctrl-C or SIGTERM); everything it started has been stopped.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted; the run's workers and servers were stopped")
    }
}

impl std::error::Error for Interrupted {}

/// What a backend recorded: the history (in time order) and the figures measured outside it.
#[derive(Debug)]
pub struct Recorded {
    /// The history, sorted by time.
    pub history: History,
    /// Figures the backend measured besides the history.
    pub figures: Figures,
}

/// Runs `scenario` with algorithm `entry`; answers the results, with their report folder.
pub async fn run(scenario: &Scenario, entry: Entry, opts: &RunOptions) -> anyhow::Result<Results> {
    if let Some(why) = servers_refusal(scenario, &entry) {
        anyhow::bail!(why);
    }
    if let Some(why) = entry
        .adapter
        .and_then(|m| crate::adapter::refusal(m, scenario, opts.server == ServerChoice::Sim))
    {
        anyhow::bail!(why);
    }
    if opts.server == ServerChoice::Sim {
        return run_simulated(scenario, entry, opts);
    }
    let count = scenario.server.count;
    if count > 1 && opts.server != ServerChoice::Local {
        anyhow::bail!(
            "{}: [server] count = {count} starts independent lock servers as processes of this \
             machine, each behind a fault proxy of the harness: run it with --server local",
            scenario.path.display()
        );
    }
    let scenario = &scenario.overridden(opts.workers, opts.iterations, opts.scale)?;
    report::check_out(&opts.out)?;
    let seed = opts.seed.unwrap_or(scenario.seed);
    tracing::info!(
        scenario = %scenario.name,
        algorithm = entry.name,
        workers = scenario.workers,
        iterations = scenario.iterations,
        seed,
        "run started"
    );
    let recorded = real::record(scenario, entry, seed, opts).await?;
    let results = finish(scenario, entry, recorded, &opts.out)?;
    tracing::info!(
        scenario = %scenario.name,
        algorithm = entry.name,
        as_expected = results.as_expected,
        "run ended"
    );
    Ok(results)
}

/// Why `entry` cannot run on `scenario`'s lock servers, if it cannot: a quorum lock needs at
/// least three independent servers, a single-server lock exactly one.
#[must_use]
pub fn servers_refusal(scenario: &Scenario, entry: &Entry) -> Option<String> {
    let count = scenario.server.count;
    let path = scenario.path.display();
    if entry.quorum && count < MIN_QUORUM_SERVERS {
        return Some(format!(
            "{path}: `{}` is a quorum lock over independent servers and this scenario has \
             {count}: set [server] count = 3 or 5 (with fewer, a majority is every server), or \
             run it on one of the redlock-* scenarios",
            entry.name
        ));
    }
    if !entry.quorum && count > 1 {
        return Some(format!(
            "{path}: `{}` runs on one lock server and this scenario has [server] count = {count} \
             independent ones: run a quorum lock (`redlock`) on it",
            entry.name
        ));
    }
    None
}

/// The fewest independent servers a quorum lock runs over (`redmutex::Redlock`'s minimum).
pub const MIN_QUORUM_SERVERS: u32 = redmutex::MIN_SERVERS as u32;

/// [`run`] on the simulator (whatever `opts.server` says), without a runtime.
pub fn run_simulated(
    scenario: &Scenario,
    entry: Entry,
    opts: &RunOptions,
) -> anyhow::Result<Results> {
    if let Some(why) = servers_refusal(scenario, &entry) {
        anyhow::bail!(why);
    }
    if let Some(why) = entry.adapter.and_then(|m| crate::adapter::refusal(m, scenario, true)) {
        anyhow::bail!(why);
    }
    let scenario = &scenario.overridden(opts.workers, opts.iterations, opts.scale)?;
    report::check_out(&opts.out)?;
    let seed = opts.seed.unwrap_or(scenario.seed);
    let recorded = sim::record(scenario, entry, seed, opts.progress)?;
    finish(scenario, entry, recorded, &opts.out)
}

/// Checks a recorded history against what `scenario` promised of `entry`, writes the report
/// folder under `out`, and answers the results (`as_expected` decides the exit).
pub fn finish(
    scenario: &Scenario,
    entry: Entry,
    recorded: Recorded,
    out: &Path,
) -> anyhow::Result<Results> {
    let ctx = context(scenario, &entry);
    let checked = check_all(&recorded.history, &ctx);
    let results =
        Results::new(scenario, &entry, &recorded.history, &ctx, checked, recorded.figures);
    report::write(out, &results, &recorded.history)
}

/// What the checkers judge a run of `scenario` with `entry` against.
#[must_use]
pub fn context(scenario: &Scenario, entry: &Entry) -> Context {
    let ttl = std::time::Duration::from_millis(scenario.lock.ttl_ms);
    let protocol = entry.protocol(&crate::registry::Build::of(scenario));
    Context::from_ms(scenario.lock.ttl_ms, scenario.lock.wait_ms, scenario.slack_ms, entry.fenced())
        .with_dead_waiter(protocol.dead_waiter_window(ttl))
        .with_fifo(protocol.fifo())
}
