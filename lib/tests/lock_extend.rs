//! Extend, `lost()`, and auto-renewal.

mod support;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redmutex::{Algorithm, Error};

#[tokio::test]
async fn extend_moves_the_deadline_and_fails_after_loss() {
    let server = support::server();
    for algorithm in Algorithm::ALL {
        let lock = support::builder("extend", algorithm)
            .ttl(Duration::from_millis(1000))
            .connect(&server.url())
            .await
            .unwrap();
        let guard = lock.acquire().await.unwrap();
        let first = guard.valid_until().unwrap();
        guard.extend().await.unwrap();
        assert!(
            guard.valid_until().unwrap() >= first,
            "{algorithm}: extend moved the deadline back"
        );
        guard.lost().await;
        let other = lock.acquire().await.unwrap();
        let err = guard.extend().await.unwrap_err();
        assert!(matches!(err, Error::Lost(_)), "{algorithm}: {err}");
        assert!(guard.valid_until().is_none(), "{algorithm}: a failed extend marks the guard lost");
        assert!(other.release().await.unwrap());
    }
}

#[tokio::test]
async fn lost_fires_at_the_validity_deadline() {
    let server = support::server();
    let lock = support::builder("lost", Algorithm::Token)
        .ttl(Duration::from_millis(1000))
        .connect(&server.url())
        .await
        .unwrap();
    let sent = Instant::now();
    let guard = lock.acquire().await.unwrap();
    let deadline = guard.valid_until().unwrap();
    // The deadline is counted from when the acquire was sent, less the drift allowance.
    assert!(deadline <= sent + Duration::from_millis(1000));
    tokio::time::timeout(Duration::from_secs(30), guard.lost()).await.expect("lost() never fired");
    assert!(Instant::now() >= deadline);
    assert!(!guard.is_valid());
}

#[tokio::test]
async fn lost_fires_when_an_extend_finds_the_lock_gone() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let lock = support::builder("gone", Algorithm::Token)
        .ttl(Duration::from_secs(60))
        .connect(&server.url())
        .await
        .unwrap();
    let guard = lock.acquire().await.unwrap();
    let lost = tokio::spawn(guard.lost());
    let () = raw.del(&lock.keys().lock).await.unwrap(); // someone wiped the key behind our back
    assert!(guard.extend().await.is_err());
    tokio::time::timeout(Duration::from_secs(30), lost).await.expect("lost() never fired").unwrap();
}

#[tokio::test]
async fn auto_renewal_keeps_the_lease_then_signals_loss() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let lock = support::builder("renew", Algorithm::Notify)
        .ttl(Duration::from_millis(1500))
        .auto_renew(1000)
        .connect(&server.url())
        .await
        .unwrap();
    let guard = lock.acquire().await.unwrap();
    let first = guard.valid_until().unwrap();
    // Wait (by Redis's own account, not a sleep) until a renewal has pushed the key's expiry.
    let renewed = async {
        loop {
            if guard.valid_until().is_some_and(|t| t > first) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), renewed).await.expect("no renewal happened");
    let pttl: i64 = raw.pttl(&lock.keys().lock).await.unwrap();
    assert!(pttl > 0, "the renewed key is alive");
    // Now take the lock away: the next renewal must say so instead of hiding it.
    let () = raw.del(&lock.keys().lock).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), guard.lost()).await.expect("loss not signalled");
    assert!(guard.valid_until().is_none());
}
