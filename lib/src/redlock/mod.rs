//! [`Redlock`]: one lock over several independent Redis servers, built by [`RedlockBuilder`].

mod guard;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use guard::RedlockGuard;

use crate::algo::redlock::{self, RedlockAcquire, RedlockAlgorithm};
use crate::algo::{AcquireParams, Backoff};
use crate::driver::{Connection, NoHooks, Timeouts, redacted_url};
use crate::error::{Error, Result};
use crate::fanout::Servers;
use crate::lock::check_common;
use crate::proto::{Keys, Outcome, Token};

/// The fewest servers a [`Redlock`] accepts: with fewer, a majority is every server, and one
/// server down stops the lock.
pub const MIN_SERVERS: usize = 3;

/// A lock over N independent Redis servers (3 or 5, usually; not replicas of one another): held
/// while a majority of them hold our token. Cheap to clone.
///
/// An acquire sends `SET NX PX` to every server at once, waits for each at most the per-server
/// timeout, and wins when a majority granted it *and* the lease still runs: the lease counts
/// from when the commands were sent, so the time the servers took is off
/// [`RedlockGuard::valid_until`], and so is the clock-drift allowance (ttl × drift factor +
/// 2 ms). A lost round is released on every server, and tried again after a random delay until
/// the wait timeout. A release or extend goes to every server, owner-checked.
///
/// It survives a minority of servers down, restarted or partitioned away. What it cannot
/// promise: it issues no fence, so a holder paused past its lease (GC, SIGSTOP) overlaps with the
/// next holder unnoticed; its safety assumes clocks that run at about the same rate on every
/// server and client (a server whose clock jumps forward expires the key early); and a server
/// restarted without persistence forgets the lock, so a majority may form again around another
/// holder unless restarted servers stay out for a ttl.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let servers: Vec<_> = (0..3).map(|_| redmutex::testing::RedisServer::start()).collect::<Result<_, _>>()?;
/// # let urls: Vec<String> = servers.iter().map(|s| s.url()).collect();
/// use std::time::Duration;
/// use redmutex::Redlock;
///
/// let lock = Redlock::builder("invoice:42")
///     .ttl(Duration::from_secs(10))
///     .server_timeout(Duration::from_millis(50))
///     .connect(&urls) // e.g. ["redis://a:6379", "redis://b:6379", "redis://c:6379"]
///     .await?;
/// let guard = lock.acquire().await?;
/// // ... the protected work, finished before guard.valid_until() ...
/// guard.extend().await?; // a fresh lease on a majority
/// let released = guard.release().await?;
/// assert!(released.owned);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Redlock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    keys: Keys,
    settings: Settings,
    servers: Servers,
}

#[derive(Clone, Debug)]
struct Settings {
    ttl: Duration,
    wait: Duration,
    drift: Duration,
    server_timeout: Duration,
    backoff: Backoff,
}

/// Builds a [`Redlock`]. Defaults: ttl 10 s, wait timeout 10 s, drift factor 0.01 (the
/// allowance is ttl × factor + 2 ms), per-server timeout 50 ms, retry delays drawn from a capped
/// exponential backoff (1 ms to 64 ms, jittered), key prefix `redmutex:`, connect timeout 2 s,
/// response timeout 5 s.
#[derive(Clone, Debug)]
#[must_use]
pub struct RedlockBuilder {
    name: String,
    prefix: String,
    ttl: Duration,
    wait: Duration,
    drift_factor: f64,
    server_timeout: Duration,
    backoff: Backoff,
    timeouts: Timeouts,
}

impl Redlock {
    /// Starts building a lock named `name` (the key on every server is `prefix{name}`).
    pub fn builder(name: impl Into<String>) -> RedlockBuilder {
        RedlockBuilder {
            name: name.into(),
            prefix: "redmutex:".into(),
            ttl: Duration::from_secs(10),
            wait: Duration::from_secs(10),
            drift_factor: 0.01,
            server_timeout: Duration::from_millis(50),
            backoff: Backoff::default(),
            timeouts: Timeouts::default(),
        }
    }

