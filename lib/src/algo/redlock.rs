//! `redlock`: one lock over N independent servers, held while a majority of them hold our token.
//!
//! Every operation sends one command to every server at once ([`Action::SendEach`]) and waits
//! for each answer at most the per-server timeout; only a driver of several servers runs these
//! machines (`crate::Redlock`'s). An acquisition wins when a majority granted it *and* the lease
//! still runs by our clock when the answers are in: the lease counts from when the commands were
//! sent, so the time the servers took to answer is off the validity. A lost round is released
//! on every server, answered or not, before the random delay of the next try.

use std::time::Duration;

use super::{AcquireParams, ExtendParams, Protocol, ReleaseParams, Rng, grant, lease_end, set_nx};
use crate::lock::RETRY_DELAYS;
use crate::proto::{
    Action, Answer, Command, Event, Expiry, Failure, Machine, Outcome, Reply, millis, num,
};
use crate::scripts;

/// The `redlock` algorithm over `servers` independent servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedlockAlgorithm {
    /// How many servers the driver runs (3 or 5, usually).
    pub servers: usize,
    /// How long each server's answer is awaited, per command: small against the ttl, so that a
    /// dead server costs little of the lease.
    pub server_timeout: Duration,
}

/// How many of `servers` make a majority.
#[must_use]
pub fn quorum(servers: usize) -> usize {
    servers / 2 + 1
}

/// The clock-drift allowance taken off every lease: `ttl × factor + 2 ms`, the 2 ms for the
/// granularity of the servers' expiry. `factor` is clamped to `0..=1`.
#[must_use]
pub fn drift(ttl: Duration, factor: f64) -> Duration {
    let factor = if factor.is_finite() { factor.clamp(0.0, 1.0) } else { 1.0 };
    ttl.mul_f64(factor) + Duration::from_millis(2)
}

impl Protocol for RedlockAlgorithm {
    fn name(&self) -> &'static str {
        "redlock"
    }

    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine> {
        Box::new(RedlockAcquire::new(*self, params))
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Box::new(release(*self, &p.keys.lock, p.grant.token))
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Some(Box::new(extend(*self, &p)))
    }

    fn servers(&self) -> usize {
        self.servers
    }
}

/// The owner-checked release on every server; what [`RedlockAcquire`] sends after a lost round
/// and what a dropped acquire's clean-up runs. It ends with [`Outcome::Released`] (`owned` when
/// a majority still held our token), or [`Failure::NoQuorum`] when fewer than a majority
/// answered on every attempt.
#[must_use]
pub fn release(r: RedlockAlgorithm, key: &[u8], token: Vec<u8>) -> Fan {
    let command = release_command(key, token);
    Fan::new("release", r, command, |_, tally, _| Outcome::Released {
        owned: tally.yes >= quorum(tally.servers),
        handed: None,
    })
}

/// The owner-checked extend on every server, by quorum: a new lease counted from the first send
/// when a majority still held our token and reset its expiry in time, `valid_until: None` when
/// a majority answered but too few of them were ours.
#[must_use]
pub fn extend(r: RedlockAlgorithm, p: &ExtendParams) -> Fan {
    let (ttl, drift) = (p.ttl, p.drift);
    let command = Command::Eval {
        script: &scripts::EXTEND,
        keys: vec![p.keys.lock.clone()],
        args: vec![p.grant.token.clone(), num(millis(ttl))],
    };
    Fan::new("extend", r, command, move |now, tally, first_sent| {
        let until = lease_end(first_sent, ttl, drift);
        let won = tally.yes >= quorum(tally.servers) && now < until;
        Outcome::Extended { valid_until: won.then_some(until) }
    })
}

/// What one round of answers amounted to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// How many servers there are.
    pub servers: usize,
    /// Servers that granted (`OK`, or a script's 1).
    pub yes: usize,
    /// Servers that answered no (busy, or not our token).
    pub no: usize,
    /// Why one of the others (silent, an error reply, an answer of another shape) did not
    /// count, if any did not.
    pub why: Option<String>,
}

impl Tally {
    /// How many servers gave an answer that counts.
    #[must_use]
    pub fn answered(&self) -> usize {
        self.yes + self.no
    }

