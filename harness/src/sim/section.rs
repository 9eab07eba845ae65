//! The critical section of a simulated worker, on the witness: `enter`, read the counter (the
//! fenced read for a fenced lock), hold, write counter+1 (the fenced write), `exit` — then the
//! release. The events are the ones `contend worker` writes.

use std::time::Duration;

use redmutex::algo::ReleaseParams;
use redmutex::proto::{Bytes, Grant, Token};

use super::client::{Stage, micros};
use super::engine::{Engine, Ev, WOp, WReply};
use crate::history::{Event, Kind, Op};
use crate::scenario::DelayOp;

/// A critical section in progress.
pub(super) struct SectionRun {
    grant: Grant,
    ev: Event,
    stage: Sec,
    read: i64,
}

impl SectionRun {
    /// Whether the holder is between its read and its write (its timer ends the hold).
    pub(super) fn holding(&self) -> bool {
        self.stage == Sec::Hold
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sec {
    Enter,
    Read,
    Hold,
    Write,
    Exit,
}

impl Engine<'_> {
    pub(super) fn begin_section(&mut self, slot: u32, grant: Grant) {
        let id = self.client(slot).id;
        let mut ev = Event::new(self.stamp(), Kind::Invoke, Op::Section).by(id, 0);
        ev.fence = grant.fence;
        self.emit(ev.clone());
        let c = self.client(slot);
        c.pending = Some(Op::Section);
        c.stage = Stage::Section(Box::new(SectionRun { grant, ev, stage: Sec::Enter, read: 0 }));
        self.witness_send(slot, WOp::Enter);
    }

    fn witness_send(&mut self, slot: u32, op: WOp) {
        let id = self.client(slot).id;
        self.counters.witness_commands += 1;
        self.send(Ev::Witness { slot, id, op });
    }

    fn section(&mut self, slot: u32) -> Option<&mut SectionRun> {
        match &mut self.clients[slot as usize].stage {
            Stage::Section(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn section_reply(&mut self, slot: u32, reply: WReply) {
        let Some(stage) = self.section(slot).map(|s| s.stage) else { return };
        match (stage, reply) {
            (Sec::Enter, WReply::Inside(others)) => {
                let at = self.stamp();
                let Some(s) = self.section(slot) else { return };
                s.ev.enter = Some(at);
                s.ev.others = others;
                s.stage = Sec::Read;
                let op = s.grant.fence.map_or(WOp::Get, WOp::FencedRead);
                self.witness_send(slot, op);
            }
            (Sec::Read, WReply::Value(Ok(v))) => {
                let hold = self.cfg.client.hold;
                let now = self.machine_now();
                let left = self
                    .section(slot)
                    .map_or(Duration::ZERO, |s| s.grant.valid_until.saturating_sub(now));
                let d = self.client(slot).hold(hold, left);
                let Some(s) = self.section(slot) else { return };
                s.read = v.unwrap_or(0);
                s.ev.read = Some(s.read);
                if d.is_zero() {
                    self.section_write(slot);
                } else {
                    s.stage = Sec::Hold;
                    self.timer(slot, micros(d));
                }
            }
            (Sec::Read, WReply::Refused) => {
                // A newer holder already read the resource: our lease is over.
                let at = self.stamp();
                let Some(s) = self.section(slot) else { return };
                s.ev.accepted = Some(false);
                s.ev.exit = Some(at);
                s.stage = Sec::Exit;
                self.witness_send(slot, WOp::Exit);
            }
            (Sec::Write, WReply::Written(Ok(accepted))) => {
                let at = self.stamp();
                let fenced = self.fenced;
                let Some(s) = self.section(slot) else { return };
                if fenced {
                    s.ev.accepted = Some(accepted);
                }
                s.ev.wrote = Some(s.read + 1);
                s.ev.exit = Some(at);
                s.stage = Sec::Exit;
                self.witness_send(slot, WOp::Exit);
            }
            (Sec::Exit, WReply::Exited) => self.section_done(slot, Kind::Ok, None),
            (_, WReply::Value(Err(e)) | WReply::Written(Err(e))) => {
                self.section_done(slot, Kind::Info, Some(e))
            }
            (_, other) => self.section_done(
                slot,
                Kind::Info,
                Some(format!("unexpected witness reply {other:?}")),
            ),
        }
    }

    pub(super) fn section_write(&mut self, slot: u32) {
        let Some(s) = self.section(slot) else { return };
        s.stage = Sec::Write;
        let value = s.read + 1;
        let op = s.grant.fence.map_or(WOp::Set(value), |f| WOp::FencedWrite(f, value));
        self.witness_send(slot, op);
    }

    fn section_done(&mut self, slot: u32, kind: Kind, details: Option<String>) {
        let time = self.stamp();
        let c = self.client(slot);
        let Stage::Section(s) = std::mem::replace(&mut c.stage, Stage::Idle) else { return };
        c.pending = None;
        let SectionRun { grant, mut ev, .. } = *s;
        ev.kind = kind;
        ev.time = time;
        ev.details = details;
        self.emit(ev);
        self.begin_release(slot, grant);
    }

    pub(super) fn begin_release(&mut self, slot: u32, grant: Grant) {
        self.holders.remove(&slot);
        let c = self.client(slot);
        let fresh_token =
            Token::from_u128((1 << 127) | (u128::from(c.id) << 64) | u128::from(c.rng.next_u64()));
        let mut invoke = Event::new(0, Kind::Invoke, Op::Release);
        invoke.token = Some(String::from_utf8_lossy(&grant.token).into_owned());
        invoke.fence = grant.fence;
        let mut done = invoke.clone();
        done.kind = Kind::Info;
        let params = ReleaseParams {
            keys: self.keys.lock.clone(),
            grant,
            ttl: Duration::from_millis(self.cfg.client.ttl_ms),
            fresh_token,
        };
        let machine = self.protocol.release(params);
        self.begin_op(slot, DelayOp::Release, machine, invoke, done);
    }

    /// The clean-up of an acquire that was dropped or failed, as the worker runs it: a release
    /// with the attempt's token, which frees what it may have taken (for `notify` and `fair`
    /// it also withdraws the token from the waiters).
    pub(super) fn begin_cleanup(&mut self, slot: u32, token: Bytes) {
        self.begin_release(slot, Grant::for_cleanup(token));
    }
}
