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
//!   counter on the witness) in each turn, the floor of sections/s with that many processes;
//! - the section body alone: the same processes run only the body (`GET`/`SET` of a counter on
//!   the witness) in a loop, all at once, with no lock, no turn and no recording (updates are
//!   lost, as they would be without a lock): what the body costs by itself.

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
    let body_args = ["--body", witness_url];
    let args: &[&str] = if body { &body_args } else { &[] };
    let (mut children, per, conn) = start(lock_url, prefix, processes, turns, args).await?;
    for _ in 0..processes {
        pop(&conn, format!("{prefix}ready"), "the chain").await?;
    }
    let t0 = crate::clock::monotonic_ns();
    redis::cmd("RPUSH")
        .arg(format!("{prefix}turn:0"))
        .arg(1)
        .query_async::<i64>(&mut conn.clone())
        .await?;
    pop(&conn, format!("{prefix}done"), "the chain").await?;
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

/// The section body alone: `processes` processes each run about `turns / processes` bodies
/// (`GET`/`SET` of a counter on the witness) as fast as they can, all at once, with no lock.
/// Answers the bodies per second over all of them.
pub async fn body_alone(
    lock_url: &str,
    witness_url: &str,
    prefix: &str,
    processes: u32,
    turns: u64,
) -> anyhow::Result<f64> {
    let args = ["--free", "--body", witness_url];
    let (mut children, per, conn) = start(lock_url, prefix, processes, turns, &args).await?;
    for _ in 0..processes {
        pop(&conn, format!("{prefix}ready"), "the body processes").await?;
    }
    let t0 = crate::clock::monotonic_ns();
    let go = vec![1_i64; processes as usize];
    redis::cmd("RPUSH")
        .arg(format!("{prefix}go"))
        .arg(go)
        .query_async::<i64>(&mut conn.clone())
        .await?;
    for _ in 0..processes {
        pop(&conn, format!("{prefix}done"), "the body processes").await?;
    }
    let took = crate::clock::monotonic_ns() - t0;
    children.wait()?;
    let total = per * u64::from(processes);
    // The bodies ran: one process alone counts every one; racing processes lose updates, but
    // the last write counts at least one.
    let mut witness = redis::Client::open(witness_url)?.get_multiplexed_async_connection().await?;
    let counter: Option<u64> =
        redis::cmd("GET").arg(format!("{prefix}counter")).query_async(&mut witness).await?;
    let counter = counter.unwrap_or(0);
    if counter == 0 || counter > total || (processes == 1 && counter != total) {
        bail!("the body baseline counted {counter} for {total} bodies in {processes} process(es)");
    }
    Ok(if took > 0 { total as f64 * 1e9 / took as f64 } else { 0.0 })
}

/// Starts `processes` `contend bench-chain` processes with `args` besides their place in the
/// ring and their turns, about `turns / processes` each; answers them, the turns each takes, and
/// a connection to the lock server, through which they say they are ready and done.
async fn start(
    lock_url: &str,
    prefix: &str,
    processes: u32,
    turns: u64,
    args: &[&str],
) -> anyhow::Result<(Kids, u64, redis::aio::MultiplexedConnection)> {
    let per = turns.div_ceil(u64::from(processes)).max(1);
    let exe = std::env::current_exe().context("the contend binary, to start bench-chain")?;
    let conn = coordinator(lock_url).await?;
    let mut children = Kids(Vec::new());
    for i in 0..processes {
        let child = Command::new(&exe)
            .arg("bench-chain")
            .args(["--url", lock_url, "--prefix", prefix])
            .args(["--index", &i.to_string(), "--of", &processes.to_string()])
            .args(["--turns", &per.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("start a bench-chain process")?;
        children.0.push(child);
    }
    Ok((children, per, conn))
}

/// A connection to the lock server for the bench's side of the chain: without the client's
/// default response timeout (500 ms), which would cut short a `BLPOP` that waits, by its own
/// timeout, for the processes to be ready or done.
async fn coordinator(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    redis::Client::open(url)?
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .context("connect to the lock server for bench-chain")
}

/// Takes one entry off the list `key` (a process saying it is ready, or done), waiting up to
/// 60 s; `who` names the processes in the error.
async fn pop(
    conn: &redis::aio::MultiplexedConnection,
    key: String,
    who: &str,
) -> anyhow::Result<()> {
    let got: Option<(String, String)> = redis::cmd("BLPOP")
        .arg(&key)
        .arg(60)
        .query_async(&mut conn.clone())
        .await
        .with_context(|| format!("waiting for {who} on {key}"))?;
    got.map(drop).with_context(|| format!("{who} did not answer on {key} within 60 s"))
}

/// Processes the bench started; any still running when this is dropped are killed and reaped.
pub(super) struct Kids(pub(super) Vec<Child>);

impl Kids {
    /// Waits for every process; an error when one failed.
    pub(super) fn wait(&mut self) -> anyhow::Result<()> {
        for mut c in self.0.drain(..) {
            let status = c.wait()?;
            if !status.success() {
                bail!("a process the bench started failed ({status})");
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
    /// No turn: wait for the start (`go`), run the body `turns` times, say `done` (the body
    /// alone; needs `--body`).
    #[arg(long, requires = "body")]
    pub free: bool,
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
    if a.free {
        let go: Option<(String, String)> =
            redis::cmd("BLPOP").arg(format!("{}go", a.prefix)).arg(60).query(&mut conn)?;
        if go.is_none() {
            bail!("no start came to body process {} within 60 s", a.index);
        }
        if let Some(b) = body.as_mut() {
            for _ in 0..a.turns {
                increment(b, &counter)?;
            }
        }
        redis::cmd("RPUSH").arg(format!("{}done", a.prefix)).arg(1).query::<i64>(&mut conn)?;
        return Ok(());
    }
    for turn in 1..=a.turns {
        let got: Option<(String, String)> =
            redis::cmd("BLPOP").arg(&mine).arg(60).query(&mut conn)?;
        if got.is_none() {
            bail!("no turn came to chain process {} within 60 s", a.index);
        }
        if let Some(b) = body.as_mut() {
            increment(b, &counter)?;
        }
        let last = turn == a.turns && a.index + 1 == a.of;
        let to = if last { format!("{}done", a.prefix) } else { next.clone() };
        redis::cmd("RPUSH").arg(&to).arg(1).query::<i64>(&mut conn)?;
    }
    Ok(())
}

/// The section's body without a lock: `GET` the counter, `SET` it one higher.
fn increment(conn: &mut redis::Connection, counter: &str) -> anyhow::Result<()> {
    let v: Option<i64> = redis::cmd("GET").arg(counter).query(conn)?;
    redis::cmd("SET").arg(counter).arg(v.unwrap_or(0) + 1).query::<()>(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use redmutex::testing::RedisServer;

    #[tokio::test]
    async fn the_coordinator_waits_as_long_as_its_blocking_pop_says() {
        let server = RedisServer::start().expect("redis-server");
        let mut conn = super::coordinator(&server.url()).await.expect("connect");
        // Longer than the client's default response timeout (500 ms): the server answers nil
        // when its own 1 s are up, and that is what comes back, not a client-side timeout.
        let got: Option<(String, String)> = redis::cmd("BLPOP")
            .arg("nothing")
            .arg(1)
            .query_async(&mut conn)
            .await
            .expect("BLPOP answered by the server");
        assert_eq!(got, None);
    }
}
