//! Failover the way production does it: a primary, replicas and three real Sentinels on
//! loopback. A fault takes the primary away (kills it, or puts it to sleep so it comes back
//! as a stale primary) and [`SentinelGroup::fail_primary`] waits until the Sentinels promote a
//! replica.
//!
//! Sentinels run as `redis-server CONFIG --sentinel` from the same binary as the servers
//! (`redmutex::testing::binary`), which is what Debian's `redis-sentinel` runs too.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use redmutex::testing::{RedisServer, free_port};
use serde::{Deserialize, Serialize};

use super::process::Process;

/// The name the Sentinels know the primary by.
pub const MASTER_NAME: &str = "contend";
/// How long a primary may not answer before a Sentinel thinks it down.
pub const DOWN_AFTER: Duration = Duration::from_millis(1000);

/// How the primary goes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "kebab-case")]
pub enum Outage {
    /// `SIGKILL`: it never comes back.
    Kill,
    /// `DEBUG SLEEP`: it answers nobody for `ms`, then wakes still thinking itself primary
    /// until the Sentinels turn it into a replica; its clients may write to it meanwhile.
    Sleep {
        /// Milliseconds; more than [`DOWN_AFTER`] for a failover to happen.
        ms: u64,
    },
}

/// What a failover did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failover {
    /// The primary before.
    pub old: SocketAddr,
    /// The replica the Sentinels promoted.
    pub new: SocketAddr,
    /// From the outage until a majority of Sentinels named the new primary and it said so.
    pub took: Duration,
}

/// A primary, its replicas and three Sentinels; all stop when this is dropped.
pub struct SentinelGroup {
    /// The first is the first primary.
    servers: Vec<RedisServer>,
    sentinels: Vec<Process>,
    /// The Sentinels' folders (they rewrite their config files).
    dir: tempfile::TempDir,
}

impl SentinelGroup {
    /// Starts a primary, `replicas` replicas in sync with it, and three Sentinels (quorum 2)
    /// that all know every replica and each other. Call it from the thread that lives for the
    /// run: the processes die with it.
    pub fn start(replicas: usize) -> anyhow::Result<SentinelGroup> {
        if replicas == 0 {
            bail!("a failover needs at least one replica: set replicas to 1 or 2");
        }
        let primary = RedisServer::start().context("cannot start the primary")?;
        let primary_port = primary.port();
        let mut servers = vec![primary];
        for _ in 0..replicas {
            let replica = RedisServer::builder()
                .arg("--replicaof")
                .arg("127.0.0.1")
                .arg(primary_port.to_string())
                .start()
                .context("cannot start a replica")?;
            servers.push(replica);
        }
        let dir = tempfile::Builder::new().prefix("contend-sentinel-").tempdir()?;
        let mut group = SentinelGroup { servers, sentinels: Vec::new(), dir };
        group.wait(Duration::from_secs(20), "the replicas to sync", || {
            let info = query(primary_port, redis::cmd("INFO").arg("replication"))?;
            let info: String = redis::from_redis_value(info)?;
            Ok(info.matches("state=online").count() == replicas)
        })?;
        for i in 0..3 {
            let sentinel = group.spawn_sentinel(i, primary_port)?;
            group.sentinels.push(sentinel);
        }
        let ports: Vec<u16> = group.sentinels.iter().map(Process::port).collect();
        group.wait(Duration::from_secs(30), "the Sentinels to find each other", || {
            for &port in &ports {
                let count = |what: &str| -> anyhow::Result<usize> {
                    let v = query(port, redis::cmd("SENTINEL").arg(what).arg(MASTER_NAME))?;
                    Ok(redis::from_redis_value::<Vec<redis::Value>>(v)?.len())
                };
                if count("REPLICAS")? != replicas || count("SENTINELS")? != ports.len() - 1 {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        Ok(group)
    }

    /// The Sentinels' addresses, for a Sentinel-aware client.
    #[must_use]
    pub fn sentinels(&self) -> Vec<SocketAddr> {
        self.sentinels.iter().map(|s| loopback(s.port())).collect()
    }

    /// The primary as most Sentinels name it.
    pub fn primary(&self) -> anyhow::Result<SocketAddr> {
        let mut named = Vec::new();
        for s in &self.sentinels {
            let cmd =
                redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(MASTER_NAME).clone();
            let answer = query(s.port(), &cmd)
                .and_then(|v| Ok(redis::from_redis_value::<(String, u16)>(v)?));
            if let Ok((_, port)) = answer {
                named.push(port);
            }
        }
        let majority = self.sentinels.len() / 2 + 1;
        named
            .iter()
            .find(|p| named.iter().filter(|q| q == p).count() >= majority)
            .map(|&p| loopback(p))
            .context("the Sentinels do not agree on a primary")
    }

    /// Takes the current primary away `how` and waits up to `limit` until the Sentinels have
    /// promoted a replica and it reports itself primary.
    pub fn fail_primary(&mut self, how: Outage, limit: Duration) -> anyhow::Result<Failover> {
        let old = self.primary()?;
        let begin = Instant::now();
        match how {
            Outage::Kill => {
                let server = self
                    .servers
                    .iter_mut()
                    .find(|s| s.port() == old.port())
                    .context("the primary is not one of ours")?;
                server.kill();
            }
            Outage::Sleep { ms } => {
                // Fire and forget: the server reads the command before it sees the close.
                let mut s = TcpStream::connect(old)?;
                let secs = format!("{:.3}", Duration::from_millis(ms).as_secs_f64());
                let cmd =
                    format!("*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n${}\r\n{secs}\r\n", secs.len());
                s.write_all(cmd.as_bytes())?;
            }
        }
        let mut new = None;
        self.wait(limit, "the Sentinels to promote a replica", || {
            let Ok(now) = self.primary() else { return Ok(false) };
            if now == old {
                return Ok(false);
            }
            let role: Vec<redis::Value> =
                redis::from_redis_value(query(now.port(), &redis::cmd("ROLE"))?)?;
            let master =
                matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master");
            new = Some(now);
            Ok(master)
        })?;
        let new = new.context("no new primary")?;
        Ok(Failover { old, new, took: begin.elapsed() })
    }

    fn spawn_sentinel(&self, i: usize, primary_port: u16) -> anyhow::Result<Process> {
        let port = free_port()?;
        let dir = self.dir.path().join(format!("s{i}"));
        std::fs::create_dir_all(&dir)?;
        let log = dir.join("sentinel.log");
        let config = dir.join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir {dir}\nlogfile {log}\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} {down}\n\
             sentinel failover-timeout {MASTER_NAME} 5000\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n",
            dir = dir.display(),
            log = log.display(),
            down = DOWN_AFTER.as_millis(),
        );
        std::fs::write(&config, text)?;
        let mut cmd = Command::new(redmutex::testing::binary());
        cmd.arg(&config).arg("--sentinel");
        Process::spawn(cmd, port, log).context("cannot start a Sentinel")
    }

    /// Polls `done` every 50 ms until it holds, failing after `limit` with the Sentinels' logs.
    fn wait(
        &self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut() -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let mut last = None;
        while Instant::now() < deadline {
            match done() {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let logs: Vec<String> = self.sentinels.iter().map(Process::log).collect();
        bail!(
            "waited {limit:?} for {what} in vain (last error: {last:?}); Sentinel logs:\n{}",
            logs.join("\n---\n")
        )
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One command on a fresh connection, failing within a second.
fn query(port: u16, cmd: &redis::Cmd) -> anyhow::Result<redis::Value> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
    conn.set_read_timeout(Some(Duration::from_secs(1)))?;
    Ok(cmd.query(&mut conn)?)
}
