//! `redlock-answered-release`: redlock that releases only the servers that granted its
//! acquire.
//!
//! **The mistake.** It looks tidy to release only where the lock was taken: the servers that
//! answered `OK`. But a server that did not answer may still have set the key: the `SET` ran
//! and its reply was lost (a reset connection, a timeout just too short). That key stays until
//! its ttl. After a lost round the client cleans up the servers that said yes and leaves the
//! others holding its key, so with two replies lost of three no one (itself included) can win a
//! majority for a whole ttl while the lock is held by no one; after a won round, the release
//! leaves the key on the server whose reply was lost, on the server after the run. `redlock`
//! releases every server, answered or not. Everything else is `redlock`'s machines: the
//! acquire's lost-round clean-up and the release are `redlock`'s, told to leave out the servers
//! that did not grant (releasing one that answered nil would do nothing: the key is not ours).
//!
//! **Faithful to.** Redisson's `RedissonMultiLock.tryLock` (which its `RedissonRedLock`
//! extends) cleans up a failed round with `unlockInner(acquiredLocks)`, the locks that said
//! yes; a lock whose request failed with a response timeout is unlocked too, but one that failed
//! with any other error (a connection reset among them) is only counted as not acquired. This
//! specimen does the same on every failure and keeps the same rule for its final release
//! (Redisson's `unlock()` releases every lock there).
//!
//! **State.** The servers that granted each acquisition are remembered by the protocol (by
//! token) until its release, as a lock object of a client library would; a release of a token
//! the protocol does not know (an abandoned acquire's clean-up) goes to every server.
//!
//! **Where the harness sees it.** `redlock-lost-reply`: worker 0's first `SET`s on servers 1
//! and 2 run but their replies are dropped, so that round is lost and its keys stay: the
//! `stranded-lock` checker reports the lock held by no one for a ttl while the others wait.
//! Every worker's last acquire loses server 2's reply and still wins; its release leaves the
//! key there, and the `residue` checker finds it at the end.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use redmutex::algo::redlock::{RedlockAcquire, RedlockAlgorithm};
use redmutex::algo::{AcquireParams, ExtendParams, Protocol, ReleaseParams};
use redmutex::proto::{Action, Answer, Bytes, Command, Event, Machine, Outcome};

use super::{CheckerKind, KnownBug};

/// The specimen's name.
pub const NAME: &str = "redlock-answered-release";

/// One line for `contend list`.
pub const SUMMARY: &str = "redlock releasing only the servers that granted its acquire: a SET whose reply was lost leaves its key until the ttl, blocking the lock after a lost round and left behind after a release";

/// The known bugs: one mistake, seen after a lost round and after a release.
pub const BUGS: &[KnownBug] = &[
    KnownBug {
        id: "lost-round-keys-block-the-lock",
        what: "a round that lost because two replies were dropped releases only the server that said yes; the two keys it set block every client for a ttl while no one holds the lock",
        checker: CheckerKind::StrandedLock,
        scenario: "redlock-lost-reply",
        fault: "worker 0's first SETs on servers 1 and 2 run, their replies dropped",
        safety: false,
    },
    KnownBug {
        id: "released-lock-left-on-a-server",
        what: "a won round whose reply from one server was dropped is released on the others only; that server keeps the key until its ttl",
        checker: CheckerKind::Residue,
        scenario: "redlock-lost-reply",
        fault: "every worker's last SET on server 2 runs, its reply dropped",
        safety: false,
    },
];

/// Which servers granted each live acquisition, by token.
type Granted = Arc<Mutex<BTreeMap<Bytes, Vec<bool>>>>;

/// The protocol.
#[derive(Debug)]
pub struct RedlockAnsweredRelease {
    r: RedlockAlgorithm,
    granted: OnceLock<Granted>,
}

/// Over three servers, each awaited the harness's default server timeout.
pub static DOCUMENT: RedlockAnsweredRelease = RedlockAnsweredRelease::new(super::THREE);

impl RedlockAnsweredRelease {
    /// The specimen over `r`'s servers.
    #[must_use]
    pub const fn new(r: RedlockAlgorithm) -> RedlockAnsweredRelease {
        RedlockAnsweredRelease { r, granted: OnceLock::new() }
    }

    fn granted(&self) -> Granted {
        self.granted.get_or_init(Granted::default).clone()
    }
}

impl Protocol for RedlockAnsweredRelease {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        Box::new(Acquire {
            inner: RedlockAcquire::new(self.r, p),
            asking: false,
            granted: vec![false; self.r.servers],
            record: self.granted(),
        })
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        let only = lock(&self.granted()).remove(&p.grant.token);
        let only = only.unwrap_or_else(|| vec![true; self.r.servers]);
        Box::new(Only { inner: self.r.release(p), only })
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        self.r.extend(p)
    }

    fn servers(&self) -> usize {
        self.r.servers
    }
}

fn lock(granted: &Granted) -> std::sync::MutexGuard<'_, BTreeMap<Bytes, Vec<bool>>> {
    // A panic elsewhere cannot leave the map half-updated: every update is one call.
    granted.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `redlock`'s acquire, with the clean-up of a lost round kept to the servers that granted it.
