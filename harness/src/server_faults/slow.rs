//! A slow server: `DEBUG SLEEP` blocks it whole, `CLIENT PAUSE` holds clients' commands.

use std::time::Duration;

use anyhow::{Context as _, bail};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};

/// Which commands `CLIENT PAUSE` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PauseMode {
    /// Every command of every client (replicas and the pausing client excepted).
    All,
    /// Only writes (and scripts, which may write); reads go on.
    Write,
}

/// Blocks the server at `url` for `duration` with `DEBUG SLEEP`: it answers nobody, expires no
/// key. Returns when the server wakes; spawn it to go on meanwhile. Needs a server started with
/// `--enable-debug-command local` (Redis 7+; the harness's own servers are).
pub async fn debug_sleep(url: &str, duration: Duration) -> anyhow::Result<()> {
    let mut conn = unbounded(url).await?;
    let secs = format!("{:.3}", duration.as_secs_f64());
    let reply: redis::RedisResult<String> =
        redis::cmd("DEBUG").arg("SLEEP").arg(&secs).query_async(&mut conn).await;
    match reply {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("not allowed") => bail!(
            "{} refuses DEBUG: a slow-server fault needs a server the harness starts \
             (with --enable-debug-command local), or use CLIENT PAUSE",
            crate::servers::redact(url)
        ),
        Err(e) => Err(e).context("DEBUG SLEEP failed"),
    }
}

/// Pauses the clients of the server at `url` for `duration` (`CLIENT PAUSE ms mode`). Returns
/// as soon as the pause is in force; the server lifts it by itself.
pub async fn client_pause(url: &str, duration: Duration, mode: PauseMode) -> anyhow::Result<()> {
    let mut conn = unbounded(url).await?;
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1);
    let mode = match mode {
        PauseMode::All => "ALL",
        PauseMode::Write => "WRITE",
    };
    let _: String = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg(mode)
        .query_async(&mut conn)
        .await
        .context("CLIENT PAUSE failed")?;
    Ok(())
}

/// A connection without a response timeout: the commands above take as long as they say.
async fn unbounded(url: &str) -> anyhow::Result<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(None);
    let client = redis::Client::open(url)
        .with_context(|| format!("`{}` is not a Redis URL", crate::servers::redact(url)))?;
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .with_context(|| format!("cannot connect to {}", crate::servers::redact(url)))
}
