//! The independent lock servers of a run (`[server] count`): each its own model with its own
//! keys, wall clock, sleep and downtime; what strikes them; the commands of an
//! [`Action::SendEach`] as they reach them; and what the run left on them.
//!
//! With one server everything here does exactly what the single-server simulator always did
//! (a restart is at once, the residue is listed under the key's bare name), so that a seed of a
//! single-server run replays the same history. With several, a restart keeps its server down
//! for the fault's downtime (a quorum lock is meant to ride that out), a command that reaches a
//! down server is lost and its connection refused, and the commands still on their way when
//! the workers end run before the residue is listed, as a real listing queues behind them.
//!
//! [`Action::SendEach`]: redmutex::proto::Action::SendEach

use redmutex::proto::{Answer, Bytes, Command, Reply};
use redmutex::sim::{ClientId, Model, Persistence, Step};

use super::engine::{Engine, Ev, ReplyFate, T0_MS};
use crate::history::{Event, Kind, Op};
use crate::scenario::ServerSet;
use crate::server_faults::clock::step_words;

/// One independent lock server.
pub(super) struct LockServer {
    /// Its keys and clock.
    pub(super) model: Model,
    /// Until when it sleeps (`DEBUG SLEEP`), µs; 0 when awake.
    pub(super) asleep_until: u64,
    /// How far `server-clock-jump` faults stepped its wall clock, ms.
    pub(super) clock_offset_ms: i64,
    /// Until when it is down (a restart's downtime, several servers only), µs; 0 when up.
    pub(super) down_until: u64,
}

impl LockServer {
    pub(super) fn new() -> LockServer {
        LockServer {
            model: Model::starting_at(T0_MS),
            asleep_until: 0,
            clock_offset_ms: 0,
            down_until: 0,
        }
    }
}

/// Who sent a command of an [`Ev::Each`], and where to.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sent {
    pub(super) slot: u32,
    pub(super) id: u32,
    pub(super) op: u64,
    pub(super) round: u64,
    pub(super) server: usize,
}

