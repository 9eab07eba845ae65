//! `contend bench`: lock algorithms side by side over worker counts and hold times, each cell a
//! real run (every checker on) on one pair of servers the bench starts for itself, repeated in
//! interleaved rounds, with baselines measured in the same run (see [`baseline`]).
//!
//! The servers are started once and handed to every cell as URL servers, so that the bench can
//! read the lock server's own CPU time (`INFO cpu`) around each cell, and the worker processes
//! are the only children reaped during a cell (their CPU time is `RUSAGE_CHILDREN`'s growth).

pub mod baseline;
pub mod choosing;
pub mod figures;
mod output;
pub mod overhead;
mod plots;
mod targets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use redmutex::testing::RedisServer;
use serde::{Deserialize, Serialize};

pub use output::{html, markdown};

use crate::registry::{self, Class, Entry};
use crate::run::RunOptions;
use crate::scenario::Scenario;
use crate::servers::ServerChoice;
use figures::LatencyUs;

/// What to bench.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Algorithm names.
    pub algorithms: Vec<String>,
    /// Worker counts.
    pub workers: Vec<u32>,
    /// Hold times, ms (the time between the section's read and write).
    pub holds_ms: Vec<u64>,
    /// Interleaved rounds over the whole matrix.
    pub rounds: u32,
    /// Critical sections per cell (spread over its workers).
    pub sections: u32,
    /// Where the bench folder goes.
    pub out: PathBuf,
}

impl BenchOptions {
    /// The defaults: token, notify, fenced × 1…32 workers × hold 0 and 1 ms × 3 rounds of
    /// 1000 sections per cell.
    #[must_use]
    pub fn full(out: PathBuf) -> BenchOptions {
        BenchOptions {
            algorithms: ["token", "notify", "fenced"].map(String::from).to_vec(),
            workers: vec![1, 2, 4, 8, 16, 32],
            holds_ms: vec![0, 1],
            rounds: 3,
            sections: 1000,
            out,
        }
    }

    /// The CI bench: 2 algorithms × 1 and 4 workers × hold 0 × 1 round.
    #[must_use]
    pub fn quick(out: PathBuf) -> BenchOptions {
        BenchOptions {
            algorithms: ["token", "notify"].map(String::from).to_vec(),
            workers: vec![1, 4],
            holds_ms: vec![0],
            rounds: 1,
            sections: 200,
            out,
        }
    }
}

/// Everything a bench measured (`bench.json`). Field names carry their units.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// When the bench began, UTC.
    pub started_utc: String,
    /// The machine.
    pub machine: Machine,
    /// The matrix.
    pub algorithms: Vec<String>,
    /// Worker counts.
    pub workers: Vec<u32>,
    /// Hold times, ms.
    pub holds_ms: Vec<u64>,
    /// Rounds.
    pub rounds: u32,
    /// Sections per cell.
    pub sections_per_cell: u32,
    /// The baselines, one entry per round.
    pub baselines: Vec<Baselines>,
    /// The cells, one per algorithm × workers × hold, with every round.
    pub cells: Vec<Cell>,
    /// The algorithms that hand out fences (a resource can refuse a stale holder's write).
    #[serde(default)]
    pub fenced: Vec<String>,
}

/// Where the bench ran.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Machine {
    /// Cores available to the bench.
    pub nproc: usize,
    /// `uname -r`.
    pub kernel: String,
    /// The lock server's `redis_version`.
    pub redis_version: String,
    /// `git rev-parse HEAD` where the bench ran, if that worked.
    pub git_revision: Option<String>,
}

/// The baselines of one round.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Baselines {
    /// Median PING round trip on the lock server, µs.
    pub ping_us: f64,
    /// How it was taken (`cross-core` or `unpinned`).
    pub ping_placement: String,
    /// The same with both ends on one core, µs.
    pub ping_same_core_us: Option<f64>,
    /// `SET NX PX` + the release script on one connection, µs per pair.
    pub raw_lock_pair_us: LatencyUs,
    /// The hand-off chain per worker count, without the body: µs per hop.
    pub chain_hop_us: BTreeMap<u32, f64>,
    /// The chain with the body per worker count: turns (sections) per second.
    pub chain_body_turns_per_s: BTreeMap<u32, f64>,
    /// The section body alone (no lock, no turn) per process count: bodies per second. Always
    /// has 1 process, the rate of one body after another.
    #[serde(default)]
    pub body_alone_per_s: BTreeMap<u32, f64>,
}

/// One algorithm × workers × hold.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cell {
    /// The algorithm.
    pub algorithm: String,
    /// Worker processes.
    pub workers: u32,
    /// Hold time, ms.
    pub hold_ms: u64,
    /// One entry per round.
    pub rounds: Vec<CellRound>,
}

