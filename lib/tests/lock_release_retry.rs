//! Release and extend when the server runs the script but its reply is lost on the way back.

mod support;

use std::time::Duration;

use redis::AsyncCommands;
use redmutex::{Algorithm, Error};

/// Before retries, the first lost reply was the caller's error and the lock stayed taken until
/// its ttl (or, had the script run, the caller could not know that it had).
#[tokio::test]
async fn a_release_whose_reply_is_lost_is_retried_and_reports_the_truth() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    for algorithm in Algorithm::ALL {
        let lock = support::builder("lost-reply", algorithm).connect(&server.url()).await.unwrap();
        let guard = lock.acquire().await.unwrap();
        // The script runs and deletes the lock; its answer never arrives. The retry finds the
        // lock gone, and the lost attempt was sent within the lease: it was ours.
        lock.connection().lose_replies(1);
        assert!(guard.release().await.unwrap().owned, "{algorithm}");
        let value: Option<String> = raw.get(&lock.keys().lock).await.unwrap();
        assert_eq!(value, None, "{algorithm}");
    }
}

#[tokio::test]
async fn a_notify_hand_off_whose_reply_is_lost_still_counts_as_ours_and_reaches_the_waiter() {
    let server = support::server();
    let builder = support::builder("lost-hand-off", Algorithm::Notify).ttl(Duration::from_secs(30));
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let waiter = builder.connect(&server.url()).await.unwrap();
    let held = holder.acquire().await.unwrap();
    let waiting = tokio::spawn(async move { waiter.acquire().await });
    let mut raw = support::raw(&server).await;
    while raw.llen::<_, i64>(&holder.keys().waiters).await.unwrap() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    holder.connection().lose_replies(1);
    assert!(held.release().await.unwrap().owned);
    let guard = waiting.await.unwrap().unwrap();
    assert!(guard.release().await.unwrap().owned);
}

/// A lease that ran out before the release was sent is not vouched for by a lost reply.
#[tokio::test]
async fn a_lost_reply_after_the_lease_ran_out_reports_not_ours() {
    let server = support::server();
    let lock = support::builder("late", Algorithm::Token)
        .ttl(Duration::from_millis(1000))
        .connect(&server.url())
        .await
        .unwrap();
    let guard = lock.acquire().await.unwrap();
    guard.lost().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    lock.connection().lose_replies(1);
    assert!(!guard.release().await.unwrap().owned);
}

#[tokio::test]
async fn a_release_that_never_gets_an_answer_is_unconfirmed_and_names_the_token() {
    let server = support::server();
    let lock = support::builder("silent", Algorithm::Notify).connect(&server.url()).await.unwrap();
    let guard = lock.acquire().await.unwrap();
    let token = guard.token().to_string();
    lock.connection().lose_replies(10);
    let err = guard.release().await.expect_err("no attempt was answered");
    let Error::Unconfirmed { op, token: named, attempts, .. } = &err else { panic!("{err:?}") };
    assert_eq!((*op, named.as_str(), *attempts), ("release", token.as_str(), 3), "{err}");
    lock.connection().lose_replies(0);
}

#[tokio::test]
async fn an_extend_whose_reply_is_lost_is_retried_and_the_server_has_the_new_ttl() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let ttl = Duration::from_secs(4);
    for algorithm in Algorithm::ALL {
        let lock = support::builder("extend-lost", algorithm)
            .ttl(ttl)
            .connect(&server.url())
            .await
            .unwrap();
        let guard = lock.acquire().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before: i64 = raw.pttl(&lock.keys().lock).await.unwrap();
        lock.connection().lose_replies(1);
        guard.extend().await.unwrap();
        let after: i64 = raw.pttl(&lock.keys().lock).await.unwrap();
        // 1.5 s of the 4 s ttl had passed: the extend put back more than a second.
        assert!(after > before + 1000, "{algorithm}: pttl {before} ms before, {after} ms after");
        assert!(guard.release().await.unwrap().owned, "{algorithm}");
    }
}
