//! A worker process (`contend worker`): connects, loops acquire → critical section → release,
//! and writes each event to stdout as a JSON line the moment it happens (one `write` per line,
//! so a line is never torn), so the coordinator, which reads the pipe on its own tick, always
//! can know who holds the lock, and an operation under way when the worker dies is on record.

mod adapted;

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use redmutex::algo::{Protocol, ReleaseParams, Rng};
use redmutex::driver::{Hooks, Timeouts};
use redmutex::fanout::Servers;
use redmutex::proto::{Action, Command, Grant, Machine, Outcome, Reply, Token};
use redmutex::{Connection, FencedRead, FencedResource};
use serde::{Deserialize, Serialize};

use crate::adapter::child::{Adapter, Group};
use crate::adapter::faketime::{self, FakeClock};
use crate::clock::{monotonic_ns, ms};
use crate::history::{Event, Kind, Op};
use crate::registry;
use crate::scenario::{ClientSettings, DelayOp};
use crate::witness::{RunKeys, others};

/// How long a worker whose acquires fail in transit (the server is down, restarting) tries the
/// same iteration again: a client's retry policy outlasts a restart. A local restart takes
/// milliseconds; a container's over a second (after `docker start` its published port stalls
/// new connections for about a second).
const RETRY_FOR: Duration = Duration::from_secs(3);

/// Everything a worker needs, passed by the coordinator as one JSON argument.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// This process's worker id (fresh per process).
    pub id: u32,
    /// The slot it fills (a replacement keeps the slot of the worker it replaces).
    pub slot: u32,
    /// The lock server (or this worker's port of the fault proxy in front of it); with several
    /// lock servers, the first.
    pub lock_url: String,
    /// Every lock server, in order, when the run has several (`[server] count`): a quorum lock
    /// runs over all of them. Empty with one.
    #[serde(default)]
    pub lock_urls: Vec<String>,
    /// Whether to mark each operation for the fault proxy (`ECHO contend:w=SLOT:op=…:n=…`).
    pub marks: bool,
    /// The witness server.
    pub witness_url: String,
    /// The run's key prefix.
    pub prefix: String,
    /// The algorithm's name (`adapter:MANIFEST` for an adapter).
    pub algorithm: String,
    /// Scale of a specimen's document time constants.
    pub scale: f64,
    /// Rounds to run.
    pub iterations: u32,
    /// The lock settings and the scenario's faults, as the simulated client gets them.
    pub client: ClientSettings,
    /// Seed of this worker's randomness.
    pub seed: u64,
    /// When the run began (monotonic ns): fault windows count from here.
    pub run_start_ns: u64,
    /// Where an adapter's libfaketime control files go, when a clock skew strikes adapters
    /// (the coordinator's folder, removed after the run).
    #[serde(default)]
    pub clock_dir: Option<std::path::PathBuf>,
    /// When set, this worker is one of the run's first this many, which begin their loop
    /// together once all are ready (see the private `start_together` in this module).
    #[serde(default)]
    pub start_together: Option<u32>,
    /// Whether to record: the history's events on stdout and the witness's `enter`/`exit`
    /// around the section body. Off only in the bench's harness-overhead runs
    /// ([`crate::bench::overhead`]): the worker still takes the lock and runs the body, and
    /// writes one [`Unrecorded`] line when it is done instead of events.
    #[serde(default = "recording")]
    pub record: bool,
}

fn recording() -> bool {
    true
}

/// What a worker that did not record writes on stdout at its end (one JSON line): enough for
/// sections per second over the same span a recorded run measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrecorded {
    /// Critical sections completed (the body ran to its write).
    pub sections: u64,
    /// When the first acquire began (monotonic ns); `None` if none did.
    pub first_acquire_ns: Option<u64>,
    /// When the last release ended (monotonic ns); `None` if none did.
    pub last_release_ns: Option<u64>,
    /// Commands sent to the witness: the body's alone, without recording.
    pub witness_commands: u64,
}

/// The environment variable that carries a worker's configuration (JSON) from the coordinator.
pub const CONFIG_ENV: &str = "CONTEND_WORKER_CONFIG";

