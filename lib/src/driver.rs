//! The real-Redis driver: runs [`Machine`]s over tokio and the `redis` crate.
//!
//! Internal: hidden from the docs, for the `contend` harness; not covered by semver. [`Connection`] and [`Timeouts`] are the
//! public API, re-exported at the crate root.
//!
//! Non-blocking commands share one multiplexed connection. `BLPOP` blocks a connection, so it
//! runs on a connection of its own, taken from a small pool and given back afterwards. Pub/sub
//! waits open a subscriber connection for the duration of one operation.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, ErrorKind, Value};

use crate::error::{Error, Result};
use crate::proto::{
    Action, Command, Event, Expiry, Failure, Machine, Outcome, Reply, SetCond, num,
};

/// Timeouts of a [`Connection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long connecting may take.
    pub connect: Duration,
    /// How long the answer to one (non-blocking) command may take.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts { connect: Duration::from_secs(2), response: Duration::from_secs(5) }
    }
}

/// Hooks into the driver's loop: how the harness injects step delays and clock skew.
pub trait Hooks: Send {
    /// Called before each action is executed, with its index in the operation; a returned
    /// duration is slept first.
    fn before(&mut self, _step: usize, _action: &Action) -> Option<Duration> {
        None
    }

    /// Milliseconds added to the wall clock the algorithm reads.
    fn clock_offset_ms(&self) -> i64 {
        0
    }
}

/// Hooks that do nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}

/// A connection to one Redis server, shared by every operation of a lock; cheap to clone.
///
/// When the connection breaks (the server restarted, closed an idle client, a network fault),
/// the command under way fails with [`Error::Redis`], and the next command opens a fresh
/// connection first: retrying is enough, no new `Lock` is needed.
#[derive(Clone)]
pub struct Connection {
    client: Client,
    url: String,
    shared: Arc<Shared>,
    blocking: Arc<Mutex<Vec<MultiplexedConnection>>>,
    timeouts: Timeouts,
    origin: Instant,
    sent: Arc<AtomicU64>,
    /// Replies still to throw away after their command ran (fault injection for tests).
    lose: Arc<AtomicU64>,
}

/// `url` with its password, if any, replaced by `***`, for messages and reports (which are
/// made to be shared). `Error::Connect` carries the URL in this form.
///
/// A URL that parses keeps everything but the password (`redis://user:***@host:port/db`, and
/// `pass=***` in the query of a `unix://` URL). One that does not parse (a password with an
/// unescaped `/`, `?` or `#`, say) loses everything between `://` (or its first `:`) and its
/// last `@`.
#[must_use]
pub fn redacted_url(url: &str) -> String {
    if let Some(mut parsed) = redis::parse_redis_url(url) {
        let mut changed = false;
        if parsed.password().is_some() {
            changed |= parsed.set_password(Some("***")).is_ok();
        }
        if parsed.query_pairs().any(|(k, _)| k == "pass") {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "pass" { "***".to_string() } else { v.into_owned() };
                    (k.into_owned(), v)
                })
                .collect();
            parsed.query_pairs_mut().clear().extend_pairs(pairs);
            changed = true;
        }
        if changed {
            return parsed.to_string();
        }
        // With a host, an `@` left is in the path or query, not a password (`redis:/:pw@h` has
        // no host: it parses, but its "path" is a mistyped authority).
        if parsed.has_host() || !url.contains('@') {
            return url.to_string();
        }
    }
    let Some(at) = url.rfind('@') else { return url.to_string() };
    let start = url
        .find("://")
        .map(|i| i + 3)
        .or_else(|| url.find(':').map(|i| i + 1))
        .filter(|&i| i <= at)
        .unwrap_or(0);
    format!("{}***{}", &url[..start], &url[at..])
}

/// The multiplexed connection every clone uses, and whether it broke.
struct Shared {
    conn: Mutex<MultiplexedConnection>,
    broken: std::sync::atomic::AtomicBool,
}

impl Connection {
    /// Connects to `url` (`redis://host:port/db`; `rediss://` for TLS, which checks the
    /// server's certificate against the system's roots), failing within `timeouts.connect`.
    pub async fn open(url: &str, timeouts: Timeouts) -> Result<Connection> {
        Connection::open_with(url, timeouts, None).await
    }

    /// [`Connection::open`], trusting the certificate authority `root_ca_pem` (PEM) instead of
    /// the system's roots for a `rediss://` URL.
    #[cfg(feature = "tls")]
    pub async fn open_tls(url: &str, timeouts: Timeouts, root_ca_pem: &[u8]) -> Result<Connection> {
        Connection::open_with(url, timeouts, Some(root_ca_pem)).await
    }