    /// Waits up to the wait timeout for the lock. Fails with [`Error::Timeout`] if it stays
    /// busy, and with [`Error::NoQuorum`] if, at the end, fewer than a majority of the servers
    /// answered.
    ///
    /// Cancel safety: the future may be dropped at any await point. A background task then
    /// releases, on every server, whatever the dropped attempt may have taken (owner-checked:
    /// it never touches another holder's key). Without a tokio runtime, or if that release
    /// fails, the keys live until their ttl.
    pub async fn acquire(&self) -> Result<RedlockGuard> {
        let wait = Some(self.inner.settings.wait);
        self.attempt(wait).await?.ok_or_else(|| Error::Timeout(self.inner.name.clone()))
    }

    /// Tries once: `Ok(None)` if the servers answered but too few granted it (someone else holds
    /// it, or contenders split the vote); [`Error::NoQuorum`] if fewer than a majority
    /// answered. What a lost try took is released on every server before it returns.
    pub async fn try_acquire(&self) -> Result<Option<RedlockGuard>> {
        self.attempt(None).await
    }

    /// The lock's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The lock's keys (the same on every server).
    #[must_use]
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The lock's ttl.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.inner.settings.ttl
    }

    /// The allowance for clock drift taken off every lease.
    #[must_use]
    pub fn drift(&self) -> Duration {
        self.inner.settings.drift
    }

    /// The connections to the servers, in the order given.
    #[must_use]
    pub fn connections(&self) -> &[Connection] {
        self.inner.servers.connections()
    }

    /// How many servers must grant an acquisition: a majority.
    #[must_use]
    pub fn quorum(&self) -> usize {
        redlock::quorum(self.inner.servers.len())
    }

    fn algorithm(&self) -> RedlockAlgorithm {
        RedlockAlgorithm {
            servers: self.inner.servers.len(),
            server_timeout: self.inner.settings.server_timeout,
        }
    }

    fn origin(&self) -> Instant {
        self.inner.servers.origin()
    }

    async fn attempt(&self, wait: Option<Duration>) -> Result<Option<RedlockGuard>> {
        let s = &self.inner.settings;
        let token = Token::random().map_err(|e| Error::Random(e.to_string()))?;
        let seed = u64::from_le_bytes(token.0[..8].try_into().unwrap_or_default());
        let params = AcquireParams {
            keys: self.inner.keys.clone(),
            token,
            ttl: s.ttl,
            wait,
            drift: s.drift,
            seed,
            backoff: s.backoff,
        };
        let mut machine = RedlockAcquire::new(self.algorithm(), params);
        let mut cleanup = Cleanup { lock: Some(self.clone()), token };
        let started = Instant::now();
        let outcome = self.inner.servers.run(&mut machine, &mut NoHooks).await?;
        // The machine has released every lost round itself.
        cleanup.lock = None;
        match outcome {
            Outcome::Acquired(grant) => {
                Ok(Some(RedlockGuard::new(self.clone(), grant, started.elapsed())))
            }
            Outcome::Busy | Outcome::TimedOut => Ok(None),
            Outcome::Failed(failure) => Err(Error::from_failure(failure)),
            other => Err(Error::Internal(format!("acquire ended with {other:?}"))),
        }
    }

    /// Releases `token` on every server: `Ok(true)` if a majority still held it.
    async fn release_token(&self, token: Vec<u8>) -> Result<bool> {
        let mut machine = redlock::release(self.algorithm(), &self.inner.keys.lock, token);
        match self.inner.servers.run(&mut machine, &mut NoHooks).await? {
            Outcome::Released { owned, .. } => Ok(owned),
            Outcome::Failed(failure) => Err(Error::from_failure(failure)),
            other => Err(Error::Internal(format!("release ended with {other:?}"))),
        }
    }
}

/// Releases, in the background, what a dropped acquire may have taken.
struct Cleanup {
    lock: Option<Redlock>,
    token: Token,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some(lock) = self.lock.take() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let token = self.token.to_bytes();
        rt.spawn(async move {
            let _ = lock.release_token(token).await;
        });
    }
}

impl RedlockBuilder {
    /// How long the lock lives on each server unless released or extended (1 ms to
    /// [`crate::MAX_TTL`]; more than the drift allowance plus the per-server timeout).
    pub fn ttl(mut self, ttl: Duration) -> RedlockBuilder {
        self.ttl = ttl;
        self
    }

