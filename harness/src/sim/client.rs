//! A simulated worker: the loop of `contend worker` (acquire → critical section → release),
//! driving the algorithm's real sans-IO machines through the engine's network, and writing the
//! same history events a worker process writes.

use std::collections::VecDeque;
use std::time::Duration;

use redmutex::algo::Rng;
use redmutex::proto::{Action, Bytes, Event as MEvent, Failure, Machine, Outcome, Token};
use redmutex::sim::ClientId;

use super::SimConfig;
use super::each::Round;
use super::engine::{Engine, Ev, ReplyFate};
use super::section::SectionRun;
use crate::history::{Event, Kind, Op};
use crate::proxy;
use crate::scenario::{DelayOp, Hold, ServerSet};

/// One worker slot's current incarnation.
pub(super) struct Client {
    pub(super) id: u32,
    seed: u64,
    pub(super) rng: Rng,
    iterations: u32,
    /// Acquires invoked (the coordinator's `started`).
    started: u32,
    misses: u32,
    pub(super) paused_until: u64,
    pub(super) paused_open: bool,
    pub(super) skew_ms: i64,
    pub(super) skew_open: bool,
    /// A nemesis delay waiting for step `delay_step` of an operation, ms.
    pub(super) delay_next_ms: u64,
    /// The step the nemesis delay hits.
    pub(super) delay_step: usize,
    /// A nemesis delay is being slept.
    pub(super) delay_open: bool,
    pub(super) epoch: u64,
    /// Whether this client's last acquire found the lock busy.
    contended: bool,
    ops: [u32; 2],
    /// Sequence number of the last operation begun (replies carry it).
    op_seq: u64,
    /// The operation whose blocking command waits at the lock server, if any.
    pub(super) blocked: Option<u64>,
    /// A dropped acquire whose blocking command may still reach the server.
    pub(super) dropped: Option<u64>,
    /// When the last non-blocking command reaches each lock server (µs): one connection
    /// delivers in order.
    pub(super) lock_arrival: Vec<u64>,
    /// Until when a partition cuts this client off from the lock servers of `cut_servers`,
    /// µs; 0 when none.
    pub(super) cut_until: u64,
    /// The lock servers the partition cuts this client off from.
    pub(super) cut_servers: ServerSet,
    /// Rounds of [`Action::SendEach`] begun (their answers carry the number).
    pub(super) rounds: u64,
    /// The token of the acquire under way, and after how long its caller drops it, if it does.
    acquiring: Option<(Bytes, Option<u64>)>,
    pub(super) pending: Option<Op>,
    pub(super) stage: Stage,
}

/// What a client is doing.
pub(super) enum Stage {
    /// Between operations; its timer starts the next iteration.
    Idle,
    /// Running an acquire or release machine.
    Op(Box<OpRun>),
    /// In the critical section.
    Section(Box<SectionRun>),
    /// Done (iterations run, gave up, or stopped).
    Finished,
}

pub(super) struct OpRun {
    pub(super) kind: DelayOp,
    pub(super) seq: u64,
    machine: Box<dyn Machine>,
    step: usize,
    /// The completion event under construction (a release carries token and fence).
    done: Event,
    /// The invocation, emitted once a step-0 delay has been slept.
    invoke: Option<Event>,
    delayed_ms: u64,
    pub(super) last_send: Option<u64>,
    /// Commands sent to the lock server.
    pub(super) sends: u32,
    /// Commands sent to each lock server by [`Action::SendEach`] (their proxies count them).
    pub(super) sends_to: Vec<u64>,
    /// The round of [`Action::SendEach`] whose answers are awaited.
    pub(super) round: Option<Round>,
    parked: Option<Action>,
    pub(super) waiting: Waiting,
    sub: Option<Sub>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Waiting {
    Nothing,
    Reply,
    /// The answers of a round of [`Action::SendEach`] (its timer is the round's timeout).
    Answers,
    /// The step-0 delay before the invocation.
    Start,
    /// A step delay before the parked action.
    Parked,
    Slept,
    /// A pub/sub wait (its timer is the wait timeout).
    Message,
    /// The subscription's confirmation; then wait this long.
    Subscribed(Duration),
}

struct Sub {
    id: u64,
    channel: Bytes,
    ready: bool,
    lost: bool,
    mailbox: VecDeque<Bytes>,
}

impl Client {
    pub(super) fn new(cfg: &SimConfig, id: u32, iterations: u32) -> Client {
        let seed = cfg.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(id));
        Client {
            id,
            seed,
            rng: Rng::new(seed),
            iterations,
            started: 0,
            misses: 0,
            paused_until: 0,
            paused_open: false,
            skew_ms: 0,
            skew_open: false,
            delay_next_ms: 0,
            delay_step: 0,
            delay_open: false,
            epoch: 0,
            contended: false,
            ops: [0, 0],
            op_seq: 0,
            blocked: None,
            dropped: None,
            lock_arrival: vec![0; cfg.client.servers.max(1) as usize],
            cut_until: 0,
            cut_servers: ServerSet::ALL,
            rounds: 0,
            acquiring: None,
            pending: None,
            stage: Stage::Idle,
        }
    }

