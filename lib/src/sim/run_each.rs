//! Running one machine over several independent model servers ([`Action::SendEach`]), in
//! logical time: what the simulator needs to drive algorithms such as `redlock`.

use std::time::Duration;

use super::{Model, RunOptions, Step};
use crate::proto::{Action, Answer, Event, Failure, Machine, Outcome, millis};

/// One model server of [`run_each`], and whether it answers.
#[derive(Debug, Default)]
pub struct Server {
    /// The server's data and clock.
    pub model: Model,
    /// A server that is down (or cut off) runs nothing and answers nothing: its commands are
    /// [`Answer::Unanswered`] once the action's timeout has passed.
    pub down: bool,
}

/// Runs `machine` to completion over `servers`, as client `options.client` of each, with
/// `options.latency_ms` each way. The servers' clocks move together (they start where the
/// first one reads); the machine sees the first one's. A blocking command is refused: no
/// multi-server algorithm sends one.
pub fn run_each(servers: &mut [Server], machine: &mut dyn Machine, options: RunOptions) -> Outcome {
    let me = options.client;
    let start = servers.first().map_or(0, |s| s.model.now());
    let mut now = start;
    for s in servers.iter_mut() {
        s.model.set_clock(start);
    }
    let mut event = Event::Start;
    for _ in 0..options.max_steps {
        let action = machine.handle(Duration::from_millis(now), event);
        event = match action {
            Action::Done(outcome) => return outcome,
            Action::SendEach { commands, timeout } => {
                if commands.len() != servers.len() {
                    return Outcome::Failed(Failure::Other(format!(
                        "SendEach addressed {} servers; this run has {}",
                        commands.len(),
                        servers.len()
                    )));
                }
                let arrive = now + options.latency_ms;
                let mut answers = Vec::with_capacity(servers.len());
                let mut silent = false;
                for (server, command) in servers.iter_mut().zip(commands) {
                    server.model.advance_to(arrive);
                    answers.push(match command {
                        None => Answer::Unsent,
                        Some(_) if server.down => {
                            silent = true;
                            Answer::Unanswered(format!("no answer within {timeout:?}"))
                        }
                        Some(command) => match server.model.exec(me, &command) {
                            Step::Reply(reply) => Answer::Reply(reply),
                            Step::Blocked => {
                                server.model.disconnect(me);
                                return Outcome::Failed(Failure::Other(
                                    "a blocking command sent to several servers".into(),
                                ));
                            }
                        },
                    });
                }
                // The answers are in after a round trip, or after the timeout if one is silent.
                let waited = if silent { now + millis(timeout) } else { 0 };
                now = (arrive + options.latency_ms).max(waited);
                Event::Answers(answers)
            }
            Action::Sleep(d) => {
                now += millis(d);
                Event::Slept
            }
            Action::ReadClock => Event::Clock(now.saturating_add_signed(options.clock_offset_ms)),
            Action::Send(_) | Action::Wait { .. } => {
                return Outcome::Failed(Failure::Other(format!(
                    "{action:?} names no server; a run over several servers takes SendEach"
                )));
            }
        };
        for s in servers.iter_mut() {
            s.model.advance_to(now);
        }
    }
    Outcome::Failed(Failure::Other(format!(
        "the machine did not finish within {} actions",
        options.max_steps
    )))
}
