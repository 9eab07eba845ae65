//! A simulated client's [`Action::SendEach`]: one command to each lock server at once, each
//! answer awaited at most the action's timeout, as `redmutex::fanout` does it.
//!
//! The real driver sends each command in a task of its own and reads its reply even once
//! nobody awaits it; so here every command travels and runs whatever becomes of its answer: an
//! answer that comes too late is [`Answer::Unanswered`] for the machine, and a later command on
//! the same connection still reaches the server after it. Each command goes through its
//! server's proxy, so a command fault of that server may strike it.

use std::time::Duration;

use redmutex::proto::{Answer, Command, Event as MEvent, Failure, Outcome};

use super::client::{Waiting, micros};
use super::engine::{Engine, Ev, ReplyFate};
use super::servers::Sent;
use crate::proxy;

/// The round of [`Action::SendEach`] an operation awaits.
pub(super) struct Round {
    /// Its number among the client's rounds (answers carry it).
    id: u64,
    /// Each server's answer, once in.
    answers: Vec<Option<Answer>>,
    /// How long each answer is awaited.
    timeout: Duration,
}

impl Engine<'_> {
    /// Sends each command of a [`Action::SendEach`] to its server; answers the event at once
    /// when nothing was sent.
    pub(super) fn send_each(
        &mut self,
        slot: u32,
        commands: Vec<Option<Command>>,
        timeout: Duration,
    ) -> Option<MEvent> {
        let n = self.servers.len();
        if commands.len() != n {
            let why = format!("SendEach addressed {} servers; this run has {n}", commands.len());
            self.finish_op(slot, Outcome::Failed(Failure::Other(why)));
            return None;
        }
        let at = self.stamp();
        let c = self.client(slot);
        c.rounds += 1;
        let (id, round) = (c.id, c.rounds);
        let op = self.op(slot)?;
        op.last_send = Some(at);
        op.sends += 1;
        let (seq, kind) = (op.seq, op.kind);
        let mut answers: Vec<Option<Answer>> = vec![None; n];
        for (server, cmd) in commands.into_iter().enumerate() {
            let Some(cmd) = cmd else {
                answers[server] = Some(Answer::Unsent);
                continue;
            };
            self.counters.lock_commands += 1;
            let op = self.op(slot)?;
            op.sends_to[server] += 1;
            let nth = op.sends_to[server];
            let sent = Sent { slot, id, op: seq, round, server };
            let mut arrive = self.now_us + self.delay();
            let mut fate = ReplyFate::Sent;
            match self.command_fault(slot, kind, nth, &cmd, server) {
                Some(proxy::Action::DropCommand) => {
                    let why = format!(
                        "server {server}: connection reset: the command never reached the \
                         server (drop-command)"
                    );
                    self.answer(sent, Answer::Unanswered(why), 0);
                    continue;
                }
                Some(proxy::Action::DropReply) => fate = ReplyFate::Lost,
                Some(proxy::Action::DelayCommand { ms }) => arrive += ms * 1000,
                Some(proxy::Action::DelayReply { ms }) => fate = ReplyFate::Delayed(ms * 1000),
                // The scenario's command faults make no other rule.
                Some(_) | None => {}
            }
            // One connection per server delivers in order, behind what it carried before.
            arrive = self.arrival_for(slot, server, arrive);
            let c = self.client(slot);
            arrive = arrive.max(c.lock_arrival[server] + 1);
            c.lock_arrival[server] = arrive;
            self.push(arrive, Ev::Each { slot, id, op: seq, round, server, cmd, reply: fate });
        }
        if answers.iter().all(Option::is_some) {
            return Some(MEvent::Answers(answers.into_iter().flatten().collect()));
        }
        let op = self.op(slot)?;
        op.round = Some(Round { id: round, answers, timeout });
        op.waiting = Waiting::Answers;
        self.timer(slot, micros(timeout));
        None
    }

    /// Server `server`'s answer to round `round` of operation `seq` reaches the client: kept if
    /// the round is still awaited; the machine hears the round once every answer is in.
    pub(super) fn on_answer(
        &mut self,
        slot: u32,
        seq: u64,
        round: u64,
        server: usize,
        answer: Answer,
    ) {
        let Some(op) = self.op(slot) else { return };
        if op.waiting != Waiting::Answers || op.seq != seq {
            // Too late: the round timed out, or the operation is over.
            return;
        }
        let Some(r) = op.round.as_mut().filter(|r| r.id == round) else { return };
        if let Some(slot_answer) = r.answers.get_mut(server).filter(|a| a.is_none()) {
            *slot_answer = Some(answer);
        }
        if r.answers.iter().any(Option::is_none) {
            return;
        }
        let answers = op.round.take().map(|r| r.answers).unwrap_or_default();
        op.waiting = Waiting::Nothing;
        // The round's timeout is void.
        self.client(slot).epoch += 1;
        self.feed(slot, MEvent::Answers(answers.into_iter().flatten().collect()));
    }

    /// The round's timeout: every answer not in is [`Answer::Unanswered`].
    pub(super) fn answers_due(&mut self, slot: u32) {
        let Some(op) = self.op(slot) else { return };
        let Some(r) = op.round.take() else { return };
        let timeout = r.timeout;
        let answers = r
            .answers
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                a.unwrap_or_else(|| {
                    Answer::Unanswered(format!("server {i}: no answer within {timeout:?}"))
                })
            })
            .collect();
        self.feed(slot, MEvent::Answers(answers));
    }
}