    /// Counts `answer` into the tally; `yes` reads a reply as granted (`Some(true)`), refused
    /// (`Some(false)`) or not understood (`None`): [`set_granted`] for a `SET NX`,
    /// [`one_or_zero`] for the scripts. Answers `Some(granted)` when it counted.
    pub fn add(&mut self, answer: &Answer, yes: fn(&Reply) -> Option<bool>) -> Option<bool> {
        let counted = match answer {
            Answer::Reply(reply) => {
                let read = yes(reply);
                if read.is_none() {
                    self.why.get_or_insert_with(|| format!("answered {}", reply.describe()));
                }
                read
            }
            Answer::Unanswered(why) => {
                self.why.get_or_insert_with(|| why.clone());
                None
            }
            Answer::Unsent => None,
        };
        match counted {
            Some(true) => self.yes += 1,
            Some(false) => self.no += 1,
            None => {}
        }
        counted
    }

    /// The failure of `op` when fewer than a majority answered.
    #[must_use]
    pub fn no_quorum(&self, op: &'static str) -> Failure {
        Failure::NoQuorum {
            op,
            answered: self.answered(),
            needed: quorum(self.servers),
            servers: self.servers,
            why: self.why.clone().unwrap_or_else(|| "no reason given".into()),
        }
    }
}

/// Acquire: `SET NX PX` on every server at once; won with a majority inside the lease, else
/// released everywhere and tried again after a random delay until the wait runs out.
pub struct RedlockAcquire {
    r: RedlockAlgorithm,
    p: AcquireParams,
    state: AcquireState,
    deadline: Option<Duration>,
    attempts: u32,
    rng: Rng,
    last: Tally,
}

enum AcquireState {
    Idle,
    Asking { sent_at: Duration },
    Releasing,
    Sleeping,
}

impl RedlockAcquire {
    /// The acquire machine of `r` for `p`.
    #[must_use]
    pub fn new(r: RedlockAlgorithm, p: AcquireParams) -> RedlockAcquire {
        let rng = Rng::new(p.seed);
        RedlockAcquire {
            r,
            p,
            state: AcquireState::Idle,
            deadline: None,
            attempts: 0,
            rng,
            last: Tally::default(),
        }
    }

    /// What the last round's answers amounted to.
    #[must_use]
    pub fn last_round(&self) -> &Tally {
        &self.last
    }

    fn ask(&mut self, now: Duration) -> Action {
        self.state = AcquireState::Asking { sent_at: now };
        let set = set_nx(&self.p.keys.lock, self.p.token, Expiry::Px(millis(self.p.ttl)));
        self.each(Some(set))
    }

    fn each(&self, command: Option<Command>) -> Action {
        Action::SendEach { commands: vec![command; self.r.servers], timeout: self.r.server_timeout }
    }

    fn on_answers(&mut self, now: Duration, sent_at: Duration, answers: &[Answer]) -> Action {
        let mut tally = Tally { servers: self.r.servers, ..Tally::default() };
        for answer in answers {
            tally.add(answer, set_granted);
        }
        let valid_until = lease_end(sent_at, self.p.ttl, self.p.drift);
        let won = tally.yes >= quorum(self.r.servers) && now < valid_until;
        self.last = tally;
        if won {
            let grant = grant(self.p.token.to_bytes(), sent_at, self.p.ttl, self.p.drift);
            return Action::Done(Outcome::Acquired(grant));
        }
        // Every server, answered or not: a silent one may have set the key after all.
        self.state = AcquireState::Releasing;
        self.each(Some(release_command(&self.p.keys.lock, self.p.token.to_bytes())))
    }

    fn after_release(&mut self, now: Duration) -> Action {
        let (backoff, attempts, rng) = (&self.p.backoff, &mut self.attempts, &mut self.rng);
        let action = after_lost_round(self.deadline, now, &self.last, || {
            let delay = backoff.delay(*attempts, rng);
            *attempts += 1;
            delay
        });
        if matches!(action, Action::Sleep(_)) {
            self.state = AcquireState::Sleeping;
        }
        action
    }
}

impl Machine for RedlockAcquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match (&self.state, event) {
            (AcquireState::Idle, Event::Start) => {
                self.deadline = self.p.wait.map(|w| now + w);
                self.ask(now)
            }
            (AcquireState::Asking { sent_at }, Event::Answers(answers)) => {
                let sent_at = *sent_at;
                match check_count(&answers, self.r.servers) {
                    Some(failed) => Action::Done(failed),
                    None => self.on_answers(now, sent_at, &answers),
                }
            }
            (AcquireState::Releasing, Event::Answers(_)) => self.after_release(now),
            (AcquireState::Sleeping, Event::Slept) => self.ask(now),
            (_, other) => Action::Done(super::unexpected(&other)),
        }
    }
}