/// Runs a worker to the end with the configuration in [`CONFIG_ENV`]; errors go to stderr and
/// a non-zero exit.
pub fn main() -> anyhow::Result<()> {
    let json = std::env::var(CONFIG_ENV).with_context(|| {
        format!("`contend worker` is started by `contend run`, which sets {CONFIG_ENV}")
    })?;
    let cfg: WorkerConfig =
        serde_json::from_str(&json).with_context(|| format!("worker: bad {CONFIG_ENV}"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(run(cfg))
}

async fn run(cfg: WorkerConfig) -> anyhow::Result<()> {
    let entry = registry::find(&cfg.algorithm)?;
    let protocol = entry.protocol(&registry::Build::of_client(&cfg.client, cfg.scale));
    let timeouts = Timeouts { connect: Duration::from_secs(3), response: Duration::from_secs(5) };
    let lock = if protocol.servers() > 1 {
        anyhow::ensure!(
            cfg.lock_urls.len() == protocol.servers(),
            "worker: {} runs over {} lock servers and was given {}",
            protocol.name(),
            protocol.servers(),
            cfg.lock_urls.len()
        );
        LockConn::Many(
            Servers::open(&cfg.lock_urls, timeouts)
                .await
                .context("worker: connect to the lock servers")?,
        )
    } else {
        LockConn::One(
            Connection::open(&cfg.lock_url, timeouts)
                .await
                .context("worker: connect to the lock server")?,
        )
    };
    let witness = Connection::open(&cfg.witness_url, timeouts)
        .await
        .context("worker: connect to the witness")?;
    let keys = RunKeys::new(&cfg.prefix);
    let adapter = match entry.adapter {
        None => None,
        Some(m) => {
            let c = &cfg.client;
            let paused = crate::adapter::paused_ms(&c.faults);
            let timeout = m.call_timeout_ms(c.ttl_ms, c.wait_ms, paused);
            let clock = fake_clock(&cfg)?;
            let adapter = Adapter::start(
                m,
                &cfg.lock_url,
                &cfg.prefix,
                timeout,
                Group::Inherit,
                clock.as_ref(),
            )
            .await?;
            if let Some(clock) = clock {
                tokio::spawn(clock.follow(cfg.client.clone(), cfg.slot, cfg.run_start_ns));
            }
            if let Some(n) = cfg.start_together {
                let limit = Duration::from_millis(m.start_timeout_ms.saturating_add(5000));
                start_together(&cfg.witness_url, &cfg.prefix, n, limit).await?;
            }
            Some(adapter)
        }
    };
    let resource = FencedResource::new(witness.clone(), &keys.resource);
    let mut w = Worker {
        out: Emitter {
            id: cfg.id,
            pid: std::process::id(),
            buf: Vec::with_capacity(1024),
            reported: (0, 0),
            silent: !cfg.record,
        },
        rng: Rng::new(cfg.seed),
        cfg: &cfg,
        protocol: &*protocol,
        lock: &lock,
        witness: &witness,
        keys: &keys,
        resource: &resource,
        ops: [0, 0],
        contended: false,
        markers: if cfg.marks {
            let urls = if cfg.lock_urls.is_empty() {
                std::slice::from_ref(&cfg.lock_url)
            } else {
                &cfg.lock_urls[..]
            };
            let mut markers = Vec::with_capacity(urls.len());
            for url in urls {
                markers.push(Marker::connect(url, cfg.slot).await?);
            }
            markers
        } else {
            Vec::new()
        },
        adapter,
        cancels: 0,
        unreplicated: 0,
        in_transit: false,
    };
    let mut misses = 0;
    let mut first_miss = None;
    let mut summary = Unrecorded::default();
    let deadline =
        cfg.run_start_ns.saturating_add(cfg.client.max_duration_ms.saturating_mul(1_000_000));
    let mut i = 0;
    while i < cfg.iterations {
        if monotonic_ns() >= deadline {
            break; // the time limit: finish what is under way, start nothing new
        }
        let (cancels, unreplicated) = (w.cancels, w.unreplicated);
        summary.first_acquire_ns.get_or_insert_with(monotonic_ns);
        let attempt = w.acquire(i).await?;
        if w.unreplicated > unreplicated {
            continue; // not replicated: the lock is not ours, and the iteration is tried again
        }
        let Some(grant) = attempt else {
            if w.cancels > cancels {
                i += 1;
                continue; // a dropped acquire is the caller's doing, not a miss
            }
            misses += 1;
            let streak = *first_miss.get_or_insert_with(Instant::now);
            let pause = Duration::from_millis(100 * u64::from(misses.min(5)));
            // A server that is down (restarting) fails an acquire at once: give it a moment
            // before the next try, as a client's retry policy would; the same iteration again
            // while the server has been unreachable for less than RETRY_FOR.
            if std::mem::take(&mut w.in_transit) && streak.elapsed() < RETRY_FOR {
                tokio::time::sleep(pause).await;
                continue;
            }
            if misses >= cfg.client.give_up_after {
                break;
            }
            i += 1;
            tokio::time::sleep(pause).await;
            continue;
        };
        misses = 0;
        first_miss = None;
        i += 1;
        summary.sections += u64::from(w.section(&grant).await);
        w.release(grant).await?;
        summary.last_release_ns = Some(monotonic_ns());
    }
    w.out.emit_with_counts(None, lock.commands_sent(), witness.commands_sent());
    if !cfg.record {
        summary.witness_commands = witness.commands_sent();
        let mut line = serde_json::to_vec(&summary)?;
        line.push(b'\n');
        let mut out = std::io::stdout().lock();
        out.write_all(&line).and_then(|()| out.flush()).context("worker: write the summary")?;
    }
    if let Some(adapter) = w.adapter.take() {
        adapter.shutdown().await?;
    }
    Ok(())
}

/// Waits until `n` workers of the run (this one included) are ready, at most `limit`: each
/// counts itself on the witness and polls the count. Workers whose start takes long (an
/// adapter's interpreter) would otherwise begin one by one, the first ones uncontended. A
/// worker that never gets ready fails the run anyway; after `limit` the others go on.
async fn start_together(
    witness_url: &str,
    prefix: &str,
    n: u32,
    limit: Duration,
) -> anyhow::Result<()> {
    let key = format!("{prefix}{{witness}}:ready");
    let client = redis::Client::open(witness_url).context("worker: the witness's URL")?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .context("worker: connect to the witness")?;
    let mut ready: u32 =
        redis::cmd("INCR").arg(&key).query_async(&mut conn).await.context("worker: INCR ready")?;
    let deadline = tokio::time::Instant::now() + limit;
    while ready < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
        ready = redis::cmd("GET")
            .arg(&key)
            .query_async::<Option<u32>>(&mut conn)
            .await
            .context("worker: GET ready")?
            .unwrap_or(0);
    }
    Ok(())
}

/// The fake clock of this worker's adapter, at the offset in force now, when the scenario
/// skews this worker's clock at some time.
fn fake_clock(cfg: &WorkerConfig) -> anyhow::Result<Option<FakeClock>> {
    if !faketime::skews(&cfg.client.faults, cfg.slot) {
        return Ok(None);
    }
    let library = faketime::library().with_context(|| {
        format!("a client clock skew needs libfaketime for the adapter: {}", faketime::INSTALL)
    })?;
    let dir = cfg.clock_dir.as_ref().context("worker: no folder for the adapter's clock")?;
    let mut clock = FakeClock::new(library, dir.join(format!("worker-{}", cfg.id)))
        .context("worker: cannot write the adapter's clock file")?;
    let now_ms = monotonic_ns().saturating_sub(cfg.run_start_ns) / ms(1);
    clock
        .set(cfg.client.clock_offset_ms(cfg.slot, now_ms))
        .context("worker: cannot write the adapter's clock file")?;
    Ok(Some(clock))
}

struct Emitter {
    id: u32,
    pid: u32,
    buf: Vec<u8>,
    /// Commands sent to the lock server and the witness, as far as reported in `stats` lines.
    reported: (u64, u64),
    /// Writes nothing: the worker does not record (see [`WorkerConfig::record`]).
    silent: bool,
}

impl Emitter {
    /// Writes one event line (behind any that wait, see [`Emitter::defer`]) to stdout at
    /// once: the history then holds every operation a
    /// worker began, even one under way when the worker dies, and the coordinator knows of
    /// every operation that can write before it has any effect. The coordinator reads the pipe
    /// on its own tick, so a write wakes nobody. A closed stdout (the coordinator is gone) ends
    /// the process.
    fn emit(&mut self, event: Event) {
        self.defer(event);
        self.flush();
    }

    /// Writes `event` (if any) and a `stats` line with the commands sent since the last one,
    /// in one write: so the counts of a worker killed later are not lost, at no extra cost.
    fn emit_with_counts(&mut self, event: Option<Event>, lock_sent: u64, witness_sent: u64) {
        self.defer_with_counts(event, lock_sent, witness_sent);
        self.flush();
    }

    /// [`Emitter::emit_with_counts`], but the lines wait for the next write: for an event
    /// that ends an operation when the next one begins at once, with nothing awaited between
    /// them (an acquire that took the lock and its section; a section and its release; a
    /// release and the next acquire). The two lines then go out in one write, a system call
    /// less on the lock's critical path, and no later than before anything the second
    /// operation does. Whatever may wait first calls [`Emitter::flush`].
    fn defer_with_counts(&mut self, event: Option<Event>, lock_sent: u64, witness_sent: u64) {
        if let Some(event) = event {
            self.defer(event);
        }
        let mut stats = Event::new(monotonic_ns(), Kind::Ok, Op::Stats);
        stats.value = i64::try_from(lock_sent.saturating_sub(self.reported.0)).ok();
        stats.details = Some(witness_sent.saturating_sub(self.reported.1).to_string());
        self.reported = (lock_sent, witness_sent);
        self.defer(stats);
    }

    /// [`Emitter::emit`], but the line waits for the next write (see
    /// [`Emitter::defer_with_counts`]).
    fn defer(&mut self, event: Event) {
        let event = event.by(self.id, self.pid);
        if serde_json::to_writer(&mut self.buf, &event).is_ok() {
            self.buf.push(b'\n');
        }
    }

    /// Writes what waits, if anything: before anything that may take time (a delay, a mark at
    /// the proxy, an adapter's call), so the coordinator is not told late.
    fn flush(&mut self) {
        if self.buf.is_empty() || self.silent {
            self.buf.clear();
            return;
        }
        let mut out = std::io::stdout().lock();
        if out.write_all(&self.buf).and_then(|()| out.flush()).is_err() {
            std::process::exit(3);
        }
        self.buf.clear();
    }

    fn now(&self, kind: Kind, f: Op) -> Event {
        Event::new(monotonic_ns(), kind, f)
    }
}

impl Drop for Emitter {
    /// A worker that ends on an error still writes what waits.
    fn drop(&mut self) {
        self.flush();
    }
}

/// The worker's side of the lock: one server's connection, or several servers' for a quorum
/// lock (`redmutex::fanout::Servers`). One of each lives per worker: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum LockConn {
    One(Connection),
    Many(Servers),
}

