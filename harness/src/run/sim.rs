//! The simulated backend (`--server sim`): the scenario on the seeded simulator, recorded in the
//! same history format as a real run.

use std::time::Instant;

use super::Recorded;
use crate::ping::{Ping, Placement};
use crate::registry::Entry;
use crate::report::Figures;
use crate::scenario::Scenario;
use crate::sim::{SimConfig, play, unsimulable};

/// Plays `scenario` with `entry` from `seed`; with `progress`, says how it went on stderr.
pub(super) fn record(
    scenario: &Scenario,
    entry: Entry,
    seed: u64,
    progress: bool,
) -> anyhow::Result<Recorded> {
    if let Some(why) = unsimulable(scenario) {
        anyhow::bail!("{}: {why}", scenario.path.display());
    }
    let (workers, iterations) = (scenario.workers, scenario.iterations);
    let cfg = SimConfig::from_scenario(scenario, seed, workers, iterations);
    let protocol = entry.protocol(&crate::registry::Build::of(scenario));
    let started = Instant::now();
    let (history, counters) = play(&*protocol, &cfg);
    let wall = started.elapsed().as_secs_f64();
    if progress {
        eprintln!(
            "sim: {} × {} seed {seed}: {workers} clients × {iterations}, {} events, {} ms simulated in {wall:.2} s{}",
            scenario.name,
            entry.name,
            history.len(),
            counters.sim_ms,
            if counters.stopped { " (stopped at the time limit)" } else { "" }
        );
    }
    let figures = Figures {
        // The simulated round trip: twice the mean one-way delay.
        ping: Ping {
            p50_us: (cfg.net_min_us + cfg.net_max_us) as f64,
            placement: Placement::Simulated,
            same_core_p50_us: None,
        },
        ping_us_p50_during_run: None,
        lock_commands_sent: counters.lock_commands,
        lock_commands_internal: None,
        witness_commands_sent: counters.witness_commands,
        workers,
        iterations,
        seed,
        server: "sim".into(),
        worker_failures: Vec::new(),
    };
    Ok(Recorded { history, figures })
}
