//! The public async lock: [`Lock`], built by [`LockBuilder`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::algo::{AcquireParams, Algorithm, Backoff, ReleaseParams};
use crate::driver::{Connection, Hooks, NoHooks, Timeouts};
use crate::error::{Error, Result};
use crate::guard::Guard;
use crate::proto::{Action, Command, Grant, Keys, Outcome, Reply, Token};
use crate::telemetry::{self, AcquireEnd};

/// The longest wait timeout a lock accepts. A waiter blocked for longer is almost surely a bug
/// (a lock that is never released), and should surface as an error instead.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The longest ttl a lock accepts: one day.
pub const MAX_TTL: Duration = Duration::from_secs(86_400);

/// A named Redis lock. Cheap to clone; clones share the connection and settings.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = redmutex::testing::RedisServer::start()?;
/// # let url = server.url();
/// use std::time::Duration;
/// use redmutex::{Algorithm, Lock};
///
/// let lock = Lock::builder("invoice:42")
///     .ttl(Duration::from_secs(10))
///     .wait_timeout(Duration::from_secs(5))
///     .algorithm(Algorithm::Notify)
///     .connect(&url) // e.g. "redis://127.0.0.1:6379"
///     .await?;
/// let guard = lock.acquire().await?;
/// // ... the protected work, finished before guard.valid_until() ...
/// let released = guard.release().await?;
/// assert!(released.owned);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Lock {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) keys: Keys,
    pub(crate) settings: Settings,
    pub(crate) conn: Connection,
    /// Whether the last acquire found the lock busy (a hint for the next one).
    pub(crate) contended: AtomicBool,
}

/// The validated settings of a lock.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) ttl: Duration,
    pub(crate) wait: Duration,
    pub(crate) drift: Duration,
    pub(crate) algorithm: Algorithm,
    pub(crate) backoff: Backoff,
    pub(crate) renewals: u32,
    pub(crate) replicas: Option<(u32, Duration)>,
}

/// Builds a [`Lock`]. Defaults: ttl 10 s, wait timeout 10 s, drift allowance ttl/100 + 2 ms,
/// algorithm [`Algorithm::Notify`], key prefix `redmutex:`, connect timeout 2 s, response
/// timeout 5 s, no auto-renewal.
#[derive(Clone, Debug)]
#[must_use]
pub struct LockBuilder {
    name: String,
    prefix: String,
    ttl: Duration,
    wait: Duration,
    drift: Option<Duration>,
    algorithm: Algorithm,
    backoff: Backoff,
    timeouts: Timeouts,
    renewals: u32,
    replicas: Option<(u32, Duration)>,
    #[cfg(feature = "tls")]
    root_ca: Option<Vec<u8>>,
}

impl Lock {
    /// Starts building a lock named `name` (the key is `prefix{name}`).
    pub fn builder(name: impl Into<String>) -> LockBuilder {
        LockBuilder {
            name: name.into(),
            prefix: "redmutex:".into(),
            ttl: Duration::from_secs(10),
            wait: Duration::from_secs(10),
            drift: None,
            algorithm: Algorithm::default(),
            backoff: Backoff::default(),
            timeouts: Timeouts::default(),
            renewals: 0,
            replicas: None,
            #[cfg(feature = "tls")]
            root_ca: None,
        }
    }

    /// Waits up to the wait timeout for the lock. Fails with [`Error::Timeout`] if it stays busy.
    ///
    /// Cancel safety: the future may be dropped at any await point (a `select!`, a
    /// `tokio::time::timeout`). A background task then runs the algorithm's release with the
    /// dropped attempt's token: it releases the lock if the attempt took it (owner-checked, so
    /// it never touches another holder's lock), and for [`Algorithm::Notify`] and
    /// [`Algorithm::Fair`] it also withdraws the attempt from the waiters. A hand-off is stored under the receiving waiter's
    /// own token, so one that reaches a dropped waiter (its `BLPOP` answer lost with the future)
    /// is passed on to the next waiter by that same clean-up: the lock is held by no one for
    /// about a round trip, not until its ttl. Without a tokio runtime to run the clean-up, or if
    /// it fails, the key lives until its ttl.
    pub async fn acquire(&self) -> Result<Guard> {
        let wait = Some(self.inner.settings.wait);
        let result = self.attempt(wait).await;
        self.count(&result, AcquireEnd::Timeout);
        result?.ok_or_else(|| Error::Timeout(self.inner.name.clone()))
    }

