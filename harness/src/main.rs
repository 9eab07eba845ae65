//! `contend`: runs many real processes contending for a Redis lock, injects faults, records
//! what happened, and checks the lock's promises. See `docs/scenarios.md` and `scenarios/`.
//!
//! Exit codes: 0 every verdict as expected; 1 a violation or an unexpected verdict; 2 a usage or
//! setup error; 130 interrupted (Ctrl-C), after stopping every process the run started.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use contend::registry;
use contend::run::{Interrupted, RunOptions};
use contend::scenario::Scenario;
use contend::servers::ServerChoice;

#[derive(Parser)]
#[command(
    name = "contend",
    version,
    about = "Many processes contend for a Redis lock; faults are injected; the lock's promises are checked."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// Say what the coordinator does, on stderr: `-v` the runs, cells and faults struck;
    /// `-vv` also the servers and every worker started and ended; `-vvv` everything.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one scenario with one algorithm.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// The algorithm (see `contend list`; default: notify), or an adapter:
        /// `adapter:PATH/TO/MANIFEST.toml` (see docs/adapters.md).
        #[arg(long, short)]
        algorithm: Option<String>,
        /// Servers: `local` (own redis-server processes), `docker` (containers; needs the
        /// `docker` feature), `sim` (the seeded simulator, no server), or a redis:// URL (keys
        /// under a per-run prefix only, removed at the end). Default: $CONTEND_SERVER if set
        /// (keeps a URL's password off the command line), else `local`.
        #[arg(long)]
        server: Option<String>,
        /// With `--server URL`: a second server for the witness (the counter and the occupancy
        /// set), so that what the lock server does cannot touch what judges it. Default: the
        /// lock's own server (the report says so). Default: $CONTEND_WITNESS if set.
        #[arg(long)]
        witness: Option<String>,
        /// Seed (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Folder for the report folder.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Worker processes, at least 1 (default: the scenario's).
        #[arg(long)]
        workers: Option<u32>,
        /// Iterations per worker, at least 1 (default: the scenario's).
        #[arg(long)]
        iterations: Option<u32>,
        /// Scale of the specimens' document sleeps and poll delays, above 0 and at most 1000
        /// (default: the scenario's).
        #[arg(long, allow_negative_numbers = true)]
        scale: Option<f64>,
    },
    /// Run every scenario × algorithm with an expectation; exit 1 when a promise breaks or a
    /// specimen's known bug goes undetected.
    Gate {
        /// The scenario folder.
        #[arg(default_value = "scenarios")]
        dir: PathBuf,
        /// Write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write the "what breaks what" table (scenario × algorithm → the checkers that found a
        /// violation) here, as Markdown.
        #[arg(long)]
        breaks: Option<PathBuf>,
        /// Servers, as for `run` (default: $CONTEND_SERVER, else `local`).
        #[arg(long)]
        server: Option<String>,
        /// The witness server with a URL server, as for `run`.
        #[arg(long)]
        witness: Option<String>,
        /// Folder for the report folders.
        #[arg(long, default_value = "reports/gate")]
        out: PathBuf,
    },
    /// Simulate clients of an algorithm against a model of Redis, seeded, and print the verdicts
    ///
    /// On a violation, it prints the counterexample and the command that replays it.
    ///
    /// A violation is a broken promise: a lease handed out twice, an ownership or fencing
    /// finding, an update lost with no overlap to explain it (for a fenced lock, any), and,
    /// without pauses, delays or restarts, an acquire past its wait or a crashed holder's lock
    /// not taken again in time. A holder outliving its lease (`lease-outlived`) and starvation
    /// make a checker say invalid, but are not violations: no lock can prevent the first (fencing
    /// exists for it), and the second is a fairness figure. Exit 0 without a violation, 1 with.
    #[command(verbatim_doc_comment)]
    Sim(contend::sim::cli::SimArgs),
    /// How fast the simulator finds each specimen's bugs; how many seeds the reference
    /// algorithms pass.
    SimCoverage(contend::sim::cli::CoverageArgs),
    /// Check a saved history again: a report folder (its history.jsonl, and the context and
    /// expectations in its results.json); prints each checker's verdict and findings, and exits
    /// 0 when every verdict is as the run expected and the run had no worker trouble, 1
    /// otherwise.
    Check {
        /// The report folder.
        dir: PathBuf,
    },
    /// Compare algorithms side by side: algorithms × worker counts × hold times, each cell a real
    /// run with every checker on, in interleaved rounds, with baselines (PING, the raw lock
    /// commands, a bare hand-off chain) measured in the same run; writes bench.json, bench.md
    /// and bench.html into a folder under --out. Exit 1 when a cell's lock broke.
    Bench {
        /// An algorithm (repeatable; default: token, notify, fenced), adapters included
        /// (`adapter:PATH/TO/MANIFEST.toml`, see docs/adapters.md).
        #[arg(long = "algorithm", short)]
        algorithms: Vec<String>,
        /// Worker counts, comma-separated (default: 1,2,4,8,16,32).
        #[arg(long, value_delimiter = ',')]
        workers: Vec<u32>,
        /// Hold times in ms, comma-separated (default: 0,1).
        #[arg(long, value_delimiter = ',')]
        hold: Vec<u64>,
        /// Rounds over the whole matrix (default: 3).
        #[arg(long)]
        rounds: Option<u32>,
        /// Critical sections per cell (default: 1000).
        #[arg(long)]
        sections: Option<u32>,
        /// The CI bench: token and notify × 1 and 4 workers × hold 0 × 1 round of 200 sections
        /// (flags given beside it still apply).
        #[arg(long)]
        quick: bool,
        /// Folder for the bench folder.
        #[arg(long, default_value = "reports/bench")]
        out: PathBuf,
        /// After the bench, replace the text between `<!-- choosing:begin -->` and
        /// `<!-- choosing:end -->` in this document with the run's "choosing an algorithm"
        /// (its plot goes beside the document as bench-choosing.svg).
        #[arg(long, value_name = "FILE")]
        update_docs: Option<PathBuf>,
        /// Run no bench: take the figures of this bench.json (with --update-docs).
        #[arg(long, value_name = "BENCH_JSON", requires = "update_docs")]
        from: Option<PathBuf>,
    },
    /// One process of the bench's hand-off chain (started by `contend bench`).
    #[command(hide = true)]
    BenchChain(contend::bench::baseline::ChainArgs),
    /// List the algorithms (adapters: the manifests in `adapters/` and $CONTEND_ADAPTERS).
    List,
    /// Adapters: locks in other processes, spoken to over the adapter protocol
    /// (docs/adapters.md).
    #[command(subcommand)]
    Adapter(AdapterCmd),
    /// A worker process (started by the coordinator).
    #[command(hide = true)]
    Worker,
}

