//! Test helpers for the quorum specimens: model servers that each go their own way (replies
//! late, replies lost, down), and a driver that runs a machine's [`Action::SendEach`] over
//! them in logical time. `redmutex::sim::run_each` runs machines over servers that are up or
//! down; these servers can also be slow or lose a reply after running the command, which is
//! where the specimens' mistakes show.

use std::time::Duration;

use redmutex::algo::redlock::RedlockAlgorithm;
use redmutex::algo::{AcquireParams, Backoff, ReleaseParams, default_drift};
use redmutex::proto::{Action, Answer, Bytes, Event, Grant, Keys, Machine, Outcome, Token, millis};
use redmutex::sim::{ClientId, Model, Step};

/// Wall-clock milliseconds the servers start at.
pub const T0: u64 = 1_700_000_000_000;

/// Each way, every command.
pub const LATENCY_MS: u64 = 1;

/// One model server and how it treats the commands it gets.
#[derive(Debug, Default)]
pub struct Node {
    /// Its data and clock.
    pub model: Model,
    /// How much later than it should each reply arrives (the command runs on time).
    pub reply_delay_ms: u64,
    /// How many of the next replies are lost after their command ran (the connection reset).
    pub lose_replies: u32,
    /// Runs nothing, answers nothing.
    pub down: bool,
}

/// Servers sharing one clock.
pub struct Cluster {
    /// The servers, in the machines' order.
    pub nodes: Vec<Node>,
    now: u64,
}

impl Cluster {
    /// `n` healthy servers at [`T0`].
    pub fn new(n: usize) -> Cluster {
        let nodes = (0..n).map(|_| Node { model: Model::starting_at(T0), ..Node::default() });
        Cluster { nodes: nodes.collect(), now: T0 }
    }

    /// Now, in the servers' (and the machines') milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Moves every server's clock to `t`.
    pub fn advance_to(&mut self, t: u64) {
        self.now = self.now.max(t);
        for node in &mut self.nodes {
            node.model.advance_to(self.now);
        }
    }

    /// Runs `machine` to completion as client `client`.
    pub fn run(&mut self, machine: &mut dyn Machine, client: u64) -> Outcome {
        let mut event = Event::Start;
        for _ in 0..10_000 {
            let action = machine.handle(Duration::from_millis(self.now), event);
            event = match action {
                Action::Done(outcome) => return outcome,
                Action::SendEach { commands, timeout } => self.send_each(client, commands, timeout),
                Action::Sleep(d) => {
                    self.advance_to(self.now + millis(d));
                    Event::Slept
                }
                Action::ReadClock => Event::Clock(self.now),
                other => panic!("a quorum machine asked for {other:?}"),
            };
        }
        panic!("the machine did not finish");
    }

    fn send_each(
        &mut self,
        client: u64,
        commands: Vec<Option<redmutex::proto::Command>>,
        timeout: Duration,
    ) -> Event {
        assert_eq!(commands.len(), self.nodes.len(), "one command slot per server");
        let (sent, deadline) = (self.now, self.now + millis(timeout));
        let arrive = sent + LATENCY_MS;
        self.advance_to(arrive);
        let mut done = arrive;
        let mut answers = Vec::new();
        for (node, command) in self.nodes.iter_mut().zip(commands) {
            let Some(command) = command else {
                answers.push(Answer::Unsent);
                continue;
            };
            if node.down {
                done = done.max(deadline);
                answers.push(Answer::Unanswered("down".into()));
                continue;
            }
            let reply = match node.model.exec(ClientId(client), &command) {
                Step::Reply(reply) => reply,
                Step::Blocked => panic!("a blocking command over several servers"),
            };
            let back = arrive + node.reply_delay_ms + LATENCY_MS;
            if node.lose_replies > 0 {
                // The connection reset: the client knows at once that no reply will come.
                node.lose_replies -= 1;
                done = done.max(back.min(deadline));
                answers.push(Answer::Unanswered("reply lost".into()));
            } else if back > deadline {
                done = done.max(deadline);
                answers.push(Answer::Unanswered(format!("no answer within {timeout:?}")));
            } else {
                done = done.max(back);
                answers.push(Answer::Reply(reply));
            }
        }
        self.advance_to(done);
        Event::Answers(answers)
    }

    /// Which servers hold `key`, in order.
    pub fn holding(&self, key: &[u8]) -> Vec<bool> {
        self.nodes.iter().map(|n| n.model.exists(key)).collect()
    }

    /// How many servers hold `key` with `token`.
    pub fn held_by(&self, key: &[u8], token: &[u8]) -> usize {
        self.nodes.iter().filter(|n| n.model.string(key) == Some(token)).count()
    }
}

/// The redlock every quorum specimen test compares with: three servers, 50 ms each.
pub fn redlock() -> RedlockAlgorithm {
    RedlockAlgorithm { servers: 3, server_timeout: Duration::from_millis(50) }
}

/// The keys of every test lock.
pub fn keys() -> Keys {
    Keys::new("t:", "quorum")
}

/// Acquire params for client `who` (its token is `who`) with ttl `ttl_ms`, the harness's
/// default drift allowance, and the given wait.
pub fn acquire(who: u128, ttl_ms: u64, wait_ms: Option<u64>) -> AcquireParams {
    let ttl = Duration::from_millis(ttl_ms);
    AcquireParams {
        keys: keys(),
        token: Token::from_u128(who),
        ttl,
        wait: wait_ms.map(Duration::from_millis),
        drift: default_drift(ttl),
        seed: 7,
        backoff: Backoff::default(),
    }
}

/// Release params for `grant`.
pub fn release(grant: Grant, ttl_ms: u64) -> ReleaseParams {
    ReleaseParams {
        keys: keys(),
        grant,
        ttl: Duration::from_millis(ttl_ms),
        fresh_token: Token::from_u128(99),
    }
}

/// Client `who`'s token as stored.
pub fn token(who: u128) -> Bytes {
    Token::from_u128(who).to_bytes()
}

/// The grant inside an `Acquired`.
pub fn granted(outcome: Outcome) -> Grant {
    match outcome {
        Outcome::Acquired(grant) => grant,
        other => panic!("expected the lock, got {other:?}"),
    }
}

/// Milliseconds as a driver time.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
