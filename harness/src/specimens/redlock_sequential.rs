//! `redlock-sequential`: redlock that asks its servers one after another and counts its lease
//! from the last request.
//!
//! **The mistake.** The Redlock page describes the acquire as a loop over the servers, each
//! request with a small timeout, the elapsed time measured from before the first request. Many
//! ports wrote that loop; this one measures from the wrong end: its lease counts from when it
//! sent its *last* request, so the time the earlier servers took is not off the validity. The
//! keys on the first servers were set a whole loop earlier and expire that much sooner. With
//! slow answers a round can outlast the ttl: the client wins, believes it has nearly a full
//! lease, and the first servers of its majority have already let the key go. Another client
//! takes them while the first works: two holders. Asking one server at a time is itself slow
//! (N round trips, and a slow server delays the others), but that alone is safe; counting from
//! the last request is what breaks it. Releases go one server after another too, each awaited
//! the server timeout; extend is `redlock`'s (the harness does not extend).
//!
//! **Faithful to.** The sequential loop is what the early ports did: the Go port linked from
//! the first Redlock page (`hjr265/redsync.go`, 2014), redlock-rb, redlock-py, redlock-php and
//! redlock-rs all ask the servers in turn. Those measure from before the loop; Redisson's
//! `RedissonRedLock` asks in turn and subtracts no elapsed time at all (it answers true once a
//! majority holds the lock and sets the lease on each server again at the end). A lease counted
//! from the last request is the elapsed time measured around the last request only, the way a
//! timer placed inside the loop instead of before it measures; I know of no published library
//! that ships exactly this, so it stands for the class: the elapsed time not taken off.
//!
//! **Where the harness sees it.** `redlock-slow-replies`: two of three servers answer worker
//! 0's acquire commands 550 ms late (ttl 1 s, server timeout 800 ms). Its round takes 1.1 s; it
//! counts its lease from the last request, 550 ms in, and holds a lock that only the last
//! server still has, while the other workers' quick rounds take the first two:
//! `mutual-exclusion` reports the lock handed out twice (and `lost-updates` a lost write).
//! `redlock` asks all three at once: its round takes 550 ms and its 438 ms of validity cover
//! the 300 ms hold.

use std::time::Duration;

use redmutex::algo::redlock::{
    self, RedlockAlgorithm, Tally, after_lost_round, one_or_zero, quorum, release_command,
    set_granted,
};
use redmutex::algo::{
    AcquireParams, ExtendParams, Protocol, ReleaseParams, Rng, grant, lease_end, set_nx, unexpected,
};
use redmutex::proto::{
    Action, Answer, Command, Event, Expiry, Failure, Machine, Outcome, Reply, millis,
};

use super::{CheckerKind, KnownBug};

/// The specimen's name.
pub const NAME: &str = "redlock-sequential";

/// One line for `contend list`.
pub const SUMMARY: &str = "redlock asking its servers one after another and counting the lease from the last request: slow answers leave it holding a lock the first servers already let go";

/// The known bug.
pub const BUGS: &[KnownBug] = &[KnownBug {
    id: "lease-from-the-last-request",
    what: "a round slowed by late answers ends after the first servers' keys expired, yet the client counts a full lease from its last request and works while another client holds a majority",
    checker: CheckerKind::MutualExclusion,
    scenario: "redlock-slow-replies",
    fault: "servers 1 and 2 of 3 answer worker 0's acquire commands 550 ms late (ttl 1000 ms)",
    safety: true,
}];

/// The protocol: over the given servers, each asked in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedlockSequential(pub RedlockAlgorithm);

/// Over three servers, each awaited the harness's default server timeout.
pub static DOCUMENT: RedlockSequential = RedlockSequential(super::THREE);

impl Protocol for RedlockSequential {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        let set = set_nx(&p.keys.lock, p.token, Expiry::Px(millis(p.ttl)));
        let rng = Rng::new(p.seed);
        Box::new(Acquire {
            r: self.0,
            turn: InTurn::new(self.0, set),
            releasing: false,
            sleeping: false,
            deadline: None,
            attempts: 0,
            rng,
            last: Tally::default(),
            p,
        })
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        let command = release_command(&p.keys.lock, p.grant.token);
        Box::new(Release { turn: InTurn::new(self.0, command) })
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Some(Box::new(redlock::extend(self.0, &p)))
    }

    fn servers(&self) -> usize {
        self.0.servers
    }
}

/// One command to each server in turn, each answer awaited at most the server timeout.
struct InTurn {
    servers: usize,
    timeout: Duration,
    command: Command,
    next: usize,
    answers: Vec<Answer>,
    /// When the request to the server asked last was sent.
    last_sent: Duration,
}