    async fn open_with(
        url: &str,
        timeouts: Timeouts,
        root_ca: Option<&[u8]>,
    ) -> Result<Connection> {
        let connect_err = |reason: String| Error::Connect { url: redacted_url(url), reason };
        let client = client(url, root_ca).map_err(|e| connect_err(e.to_string()))?;
        let conn = connect(&client, timeouts).await.map_err(connect_err)?;
        Ok(Connection {
            client,
            url: url.to_string(),
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                broken: std::sync::atomic::AtomicBool::new(false),
            }),
            blocking: Arc::default(),
            timeouts,
            origin: Instant::now(),
            sent: Arc::default(),
            lose: Arc::default(),
        })
    }

    /// The URL this connection was opened with, password included: keep it out of logs (its
    /// `Debug` form and this crate's errors show [`redacted_url`]).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The instant machine time counts from: machine time `t` is `origin() + t`.
    #[doc(hidden)]
    #[must_use]
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// Machine time now.
    #[doc(hidden)]
    #[must_use]
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// How many commands this connection (and its clones) sent to the server.
    #[must_use]
    pub fn commands_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Runs a machine to completion.
    #[doc(hidden)]
    pub async fn run(&self, machine: &mut dyn Machine, hooks: &mut dyn Hooks) -> Result<Outcome> {
        let mut event = Event::Start;
        let mut subscriber: Option<(Vec<u8>, redis::aio::PubSubStream)> = None;
        let mut step = 0;
        loop {
            let action = machine.handle(self.now(), event);
            let pause = hooks.before(step, &action);
            step += 1;
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
            event = match action {
                Action::Done(outcome) => return Ok(outcome),
                Action::SendEach { .. } => return Ok(Outcome::Failed(Failure::single_server())),
                Action::Send(command) => Event::Reply(self.exec(&command).await?),
                Action::Sleep(d) => {
                    tokio::time::sleep(d).await;
                    Event::Slept
                }
                Action::ReadClock => Event::Clock(wall_ms(hooks.clock_offset_ms())),
                Action::Wait { channel, timeout } => {
                    let stream = match subscriber.take() {
                        Some((c, stream)) if c == channel => subscriber.insert((c, stream)),
                        _ => subscriber.insert((channel.clone(), self.subscribe(&channel).await?)),
                    };
                    let stream = &mut stream.1;
                    match tokio::time::timeout(timeout, stream.next()).await {
                        Ok(Some(msg)) => Event::Notified(msg.get_payload_bytes().to_vec()),
                        Ok(None) => {
                            // The subscriber's connection closed: a failure in transit.
                            let closed = std::io::Error::new(
                                std::io::ErrorKind::ConnectionReset,
                                "the subscription's connection closed",
                            );
                            return Err(Error::Redis(redis::RedisError::from(closed)));
                        }
                        Err(_) => Event::TimedOut,
                    }
                }
            };
        }
    }

    /// Executes one command. Server errors come back as [`Reply::Error`]; failures in transit
    /// as [`Error::Redis`] (after which the next command reconnects).
    #[doc(hidden)]
    pub async fn exec(&self, command: &Command) -> Result<Reply> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Command::BLPop { timeout, .. } = command {
            return self.exec_blocking(command, *timeout).await;
        }
        let mut conn = self.shared_conn().await?;
        let mut result = self.exec_on(&mut conn, command).await;
        if result.is_ok() && self.take_lost_reply() {
            let lost = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reply lost");
            result = Err(Error::Redis(redis::RedisError::from(lost)));
        }
        if let Err(Error::Redis(e)) = &result
            && (e.is_connection_dropped() || e.is_io_error() || e.is_connection_refusal())
        {
            self.shared.broken.store(true, Ordering::Release);
        }
        result
    }

    /// Executes `commands` as one pipeline on the shared connection: sent in one write, run by
    /// the server one after another in this order (other clients' commands may run between
    /// them: this is no transaction), answered together. A server error answers its own
    /// command and the others still run. Scripts go as `EVAL` with their source, not `EVALSHA`:
    /// a `NOSCRIPT` in the middle of a pipeline would not stop the commands behind it. Blocking
    /// commands cannot be pipelined.
    #[doc(hidden)]
    pub async fn exec_pipeline(&self, commands: &[Command]) -> Result<Vec<Reply>> {
        let mut pipe = redis::pipe();
        for command in commands {
            match command {
                Command::BLPop { .. } => {
                    return Err(Error::Internal("a blocking command cannot be pipelined".into()));
                }
                Command::Eval { script, keys, args } => {
                    let mut eval = redis::cmd("EVAL");
                    eval.arg(script.source).arg(keys.len()).arg(keys).arg(args);
                    pipe.add_command(eval);
                }
                other => {
                    pipe.add_command(encode(other));
                }
            }
        }
        self.sent.fetch_add(commands.len() as u64, Ordering::Relaxed);
        let mut conn = self.shared_conn().await?;
        let mut result = conn.send_packed_commands(&pipe, 0, commands.len()).await;
        if result.is_ok() && self.take_lost_reply() {
            let lost = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reply lost");
            result = Err(redis::RedisError::from(lost));
        }
        match result {
            Ok(values) => Ok(values.into_iter().map(decode).collect()),
            Err(e) => {
                if e.is_connection_dropped() || e.is_io_error() || e.is_connection_refusal() {
                    self.shared.broken.store(true, Ordering::Release);
                }
                Err(Error::Redis(e))
            }
        }
    }

    /// Makes the next `n` non-blocking commands run on the server but lose their replies, as a
    /// connection reset right after the server answered does: each fails with a connection
    /// error, and the connection is replaced. For tests of what callers do under reply loss.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn lose_replies(&self, n: u64) {
        self.lose.store(n, Ordering::Relaxed);
    }

    fn take_lost_reply(&self) -> bool {
        self.lose.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    }

    /// A non-blocking command on `conn`; a script by its SHA, sent whole if the server lacks it.
    async fn exec_on(&self, conn: &mut MultiplexedConnection, command: &Command) -> Result<Reply> {
        match command {
            Command::Eval { script, keys, args } => {
                let mut evalsha = redis::cmd("EVALSHA");
                evalsha.arg(script.sha()).arg(keys.len()).arg(keys).arg(args);
                let reply = self.send(conn, &evalsha).await?;
                if !matches!(&reply, Reply::Error(e) if e.starts_with("NOSCRIPT")) {
                    return Ok(reply);
                }
                let mut eval = redis::cmd("EVAL");
                eval.arg(script.source).arg(keys.len()).arg(keys).arg(args);
                self.send(conn, &eval).await
            }
            other => self.send(conn, &encode(other)).await,
        }
    }

    /// The shared connection, opened afresh first if the last one broke.
    async fn shared_conn(&self) -> Result<MultiplexedConnection> {
        if self.shared.broken.load(Ordering::Acquire) {
            let fresh = connect(&self.client, self.timeouts)
                .await
                .map_err(|reason| Error::Connect { url: redacted_url(&self.url), reason })?;
            if let Ok(mut conn) = self.shared.conn.lock() {
                *conn = fresh;
            }
            self.shared.broken.store(false, Ordering::Release);
        }
        self.shared
            .conn
            .lock()
            .map(|conn| conn.clone())
            .map_err(|_| Error::Internal("the connection's mutex was poisoned".into()))
    }

    async fn exec_blocking(&self, command: &Command, block: Duration) -> Result<Reply> {
        let pooled = self.blocking.lock().map_or(None, |mut pool| pool.pop());
        let mut conn = match pooled {
            Some(conn) => conn,
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.timeouts.connect))
                    .set_response_timeout(None);
                self.client.get_multiplexed_async_connection_with_config(&config).await?
            }
        };
        let limit = block + self.timeouts.response;
        let reply = tokio::time::timeout(limit, self.send(&mut conn, &encode(command)))
            .await
            .map_err(|_| Error::NoAnswer { command: words(command).0, limit })??;
        // Only a connection whose command completed goes back: it carries no pending reply.
        if let Ok(mut pool) = self.blocking.lock() {
            pool.push(conn);
        }
        Ok(reply)
    }

    async fn send(&self, conn: &mut MultiplexedConnection, cmd: &Cmd) -> Result<Reply> {
        match conn.send_packed_command(cmd).await {
            Ok(value) => Ok(decode(value)),
            Err(e) if matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension) => {
                // Redis's own wording: the code first (`NOSCRIPT`, `WRONGTYPE`, ...).
                let code = e.code().unwrap_or("ERR");
                Ok(Reply::Error(format!("{code} {}", e.detail().unwrap_or_default())))
            }
            Err(e) => Err(Error::Redis(e)),
        }
    }

    async fn subscribe(&self, channel: &[u8]) -> Result<redis::aio::PubSubStream> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub.into_on_message())
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Debug output ends up in logs and panic messages: never the password.
        f.debug_struct("Connection").field("url", &redacted_url(&self.url)).finish_non_exhaustive()
    }
}

