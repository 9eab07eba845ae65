//! The event loop: a time-ordered queue of messages and timers, the lock server (a
//! [`Model`]), the witness (a second [`Model`]), the nemesis, and the clients
//! ([`super::client`]).
//!
//! Time is a logical clock in microseconds; the lock server's model reads it in milliseconds,
//! the machines see it as a [`Duration`], and the history stamps it in nanoseconds (plus a
//! sub-microsecond counter, so that every event has its own instant and their order is the
//! order they happened in). Every random choice — message delays, which fault strikes whom and
//! when — comes from one seeded generator, and the queue breaks ties by insertion order, so a
//! seed replays the same history byte for byte.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use redmutex::algo::{Protocol, Rng};
use redmutex::proto::{Answer, Bytes, Command, Reply, num};
use redmutex::scripts;
use redmutex::sim::{ClientId, Model, Step};

use super::SimConfig;
use super::client::{Client, Stage};
use super::faults::Plans;
use super::servers::{LockServer, Sent};
use crate::history::{Event, History, Kind, Op};
use crate::scenario::ServerSet;
use crate::specimens::unchecked_resource::resource_checks_fences;
use crate::witness::RunKeys;

/// The model's wall clock at the start of a run (a plausible Unix time in ms, for algorithms
/// that store timestamps).
pub(super) const T0_MS: u64 = 1_700_000_000_000;

/// How long the Sentinels take to promote a replica after a `partition` failover, ms (a real
/// run measures 2.3–3.3 s: down after 1 s, then the election).
pub(super) const FAILOVER_MS: u64 = 2500;

/// Subscriber connections get model client ids from here up (worker ids stay below).
const SUB_BASE: u64 = 1 << 40;

/// What happens at an instant.
pub(super) enum Ev {
    /// A command of the client's operation `op` (its sequence number) reaches the lock server;
    /// a command fault may have its reply lost (the connection reset) or delayed.
    Lock { slot: u32, id: u32, op: u64, cmd: Command, reply: ReplyFate },
    /// A `SUBSCRIBE` reaches the lock server.
    Subscribe { sub: u64 },
    /// A witness command reaches the witness.
    Witness { slot: u32, id: u32, op: WOp },
    /// A lock-server reply to a command of operation `op` reaches its client.
    Reply { slot: u32, id: u32, op: u64, reply: Reply },
    /// The client's connection to the lock server was reset under operation `op`'s command
    /// (a `drop-reply` or `drop-command` fault).
    Reset { slot: u32, id: u32, op: u64, why: &'static str },
    /// The subscription is confirmed to its client.
    Subscribed { slot: u32, id: u32, sub: u64 },
    /// A pub/sub message reaches a subscriber.
    Message { slot: u32, id: u32, sub: u64, message: Bytes },
    /// A witness reply reaches its client.
    WReply { slot: u32, id: u32, reply: WReply },
    /// A client's timer.
    Timer { slot: u32, id: u32, epoch: u64 },
    /// The caller of acquire `op` drops it (`cancel-acquire`) after `after` ms.
    Cancel { slot: u32, id: u32, op: u64, after: u64 },
    /// Blocked clients whose `BLPOP` deadline passed are answered.
    BlockTimeout,
    /// A paused client continues.
    Resume { slot: u32, id: u32 },
    /// A client's partition from the lock server heals.
    PartitionEnds { slot: u32, id: u32 },
    /// These lock servers wake from their `DEBUG SLEEP`.
    ServerWakes { servers: ServerSet },
    /// These lock servers are up again after a restart's downtime.
    ServerUp { servers: ServerSet },
    /// A command of round `round` of a client's operation `op` (an [`Action::SendEach`])
    /// reaches lock server `server`.
    ///
    /// [`Action::SendEach`]: redmutex::proto::Action::SendEach
    Each { slot: u32, id: u32, op: u64, round: u64, server: usize, cmd: Command, reply: ReplyFate },
    /// Lock server `server`'s answer to its command of round `round` reaches the client.
    Answer { slot: u32, id: u32, op: u64, round: u64, server: usize, answer: Answer },
    /// The Sentinels promote the replica of a `failover`, and the clients are moved to it.
    Promote,
    /// A client's skewed clock is set right.
    SkewEnd { slot: u32, id: u32 },
    /// The random nemesis strikes.
    Nemesis,
    /// The scenario's holder faults look for a holder.
    Tick,
    /// A scenario fault window opens (`true`) or closes.
    Window { index: usize, open: bool },
}

/// What becomes of a lock command's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReplyFate {
    /// It travels back as any reply does.
    Sent,
    /// It travels back this many µs late.
    Delayed(u64),
    /// It is lost and the connection reset.
    Lost,
}

