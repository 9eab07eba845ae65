//! Where a run's Redis servers come from: `local` (our own `redis-server` processes), `docker`,
//! or the URL of an existing server (then only the run's own prefix is touched).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use redmutex::testing::RedisServer;

/// Which servers to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerChoice {
    /// Start a lock server and a witness server from `redis-server` on PATH.
    Local,
    /// Start them in containers (feature `docker`).
    Docker,
    /// Use an existing server for both; keys under the run's prefix only.
    Url(String),
    /// No server: the seeded simulator (`crate::sim`) with the Redis model.
    Sim,
}

impl FromStr for ServerChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<ServerChoice, String> {
        match s {
            "local" => Ok(ServerChoice::Local),
            "docker" => Ok(ServerChoice::Docker),
            "sim" => Ok(ServerChoice::Sim),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Ok(ServerChoice::Url(url.into()))
            }
            other => Err(format!(
                "`{}` is not a server: use local, docker, sim or a redis://HOST:PORT URL",
                redact(other)
            )),
        }
    }
}

/// The servers of one run; local ones stop when this is dropped.
pub struct Servers {
    /// The lock server's URL.
    pub lock_url: String,
    /// The witness server's URL.
    pub witness_url: String,
    /// Every key of the run begins with this (or with `{` + this, for the fenced resource).
    pub prefix: String,
    /// Whether the servers are someone else's (URL mode): never reset, clean up our keys.
    pub shared: bool,
    /// The local servers, kept alive.
    pub local: Vec<RedisServer>,
    /// Whatever keeps containers alive (feature `docker`).
    pub guard: Option<Box<dyn std::any::Any>>,
}

impl Servers {
    /// Checks up front what can be checked without starting a run: a local `redis-server` that
    /// runs, a URL's server that answers. (The gate calls this once instead of failing every
    /// cell on the same setup error.)
    pub async fn check(choice: &ServerChoice, witness: Option<&str>) -> anyhow::Result<()> {
        Self::witness_allowed(choice, witness)?;
        if let Some(w) = witness {
            reach(w).await.context("--witness")?;
        }
        match choice {
            ServerChoice::Local if !redmutex::testing::available() => Err(no_redis_server()),
            ServerChoice::Url(url) => reach(url).await,
            _ => Ok(()),
        }
    }

    /// Starts or reaches the servers. Local servers die with the calling thread (Linux): call
    /// this from the thread that lives for the whole run.
    pub async fn start(
        choice: &ServerChoice,
        witness: Option<&str>,
        run_id: &str,
    ) -> anyhow::Result<Servers> {
        Self::witness_allowed(choice, witness)?;
        let prefix = format!("contend:{run_id}:");
        match choice {
            ServerChoice::Local => {
                if !redmutex::testing::available() {
                    return Err(no_redis_server());
                }
                let start = || RedisServer::start().context("cannot start a local redis-server");
                let lock = start()?;
                let witness = start()?;
                tracing::debug!(lock = %lock.url(), witness = %witness.url(), "local servers started");
                Ok(Servers {
                    lock_url: lock.url(),
                    witness_url: witness.url(),
                    prefix,
                    shared: false,
                    local: vec![lock, witness],
                    guard: None,
                })
            }
            ServerChoice::Docker => docker(prefix),
            ServerChoice::Sim => {
                bail!("the simulator runs without servers: use crate::sim::run_scenario")
            }
            ServerChoice::Url(url) => {
                reach(url).await?;
                if let Some(w) = witness {
                    reach(w).await.context("--witness")?;
                }
                Ok(Servers {
                    lock_url: url.clone(),
                    witness_url: witness.unwrap_or(url).to_string(),
                    prefix,
                    shared: true,
                    local: Vec::new(),
                    guard: None,
                })
            }
        }
    }

    /// `--witness` goes with a URL lock server only: local, docker and sim runs bring their own.
    fn witness_allowed(choice: &ServerChoice, witness: Option<&str>) -> anyhow::Result<()> {
        match (choice, witness) {
            (_, None) | (ServerChoice::Url(_), Some(_)) => Ok(()),
            (_, Some(_)) => bail!(
                "--witness goes with a redis:// lock server (--server URL); local, docker and sim \
             runs start their own witness"
            ),
        }
    }