#[derive(Subcommand)]
enum AdapterCmd {
    /// A conformance check of an adapter against a redis-server of its own: handshake, acquire,
    /// a wait that times out, release, a stale release, extend, shutdown. Exit 0 when every step
    /// passed, 1 otherwise.
    Check {
        /// The adapter's manifest (TOML).
        manifest: PathBuf,
    },
    /// Serve a built-in algorithm over the adapter protocol on stdin/stdout.
    Serve {
        /// The algorithm (reference or specimen; see `contend list`).
        algorithm: String,
        /// Scale of a specimen's document sleeps and poll delays.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Print a manifest that runs this command, and exit.
        #[arg(long)]
        manifest: bool,
    },
}

/// `-v` logs on stderr (nothing below a warning without it), with colour only on a terminal.
fn logs(verbose: u8) {
    use std::io::IsTerminal as _;
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::Worker = &cli.command {
        return match contend::worker::main() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.is::<contend::adapter::AdapterFailed>() => {
                eprintln!("{e}");
                ExitCode::from(contend::adapter::ADAPTER_FAILED_EXIT)
            }
            Err(e) => {
                eprintln!("{}", causes(&e));
                ExitCode::from(3)
            }
        };
    }
    if let Cmd::BenchChain(args) = &cli.command {
        return match contend::bench::baseline::chain_process(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}", causes(&e));
                ExitCode::from(3)
            }
        };
    }
    logs(cli.verbose);
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // Local servers die with the thread that started them: this one, for the whole run.
    match rt.block_on(command(cli.command)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if e.is::<Interrupted>() => {
            eprintln!("\ncontend: {e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {}", causes(&e));
            ExitCode::from(2)
        }
    }
}