/// One cell in one round.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CellRound {
    /// Whether every checker was satisfied; false: the lock broke (or the run had trouble).
    pub valid: bool,
    /// Checker → verdict.
    pub verdicts: BTreeMap<String, String>,
    /// The run's report folder, kept when the cell was not valid.
    pub report_dir: Option<PathBuf>,
    /// Critical sections completed.
    pub sections: u64,
    /// Sections per second of lock work.
    pub sections_per_s: f64,
    /// Latencies and fairness from the history.
    #[serde(flatten)]
    pub history: figures::HistoryFigures,
    /// Commands the workers sent to the lock server, per acquisition; `None` for an adapter,
    /// whose commands another process sends and nobody counts.
    #[serde(default)]
    pub commands_sent_per_acquisition: Option<f64>,
    /// Commands the lock server ran, scripts' inner commands included, per acquisition.
    pub commands_incl_scripts_per_acquisition: Option<f64>,
    /// CPU time (user + system) of the worker processes per acquisition, µs.
    pub client_cpu_us_per_acquisition: f64,
    /// CPU time of the lock server (`INFO cpu`) per acquisition, µs.
    pub server_cpu_us_per_acquisition: Option<f64>,
    /// The same cell run again without recording (the cell the bench measures the harness
    /// overhead on, see [`overhead`]); `None` for the other cells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrecorded: Option<overhead::UnrecordedRun>,
}

impl Cell {
    /// Whether every round's checkers were satisfied.
    #[must_use]
    pub fn valid(&self) -> bool {
        self.rounds.iter().all(|r| r.valid)
    }

    /// The median over rounds of `f` (rounds where `f` says nothing are left out).
    pub fn median(&self, f: impl Fn(&CellRound) -> Option<f64>) -> Option<f64> {
        median(self.rounds.iter().filter_map(f).collect())
    }

    /// `(max - min) / median` of `f` over rounds.
    pub fn spread(&self, f: impl Fn(&CellRound) -> f64) -> f64 {
        let v: Vec<f64> = self.rounds.iter().map(f).collect();
        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        match median(v) {
            Some(m) if m > 0.0 => (hi - lo) / m,
            _ => 0.0,
        }
    }
}

impl BenchReport {
    /// The median over rounds of a baseline.
    pub fn baseline(&self, f: impl Fn(&Baselines) -> Option<f64>) -> Option<f64> {
        median(self.baselines.iter().filter_map(f).collect())
    }

    /// The cells whose lock broke in some round.
    pub fn broken(&self) -> impl Iterator<Item = &Cell> {
        self.cells.iter().filter(|c| !c.valid())
    }
}

