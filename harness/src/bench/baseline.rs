//! The baselines a bench measures in the same run as its cells, so that every figure is also a
//! ratio to something this machine did in the same minutes:
//!
//! - a PING round trip ([`crate::ping`]: cross-core when both ends can be pinned);
//! - the raw commands of an owner-checked lock: `SET key token NX PX` and the release script
//!   (`GET` = token → `DEL`) on one connection, with no lock code;
//! - the hand-off chain: N worker **processes** (`contend bench-chain`) pass a turn around a ring
//!   through the lock server with `BLPOP`/`RPUSH` and nothing else — no lock code, no recording.
//!   One hop (the turn pushed → the next process has it and pushes on) is the physical floor of a
//!   cross-process hand-off; a second chain also runs the section's body (`GET`/`SET` of a
//!   counter on the witness) in each turn, the floor of sections/s with that many processes.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::figures::LatencyUs;

/// The release script of an owner-checked lock, as the raw baseline sends it.
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// One acquire + release pair of raw commands, µs.
pub async fn raw_pair(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
) -> anyhow::Result<LatencyUs> {
    let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg(RELEASE).query_async(conn).await?;
    let mut samples = Vec::with_capacity(500);
    for i in 0..520u32 {
        let token = format!("raw-{i}");
        let t = crate::clock::monotonic_ns();
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(10_000)
            .query_async(conn)
            .await
            .context("raw SET NX PX")?;
        let del: i64 = redis::cmd("EVALSHA")
            .arg(&sha)
            .arg(1)
            .arg(key)
            .arg(&token)
            .query_async(conn)
            .await
            .context("raw release script")?;
        let took = crate::clock::monotonic_ns() - t;
        if set.is_none() || del != 1 {
            bail!("the raw lock baseline did not own its key {key}: is something else using it?");
        }
        if i >= 20 {
            samples.push(took);
        }
    }
    Ok(LatencyUs::of(samples))
}

/// One run of the hand-off chain: what a turn cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChainRun {
    /// Processes in the ring.
    pub processes: u32,
    /// Turns passed in all.
    pub turns: u64,
    /// Whether each turn also ran the body (`GET`/`SET` on the witness).
    pub body: bool,
    /// Wall time per turn, µs: one hop without the body; hop + body with it.
    pub per_turn_us: f64,
    /// Turns per second.
    pub turns_per_s: f64,
}

/// Runs the chain with `processes` processes and about `turns` turns in all.
pub async fn chain(
    lock_url: &str,
    witness_url: &str,
    prefix: &str,
    processes: u32,
    turns: u64,
    body: bool,
) -> anyhow::Result<ChainRun> {
    let per = turns.div_ceil(u64::from(processes)).max(1);
    let exe = std::env::current_exe().context("the contend binary, to start the chain")?;
    let conn = redis::Client::open(lock_url)?
        .get_multiplexed_async_connection()
        .await
        .context("connect for the chain")?;
    let mut children = Kids(Vec::new());
    for i in 0..processes {
        let mut cmd = Command::new(&exe);
        cmd.arg("bench-chain")
            .args(["--url", lock_url, "--prefix", prefix])
            .args(["--index", &i.to_string(), "--of", &processes.to_string()])
            .args(["--turns", &per.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if body {
            cmd.args(["--body", witness_url]);
        }
        children.0.push(cmd.spawn().context("start a chain process")?);
    }
    let pop = |key: String| {
        let mut c = conn.clone();
        async move {
            let got: Option<(String, String)> =
                redis::cmd("BLPOP").arg(&key).arg(60).query_async(&mut c).await?;
            got.with_context(|| format!("the chain did not answer on {key} within 60 s"))
        }
    };
    for _ in 0..processes {
        pop(format!("{prefix}ready")).await?;
    }
    let t0 = crate::clock::monotonic_ns();
    redis::cmd("RPUSH")
        .arg(format!("{prefix}turn:0"))
        .arg(1)
        .query_async::<i64>(&mut conn.clone())
        .await?;
    pop(format!("{prefix}done")).await?;
    let took = crate::clock::monotonic_ns() - t0;
    children.wait()?;
    let total = per * u64::from(processes);
    let per_turn_us = took as f64 / 1000.0 / total as f64;
    Ok(ChainRun {
        processes,
        turns: total,
        body,
        per_turn_us,
        turns_per_s: if took > 0 { total as f64 * 1e9 / took as f64 } else { 0.0 },
    })
}

/// The chain's processes; any still running when this is dropped are killed and reaped.
struct Kids(Vec<Child>);

impl Kids {
    fn wait(&mut self) -> anyhow::Result<()> {
        for mut c in self.0.drain(..) {
            let status = c.wait()?;
            if !status.success() {
                bail!("a chain process failed ({status})");
            }
        }
        Ok(())
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The arguments of one chain process (`contend bench-chain`, hidden).
#[derive(Clone, Debug, clap::Args)]
pub struct ChainArgs {
    /// The lock server.
    #[arg(long)]
    pub url: String,
    /// The key prefix of this chain.
    #[arg(long)]
    pub prefix: String,
    /// This process's place in the ring.
    #[arg(long)]
    pub index: u32,
    /// Processes in the ring.
    #[arg(long)]
    pub of: u32,
    /// Turns this process takes.
    #[arg(long)]
    pub turns: u64,
    /// Run the section body on this server in each turn.
    #[arg(long)]
    pub body: Option<String>,
}

/// One chain process: waits for its turn, (runs the body,) passes the turn on; the last turn of
/// the last process says `done`.
pub fn chain_process(a: &ChainArgs) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(60);
    let mut conn = redis::Client::open(a.url.as_str())?.get_connection_with_timeout(timeout)?;
    let mut body = match &a.body {
        Some(url) => Some(redis::Client::open(url.as_str())?.get_connection()?),
        None => None,
    };
    let mine = format!("{}turn:{}", a.prefix, a.index);
    let next = format!("{}turn:{}", a.prefix, (a.index + 1) % a.of);
    let counter = format!("{}counter", a.prefix);
    redis::cmd("RPUSH").arg(format!("{}ready", a.prefix)).arg(1).query::<i64>(&mut conn)?;
    for turn in 1..=a.turns {
        let got: Option<(String, String)> =
            redis::cmd("BLPOP").arg(&mine).arg(60).query(&mut conn)?;
        if got.is_none() {
            bail!("no turn came to chain process {} within 60 s", a.index);
        }
        if let Some(b) = body.as_mut() {
            let v: Option<i64> = redis::cmd("GET").arg(&counter).query(b)?;
            redis::cmd("SET").arg(&counter).arg(v.unwrap_or(0) + 1).query::<()>(b)?;
        }
        let last = turn == a.turns && a.index + 1 == a.of;
        let to = if last { format!("{}done", a.prefix) } else { next.clone() };
        redis::cmd("RPUSH").arg(&to).arg(1).query::<i64>(&mut conn)?;
    }
    Ok(())
}