struct Acquire {
    inner: RedlockAcquire,
    /// The last action sent the `SET`s: the next answers are theirs.
    asking: bool,
    granted: Vec<bool>,
    record: Granted,
}

impl Machine for Acquire {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        let after_set = std::mem::take(&mut self.asking);
        if let (true, Event::Answers(answers)) = (after_set, &event) {
            self.granted =
                answers.iter().map(|a| matches!(a, Answer::Reply(r) if r.is_ok())).collect();
        }
        match self.inner.handle(now, event) {
            Action::SendEach { commands, timeout } => {
                if commands.iter().flatten().any(|c| matches!(c, Command::Set { .. })) {
                    self.asking = true;
                    return Action::SendEach { commands, timeout };
                }
                // The clean-up right after a round's answers.
                let commands = keep(commands, &self.granted);
                Action::SendEach { commands, timeout }
            }
            Action::Done(Outcome::Acquired(grant)) => {
                lock(&self.record).insert(grant.token.clone(), self.granted.clone());
                Action::Done(Outcome::Acquired(grant))
            }
            other => other,
        }
    }
}

/// Leaves out the commands to the servers `only` does not name.
fn keep(commands: Vec<Option<Command>>, only: &[bool]) -> Vec<Option<Command>> {
    commands.into_iter().zip(only).map(|(c, &keep)| c.filter(|_| keep)).collect()
}

/// `redlock`'s release, sent only to some servers.
struct Only {
    inner: Box<dyn Machine>,
    only: Vec<bool>,
}

impl Machine for Only {
    fn handle(&mut self, now: Duration, event: Event) -> Action {
        match self.inner.handle(now, event) {
            Action::SendEach { commands, timeout } => {
                Action::SendEach { commands: keep(commands, &self.only), timeout }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redmutex::proto::Failure;

    use crate::specimens::quorum_testkit::{Cluster, acquire, granted, keys, redlock, release};

    const TTL: u64 = 2_000;

    fn specimen() -> RedlockAnsweredRelease {
        RedlockAnsweredRelease::new(redlock())
    }

    /// Client 1's first round loses the replies of servers 1 and 2 (their `SET`s ran), with
    /// `protocol`; then client 2 tries once.
    fn two_replies_lost(protocol: &dyn Protocol) -> (Cluster, Outcome) {
        let mut c = Cluster::new(3);
        c.nodes[1].lose_replies = 1;
        c.nodes[2].lose_replies = 1;
        let first = c.run(protocol.acquire(acquire(1, TTL, None)).as_mut(), 1);
        let Outcome::Failed(Failure::NoQuorum { answered: 1, .. }) = first else {
            panic!("one answer of three: a lost round, got {first:?}")
        };
        let second = c.run(protocol.acquire(acquire(2, TTL, None)).as_mut(), 2);
        (c, second)
    }

    #[test]
    fn a_round_lost_to_dropped_replies_leaves_its_keys_and_no_one_can_win_for_a_ttl() {
        let (mut c, second) = two_replies_lost(&specimen());
        let lock = keys().lock;
        assert_eq!(c.holding(&lock), [false, true, true], "only server 0 was cleaned up");
        assert_eq!(second, Outcome::Busy, "held by no one, and no one can take it");
        let start = c.now();
        c.advance_to(start + TTL - 10);
        let again = c.run(specimen().acquire(acquire(2, TTL, None)).as_mut(), 2);
        assert_eq!(again, Outcome::Busy, "still, almost a ttl later");
        c.advance_to(start + TTL + 10);
        let _ = granted(c.run(specimen().acquire(acquire(2, TTL, None)).as_mut(), 2));
    }

    #[test]
    fn redlock_cleans_up_every_server_after_the_same_lost_round() {
        let (c, second) = two_replies_lost(&redlock());
        let _ = granted(second);
        assert_eq!(c.holding(&keys().lock), [true; 3], "client 2 holds all three");
    }

    #[test]
    fn a_release_after_a_reply_was_lost_leaves_that_servers_key_behind() {
        for (protocol, left) in [(&specimen() as &dyn Protocol, true), (&redlock(), false)] {
            let mut c = Cluster::new(3);
            c.nodes[2].lose_replies = 1;
            let held = granted(c.run(protocol.acquire(acquire(1, TTL, None)).as_mut(), 1));
            let released = c.run(protocol.release(release(held, TTL)).as_mut(), 1);
            assert_eq!(released, Outcome::Released { owned: true, handed: None });
            let lock = keys().lock;
            assert_eq!(c.holding(&lock), [false, false, left], "{}", protocol.name());
        }
    }

    #[test]
    fn a_release_of_an_acquisition_it_does_not_know_goes_to_every_server() {
        let protocol = specimen();
        let mut c = Cluster::new(3);
        let held = granted(c.run(redlock().acquire(acquire(1, TTL, None)).as_mut(), 1));
        let released = c.run(protocol.release(release(held, TTL)).as_mut(), 1);
        assert_eq!(released, Outcome::Released { owned: true, handed: None });
        assert_eq!(c.holding(&keys().lock), [false; 3]);
        assert!(lock(&protocol.granted()).is_empty());
    }
}