impl InTurn {
    fn new(r: RedlockAlgorithm, command: Command) -> InTurn {
        InTurn {
            servers: r.servers,
            timeout: r.server_timeout,
            command,
            next: 0,
            answers: Vec::new(),
            last_sent: Duration::ZERO,
        }
    }

    /// The request to the next server.
    fn send(&mut self, now: Duration) -> Action {
        self.last_sent = now;
        let mut commands = vec![None; self.servers];
        commands[self.next] = Some(self.command.clone());
        Action::SendEach { commands, timeout: self.timeout }
    }

    /// Takes the answer of the server asked last: the request to the next one, or `None` once
    /// every server has answered.
    fn answered(&mut self, now: Duration, answers: &[Answer]) -> Result<Option<Action>, Outcome> {
        let Some(answer) = answers.get(self.next).filter(|_| answers.len() == self.servers) else {
            return Err(Outcome::Failed(Failure::Other(format!(
                "the driver answered for {} servers; this redlock runs over {}",
                answers.len(),
                self.servers
            ))));
        };
        self.answers.push(answer.clone());
        self.next += 1;
        Ok((self.next < self.servers).then(|| self.send(now)))
    }

    fn tally(&self, yes: fn(&Reply) -> Option<bool>) -> Tally {
        let mut tally = Tally { servers: self.servers, ..Tally::default() };
        for answer in &self.answers {
            tally.add(answer, yes);
        }
        tally
    }
}

struct Acquire {
    r: RedlockAlgorithm,
    p: AcquireParams,
    turn: InTurn,
    releasing: bool,
    sleeping: bool,
    deadline: Option<Duration>,
    attempts: u32,
    rng: Rng,
    last: Tally,
}

impl Acquire {
    fn ask(&mut self, now: Duration) -> Action {
        let set = set_nx(&self.p.keys.lock, self.p.token, Expiry::Px(millis(self.p.ttl)));
        self.turn = InTurn::new(self.r, set);
        self.releasing = false;
        self.turn.send(now)
    }

    /// Every server asked: won with a majority inside the lease counted from the last request.
    fn decide(&mut self, now: Duration) -> Action {
        let tally = self.turn.tally(set_granted);
        let from = self.turn.last_sent;
        let won =
            tally.yes >= quorum(self.r.servers) && now < lease_end(from, self.p.ttl, self.p.drift);
        self.last = tally;
        if won {
            let grant = grant(self.p.token.to_bytes(), from, self.p.ttl, self.p.drift);
            return Action::Done(Outcome::Acquired(grant));
        }
        self.turn =
            InTurn::new(self.r, release_command(&self.p.keys.lock, self.p.token.to_bytes()));
        self.releasing = true;
        self.turn.send(now)
    }

    /// As `redlock`'s: give up at the deadline (no quorum if too few answered), else sleep.
    fn after_release(&mut self, now: Duration) -> Action {
        let (backoff, attempts, rng) = (&self.p.backoff, &mut self.attempts, &mut self.rng);
        let action = after_lost_round(self.deadline, now, &self.last, || {
            let delay = backoff.delay(*attempts, rng);
            *attempts += 1;
            delay
        });
        self.sleeping = matches!(action, Action::Sleep(_));
        action
    }
}

impl Machine for Acquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match event {
            Event::Start if self.attempts == 0 && self.turn.next == 0 => {
                self.deadline = self.p.wait.map(|w| now + w);
                self.ask(now)
            }
            Event::Slept if self.sleeping => {
                self.sleeping = false;
                self.ask(now)
            }
            Event::Answers(answers) if !self.sleeping => match self.turn.answered(now, &answers) {
                Err(failed) => Action::Done(failed),
                Ok(Some(next)) => next,
                Ok(None) if self.releasing => self.after_release(now),
                Ok(None) => self.decide(now),
            },
            other => Action::Done(unexpected(&other)),
        }
    }
}

struct Release {
    turn: InTurn,
}

