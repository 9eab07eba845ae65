//! Running one machine to completion against the model, in logical time.

use std::time::Duration;

use super::{ClientId, Model, Step};
use crate::proto::{Action, Event, Failure, Machine, Outcome, millis};

/// Settings of [`run_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// The client the machine's commands come from.
    pub client: ClientId,
    /// Milliseconds each command takes on the way to the server, and again on the way back.
    pub latency_ms: u64,
    /// Milliseconds added to the model clock when the machine reads the wall clock (skew).
    pub clock_offset_ms: i64,
    /// Actions after which the run gives up with [`Outcome::Failed`].
    pub max_steps: usize,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions { client: ClientId(0), latency_ms: 0, clock_offset_ms: 0, max_steps: 100_000 }
    }
}

/// Runs `machine` to completion against `model` as client 0, with no latency: sleeps and
/// timeouts move the model's clock. Other clients' state (blocked clients, messages) is left
/// in the model for its driver.
pub fn run(model: &mut Model, machine: &mut dyn Machine) -> Outcome {
    run_with(model, machine, RunOptions::default())
}

/// [`run`] with settings. The machine sees time as `Duration::from_millis(model.now())`; a sleep
/// or wait shorter than a millisecond still moves the clock by one, so a loop always advances.
pub fn run_with(model: &mut Model, machine: &mut dyn Machine, options: RunOptions) -> Outcome {
    let me = options.client;
    let mut event = Event::Start;
    let mut subscribed: Option<Vec<u8>> = None;
    for _ in 0..options.max_steps {
        let action = machine.handle(Duration::from_millis(model.now()), event);
        event = match action {
            Action::Done(outcome) => {
                if let Some(channel) = subscribed {
                    model.unsubscribe(me, &channel);
                }
                return outcome;
            }
            Action::Send(command) => {
                model.advance(options.latency_ms);
                let reply = match model.exec(me, &command) {
                    Step::Reply(reply) => reply,
                    Step::Blocked => wait_until_served(model, me),
                };
                model.advance(options.latency_ms);
                Event::Reply(reply)
            }
            Action::SendEach { .. } => return Outcome::Failed(Failure::single_server()),
            Action::Sleep(d) => {
                model.advance(millis(d));
                Event::Slept
            }
            Action::ReadClock => {
                Event::Clock(model.now().saturating_add_signed(options.clock_offset_ms))
            }
            Action::Wait { channel, timeout } => {
                if subscribed.as_ref() != Some(&channel) {
                    if let Some(old) = subscribed.take() {
                        model.unsubscribe(me, &old);
                    }
                    model.subscribe(me, &channel);
                    subscribed = Some(channel);
                }
                // Alone, nobody else publishes: a message can only be one this client sent.
                match model.take_delivery_for(me) {
                    Some(d) => Event::Notified(d.message),
                    None => {
                        model.advance(millis(timeout));
                        Event::TimedOut
                    }
                }
            }
        };
    }
    Outcome::Failed(Failure::Other(format!(
        "the machine did not finish within {} actions",
        options.max_steps
    )))
}

/// Alone, a blocked client is served only by its timeout: move the clock past it.
fn wait_until_served(model: &mut Model, me: super::ClientId) -> crate::proto::Reply {
    loop {
        if let Some(reply) = model.take_unblocked_for(me) {
            return reply;
        }
        match model.next_timeout() {
            Some(deadline) => model.advance_to(deadline.saturating_add(1)),
            // Cancelled from outside (a restart): the connection is gone.
            None => return crate::proto::Reply::Error("ERR connection lost".into()),
        }
    }
}