    /// The channel of subscriber connection `sub`, if it is this client's current one.
    pub(super) fn subscription(&self, sub: u64) -> Option<Bytes> {
        match &self.stage {
            Stage::Op(op) => op.sub.as_ref().filter(|s| s.id == sub).map(|s| s.channel.clone()),
            _ => None,
        }
    }

    /// The hold between the section's read and write (the worker's formula), for a holder
    /// whose lease has `lease_left` to run.
    pub(super) fn hold(&mut self, hold: Hold, lease_left: Duration) -> Duration {
        hold.draw(&mut self.rng, lease_left)
    }
}

/// A command's name as the proxy reports it (`EVALSHA` for a script).
fn command_name(cmd: &redmutex::proto::Command) -> String {
    match cmd {
        redmutex::proto::Command::Eval { .. } => "EVALSHA".into(),
        other => {
            let debug = format!("{other:?}");
            debug.split([' ', '{']).next().unwrap_or("?").to_uppercase()
        }
    }
}

pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 4).max(1)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Engine<'_> {
    pub(super) fn client(&mut self, slot: u32) -> &mut Client {
        &mut self.clients[slot as usize]
    }

    pub(super) fn op(&mut self, slot: u32) -> Option<&mut OpRun> {
        match &mut self.clients[slot as usize].stage {
            Stage::Op(op) => Some(op),
            _ => None,
        }
    }

    /// Sets the client's one timer to fire at `at` (µs); any earlier timer is void.
    fn timer_at(&mut self, slot: u32, at: u64) {
        let c = self.client(slot);
        c.epoch += 1;
        let (id, epoch) = (c.id, c.epoch);
        self.push(at, Ev::Timer { slot, id, epoch });
    }

    pub(super) fn timer(&mut self, slot: u32, after_us: u64) {
        let at = self.now_us + after_us;
        self.timer_at(slot, at);
    }

    /// The client in `slot` starts (or restarts) at `at`.
    pub(super) fn start_client(&mut self, slot: u32, at: u64) {
        self.client(slot).stage = Stage::Idle;
        self.timer_at(slot, at);
    }

    /// An event for the (running, unpaused) client in `slot`.
    pub(super) fn deliver(&mut self, slot: u32, ev: Ev) {
        match ev {
            Ev::Timer { epoch, .. } => {
                if epoch != self.client(slot).epoch {
                    return;
                }
                self.client(slot).epoch += 1;
                self.timer_fired(slot);
            }
            Ev::Reply { reply, op: seq, .. } => {
                let Some(op) = self.op(slot) else { return };
                if op.waiting != Waiting::Reply || op.seq != seq {
                    // A reply to a dropped acquire's command: nobody reads it.
                    return;
                }
                op.waiting = Waiting::Nothing;
                self.feed(slot, MEvent::Reply(reply));
            }
            Ev::Subscribed { sub, .. } => {
                let Some(op) = self.op(slot) else { return };
                let Some(s) = op.sub.as_mut().filter(|s| s.id == sub) else { return };
                s.ready = true;
                if let Waiting::Subscribed(timeout) = op.waiting {
                    self.wait_message(slot, timeout);
                }
            }
            Ev::Message { sub, message, .. } => {
                let Some(op) = self.op(slot) else { return };
                let Some(s) = op.sub.as_mut().filter(|s| s.id == sub) else { return };
                if op.waiting == Waiting::Message && s.mailbox.is_empty() {
                    op.waiting = Waiting::Nothing;
                    self.client(slot).epoch += 1;
                    self.feed(slot, MEvent::Notified(message));
                } else {
                    // Kept until the next wait of this operation.
                    s.mailbox.push_back(message);
                }
            }
            Ev::WReply { reply, .. } => self.section_reply(slot, reply),
            Ev::Reset { op: seq, why, .. } => {
                let Some(op) = self.op(slot) else { return };
                if op.waiting != Waiting::Reply || op.seq != seq {
                    return;
                }
                op.waiting = Waiting::Nothing;
                // As the driver: the command fails in transit and the operation with it.
                let why = format!("connection reset: {why}");
                self.finish_op(slot, Outcome::Failed(redmutex::proto::Failure::Other(why)));
            }
            Ev::Cancel { op, after, .. } => self.cancel(slot, op, after),
            Ev::Answer { op, round, server, answer, .. } => {
                self.on_answer(slot, op, round, server, answer);
            }
            _ => {}
        }
    }

    fn timer_fired(&mut self, slot: u32) {
        let waiting = match &mut self.client(slot).stage {
            Stage::Idle => return self.next_iteration(slot),
            Stage::Section(s) if s.holding() => return self.section_write(slot),
            Stage::Op(op) => std::mem::replace(&mut op.waiting, Waiting::Nothing),
            _ => return,
        };
        match waiting {
            Waiting::Start => self.invoke(slot),
            Waiting::Parked => {
                if self.client(slot).delay_open {
                    self.client(slot).delay_open = false;
                    let id = self.client(slot).id;
                    self.nemesis_event(Kind::Ok, Op::StepDelay, Some(id), None);
                }
                let Some(action) = self.op(slot).and_then(|op| op.parked.take()) else { return };
                if let Some(event) = self.perform(slot, action) {
                    self.feed(slot, event);
                }
            }
            Waiting::Slept => self.feed(slot, MEvent::Slept),
            Waiting::Answers => self.answers_due(slot),
            Waiting::Message => self.feed(slot, MEvent::TimedOut),
            other => {
                if let Some(op) = self.op(slot) {
                    op.waiting = other;
                }
            }
        }
    }

    /// The next round of the worker loop, or the end.
    pub(super) fn next_iteration(&mut self, slot: u32) {
        let (give_up, cfg_seed, cfg) = (self.cfg.client.give_up_after, self.cfg.seed, self.cfg);
        let keys = self.keys.lock.clone();
        let c = &mut self.clients[slot as usize];
        if c.started >= c.iterations || c.misses >= give_up {
            c.stage = Stage::Finished;
            self.active -= 1;
            return;
        }
        let i = c.started;
        c.started += 1;
        // Unique per worker and round; the last 16 hex digits read `worker id : round`.
        let token = Token::from_u128(
            (u128::from(cfg_seed) << 64) | (u128::from(c.id) << 32) | u128::from(i),
        );
        let run_ms = (self.now_us - self.t0_us) / 1000;
        let c = &mut self.clients[slot as usize];
        let cancel = cfg.client.cancel_after(slot, run_ms, &mut c.rng);
        c.acquiring = Some((token.to_bytes(), cancel));
        let params =
            cfg.client.acquire_params(keys, token, c.seed ^ u64::from(i).wrapping_mul(0x9e37_79b9));
        let contended = self.clients[slot as usize].contended;
        let machine = if contended {
            self.protocol.acquire_contended(params)
        } else {
            self.protocol.acquire(params)
        };
        let invoke = Event::new(0, Kind::Invoke, Op::Acquire);
        let done = Event::new(0, Kind::Info, Op::Acquire);
        self.begin_op(slot, DelayOp::Acquire, machine, invoke, done);
    }

    pub(super) fn begin_op(
        &mut self,
        slot: u32,
        kind: DelayOp,
        machine: Box<dyn Machine>,
        invoke: Event,
        done: Event,
    ) {
        let servers = self.servers.len();
        let c = self.client(slot);
        c.ops[usize::from(kind == DelayOp::Release)] += 1;
        c.op_seq += 1;
        let seq = c.op_seq;
        c.stage = Stage::Op(Box::new(OpRun {
            kind,
            seq,
            machine,
            step: 0,
            done,
            invoke: Some(invoke),
            delayed_ms: 0,
            last_send: None,
            sends: 0,
            sends_to: vec![0; servers],
            round: None,
            parked: None,
            waiting: Waiting::Nothing,
            sub: None,
        }));
        let delay = self.step_delay(slot, kind, 0);
        if delay > 0 {
            if let Some(op) = self.op(slot) {
                op.delayed_ms += delay;
                op.waiting = Waiting::Start;
            }
            self.timer(slot, delay * 1000);
            return;
        }
        self.invoke(slot);
    }

    fn invoke(&mut self, slot: u32) {
        if self.client(slot).delay_open {
            self.client(slot).delay_open = false;
            let id = self.client(slot).id;
            self.nemesis_event(Kind::Ok, Op::StepDelay, Some(id), None);
        }
        let time = self.stamp();
        let id = self.client(slot).id;
        let Some(op) = self.op(slot) else { return };
        let Some(mut invoke) = op.invoke.take() else { return };
        invoke.time = time;
        let f = invoke.f;
        let seq = op.seq;
        self.client(slot).pending = Some(f);
        self.emit(invoke.by(id, 0));
        if f == Op::Acquire
            && let Some((_, Some(after))) = self.client(slot).acquiring
        {
            // As the worker's timeout around its acquire: the clock starts at the invocation.
            self.push(self.now_us + after * 1000, Ev::Cancel { slot, id, op: seq, after });
        }
        self.feed(slot, MEvent::Start);
    }

    /// Feeds the machine, and keeps feeding while its actions need no waiting.
    pub(super) fn feed(&mut self, slot: u32, mut event: MEvent) {
        loop {
            let now = self.machine_now();
            let Some(op) = self.op(slot) else { return };
            let action = op.machine.handle(now, event);
            let (step, kind) = (op.step, op.kind);
            op.step += 1;
            let delay = if step == 0 { 0 } else { self.step_delay(slot, kind, step) };
            if delay > 0 {
                if let Some(op) = self.op(slot) {
                    op.delayed_ms += delay;
                    op.parked = Some(action);
                    op.waiting = Waiting::Parked;
                }
                self.timer(slot, delay * 1000);
                return;
            }
            match self.perform(slot, action) {
                Some(next) => event = next,
                None => return,
            }
        }
    }

    /// Executes one action; answers the next event when it is available at once.
    fn perform(&mut self, slot: u32, action: Action) -> Option<MEvent> {
        match action {
            Action::Done(outcome) => {
                self.finish_op(slot, outcome);
                None
            }
            Action::Send(cmd) => {
                let at = self.stamp();
                let id = self.client(slot).id;
                let op = self.op(slot)?;
                op.last_send = Some(at);
                op.sends += 1;
                op.waiting = Waiting::Reply;
                let (seq, kind, nth_command) = (op.seq, op.kind, u64::from(op.sends));
                self.counters.lock_commands += 1;
                let mut arrive = self.now_us + self.delay();
                let mut reply = ReplyFate::Sent;
                let blocking = matches!(cmd, redmutex::proto::Command::BLPop { .. });
                if !blocking {
                    // A command fault strikes what the proxy would: the shared connection's
                    // commands (a waiter's blocking command has a connection of its own).
                    match self.command_fault(slot, kind, nth_command, &cmd, 0) {
                        Some(proxy::Action::DropCommand) => {
                            let why = "the command never reached the server (drop-command)";
                            self.send(Ev::Reset { slot, id, op: seq, why });
                            return None;
                        }
                        Some(proxy::Action::DropReply) => reply = ReplyFate::Lost,
                        Some(proxy::Action::DelayCommand { ms }) => arrive += ms * 1000,
                        Some(proxy::Action::DelayReply { ms }) => {
                            reply = ReplyFate::Delayed(ms * 1000);
                        }
                        // The scenario's command faults make no other rule.
                        Some(_) | None => {}
                    }
                    // The shared connection delivers in order; a blocking command has its own.
                    arrive = self.arrival_for(slot, 0, arrive);
                    let c = self.client(slot);
                    arrive = arrive.max(c.lock_arrival[0] + 1);
                    c.lock_arrival[0] = arrive;
                }
                let arrive = if blocking { self.arrival_for(slot, 0, arrive) } else { arrive };
                self.push(arrive, Ev::Lock { slot, id, op: seq, cmd, reply });
                None
            }
            Action::Sleep(d) => {
                self.op(slot)?.waiting = Waiting::Slept;
                self.timer(slot, micros(d));
                None
            }
            Action::ReadClock => {
                let skew = self.skew_ms(slot);
                Some(MEvent::Clock(self.wall_ms().saturating_add_signed(skew)))
            }
            Action::Wait { channel, timeout } => self.wait(slot, channel, timeout),
            Action::SendEach { commands, timeout } => self.send_each(slot, commands, timeout),
        }
    }

    fn wait(&mut self, slot: u32, channel: Bytes, timeout: Duration) -> Option<MEvent> {
        let id = self.client(slot).id;
        let op = self.op(slot)?;
        match op.sub.as_mut() {
            Some(s) if s.lost => {
                self.finish_op(
                    slot,
                    Outcome::Failed(Failure::Other("the subscription closed".into())),
                );
                None
            }
            Some(s) if s.channel == channel && s.ready => {
                if let Some(m) = s.mailbox.pop_front() {
                    return Some(MEvent::Notified(m));
                }
                self.wait_message(slot, timeout);
                None
            }
            _ => {
                if let Some(old) = op.sub.take() {
                    self.servers[0].model.unsubscribe(ClientId(old.id), &old.channel);
                }
                let sub = self.fresh_sub(slot, id);
                let op = self.op(slot)?;
                op.sub = Some(Sub {
                    id: sub,
                    channel,
                    ready: false,
                    lost: false,
                    mailbox: VecDeque::new(),
                });
                op.waiting = Waiting::Subscribed(timeout);
                self.send(Ev::Subscribe { sub });
                None
            }
        }
    }

    /// Subscribed: take a kept message, or wait for one at most `timeout`.
    fn wait_message(&mut self, slot: u32, timeout: Duration) {
        let Some(op) = self.op(slot) else { return };
        if let Some(m) = op.sub.as_mut().and_then(|s| s.mailbox.pop_front()) {
            op.waiting = Waiting::Nothing;
            self.feed(slot, MEvent::Notified(m));
            return;
        }
        op.waiting = Waiting::Message;
        self.timer(slot, micros(timeout));
    }

    /// The lock server restarted: the subscriber connection `sub` is gone.
    pub(super) fn subscription_lost(&mut self, slot: u32, id: u32, sub: u64) {
        if self.current(slot, id).is_none() {
            return;
        }
        let Some(op) = self.op(slot) else { return };
        let Some(s) = op.sub.as_mut().filter(|s| s.id == sub) else { return };
        s.lost = true;
        if matches!(op.waiting, Waiting::Message | Waiting::Subscribed(_)) {
            op.waiting = Waiting::Nothing;
            self.client(slot).epoch += 1;
            self.finish_op(slot, Outcome::Failed(Failure::Other("the subscription closed".into())));
        }
    }

    /// The scenario's command fault that strikes command `nth_command` (1-based) of the client's
    /// current operation of `kind` to lock server `server`, if one does: picked and recorded as
    /// that server's proxy picks and records a strike (its rules are the proxy's own).
    pub(super) fn command_fault(
        &mut self,
        slot: u32,
        kind: DelayOp,
        nth_command: u64,
        cmd: &redmutex::proto::Command,
        server: usize,
    ) -> Option<proxy::Action> {
        let nth_op = u64::from(self.client(slot).ops[usize::from(kind == DelayOp::Release)]);
        let op = if kind == DelayOp::Acquire { "acquire" } else { "release" };
        let info = proxy::CommandInfo {
            worker: Some(slot),
            op: Some(proxy::OpRef { op: op.into(), n: nth_op }),
            nth_command: Some(nth_command),
            command: command_name(cmd),
        };
        let rule = self.command_rules[server].pick(&info)?;
        let strike = proxy::Strike { time: 0, rule: rule.0, info, action: rule.1.clone() };
        let mut details = strike.describe();
        if self.servers.len() > 1 {
            details.push_str(&format!(" at lock server {server}"));
        }
        self.nemesis_event(Kind::Invoke, Op::Command, None, Some(details.clone()));
        self.nemesis_event(Kind::Ok, Op::Command, None, Some(details));
        Some(rule.1)
    }

    /// The caller drops acquire `seq` after `after` ms (`cancel-acquire`), if it still runs: as
    /// the worker records and cleans up a dropped acquire. Its commands in flight still run (a
    /// blocking one on a connection that then closes) and their replies go unread; the clean-up
    /// is a release with the dropped attempt's token.
    fn cancel(&mut self, slot: u32, seq: u64, after: u64) {
        let time = self.stamp();
        let c = &mut self.clients[slot as usize];
        let Stage::Op(op) = &c.stage else { return };
        if op.kind != DelayOp::Acquire || op.seq != seq || op.invoke.is_some() {
            return;
        }
        let Stage::Op(op) = std::mem::replace(&mut c.stage, Stage::Idle) else { return };
        c.pending = None;
        c.epoch += 1;
        let id = c.id;
        let own = c.acquiring.take().map(|(token, _)| token).unwrap_or_default();
        if c.blocked == Some(seq) {
            c.blocked = None;
            self.servers[0].model.disconnect(ClientId(u64::from(id)));
        } else {
            c.dropped = Some(seq);
        }
        if let Some(s) = &op.sub {
            self.servers[0].model.unsubscribe(ClientId(s.id), &s.channel);
        }
        let mut ev = Event::new(time, Kind::Info, Op::Acquire).by(id, 0);
        ev.delayed_ms = (op.delayed_ms > 0).then_some(op.delayed_ms);
        ev.token = Some(String::from_utf8_lossy(&own).into_owned());
        ev.details = Some(format!("cancelled after {after} ms: the caller dropped the acquire"));
        self.emit(ev);
        let mut fault = Event::new(self.stamp(), Kind::Invoke, Op::CancelAcquire).by(id, 0);
        fault.details = Some(format!("acquire dropped after {after} ms"));
        self.emit(fault.clone());
        fault.kind = Kind::Ok;
        fault.time = self.stamp();
        self.emit(fault);
        self.begin_cleanup(slot, own);
    }

    pub(super) fn finish_op(&mut self, slot: u32, outcome: Outcome) {
        let c = &mut self.clients[slot as usize];
        let id = c.id;
        let Stage::Op(op) = std::mem::replace(&mut c.stage, Stage::Idle) else { return };
        let op = *op;
        c.pending = None;
        let own = c.acquiring.take().map(|(token, _)| token);
        if op.kind == DelayOp::Acquire {
            // As the harness worker and `redmutex::Lock` do: after meeting a busy lock, notify
            // skips its plain-SET fast path next time.
            c.contended = op.sends > 1;
        }
        if let Some(s) = &op.sub {
            self.servers[0].model.unsubscribe(ClientId(s.id), &s.channel);
        }
        let mut ev = op.done;
        ev.time = self.stamp();
        ev.delayed_ms = (op.delayed_ms > 0).then_some(op.delayed_ms);
        match op.kind {
            DelayOp::Acquire => match outcome {
                Outcome::Acquired(grant) => {
                    ev.kind = Kind::Ok;
                    ev.token = Some(String::from_utf8_lossy(&grant.token).into_owned());
                    ev.fence = grant.fence;
                    ev.lease_from = Some(nanos(grant.acquired_at));
                    self.emit(ev.by(id, 0));
                    self.client(slot).misses = 0;
                    self.holders.insert(slot, self.now_us);
                    self.begin_section(slot, grant);
                }
                Outcome::Busy | Outcome::TimedOut => {
                    ev.kind = Kind::Fail;
                    ev.details = Some("timed out".into());
                    self.emit(ev.by(id, 0));
                    self.client(slot).misses += 1;
                    self.next_iteration(slot);
                }
                other => {
                    ev.details = Some(format!("{other:?}"));
                    // As the worker does: a failed acquire of a single-server lock may have
                    // taken the lock or queued its token; a release with its token cleans up.
                    let cleanup = own.filter(|_| self.protocol.servers() == 1);
                    ev.token = cleanup.as_ref().map(|t| String::from_utf8_lossy(t).into_owned());
                    self.emit(ev.by(id, 0));
                    self.client(slot).misses += 1;
                    match cleanup {
                        Some(token) => self.begin_cleanup(slot, token),
                        None => self.next_iteration(slot),
                    }
                }
            },
            DelayOp::Release => {
                ev.last_send = op.last_send;
                match outcome {
                    Outcome::Released { owned, handed } => {
                        ev.kind = Kind::Ok;
                        ev.owned = Some(owned);
                        ev.handed = handed.map(|h| String::from_utf8_lossy(&h).into_owned());
                    }
                    other => {
                        ev.kind = Kind::Info;
                        ev.details = Some(format!("{other:?}"));
                    }
                }
                self.emit(ev.by(id, 0));
                self.next_iteration(slot);
            }
        }
    }

    /// The delay before step `step` of the client's current operation: the scenario's step
    /// delays (exactly as a worker's hooks compute them) plus a pending nemesis delay, ms.
    fn step_delay(&mut self, slot: u32, kind: DelayOp, step: usize) -> u64 {
        let now = self.run_ms();
        let c = &self.clients[slot as usize];
        let nth = c.ops[usize::from(kind == DelayOp::Release)];
        let scenario = self.cfg.client.step_delay_ms(kind, step, nth, slot, now);
        let c = self.client(slot);
        let mut nemesis = 0;
        if c.delay_next_ms > 0 && c.delay_step == step {
            nemesis = std::mem::take(&mut c.delay_next_ms);
            c.delay_open = true;
        }
        scenario + nemesis
    }

    /// The offset of the client's wall clock, ms.
    fn skew_ms(&self, slot: u32) -> i64 {
        let now = self.run_ms();
        self.cfg.client.clock_offset_ms(slot, now) + self.clients[slot as usize].skew_ms
    }

    /// Kills the client in `slot` (SIGKILL): its pending operation ends as `info`, and a fresh
    /// worker with a new id takes the slot for the iterations left.
    pub(super) fn kill(&mut self, slot: u32, why: &str) {
        let c = &self.clients[slot as usize];
        if matches!(c.stage, Stage::Finished) {
            return;
        }
        let id = c.id;
        self.nemesis_event(Kind::Invoke, Op::Kill, Some(id), Some("SIGKILL".into()));
        self.nemesis_event(Kind::Ok, Op::Kill, Some(id), Some("SIGKILL".into()));
        let c = &mut self.clients[slot as usize];
        let pending = c.pending.take();
        let stage = std::mem::replace(&mut c.stage, Stage::Finished);
        let remaining = c.iterations.saturating_sub(c.started);
        let (paused, skewed, delayed) =
            (c.paused_open, c.skew_open, c.delay_open || c.delay_next_ms > 0);
        if let Stage::Op(op) = stage
            && let Some(s) = &op.sub
        {
            self.servers[0].model.unsubscribe(ClientId(s.id), &s.channel);
        }
        if let Some(op) = pending {
            let mut info = Event::new(self.stamp(), Kind::Info, op).by(id, 0);
            info.details = Some(why.to_string());
            self.emit(info);
        }
        let mut crash = Event::new(self.stamp(), Kind::Info, Op::Crash);
        crash.target = Some(id);
        crash.details = Some(why.to_string());
        self.emit(crash);
        if paused {
            self.nemesis_event(Kind::Ok, Op::Pause, Some(id), None);
        }
        if skewed {
            self.nemesis_event(Kind::Ok, Op::ClockSkew, Some(id), None);
        }
        if delayed {
            self.nemesis_event(Kind::Ok, Op::StepDelay, Some(id), None);
        }
        self.disconnect_everywhere(id);
        self.forget_inside(id);
        self.holders.remove(&slot);
        if remaining == 0 {
            self.active -= 1;
            return;
        }
        let fresh = self.fresh_id(slot);
        self.clients[slot as usize] = Client::new(self.cfg, fresh, remaining);
        // A supervisor restarts the process a moment later.
        let at = self.now_us + 1000 + self.rng.below(9000);
        self.start_client(slot, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_never_round_a_sleep_to_nothing() {
        assert_eq!(micros(Duration::ZERO), 1);
        assert_eq!(micros(Duration::from_millis(3)), 3000);
    }
}
