//! A RESP-aware fault proxy: a TCP proxy on loopback in front of one Redis server that can fault
//! single commands and their replies, partition, throttle and reset clients.
//!
//! Both directions are cut into RESP frames by the `redis` crate's decoder and forwarded byte
//! for byte. Replies are matched to commands in order (one reply per command, so pipelining and
//! blocking commands such as `BLPOP` need nothing special); RESP3 push frames are passed through
//! unmatched.
//!
//! # The operation marker
//!
//! A client tells the proxy who it is and which operation it is in by sending, on a connection,
//!
//! ```text
//! ECHO contend:w=2:op=release:n=3     worker 2, its 3rd release, starts now
//! ECHO contend:w=2:op=idle            worker 2, outside any operation
//! ECHO contend:w=2                    worker 2 (same as op=idle)
//! ```
//!
//! The proxy answers a marker itself, with the reply `ECHO` would get, and does not forward it, so
//! the server's command counts stay true; without a proxy the server gives the same answer, so a
//! client may always send it. Any Redis client in any language can send `ECHO`. A malformed
//! marker gets an error reply naming the fault.
//!
//! The marker names its connection's worker, and sets the worker's current operation for all of
//! the worker's connections until its next marker: a worker runs one operation at a time, and
//! its client library may open connections of its own (for `BLPOP`, for a subscription) that
//! the worker cannot mark. Those connections are known as the worker's when it connects through
//! a port of its own ([`Proxy::listen_for`]); then a marker on any one of its connections,
//! sent and answered before the operation begins, covers them all. Commands are numbered
//! within an operation across the worker's connections, in the order they reach the proxy, so
//! "the 1st command of the 3rd release of worker 2" is one command.
//!
//! # Faults
//!
//! Command faults are [`Rule`]s (data, readable from a scenario file): a [`Match`] on worker,
//! operation, ordinals and command name, and an [`Action`]: delay the command or its reply, drop
//! the reply (the command ran) or the command (it did not) and reset the connection, or start a
//! partition. The first rule that matches a command strikes it; every strike is recorded
//! ([`Proxy::strikes`]) so a run can show that its fault really struck. Connection faults are
//! calls: [`Proxy::partition`], [`Proxy::throttle`], [`Proxy::heal`], [`Proxy::reset`].
//!
//! A partition holds traffic back without closing anything; on heal the held bytes flow on, as
//! TCP's retransmissions would deliver them. A reset closes both sides with `RST`.
//!
//! # Limits
//!
//! Inline commands (`PING\r\n` typed into telnet) are not RESP arrays: such a client is reset.
//! `CLIENT REPLY OFF|SKIP` breaks reply matching. After `SUBSCRIBE` (RESP2) a connection's
//! replies are passed through and reply faults no longer strike on it.
//!
//! The proxy runs on a thread of its own with its own runtime, so it works from sync and async
//! code alike; dropping the [`Proxy`] closes the listener and every connection before it returns.

mod conn;
mod frame;
mod rules;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use tokio::sync::{oneshot, watch};

pub use rules::{
    Action, CommandInfo, Counts, Direction, MARKER_PREFIX, Marker, Match, OpRef, Rule, RuleBook,
    Strike, scenario_rules,
};

/// Which connections a connection fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every connection, marked or not.
    All,
    /// The worker's connections: named by a marker, or opened on its own port.
    Worker(u32),
}