    /// Deletes every key of the run (URL mode): `SCAN MATCH` on the prefix, never FLUSHDB.
    pub async fn clean(&self) -> anyhow::Result<u64> {
        let mut deleted = 0;
        let mut urls = vec![&self.lock_url];
        if self.witness_url != self.lock_url {
            urls.push(&self.witness_url);
        }
        for url in urls {
            let mut conn = connect(url).await?;
            for pattern in [format!("{}*", self.prefix), format!("{{{}*", self.prefix)] {
                let mut cursor = 0_u64;
                loop {
                    let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn)
                        .await?;
                    if !keys.is_empty() {
                        deleted +=
                            redis::cmd("DEL").arg(&keys).query_async::<u64>(&mut conn).await?;
                    }
                    cursor = next;
                    if cursor == 0 {
                        break;
                    }
                }
            }
        }
        Ok(deleted)
    }
}

#[cfg(feature = "docker")]
fn docker(prefix: String) -> anyhow::Result<Servers> {
    let (guard, lock_url, witness_url) = crate::docker::start_pair()?;
    Ok(Servers {
        lock_url,
        witness_url,
        prefix,
        shared: false,
        local: Vec::new(),
        guard: Some(guard),
    })
}

#[cfg(not(feature = "docker"))]
fn docker(_prefix: String) -> anyhow::Result<Servers> {
    bail!(
        "--server docker: this contend was built without the docker feature; run \
         `just contend-docker` (it builds the image and a release contend with the feature), or \
         build one with `cargo build --release -p contend --features docker`, or use --server local"
    )
}

/// A plain connection, failing within 5 s.
pub async fn connect(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let shown = redact(url);
    let client = redis::Client::open(url).with_context(|| {
        format!(
            "`{shown}` is not a valid Redis URL (a password with `/`, `?`, `#` or `@` must be \
             percent-encoded: `%2F`, `%3F`, `%23`, `%40`)"
        )
    })?;
    match tokio::time::timeout(Duration::from_secs(5), client.get_multiplexed_async_connection())
        .await
    {
        Err(_) => bail!("no connection to {shown} within 5 s: is the server up and reachable?"),
        Ok(Err(e)) if e.kind() == redis::ErrorKind::AuthenticationFailed => {
            Err(e).with_context(|| {
                format!("{shown} refused the login: check the user name and password in the URL")
            })
        }
        Ok(Err(e)) if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() => Err(e)
            .with_context(|| format!("cannot connect to {shown}: is the server up and reachable?")),
        Ok(Err(e)) => Err(e).with_context(|| format!("{shown} refused the connection")),
        Ok(Ok(conn)) => Ok(conn),
    }
}

fn no_redis_server() -> anyhow::Error {
    anyhow::anyhow!(
        "no runnable redis-server (looked for {}): install it (apt-get install redis-server), set \
         REDMUTEX_REDIS_SERVER to its path, or use --server docker or --server redis://HOST:PORT",
        redmutex::testing::binary().display()
    )
}

/// Checks that `url` answers PING within 5 s in all.
async fn reach(url: &str) -> anyhow::Result<()> {
    let shown = redact(url);
    let ping = async {
        let mut conn = connect(url).await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .with_context(|| format!("{shown} did not answer PING"))?;
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(5), ping).await.map_err(|_| {
        anyhow::anyhow!("{shown} did not answer PING within 5 s: is the server up and reachable?")
    })?
}

/// `url` with its password, if any, replaced by `***`, for messages and reports.
pub use redmutex::driver::redacted_url as redact;

/// `INFO commandstats` as command → calls.
pub async fn commandstats(
    conn: &mut redis::aio::MultiplexedConnection,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let text: String = redis::cmd("INFO").arg("commandstats").query_async(conn).await?;
    let mut stats = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cmdstat_") else { continue };
        let Some((name, fields)) = rest.split_once(':') else { continue };
        let calls = fields
            .split(',')
            .find_map(|f| f.strip_prefix("calls="))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        stats.insert(name.to_string(), calls);
    }
    Ok(stats)
}

/// Calls between two commandstats snapshots, without the coordinator's and the connection
/// handshake's own commands.
#[must_use]
pub fn calls_between(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> u64 {
    const OURS: [&str; 7] = ["info", "ping", "scan", "hello", "select", "config", "client"];
    after
        .iter()
        .filter(|(name, _)| {
            !OURS.iter().any(|o| name.as_str() == *o || name.starts_with(&format!("{o}|")))
        })
        .map(|(name, &calls)| calls.saturating_sub(before.get(name).copied().unwrap_or(0)))
        .sum()
}
