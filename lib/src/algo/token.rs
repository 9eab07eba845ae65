//! `token`: `SET key token NX PX ttl`, owner-checked release and extend, polling with capped
//! exponential backoff and jitter. `fenced` reuses the polling machine with its own command.

use std::time::Duration;

use super::{
    AcquireParams, ExtendParams, Protocol, ReleaseParams, Rng, bad_reply, checked_extend,
    checked_release, grant, set_nx, unexpected,
};
use crate::proto::{Action, Command, Event, Expiry, Grant, Machine, Outcome, Reply, millis};
use crate::scripts;

/// The `token` algorithm.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenLock;

impl Protocol for TokenLock {
    fn name(&self) -> &'static str {
        "token"
    }

    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine> {
        Box::new(PollAcquire::new(params, Attempt::Set))
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Box::new(checked_release(&scripts::RELEASE, vec![p.grant.token], vec![p.keys.lock]))
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Some(Box::new(checked_extend(&p)))
    }
}

/// What one polling attempt sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// `SET NX PX`.
    Set,
    /// The fenced acquire script.
    Fenced,
}

/// Acquire by polling: try, and while busy sleep a jittered, capped, growing delay.
pub(crate) struct PollAcquire {
    p: AcquireParams,
    attempt_kind: Attempt,
    deadline: Option<Duration>,
    attempts: u32,
    sent_at: Duration,
    rng: Rng,
    started: bool,
}

impl PollAcquire {
    pub(crate) fn new(p: AcquireParams, attempt_kind: Attempt) -> PollAcquire {
        let rng = Rng::new(p.seed);
        PollAcquire {
            p,
            attempt_kind,
            deadline: None,
            attempts: 0,
            sent_at: Duration::ZERO,
            rng,
            started: false,
        }
    }

    fn send(&mut self, now: Duration) -> Action {
        self.sent_at = now;
        let (token, ttl) = (self.p.token.to_bytes(), millis(self.p.ttl));
        Action::Send(match self.attempt_kind {
            Attempt::Set => set_nx(&self.p.keys.lock, self.p.token, Expiry::Px(ttl)),
            Attempt::Fenced => Command::Eval {
                script: &scripts::FENCED_ACQUIRE,
                keys: vec![self.p.keys.lock.clone(), self.p.keys.fence.clone()],
                args: vec![token, crate::proto::num(ttl)],
            },
        })
    }

    /// `Some(fence)` when won (`None` inside for unfenced), `None` when busy.
    fn interpret(&self, reply: &Reply) -> Result<Option<Option<u64>>, Outcome> {
        match (self.attempt_kind, reply) {
            (Attempt::Set, r) if r.is_ok() => Ok(Some(None)),
            (Attempt::Set, Reply::Nil) => Ok(None),
            (Attempt::Fenced, Reply::Int(0)) => Ok(None),
            (Attempt::Fenced, Reply::Int(f)) if *f > 0 => Ok(Some(Some(f.unsigned_abs()))),
            (_, r) => Err(bad_reply("acquire", r)),
        }
    }

    fn on_reply(&mut self, now: Duration, reply: &Reply) -> Action {
        let won = match self.interpret(reply) {
            Ok(won) => won,
            Err(failed) => return Action::Done(failed),
        };
        if let Some(fence) = won {
            let grant = grant(self.p.token.to_bytes(), self.sent_at, self.p.ttl, self.p.drift);
            return Action::Done(Outcome::Acquired(Grant { fence, ..grant }));
        }
        let Some(deadline) = self.deadline else { return Action::Done(Outcome::Busy) };
        if now >= deadline {
            return Action::Done(Outcome::TimedOut);
        }
        let delay = self.p.backoff.delay(self.attempts, &mut self.rng);
        self.attempts += 1;
        Action::Sleep(delay.min(deadline - now))
    }
}

impl Machine for PollAcquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match event {
            Event::Start if !self.started => {
                self.started = true;
                self.deadline = self.p.wait.map(|w| now + w);
                self.send(now)
            }
            Event::Slept => self.send(now),
            Event::Reply(reply) => self.on_reply(now, &reply),
            other => Action::Done(unexpected(&other)),
        }
    }
}