/// What an acquire does once a lost round is released everywhere: at its deadline (or at once
/// for a try) it gives up — [`Failure::NoQuorum`] when fewer than a majority answered the round
/// (`last`), else busy or timed out — otherwise it sleeps the `delay` drawn (at most until the
/// deadline) before the next round. Shared with the quorum specimens of the harness.
pub fn after_lost_round(
    deadline: Option<Duration>,
    now: Duration,
    last: &Tally,
    delay: impl FnOnce() -> Duration,
) -> Action {
    let gave_up = match deadline {
        None => Some(Outcome::Busy),
        Some(deadline) if now >= deadline => Some(Outcome::TimedOut),
        Some(_) => None,
    };
    if let Some(outcome) = gave_up {
        if last.answered() < quorum(last.servers) {
            return Action::Done(Outcome::Failed(last.no_quorum("acquire")));
        }
        return Action::Done(outcome);
    }
    let left = deadline.map_or(Duration::ZERO, |d| d - now);
    Action::Sleep(delay().min(left))
}

/// One command on every server, sent again to the silent ones (after 20 ms, then 200 ms) while
/// fewer than a majority answered; the release and extend of [`RedlockAlgorithm`].
pub struct Fan {
    op: &'static str,
    r: RedlockAlgorithm,
    command: Command,
    silent: Vec<bool>,
    tally: Tally,
    attempts: usize,
    first_sent: Option<Duration>,
    finish: Finish,
}

/// Maps the time, the tally of a majority's answers and the first send time to the outcome.
type Finish = Box<dyn Fn(Duration, &Tally, Duration) -> Outcome + Send>;

impl Fan {
    fn new(
        op: &'static str,
        r: RedlockAlgorithm,
        command: Command,
        finish: impl Fn(Duration, &Tally, Duration) -> Outcome + Send + 'static,
    ) -> Fan {
        Fan {
            op,
            r,
            command,
            silent: vec![true; r.servers],
            tally: Tally { servers: r.servers, ..Tally::default() },
            attempts: 0,
            first_sent: None,
            finish: Box::new(finish),
        }
    }

    fn send(&mut self, now: Duration) -> Action {
        self.first_sent.get_or_insert(now);
        self.attempts += 1;
        let commands = self.silent.iter().map(|&s| s.then(|| self.command.clone())).collect();
        Action::SendEach { commands, timeout: self.r.server_timeout }
    }

    fn on_answers(&mut self, now: Duration, answers: &[Answer]) -> Action {
        self.tally.why = None;
        for (silent, answer) in self.silent.iter_mut().zip(answers) {
            if *silent && self.tally.add(answer, one_or_zero).is_some() {
                *silent = false;
            }
        }
        if self.tally.answered() >= quorum(self.r.servers) {
            let first_sent = self.first_sent.unwrap_or(now);
            return Action::Done((self.finish)(now, &self.tally, first_sent));
        }
        match RETRY_DELAYS.get(self.attempts - 1) {
            Some(delay) => Action::Sleep(*delay),
            None => Action::Done(Outcome::Failed(self.tally.no_quorum(self.op))),
        }
    }
}

impl Machine for Fan {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match event {
            Event::Start if self.attempts == 0 => self.send(now),
            Event::Slept if self.attempts > 0 => self.send(now),
            Event::Answers(answers) if self.attempts > 0 => {
                match check_count(&answers, self.r.servers) {
                    Some(failed) => Action::Done(failed),
                    None => self.on_answers(now, &answers),
                }
            }
            other => Action::Done(super::unexpected(&other)),
        }
    }
}

/// The owner-checked release of `key` held with `token` on one server: what every release of
/// [`RedlockAlgorithm`] sends.
#[must_use]
pub fn release_command(key: &[u8], token: Vec<u8>) -> Command {
    Command::Eval { script: &scripts::RELEASE, keys: vec![key.to_vec()], args: vec![token] }
}

/// A `SET NX`'s reply: `OK` granted, nil refused (the key was held), anything else not
/// understood.
#[must_use]
pub fn set_granted(reply: &Reply) -> Option<bool> {
    match reply {
        r if r.is_ok() => Some(true),
        Reply::Nil => Some(false),
        _ => None,
    }
}

/// A script's 1 (ours) or 0 (not ours).
#[must_use]
pub fn one_or_zero(reply: &Reply) -> Option<bool> {
    match reply {
        Reply::Int(1) => Some(true),
        Reply::Int(0) => Some(false),
        _ => None,
    }
}