/// A command to the witness.
#[derive(Clone, Debug)]
pub(super) enum WOp {
    /// Enter the critical section; answers who else is inside.
    Enter,
    /// `GET counter`.
    Get,
    /// The fenced read of the resource.
    FencedRead(u64),
    /// `SET counter value`.
    Set(i64),
    /// The fenced write ([`scripts::FENCED_WRITE`]).
    FencedWrite(u64, i64),
    /// Leave the critical section.
    Exit,
}

/// A witness reply.
#[derive(Clone, Debug)]
pub(super) enum WReply {
    /// Who else was inside at `enter`.
    Inside(Vec<u32>),
    /// The value read (`None`: unset); `Err` when it is not a number.
    Value(Result<Option<i64>, String>),
    /// The fenced read was refused: a newer fence was seen.
    Refused,
    /// A write: whether it was accepted.
    Written(Result<bool, String>),
    /// `exit` done.
    Exited,
}

struct Item {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Item {
    fn eq(&self, other: &Item) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Item {}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Item) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Item {
    fn cmp(&self, other: &Item) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Counters of one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Events the loop processed.
    pub steps: u64,
    /// Commands the clients sent to the lock server.
    pub lock_commands: u64,
    /// Commands the clients sent to the witness.
    pub witness_commands: u64,
    /// Simulated time, ms.
    pub sim_ms: u64,
    /// Whether the run hit its time limit.
    pub stopped: bool,
}

/// One simulated run in progress.
pub(super) struct Engine<'a> {
    pub(super) cfg: &'a SimConfig,
    pub(super) protocol: &'a dyn Protocol,
    pub(super) fenced: bool,
    pub(super) rng: Rng,
    pub(super) now_us: u64,
    pub(super) t0_us: u64,
    last_stamp: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Item>>,
    /// The independent lock servers (`[server] count`); every single-server algorithm uses
    /// server 0.
    pub(super) servers: Vec<LockServer>,
    witness: Model,
    inside: BTreeSet<u32>,
    pub(super) keys: RunKeys,
    pub(super) clients: Vec<Client>,
    /// Worker id → slot.
    slot_of: Vec<u32>,
    /// Subscriber connection (from [`SUB_BASE`]) → (slot, worker id).
    subs: Vec<(u32, u32)>,
    pub(super) next_id: u32,
    /// Slots whose client holds the lock (acquire ok, release not yet invoked).
    pub(super) holders: BTreeMap<u32, u64>,
    pub(super) active: u32,
    pub(super) history: History,
    pub(super) plans: Plans,
    pub(super) counters: Counters,
    /// The scenario's command faults as the proxy of each lock server has them (the faults
    /// whose `servers` name it), with their strikes so far.
    pub(super) command_rules: Vec<crate::proxy::RuleBook>,
    /// The replica of a `failover` under way, as replication last reached it.
    pub(super) replica: Option<Model>,
    /// Workers whose connection to the lock server was reset by a failover's move: their next
    /// command fails (a broken pipe) and never runs.
    moved: BTreeSet<u32>,
}