    /// Takes the lock if it is free right now; `Ok(None)` if another holder has it. Never waits
    /// for the holder (one round trip).
    pub async fn try_acquire(&self) -> Result<Option<Guard>> {
        let result = self.attempt(None).await;
        self.count(&result, AcquireEnd::Busy);
        result
    }

    /// Reports how an acquire ended; `none` is what `Ok(None)` means.
    fn count(&self, result: &Result<Option<Guard>>, none: AcquireEnd) {
        let (end, waited) = match result {
            Ok(Some(guard)) => (AcquireEnd::Acquired, Some(guard.waited())),
            Ok(None) => (none, None),
            Err(_) => (AcquireEnd::Error, None),
        };
        telemetry::acquire_ended(self.inner.settings.algorithm, end, waited);
    }

    /// The lock's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The lock's keys in Redis.
    #[must_use]
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The connection this lock uses (share it with [`LockBuilder::on`]).
    #[must_use]
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// The lock's ttl.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.inner.settings.ttl
    }

    /// The lock's algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.inner.settings.algorithm
    }

    async fn attempt(&self, wait: Option<Duration>) -> Result<Option<Guard>> {
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
        let contended = self.inner.contended.load(Ordering::Relaxed);
        let protocol = s.algorithm.protocol();
        let mut machine =
            if contended { protocol.acquire_contended(params) } else { protocol.acquire(params) };
        let mut cleanup = Cleanup { lock: Some(self.clone()), token };
        let sent_before = self.inner.conn.commands_sent();
        let started = std::time::Instant::now();
        let mut count = CountCommands(0);
        let outcome = self.inner.conn.run(machine.as_mut(), &mut count).await?;
        // More than one command means the lock was busy: remember it for the next acquire.
        // (Other users of a shared connection can only make this hint stronger.)
        let busy = self.inner.conn.commands_sent() - sent_before > 1;
        self.inner.contended.store(busy, Ordering::Relaxed);
        match outcome {
            Outcome::Acquired(grant) => {
                // The clean-up stays armed through the WAIT: a drop there releases the lock.
                let mut commands = count.0;
                if let Some((wanted, timeout)) = s.replicas {
                    commands += 1;
                    let acked = self.replicated(wanted, timeout).await?;
                    if acked < wanted {
                        cleanup.lock = None;
                        self.release_grant(grant).await?;
                        return Err(Error::NotReplicated {
                            lock: self.inner.name.clone(),
                            acked,
                            wanted,
                        });
                    }
                }
                cleanup.lock = None;
                let stats = crate::guard::AcquireStats { waited: started.elapsed(), commands };
                Ok(Some(Guard::new(self.clone(), grant, stats)))
            }
            Outcome::Busy | Outcome::TimedOut => {
                cleanup.lock = None;
                Ok(None)
            }
            Outcome::Failed(failure) => Err(Error::from_failure(failure)),
            other => Err(Error::Internal(format!("acquire ended with {other:?}"))),
        }
    }

    /// Releases the lock held under `grant`: `Ok(true)` if it was still ours. A lost connection
    /// or reply is retried (the scripts are idempotent) up to [`RETRY_DELAYS`]; see
    /// [`Guard::release`] for how a retry after a lost reply is read.
    /// `WAIT wanted timeout` on the lock's connection: how many replicas acknowledged.
    async fn replicated(&self, wanted: u32, timeout: Duration) -> Result<u32> {
        let reply = self.inner.conn.exec(&Command::Wait { replicas: wanted, timeout }).await?;
        match reply {
            Reply::Int(n) => Ok(u32::try_from(n).unwrap_or(0)),
            Reply::Error(message) => Err(Error::Server { op: "wait", message }),
            other => Err(Error::UnexpectedReply { op: "wait", reply: other.describe() }),
        }
    }

    pub(crate) async fn release_grant(&self, grant: Grant) -> Result<bool> {
        let mut lost_within_lease = false;
        let mut attempts = 0;
        loop {
            let sent_at = self.inner.conn.now();
            attempts += 1;
            let err = match self.release_once(grant.clone()).await {
                Ok(owned) => return Ok(owned || lost_within_lease),
                Err(e) if !e.is_transient() => return Err(e),
                Err(e) => e,
            };
            // An attempt that may have run while the lease held released a lock that was ours:
            // a retry that finds it gone cannot tell, and must not say "not ours".
            lost_within_lease |= sent_at < grant.valid_until;
            let Some(delay) = RETRY_DELAYS.get(attempts - 1) else {
                return Err(self.unconfirmed("release", &grant, attempts, err));
            };
            tokio::time::sleep(*delay).await;
        }
    }

    async fn release_once(&self, grant: Grant) -> Result<bool> {
        let s = &self.inner.settings;
        // No reference algorithm stores a fresh token (notify hands the lock over under the
        // waiter's own token); spare them the system call.
        let mut machine = s.algorithm.protocol().release(ReleaseParams {
            keys: self.inner.keys.clone(),
            grant,
            ttl: s.ttl,
            fresh_token: Token::from_u128(0),
        });
        match self.inner.conn.run(machine.as_mut(), &mut NoHooks).await? {
            Outcome::Released { owned, .. } => Ok(owned),
            Outcome::Failed(failure) => Err(Error::from_failure(failure)),
            other => Err(Error::Internal(format!("release ended with {other:?}"))),
        }
    }

    /// The error for an operation on `grant` that failed in transit `attempts` times.
    pub(crate) fn unconfirmed(
        &self,
        op: &'static str,
        grant: &Grant,
        attempts: usize,
        last: Error,
    ) -> Error {
        telemetry::unconfirmed(self.inner.settings.algorithm, op);
        Error::Unconfirmed {
            op,
            lock: self.inner.name.clone(),
            token: String::from_utf8_lossy(&grant.token).into_owned(),
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            last: Box::new(last),
        }
    }
}

