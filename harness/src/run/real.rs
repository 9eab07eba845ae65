//! The real backend: servers up, worker processes spawned, the fault plan's strikes carried
//! out on them, their events merged into the history, heal, final read on the witness.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use redmutex::FencedResource;
use redmutex::driver::Timeouts;
use redmutex::testing::RedisServer;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::lockset::Lockset;
use super::pipe::EventPipe;
use super::{Interrupted, Recorded, RunOptions};
use crate::clock::{median_us, monotonic_ns, ms};
use crate::history::{self, Event, History, Kind, Op};
use crate::plan::{FaultPlan, HolderStrike, WindowEdge};
use crate::progress::Progress;
use crate::registry::Entry;
use crate::report::Figures;
use crate::scenario::{ClientSettings, Fault, Scenario, ServerSet};
use crate::servers::{self, ServerChoice, Servers};
use crate::witness::RunKeys;
use crate::worker::WorkerConfig;

/// Starts the servers, runs `scenario` with worker processes, stops everything it started, and
/// answers what was recorded.
pub(super) async fn record(
    scenario: &Scenario,
    entry: Entry,
    seed: u64,
    opts: &RunOptions,
) -> anyhow::Result<Recorded> {
    let run_id = format!(
        "{:08x}{}",
        monotonic_ns() as u32 ^ std::process::id().rotate_left(16),
        std::process::id()
    );
    let servers = Servers::start(&opts.server, opts.witness.as_deref(), &run_id).await?;
    let result = run_on(scenario, entry, seed, opts, &servers).await;
    if servers.shared
        && let Err(e) = servers.clean().await
    {
        eprintln!("warning: could not delete the run's keys under {}: {e:#}", servers.prefix);
    }
    drop(servers);
    result
}

