//! The quorum specimens on real servers: each acquires, excludes and releases over three
//! servers, and each shipped scenario catches its specimen's mistake (and `redlock` passes the
//! two scenarios made for them; `redlock-drift` is `redlock`'s own).

mod support;

use std::sync::Arc;
use std::time::Duration;

use contend::registry::{self, Build};
use redmutex::algo::{AcquireParams, Backoff, Protocol, ReleaseParams};
use redmutex::driver::{NoHooks, Timeouts};
use redmutex::fanout::Servers;
use redmutex::proto::{Keys, Outcome, Token};
use redmutex::testing::RedisServer;

const QUORUM_SPECIMENS: [&str; 3] =
    ["redlock-no-drift", "redlock-sequential", "redlock-answered-release"];

/// A client of the lock over `servers`: its own connections.
async fn client(servers: &[RedisServer]) -> Servers {
    let urls: Vec<String> = servers.iter().map(RedisServer::url).collect();
    Servers::open(&urls, Timeouts::default()).await.expect("connect")
}

fn params(keys: &Keys, who: u128) -> AcquireParams {
    AcquireParams {
        keys: keys.clone(),
        token: Token::from_u128(who),
        ttl: Duration::from_secs(5),
        wait: None,
        drift: Duration::from_millis(52),
        seed: 1,
        backoff: Backoff::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_quorum_specimen_acquires_excludes_and_releases_over_three_servers() {
    support::need_redis();
    let servers: Vec<RedisServer> = (0..3).map(|_| RedisServer::start().expect("start")).collect();
    let build = Build { servers: 3, server_timeout: Duration::from_millis(500), scale: 1.0 };
    for name in QUORUM_SPECIMENS {
        let entry = registry::find(name).expect("registered");
        assert!(entry.quorum, "{name} is a quorum lock");
        let protocol: Arc<dyn Protocol> = Arc::from(entry.protocol(&build));
        assert_eq!(protocol.servers(), 3, "{name}");
        let keys = Keys::new("spec:", name);
        let (a, b) = (client(&servers).await, client(&servers).await);
        let mut acquire = protocol.acquire(params(&keys, 1));
        let outcome = a.run(acquire.as_mut(), &mut NoHooks).await.expect("acquire runs");
        let Outcome::Acquired(grant) = outcome else { panic!("{name}: {outcome:?}") };
        let mut second = protocol.acquire(params(&keys, 2));
        let busy = b.run(second.as_mut(), &mut NoHooks).await.expect("acquire runs");
        assert_eq!(busy, Outcome::Busy, "{name}: a second client is kept out");
        let release = ReleaseParams {
            keys: keys.clone(),
            grant,
            ttl: Duration::from_secs(5),
            fresh_token: Token::from_u128(9),
        };
        let mut release = protocol.release(release);
        let released = a.run(release.as_mut(), &mut NoHooks).await.expect("release runs");
        assert_eq!(released, Outcome::Released { owned: true, handed: None }, "{name}");
        let mut third = protocol.acquire(params(&keys, 3));
        let again = b.run(third.as_mut(), &mut NoHooks).await.expect("acquire runs");
        assert!(matches!(again, Outcome::Acquired(_)), "{name}: free again, {again:?}");
    }
}

#[test]
fn a_lease_counted_from_the_last_of_sequential_requests_hands_the_lock_out_twice() {
    let sequential = support::run_shipped("redlock-slow-replies", "redlock-sequential");
    let r = &sequential.results;
    assert_eq!(r["as_expected"], true, "{}", support::text(&sequential.output));
    assert_eq!(support::verdict(r, "mutual-exclusion"), "invalid");
    let findings = &r["checkers"]["mutual-exclusion"]["findings"];
    let first = findings[0]["message"].as_str().unwrap_or_default();
    assert!(first.contains("the lock handed out twice"), "{findings}");

    let redlock = support::run_shipped("redlock-slow-replies", "redlock");
    let r = &redlock.results;
    assert_eq!(r["as_expected"], true, "{}", support::text(&redlock.output));
    for checker in ["mutual-exclusion", "lost-updates", "ownership", "liveness"] {
        assert_eq!(support::verdict(r, checker), "valid", "redlock {checker}: {r}");
    }
}

#[test]
fn a_release_of_only_the_answered_servers_strands_the_lock_and_leaves_a_key_behind() {
    let specimen = support::run_shipped("redlock-lost-reply", "redlock-answered-release");
    let r = &specimen.results;
    assert_eq!(r["as_expected"], true, "{}", support::text(&specimen.output));
    assert_eq!(support::verdict(r, "stranded-lock"), "invalid");
    assert_eq!(support::verdict(r, "residue"), "invalid");
    let residue = r["checkers"]["residue"]["findings"][0]["message"].as_str().unwrap_or_default();
    assert!(residue.contains("(server 2)"), "the key left is server 2's: {residue}");

    let redlock = support::run_shipped("redlock-lost-reply", "redlock");
    let r = &redlock.results;
    assert_eq!(r["as_expected"], true, "{}", support::text(&redlock.output));
    for checker in ["stranded-lock", "residue", "mutual-exclusion", "liveness"] {
        assert_eq!(support::verdict(r, checker), "valid", "redlock {checker}: {r}");
    }
}

/// Needs the libc-malloc `redis-server` libfaketime can step (`server_clock.rs` says how).
#[test]
fn a_lease_with_no_drift_allowance_is_handed_out_twice_when_the_servers_clocks_step() {
    // One lease per worker, as the gate runs it.
    let specimen =
        support::run_shipped_with("redlock-drift", "redlock-no-drift", &["--iterations", "1"]);
    let r = &specimen.results;
    assert_eq!(support::verdict(r, "mutual-exclusion"), "invalid", "{r}");
    assert!(r["faults_struck"]["server-clock-jump"].as_u64().is_some_and(|n| n > 0), "{r}");
}