/// A client for `url`, trusting `root_ca` (PEM) for TLS when given.
fn client(url: &str, root_ca: Option<&[u8]>) -> redis::RedisResult<Client> {
    #[cfg(feature = "tls")]
    {
        // rustls needs one process-wide crypto provider; ring is the only one built in. An
        // application that installed its own keeps it.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        if let Some(pem) = root_ca {
            let certs = redis::TlsCertificates { client_tls: None, root_cert: Some(pem.to_vec()) };
            return Client::build_with_tls(url, certs);
        }
    }
    #[cfg(not(feature = "tls"))]
    let _ = root_ca;
    Client::open(url)
}

/// Opens a multiplexed connection with `timeouts`, within the connect timeout; the error is
/// why not.
async fn connect(
    client: &Client,
    timeouts: Timeouts,
) -> std::result::Result<MultiplexedConnection, String> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeouts.connect))
        .set_response_timeout(Some(timeouts.response));
    tokio::time::timeout(
        timeouts.connect,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    .map_err(|_| format!("no connection within {:?}", timeouts.connect))?
    .map_err(|e| e.to_string())
}

/// Wall-clock milliseconds since the Unix epoch, shifted by `offset_ms`.
#[must_use]
pub fn wall_ms(offset_ms: i64) -> u64 {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    u64::try_from(ms).unwrap_or(u64::MAX).saturating_add_signed(offset_ms)
}

