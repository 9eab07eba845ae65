//! `notify` waiters are woken by a release, and by an expiry, without polling.

mod support;

use std::time::{Duration, Instant};

use redmutex::Algorithm;

#[tokio::test]
async fn a_release_wakes_a_blocked_waiter() {
    let server = support::server();
    // A ttl far beyond the wait timeout: only a wake-up by the release can get the waiter in.
    let builder = support::builder("wake", Algorithm::Notify)
        .ttl(Duration::from_secs(60))
        .wait_timeout(Duration::from_secs(20));
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let waiter = builder.connect(&server.url()).await.unwrap();
    let held = holder.acquire().await.unwrap();
    let waiting = tokio::spawn(async move { waiter.acquire().await });
    // Give the waiter every chance to block first; correctness does not depend on it.
    while !waiting.is_finished() && server_has_blocked_client(&server).await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let released = Instant::now();
    assert!(held.release().await.unwrap().owned);
    let guard = waiting.await.unwrap().expect("the waiter must get the lock after the release");
    // Without the hand-off the waiter would get in only when its 20 s `BLPOP` ran out and it
    // looked again: it must be woken by the release itself.
    let woke = released.elapsed();
    assert!(woke < Duration::from_secs(5), "the waiter got the lock {woke:?} after the release");
    assert!(guard.is_valid());
    assert!(guard.release().await.unwrap().owned);
}

#[tokio::test]
async fn an_expiry_wakes_a_waiter_within_the_remaining_ttl_plus_slack() {
    let server = support::server();
    let ttl = Duration::from_millis(2000);
    let slack = Duration::from_millis(1000);
    let builder = support::builder("expire", Algorithm::Notify)
        .ttl(ttl)
        .wait_timeout(Duration::from_secs(20));
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let waiter = builder.connect(&server.url()).await.unwrap();
    let held = holder.acquire().await.unwrap();
    let acquired_at = Instant::now();
    std::mem::forget(held); // a holder that dies: no release, no background clean-up
    let guard = waiter.acquire().await.expect("the waiter must get the expired lock");
    let waited = acquired_at.elapsed();
    assert!(waited <= ttl + slack, "woke {waited:?} after the holder took a {ttl:?} lock");
    guard.release().await.unwrap();
}

async fn server_has_blocked_client(server: &redmutex::testing::RedisServer) -> u64 {
    let mut raw = support::raw(server).await;
    let info: String = redis::cmd("INFO").arg("clients").query_async(&mut raw).await.unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
