//! loom over the specimens (the reference documents' algorithms, bugs kept): each known bug
//! must be **found**, and the correct specimen must pass. Run with
//! `LOOM_MAX_PREEMPTIONS=2 cargo test --release -p contend --features loom --test loom_specimens`
//! (`just loom`); see `redmutex::sim::loom_support`.
#![cfg(feature = "loom")]

use std::time::Duration;

use contend::specimens;
use redmutex::algo::Protocol;
use redmutex::sim::loom_support::{Claim, Scenario, explore, explore_until};

/// The specimen `name` with its documents' sleeps and grace periods cut to 1 %, so that they
/// fit between the clock's ticks.
fn specimen(name: &str) -> &'static dyn Protocol {
    let Some(s) = specimens::find(name) else { panic!("no specimen {name}") };
    Box::leak(s.scaled(0.01))
}

/// Leases of 1 s (the specimens count in seconds), a clock ticking a second at a time.
fn seconds() -> Scenario {
    Scenario {
        ttl: Duration::from_secs(1),
        wait: Some(Duration::from_secs(5)),
        tick_ms: 1000,
        ticks: 3,
        hold_ms: 5,
        ..Scenario::default()
    }
}

/// Explores until `claim` is violated; fails if it never is.
fn caught(name: &str, scenario: &Scenario, claim: Claim, what: &str) {
    let report = explore_until(specimen(name), scenario, claim);
    eprintln!("{name}: {} executions, {:?}", report.executions, report.elapsed);
    let Some(finding) = report.find(claim) else { panic!("loom did not find: {what}") };
    eprintln!("caught, as it should be: {finding}");
}

#[test]
fn setnx_getset_expiry_deleting_a_taken_over_lock_is_caught() {
    let what = "seed 000's check-then-DEL release of a taken-over lock";
    caught("setnx-getset-expiry", &seconds(), Claim::Ownership, what);
}

#[test]
fn poll_get_del_deleting_after_a_stale_get_is_caught() {
    let what = "seed 001's GET-compare-DEL release of a new holder's lock";
    caught("poll-get-del", &seconds(), Claim::Ownership, what);
}

#[test]
fn setnx_getset_unchecked_deleting_the_next_holders_lock_is_caught() {
    let late = Scenario { hold_ms: 1500, ..seconds() };
    caught(
        "setnx-getset-unchecked",
        &late,
        Claim::Ownership,
        "seed 002's bare DEL after the lease",
    );
}

#[test]
fn setnx_pubsub_sleeping_through_a_silent_expiry_is_caught() {
    let expiring = Scenario { hold_ms: 2500, expiry_slack_ms: Some(500), ..seconds() };
    let what = "seed 004's waiter sleeping through an expiry";
    caught("setnx-pubsub", &expiring, Claim::WakesAfterExpiry, what);
}

#[test]
fn token_poll_never_releases_another_clients_lock() {
    let late = Scenario { hold_ms: 1500, ..seconds() };
    let report = explore(specimen("token-poll"), &late);
    eprintln!("{} executions, {:?}", report.executions, report.elapsed);
    for claim in [Claim::Ownership, Claim::MutualExclusion] {
        if let Some(finding) = report.find(claim) {
            panic!("{finding}");
        }
    }
}