impl LockConn {
    /// Runs a machine to completion.
    async fn run(
        &self,
        machine: &mut dyn Machine,
        hooks: &mut dyn Hooks,
    ) -> redmutex::Result<Outcome> {
        match self {
            LockConn::One(c) => c.run(machine, hooks).await,
            LockConn::Many(s) => s.run(machine, hooks).await,
        }
    }

    /// Commands sent so far, on every server.
    fn commands_sent(&self) -> u64 {
        match self {
            LockConn::One(c) => c.commands_sent(),
            LockConn::Many(s) => s.commands_sent(),
        }
    }

    /// Machine time now.
    fn now(&self) -> Duration {
        match self {
            LockConn::One(c) => c.now(),
            LockConn::Many(s) => s.now(),
        }
    }

    /// The one server's connection; `None` for several.
    fn single(&self) -> Option<&Connection> {
        match self {
            LockConn::One(c) => Some(c),
            LockConn::Many(_) => None,
        }
    }
}

struct Worker<'a> {
    out: Emitter,
    rng: Rng,
    cfg: &'a WorkerConfig,
    protocol: &'a dyn Protocol,
    lock: &'a LockConn,
    witness: &'a Connection,
    keys: &'a RunKeys,
    resource: &'a FencedResource,
    ops: [u32; 2],
    /// Whether the last acquire found the lock busy.
    contended: bool,
    /// Marks operations for the fault proxies, when the run has them (one per lock server).
    markers: Vec<Marker>,
    /// Acquires dropped so far (`cancel-acquire`): not misses, the loop goes on.
    cancels: u32,
    /// Acquires that took the lock but had too few replicas acknowledge it (`[lock]
    /// replicas`): not misses, and the iteration is tried again.
    unreplicated: u32,
    /// Whether the last acquire failed in transit (no answer: the server down or unreachable).
    in_transit: bool,
    /// The adapter that holds the lock for us, when the algorithm is an adapter.
    adapter: Option<Adapter>,
}