    /// How long [`Redlock::acquire`] keeps trying (at most [`crate::MAX_WAIT`]).
    pub fn wait_timeout(mut self, wait: Duration) -> RedlockBuilder {
        self.wait = wait;
        self
    }

    /// The share of the ttl given up for clock drift between the servers and us: the
    /// allowance is `ttl × factor + 2 ms` (from 0 to 0.5; default 0.01).
    pub fn drift_factor(mut self, factor: f64) -> RedlockBuilder {
        self.drift_factor = factor;
        self
    }

    /// How long each server's answer is awaited, per command (default 50 ms). Keep it small
    /// against the ttl: a silent server costs this much of every lease. Raise it for distant
    /// servers.
    pub fn server_timeout(mut self, timeout: Duration) -> RedlockBuilder {
        self.server_timeout = timeout;
        self
    }

    /// The schedule of the random delays between tries.
    pub fn backoff(mut self, backoff: Backoff) -> RedlockBuilder {
        self.backoff = backoff;
        self
    }

    /// The key prefix (no `{` or `}`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedlockBuilder {
        self.prefix = prefix.into();
        self
    }

    /// How long connecting to each server may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> RedlockBuilder {
        self.timeouts.connect = timeout;
        self
    }

    /// How long a command's answer may take on a connection (the per-server timeout, usually
    /// far smaller, bounds how long an operation waits for it).
    pub fn response_timeout(mut self, timeout: Duration) -> RedlockBuilder {
        self.timeouts.response = timeout;
        self
    }

    /// Connects to every server (`redis://` or `rediss://` URLs, each an independent server)
    /// and builds the lock. Every server must be reachable now; once built, the lock works
    /// with a minority of them down.
    pub async fn connect<S: AsRef<str>>(
        self,
        urls: impl IntoIterator<Item = S>,
    ) -> Result<Redlock> {
        let urls: Vec<String> = urls.into_iter().map(|u| u.as_ref().to_string()).collect();
        self.validate(&urls)?;
        let servers = Servers::open(&urls, self.timeouts).await?;
        self.on(servers.connections().to_vec())
    }

    /// Builds the lock on existing connections, one per server.
    pub fn on(self, conns: Vec<Connection>) -> Result<Redlock> {
        let urls: Vec<String> = conns.iter().map(|c| c.url().to_string()).collect();
        let settings = self.validate(&urls)?;
        let keys = Keys::new(&self.prefix, &self.name);
        let servers = Servers::new(conns);
        Ok(Redlock { inner: Arc::new(Inner { name: self.name, keys, settings, servers }) })
    }

    fn validate(&self, urls: &[String]) -> Result<Settings> {
        let bad = |msg: String| Err(Error::Config(msg));
        check_common(&self.name, &self.prefix, self.ttl, self.wait)?;
        if urls.len() < MIN_SERVERS {
            return bad(format!(
                "a redlock needs at least {MIN_SERVERS} independent servers (3 or 5, usually); \
                 {} given. For one server use Lock",
                urls.len()
            ));
        }
        if let Some(twice) = urls.iter().enumerate().find(|(i, u)| urls[..*i].contains(u)) {
            return bad(format!(
                "server {} is given twice; a redlock's servers must be independent",
                redacted_url(twice.1)
            ));
        }
        if !(0.0..=0.5).contains(&self.drift_factor) {
            return bad(format!("drift factor is {}; it must be from 0 to 0.5", self.drift_factor));
        }
        let drift = redlock::drift(self.ttl, self.drift_factor);
        let timeout = self.server_timeout;
        if timeout.is_zero() || timeout + drift >= self.ttl {
            return bad(format!(
                "the server timeout is {timeout:?}; it must be above zero, and with the drift \
                 allowance ({drift:?}) below the ttl ({:?}), or no lease could be valid",
                self.ttl
            ));
        }
        if self.backoff.initial.is_zero() || self.backoff.max < self.backoff.initial {
            return bad("backoff needs 0 < initial <= max".into());
        }
        Ok(Settings {
            ttl: self.ttl,
            wait: self.wait,
            drift,
            server_timeout: timeout,
            backoff: self.backoff,
        })
    }
}