/// The failure when a driver answered for another number of servers than the machine's.
fn check_count(answers: &[Answer], servers: usize) -> Option<Outcome> {
    (answers.len() != servers).then(|| {
        Outcome::Failed(Failure::Other(format!(
            "the driver answered for {} servers; this redlock runs over {servers}",
            answers.len()
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::{Backoff, ReleaseParams};
    use crate::proto::{Grant, Keys, Token};
    use crate::sim::{ClientId, Model, RunOptions, Server, run_each};

    const TTL: Duration = Duration::from_secs(10);
    const TIMEOUT: Duration = Duration::from_millis(50);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn algo() -> RedlockAlgorithm {
        RedlockAlgorithm { servers: 3, server_timeout: TIMEOUT }
    }

    fn params(wait: Option<Duration>, token: u128) -> AcquireParams {
        AcquireParams {
            keys: Keys::new("t:", "r"),
            token: Token::from_u128(token),
            ttl: TTL,
            wait,
            drift: drift(TTL, 0.01),
            seed: 7,
            backoff: Backoff::default(),
        }
    }

    fn ok() -> Answer {
        Answer::Reply(Reply::Status("OK".into()))
    }

    fn int(n: i64) -> Answer {
        Answer::Reply(Reply::Int(n))
    }

    fn silent() -> Answer {
        Answer::Unanswered("no answer within 50ms".into())
    }

    /// The scripts an action sends to each server (`None` where it sends nothing).
    fn scripts_sent(action: &Action) -> Vec<Option<&'static str>> {
        let Action::SendEach { commands, timeout } = action else { panic!("{action:?}") };
        assert_eq!(*timeout, TIMEOUT);
        commands
            .iter()
            .map(|c| match c {
                Some(Command::Eval { script, .. }) => Some(script.name),
                Some(Command::Set { .. }) => Some("set"),
                Some(other) => panic!("{other:?}"),
                None => None,
            })
            .collect()
    }

    #[test]
    fn a_quorum_is_a_strict_majority() {
        let quorums: Vec<usize> = (1..=7).map(quorum).collect();
        assert_eq!(quorums, [1, 2, 2, 3, 3, 4, 4]);
    }

    #[test]
    fn the_drift_allowance_is_ttl_times_the_factor_plus_two_ms() {
        assert_eq!(drift(TTL, 0.01), ms(102));
        assert_eq!(drift(TTL, 0.0), ms(2));
        assert_eq!(drift(ms(1000), 0.05), ms(52));
        assert_eq!(drift(ms(1000), f64::NAN), ms(1002), "a nonsense factor takes all");
    }

    #[test]
    fn a_majority_wins_and_the_validity_shrinks_by_the_time_the_servers_took() {
        let mut m = RedlockAcquire::new(algo(), params(None, 1));
        let first = m.handle(ms(100), Event::Start);
        assert_eq!(scripts_sent(&first), [Some("set"); 3]);
        // The answers take 30 ms; one server is silent.
        let done = m.handle(ms(130), Event::Answers(vec![ok(), silent(), ok()]));
        let Action::Done(Outcome::Acquired(grant)) = done else { panic!("{done:?}") };
        assert_eq!(grant.acquired_at, ms(100));
        assert_eq!(grant.valid_until, ms(100) + TTL - ms(102));
        // What is left at the answer: ttl − elapsed − drift.
        assert_eq!(grant.valid_until - ms(130), TTL - ms(30) - ms(102));
    }

    #[test]
    fn a_majority_that_answers_after_the_lease_is_released_everywhere() {
        let mut m = RedlockAcquire::new(algo(), params(None, 1));
        let _ = m.handle(ms(0), Event::Start);
        let late = TTL - drift(TTL, 0.01);
        let next = m.handle(late, Event::Answers(vec![ok(), ok(), ok()]));
        assert_eq!(scripts_sent(&next), [Some("release"); 3]);
        let done = m.handle(late + ms(1), Event::Answers(vec![int(1), int(1), int(1)]));
        assert_eq!(done, Action::Done(Outcome::Busy));
    }

    #[test]
    fn a_lost_round_releases_every_server_then_retries_after_a_random_delay() {
        let mut m = RedlockAcquire::new(algo(), params(Some(ms(1000)), 1));
        let _ = m.handle(ms(0), Event::Start);
        // One grant, one busy, one silent: the silent one may have set the key after all.
        let next = m.handle(ms(5), Event::Answers(vec![ok(), Answer::Reply(Reply::Nil), silent()]));
        assert_eq!(scripts_sent(&next), [Some("release"); 3]);
        assert_eq!(m.last_round().yes, 1);
        let sleep = m.handle(ms(6), Event::Answers(vec![int(1), int(0), silent()]));
        let Action::Sleep(d) = sleep else { panic!("{sleep:?}") };
        let first = Backoff::default().initial;
        assert!(d >= first / 2 && d <= first, "{d:?}");
        assert_eq!(scripts_sent(&m.handle(ms(7), Event::Slept)), [Some("set"); 3]);
        // The wait runs out: timed out, since a majority answered.
        let _ = m.handle(ms(1000), Event::Answers(vec![Answer::Reply(Reply::Nil); 3]));
        let done = m.handle(ms(1001), Event::Answers(vec![int(0); 3]));
        assert_eq!(done, Action::Done(Outcome::TimedOut));
    }

    #[test]
    fn too_few_answers_is_no_quorum_not_busy() {
        let mut m = RedlockAcquire::new(algo(), params(None, 1));
        let _ = m.handle(ms(0), Event::Start);
        let _ = m.handle(ms(50), Event::Answers(vec![silent(), ok(), silent()]));
        let done = m.handle(ms(100), Event::Answers(vec![silent(), int(1), silent()]));
        let Action::Done(Outcome::Failed(Failure::NoQuorum { op, answered, needed, servers, why })) =
            done
        else {
            panic!("{done:?}")
        };
        assert_eq!((op, answered, needed, servers), ("acquire", 1, 2, 3));
        assert!(why.contains("no answer"), "{why}");
    }

    #[test]
    fn an_error_reply_counts_as_no_answer() {
        let mut m = RedlockAcquire::new(algo(), params(None, 1));
        let _ = m.handle(ms(0), Event::Start);
        let readonly = Answer::Reply(Reply::Error("READONLY replica".into()));
        let _ = m.handle(ms(1), Event::Answers(vec![ok(), readonly.clone(), readonly]));
        let done = m.handle(ms(2), Event::Answers(vec![int(1), int(0), int(0)]));
        let Action::Done(Outcome::Failed(Failure::NoQuorum { why, .. })) = done else {
            panic!("{done:?}")
        };
        assert!(why.contains("READONLY"), "{why}");
    }

    #[test]
    fn answers_for_another_number_of_servers_fail_clearly() {
        let mut m = RedlockAcquire::new(algo(), params(None, 1));
        let _ = m.handle(ms(0), Event::Start);
        let done = m.handle(ms(1), Event::Answers(vec![ok(), ok()]));
        let Action::Done(Outcome::Failed(Failure::Other(why))) = done else { panic!("{done:?}") };
        assert!(why.contains("2 servers") && why.contains("over 3"), "{why}");
    }

    #[test]
    fn a_release_asks_only_the_silent_servers_again_until_a_majority_answered() {
        let mut m = release(algo(), b"k", b"tok".to_vec());
        assert_eq!(scripts_sent(&m.handle(ms(0), Event::Start)), [Some("release"); 3]);
        let again = m.handle(ms(50), Event::Answers(vec![int(1), silent(), silent()]));
        assert_eq!(again, Action::Sleep(RETRY_DELAYS[0]));
        let sent = m.handle(ms(70), Event::Slept);
        assert_eq!(scripts_sent(&sent), [None, Some("release"), Some("release")]);
        let done = m.handle(ms(71), Event::Answers(vec![Answer::Unsent, int(0), silent()]));
        // Two answered; only one still held our token: not owned.
        assert_eq!(done, Action::Done(Outcome::Released { owned: false, handed: None }));

        let mut m = release(algo(), b"k", b"tok".to_vec());
        let _ = m.handle(ms(0), Event::Start);
        let done = m.handle(ms(1), Event::Answers(vec![int(1), silent(), int(1)]));
        assert_eq!(done, Action::Done(Outcome::Released { owned: true, handed: None }));
    }

    #[test]
    fn a_release_no_majority_ever_answered_is_no_quorum_after_three_tries() {
        let mut m = release(algo(), b"k", b"tok".to_vec());
        let mut action = m.handle(ms(0), Event::Start);
        for _ in 0..RETRY_DELAYS.len() {
            let Action::Sleep(_) = m.handle(ms(1), Event::Answers(vec![silent(); 3])) else {
                panic!("no retry")
            };
            action = m.handle(ms(2), Event::Slept);
        }
        assert_eq!(scripts_sent(&action), [Some("release"); 3]);
        let done = m.handle(ms(3), Event::Answers(vec![silent(); 3]));
        let Action::Done(Outcome::Failed(Failure::NoQuorum { op: "release", answered: 0, .. })) =
            done
        else {
            panic!("{done:?}")
        };
    }

    #[test]
    fn an_extend_needs_a_majority_of_owners_within_the_new_lease() {
        let p = ExtendParams {
            keys: Keys::new("t:", "r"),
            grant: Grant {
                token: b"tok".to_vec(),
                fence: None,
                acquired_at: ms(0),
                valid_until: ms(1),
                clock_ms: None,
            },
            ttl: TTL,
            drift: ms(102),
        };
        let mut m = extend(algo(), &p);
        assert_eq!(scripts_sent(&m.handle(ms(500), Event::Start)), [Some("extend"); 3]);
        let done = m.handle(ms(520), Event::Answers(vec![int(1), int(0), int(1)]));
        let until = ms(500) + TTL - ms(102);
        assert_eq!(done, Action::Done(Outcome::Extended { valid_until: Some(until) }));

        let mut m = extend(algo(), &p);
        let _ = m.handle(ms(500), Event::Start);
        let done = m.handle(ms(520), Event::Answers(vec![int(1), int(0), int(0)]));
        assert_eq!(done, Action::Done(Outcome::Extended { valid_until: None }));
    }

    fn servers(down: &[bool]) -> Vec<Server> {
        down.iter().map(|&down| Server { model: Model::starting_at(1_000), down }).collect()
    }

    fn options(client: u64) -> RunOptions {
        RunOptions { client: ClientId(client), latency_ms: 1, ..RunOptions::default() }
    }

    fn acquired(outcome: Outcome) -> Grant {
        let Outcome::Acquired(grant) = outcome else { panic!("{outcome:?}") };
        grant
    }

    /// Three model servers, one down: a holder has a majority, a second client cannot win,
    /// the release frees the two that answered and the second client wins.
    #[test]
    fn over_three_models_with_one_down_the_lock_still_excludes_and_hands_over() {
        let mut s = servers(&[false, true, false]);
        let key = Keys::new("t:", "r").lock;
        let mut a = RedlockAcquire::new(algo(), params(None, 1));
        let grant = acquired(run_each(&mut s, &mut a, options(1)));
        assert_eq!(grant.acquired_at, ms(1_000), "the lease counts from the send");
        assert_eq!(grant.valid_until, grant.acquired_at + TTL - ms(102));
        assert!(s[0].model.exists(&key) && s[2].model.exists(&key) && !s[1].model.exists(&key));

        let mut b = RedlockAcquire::new(algo(), params(None, 2));
        assert_eq!(run_each(&mut s, &mut b, options(2)), Outcome::Busy);

        let mut release = RedlockAlgorithm::release(
            &algo(),
            ReleaseParams {
                keys: Keys::new("t:", "r"),
                grant,
                ttl: TTL,
                fresh_token: Token::from_u128(0),
            },
        );
        let released = run_each(&mut s, release.as_mut(), options(1));
        assert_eq!(released, Outcome::Released { owned: true, handed: None });
        assert!(s.iter().all(|s| !s.model.exists(&key)));

        let mut b = RedlockAcquire::new(algo(), params(None, 2));
        let _ = acquired(run_each(&mut s, &mut b, options(2)));
    }

    #[test]
    fn a_driver_of_one_server_refuses_the_machine_clearly() {
        let mut a = RedlockAcquire::new(algo(), params(None, 1));
        let outcome = crate::sim::run(&mut Model::new(), &mut a);
        assert_eq!(outcome, Outcome::Failed(Failure::single_server()));
        assert!(Failure::single_server().to_string().contains("several independent servers"));
    }

    #[test]
    fn over_three_models_with_two_down_no_one_acquires() {
        let mut s = servers(&[true, false, true]);
        let mut a = RedlockAcquire::new(algo(), params(Some(ms(300)), 1));
        let outcome = run_each(&mut s, &mut a, options(1));
        let Outcome::Failed(Failure::NoQuorum { answered: 1, needed: 2, .. }) = outcome else {
            panic!("{outcome:?}")
        };
        // Every lost round was released on the one server that answered.
        assert!(!s[1].model.exists(&Keys::new("t:", "r").lock));
    }
}
