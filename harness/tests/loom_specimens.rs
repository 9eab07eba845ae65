//! loom over the specimens (the reference documents' algorithms, bugs kept): each known bug
//! must be **found**, and the correct specimen must pass. Run with
//! `RUSTFLAGS="--cfg redmutex_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p contend
//! --test loom_specimens` (`just loom`); see `redmutex::sim::loom_support`.
#![cfg(redmutex_loom)]

use std::time::Duration;

use contend::specimens;
use redmutex::algo::Protocol;
use redmutex::sim::loom_support::{Claim, Report, Scenario, explore};

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

fn caught(report: &Report, claim: Claim, what: &str) {
    eprintln!("{} executions", report.executions);
    let Some(finding) = report.find(claim) else { panic!("loom did not find: {what}") };
    eprintln!("caught, as it should be: {finding}");
}

#[test]
fn setnx_getset_expiry_deleting_a_taken_over_lock_is_caught() {
    let report = explore(specimen("setnx-getset-expiry"), &seconds());
    caught(&report, Claim::Ownership, "seed 000's check-then-DEL release of a taken-over lock");
}

#[test]
fn poll_get_del_deleting_after_a_stale_get_is_caught() {
    let report = explore(specimen("poll-get-del"), &seconds());
    caught(&report, Claim::Ownership, "seed 001's GET-compare-DEL release of a new holder's lock");
}

#[test]
fn setnx_getset_unchecked_deleting_the_next_holders_lock_is_caught() {
    let late = Scenario { hold_ms: 1500, ..seconds() };
    let report = explore(specimen("setnx-getset-unchecked"), &late);
    caught(&report, Claim::Ownership, "seed 002's bare DEL after the lease ended");
}

#[test]
fn setnx_pubsub_sleeping_through_a_silent_expiry_is_caught() {
    let expiring = Scenario { hold_ms: 2500, expiry_slack_ms: Some(500), ..seconds() };
    let report = explore(specimen("setnx-pubsub"), &expiring);
    caught(&report, Claim::WakesAfterExpiry, "seed 004's waiter sleeping through an expiry");
}

#[test]
fn token_poll_never_releases_another_clients_lock() {
    let late = Scenario { hold_ms: 1500, ..seconds() };
    let report = explore(specimen("token-poll"), &late);
    eprintln!("{} executions", report.executions);
    for claim in [Claim::Ownership, Claim::MutualExclusion] {
        if let Some(finding) = report.find(claim) {
            panic!("{finding}");
        }
    }
}