impl Engine<'_> {
    /// Lock server `i`'s wall clock, ms: ours plus the steps its `server-clock-jump`s made.
    pub(super) fn server_clock(&self, i: usize) -> u64 {
        let now = i64::try_from(self.now_us / 1000).unwrap_or(i64::MAX);
        u64::try_from(now.saturating_add(self.servers[i].clock_offset_ms)).unwrap_or(0)
    }

    /// Brings lock server `i`'s model to its wall clock.
    pub(super) fn advance(&mut self, i: usize) {
        let now = self.server_clock(i);
        self.servers[i].model.advance_to(now);
    }

    /// When a message between lock server `server` and the client in `slot` that would arrive
    /// at `at` does arrive: not before a partition of that client from that server heals.
    pub(super) fn arrival_for(&mut self, slot: u32, server: usize, at: u64) -> u64 {
        let cut = self
            .clients
            .get(slot as usize)
            .filter(|c| c.cut_servers.contains(server))
            .map_or(0, |c| c.cut_until);
        if cut > self.now_us { at.max(cut + self.delay()) } else { at }
    }

    /// The servers of `set` among the run's.
    pub(super) fn struck(&self, set: ServerSet) -> Vec<usize> {
        let n = u32::try_from(self.servers.len()).unwrap_or(u32::MAX);
        set.among(n).into_iter().map(|i| i as usize).collect()
    }

    /// How the history names `struck`: "the lock server" when the run has one.
    pub(super) fn server_names(&self, struck: &[usize]) -> String {
        if self.servers.len() == 1 {
            return "the lock server".into();
        }
        let list: Vec<String> = struck.iter().map(usize::to_string).collect();
        match struck {
            [_] => format!("lock server {}", list.join("")),
            _ => format!("lock servers {}", list.join(", ")),
        }
    }

    /// A minority of the lock servers, drawn at random (one of three, one or two of five); the
    /// one server when there is only one (and then nothing is drawn, so that a single-server
    /// seed replays as before).
    pub(super) fn minority(&mut self) -> ServerSet {
        let n = self.servers.len() as u64;
        if n == 1 {
            return ServerSet::ALL;
        }
        let k = 1 + self.rng.below((n - 1) / 2);
        let mut chosen: Vec<u32> = Vec::new();
        while (chosen.len() as u64) < k {
            let i = u32::try_from(self.rng.below(n)).unwrap_or(0);
            if !chosen.contains(&i) {
                chosen.push(i);
            }
        }
        ServerSet::of(&chosen).unwrap_or(ServerSet::ALL)
    }

    /// The lock servers forget the connections of worker `id` (it died).
    pub(super) fn disconnect_everywhere(&mut self, id: u32) {
        for s in &mut self.servers {
            s.model.disconnect(ClientId(u64::from(id)));
        }
    }

    /// A command of a [`Ev::Each`] reaches its server. A server that is down loses it and
    /// refuses the connection; one that sleeps runs it when it wakes; otherwise it runs now,
    /// whether or not its client still awaits the answer, and the answer travels back.
    pub(super) fn at_each(&mut self, sent: Sent, cmd: &Command, fate: ReplyFate) {
        let Sent { slot, id, op, round, server } = sent;
        let live = self.current(slot, id).is_some();
        if self.servers[server].down_until > self.now_us {
            if live {
                let why = format!("server {server}: connection refused: the server is down");
                self.answer(sent, Answer::Unanswered(why), 0);
            }
            return;
        }
        let asleep = self.servers[server].asleep_until;
        if asleep > self.now_us {
            // A sleeping server reads nothing; commands wait their turn, in arrival order.
            let ev = Ev::Each { slot, id, op, round, server, cmd: cmd.clone(), reply: fate };
            self.push(asleep, ev);
            return;
        }
        self.advance(server);
        let client = ClientId(u64::from(id));
        let step = self.servers[server].model.exec(client, cmd);
        if !live {
            // A dead client's last command still runs; then the server sees its connection
            // close.
            self.servers[server].model.disconnect(client);
            return;
        }
        let reply = match step {
            Step::Reply(reply) => reply,
            Step::Blocked => {
                self.servers[server].model.disconnect(client);
                Reply::Error("ERR a blocking command sent to several servers".into())
            }
        };
        let (answer, late) = match fate {
            ReplyFate::Lost => {
                let why = format!("server {server}: connection reset: the reply was lost");
                (Answer::Unanswered(why), 0)
            }
            ReplyFate::Delayed(us) => (Answer::Reply(reply), us),
            ReplyFate::Sent => (Answer::Reply(reply), 0),
        };
        self.answer(sent, answer, late);
    }

    /// Sends `answer` back to the client of `sent`, `late` µs later than the network alone.
    pub(super) fn answer(&mut self, sent: Sent, answer: Answer, late: u64) {
        let Sent { slot, id, op, round, server } = sent;
        let at = self.now_us + self.delay() + late;
        let at = self.arrival_for(slot, server, at);
        self.push(at, Ev::Answer { slot, id, op, round, server, answer });
    }

    /// Restarts the lock servers of `set` with `persistence`. With one server the restart is at
    /// once; with several, each struck server is down for `downtime_ms` (a server already down
    /// is not struck again). Answers whether any server was struck.
    pub(super) fn restart_servers(
        &mut self,
        persistence: Persistence,
        set: ServerSet,
        downtime_ms: u64,
    ) -> bool {
        let several = self.servers.len() > 1;
        let now = self.now_us;
        let struck: Vec<usize> =
            self.struck(set).into_iter().filter(|&i| self.servers[i].down_until <= now).collect();
        if struck.is_empty() {
            return false;
        }
        let mut dropped = Vec::new();
        for &i in &struck {
            self.advance(i);
            let lost = self.servers[i].model.restart(persistence);
            if i == 0 {
                dropped = lost;
            }
        }
        let names = if several { self.server_names(&struck) } else { "lock server".into() };
        let mut details = match persistence {
            Persistence::None => format!("{names} restarted without persistence: every key lost"),
            Persistence::Aof => format!("{names} restarted with appendfsync always: keys kept"),
        };
        let down = several && downtime_ms > 0;
        if down {
            details.push_str(&format!(", down for {downtime_ms} ms"));
        }
        self.nemesis_event(Kind::Invoke, Op::Restart, None, Some(details));
        self.connections_lost(dropped, "ERR connection lost: the server restarted");
        if !down {
            self.nemesis_event(Kind::Ok, Op::Restart, None, None);
            return true;
        }
        let up = self.now_us + downtime_ms * 1000;
        let mut up_set = Vec::new();
        for &i in &struck {
            self.servers[i].down_until = up;
            up_set.push(u32::try_from(i).unwrap_or(0));
        }
        let servers = ServerSet::of(&up_set).unwrap_or(ServerSet::ALL);
        self.push(up, Ev::ServerUp { servers });
        true
    }

    /// The servers of `set` whose downtime is over are up again.
    pub(super) fn servers_up(&mut self, set: ServerSet) {
        let mut up = false;
        for i in self.struck(set) {
            let s = &mut self.servers[i];
            if s.down_until > 0 && s.down_until <= self.now_us {
                s.down_until = 0;
                up = true;
            }
        }
        if up {
            self.nemesis_event(Kind::Ok, Op::Restart, None, None);
        }
    }

    /// The lock servers of `set` sleep `ms` (`DEBUG SLEEP`): they take up no command until
    /// they wake.
    pub(super) fn sleep_servers(&mut self, ms: u64, set: ServerSet) {
        let struck = self.struck(set);
        let until = self.now_us + ms * 1000;
        for &i in &struck {
            self.servers[i].asleep_until = until;
        }
        let details = format!("DEBUG SLEEP {ms} ms on {}", self.server_names(&struck));
        self.nemesis_event(Kind::Invoke, Op::SlowServer, None, Some(details));
        self.push(until, Ev::ServerWakes { servers: set });
    }

    /// The servers of `set` whose sleep is over wake.
    pub(super) fn servers_wake(&mut self, set: ServerSet) {
        let mut woke = false;
        for i in self.struck(set) {
            let s = &mut self.servers[i];
            if s.asleep_until > 0 && s.asleep_until <= self.now_us {
                s.asleep_until = 0;
                woke = true;
            }
        }
        if woke {
            self.nemesis_event(Kind::Ok, Op::SlowServer, None, None);
        }
    }

    /// Steps the wall clocks of the lock servers of `set` by `ms` (as libfaketime does to a
    /// real one): keys expire by the new time at once.
    pub(super) fn jump_server_clocks(&mut self, ms: i64, set: ServerSet) {
        let struck = self.struck(set);
        for &i in &struck {
            let s = &mut self.servers[i];
            s.clock_offset_ms = s.clock_offset_ms.saturating_add(ms);
            let clock = self.server_clock(i);
            self.servers[i].model.set_clock(clock);
        }
        let offs: Vec<String> =
            struck.iter().map(|&i| step_words(self.servers[i].clock_offset_ms)).collect();
        let details = format!(
            "{}'s wall clock stepped {} (now {} off)",
            self.server_names(&struck),
            step_words(ms),
            offs.join(", ")
        );
        self.nemesis_event(Kind::Invoke, Op::ServerClock, None, Some(details));
        // A step, not a window: it ends at once, and the heal leaves the clock where it is.
        self.nemesis_event(Kind::Ok, Op::ServerClock, None, None);
        if struck.contains(&0) {
            self.drain_lock();
        }
    }

    /// The heal of several servers: the ones still down are up again.
    pub(super) fn servers_heal(&mut self) {
        let down: Vec<u32> = (0..self.servers.len())
            .filter(|&i| self.servers[i].down_until > 0)
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        if down.is_empty() {
            return;
        }
        for &i in &down {
            self.servers[i as usize].down_until = 0;
        }
        self.nemesis_event(Kind::Ok, Op::Restart, None, Some("up again at the heal".into()));
    }

    /// With several servers: the commands still on their way to a server when the workers
    /// ended run now (a sleeping server's when it wakes), as a real listing of what is left
    /// queues behind them. Everything else still queued is void: every client has finished.
    pub(super) fn flush_commands(&mut self) {
        if self.servers.len() == 1 {
            return;
        }
        while let Some((at, ev)) = self.pop() {
            match ev {
                Ev::Each { slot, id, op, round, server, cmd, reply } => {
                    self.now_us = self.now_us.max(at);
                    self.at_each(Sent { slot, id, op, round, server }, &cmd, reply);
                }
                Ev::ServerWakes { servers } => {
                    self.now_us = self.now_us.max(at);
                    self.servers_wake(servers);
                }
                _ => {}
            }
        }
    }

    /// What the run left on the lock servers, listed as a real run lists it: each of the
    /// lock's keys with its PTTL, whether the algorithm keeps it by design and whether waiters'
    /// looks renew it (with several servers, which server it is on), then their count over
    /// every server.
    pub(super) fn list_residue(&mut self) {
        let prefix = self.keys.lock.lock.clone();
        let kept = self.protocol.kept_keys(&self.keys.lock);
        let renewed = self.protocol.renewed_keys(&self.keys.lock);
        let several = self.servers.len() > 1;
        let mut count = 0;
        for i in 0..self.servers.len() {
            self.advance(i);
            let model = &self.servers[i].model;
            let mut keys: Vec<Bytes> =
                model.live_keys().into_iter().filter(|k| k.starts_with(&prefix)).collect();
            keys.sort();
            let now = model.now();
            let listed: Vec<(Bytes, Option<u64>)> =
                keys.into_iter().map(|k| (k.clone(), model.expires_at(&k))).collect();
            for (key, expires) in listed {
                let mut e = Event::new(self.stamp(), Kind::Ok, Op::Residue);
                let name = String::from_utf8_lossy(&key).into_owned();
                e.details = Some(if several { format!("{name} (server {i})") } else { name });
                e.value = Some(match expires {
                    Some(at) => i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX),
                    None => -1,
                });
                e.kept = Some(kept.contains(&key));
                e.renewed = renewed.contains(&key).then_some(true);
                self.emit(e);
                count += 1;
            }
        }
        let mut close = Event::new(self.stamp(), Kind::Ok, Op::Residue);
        close.value = Some(count);
        self.emit(close);
    }
}