/// `--server` (or `$CONTEND_SERVER`), parsed here rather than by the argument parser, which
/// would echo the value (a password in a URL included) in its error.
fn server_choice(given: Option<String>) -> anyhow::Result<ServerChoice> {
    let (text, from) = match given {
        Some(text) => (text, "--server"),
        None => match std::env::var(SERVER_ENV) {
            Ok(text) if !text.is_empty() => (text, SERVER_ENV),
            _ => ("local".to_string(), "--server"),
        },
    };
    text.parse().map_err(|e: String| anyhow::anyhow!("{from}: {e}"))
}

/// `--witness` (or `$CONTEND_WITNESS`): a redis:// URL, checked here so an error never echoes it.
fn witness_url(given: Option<String>) -> anyhow::Result<Option<String>> {
    let text = given.or_else(|| std::env::var(WITNESS_ENV).ok().filter(|t| !t.is_empty()));
    match text {
        None => Ok(None),
        Some(t) => match t.parse() {
            Ok(ServerChoice::Url(url)) => Ok(Some(url)),
            _ => anyhow::bail!(
                "--witness: `{}` is not a redis://HOST:PORT URL",
                contend::servers::redact(&t)
            ),
        },
    }
}

/// The environment variable that gives `--witness` when the flag is not given.
const WITNESS_ENV: &str = "CONTEND_WITNESS";

/// The environment variable that gives `--server` when the flag is not given.
const SERVER_ENV: &str = "CONTEND_SERVER";

/// The error and its causes joined by ": ", leaving out a cause that only repeats the text
/// before it (a Redis error shows its I/O cause, and also names it as its source).
fn causes(e: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut last = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if last.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
        last = cause;
    }
    text
}

async fn command(cmd: Cmd) -> anyhow::Result<bool> {
    match cmd {
        Cmd::Run {
            scenario,
            algorithm,
            server,
            witness,
            seed,
            out,
            workers,
            iterations,
            scale,
        } => {
            let scenario = Scenario::load(&scenario)?;
            let entry = registry::find(algorithm.as_deref().unwrap_or(registry::default_name()))?;
            // The chosen algorithm's own table counts even when it is an adapter named by path.
            let unknown = |n: &&String| n.as_str() != entry.name && registry::find(n).is_err();
            for name in scenario.expect.keys().filter(unknown) {
                eprintln!(
                    "warning: {}: [expect.{name}] names no known algorithm, so nothing uses it \
                     (`contend list` shows the names)",
                    scenario.path.display()
                );
            }
            let server = server_choice(server)?;
            let opts = RunOptions {
                server,
                witness: witness_url(witness)?,
                seed,
                out,
                workers,
                iterations,
                scale,
                progress: true,
            };
            let results = contend::run::run(&scenario, entry, &opts).await?;
            print!("{}", results.table());
            Ok(results.as_expected)
        }
        Cmd::Gate { dir, junit, breaks, server, witness, out } => {
            let opts = RunOptions {
                server: server_choice(server)?,
                witness: witness_url(witness)?,
                seed: None,
                out,
                workers: None,
                iterations: None,
                scale: None,
                progress: false,
            };
            let passed =
                contend::gate::gate(&dir, junit.as_deref(), breaks.as_deref(), &opts).await?;
            println!("gate: {}", if passed { "PASSED" } else { "FAILED" });
            Ok(passed)
        }
        Cmd::Sim(args) => contend::sim::cli::sim(&args),
        Cmd::SimCoverage(args) => contend::sim::cli::sim_coverage(&args),
        Cmd::Check { dir } => check(&dir),
        Cmd::List => {
            for e in registry::all() {
                println!("{:<24} {:<9}  {}", e.name, e.class.name(), e.summary);
            }
            Ok(true)
        }
        Cmd::Adapter(AdapterCmd::Check { manifest }) => {
            contend::adapter::check::check(&manifest).await
        }
        Cmd::Adapter(AdapterCmd::Serve { algorithm, scale, manifest: true }) => {
            print!("{}", contend::adapter::serve::manifest_text(&algorithm, scale)?);
            Ok(true)
        }
        Cmd::Adapter(AdapterCmd::Serve { algorithm, scale, manifest: false }) => {
            contend::adapter::serve::serve(&algorithm, scale).await?;
            Ok(true)
        }
        Cmd::Bench { from: Some(json), update_docs: Some(doc), .. } => {
            use anyhow::Context as _;
            let text = std::fs::read_to_string(&json)
                .with_context(|| format!("cannot read {}", json.display()))?;
            let report: contend::bench::BenchReport = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a bench.json", json.display()))?;
            contend::bench::choosing::update_docs(&report, &doc)?;
            println!("updated {} from {}", doc.display(), json.display());
            Ok(true)
        }
        Cmd::Bench {
            algorithms, workers, hold, rounds, sections, quick, out, update_docs, ..
        } => {
            use contend::bench::BenchOptions;
            let mut opts = if quick { BenchOptions::quick(out) } else { BenchOptions::full(out) };
            if !algorithms.is_empty() {
                opts.algorithms = algorithms;
            }
            if !workers.is_empty() {
                opts.workers = workers;
            }
            if !hold.is_empty() {
                opts.holds_ms = hold;
            }
            opts.rounds = rounds.unwrap_or(opts.rounds);
            opts.sections = sections.unwrap_or(opts.sections);
            let (report, dir) = contend::bench::bench(&opts).await?;
            print!("{}", contend::bench::markdown(&report));
            println!("bench folder: {}", dir.display());
            let broken = report.broken().count();
            if broken > 0 {
                eprintln!("contend bench: the LOCK BROKE in {broken} cell(s): see the list above");
            }
            if let Some(doc) = update_docs {
                contend::bench::choosing::update_docs(&report, &doc)?;
                println!("updated {}", doc.display());
            }
            Ok(broken == 0)
        }
        Cmd::Worker | Cmd::BenchChain(_) => Ok(true),
    }
}