/// The checks every lock's builder makes of its name, prefix, ttl and wait timeout.
pub(crate) fn check_common(name: &str, prefix: &str, ttl: Duration, wait: Duration) -> Result<()> {
    let bad = |msg: String| Err(Error::Config(msg));
    if name.is_empty() {
        return bad("the lock name is empty; give every lock a name".into());
    }
    if name.len() > 512 {
        return bad(format!("the lock name is {} bytes; at most 512 are allowed", name.len()));
    }
    if name.contains(['{', '}']) || prefix.contains(['{', '}']) {
        return bad("name and prefix must not contain '{' or '}' (the name is the hash tag)".into());
    }
    if ttl < Duration::from_millis(1) || ttl > MAX_TTL {
        return bad(format!("ttl is {ttl:?}; it must be from 1 ms to {MAX_TTL:?}"));
    }
    if wait > MAX_WAIT {
        return bad(format!("wait timeout is {wait:?}; at most {MAX_WAIT:?} is allowed"));
    }
    Ok(())
}

/// The pauses before each retry of a release or extend whose connection or reply was lost:
/// three attempts in all, within about a quarter second plus the attempts' own timeouts.
pub(crate) const RETRY_DELAYS: [Duration; 2] =
    [Duration::from_millis(20), Duration::from_millis(200)];

/// Counts the commands an operation sends.
struct CountCommands(u64);

impl Hooks for CountCommands {
    fn before(&mut self, _step: usize, action: &Action) -> Option<Duration> {
        self.0 += u64::from(matches!(action, Action::Send(_)));
        None
    }
}

/// Releases, in the background, what a dropped or failed acquire may have taken.
struct Cleanup {
    lock: Option<Lock>,
    token: Token,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some(lock) = self.lock.take() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let grant = Grant::for_cleanup(self.token.to_bytes());
        rt.spawn(async move {
            let _ = lock.release_grant(grant).await;
        });
    }
}

impl LockBuilder {
    /// How long the lock lives in Redis unless released or extended (1 ms to [`MAX_TTL`], and
    /// more than the drift allowance: with the default allowance, ttl/100 + 2 ms, at least
    /// 3 ms).
    pub fn ttl(mut self, ttl: Duration) -> LockBuilder {
        self.ttl = ttl;
        self
    }

    /// How long [`Lock::acquire`] waits for a busy lock (at most [`MAX_WAIT`]).
    pub fn wait_timeout(mut self, wait: Duration) -> LockBuilder {
        self.wait = wait;
        self
    }

    /// How much of each lease to give up for clock-rate drift between us and the server (must
    /// be less than the ttl).
    pub fn drift(mut self, drift: Duration) -> LockBuilder {
        self.drift = Some(drift);
        self
    }

    /// The algorithm.
    pub fn algorithm(mut self, algorithm: Algorithm) -> LockBuilder {
        self.algorithm = algorithm;
        self
    }

    /// The key prefix (no `{` or `}`: the name inside braces is the cluster hash tag).
    pub fn prefix(mut self, prefix: impl Into<String>) -> LockBuilder {
        self.prefix = prefix.into();
        self
    }