/// The median of `v` (the mean of the middle two for an even count).
#[must_use]
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Runs the bench; answers the report and its folder.
pub async fn bench(opts: &BenchOptions) -> anyhow::Result<(BenchReport, PathBuf)> {
    let entries: Vec<Entry> =
        opts.algorithms.iter().map(|a| registry::find(a)).collect::<anyhow::Result<_>>()?;
    if let Some(quorum) = entries.iter().find(|e| e.quorum) {
        anyhow::bail!(
            "`{}` is a quorum lock over independent servers, and the bench runs every cell on one \
             lock server: leave it out, and measure it with `contend run` on a scenario with \
             [server] count = 3 (e.g. scenarios/redlock-minority-down.toml)",
            quorum.name
        );
    }
    anyhow::ensure!(
        !entries.is_empty() && !opts.workers.is_empty() && !opts.holds_ms.is_empty(),
        "a bench needs at least one algorithm, worker count and hold time"
    );
    anyhow::ensure!(opts.workers.iter().all(|&w| w >= 1), "--workers: each count must be >= 1");
    anyhow::ensure!(opts.rounds >= 1 && opts.sections >= 1, "--rounds and --sections must be >= 1");
    let started_utc = crate::report::utc_stamp();
    let dir = opts.out.join(format!("bench-{started_utc}"));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the bench folder {}", dir.display()))?;
    let runs = dir.join("runs");
    let start = || RedisServer::start().context("cannot start a local redis-server");
    let (lock, witness) = (start()?, start()?);
    let mut conn = crate::servers::connect(&lock.url()).await?;
    let machine = machine(&mut conn).await;
    let mut report = BenchReport {
        started_utc,
        machine,
        algorithms: entries.iter().map(|e| e.name.to_string()).collect(),
        workers: opts.workers.clone(),
        holds_ms: opts.holds_ms.clone(),
        rounds: opts.rounds,
        sections_per_cell: opts.sections,
        baselines: Vec::new(),
        cells: Vec::new(),
        fenced: entries.iter().filter(|e| e.fenced()).map(|e| e.name.to_string()).collect(),
    };
    let measured = overhead::representative(&opts.workers, &opts.holds_ms);
    for &hold in &opts.holds_ms {
        for &w in &opts.workers {
            for e in &entries {
                report.cells.push(Cell {
                    algorithm: e.name.to_string(),
                    workers: w,
                    hold_ms: hold,
                    rounds: Vec::new(),
                });
            }
        }
    }
    let per_round = report.cells.len() as u64;
    let bar = output::progress(per_round * u64::from(opts.rounds));
    let mut broken = 0u32;
    for round in 0..opts.rounds {
        bar.set_message(format!("round {}: baselines", round + 1));
        let b = baselines(&lock, &witness, &mut conn, &opts.workers, round, opts.sections).await?;
        report.baselines.push(b);
        for i in 0..report.cells.len() {
            let (alg, w, hold) = (
                report.cells[i].algorithm.clone(),
                report.cells[i].workers,
                report.cells[i].hold_ms,
            );
            bar.set_message(format!(
                "round {} {alg} × {w} workers × hold {hold} ms; broken so far: {broken}",
                round + 1
            ));
            // The entry itself, not a look-up by name: an adapter named `adapter:PATH` has
            // only its manifest's name here.
            let entry = *entries.iter().find(|e| e.name == alg).context("a cell's algorithm")?;
            let mut r =
                cell(entry, w, hold, opts.sections, &lock, &witness, &mut conn, &runs).await?;
            if measured == Some((w, hold)) {
                bar.set_message(format!(
                    "round {} {alg} × {w} workers × hold {hold} ms, unrecorded",
                    round + 1
                ));
                let s = scenario(&entry, w, hold, opts.sections)?;
                let u = overhead::unrecorded(entry, &s, &lock.url(), &witness.url()).await?;
                if !u.valid() {
                    r.valid = false;
                    r.verdicts.insert("unrecorded-counter".into(), "invalid".into());
                }
                r.unrecorded = Some(u);
            }
            if !r.valid {
                broken += 1;
                bar.suspend(|| {
                    eprintln!(
                        "contend bench: LOCK BROKE — {alg} × {w} workers × hold {hold} ms \
                         (round {}): {:?}; report kept in {}",
                        round + 1,
                        r.verdicts,
                        r.report_dir.as_deref().unwrap_or(Path::new("?")).display()
                    );
                });
            }
            report.cells[i].rounds.push(r);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_dir(&runs);
    output::write(&dir, &report)?;
    let latest = opts.out.join("latest");
    let _ = std::fs::remove_file(&latest);
    if let Some(name) = dir.file_name() {
        let _ = std::os::unix::fs::symlink(name, &latest);
    }
    Ok((report, dir))
}

/// nproc, kernel, server version, git revision.
async fn machine(conn: &mut redis::aio::MultiplexedConnection) -> Machine {
    let info: String = redis::cmd("INFO").arg("server").query_async(conn).await.unwrap_or_default();
    let git = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        redis_version: info_field(&info, "redis_version").unwrap_or_default().to_string(),
        git_revision: git,
    }
}

fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}

/// The lock server's CPU time so far (user + system), µs.
async fn server_cpu_us(conn: &mut redis::aio::MultiplexedConnection) -> Option<f64> {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(conn).await.ok()?;
    let f = |n| info_field(&info, n)?.parse::<f64>().ok();
    Some((f("used_cpu_user")? + f("used_cpu_sys")?) * 1e6)
}

/// CPU time of the reaped children so far (user + system), µs.
fn children_cpu_us() -> f64 {
    // SAFETY: rusage is plain data; getrusage only writes into it.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    tv(u.ru_utime) + tv(u.ru_stime)
}

async fn baselines(
    lock: &RedisServer,
    witness: &RedisServer,
    conn: &mut redis::aio::MultiplexedConnection,
    workers: &[u32],
    round: u32,
    sections: u32,
) -> anyhow::Result<Baselines> {
    let ping = crate::ping::measure(conn, lock.pid()).await?;
    let raw = baseline::raw_pair(conn, &format!("bench:raw:{round}")).await?;
    let mut b = Baselines {
        ping_us: ping.p50_us,
        ping_placement: ping.placement.name().to_string(),
        ping_same_core_us: ping.same_core_p50_us,
        raw_lock_pair_us: raw,
        ..Baselines::default()
    };
    let mut alone: Vec<u32> = workers.to_vec();
    alone.push(1);
    alone.sort_unstable();
    alone.dedup();
    for w in alone {
        let prefix = format!("bench:body:{round}:{w}:");
        let (l, wi) = (lock.url(), witness.url());
        let rate = baseline::body_alone(&l, &wi, &prefix, w, sections.into()).await?;
        b.body_alone_per_s.insert(w, rate);
    }
    for &w in workers {
        for body in [false, true] {
            let prefix = format!("bench:chain:{round}:{w}:{body}:");
            let (l, wi) = (lock.url(), witness.url());
            let c = baseline::chain(&l, &wi, &prefix, w, u64::from(sections), body).await?;
            if body {
                b.chain_body_turns_per_s.insert(w, c.turns_per_s);
            } else {
                b.chain_hop_us.insert(w, c.per_turn_us);
            }
        }
    }
    Ok(b)
}

