//! What dropping a guard, or an acquire future mid-flight, leaves behind.

mod support;

use std::time::Duration;

use redis::AsyncCommands;
use redmutex::Algorithm;

#[tokio::test]
async fn dropping_a_guard_releases_the_lock_in_the_background() {
    let server = support::server();
    for algorithm in Algorithm::ALL {
        // The ttl is far beyond the wait timeout: only the background release frees the lock.
        let lock = support::builder("drop", algorithm)
            .ttl(Duration::from_secs(60))
            .wait_timeout(Duration::from_secs(20))
            .connect(&server.url())
            .await
            .unwrap();
        drop(lock.acquire().await.unwrap());
        let again = lock.acquire().await.expect("the dropped guard's lock was released");
        again.release().await.unwrap();
    }
}

#[tokio::test]
async fn a_cancelled_acquire_leaves_at_worst_a_key_that_lives_until_its_ttl() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let ttl = Duration::from_millis(1500);
    for algorithm in Algorithm::ALL {
        let lock = support::builder("cancel", algorithm)
            .ttl(ttl)
            .wait_timeout(ttl + Duration::from_secs(5))
            .connect(&server.url())
            .await
            .unwrap();
        // Cancel attempts at many points: before sending, in flight, after the reply.
        for micros in [0u64, 10, 30, 60, 100, 200, 400, 800] {
            let _ = tokio::time::timeout(Duration::from_micros(micros), lock.acquire()).await;
            // Whatever the cancelled attempt took is released in the background or expires:
            // a new acquire within ttl + slack must succeed.
            let guard = lock.acquire().await.expect("lock stuck after a cancelled acquire");
            let value: Option<String> = raw.get(&lock.keys().lock).await.unwrap();
            assert_eq!(value.as_deref(), Some(guard.token()), "{algorithm}");
            guard.release().await.unwrap();
        }
    }
}
