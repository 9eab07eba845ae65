//! What a guard and a release tell about an acquisition: when, how long it waited, how many
//! commands it took, how long the lock was held, the margin left, and why it was lost.

mod support;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redmutex::{Algorithm, Loss};

#[tokio::test]
async fn a_guard_tells_its_acquire_and_a_release_its_hold_and_margin() {
    let server = support::server();
    for algorithm in Algorithm::ALL {
        let builder = support::builder("metrics", algorithm);
        let lock = builder.clone().connect(&server.url()).await.unwrap();
        let before = Instant::now();
        let guard = lock.acquire().await.unwrap();
        assert!(guard.acquired_at() >= before && guard.acquired_at() <= Instant::now());
        assert_eq!(guard.commands(), 1, "{algorithm}: an uncontended acquire is one command");
        assert!(guard.waited() <= before.elapsed());
        assert_eq!(guard.loss(), None);
        // A contended acquire: more commands, and a wait as long as the holder kept the lock.
        let other = builder.connect(&server.url()).await.unwrap();
        let waiting = tokio::spawn(async move { other.acquire().await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let released = guard.release().await.unwrap();
        assert!(released.owned, "{algorithm}");
        assert!(released.held >= Duration::from_millis(300), "{algorithm}: {released:?}");
        // ttl 2 s, held ~0.3 s: more than a second of the lease was left.
        let margin = released.margin.expect("the lease still ran");
        assert!(margin > Duration::from_secs(1), "{algorithm}: {released:?}");
        let next = waiting.await.unwrap().unwrap();
        assert!(next.commands() >= 2, "{algorithm}: {} commands", next.commands());
        assert!(next.waited() >= Duration::from_millis(250), "{algorithm}: {:?}", next.waited());
        next.release().await.unwrap();
    }
}

#[tokio::test]
async fn loss_says_why_the_lock_may_no_longer_be_ours() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let lock = support::builder("loss", Algorithm::Token)
        .ttl(Duration::from_millis(1000))
        .connect(&server.url())
        .await
        .unwrap();
    let guard = lock.acquire().await.unwrap();
    guard.lost().await;
    assert_eq!(guard.loss(), Some(Loss::Expired));
    let released = guard.release().await.unwrap();
    assert_eq!(released.margin, None, "no lease was left: {released:?}");
    let guard = lock.acquire().await.unwrap();
    let () = raw.del(&lock.keys().lock).await.unwrap();
    assert!(guard.extend().await.is_err());
    assert_eq!(guard.loss(), Some(Loss::Gone));
}