/// The wire form of a command.
#[must_use]
pub fn encode(command: &Command) -> Cmd {
    let (name, args) = words(command);
    let mut cmd = redis::cmd(name);
    for arg in args {
        cmd.arg(arg);
    }
    cmd
}

fn words(command: &Command) -> (&'static str, Vec<Vec<u8>>) {
    let b = |s: &str| s.as_bytes().to_vec();
    match command {
        Command::Ping => ("PING", vec![]),
        Command::Get { key } => ("GET", vec![key.clone()]),
        Command::Set { key, value, cond, expiry, get } => {
            let mut args = vec![key.clone(), value.clone()];
            match cond {
                Some(SetCond::Nx) => args.push(b("NX")),
                Some(SetCond::Xx) => args.push(b("XX")),
                None => (),
            }
            match expiry {
                Some(Expiry::Px(ms)) => args.extend([b("PX"), num(ms)]),
                Some(Expiry::Ex(s)) => args.extend([b("EX"), num(s)]),
                None => (),
            }
            if *get {
                args.push(b("GET"));
            }
            ("SET", args)
        }
        Command::SetNx { key, value } => ("SETNX", vec![key.clone(), value.clone()]),
        Command::GetSet { key, value } => ("GETSET", vec![key.clone(), value.clone()]),
        Command::Del { keys } => ("DEL", keys.clone()),
        Command::Expire { key, seconds } => ("EXPIRE", vec![key.clone(), num(seconds)]),
        Command::PExpire { key, ms } => ("PEXPIRE", vec![key.clone(), num(ms)]),
        Command::Pttl { key } => ("PTTL", vec![key.clone()]),
        Command::Ttl { key } => ("TTL", vec![key.clone()]),
        Command::Incr { key } => ("INCR", vec![key.clone()]),
        Command::Decr { key } => ("DECR", vec![key.clone()]),
        Command::LPush { key, values } => ("LPUSH", [vec![key.clone()], values.clone()].concat()),
        Command::RPush { key, values } => ("RPUSH", [vec![key.clone()], values.clone()].concat()),
        Command::LPop { key } => ("LPOP", vec![key.clone()]),
        Command::LLen { key } => ("LLEN", vec![key.clone()]),
        Command::LRem { key, count, value } => {
            ("LREM", vec![key.clone(), num(count), value.clone()])
        }
        Command::LPos { key, value } => ("LPOS", vec![key.clone(), value.clone()]),
        Command::BLPop { key, timeout } => {
            // Seconds with millisecond precision; zero would mean "forever".
            let secs = format!("{:.3}", timeout.max(&Duration::from_millis(1)).as_secs_f64());
            ("BLPOP", vec![key.clone(), secs.into_bytes()])
        }
        Command::Publish { channel, message } => {
            ("PUBLISH", vec![channel.clone(), message.clone()])
        }
        Command::Time => ("TIME", vec![]),
        Command::Wait { replicas, timeout } => (
            "WAIT",
            vec![num(*replicas), num(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))],
        ),
        Command::Eval { script, keys, args } => {
            let head = vec![b(script.source), num(keys.len())];
            ("EVAL", [head, keys.clone(), args.clone()].concat())
        }
    }
}

/// A reply from the `redis` crate's value.
#[must_use]
pub fn decode(value: Value) -> Reply {
    match value {
        Value::Nil => Reply::Nil,
        Value::Int(n) => Reply::Int(n),
        Value::BulkString(b) => Reply::Bulk(b),
        Value::Array(items) | Value::Set(items) => {
            Reply::Array(items.into_iter().map(decode).collect())
        }
        Value::SimpleString(s) => Reply::Status(s),
        Value::Okay => Reply::Status("OK".into()),
        Value::ServerError(e) => {
            Reply::Error(format!("{} {}", e.code(), e.details().unwrap_or_default()))
        }
        Value::Boolean(b) => Reply::Int(i64::from(b)),
        other => Reply::Error(format!("unsupported reply type: {other:?}")),
    }
}