/// A running proxy; dropping it stops it.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The proxy thread's runtime, to start more listeners on.
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    /// Stops the workers' own listeners (dropping the runtime would too; this says so).
    listeners: Vec<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy on a free loopback port in front of the server at `upstream`. Each
    /// client connection gets its own connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<Proxy> {
        Proxy::launch(upstream, false)
    }

    /// Starts a proxy that forwards bytes without reading them as RESP, for traffic that is
    /// not all RESP frames (a replica's sync: the RDB payload is a bare bulk). Partitions,
    /// throttles and resets work; rules, markers and counts do not.
    pub fn start_raw(upstream: SocketAddr) -> io::Result<Proxy> {
        Proxy::launch(upstream, true)
    }

    fn launch(upstream: SocketAddr, raw: bool) -> io::Result<Proxy> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(upstream, raw));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel();
        let for_thread = Arc::clone(&shared);
        let thread = thread::Builder::new().name(format!("contend-proxy-{}", addr.port())).spawn(
            move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => conn::accept(listener, for_thread, None, stopped).await,
                        Err(e) => eprintln!("contend proxy: cannot listen: {e}"),
                    }
                });
                // Dropping the runtime drops every connection task, and so its sockets.
                drop(runtime);
            },
        )?;
        Ok(Proxy {
            addr,
            shared,
            handle,
            stop: Some(stop),
            listeners: Vec::new(),
            thread: Some(thread),
        })
    }

    /// Opens a port of worker `worker`'s own: every connection to it is the worker's from the
    /// start, marked or not. Returns its address; it closes with the proxy.
    pub fn listen_for(&mut self, worker: u32) -> io::Result<SocketAddr> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::clone(&self.shared);
        let (stop, stopped) = oneshot::channel();
        self.handle.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => conn::accept(listener, shared, Some(worker), stopped).await,
                Err(e) => eprintln!("contend proxy: cannot listen for worker {worker}: {e}"),
            }
        });
        self.listeners.push(stop);
        Ok(addr)
    }

    /// The address clients connect to.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://127.0.0.1:PORT` of the proxy.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Sends new connections to `upstream` from now on (the way a virtual IP moves on
    /// failover); open connections stay where they are: [`Proxy::reset`] them to move them.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *lock(&self.shared.upstream) = upstream;
    }

    /// Replaces the rules; their strike budgets start afresh.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *lock(&self.shared.rules) = RuleBook::new(rules);
    }

    /// Adds a rule after the others.
    pub fn add_rule(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Removes every rule (partitions and throttles stay: see [`Proxy::heal`]).
    pub fn clear_rules(&self) {
        *lock(&self.shared.rules) = RuleBook::default();
    }

    /// Cuts `target`'s traffic going `direction` until [`Proxy::heal`]; connections stay open.
    pub fn partition(&self, target: Target, direction: Direction) {
        self.shared.links.send_modify(|l| l.link(target).partition = Some(direction));
    }

    /// Limits `target`'s traffic to `bytes_per_sec` each way until [`Proxy::heal`].
    pub fn throttle(&self, target: Target, bytes_per_sec: u64) {
        self.shared.links.send_modify(|l| l.link(target).throttle = Some(bytes_per_sec.max(1)));
    }

    /// Lifts `target`'s partition and throttle (`Target::All`: everyone's); held traffic flows.
    pub fn heal(&self, target: Target) {
        self.shared.links.send_modify(|l| match target {
            Target::All => *l = Links::default(),
            Target::Worker(w) => {
                l.workers.remove(&w);
            }
        });
    }

    /// Resets `target`'s open connections (both sides, `RST`); how many there were.
    pub fn reset(&self, target: Target) -> usize {
        let conns = lock(&self.shared.conns);
        let mut hit = 0;
        for state in conns.values() {
            if target == Target::All || state.worker().is_some_and(|w| target == Target::Worker(w))
            {
                state.kill.notify_one();
                hit += 1;
            }
        }
        hit
    }

    /// How many client connections are open.
    #[must_use]
    pub fn connections(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    /// The commands that went through so far.
    #[must_use]
    pub fn counts(&self) -> Counts {
        lock(&self.shared.counts).clone()
    }

    /// Every fault that struck so far, in order.
    #[must_use]
    pub fn strikes(&self) -> Vec<Strike> {
        lock(&self.shared.strikes).clone()
    }

    /// Stops the proxy: the listener and every connection are closed when this returns.
    pub fn stop(self) {}
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for stop in self.listeners.drain(..).chain(self.stop.take()) {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A partition and a throttle.
#[derive(Clone, Copy, Debug, Default)]
struct Link {
    partition: Option<Direction>,
    throttle: Option<u64>,
}

/// The connection faults in force.
#[derive(Clone, Debug, Default)]
struct Links {
    all: Link,
    workers: BTreeMap<u32, Link>,
}

impl Links {
    fn link(&mut self, target: Target) -> &mut Link {
        match target {
            Target::All => &mut self.all,
            Target::Worker(w) => self.workers.entry(w).or_default(),
        }
    }

    fn applying(&self, worker: Option<u32>) -> impl Iterator<Item = &Link> {
        std::iter::once(&self.all).chain(worker.and_then(|w| self.workers.get(&w)))
    }

    fn cuts(&self, worker: Option<u32>, way: Direction) -> bool {
        self.applying(worker).any(|l| l.partition.is_some_and(|p| p.cuts(way)))
    }

    fn throttle(&self, worker: Option<u32>) -> Option<u64> {
        self.applying(worker).filter_map(|l| l.throttle).min()
    }
}

/// What the control API and the connections share.
struct Shared {
    /// Bytes only: no frames, rules or counts.
    raw: bool,
    upstream: Mutex<SocketAddr>,
    /// Each rule with how often it struck.
    rules: Mutex<RuleBook>,
    strikes: Mutex<Vec<Strike>>,
    counts: Mutex<Counts>,
    links: watch::Sender<Links>,
    conns: Mutex<BTreeMap<u64, Arc<conn::ConnState>>>,
    next_id: AtomicU64,
    /// Each worker's current operation, as its last marker said.
    ops: Mutex<BTreeMap<u32, Option<OpRef>>>,
}

impl Shared {
    fn new(upstream: SocketAddr, raw: bool) -> Shared {
        Shared {
            raw,
            upstream: Mutex::new(upstream),
            rules: Mutex::default(),
            strikes: Mutex::default(),
            counts: Mutex::default(),
            links: watch::Sender::new(Links::default()),
            conns: Mutex::default(),
            next_id: AtomicU64::new(1),
            ops: Mutex::default(),
        }
    }

    /// The first rule with strikes left that matches `info`, charged one strike.
    fn pick(&self, info: &CommandInfo) -> Option<(usize, Action)> {
        lock(&self.rules).pick(info)
    }

    fn record(&self, rule: usize, info: &CommandInfo, action: &Action) {
        let strike = Strike {
            time: crate::clock::monotonic_ns(),
            rule,
            info: info.clone(),
            action: action.clone(),
        };
        lock(&self.strikes).push(strike);
    }
}

/// A lock that a panicking holder did not break: the data stays consistent between statements.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
