//! loom over the reference algorithms' real machines, against the model of Redis.
//!
//! Run with `LOOM_MAX_PREEMPTIONS=2 cargo test --release -p redmutex --features loom --test
//! loom_locks` (`just loom`). Each test explores every interleaving of two or three
//! clients and a clock thread; see `redmutex::sim::loom_support`.
#![cfg(feature = "loom")]

use std::time::Duration;

use redmutex::Algorithm;
use redmutex::algo::{AcquireParams, ExtendParams, OneShot, Protocol, ReleaseParams, TokenLock};
use redmutex::proto::{Command, Machine, Outcome};
use redmutex::sim::loom_support::{Claim, Report, Scenario, explore, explore_until};

/// Leases of 10 ms, critical sections of 15 ms and a clock that moves 30 ms: a holder's lease
/// runs out while it is inside.
fn expiring() -> Scenario {
    Scenario { ttl: Duration::from_millis(10), hold_ms: 15, ticks: 3, ..Scenario::default() }
}

/// Three clients; the clock does not yield, which keeps the exploration to about a minute.
fn three(base: Scenario) -> Scenario {
    Scenario { clients: 3, clock_yields: false, ..base }
}

fn assert_holds(report: &Report, claim: Claim) {
    eprintln!("{} executions, {:?}", report.executions, report.elapsed);
    if let Some(finding) = report.find(claim) {
        panic!("{finding}");
    }
}

#[test]
fn token_never_releases_another_clients_lock() {
    let report = explore(Algorithm::Token.protocol(), &three(expiring()));
    assert_holds(&report, Claim::Ownership);
    assert_holds(&report, Claim::MutualExclusion);
}

#[test]
fn token_keeps_mutual_exclusion_while_no_lease_expires() {
    let report = explore(Algorithm::Token.protocol(), &three(Scenario::default()));
    assert_holds(&report, Claim::MutualExclusion);
}

#[test]
fn fenced_never_accepts_an_older_fence_even_when_leases_expire() {
    let report = explore(Algorithm::Fenced.protocol(), &three(expiring()));
    assert_holds(&report, Claim::Fencing);
    assert_holds(&report, Claim::Ownership);
    assert_holds(&report, Claim::MutualExclusion);
}

#[test]
fn notify_never_strands_a_waiter_while_the_lock_is_free() {
    let report = explore(Algorithm::Notify.protocol(), &Scenario::default());
    assert_holds(&report, Claim::NoStrandedWaiter);
    assert_holds(&report, Claim::MutualExclusion);
}

/// The algorithms whose waiters block in `BLPOP`, each with how many actions its acquire takes
/// before it blocks (`notify`: the fast `SET`, the script, the `BLPOP`; `fair`: no fast path).
const BLOCKING: [(Algorithm, usize); 2] = [(Algorithm::Notify, 3), (Algorithm::Fair, 2)];

/// A lock that expires silently (its holder stays inside past the ttl) still wakes its waiter
/// within half a ttl: the waiter's `BLPOP` is bounded by the holder's remaining ttl (`fair`:
/// the queue's head wakes and takes the lock).
#[test]
fn notify_and_fair_wake_a_waiter_within_half_a_ttl_of_a_silent_expiry() {
    let scenario = Scenario {
        hold_ms: 40,
        expiry_slack_ms: Some(5),
        ticks: 4,
        clock_yields: false,
        ..expiring()
    };
    for (algorithm, _) in BLOCKING {
        let report = explore(algorithm.protocol(), &scenario);
        eprintln!("{algorithm}:");
        assert_holds(&report, Claim::WakesAfterExpiry);
        assert_holds(&report, Claim::MutualExclusion);
    }
}

/// The case loom found in an earlier `notify` (fixed in the scripts since): with three clients,
/// a late-comer's acquire took the hand-off a release made for a waiter that had counted itself
/// but not yet blocked; the late-comer's own release then found no waiter counted and deleted
/// the lock, and the waiter blocked on a free lock until its `BLPOP` timed out.
#[test]
fn notify_never_strands_a_waiter_among_three_clients() {
    let report = explore(Algorithm::Notify.protocol(), &three(Scenario::default()));
    assert_holds(&report, Claim::NoStrandedWaiter);
    assert_holds(&report, Claim::MutualExclusion);
}