impl Machine for Release {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match event {
            Event::Start if self.turn.next == 0 => self.turn.send(now),
            Event::Answers(answers) => match self.turn.answered(now, &answers) {
                Err(failed) => Action::Done(failed),
                Ok(Some(next)) => next,
                Ok(None) => {
                    let tally = self.turn.tally(one_or_zero);
                    let needed = quorum(tally.servers);
                    Action::Done(if tally.answered() < needed {
                        Outcome::Failed(tally.no_quorum("release"))
                    } else {
                        Outcome::Released { owned: tally.yes >= needed, handed: None }
                    })
                }
            },
            other => Action::Done(unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specimens::quorum_testkit::{
        Cluster, T0, acquire, granted, keys, ms, redlock, release, token,
    };

    const TTL: u64 = 1_000;
    const LATE: u64 = 550;

    fn sequential() -> RedlockSequential {
        RedlockSequential(RedlockAlgorithm { servers: 3, server_timeout: ms(800) })
    }

    fn parallel() -> RedlockAlgorithm {
        RedlockAlgorithm { server_timeout: ms(800), ..redlock() }
    }

    /// Which server each `SendEach` addresses.
    fn addressed(action: &Action) -> Vec<bool> {
        let Action::SendEach { commands, .. } = action else { panic!("{action:?}") };
        commands.iter().map(Option::is_some).collect()
    }

    fn ok() -> Answer {
        Answer::Reply(Reply::Status("OK".into()))
    }

    #[test]
    fn it_asks_one_server_at_a_time_and_counts_its_lease_from_the_last_request() {
        let mut m = sequential().acquire(acquire(1, TTL, None));
        let first = m.handle(ms(0), Event::Start);
        assert_eq!(addressed(&first), [true, false, false]);
        let second = m.handle(ms(10), Event::Answers(vec![ok(), Answer::Unsent, Answer::Unsent]));
        assert_eq!(addressed(&second), [false, true, false]);
        let third = m.handle(ms(400), Event::Answers(vec![Answer::Unsent, ok(), Answer::Unsent]));
        assert_eq!(addressed(&third), [false, false, true]);
        let done = m.handle(ms(410), Event::Answers(vec![Answer::Unsent, Answer::Unsent, ok()]));
        let Action::Done(Outcome::Acquired(g)) = done else { panic!("{done:?}") };
        // The 400 ms before the last request are not off the lease.
        assert_eq!((g.acquired_at, g.valid_until), (ms(400), ms(400 + TTL - 12)));
    }

    #[test]
    fn slow_answers_leave_it_holding_a_lock_only_a_minority_still_has() {
        let mut c = Cluster::new(3);
        c.nodes[1].reply_delay_ms = LATE;
        c.nodes[2].reply_delay_ms = LATE;
        let first = granted(c.run(sequential().acquire(acquire(1, TTL, None)).as_mut(), 1));
        let now = c.now();
        assert!(now - T0 > TTL, "the round took {} ms", now - T0);
        assert!(ms(now) < first.valid_until, "it counts itself the holder");
        let lock = keys().lock;
        assert_eq!(c.holding(&lock), [false, false, true], "servers 0 and 1 let the key go");
        // The slowness passes; client 2 takes servers 0 and 1 inside client 1's validity.
        c.nodes[1].reply_delay_ms = 0;
        c.nodes[2].reply_delay_ms = 0;
        let second = granted(c.run(sequential().acquire(acquire(2, TTL, None)).as_mut(), 2));
        assert!(second.acquired_at < first.valid_until, "two holders: {first:?} / {second:?}");
        assert_eq!(c.held_by(&lock, &token(2)), 2);
    }

    #[test]
    fn redlock_under_the_same_slow_answers_counts_them_off_and_excludes() {
        let mut c = Cluster::new(3);
        c.nodes[1].reply_delay_ms = LATE;
        c.nodes[2].reply_delay_ms = LATE;
        let first = granted(c.run(parallel().acquire(acquire(1, TTL, None)).as_mut(), 1));
        assert_eq!(c.held_by(&keys().lock, &token(1)), 3, "every key alive at the grant");
        assert_eq!(first.acquired_at, ms(T0));
        c.nodes[1].reply_delay_ms = 0;
        c.nodes[2].reply_delay_ms = 0;
        assert_eq!(c.run(parallel().acquire(acquire(2, TTL, None)).as_mut(), 2), Outcome::Busy);
        // Only once the keys expired, after its validity ended, does anyone else get in.
        c.advance_to(T0 + TTL + 2);
        let second = granted(c.run(parallel().acquire(acquire(2, TTL, None)).as_mut(), 2));
        assert!(first.valid_until <= second.acquired_at);
    }

    #[test]
    fn a_lost_round_is_released_server_by_server_and_its_release_needs_a_majority() {
        let mut c = Cluster::new(3);
        let held = granted(c.run(sequential().acquire(acquire(1, TTL, None)).as_mut(), 1));
        // Client 2 finds it held on every server and cleans up after itself, one by one.
        assert_eq!(c.run(sequential().acquire(acquire(2, TTL, None)).as_mut(), 2), Outcome::Busy);
        assert_eq!(c.held_by(&keys().lock, &token(1)), 3);
        let released = c.run(sequential().release(release(held.clone(), TTL)).as_mut(), 1);
        assert_eq!(released, Outcome::Released { owned: true, handed: None });
        assert_eq!(c.holding(&keys().lock), [false; 3]);
        // Two servers down: a release cannot tell.
        c.nodes[0].down = true;
        c.nodes[2].down = true;
        let outcome = c.run(sequential().release(release(held, TTL)).as_mut(), 1);
        let Outcome::Failed(Failure::NoQuorum { op: "release", answered: 1, .. }) = outcome else {
            panic!("{outcome:?}")
        };
    }
}
