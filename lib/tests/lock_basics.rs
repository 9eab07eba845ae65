//! Acquire, try_acquire, release and ownership on a real server, for every algorithm.

mod support;

use std::time::Duration;

use redis::AsyncCommands;
use redmutex::Algorithm;

#[tokio::test]
async fn acquire_then_release_reports_ownership() {
    let server = support::server();
    for algorithm in Algorithm::ALL {
        let lock = support::builder("basic", algorithm).connect(&server.url()).await.unwrap();
        let guard = lock.acquire().await.unwrap();
        assert_eq!(guard.token().len(), 32);
        assert_eq!(guard.fence().is_some(), algorithm == Algorithm::Fenced, "{algorithm}");
        assert!(guard.is_valid());
        assert!(guard.release().await.unwrap().owned, "{algorithm}: release of a live lock");
    }
}

#[tokio::test]
async fn try_acquire_on_a_held_lock_returns_at_once() {
    let server = support::server();
    for algorithm in Algorithm::ALL {
        let lock = support::builder("held", algorithm)
            .wait_timeout(Duration::from_secs(60))
            .connect(&server.url())
            .await
            .unwrap();
        let held = lock.acquire().await.unwrap();
        let started = std::time::Instant::now();
        assert!(lock.try_acquire().await.unwrap().is_none(), "{algorithm}");
        // A try never waits for the holder: far less than the 2 s ttl or the 60 s wait.
        assert!(started.elapsed() < Duration::from_secs(1), "{algorithm}: {:?}", started.elapsed());
        held.release().await.unwrap();
        assert!(lock.try_acquire().await.unwrap().is_some(), "{algorithm}: free after release");
    }
}

#[tokio::test]
async fn an_expired_holder_gets_not_owned_and_the_new_holders_key_survives() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    for algorithm in Algorithm::ALL {
        let lock = support::builder("expiry", algorithm)
            .ttl(Duration::from_millis(1000))
            .connect(&server.url())
            .await
            .unwrap();
        let old = lock.acquire().await.unwrap();
        old.lost().await; // the lease is over by our clock; the server expires it soon after
        let new = lock.acquire().await.unwrap();
        assert!(!old.release().await.unwrap().owned, "{algorithm}: a stale release must not own");
        let value: Option<String> = raw.get(&lock.keys().lock).await.unwrap();
        assert_eq!(
            value.as_deref(),
            Some(new.token()),
            "{algorithm}: the new holder's key survives"
        );
        assert!(new.release().await.unwrap().owned);
    }
}

#[tokio::test]
async fn acquire_on_a_lock_held_past_the_wait_fails_with_timeout() {
    let server = support::server();
    for algorithm in Algorithm::ALL {
        let builder = support::builder("timeout", algorithm).ttl(Duration::from_secs(30));
        let holder = builder.clone().connect(&server.url()).await.unwrap();
        let waiter =
            builder.wait_timeout(Duration::from_millis(300)).connect(&server.url()).await.unwrap();
        let held = holder.acquire().await.unwrap();
        let started = std::time::Instant::now();
        let err = waiter.acquire().await.expect_err("the lock is held for 30 s");
        assert!(matches!(err, redmutex::Error::Timeout(_)), "{algorithm}: {err}");
        // notify's BLPOP timeout is checked by the server about every 100 ms.
        assert!(started.elapsed() >= Duration::from_millis(300), "{algorithm}: gave up early");
        assert!(held.release().await.unwrap().owned);
    }
}
