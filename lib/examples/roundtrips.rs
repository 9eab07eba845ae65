//! Measures what a lock costs in round trips, against a PING on the same connection, in one run.
//!
//! ```text
//! cargo run --release -p redmutex --features testing --example roundtrips
//! ```
//!
//! Starts its own `redis-server`, then prints one JSON object:
//! - `ping_us_p50`: PING round trip (µs, median);
//! - `algorithms.<name>`: uncontended acquire+release median and its ratio to the PING median
//!   (the floor is two round trips: one to take the lock, one to give it back);
//! - `handoff.notify`: 16 tasks on separate connections contend; `rtt_p50`/`rtt_p99` are the
//!   time from a holder starting its release to the next holder having the lock, in PING round
//!   trips; `server_commands_per_acquisition` counts the commands clients sent (each one a
//!   command the server executed at top level), `server_calls_incl_scripts_per_acquisition`
//!   also counts the calls scripts made inside the server (`INFO commandstats` counts both).
//!
//! Batches of each measurement are interleaved so that a machine getting busier or idler
//! during the run shifts all figures alike.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redmutex::driver::{Connection, Timeouts};
use redmutex::proto::Command;
use redmutex::testing::RedisServer;
use redmutex::{Algorithm, Lock};
use serde_json::{Value, json};

const ROUNDS: usize = 20;
const BATCH: usize = 100;
const CONTENDERS: usize = 16;
const HANDOFF_ACQUISITIONS: usize = 4000;

// One thread: the figures are the lock's cost, not the cost of hopping between worker threads
// (PING pays the same either way; with a multi-threaded runtime all ratios rise a little).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = RedisServer::start()?;
    let url = server.url();
    let conn = Connection::open(&url, Timeouts::default()).await?;
    let mut locks = Vec::new();
    for algorithm in Algorithm::ALL {
        let lock = Lock::builder(format!("rt-{algorithm}"))
            .ttl(Duration::from_secs(10))
            .algorithm(algorithm)
            .on(conn.clone())?;
        locks.push((algorithm, lock, Vec::new()));
    }
    let mut pings = Vec::new();
    for _ in 0..ROUNDS {
        for _ in 0..BATCH {
            let t = Instant::now();
            conn.exec(&Command::Ping).await?;
            pings.push(t.elapsed());
        }
        for (_, lock, samples) in &mut locks {
            for _ in 0..BATCH {
                let t = Instant::now();
                let guard = lock.acquire().await?;
                guard.release().await?;
                samples.push(t.elapsed());
            }
        }
    }
    let ping = percentile(&mut pings, 0.5);
    let mut algorithms = serde_json::Map::new();
    for (algorithm, _, mut samples) in locks {
        let p50 = percentile(&mut samples, 0.5);
        algorithms.insert(
            algorithm.name().into(),
            json!({ "acquire_release_us_p50": us(p50), "ratio_to_ping": ratio(p50, ping) }),
        );
    }
    let handoff = handoff(&url, ping).await?;
    let report = json!({
        "ping_us_p50": us(ping),
        "algorithms": algorithms,
        "handoff": { "notify": handoff },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// 16 contenders, each on its own connection, take and give back the lock in a tight loop.
async fn handoff(url: &str, ping: Duration) -> Result<Value, Box<dyn std::error::Error>> {
    let mut contenders = Vec::new();
    for _ in 0..CONTENDERS {
        let lock = Lock::builder("rt-handoff")
            .ttl(Duration::from_secs(10))
            .wait_timeout(Duration::from_secs(60))
            .algorithm(Algorithm::Notify)
            .connect(url)
            .await?;
        contenders.push(lock);
    }
    // Warm up each connection's script cache and blocking connection outside the figures.
    for lock in &contenders {
        lock.acquire().await?.release().await?;
    }
    let mut admin = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
    let () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut admin).await?;
    let sent_before: u64 = contenders.iter().map(|l| l.connection().commands_sent()).sum();
    let release_started: Arc<Mutex<Option<Instant>>> = Arc::default();
    let handoffs: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let per_task = HANDOFF_ACQUISITIONS / CONTENDERS;
    let mut tasks = Vec::new();
    for lock in contenders.clone() {
        let (release_started, handoffs) = (Arc::clone(&release_started), Arc::clone(&handoffs));
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                let guard = lock.acquire().await?;
                let previous = release_started.lock().map_err(|_| "poisoned")?.take();
                if let Some(t) = previous {
                    handoffs.lock().map_err(|_| "poisoned")?.push(t.elapsed());
                }
                *release_started.lock().map_err(|_| "poisoned")? = Some(Instant::now());
                guard.release().await?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    for task in tasks {
        task.await?.map_err(|e| e.to_string())?;
    }
    let sent: u64 =
        contenders.iter().map(|l| l.connection().commands_sent()).sum::<u64>() - sent_before;
    let calls = commandstats_calls(&mut admin).await?;
    let acquisitions = (per_task * CONTENDERS) as f64;
    let mut handoffs = handoffs.lock().map_err(|_| "poisoned")?.clone();
    let (p50, p99) = (percentile(&mut handoffs, 0.5), percentile(&mut handoffs, 0.99));
    Ok(json!({
        "contenders": CONTENDERS,
        "acquisitions": acquisitions,
        "rtt_p50": ratio(p50, ping),
        "rtt_p99": ratio(p99, ping),
        "server_commands_per_acquisition": round2(sent as f64 / acquisitions),
        "server_calls_incl_scripts_per_acquisition": round2(calls as f64 / acquisitions),
    }))
}

/// Every call `INFO commandstats` counts (top-level and inside scripts), less the INFO itself
/// and the CONFIG RESETSTAT.
async fn commandstats_calls(
    admin: &mut MultiplexedConnection,
) -> Result<u64, Box<dyn std::error::Error>> {
    let text: String = redis::cmd("INFO").arg("commandstats").query_async(admin).await?;
    let mut total = 0;
    for line in text.lines().filter(|l| l.starts_with("cmdstat_")) {
        if line.starts_with("cmdstat_info") || line.starts_with("cmdstat_config") {
            continue;
        }
        let calls = line.split(&[':', ',']).find_map(|f| f.strip_prefix("calls="));
        total += calls.and_then(|c| c.parse::<u64>().ok()).ok_or("unreadable commandstats line")?;
    }
    Ok(total)
}

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples.get(i).copied().unwrap_or_default()
}

fn us(d: Duration) -> f64 {
    round2(d.as_secs_f64() * 1e6)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    round2(a.as_secs_f64() / b.as_secs_f64().max(1e-9))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