/// The worker's own connection to its port of the fault proxy, for the operation markers.
#[derive(Clone)]
struct Marker {
    conn: redis::aio::MultiplexedConnection,
    slot: u32,
}

impl Marker {
    async fn connect(url: &str, slot: u32) -> anyhow::Result<Marker> {
        let client = redis::Client::open(url).context("worker: the fault proxy's URL")?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .context("worker: connect to the fault proxy")?;
        Ok(Marker { conn, slot })
    }

    /// Tells the proxy that the `n`-th operation `op` of this worker begins. Bounded: a
    /// partition holds the marker back like any command, and the operation must not wait for
    /// it (its own commands are held the same way).
    async fn mark(&mut self, op: DelayOp, n: u32) {
        let op = match op {
            DelayOp::Acquire => "acquire",
            DelayOp::Release => "release",
        };
        let marker = format!("{}w={}:op={op}:n={n}", crate::proxy::MARKER_PREFIX, self.slot);
        let mut echo = redis::cmd("ECHO");
        echo.arg(marker);
        let sent = echo.query_async::<redis::Value>(&mut self.conn);
        let _ = tokio::time::timeout(Duration::from_millis(500), sent).await;
    }
}

impl<'a> Worker<'a> {
    /// One acquire; an error is the adapter breaking the protocol (a setup error).
    async fn acquire(&mut self, i: u32) -> anyhow::Result<Option<Grant>> {
        if self.adapter.is_some() {
            return Ok(self.acquire_adapted().await?);
        }
        let token = match Token::random() {
            Ok(t) => t,
            Err(e) => {
                let mut ev = self.out.now(Kind::Invoke, Op::Acquire);
                ev.details = Some(format!("no randomness: {e}"));
                self.out.emit(ev);
                return Ok(None);
            }
        };
        let seed = self.cfg.seed ^ u64::from(i).wrapping_mul(0x9e37_79b9);
        let own = token.to_bytes();
        let cancel =
            self.cfg.client.cancel_after(self.cfg.slot, self.since_start_ms(), &mut self.rng);
        let params = self.cfg.client.acquire_params(self.keys.lock.clone(), token, seed);
        // Like `redmutex::Lock`: once an acquire met a busy lock, take the contended path (notify
        // skips its plain-SET fast path).
        let mut machine = if self.contended {
            self.protocol.acquire_contended(params)
        } else {
            self.protocol.acquire(params)
        };
        let sent_before = self.lock.commands_sent();
        let mut hooks = self.hooks(DelayOp::Acquire);
        hooks.before_invoke(&mut self.out).await;
        self.mark(DelayOp::Acquire).await;
        self.out.emit(self.out.now(Kind::Invoke, Op::Acquire));
        let run = self.lock.run(&mut *machine, &mut hooks);
        let result = match cancel {
            None => run.await,
            Some(after) => match tokio::time::timeout(Duration::from_millis(after), run).await {
                Ok(result) => result,
                Err(_) => {
                    drop(machine);
                    return self.cancelled(own, after, hooks.delayed_ms()).await.map(|()| None);
                }
            },
        };
        self.contended = self.lock.commands_sent() - sent_before > 1;
        let mut ev = self.out.now(Kind::Info, Op::Acquire);
        ev.delayed_ms = hooks.delayed_ms();
        // As `redmutex::Lock` does (its clean-up stays armed when an acquire fails): an acquire
        // that failed, in transit or on a reply it could not read, may have taken the lock or
        // queued its token; a release with its token cleans up. (`Redlock`'s machine releases
        // its lost rounds itself, and `Redlock` runs no clean-up after a failure.)
        let cleanup = self.protocol.servers() == 1
            && !matches!(result, Ok(Outcome::Acquired(_) | Outcome::Busy | Outcome::TimedOut));
        if cleanup {
            ev.token = Some(String::from_utf8_lossy(&own).into_owned());
        }
        let grant = match result {
            Ok(Outcome::Acquired(grant)) => {
                ev.kind = Kind::Ok;
                ev.token = Some(String::from_utf8_lossy(&grant.token).into_owned());
                ev.fence = grant.fence;
                let origin = monotonic_ns()
                    .saturating_sub(u64::try_from(self.lock.now().as_nanos()).unwrap_or(0));
                ev.lease_from = u64::try_from(grant.acquired_at.as_nanos())
                    .ok()
                    .map(|a| origin.saturating_add(a));
                Some(grant)
            }
            Ok(Outcome::Busy | Outcome::TimedOut) => {
                ev.kind = Kind::Fail;
                ev.details = Some("timed out".into());
                None
            }
            Ok(other) => {
                ev.details = Some(format!("{other:?}"));
                None
            }
            Err(e) => {
                ev.details = Some(e.to_string());
                self.in_transit = true;
                None
            }
        };
        if let Some((wanted, timeout_ms)) = self.cfg.client.replicas
            && grant.is_some()
        {
            let acked = self.replicated(wanted, timeout_ms).await;
            if acked.as_ref().is_ok_and(|&n| n >= wanted) {
                ev.time = monotonic_ns();
            } else {
                // As `redmutex::Lock` does: release it, and the acquire did not take the lock.
                // It held the lock meanwhile, so it is recorded as unsure, and the release
                // that follows is its clean-up.
                ev.kind = Kind::Info;
                ev.time = monotonic_ns();
                ev.details = Some(match acked {
                    Ok(n) => format!(
                        "not replicated: took the lock, but WAIT had {n} of {wanted} replicas \
                         acknowledge within {timeout_ms} ms; releasing it"
                    ),
                    Err(e) => format!(
                        "not replicated: took the lock, but WAIT failed ({e}); \
                                       releasing it"
                    ),
                });
                let (lock_sent, witness_sent) =
                    (self.lock.commands_sent(), self.witness.commands_sent());
                self.out.emit_with_counts(Some(ev), lock_sent, witness_sent);
                self.unreplicated += 1;
                let grant = grant.expect("checked above");
                self.release(grant).await?;
                self.out.flush();
                // A client's retry policy would back off before trying again.
                tokio::time::sleep(Duration::from_millis(timeout_ms)).await;
                return Ok(None);
            }
        }
        let (lock_sent, witness_sent) = (self.lock.commands_sent(), self.witness.commands_sent());
        if grant.is_some() {
            // Its section begins at once: written with the section's invocation.
            self.out.defer_with_counts(Some(ev), lock_sent, witness_sent);
        } else {
            self.out.emit_with_counts(Some(ev), lock_sent, witness_sent);
        }
        if cleanup {
            self.release(Grant::for_cleanup(own)).await?;
            // The run loop pauses before the next try: what waits is not held back by it.
            self.out.flush();
        }
        Ok(grant)
    }

