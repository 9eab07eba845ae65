//! The `contend sim` and `contend sim-coverage` commands.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;

use super::{
    Coverage, Faults, SimConfig, counterexample, coverage, simulate, verdict_lines, violations,
};
use crate::registry;
use crate::scenario::{ClientSettings, Hold};

/// Prints to stdout; a closed pipe (`| head`) is not an error worth a panic.
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

macro_rules! say_raw {
    ($($t:tt)*) => {{
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// The arguments of `contend sim`.
#[derive(Clone, Debug, clap::Args)]
pub struct SimArgs {
    /// The seed (with `--seeds`, the first one).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many seeds to run, from `--seed` on; stops at the first violation.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// The algorithm (see `contend list`).
    #[arg(long, short)]
    pub algorithm: Option<String>,
    /// Simulated clients.
    #[arg(long, default_value_t = 3)]
    pub workers: u32,
    /// Rounds per client.
    #[arg(long, default_value_t = 10)]
    pub iterations: u32,
    /// Faults of the nemesis: none, safe (every kind but restart-volatile), all, or a comma
    /// list of pause, crash, crash-holder, restart, restart-volatile, skew, delay.
    /// restart-volatile restarts the server without its keys: no single-server lock survives
    /// it, so `all` finds violations in every algorithm.
    #[arg(long, default_value = "none")]
    pub faults: Faults,
    /// The lock's ttl, ms.
    #[arg(long, default_value_t = 1000)]
    pub ttl_ms: u64,
    /// The acquire wait timeout, ms.
    #[arg(long, default_value_t = 4000)]
    pub wait_ms: u64,
    /// Liveness slack, ms.
    #[arg(long, default_value_t = 100)]
    pub slack_ms: u64,
    /// Holds between the section's read and write are uniform in 0..=this, ms.
    #[arg(long, default_value_t = 50)]
    pub hold_ms: u64,
    /// Mean time between nemesis strikes, ms.
    #[arg(long, default_value_t = 1000)]
    pub fault_every_ms: u64,
    /// Write the (last) history here as JSON lines.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Independent model lock servers: 3 by default for a quorum lock (`redlock`), which
    /// needs at least 3; 1, the only choice, for every other algorithm.
    #[arg(long)]
    pub servers: Option<u32>,
}

impl SimArgs {
    /// Refuses the values that make no run: no clients, no rounds, no seeds, a ttl the drift
    /// allowance eats.
    pub fn check(&self) -> anyhow::Result<()> {
        let problem = if self.workers == 0 {
            "--workers must be at least 1"
        } else if self.iterations == 0 {
            "--iterations must be at least 1"
        } else if self.seeds == 0 {
            "--seeds must be at least 1"
        } else if self.config(self.seed).client.drift_ms >= self.ttl_ms {
            "--ttl-ms must be at least 3: the drift allowance (ttl/100 + 2 ms) is taken off every lease"
        } else if self.fault_every_ms == 0 {
            "--fault-every-ms must be at least 1"
        } else {
            return Ok(());
        };
        anyhow::bail!("{problem}")
    }

    /// How many lock servers a run of `entry` has: `--servers`, else 3 for a quorum lock and
    /// 1 for any other; refused as `contend run` refuses a scenario's `[server] count`.
    pub fn servers_for(&self, entry: &registry::Entry) -> anyhow::Result<u32> {
        let min = crate::run::MIN_QUORUM_SERVERS;
        let servers = self.servers.unwrap_or(if entry.quorum { min } else { 1 });
        let max = crate::scenario::MAX_SERVERS;
        if entry.quorum && !(min..=max).contains(&servers) {
            anyhow::bail!(
                "`{}` is a quorum lock over independent servers: --servers must be {min} to {max} \
                 (with fewer, a majority is every server), not {servers}",
                entry.name
            );
        }
        if !entry.quorum && servers != 1 {
            anyhow::bail!(
                "`{}` runs on one lock server: --servers {servers} is for a quorum lock \
                 (`redlock`); leave it out",
                entry.name
            );
        }
        Ok(servers)
    }

    /// The run's configuration for `seed` (one lock server; see [`SimArgs::servers_for`]).
    #[must_use]
    pub fn config(&self, seed: u64) -> SimConfig {
        SimConfig {
            seed,
            workers: self.workers.max(1),
            iterations: self.iterations,
            client: ClientSettings {
                ttl_ms: self.ttl_ms.max(1),
                wait_ms: self.wait_ms,
                drift_ms: self.ttl_ms / 100 + 2,
                hold: Hold::Uniform { min_ms: 0, max_ms: self.hold_ms },
                ..SimConfig::default().client
            },
            slack_ms: self.slack_ms,
            faults: self.faults.clone(),
            fault_every_ms: self.fault_every_ms.max(1),
            ..SimConfig::default()
        }
    }
}

/// `contend sim`: answers whether every run was free of violations.
pub fn sim(args: &SimArgs) -> anyhow::Result<bool> {
    args.check()?;
    let entry = registry::find(args.algorithm.as_deref().unwrap_or(registry::default_name()))?;
    let servers = args.servers_for(&entry)?;
    let base = SimConfig {
        client: ClientSettings { servers, ..args.config(args.seed).client },
        ..args.config(args.seed)
    };
    let protocol = entry.protocol(&crate::registry::Build::of_client(&base.client, 1.0));
    let started = Instant::now();
    let mut events = 0;
    for seed in args.seed..args.seed.saturating_add(args.seeds.max(1)) {
        let cfg = SimConfig { seed, ..base.clone() };
        let run = simulate(&*protocol, &cfg);
        events += run.history.len();
        let found = violations(&run, cfg.judges_liveness());
        if let Some(path) = &args.history {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            );
            crate::history::write_jsonl(&run.history, &mut file)?;
        }
        if args.seeds > 1 && found.is_empty() {
            continue;
        }
        let struck: u64 = crate::report::faults_struck(&run.history).values().sum();
        say!(
            "sim {} seed {seed}: {} clients x {} rounds{}, faults {} ({struck} struck): {} events, \
             {} ms simulated{}",
            entry.name,
            cfg.workers,
            cfg.iterations,
            if servers > 1 { format!(" over {servers} lock servers") } else { String::new() },
            cfg.faults,
            run.history.len(),
            run.counters.sim_ms,
            if run.counters.stopped { " (stopped at the time limit)" } else { "" }
        );
        say_raw!("{}", verdict_lines(&run));
        if found.is_empty() {
            let invalid = run.checked.values().any(|r| r.verdict == crate::check::Verdict::Invalid);
            say!(
                "no violation{}{}",
                if cfg.judges_liveness() {
                    ""
                } else {
                    " (liveness not judged under pauses, delays and restarts)"
                },
                if invalid {
                    "; the invalid verdicts above hold findings that are no violation: see \
                     `contend sim --help`"
                } else {
                    ""
                }
            );
            continue;
        }
        say!("{} violation(s); the first ones:", found.len());
        for v in found.iter().take(3) {
            say_raw!("{}", counterexample(&run.history, v, &cfg.replay_command(entry.name)));
        }
        return Ok(false);
    }
    if args.seeds > 1 {
        say!(
            "sim {}: {} seeds from {} without a violation ({events} events, {:.2} s)",
            entry.name,
            args.seeds,
            args.seed,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(true)
}

/// The arguments of `contend sim-coverage`.
#[derive(Clone, Debug, clap::Args)]
pub struct CoverageArgs {
    /// Seeds per reference algorithm.
    #[arg(long, default_value_t = 100_000)]
    pub reference_seeds: u64,
    /// The most seeds tried per specimen bug.
    #[arg(long, default_value_t = 1000)]
    pub specimen_seeds: u64,
    /// Threads for the reference seeds (default: the machine's cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the scenarios are: a bug the random faults cannot provoke (a quorum specimen's, a
    /// client clock's that runs far ahead) is searched with its own scenario's faults.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: std::path::PathBuf,
}

/// `contend sim-coverage`: prints the figures.
pub fn sim_coverage(args: &CoverageArgs) -> anyhow::Result<bool> {
    let threads =
        args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let budget = Coverage {
        reference_seeds: args.reference_seeds,
        specimen_seeds: args.specimen_seeds,
        threads,
        scenarios: args.scenarios.clone(),
    };
    let (text, ok) = coverage(&budget);
    say_raw!("{text}");
    Ok(ok)
}