impl<'a> Engine<'a> {
    pub(super) fn new(cfg: &'a SimConfig, protocol: &'a dyn Protocol) -> Engine<'a> {
        let t0_us = T0_MS * 1000;
        Engine {
            cfg,
            protocol,
            fenced: protocol.fenced(),
            rng: Rng::new(cfg.seed ^ 0x5eed_5eed_5eed_5eed),
            now_us: t0_us,
            t0_us,
            last_stamp: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            servers: (0..cfg.client.servers.max(1)).map(|_| LockServer::new()).collect(),
            witness: Model::starting_at(T0_MS),
            inside: BTreeSet::new(),
            keys: RunKeys::new("sim:"),
            clients: Vec::new(),
            slot_of: vec![0],
            subs: Vec::new(),
            next_id: 1,
            holders: BTreeMap::new(),
            active: 0,
            history: History::new(),
            plans: Plans::new(cfg),
            counters: Counters::default(),
            command_rules: (0..cfg.client.servers.max(1) as usize)
                .map(|i| {
                    let faults: Vec<_> = cfg
                        .client
                        .faults
                        .iter()
                        .filter(|f| f.servers().is_none_or(|s| s.contains(i)))
                        .cloned()
                        .collect();
                    crate::proxy::RuleBook::new(crate::proxy::scenario_rules(&faults, cfg.workers))
                })
                .collect(),
            replica: None,
            moved: BTreeSet::new(),
        }
    }

    /// Runs to the end: every client finished (or the time limit), heal, final read.
    pub(super) fn run(mut self) -> (History, Counters) {
        for slot in 0..self.cfg.workers {
            let id = self.fresh_id(slot);
            self.clients.push(Client::new(self.cfg, id, self.cfg.iterations));
            self.active += 1;
            // Processes start a little apart.
            let at = self.now_us + self.rng.below(1000);
            self.start_client(slot, at);
        }
        let plans = std::mem::take(&mut self.plans);
        plans.schedule(&mut self);
        self.plans = plans;
        let limit = self.t0_us.saturating_add(self.cfg.client.max_duration_ms.saturating_mul(1000));
        while let Some(Reverse(item)) = self.queue.pop() {
            if self.active == 0 {
                break;
            }
            if item.at > limit {
                // Nothing happens before the limit any more: the run ends at the limit itself.
                self.counters.stopped = true;
                self.now_us = self.now_us.max(limit);
                break;
            }
            self.now_us = self.now_us.max(item.at);
            self.counters.steps += 1;
            self.dispatch(item.ev);
        }
        self.finish();
        self.counters.sim_ms = (self.now_us - self.t0_us) / 1000;
        (self.history, self.counters)
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Lock { slot, id, op, cmd, reply } => self.at_lock(slot, id, op, &cmd, reply),
            Ev::Subscribe { sub } => self.at_subscribe(sub),
            Ev::Witness { slot, id, op } => self.at_witness(slot, id, op),
            Ev::BlockTimeout => {
                self.advance(0);
                self.drain_lock();
            }
            Ev::Nemesis => self.nemesis(),
            Ev::Tick => self.tick(),
            Ev::Window { index, open } => self.window(index, open),
            Ev::Resume { slot, id } => self.resume(slot, id),
            Ev::PartitionEnds { slot, id } => self.partition_ends(slot, id),
            Ev::ServerWakes { servers } => self.servers_wake(servers),
            Ev::ServerUp { servers } => self.servers_up(servers),
            Ev::Each { slot, id, op, round, server, cmd, reply } => {
                self.at_each(Sent { slot, id, op, round, server }, &cmd, reply);
            }
            Ev::SkewEnd { slot, id } => self.skew_end(slot, id),
            Ev::Promote => self.promote(),
            // Everything else is for a client, who may be paused.
            ev => {
                let (slot, id) = match &ev {
                    Ev::Reply { slot, id, .. }
                    | Ev::Subscribed { slot, id, .. }
                    | Ev::Message { slot, id, .. }
                    | Ev::WReply { slot, id, .. }
                    | Ev::Timer { slot, id, .. }
                    | Ev::Reset { slot, id, .. }
                    | Ev::Answer { slot, id, .. }
                    | Ev::Cancel { slot, id, .. } => (*slot, *id),
                    _ => return,
                };
                let Some(c) = self.current(slot, id) else { return };
                if c.paused_until > self.now_us {
                    // A stopped process reads nothing; it finds everything queued on return.
                    let at = c.paused_until;
                    self.push(at, ev);
                    return;
                }
                self.deliver(slot, ev);
            }
        }
    }

    /// The client in `slot` if it is still incarnation `id` and running.
    pub(super) fn current(&self, slot: u32, id: u32) -> Option<&Client> {
        self.clients
            .get(slot as usize)
            .filter(|c| c.id == id && !matches!(c.stage, Stage::Finished))
    }

    /// The next event on the queue, with its instant.
    pub(super) fn pop(&mut self) -> Option<(u64, Ev)> {
        self.queue.pop().map(|Reverse(item)| (item.at, item.ev))
    }

    pub(super) fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Item { at, seq: self.seq, ev }));
    }

    /// A one-way network delay, µs.
    pub(super) fn delay(&mut self) -> u64 {
        let (lo, hi) = (self.cfg.net_min_us, self.cfg.net_max_us.max(self.cfg.net_min_us));
        lo + self.rng.below(hi - lo + 1)
    }

    /// Sends `ev` over the network: it arrives after a random delay.
    pub(super) fn send(&mut self, ev: Ev) {
        let at = self.now_us + self.delay();
        self.push(at, ev);
    }

    /// A fresh instant on the history's clock: ns since the start, strictly increasing.
    pub(super) fn stamp(&mut self) -> u64 {
        let base = (self.now_us - self.t0_us) * 1000;
        self.last_stamp = if base > self.last_stamp { base } else { self.last_stamp + 1 };
        self.last_stamp
    }

    /// The machines' clock.
    pub(super) fn machine_now(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.now_us - self.t0_us)
    }

    /// Milliseconds since the run began (fault windows count from here).
    pub(super) fn run_ms(&self) -> u64 {
        (self.now_us - self.t0_us) / 1000
    }

    /// The wall clock, Unix ms, unskewed.
    pub(super) fn wall_ms(&self) -> u64 {
        self.now_us / 1000
    }

    pub(super) fn emit(&mut self, event: Event) {
        self.history.push(event);
    }

    /// A nemesis event at a fresh instant.
    pub(super) fn nemesis_event(
        &mut self,
        kind: Kind,
        f: Op,
        target: Option<u32>,
        details: Option<String>,
    ) {
        let mut e = Event::new(self.stamp(), kind, f);
        e.target = target;
        e.details = details;
        self.emit(e);
    }

    pub(super) fn fresh_id(&mut self, slot: u32) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        self.slot_of.push(slot);
        id
    }

    /// A new subscriber connection for the client in `slot`.
    pub(super) fn fresh_sub(&mut self, slot: u32, id: u32) -> u64 {
        self.subs.push((slot, id));
        SUB_BASE + (self.subs.len() as u64 - 1)
    }

    pub(super) fn sub_owner(&self, sub: u64) -> Option<(u32, u32)> {
        let i = usize::try_from(sub.checked_sub(SUB_BASE)?).ok()?;
        self.subs.get(i).copied()
    }

    fn at_lock(&mut self, slot: u32, id: u32, op: u64, cmd: &Command, fate: ReplyFate) {
        if self.servers[0].asleep_until > self.now_us {
            // A sleeping server reads nothing; commands wait their turn, in arrival order.
            let at = self.servers[0].asleep_until;
            self.push(at, Ev::Lock { slot, id, op, cmd: cmd.clone(), reply: fate });
            return;
        }
        if self.moved.remove(&id) {
            // The failover reset this connection: the command is written to a dead socket.
            if self.current(slot, id).is_some() {
                let why = "the connection was reset: the clients moved to a new primary";
                self.send(Ev::Reset { slot, id, op, why });
            }
            return;
        }
        if self.servers[0].down_until > self.now_us {
            // A server that is down loses the command, and the connection is reset.
            if self.current(slot, id).is_some() {
                let why = "the connection was refused: the lock server is down";
                self.send(Ev::Reset { slot, id, op, why });
            }
            return;
        }
        self.advance(0);
        let client = ClientId(u64::from(id));
        let step = self.servers[0].model.exec(client, cmd);
        let live = self.current(slot, id).is_some();
        if !live {
            // A dead client's last command still runs; then the server sees its connection
            // close.
            self.servers[0].model.disconnect(client);
        }
        match step {
            Step::Reply(_) if live && fate == ReplyFate::Lost => {
                self.send(Ev::Reset { slot, id, op, why: "the reply was lost (drop-reply)" });
            }
            Step::Reply(reply) if live => {
                let late = if let ReplyFate::Delayed(us) = fate { us } else { 0 };
                let at = self.now_us + self.delay() + late;
                let at = self.arrival_for(slot, 0, at);
                self.push(at, Ev::Reply { slot, id, op, reply });
            }
            Step::Reply(_) => {}
            Step::Blocked if live && self.client(slot).dropped == Some(op) => {
                // The blocking command of a dropped acquire: its connection closes behind it.
                self.servers[0].model.disconnect(client);
            }
            Step::Blocked => {
                if live {
                    self.client(slot).blocked = Some(op);
                }
                if let Command::BLPop { timeout, .. } = cmd {
                    // The model times a blocked client out once its clock passes the deadline.
                    let deadline = self.servers[0].model.now() + redmutex::proto::millis(*timeout);
                    // The model's deadline on its own (possibly stepped) clock, in ours.
                    let at = i64::try_from(deadline + 1).unwrap_or(i64::MAX)
                        - self.servers[0].clock_offset_ms;
                    let at = u64::try_from(at).unwrap_or(0).saturating_mul(1000).max(self.now_us);
                    self.push(at, Ev::BlockTimeout);
                }
            }
        }
        self.drain_lock();
    }

    fn at_subscribe(&mut self, sub: u64) {
        let Some((slot, id)) = self.sub_owner(sub) else { return };
        let Some(channel) = self.current(slot, id).and_then(|c| c.subscription(sub)) else {
            return;
        };
        self.servers[0].model.subscribe(ClientId(sub), &channel);
        self.send(Ev::Subscribed { slot, id, sub });
    }

    /// Replies of unblocked clients and pub/sub messages go out.
    pub(super) fn drain_lock(&mut self) {
        for (client, reply) in self.servers[0].model.take_unblocked() {
            let Ok(id) = u32::try_from(client.0) else { continue };
            let Some(&slot) = self.slot_of.get(id as usize) else { continue };
            if self.current(slot, id).is_some()
                && let Some(op) = self.client(slot).blocked.take()
            {
                let at = self.now_us + self.delay();
                let at = self.arrival_for(slot, 0, at);
                self.push(at, Ev::Reply { slot, id, op, reply });
            }
        }
        for d in self.servers[0].model.take_deliveries() {
            let Some((slot, id)) = self.sub_owner(d.client.0) else { continue };
            self.send(Ev::Message { slot, id, sub: d.client.0, message: d.message });
        }
    }

    fn at_witness(&mut self, slot: u32, id: u32, op: WOp) {
        let live = self.current(slot, id).is_some();
        let reply = match op {
            WOp::Enter => {
                let others = self.inside.iter().copied().filter(|&w| w != id).collect();
                if live {
                    self.inside.insert(id);
                }
                WReply::Inside(others)
            }
            WOp::Exit => {
                self.inside.remove(&id);
                WReply::Exited
            }
            WOp::Get => WReply::Value(self.witness_int(&self.keys.counter.clone())),
            WOp::Set(v) => {
                let set = Command::Set {
                    key: self.keys.counter.clone(),
                    value: num(v),
                    cond: None,
                    expiry: None,
                    get: false,
                };
                let reply = self.witness_exec(&set);
                WReply::Written(if reply.is_ok() {
                    Ok(true)
                } else {
                    Err(format!("SET counter answered {reply:?}"))
                })
            }
            // The `unchecked-resource` specimen's resource compares no fences: plain GET and SET.
            WOp::FencedRead(_) if !resource_checks_fences(self.protocol.name()) => {
                WReply::Value(self.witness_int(&self.resource_keys().0))
            }
            WOp::FencedWrite(_, v) if !resource_checks_fences(self.protocol.name()) => {
                let key = self.resource_keys().0;
                let set = Command::Set { key, value: num(v), cond: None, expiry: None, get: false };
                let reply = self.witness_exec(&set);
                WReply::Written(if reply.is_ok() {
                    Ok(true)
                } else {
                    Err(format!("SET resource answered {reply:?}"))
                })
            }
            WOp::FencedRead(fence) => self.fenced_read(fence),
            WOp::FencedWrite(fence, v) => {
                let (value, fence_key) = self.resource_keys();
                let cmd = Command::Eval {
                    script: &scripts::FENCED_WRITE,
                    keys: vec![value, fence_key],
                    args: vec![num(fence), num(v)],
                };
                WReply::Written(match self.witness_exec(&cmd) {
                    Reply::Int(1) => Ok(true),
                    Reply::Int(0) => Ok(false),
                    other => Err(format!("fenced write answered {other:?}")),
                })
            }
        };
        if live {
            self.send(Ev::WReply { slot, id, reply });
        }
    }

    /// The keys of the fenced resource: value, last fence.
    fn resource_keys(&self) -> (Bytes, Bytes) {
        let name = &self.keys.resource;
        (format!("{{{name}}}:value").into_bytes(), format!("{{{name}}}:fence").into_bytes())
    }

    /// The fenced read: [`redmutex::scripts::FENCED_READ`] run on the model of the witness.
    fn fenced_read(&mut self, fence: u64) -> WReply {
        let (value, fence_key) = self.resource_keys();
        let read = Command::Eval {
            script: &redmutex::scripts::FENCED_READ,
            keys: vec![value, fence_key],
            args: vec![num(fence)],
        };
        match self.witness_exec(&read) {
            Reply::Array(items) => match items.as_slice() {
                [Reply::Int(0)] => WReply::Refused,
                [Reply::Int(1)] => WReply::Value(Ok(None)),
                [Reply::Int(1), Reply::Bulk(b)] => WReply::Value(
                    std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).map(Some).ok_or_else(
                        || {
                            format!(
                                "the resource holds a non-number: {}",
                                String::from_utf8_lossy(b)
                            )
                        },
                    ),
                ),
                _ => WReply::Value(Err(format!("fenced read answered {items:?}"))),
            },
            other => WReply::Value(Err(format!("fenced read answered {other:?}"))),
        }
    }

    fn witness_exec(&mut self, cmd: &Command) -> Reply {
        match self.witness.exec(ClientId(0), cmd) {
            Step::Reply(r) => r,
            Step::Blocked => Reply::Error("ERR the witness never blocks".into()),
        }
    }

    fn witness_int(&mut self, key: &Bytes) -> Result<Option<i64>, String> {
        match self.witness_exec(&Command::Get { key: key.clone() }) {
            Reply::Nil => Ok(None),
            Reply::Bulk(b) => {
                std::str::from_utf8(&b).ok().and_then(|s| s.parse().ok()).map(Some).ok_or_else(
                    || format!("the witness holds a non-number: {}", String::from_utf8_lossy(&b)),
                )
            }
            other => Err(format!("GET answered {other:?}")),
        }
    }

    /// Takes a dead worker out of the witness's occupancy set.
    pub(super) fn forget_inside(&mut self, id: u32) {
        self.inside.remove(&id);
    }

    /// Restarts the lock server. Clients blocked in `BLPOP` see their connection drop; the
    /// subscriptions end.
    /// A `failover` strikes: replication to the replica stops (`partition`: the primary is cut
    /// off from it and its Sentinels, and the clients go on using it until the promotion,
    /// [`FAILOVER_MS`] later) or the primary dies (`kill`: replication is instant in the model,
    /// as on loopback, so the replica has every write; the promotion is at once, the model has
    /// no downtime). Answers false while a failover is under way: one at a time.
    pub(super) fn fail_primary(&mut self, outage: crate::scenario::Outage) -> bool {
        if self.replica.is_some() {
            return false;
        }
        self.advance(0);
        self.replica = Some(self.servers[0].model.clone());
        let kill = outage == crate::scenario::Outage::Kill;
        let details = if kill {
            "SIGKILL the primary"
        } else {
            "the primary cut off from the Sentinels and the replicas (the workers still reach it)"
        };
        self.nemesis_event(Kind::Invoke, Op::Failover, None, Some(details.into()));
        if kill {
            self.promote();
        } else {
            self.push(self.now_us + FAILOVER_MS * 1000, Ev::Promote);
        }
        true
    }

    /// The replica of the failover under way becomes the primary, and every client is moved to
    /// it (connections dropped, as when a virtual IP moves).
    pub(super) fn promote(&mut self) {
        let Some(replica) = self.replica.take() else { return };
        self.advance(0);
        let dropped = self.servers[0].model.promote(&replica);
        // Every other connection is reset too: its next command fails.
        self.moved = self.clients.iter().map(|c| c.id).collect();
        for client in &dropped {
            if let Ok(id) = u32::try_from(client.0) {
                self.moved.remove(&id);
            }
        }
        let details = format!(
            "the Sentinels promoted the replica ({} keys, as of the outage); every client moved to it",
            replica.live_keys().len()
        );
        self.nemesis_event(Kind::Ok, Op::Failover, None, Some(details));
        self.connections_lost(dropped, "ERR connection lost: the clients moved to a new primary");
    }

    /// The lock server dropped the connections of `dropped`: a blocked client gets `error`,
    /// a subscriber loses its subscription.
    pub(super) fn connections_lost(&mut self, dropped: Vec<ClientId>, error: &str) {
        for client in dropped {
            if client.0 >= SUB_BASE {
                if let Some((slot, id)) = self.sub_owner(client.0) {
                    self.subscription_lost(slot, id, client.0);
                }
                continue;
            }
            let Ok(id) = u32::try_from(client.0) else { continue };
            let Some(&slot) = self.slot_of.get(id as usize) else { continue };
            if self.current(slot, id).is_some()
                && let Some(op) = self.client(slot).blocked.take()
            {
                let reply = Reply::Error(error.into());
                self.send(Ev::Reply { slot, id, op, reply });
            }
        }
    }

    /// Heal, stop whatever still runs (time limit), and read the outcome on the witness.
    fn finish(&mut self) {
        let why =
            if self.counters.stopped { crate::history::TIME_LIMIT } else { "the workers finished" };
        self.heal(why);
        for slot in 0..self.clients.len() {
            let c = &mut self.clients[slot];
            if matches!(c.stage, Stage::Finished) {
                continue;
            }
            c.stage = Stage::Finished;
            let (id, pending) = (c.id, c.pending.take());
            if let Some(op) = pending {
                let mut info = Event::new(self.stamp(), Kind::Info, op).by(id, 0);
                info.details = Some("stopped at the end of the run".into());
                self.emit(info);
            }
        }
        let key = if self.fenced { self.resource_keys().0 } else { self.keys.counter.clone() };
        let mut fin = Event::new(self.stamp(), Kind::Ok, Op::Final);
        match self.witness_int(&key) {
            Ok(v) => fin.value = Some(v.unwrap_or(0)),
            Err(e) => fin.details = Some(e),
        }
        if self.fenced {
            // The resource's high-water mark, for the fencing checker (0 when it keeps none).
            match self.witness_int(&self.resource_keys().1) {
                Ok(v) => fin.fence = Some(v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)),
                Err(e) => fin.details = Some(e),
            }
        }
        self.emit(fin);
        self.flush_commands();
        self.list_residue();
    }
}
