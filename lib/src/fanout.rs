//! The multi-server driver: runs [`Machine`]s over several independent servers at once.
//!
//! Internal: hidden from the docs, for the `contend` harness; not covered by semver. The public
//! face is [`crate::Redlock`].
//!
//! It runs the actions of algorithms over several servers ([`Action::SendEach`], sleeps, clock
//! reads); an action addressed to one server ([`Action::Send`], [`Action::Wait`]) ends the
//! operation with a failure saying so, as the single-server drivers refuse `SendEach`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::driver::{Connection, Hooks, Timeouts, redacted_url, wall_ms};
use crate::error::Result;
use crate::proto::{Action, Answer, Command, Event, Failure, Machine, Outcome};

/// Connections to several independent servers, one clock for all; cheap to clone.
#[derive(Clone, Debug)]
pub struct Servers {
    conns: Arc<[Connection]>,
    origin: Instant,
}

impl Servers {
    /// Over these connections, in this order (server `i` of an [`Action::SendEach`] is
    /// `conns[i]`).
    #[must_use]
    pub fn new(conns: Vec<Connection>) -> Servers {
        Servers { conns: conns.into(), origin: Instant::now() }
    }

    /// Connects to every URL at once; fails with the first server that cannot be reached.
    pub async fn open(urls: &[String], timeouts: Timeouts) -> Result<Servers> {
        let opened = join_all(urls.iter().map(|url| Connection::open(url, timeouts))).await;
        Ok(Servers::new(opened.into_iter().collect::<Result<Vec<_>>>()?))
    }

    /// The connections, in server order.
    #[must_use]
    pub fn connections(&self) -> &[Connection] {
        &self.conns
    }

    /// How many servers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// The instant machine time counts from: machine time `t` is `origin() + t`.
    #[must_use]
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// Machine time now.
    #[must_use]
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// How many commands all the servers' connections sent.
    #[must_use]
    pub fn commands_sent(&self) -> u64 {
        self.conns.iter().map(Connection::commands_sent).sum()
    }

    /// Runs a machine to completion. A server that fails or stays silent is an
    /// [`Answer::Unanswered`] for the machine to weigh, never an error of the run.
    pub async fn run(&self, machine: &mut dyn Machine, hooks: &mut dyn Hooks) -> Result<Outcome> {
        let mut event = Event::Start;
        let mut step = 0;
        loop {
            let action = machine.handle(self.now(), event);
            let pause = hooks.before(step, &action);
            step += 1;
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
            event = match action {
                Action::Done(outcome) => return Ok(outcome),
                Action::SendEach { commands, timeout } => {
                    if commands.len() != self.conns.len() {
                        return Ok(Outcome::Failed(Failure::Other(format!(
                            "SendEach addressed {} servers; this driver runs {}",
                            commands.len(),
                            self.conns.len()
                        ))));
                    }
                    Event::Answers(self.send_each(commands, timeout).await)
                }
                Action::Sleep(d) => {
                    tokio::time::sleep(d).await;
                    Event::Slept
                }
                Action::ReadClock => Event::Clock(wall_ms(hooks.clock_offset_ms())),
                Action::Send(_) | Action::Wait { .. } => {
                    return Ok(Outcome::Failed(Failure::Other(format!(
                        "this driver runs several servers and cannot tell which one to use for \
                         {action:?}; run single-server algorithms on a Connection"
                    ))));
                }
            };
        }
    }

    /// Sends each command to its server at once and awaits every answer at most `timeout`.
    async fn send_each(&self, commands: Vec<Option<Command>>, timeout: Duration) -> Vec<Answer> {
        let asks =
            commands.into_iter().zip(self.conns.iter()).enumerate().map(|(i, (command, conn))| {
                let conn = conn.clone();
                async move {
                    let Some(command) = command else { return Answer::Unsent };
                    let server = format!("server {i} ({})", redacted_url(conn.url()));
                    // A task of its own: the command goes out, and its reply is read, even once
                    // nobody awaits it (a timeout, a dropped operation), so that what a later
                    // command on the same connection does comes after it.
                    let task = tokio::spawn(async move { conn.exec(&command).await });
                    match tokio::time::timeout(timeout, task).await {
                        Ok(Ok(Ok(reply))) => Answer::Reply(reply),
                        Ok(Ok(Err(e))) => Answer::Unanswered(format!("{server}: {e}")),
                        Ok(Err(e)) => Answer::Unanswered(format!("{server}: the task failed: {e}")),
                        Err(_) => {
                            Answer::Unanswered(format!("{server}: no answer within {timeout:?}"))
                        }
                    }
                }
            });
        join_all(asks).await
    }
}