    /// `WAIT wanted timeout_ms` on the lock's connection: how many replicas acknowledged.
    async fn replicated(&self, wanted: u32, timeout_ms: u64) -> Result<u32, String> {
        let wait = Command::Wait { replicas: wanted, timeout: Duration::from_millis(timeout_ms) };
        let Some(lock) = self.lock.single() else {
            return Err("WAIT needs one lock server with replicas".into());
        };
        match lock.exec(&wait).await {
            Ok(Reply::Int(n)) => Ok(u32::try_from(n).unwrap_or(0)),
            Ok(other) => Err(format!("the reply was {}", other.describe())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The acquire future was dropped after `after` ms (`cancel-acquire`): it may or may not
    /// have taken the lock. Recorded as such, then cleaned up as `redmutex::Lock` cleans up a
    /// dropped acquire: a release with the dropped attempt's token, which frees what it took
    /// (and, for `notify`, withdraws it from the waiters and passes on a hand-off it got).
    async fn cancelled(
        &mut self,
        own: Vec<u8>,
        after: u64,
        delayed: Option<u64>,
    ) -> anyhow::Result<()> {
        let mut ev = self.out.now(Kind::Info, Op::Acquire);
        ev.delayed_ms = delayed;
        ev.token = Some(String::from_utf8_lossy(&own).into_owned());
        ev.details = Some(format!("cancelled after {after} ms: the caller dropped the acquire"));
        self.out.emit(ev);
        let mut fault = self.out.now(Kind::Invoke, Op::CancelAcquire);
        fault.details = Some(format!("acquire dropped after {after} ms"));
        self.out.emit(fault.clone());
        fault.kind = Kind::Ok;
        self.out.emit(fault);
        self.cancels += 1;
        self.release(Grant::for_cleanup(own)).await
    }

    fn since_start_ms(&self) -> u64 {
        monotonic_ns().saturating_sub(self.cfg.run_start_ns) / ms(1)
    }

    /// The critical section; true when its body wrote (a refused fenced write did not).
    async fn section(&mut self, grant: &Grant) -> bool {
        let mut ev = self.out.now(Kind::Invoke, Op::Section);
        ev.fence = grant.fence;
        self.out.emit(ev.clone());
        let done = match self.section_body(grant, &mut ev).await {
            Ok(()) => {
                ev.kind = Kind::Ok;
                ev.wrote.is_some()
            }
            Err(e) => {
                ev.kind = Kind::Info;
                ev.details = Some(format!("{e:#}"));
                false
            }
        };
        ev.time = monotonic_ns();
        // The release begins at once: written with the release's invocation.
        self.out.defer(ev);
        done
    }

    /// The witness's `enter` for this worker with `then` (the body's read) in one pipeline
    /// behind it: the others `enter` saw inside, and `then`'s reply. The witness runs the two
    /// in that order, so the read still comes after `enter` in the witness's order, and the
    /// time taken once both answered is no earlier than `enter` ran: what the checkers take
    /// `enter` for. A round trip less on every section. Without recording: `then` alone.
    async fn enter(&mut self, then: Option<Command>) -> anyhow::Result<(Vec<u32>, Option<Reply>)> {
        if !self.cfg.record {
            let reply = match then {
                Some(c) => Some(self.witness.exec(&c).await?),
                None => None,
            };
            return Ok((Vec::new(), reply));
        }
        let id = self.cfg.id;
        let mut commands = vec![self.keys.enter(id)];
        commands.extend(then);
        let mut replies = self.witness.exec_pipeline(&commands).await?.into_iter();
        let entered = replies.next().context("witness enter: no reply")?;
        let others =
            others(&entered, id).with_context(|| format!("witness enter answered {entered:?}"))?;
        Ok((others, replies.next()))
    }

    /// `first` (the body's write), then the witness's `exit`, in one pipeline: the witness
    /// runs the write before `exit`, and `exit` was sent no earlier than the time the caller
    /// took for it. Answers `first`'s reply once `exit` has run too (so the release, on another
    /// server, follows it). Without recording: `first` alone.
    async fn exit(&mut self, first: Option<Command>) -> anyhow::Result<Option<Reply>> {
        let exit = self.keys.exit(self.cfg.id);
        let Some(first) = first else {
            if self.cfg.record {
                self.witness.exec(&exit).await?;
            }
            return Ok(None);
        };
        if !self.cfg.record {
            return Ok(Some(self.witness.exec(&first).await?));
        }
        let replies = self.witness.exec_pipeline(&[first, exit]).await?;
        Ok(replies.into_iter().next())
    }

    async fn section_body(&mut self, grant: &Grant, ev: &mut Event) -> anyhow::Result<()> {
        // The `unchecked-resource` specimen's resource compares no fences: plain GET and SET.
        let checks =
            crate::specimens::unchecked_resource::resource_checks_fences(&self.cfg.algorithm);
        let read = match grant.fence {
            Some(_) if !checks => None,
            Some(fence) => Some(self.resource.read_command(fence)),
            None => Some(Command::Get { key: self.keys.counter.clone() }),
        };
        let (others, reply) = self.enter(read).await?;
        ev.enter = Some(monotonic_ns());
        ev.others = others;
        let read = match (grant.fence, reply) {
            (Some(_), None) => Some(
                self.resource
                    .read()
                    .await?
                    .map_or_else(|| "0".to_string(), |v| String::from_utf8_lossy(&v).into_owned()),
            ),
            (Some(_), Some(reply)) => {
                match FencedRead::from_reply(reply)? {
                    FencedRead::Value(value) => Some(value.map_or_else(
                        || "0".to_string(),
                        |v| String::from_utf8_lossy(&v).into_owned(),
                    )),
                    FencedRead::Refused => {
                        // A newer holder already read the resource: our lease is over.
                        ev.accepted = Some(false);
                        ev.exit = Some(monotonic_ns());
                        self.exit(None).await?;
                        return Ok(());
                    }
                }
            }
            (None, Some(Reply::Bulk(b))) => Some(String::from_utf8_lossy(&b).into_owned()),
            (None, Some(Reply::Nil)) => None,
            (None, other) => anyhow::bail!("GET counter answered {other:?}"),
        };
        let read: i64 = read.map_or(Ok(0), |s| s.parse()).context("the counter is not a number")?;
        ev.read = Some(read);
        let hold = self.hold(grant);
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
        let value = (read + 1).to_string().into_bytes();
        // A fenced write is answered before `exit` is sent: the fencing checker orders two
        // accepted writes by one's `exit` sent before the other's `enter` answered.
        match grant.fence {
            Some(fence) if !checks => {
                let Command::Eval { keys, .. } = self.resource.write_command(fence, &value) else {
                    anyhow::bail!("the fenced write is not a script");
                };
                let key = keys.into_iter().next().context("the fenced write names no key")?;
                let set = Command::Set { key, value, cond: None, expiry: None, get: false };
                let reply = self.witness.exec(&set).await?;
                anyhow::ensure!(reply.is_ok(), "SET resource answered {reply:?}");
                ev.accepted = Some(true);
            }
            Some(fence) => ev.accepted = Some(self.resource.write(fence, &value).await?),
            None => {
                // The plain write goes out with `exit` behind it (no checker orders plain
                // writes by time: the counter and the reads and writes on record judge them).
                let key = self.keys.counter.clone();
                let set = Command::Set { key, value, cond: None, expiry: None, get: false };
                ev.exit = Some(monotonic_ns());
                let reply = self.exit(Some(set)).await?;
                anyhow::ensure!(
                    reply.as_ref().is_some_and(Reply::is_ok),
                    "SET counter answered {reply:?}"
                );
                ev.wrote = Some(read + 1);
                return Ok(());
            }
        }
        ev.wrote = Some(read + 1);
        ev.exit = Some(monotonic_ns());
        self.exit(None).await.map(drop)
    }

    /// One release; an error is the adapter breaking the protocol (a setup error).
    async fn release(&mut self, grant: Grant) -> anyhow::Result<()> {
        if self.adapter.is_some() {
            return Ok(self.release_adapted(grant).await?);
        }
        let fresh_token =
            Token::random().unwrap_or(Token::from_u128(u128::from(self.rng.next_u64())));
        let mut ev = self.out.now(Kind::Invoke, Op::Release);
        ev.token = Some(String::from_utf8_lossy(&grant.token).into_owned());
        ev.fence = grant.fence;
        let params = ReleaseParams {
            keys: self.keys.lock.clone(),
            grant,
            ttl: Duration::from_millis(self.cfg.client.ttl_ms),
            fresh_token,
        };
        let mut machine = self.protocol.release(params);
        let mut hooks = self.hooks(DelayOp::Release);
        hooks.before_invoke(&mut self.out).await;
        self.mark(DelayOp::Release).await;
        ev.time = monotonic_ns();
        self.out.emit(ev.clone());
        let result = self.lock.run(&mut *machine, &mut hooks).await;
        ev.time = monotonic_ns();
        ev.delayed_ms = hooks.delayed_ms();
        ev.last_send = hooks.last_send;
        match result {
            Ok(Outcome::Released { owned, handed }) => {
                ev.kind = Kind::Ok;
                ev.owned = Some(owned);
                // Whom the release handed the lock to: that lease began after our invocation.
                ev.handed = handed.map(|h| String::from_utf8_lossy(&h).into_owned());
            }
            Ok(other) => {
                ev.kind = Kind::Info;
                ev.details = Some(format!("{other:?}"));
            }
            Err(e) => {
                ev.kind = Kind::Info;
                ev.details = Some(e.to_string());
            }
        }
        let (lock_sent, witness_sent) = (self.lock.commands_sent(), self.witness.commands_sent());
        // The main loop's next step is the next acquire (or the last stats line): written with
        // its invocation.
        self.out.defer_with_counts(Some(ev), lock_sent, witness_sent);
        Ok(())
    }

    fn hooks(&mut self, op: DelayOp) -> WorkerHooks<'a> {
        let n = &mut self.ops[usize::from(op == DelayOp::Release)];
        *n += 1;
        WorkerHooks { cfg: self.cfg, op, nth: *n, delayed: 0, invoked: false, last_send: None }
    }

    /// Marks the operation `op` about to begin for the fault proxy, if the run has one.
    async fn mark(&mut self, op: DelayOp) {
        let n = self.ops[usize::from(op == DelayOp::Release)];
        if !self.markers.is_empty() {
            self.out.flush(); // a mark is a round trip: what waits is not held back by it
        }
        if let [marker] = &mut self.markers[..] {
            return marker.mark(op, n).await;
        }
        // Several proxies: marked at once, each bounded as one is.
        let mut marks = tokio::task::JoinSet::new();
        for marker in &self.markers {
            let mut marker = marker.clone();
            marks.spawn(async move { marker.mark(op, n).await });
        }
        while marks.join_next().await.is_some() {}
    }

    /// The hold for a holder of `grant`, whose lease ends at its `valid_until`.
    fn hold(&mut self, grant: &Grant) -> Duration {
        let left = grant.valid_until.saturating_sub(self.lock.now());
        self.cfg.client.hold.draw(&mut self.rng, left)
    }
}

/// The faults a worker applies to itself during one operation.
struct WorkerHooks<'a> {
    cfg: &'a WorkerConfig,
    op: DelayOp,
    nth: u32,
    delayed: u64,
    invoked: bool,
    last_send: Option<u64>,
}

impl WorkerHooks<'_> {
    fn since_start_ms(&self) -> u64 {
        monotonic_ns().saturating_sub(self.cfg.run_start_ns) / ms(1)
    }