/// An acquire dropped while it awaits each of its first actions (the fast `SET`, the acquire
/// script, the `BLPOP`) and cleaned up as `Lock` does: the lock still reaches the other client,
/// and no key is left, wherever the release's hand-off falls (`fair`: the cancelled waiter
/// leaves the queue).
#[test]
fn notify_and_fair_leave_nothing_behind_an_acquire_cancelled_at_any_step() {
    for (algorithm, actions) in BLOCKING {
        for action in 0..actions {
            let scenario = Scenario { cancel: Some((2, action)), ..Scenario::default() };
            let report = explore(algorithm.protocol(), &scenario);
            eprintln!("{algorithm} cancelled at action {action}:");
            assert_holds(&report, Claim::NothingLeft);
            assert_holds(&report, Claim::NoStrandedWaiter);
            assert_holds(&report, Claim::MutualExclusion);
            assert_holds(&report, Claim::Ownership);
        }
    }
}

/// A waiter whose wait timeout passes while the lock is held gives up and leaves the queue:
/// the holder's release then frees the lock instead of handing it to nobody.
#[test]
fn notify_and_fair_forget_a_waiter_that_timed_out() {
    let scenario = Scenario {
        wait: Some(Duration::from_millis(15)),
        hold_ms: 25,
        ticks: 3,
        ..Scenario::default()
    };
    for (algorithm, _) in BLOCKING {
        let report = explore(algorithm.protocol(), &scenario);
        eprintln!("{algorithm}:");
        assert_holds(&report, Claim::NothingLeft);
        assert_holds(&report, Claim::NoStrandedWaiter);
        assert_holds(&report, Claim::MutualExclusion);
    }
}

/// `fair`'s queue among three clients: the one blocked first is granted first, nobody is left
/// blocked on a free lock, and the lock is never granted twice.
#[test]
fn fair_grants_blocked_waiters_in_arrival_order_and_strands_none() {
    let report = explore(Algorithm::Fair.protocol(), &three(Scenario::default()));
    assert_holds(&report, Claim::Fifo);
    assert_holds(&report, Claim::NoStrandedWaiter);
    assert_holds(&report, Claim::MutualExclusion);
}

/// Two rounds each for two clients: a releaser that comes back queues behind the waiter it
/// handed the lock to.
#[test]
fn fair_keeps_arrival_order_when_a_releaser_comes_back() {
    let report =
        explore(Algorithm::Fair.protocol(), &Scenario { rounds: 2, ..Scenario::default() });
    assert_holds(&report, Claim::Fifo);
    assert_holds(&report, Claim::NoStrandedWaiter);
    assert_holds(&report, Claim::MutualExclusion);
}

/// `token` with its release replaced by a plain `DEL`: loom must find the stale release.
struct PlainDelToken;

impl Protocol for PlainDelToken {
    fn name(&self) -> &'static str {
        "token-plain-del"
    }

    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine> {
        TokenLock.acquire(params)
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Box::new(OneShot::new("release", Command::Del { keys: vec![p.keys.lock] }, |_, reply| {
            Outcome::Released { owned: reply.as_int() == Some(1), handed: None }
        }))
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        TokenLock.extend(p)
    }
}

#[test]
fn a_token_release_by_plain_del_is_caught() {
    let scenario = Scenario { clock_yields: false, ..expiring() };
    let report = explore_until(&PlainDelToken, &scenario, Claim::Ownership);
    eprintln!("{} executions, {:?}", report.executions, report.elapsed);
    let Some(finding) = report.find(Claim::Ownership) else {
        panic!("loom did not catch a release by plain DEL");
    };
    eprintln!("caught, as it should be: {finding}");
}

/// `notify` whose release deletes the lock without handing it over: waiters are stranded.
struct NoHandOffNotify;

impl Protocol for NoHandOffNotify {
    fn name(&self) -> &'static str {
        "notify-no-hand-off"
    }

    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine> {
        Algorithm::Notify.protocol().acquire(params)
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Algorithm::Token.protocol().release(p)
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Algorithm::Notify.protocol().extend(p)
    }
}

#[test]
fn a_notify_release_without_hand_off_is_caught_stranding_a_waiter() {
    let report = explore_until(&NoHandOffNotify, &Scenario::default(), Claim::NoStrandedWaiter);
    eprintln!("{} executions, {:?}", report.executions, report.elapsed);
    let Some(finding) = report.find(Claim::NoStrandedWaiter) else {
        panic!("loom did not catch a release that strands the waiter");
    };
    eprintln!("caught, as it should be: {finding}");
}
