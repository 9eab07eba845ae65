//! `LockBuilder::replicas`: after acquiring, `WAIT` for replicas; too few, and the lock is
//! released and the acquire fails.

mod support;

use std::time::{Duration, Instant};

use redmutex::testing::RedisServer;
use redmutex::{Algorithm, Error, Lock};

/// A replica of `primary`, once its link to the primary is up.
async fn replica_of(primary: &RedisServer) -> RedisServer {
    let replica = RedisServer::builder()
        .arg("--replicaof")
        .arg("127.0.0.1")
        .arg(primary.port().to_string())
        .start()
        .expect("start a replica (apt-get install redis-server)");
    let mut raw = support::raw(&replica).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info: String =
            redis::cmd("INFO").arg("replication").query_async(&mut raw).await.unwrap();
        if info.contains("master_link_status:up") {
            return replica;
        }
        assert!(Instant::now() < deadline, "the replica never linked up:\n{info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn with_a_replica_the_acquire_waits_for_it_and_the_replica_has_the_lock() {
    let primary = support::server();
    let replica = replica_of(&primary).await;
    for algorithm in Algorithm::ALL {
        let lock = Lock::builder("replicated")
            .algorithm(algorithm)
            .ttl(Duration::from_secs(10))
            .replicas(1, Duration::from_secs(2))
            .connect(&primary.url())
            .await
            .unwrap();
        let guard = lock.acquire().await.unwrap();
        // WAIT answered: the replica already has the key, before anyone reads it there.
        let mut on_replica = support::raw(&replica).await;
        let held: Option<String> =
            redis::cmd("GET").arg(&lock.keys().lock).query_async(&mut on_replica).await.unwrap();
        assert_eq!(held.as_deref(), Some(guard.token()), "{algorithm:?}");
        guard.release().await.unwrap();
    }
}

#[tokio::test]
async fn without_enough_replicas_the_lock_is_released_and_the_acquire_fails() {
    let alone = support::server();
    let lock = Lock::builder("unreplicated")
        .ttl(Duration::from_secs(10))
        .replicas(1, Duration::from_millis(200))
        .connect(&alone.url())
        .await
        .unwrap();
    let err = lock.acquire().await.unwrap_err();
    assert!(matches!(err, Error::NotReplicated { acked: 0, wanted: 1, .. }), "{err:?}: {err}");
    assert!(err.to_string().contains("0 of 1 replicas"), "{err}");
    // Released at once, not left to its ttl: the next acquire needs no replica and wins.
    let other = Lock::builder("unreplicated").connect(&alone.url()).await.unwrap();
    assert!(other.try_acquire().await.unwrap().is_some(), "the unreplicated lock was kept");
}

#[tokio::test]
async fn a_replicas_setting_that_would_block_is_refused() {
    let server = support::server();
    for (n, timeout) in
        [(0, Duration::from_millis(100)), (1, Duration::ZERO), (1, Duration::from_secs(60))]
    {
        let err = Lock::builder("r")
            .ttl(Duration::from_secs(10))
            .replicas(n, timeout)
            .connect(&server.url())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{n} {timeout:?}: {err}");
    }
}