/// Re-checks the history of report folder `dir`; true when every verdict is as the run expected
/// and the run had no worker trouble.
fn check(dir: &std::path::Path) -> anyhow::Result<bool> {
    use anyhow::Context as _;
    use contend::report::{Saved, expected_name, meets};
    use contend::scenario::Expect;
    let text = std::fs::read_to_string(dir.join("results.json")).with_context(|| {
        format!("cannot read {}/results.json: is it a report folder?", dir.display())
    })?;
    let results: Saved = serde_json::from_str(&text).with_context(|| {
        format!("{}/results.json is not the results of a `contend run`", dir.display())
    })?;
    println!(
        "{} × {}{}",
        results.scenario,
        results.algorithm,
        if results.time_limit_reached { " (the run reached its time limit)" } else { "" }
    );
    let file = std::fs::File::open(dir.join("history.jsonl"))
        .with_context(|| format!("cannot read {}/history.jsonl", dir.display()))?;
    let mut history = contend::history::read_jsonl(std::io::BufReader::new(file))?;
    contend::history::sort(&mut history);
    let started = std::time::Instant::now();
    let checked = contend::check::check_all(&history, &results.context);
    let took = started.elapsed();
    println!("  {:<18} {:<9} {:<15}", "checker", "verdict", "expected");
    let mut all_as_expected = true;
    for (name, r) in &checked {
        let saved = results.checkers.get(name);
        // Reports written before `any` was spelt out left it `null` under a stated table.
        let expected =
            saved.and_then(|c| c.expected).or(results.expectations_stated.then_some(Expect::Any));
        let as_expected = meets(expected, r);
        all_as_expected &= as_expected;
        let changed = match saved.map(|c| c.verdict) {
            Some(v) if v != r.verdict => format!(" (the run said {v})"),
            _ => String::new(),
        };
        println!(
            "  {name:<18} {:<9} {:<15} {:<10} {}{changed}",
            r.verdict.to_string(),
            expected_name(expected),
            if as_expected { "ok" } else { "UNEXPECTED" },
            r.reason.as_deref().unwrap_or("")
        );
        for f in &r.findings {
            println!("      {}: {} (events {:?})", f.kind, f.message, f.events);
        }
    }
    for kind in &results.faults_unstruck {
        all_as_expected = false;
        println!("  the planned fault `{kind}` never struck in the run: not as expected");
    }
    let trouble = results.worker_failures.len();
    if trouble > 0 {
        all_as_expected = false;
        println!(
            "  the run reported {trouble} worker trouble(s) (see its report): not as expected"
        );
    }
    println!("{} events checked in {:.3} s", history.len(), took.as_secs_f64());
    println!("  {}", if all_as_expected { "AS EXPECTED" } else { "NOT AS EXPECTED" });
    Ok(all_as_expected)
}