async fn run_on(
    scenario: &Scenario,
    entry: Entry,
    seed: u64,
    opts: &RunOptions,
    servers: &Servers,
) -> anyhow::Result<Recorded> {
    let keys = RunKeys::new(&servers.prefix);
    let topology = Lockset::start(
        scenario,
        &servers.lock_url,
        servers.local.first().and_then(RedisServer::pid),
        &opts.server,
    )?;
    let lock_url = topology.first_url().to_string();
    let mut lock_raw = servers::connect(&lock_url).await?;
    let ping = crate::ping::measure(&mut lock_raw, topology.first_pid()).await?;
    let stats_before = commandstats(&topology.urls()).await;
    let (workers, iterations) = (scenario.workers, scenario.iterations);
    // The running binary itself, even if a rebuild replaced the file meanwhile: on Linux the
    // child resolves /proc/self/exe before exec, while it is still a copy of us.
    let exe = if cfg!(target_os = "linux") {
        PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().context("cannot find this program's own path to start workers")?
    };
    // An adapter's clock skew is libfaketime's control file, one per worker, in a folder that
    // goes with the run.
    let clock_dir = match entry.adapter {
        Some(_) if scenario.faults.iter().any(|f| matches!(f, Fault::ClockSkew(_))) => Some(
            tempfile::Builder::new()
                .prefix("contend-clock-")
                .tempdir()
                .context("cannot create a folder for the adapters' clocks")?,
        ),
        _ => None,
    };
    let run_start = monotonic_ns();
    let base = WorkerConfig {
        id: 0,
        slot: 0,
        lock_url: lock_url.clone(),
        lock_urls: Vec::new(),
        marks: topology.marks(),
        witness_url: servers.witness_url.clone(),
        prefix: servers.prefix.clone(),
        algorithm: entry.locator(),
        scale: scenario.specimen_scale,
        iterations,
        client: ClientSettings::of(scenario),
        seed,
        run_start_ns: run_start,
        clock_dir: clock_dir.as_ref().map(|d| d.path().to_path_buf()),
        // An adapter's start (an interpreter importing its library) takes hundreds of ms: the
        // first workers wait for each other after it, so that they contend from the start.
        start_together: entry.adapter.map(|_| workers),
        record: true,
    };
    let mut c = Coordinator::new(base, exe, scenario, topology, opts.progress);
    c.ping_conn = Some(lock_raw.clone());
    for slot in 0..workers {
        c.spawn(slot, iterations)?;
    }
    // A worker that replaces a killed one starts alone.
    c.base.start_together = None;
    let outcome = c.drive(scenario).await;
    c.kill_all().await;
    outcome?;

    // The outcome, read on the witness.
    let witness = redmutex::Connection::open(&servers.witness_url, Timeouts::default()).await?;
    // The resource's high-water mark, for the fencing checker (0 when it keeps none).
    let mark = if entry.fenced() {
        Some(FencedResource::new(witness.clone(), &keys.resource).last_fence().await?)
    } else {
        None
    };
    let mut fin = Event::new(monotonic_ns(), Kind::Ok, Op::Final);
    fin.fence = mark;
    fin.value = Some(crate::witness::outcome(&witness, &keys, entry.fenced()).await?);
    c.history.push(fin);
    let protocol = entry.protocol(&crate::registry::Build::of(scenario));
    let roles = super::residue::KeyRoles {
        kept: protocol.kept_keys(&keys.lock),
        renewed: protocol.renewed_keys(&keys.lock),
    };
    let urls = c.topology.urls();
    match super::residue::list_all(&urls, &keys.lock.lock, &roles).await {
        Ok(events) => c.history.extend(events),
        Err(e) => c.failures.push(format!("could not list what the run left: {e:#}")),
    }
    let stats_after = commandstats(&urls).await;
    let internal = match (servers.shared, stats_before, stats_after) {
        (false, Some(b), Some(a)) => {
            Some(b.iter().zip(&a).map(|(b, a)| servers::calls_between(b, a)).sum())
        }
        _ => None,
    };

    let mut history = std::mem::take(&mut c.history);
    history.extend(c.topology.command_strikes());
    history::sort(&mut history);
    let figures = Figures {
        ping,
        ping_us_p50_during_run: median_us(&mut c.pings),
        lock_commands_sent: c.lock_commands,
        lock_commands_internal: internal,
        witness_commands_sent: c.witness_commands,
        workers,
        iterations,
        seed,
        server: match &opts.server {
            ServerChoice::Local => c
                .topology
                .server_note()
                .map_or_else(|| "local".into(), |note| format!("local, {note}")),
            ServerChoice::Docker => "docker".into(),
            ServerChoice::Url(u) if servers.witness_url == *u => {
                format!("{} (the witness on the same server)", servers::redact(u))
            }
            ServerChoice::Url(u) => {
                format!("{}, witness {}", servers::redact(u), servers::redact(&servers.witness_url))
            }
            ServerChoice::Sim => "sim".into(),
        },
        worker_failures: c.failures.clone(),
    };
    Ok(Recorded { history, figures })
}

/// `INFO commandstats` of every lock server, in order; `None` if any cannot answer.
async fn commandstats(urls: &[String]) -> Option<Vec<std::collections::BTreeMap<String, u64>>> {
    let mut all = Vec::with_capacity(urls.len());
    for url in urls {
        let mut conn = servers::connect(url).await.ok()?;
        all.push(servers::commandstats(&mut conn).await.ok()?);
    }
    Some(all)
}

enum Msg {
    Exited(usize, Option<i32>, Option<i32>, String),
}

struct Live {
    id: u32,
    slot: u32,
    pid: u32,
    iterations: u32,
    started: u32,
    alive: bool,
    stopped: bool,
    killed: bool,
    holding_since: Option<u64>,
    pending: Option<Op>,
    /// `None` once the worker has exited and its pipe was drained and closed.
    events: Option<EventPipe>,
}

struct Coordinator {
    base: WorkerConfig,
    exe: PathBuf,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    live: Vec<Live>,
    history: History,
    next_id: u32,
    plan: FaultPlan,
    topology: Lockset,
    resumes: Vec<(u64, usize)>,
    progress: Progress,
    lock_commands: u64,
    witness_commands: u64,
    failures: Vec<String>,
    witness: Option<redis::aio::MultiplexedConnection>,
    inside_key: Vec<u8>,
    ping_conn: Option<redis::aio::MultiplexedConnection>,
    pings: Vec<u64>,
    last_ping: std::time::Instant,
}

