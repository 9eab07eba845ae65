//! Failover the way production does it: a primary, replicas and three real Sentinels on
//! loopback. A fault takes the primary away (kills it, puts it to sleep, or partitions it)
//! and [`SentinelGroup::fail_primary`] waits until the Sentinels promote a replica.
//!
//! Every server sits behind a raw [`Proxy`] of its own and announces the proxy's address
//! (`replica-announce-port`), so the Sentinels, the replicas and every client that asks the
//! Sentinels reach each server through its proxy: a partition cuts a server off from all of
//! them while it keeps running. [`SentinelGroup::direct`] gives a server's own address, for
//! clients meant to stay on the old primary's side of a partition.
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
use crate::proxy::{Direction, Proxy, Target};

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
    /// Cut it off from everyone who reaches it through its proxy (Sentinels, replicas,
    /// clients that asked the Sentinels) until [`SentinelGroup::heal`]; clients on its
    /// [`SentinelGroup::direct`] address go on writing to it.
    Partition,
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
    nodes: Vec<Node>,
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
        let mut nodes = vec![Node::start(None).context("cannot start the primary")?];
        let primary = nodes[0].proxy.addr();
        for _ in 0..replicas {
            nodes.push(Node::start(Some(primary)).context("cannot start a replica")?);
        }
        let dir = tempfile::Builder::new().prefix("contend-sentinel-").tempdir()?;
        let mut group = SentinelGroup { nodes, sentinels: Vec::new(), dir };
        group.wait(Duration::from_secs(20), "the replicas to sync", || {
            let info = query(primary, redis::cmd("INFO").arg("replication"))?;
            let info: String = redis::from_redis_value(info)?;
            Ok(info.matches("state=online").count() == replicas)
        })?;
        for i in 0..3 {
            let sentinel = group.spawn_sentinel(i, primary)?;
            group.sentinels.push(sentinel);
        }
        let ports: Vec<u16> = group.sentinels.iter().map(Process::port).collect();
        group.wait(Duration::from_secs(30), "the Sentinels to find each other", || {
            for &port in &ports {
                let count = |what: &str| -> anyhow::Result<usize> {
                    let v =
                        query(loopback(port), redis::cmd("SENTINEL").arg(what).arg(MASTER_NAME))?;
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
            let answer = query(loopback(s.port()), &cmd)
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
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.proxy.addr() == old)
            .context("the primary is not one of ours")?;
        match how {
            Outage::Kill => {
                node.server.kill();
                node.dead = true;
            }
            Outage::Sleep { ms } => {
                // Fire and forget: the server reads the command before it sees the close.
                let mut s = TcpStream::connect(loopback(node.server.port()))?;
                let secs = format!("{:.3}", Duration::from_millis(ms).as_secs_f64());
                let cmd =
                    format!("*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n${}\r\n{secs}\r\n", secs.len());
                s.write_all(cmd.as_bytes())?;
            }
            Outage::Partition => node.proxy.partition(Target::All, Direction::Both),
        }
        let mut new = None;
        self.wait(limit, "the Sentinels to promote a replica", || {
            let Ok(now) = self.primary() else { return Ok(false) };
            if now == old {
                return Ok(false);
            }
            let role: Vec<redis::Value> =
                redis::from_redis_value(query(now, &redis::cmd("ROLE"))?)?;
            let master =
                matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master");
            new = Some(now);
            Ok(master)
        })?;
        let new = new.context("no new primary")?;
        Ok(Failover { old, new, took: begin.elapsed() })
    }

    /// Waits up to `limit` until the primary the Sentinels name has every other live server as
    /// an online replica (a healed old primary has been turned into one and has synced), so
    /// that another failover can promote one.
    pub fn settle(&self, limit: Duration) -> anyhow::Result<()> {
        let live = self.nodes.iter().filter(|n| !n.dead).count();
        self.wait(limit, "the replicas to sync with the new primary", || {
            let primary = self.primary()?;
            let info = query(primary, redis::cmd("INFO").arg("replication"))?;
            let info: String = redis::from_redis_value(info)?;
            Ok(info.contains("role:master") && info.matches("state=online").count() + 1 == live)
        })
    }

    /// Ends every partition: held traffic flows on, and the Sentinels turn a stale primary into
    /// a replica of the new one.
    pub fn heal(&self) {
        for node in &self.nodes {
            node.proxy.heal(Target::All);
        }
    }

    /// Turns the old primary `old` (if it lives) into a replica of the new one `new` at once
    /// (both as [`Failover`] names them), as an orchestrator would: the Sentinels do it too,
    /// but only once their next `INFO` of it, up to 10 s later, shows it still a primary.
    pub fn rejoin(&self, old: SocketAddr, new: SocketAddr) -> anyhow::Result<()> {
        let node = self.nodes.iter().find(|n| n.proxy.addr() == old && !n.dead);
        let Some(node) = node else { return Ok(()) };
        let replicaof = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(new.port()).clone();
        query(loopback(node.server.port()), &replicaof).map(drop)
    }

    /// The server's own address behind the proxy address `addr` (which [`Self::primary`]
    /// and [`Failover`] give), bypassing its partition.
    #[must_use]
    pub fn direct(&self, addr: SocketAddr) -> Option<SocketAddr> {
        self.nodes.iter().find(|n| n.proxy.addr() == addr).map(|n| loopback(n.server.port()))
    }

    fn spawn_sentinel(&self, i: usize, primary: SocketAddr) -> anyhow::Result<Process> {
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
            primary_port = primary.port(),
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

/// A server and the raw proxy everyone reaches it through.
struct Node {
    server: RedisServer,
    proxy: Proxy,
    /// Killed by a failover: it never comes back.
    dead: bool,
}

impl Node {
    /// A server announcing its proxy's address; a replica of `primary` if given.
    fn start(primary: Option<SocketAddr>) -> anyhow::Result<Node> {
        // The proxy comes first, for its port; it learns the server's once that has one.
        let proxy = Proxy::start_raw(loopback(1))?;
        let mut builder = RedisServer::builder()
            .arg("--replica-announce-ip")
            .arg("127.0.0.1")
            .arg("--replica-announce-port")
            .arg(proxy.addr().port().to_string())
            // A replica that (re)joins syncs at once, not after Redis's default 5 s wait for
            // more replicas to share the transfer.
            .arg("--repl-diskless-sync-delay")
            .arg("0");
        if let Some(primary) = primary {
            builder = builder.arg("--replicaof").arg("127.0.0.1").arg(primary.port().to_string());
        }
        let server = builder.start()?;
        proxy.set_upstream(loopback(server.port()));
        Ok(Node { server, proxy, dead: false })
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One command on a fresh connection, failing within a second.
fn query(addr: SocketAddr, cmd: &redis::Cmd) -> anyhow::Result<redis::Value> {
    let client = redis::Client::open(format!("redis://{addr}"))?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
    conn.set_read_timeout(Some(Duration::from_secs(1)))?;
    Ok(cmd.query(&mut conn)?)
}