/// The scenario of a cell: the documents' increment test with `workers` × enough iterations for
/// `sections` sections, a fixed hold, and (for the reference algorithms) every checker expected
/// valid. Without a table (specimens, adapters) any verdict but `invalid` is as expected.
fn scenario(entry: &Entry, workers: u32, hold_ms: u64, sections: u32) -> anyhow::Result<Scenario> {
    let iterations = sections.div_ceil(workers).max(1);
    let mut text = format!(
        "description = \"bench: {workers} workers increment a counter, hold {hold_ms} ms\"\n\
         workers = {workers}\niterations = {iterations}\nmax_duration_ms = 600000\n\
         [lock]\nttl_ms = 10000\nwait_ms = 60000\n"
    );
    if hold_ms > 0 {
        text.push_str(&format!(
            "[section]\nhold = {{ distribution = \"fixed\", ms = {hold_ms} }}\n"
        ));
    }
    if entry.class == Class::Reference {
        let fencing = if entry.fenced() { "valid" } else { "any" };
        text.push_str(&format!(
            "[expect.{}]\nmutual-exclusion = \"valid\"\nlost-updates = \"valid\"\n\
             ownership = \"valid\"\nfencing = \"{fencing}\"\nliveness = \"valid\"\n",
            entry.name
        ));
    }
    Scenario::parse(&text, Path::new("bench-increment.toml"))
}

#[allow(clippy::too_many_arguments)]
async fn cell(
    entry: Entry,
    workers: u32,
    hold_ms: u64,
    sections: u32,
    lock: &RedisServer,
    witness: &RedisServer,
    conn: &mut redis::aio::MultiplexedConnection,
    runs: &Path,
) -> anyhow::Result<CellRound> {
    let scenario = scenario(&entry, workers, hold_ms, sections)?;
    let opts = RunOptions {
        server: ServerChoice::Url(lock.url()),
        witness: Some(witness.url()),
        seed: None,
        out: runs.to_path_buf(),
        workers: None,
        iterations: None,
        scale: None,
        progress: false,
    };
    let (cpu0, srv0) = (children_cpu_us(), server_cpu_us(conn).await);
    let calls0 = crate::servers::commandstats(conn).await.ok();
    let results = crate::run::run(&scenario, entry, &opts).await?;
    let calls1 = crate::servers::commandstats(conn).await.ok();
    let (cpu1, srv1) = (children_cpu_us(), server_cpu_us(conn).await);
    // With URL servers the run leaves this figure to us; the run's key clean-up (a DEL or two
    // per cell) is counted with it.
    let internal = calls0.zip(calls1).map(|(a, b)| crate::servers::calls_between(&a, &b));
    let history = {
        let file = std::fs::File::open(results.dir.join("history.jsonl"))
            .with_context(|| format!("the cell's history in {}", results.dir.display()))?;
        let mut h = crate::history::read_jsonl(std::io::BufReader::new(file))?;
        crate::history::sort(&mut h);
        h
    };
    let s = &results.stats;
    let acq = s.acquisitions.max(1) as f64;
    let valid = results.as_expected;
    let report_dir = if valid {
        let _ = std::fs::remove_dir_all(&results.dir);
        let _ = std::fs::remove_file(runs.join("latest"));
        None
    } else {
        Some(results.dir.clone())
    };
    Ok(CellRound {
        valid,
        verdicts: results
            .checkers
            .iter()
            .map(|(k, c)| (k.clone(), c.result.verdict.to_string()))
            .collect(),
        report_dir,
        sections: s.completed,
        sections_per_s: s.throughput_per_s,
        history: figures::from_history(&history),
        commands_sent_per_acquisition: (entry.class != Class::Adapter)
            .then_some(s.server_commands_per_acquisition),
        commands_incl_scripts_per_acquisition: s
            .server_commands_per_acquisition_incl_scripts
            .or(internal.map(|n| n as f64 / acq)),
        client_cpu_us_per_acquisition: (cpu1 - cpu0) / acq,
        server_cpu_us_per_acquisition: srv0.zip(srv1).map(|(a, b)| (b - a) / acq),
        unrecorded: None,
    })
}
