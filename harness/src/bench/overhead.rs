//! Harness overhead: what recording costs a cell. The bench runs one cell per algorithm a
//! second time with recording off ([`crate::worker::WorkerConfig::record`]): the same worker
//! processes take the same lock and run the same body (GET, then SET counter+1, with the hold),
//! but skip the witness's `enter`/`exit` and write no history, and no coordinator reads their
//! pipes; each writes only a [`Unrecorded`] line at its end. Sections/s of that run over the
//! recorded cell's is the harness overhead.
//!
//! Nothing judges an unrecorded run but its counter: the sections the workers say they
//! completed must be the counter on the witness (a lost update otherwise, and the cell counts
//! as broken).

use std::io::Read as _;
use std::process::{Command, Stdio};

use anyhow::Context as _;
use redmutex::driver::Timeouts;
use serde::{Deserialize, Serialize};

use super::baseline::Kids;
use crate::clock::monotonic_ns;
use crate::registry::Entry;
use crate::scenario::{ClientSettings, Scenario};
use crate::servers::{ServerChoice, Servers};
use crate::witness::RunKeys;
use crate::worker::{CONFIG_ENV, Unrecorded, WorkerConfig};

/// What a run without recording measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnrecordedRun {
    /// Critical sections the workers completed.
    pub sections: u64,
    /// The counter on the witness afterwards: equal to `sections` unless an update was lost.
    pub counter: i64,
    /// Sections per second, first acquire begun → last release ended (as a recorded run
    /// measures it).
    pub sections_per_s: f64,
    /// Commands the workers sent to the witness per section: the body's two (`GET` and `SET`,
    /// or the fenced read and write), without the recording's `enter` and `exit`.
    pub witness_commands_per_section: f64,
}

impl UnrecordedRun {
    /// Whether the counter agrees with the sections (no update lost).
    #[must_use]
    pub fn valid(&self) -> bool {
        i64::try_from(self.sections).is_ok_and(|s| s == self.counter)
    }
}

/// The cell whose overhead the bench measures for each algorithm: the largest worker count at
/// the smallest hold, where recording is the largest share of a section and contention the
/// highest. `None` for an empty matrix.
#[must_use]
pub fn representative(workers: &[u32], holds_ms: &[u64]) -> Option<(u32, u64)> {
    Some((*workers.iter().max()?, *holds_ms.iter().min()?))
}

/// Runs `scenario` with `entry` on the bench's servers with recording off.
pub async fn unrecorded(
    entry: Entry,
    scenario: &Scenario,
    lock_url: &str,
    witness_url: &str,
) -> anyhow::Result<UnrecordedRun> {
    let run_id = format!("unrec{:08x}", monotonic_ns() as u32);
    let servers =
        Servers::start(&ServerChoice::Url(lock_url.into()), Some(witness_url), &run_id).await?;
    let result = run_on(entry, scenario, &servers).await;
    if let Err(e) = servers.clean().await {
        eprintln!("warning: could not delete the keys under {}: {e:#}", servers.prefix);
    }
    result
}

async fn run_on(
    entry: Entry,
    scenario: &Scenario,
    servers: &Servers,
) -> anyhow::Result<UnrecordedRun> {
    let exe = std::env::current_exe().context("the contend binary, to start workers")?;
    let base = WorkerConfig {
        id: 0,
        slot: 0,
        lock_url: servers.lock_url.clone(),
        lock_urls: Vec::new(),
        marks: false,
        witness_url: servers.witness_url.clone(),
        prefix: servers.prefix.clone(),
        algorithm: entry.locator(),
        scale: scenario.specimen_scale,
        iterations: scenario.iterations,
        client: ClientSettings::of(scenario),
        seed: scenario.seed,
        run_start_ns: monotonic_ns(),
        clock_dir: None,
        start_together: entry.adapter.map(|_| scenario.workers),
        record: false,
    };
    let mut kids = Kids(Vec::new());
    for slot in 0..scenario.workers {
        let mut cfg = base.clone();
        cfg.id = slot + 1;
        cfg.slot = slot;
        cfg.seed = base.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(cfg.id));
        let child = Command::new(&exe)
            .arg("worker")
            .env(CONFIG_ENV, serde_json::to_string(&cfg)?)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("start an unrecorded worker")?;
        kids.0.push(child);
    }
    let mut lines = Vec::new();
    for child in &mut kids.0 {
        let mut text = String::new();
        if let Some(mut out) = child.stdout.take() {
            out.read_to_string(&mut text).context("read an unrecorded worker's summary")?;
        }
        lines.push(text);
    }
    kids.wait().context("an unrecorded worker failed (its message is above)")?;
    let summaries = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Unrecorded>(l.trim())
                .with_context(|| format!("an unrecorded worker wrote no summary but {l:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let witness = redmutex::Connection::open(&servers.witness_url, Timeouts::default()).await?;
    let keys = RunKeys::new(&servers.prefix);
    let counter = crate::witness::outcome(&witness, &keys, entry.fenced()).await?;
    Ok(summarise(&summaries, counter))
}

/// The run's figures from its workers' summaries and the counter.
#[must_use]
pub fn summarise(summaries: &[Unrecorded], counter: i64) -> UnrecordedRun {
    let sections: u64 = summaries.iter().map(|s| s.sections).sum();
    let witness: u64 = summaries.iter().map(|s| s.witness_commands).sum();
    let first = summaries.iter().filter_map(|s| s.first_acquire_ns).min();
    let last = summaries.iter().filter_map(|s| s.last_release_ns).max();
    let span_ns = match (first, last) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    };
    UnrecordedRun {
        sections,
        counter,
        sections_per_s: if span_ns > 0 { sections as f64 * 1e9 / span_ns as f64 } else { 0.0 },
        witness_commands_per_section: witness as f64 / sections.max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_spans_the_first_acquire_to_the_last_release_over_all_workers() {
        let s = [
            Unrecorded {
                sections: 3,
                first_acquire_ns: Some(1_000_000_000),
                last_release_ns: Some(1_500_000_000),
                witness_commands: 6,
            },
            Unrecorded {
                sections: 1,
                first_acquire_ns: Some(1_200_000_000),
                last_release_ns: Some(3_000_000_000),
                witness_commands: 2,
            },
        ];
        let r = summarise(&s, 4);
        assert_eq!(r.sections, 4);
        assert!((r.sections_per_s - 2.0).abs() < 1e-9, "4 sections in 2 s: {r:?}");
        assert!(r.valid());
        assert!((r.witness_commands_per_section - 2.0).abs() < 1e-9, "{r:?}");
        assert!(!summarise(&s, 3).valid(), "a counter short of the sections is a lost update");
    }

    #[test]
    fn the_representative_cell_is_the_largest_worker_count_at_the_smallest_hold() {
        assert_eq!(representative(&[1, 32, 4], &[1, 0]), Some((32, 0)));
        assert_eq!(representative(&[], &[0]), None);
    }
}