impl Coordinator {
    fn new(
        base: WorkerConfig,
        exe: PathBuf,
        scenario: &Scenario,
        topology: Lockset,
        progress: bool,
    ) -> Coordinator {
        let (tx, rx) = mpsc::unbounded_channel();
        let inside_key = RunKeys::new(&base.prefix).inside;
        Coordinator {
            base,
            exe,
            tx,
            rx,
            live: Vec::new(),
            history: History::new(),
            next_id: 1,
            plan: FaultPlan::new(&scenario.faults),
            topology,
            resumes: Vec::new(),
            progress: Progress::new(progress),
            lock_commands: 0,
            witness_commands: 0,
            failures: Vec::new(),
            witness: None,
            inside_key,
            ping_conn: None,
            pings: Vec::new(),
            last_ping: std::time::Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        monotonic_ns().saturating_sub(self.base.run_start_ns) / ms(1)
    }

    fn spawn(&mut self, slot: u32, iterations: u32) -> anyhow::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let mut cfg = self.base.clone();
        cfg.id = id;
        cfg.slot = slot;
        cfg.lock_urls = self.topology.worker_urls(slot);
        cfg.lock_url = cfg.lock_urls[0].clone();
        cfg.iterations = iterations;
        cfg.seed = self.base.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(id));
        let (events, writer) = EventPipe::new()?;
        let mut cmd = tokio::process::Command::new(&self.exe);
        // The configuration (server URLs and their passwords included) goes in the environment,
        // which only this user can read, not in the command line that `ps` shows everyone.
        // `ps` shows `contend worker`, whatever path started us.
        cmd.arg0("contend")
            .arg("worker")
            .env(crate::worker::CONFIG_ENV, serde_json::to_string(&cfg)?);
        cmd.stdin(Stdio::null()).stdout(writer).stderr(Stdio::piped()).kill_on_drop(true);
        // SAFETY: setpgid and prctl are async-signal-safe and touch only the child itself.
        unsafe {
            cmd.pre_exec(|| {
                // Own process group: a terminal's Ctrl-C reaches the coordinator, which stops
                // workers itself; and the worker dies if the coordinator does.
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start worker process {}", self.exe.display()))?;
        let pid = child.id().unwrap_or(0);
        tracing::debug!(worker = id, pid, slot, iterations, "worker started");
        let index = self.live.len();
        self.live.push(Live {
            id,
            slot,
            pid,
            iterations,
            started: 0,
            alive: true,
            stopped: false,
            killed: false,
            holding_since: None,
            pending: None,
            events: Some(events),
        });
        // The command keeps the write end until it is dropped: drop it now, so the pipe ends
        // when the worker does.
        drop(cmd);
        let Some(mut stderr) = child.stderr.take() else {
            bail!("worker {id}: no stderr pipe");
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            let status = child.wait().await.ok();
            let code = status.and_then(|s| s.code());
            let signal = status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s));
            let _ = tx.send(Msg::Exited(index, code, signal, text));
        });
        Ok(())
    }

    /// Runs until every worker is done (or the time limit), applying faults; then heals.
    async fn drive(&mut self, scenario: &Scenario) -> anyhow::Result<()> {
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        // Faults are applied on a 2 ms tick; otherwise 5 ms is often enough to read the
        // workers' events long before a pipe fills.
        let fast = !self.plan.is_empty();
        let mut tick = tokio::time::interval(Duration::from_millis(if fast { 2 } else { 5 }));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let limit_ms = scenario.max_duration_ms;
        let grace_ms = (scenario.lock.ttl_ms + scenario.lock.wait_ms + 2000).min(30_000);
        let mut heal_at: Option<u64> = None;
        loop {
            if self.live.iter().all(|l| !l.alive) {
                break;
            }
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(Msg::Exited(i, code, signal, err)) => {
                        self.last_events(i);
                        self.exited(i, code, signal, &err).await?;
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    for i in 0..self.live.len() {
                        self.read_events(i);
                    }
                    let now = self.now_ms();
                    if heal_at.is_none() {
                        self.faults(now).await?;
                        if now >= limit_ms {
                            self.heal(crate::history::TIME_LIMIT);
                            heal_at = Some(now);
                        }
                    } else if heal_at.is_some_and(|h| now >= h + grace_ms) {
                        let still: Vec<String> = self
                            .live
                            .iter()
                            .filter(|l| l.alive)
                            .map(|l| format!("{} (slot {})", l.id, l.slot))
                            .collect();
                        self.failures.push(format!(
                            "workers still running {grace_ms} ms after the heal were killed: {}",
                            still.join(", ")
                        ));
                        break;
                    }
                    self.resume_due(now);
                    self.progress.tick(false);
                    self.sample_ping().await;
                }
                _ = sigint.recv() => return Err(Interrupted.into()),
                _ = sigterm.recv() => return Err(Interrupted.into()),
            }
        }
        if heal_at.is_none() {
            self.heal("the workers finished");
        }
        self.progress.tick(true);
        Ok(())
    }

    /// Takes in every event worker `i` has written so far.
    fn read_events(&mut self, i: usize) {
        let Some(pipe) = self.live[i].events.as_mut() else { return };
        for line in pipe.read_lines() {
            self.line(i, &line);
        }
    }

    /// Takes in the last events of worker `i`, which has exited, and closes its pipe (respawned
    /// workers would otherwise pile up open pipes). A line cut short means the worker died in
    /// the middle of a write: that event is lost, and the run says so.
    fn last_events(&mut self, i: usize) {
        self.read_events(i);
        let Some(pipe) = self.live[i].events.take() else { return };
        if let Some(cut) = pipe.close() {
            self.failures.push(format!(
                "worker {} wrote a partial line before it exited, so an event is missing: {cut}",
                self.live[i].id,
            ));
        }
    }

    fn line(&mut self, i: usize, line: &str) {
        let Ok(event) = serde_json::from_str::<Event>(line) else {
            self.failures.push(format!(
                "worker {} wrote a line that is not an event: {line}",
                self.live[i].id
            ));
            return;
        };
        let l = &mut self.live[i];
        if event.f == Op::Stats {
            self.lock_commands += event.value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
            self.witness_commands +=
                event.details.as_deref().and_then(|d| d.parse().ok()).unwrap_or(0);
            return;
        }
        if event.kind == Kind::Invoke {
            l.pending = Some(event.f);
            match event.f {
                Op::Acquire => l.started += 1,
                Op::Release => l.holding_since = None,
                _ => {}
            }
        } else {
            l.pending = None;
            if event.f == Op::Acquire && event.kind == Kind::Ok {
                l.holding_since = Some(event.time);
                self.progress.acquired();
            }
            if event.f == Op::Section && !event.others.is_empty() {
                self.progress.violation();
            }
        }
        self.history.push(event);
    }

    async fn exited(
        &mut self,
        i: usize,
        code: Option<i32>,
        signal: Option<i32>,
        err: &str,
    ) -> anyhow::Result<()> {
        let l = &mut self.live[i];
        l.alive = false;
        tracing::debug!(worker = l.id, pid = l.pid, ?code, ?signal, "worker ended");
        // Whatever the worker left in its group (an adapter, the adapter's own children) goes
        // with it.
        signal_group(l.pid, libc::SIGKILL);
        if code == Some(0) && l.pending.is_none() {
            return Ok(());
        }
        if code == Some(i32::from(crate::adapter::ADAPTER_FAILED_EXIT)) && !l.killed {
            // The adapter broke the protocol: a setup error, not a finding about the lock.
            bail!("{}", err.trim());
        }
        let (id, pid, slot) = (l.id, l.pid, l.slot);
        let remaining = l.iterations.saturating_sub(l.started);
        let why = if l.killed {
            "killed by the nemesis".to_string()
        } else {
            let status = code.map_or_else(
                || format!("signal {}", signal.unwrap_or(0)),
                |c| format!("exit code {c}"),
            );
            let msg = format!("worker {id} (pid {pid}) died: {status}: {}", err.trim());
            self.failures.push(msg.clone());
            msg
        };
        let now = monotonic_ns();
        if let Some(op) = l.pending.take() {
            let mut info = Event::new(now, Kind::Info, op).by(id, pid);
            info.details = Some(why.clone());
            self.history.push(info);
        }
        let killed = l.killed;
        let mut crash = Event::new(now, Kind::Info, Op::Crash);
        crash.target = Some(id);
        crash.pid = pid;
        crash.details = Some(why);
        self.history.push(crash);
        self.forget_inside(id).await;
        if killed && remaining > 0 {
            self.spawn(slot, remaining)?;
        } else if !killed
            && self.live.iter().all(|l| !l.alive)
            && self.history.iter().all(|e| e.f != Op::Acquire)
        {
            bail!(
                "every worker failed before doing anything; the first said: {}",
                self.failures.first().map_or("", String::as_str)
            );
        }
        Ok(())
    }

    /// One PING round trip on the lock server while the workers run (at most one per 20 ms):
    /// the round trip under the run's own load, reported beside the idle one.
    async fn sample_ping(&mut self) {
        let due = self.pings.len() < 2000 && self.last_ping.elapsed() >= Duration::from_millis(20);
        let Some(conn) = self.ping_conn.as_mut().filter(|_| due) else { return };
        self.last_ping = std::time::Instant::now();
        let t = monotonic_ns();
        if redis::cmd("PING").query_async::<String>(conn).await.is_ok() {
            self.pings.push(monotonic_ns() - t);
        }
    }

    /// Takes a dead worker out of the witness's occupancy set.
    async fn forget_inside(&mut self, id: u32) {
        if self.witness.is_none() {
            self.witness = servers::connect(&self.base.witness_url).await.ok();
        }
        if let Some(conn) = self.witness.as_mut() {
            let _ = redis::cmd("SREM").arg(&self.inside_key).arg(id).query_async::<i64>(conn).await;
        }
    }

    /// Carries out what the fault plan says is due at `now` (ms into the run).
    async fn faults(&mut self, now: u64) -> anyhow::Result<()> {
        for edge in self.plan.poll_windows(now) {
            self.record_edge(edge);
        }
        let mut plan = std::mem::take(&mut self.plan);
        plan.strike_holders_on(now, |after_ms, what, on| {
            self.strike_holder(now, after_ms, what, on)
        });
        self.plan = plan;
        Ok(())
    }

    /// Strikes a live holder that has held the lock for at least `after_ms`; false if none.
    fn strike_holder(
        &mut self,
        now: u64,
        after_ms: u64,
        what: HolderStrike,
        on: ServerSet,
    ) -> bool {
        let t = monotonic_ns();
        let Some(h) = self.live.iter().position(|l| {
            l.alive
                && !l.stopped
                && !l.killed
                && l.holding_since.is_some_and(|s| t >= s + ms(after_ms))
        }) else {
            return false;
        };
        if !matches!(what, HolderStrike::Kill | HolderStrike::Pause { .. }) {
            let (slot, id) = (self.live[h].slot, self.live[h].id);
            let events = self.topology.strike(what, on, slot, id, now);
            if events.is_empty() {
                return false;
            }
            for e in &events {
                tracing::info!(at_ms = now, op = ?e.f, kind = ?e.kind, details = e.details.as_deref().unwrap_or(""), "fault");
            }
            self.history.extend(events);
            return true;
        }
        let l = &mut self.live[h];
        let op = if matches!(what, HolderStrike::Pause { .. }) { Op::Pause } else { Op::Kill };
        let mut e = Event::new(monotonic_ns(), Kind::Invoke, op);
        e.target = Some(l.id);
        e.pid = l.pid;
        tracing::info!(at_ms = now, worker = l.id, pid = l.pid, op = ?op, "fault: the holder struck");
        match what {
            HolderStrike::Pause { ms: pause_ms } => {
                signal_group(l.pid, libc::SIGSTOP);
                l.stopped = true;
                e.details = Some(format!("SIGSTOP for {pause_ms} ms"));
                self.resumes.push((now + pause_ms, h));
                self.history.push(e);
            }
            HolderStrike::Kill => {
                signal_group(l.pid, libc::SIGKILL);
                l.killed = true;
                e.details = Some("SIGKILL".into());
                let mut done = e.clone();
                done.kind = Kind::Ok;
                self.history.push(e);
                self.history.push(done);
            }
            _ => {}
        }
        true
    }

    /// A fault window opened or closed: into the history.
    fn record_edge(&mut self, edge: WindowEdge) {
        let kind = if edge.open { Kind::Invoke } else { Kind::Ok };
        tracing::info!(
            op = ?edge.op,
            open = edge.open,
            details = edge.details.as_deref().unwrap_or(""),
            "fault window"
        );
        let mut e = Event::new(monotonic_ns(), kind, edge.op);
        e.details = edge.details;
        self.history.push(e);
    }

    fn resume_due(&mut self, now: u64) {
        let (due, rest): (Vec<_>, Vec<_>) = self.resumes.drain(..).partition(|(at, _)| *at <= now);
        self.resumes = rest;
        for (_, h) in due {
            self.resume(h);
        }
        let undone = self.topology.undo_due(now);
        self.history.extend(undone);
    }

    fn resume(&mut self, h: usize) {
        let l = &mut self.live[h];
        if !l.stopped {
            return;
        }
        l.stopped = false;
        if l.alive {
            signal_group(l.pid, libc::SIGCONT);
        }
        let mut e = Event::new(monotonic_ns(), Kind::Ok, Op::Pause);
        e.target = Some(l.id);
        e.pid = l.pid;
        self.history.push(e);
    }

    /// The heal phase: every paused worker continues, every fault window closes.
    fn heal(&mut self, why: &str) {
        tracing::debug!(why, "healing every fault");
        for h in 0..self.live.len() {
            self.resume(h);
        }
        self.resumes.clear();
        let undone = self.topology.undo_due(u64::MAX);
        self.history.extend(undone);
        for edge in self.plan.heal() {
            self.record_edge(edge);
        }
        let mut e = Event::new(monotonic_ns(), Kind::Ok, Op::Heal);
        e.details = Some(why.to_string());
        self.history.push(e);
    }

    /// Stops every worker still running and waits for their exit reports.
    async fn kill_all(&mut self) {
        for l in &mut self.live {
            if l.alive {
                // SIGKILL also ends a stopped one.
                signal_group(l.pid, libc::SIGKILL);
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.live.iter().any(|l| l.alive) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(Msg::Exited(i, ..))) => {
                    self.last_events(i);
                    let l = &mut self.live[i];
                    l.alive = false;
                    signal_group(l.pid, libc::SIGKILL);
                    if let Some(op) = l.pending.take() {
                        let mut info = Event::new(monotonic_ns(), Kind::Info, op).by(l.id, l.pid);
                        info.details = Some("stopped at the end of the run".into());
                        self.history.push(info);
                    }
                }
                _ => break,
            }
        }
    }
}

/// Sends `signal` to the process group of worker `pid` (the worker leads it): the worker and the
/// adapter it started, if any, are struck together, as one client. A pid of 0 (unknown) is
/// skipped: `kill(0, ..)` would strike our own group. Also used just after a worker was reaped:
/// its pid cannot name a new group while any process of the old one lives, and once none does
/// the signal finds nobody (ESRCH).
fn signal_group(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    if pid <= 0 {
        return;
    }
    // SAFETY: kill(2) on the group of a worker we spawned and have not reaped (it is alive), so
    // the group id still names its group.
    unsafe { libc::kill(-pid, signal) };
}