    /// The polling schedule of [`Algorithm::Token`] and [`Algorithm::Fenced`].
    pub fn backoff(mut self, backoff: Backoff) -> LockBuilder {
        self.backoff = backoff;
        self
    }

    /// How long connecting may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> LockBuilder {
        self.timeouts.connect = timeout;
        self
    }

    /// How long one command's answer may take.
    pub fn response_timeout(mut self, timeout: Duration) -> LockBuilder {
        self.timeouts.response = timeout;
        self
    }

    /// Renew each acquired lease in the background, every third of a ttl, at most
    /// `max_renewals` times. A renewal that finds the lock gone makes [`Guard::lost`] resolve;
    /// after the last renewal the lease runs out as usual. Loss is signalled, never hidden.
    pub fn auto_renew(mut self, max_renewals: u32) -> LockBuilder {
        self.renewals = max_renewals;
        self
    }

    /// After each acquisition, wait up to `timeout` (Redis `WAIT`) until `replicas` replicas
    /// have the lock key; if fewer acknowledge, release the lock and fail with
    /// [`Error::NotReplicated`]. This narrows what a failover can forget: a replica promoted
    /// after the acquire answered has the key. It does not close it — `WAIT` is no consensus: a
    /// failover may still promote a replica that had not acknowledged, and a release or an
    /// expiry is replicated like any write. The `WAIT` runs on the lock's shared connection and
    /// holds it up to `timeout`, so `timeout` must stay below the response timeout and the ttl.
    pub fn replicas(mut self, replicas: u32, timeout: Duration) -> LockBuilder {
        self.replicas = Some((replicas, timeout));
        self
    }

    /// Trust this certificate authority (PEM) for a `rediss://` URL instead of the system's
    /// roots: for a server whose certificate a private CA signed.
    #[cfg(feature = "tls")]
    pub fn tls_root_ca(mut self, pem: impl Into<Vec<u8>>) -> LockBuilder {
        self.root_ca = Some(pem.into());
        self
    }

    /// Connects to `url` and builds the lock. `redis://[user:password@]host:port[/db]`, or
    /// `rediss://` for TLS (feature `tls`, on by default; rustls, no OpenSSL).
    pub async fn connect(self, url: &str) -> Result<Lock> {
        self.validate()?;
        #[cfg(feature = "tls")]
        let conn = match &self.root_ca {
            Some(pem) => Connection::open_tls(url, self.timeouts, pem).await?,
            None => Connection::open(url, self.timeouts).await?,
        };
        #[cfg(not(feature = "tls"))]
        let conn = Connection::open(url, self.timeouts).await?;
        self.on(conn)
    }

    /// Builds the lock on an existing connection (many locks can share one).
    pub fn on(self, conn: Connection) -> Result<Lock> {
        let settings = self.validate()?;
        let keys = Keys::new(&self.prefix, &self.name);
        let contended = AtomicBool::new(false);
        Ok(Lock { inner: Arc::new(Inner { name: self.name, keys, settings, conn, contended }) })
    }

    fn validate(&self) -> Result<Settings> {
        let bad = |msg: String| Err(Error::Config(msg));
        check_common(&self.name, &self.prefix, self.ttl, self.wait)?;
        let drift = self.drift.unwrap_or_else(|| crate::algo::default_drift(self.ttl));
        if drift >= self.ttl {
            return bad(format!(
                "drift allowance {drift:?} leaves nothing of the ttl {:?}; lower the drift or raise the ttl",
                self.ttl
            ));
        }
        if self.backoff.initial.is_zero() || self.backoff.max < self.backoff.initial {
            return bad("backoff needs 0 < initial <= max".into());
        }
        if let Some((n, timeout)) = self.replicas {
            if n == 0 {
                return bad(
                    "replicas(0, ..) waits for nothing; ask for at least one replica".into()
                );
            }
            if timeout.is_zero() || timeout >= self.timeouts.response || timeout >= self.ttl {
                return bad(format!(
                    "the replicas timeout is {timeout:?}; it must be above zero and below both the \
                     response timeout ({:?}) and the ttl ({:?}) (WAIT 0 would block forever)",
                    self.timeouts.response, self.ttl
                ));
            }
        }
        Ok(Settings {
            ttl: self.ttl,
            wait: self.wait,
            drift,
            algorithm: self.algorithm,
            backoff: self.backoff,
            renewals: self.renewals,
            replicas: self.replicas,
        })
    }
}
