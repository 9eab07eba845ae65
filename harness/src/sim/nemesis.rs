//! The nemesis on the simulated clock: the random faults of `--faults`, a scenario's faults,
//! and the heal phase.

use redmutex::sim::Persistence;

use super::client::{Client, Stage};
use super::engine::{Engine, Ev};
use super::faults::NemesisKind;
use crate::history::{Kind, Op};
use crate::scenario::ServerSet;

impl Engine<'_> {
    /// Applies one fault of the random nemesis, and schedules the next.
    pub(super) fn nemesis(&mut self) {
        if self.active == 0 {
            return;
        }
        let kinds = self.cfg.faults.kinds();
        if let Some(&kind) = kinds.get(self.rng.below(kinds.len() as u64) as usize) {
            self.strike(kind);
        }
        let every = self.cfg.fault_every_ms.max(1) * 1000;
        let at = self.now_us + 1 + self.rng.below(2 * every);
        self.push(at, Ev::Nemesis);
    }

    fn strike(&mut self, kind: NemesisKind) {
        let ttl = self.cfg.client.ttl_ms.max(1);
        match kind {
            // With several lock servers, a minority of them, at once (see `minority`).
            NemesisKind::Restart => {
                let set = self.minority();
                self.restart_servers(Persistence::Aof, set, 0);
            }
            NemesisKind::RestartVolatile => {
                let set = self.minority();
                self.restart_servers(Persistence::None, set, 0);
            }
            NemesisKind::Pause => {
                let Some(slot) = self.victim() else { return };
                let ms = ttl / 2 + self.rng.below(ttl * 5 / 2 + 1);
                self.pause(slot, ms);
            }
            NemesisKind::Crash => {
                let Some(slot) = self.victim() else { return };
                self.kill(slot, "crashed by the nemesis");
            }
            NemesisKind::CrashHolder => {
                let now = self.now_us;
                let holders: Vec<u32> = self
                    .holders
                    .keys()
                    .copied()
                    .filter(|&s| self.clients[s as usize].paused_until <= now)
                    .collect();
                if holders.is_empty() {
                    return;
                }
                let slot = holders[self.rng.below(holders.len() as u64) as usize];
                self.kill(slot, "crashed by the nemesis");
            }
            NemesisKind::Skew => {
                let Some(slot) = self.victim() else { return };
                let size = ttl + self.rng.below(2 * ttl + 1);
                let size = i64::try_from(size).unwrap_or(i64::MAX);
                let offset = if self.rng.below(4) == 0 { -size } else { size };
                let until = self.now_us + (ttl + self.rng.below(4 * ttl + 1)) * 1000;
                self.skew(slot, offset, until);
            }
            NemesisKind::Delay => {
                let Some(slot) = self.victim() else { return };
                let ms = ttl / 2 + self.rng.below(ttl * 5 / 2 + 1);
                let step = self.rng.below(3) as usize;
                self.delay_next_step(slot, ms, step);
            }
        }
    }

    /// A client to strike: half the time the holder, if any.
    fn victim(&mut self) -> Option<u32> {
        let eligible =
            |c: &Client, now: u64| !matches!(c.stage, Stage::Finished) && c.paused_until <= now;
        if !self.holders.is_empty() && self.rng.below(2) == 0 {
            let i = self.rng.below(self.holders.len() as u64) as usize;
            let slot = self.holders.keys().nth(i).copied()?;
            if eligible(&self.clients[slot as usize], self.now_us) {
                return Some(slot);
            }
        }
        for _ in 0..8 {
            let slot = self.rng.below(self.clients.len() as u64) as u32;
            if eligible(&self.clients[slot as usize], self.now_us) {
                return Some(slot);
            }
        }
        None
    }

    /// Stops the client in `slot` for `ms` (the long GC pause).
    pub(super) fn pause(&mut self, slot: u32, ms: u64) {
        let c = &mut self.clients[slot as usize];
        let id = c.id;
        c.paused_until = self.now_us + ms * 1000;
        c.paused_open = true;
        let at = c.paused_until;
        self.nemesis_event(Kind::Invoke, Op::Pause, Some(id), Some(format!("paused for {ms} ms")));
        self.push(at, Ev::Resume { slot, id });
    }

    pub(super) fn resume(&mut self, slot: u32, id: u32) {
        let Some(c) = self.clients.get(slot as usize) else { return };
        if c.id != id || c.paused_until > self.now_us || !c.paused_open {
            return;
        }
        self.clients[slot as usize].paused_open = false;
        self.nemesis_event(Kind::Ok, Op::Pause, Some(id), None);
    }

    /// Cuts the client in `slot` off from the lock servers of `set` for `ms` (both ways,
    /// nothing closed): what it sends them and what they send it arrives once the partition
    /// heals, as through the proxy.
    pub(super) fn partition(&mut self, slot: u32, ms: u64, set: ServerSet) {
        let names = self.server_names(&self.struck(set));
        let c = &mut self.clients[slot as usize];
        let id = c.id;
        c.cut_until = self.now_us + ms * 1000;
        c.cut_servers = set;
        let at = c.cut_until;
        let details = format!("worker slot {slot} cut off from {names} for {ms} ms");
        self.nemesis_event(Kind::Invoke, Op::Partition, Some(id), Some(details));
        self.push(at, Ev::PartitionEnds { slot, id });
    }

    pub(super) fn partition_ends(&mut self, slot: u32, id: u32) {
        let Some(c) = self.clients.get(slot as usize) else { return };
        if c.id != id || c.cut_until == 0 || c.cut_until > self.now_us {
            return;
        }
        self.clients[slot as usize].cut_until = 0;
        self.nemesis_event(Kind::Ok, Op::Partition, Some(id), None);
    }

    fn skew(&mut self, slot: u32, offset: i64, until: u64) {
        let c = &mut self.clients[slot as usize];
        if c.skew_open {
            return;
        }
        c.skew_ms = offset;
        c.skew_open = true;
        let id = c.id;
        self.nemesis_event(Kind::Invoke, Op::ClockSkew, Some(id), Some(format!("{offset:+} ms")));
        self.push(until, Ev::SkewEnd { slot, id });
    }

    pub(super) fn skew_end(&mut self, slot: u32, id: u32) {
        let Some(c) = self.clients.get_mut(slot as usize) else { return };
        if c.id != id || !c.skew_open {
            return;
        }
        c.skew_open = false;
        c.skew_ms = 0;
        self.nemesis_event(Kind::Ok, Op::ClockSkew, Some(id), None);
    }

    fn delay_next_step(&mut self, slot: u32, ms: u64, step: usize) {
        let c = &mut self.clients[slot as usize];
        if c.delay_next_ms > 0 || c.delay_open {
            return;
        }
        c.delay_next_ms = ms;
        c.delay_step = step;
        let id = c.id;
        let details = format!("worker {id} sleeps {ms} ms before step {step} of an operation");
        self.nemesis_event(Kind::Invoke, Op::StepDelay, Some(id), Some(details));
    }

    /// The heal phase: pauses end, skews end, windows close.
    pub(super) fn heal(&mut self, why: &str) {
        for slot in 0..self.clients.len() {
            let c = &self.clients[slot];
            let (id, paused, skewed, delayed) =
                (c.id, c.paused_open, c.skew_open, c.delay_open || c.delay_next_ms > 0);
            if paused {
                self.clients[slot].paused_until = 0;
                self.clients[slot].paused_open = false;
                self.nemesis_event(Kind::Ok, Op::Pause, Some(id), None);
            }
            if skewed {
                self.clients[slot].skew_open = false;
                self.nemesis_event(Kind::Ok, Op::ClockSkew, Some(id), None);
            }
            if delayed {
                self.clients[slot].delay_open = false;
                self.clients[slot].delay_next_ms = 0;
                self.nemesis_event(Kind::Ok, Op::StepDelay, Some(id), None);
            }
            if self.clients[slot].cut_until > 0 {
                self.clients[slot].cut_until = 0;
                self.nemesis_event(Kind::Ok, Op::Partition, Some(id), None);
            }
        }
        // Servers down after a restart come back, as a real run's heal waits for them.
        self.servers_heal();
        // The failover under way ends, as a real run's heal waits for it.
        self.promote();
        let mut plans = std::mem::take(&mut self.plans);
        plans.heal(self);
        self.plans = plans;
        self.nemesis_event(Kind::Ok, Op::Heal, None, Some(why.to_string()));
    }

    /// Takes the queue's scheduling of a plan event at `at` (for [`Plans`]).
    pub(super) fn schedule(&mut self, at_run_ms: u64, ev: Ev) {
        let at = self.t0_us + at_run_ms.saturating_mul(1000);
        self.push(at.max(self.now_us), ev);
    }

    pub(super) fn tick(&mut self) {
        if self.active == 0 {
            return;
        }
        let mut plans = std::mem::take(&mut self.plans);
        let more = plans.tick(self);
        self.plans = plans;
        if more {
            self.push(self.now_us + 1000, Ev::Tick);
        }
    }

    pub(super) fn window(&mut self, index: usize, open: bool) {
        let mut plans = std::mem::take(&mut self.plans);
        plans.window(self, index, open);
        self.plans = plans;
    }
}