    /// A delay before step 0 is the client being slow to start the operation: it is slept
    /// before the invocation is recorded, so the history shows when the operation really began.
    async fn before_invoke(&mut self, out: &mut Emitter) {
        if let Some(d) = self.delay(0) {
            out.flush(); // what waits is not held back by the delay
            tokio::time::sleep(d).await;
        }
        self.invoked = true;
    }

    fn delay(&mut self, step: usize) -> Option<Duration> {
        let now = self.since_start_ms();
        let total = self.cfg.client.step_delay_ms(self.op, step, self.nth, self.cfg.slot, now);
        self.delayed += total;
        (total > 0).then(|| Duration::from_millis(total))
    }

    fn delayed_ms(&self) -> Option<u64> {
        (self.delayed > 0).then_some(self.delayed)
    }
}

impl Hooks for WorkerHooks<'_> {
    fn before(&mut self, step: usize, action: &Action) -> Option<Duration> {
        let delay = if step == 0 && self.invoked { None } else { self.delay(step) };
        if matches!(action, Action::Send(_) | Action::SendEach { .. }) {
            // The command goes out right after the delay.
            let after = delay.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
            self.last_send = Some(monotonic_ns() + after);
        }
        delay
    }

    fn clock_offset_ms(&self) -> i64 {
        self.cfg.client.clock_offset_ms(self.cfg.slot, self.since_start_ms())
    }
}
