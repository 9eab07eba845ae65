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

/// The ttl (60 s) is far beyond the next acquire's wait (1 s): only the cancelled attempt's
/// clean-up can free what it took. Before that clean-up worked for `notify` hand-offs, and when
/// it was only checked against a key that simply expired, this could not fail.
#[tokio::test]
async fn a_cancelled_acquire_leaves_the_lock_free_at_once() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    for algorithm in Algorithm::ALL {
        let lock = support::builder("cancel", algorithm)
            .ttl(Duration::from_secs(60))
            .wait_timeout(Duration::from_secs(1))
            .connect(&server.url())
            .await
            .unwrap();
        // Cancel attempts at many points: before sending, in flight, after the reply.
        for micros in [0u64, 10, 30, 60, 100, 200, 400, 800] {
            let _ = tokio::time::timeout(Duration::from_micros(micros), lock.acquire()).await;
            let guard = lock.acquire().await.expect("lock stuck after a cancelled acquire");
            let value: Option<String> = raw.get(&lock.keys().lock).await.unwrap();
            assert_eq!(value.as_deref(), Some(guard.token()), "{algorithm}");
            guard.release().await.unwrap();
        }
    }
}

/// A `notify` waiter dropped after a release handed it the lock, before it read the answer:
/// its clean-up passes the lock on, so the next acquire gets it within its 1 s wait, though the
/// ttl is 60 s. Before hand-offs were stored under the waiter's own token, the lock stayed
/// taken for the whole ttl.
#[tokio::test]
async fn a_hand_off_to_a_dropped_waiter_is_passed_on() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let builder = support::builder("dropped-waiter", Algorithm::Notify)
        .ttl(Duration::from_secs(60))
        .wait_timeout(Duration::from_secs(30));
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let waiter = builder.clone().connect(&server.url()).await.unwrap();
    let held = holder.acquire().await.unwrap();
    // Boxed, so that dropping it drops the future (a `pin!`ned one lives to the scope's end).
    let mut waiting = Box::pin(waiter.acquire());
    // Drive the waiter until it is queued and blocked in `BLPOP`, then stop polling it.
    loop {
        if tokio::time::timeout(Duration::from_millis(5), &mut waiting).await.is_ok() {
            panic!("the waiter got a held lock");
        }
        let queued: i64 = raw.llen(&holder.keys().waiters).await.unwrap();
        if queued == 1 && blocked_clients(&mut raw).await == 1 {
            break;
        }
    }
    // The hand-off reaches the waiter's connection; the waiter never reads it, and is dropped.
    assert!(held.release().await.unwrap().owned);
    let value: Option<String> = raw.get(&holder.keys().lock).await.unwrap();
    assert!(value.is_some(), "the release handed the lock over");
    drop(waiting);
    let next = builder.wait_timeout(Duration::from_secs(1)).connect(&server.url()).await.unwrap();
    let guard = next.acquire().await.expect("the hand-off to the dropped waiter was lost");
    assert!(guard.release().await.unwrap().owned);
}

async fn blocked_clients(raw: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO").arg("clients").query_async(raw).await.unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A guard dropped where no tokio runtime runs cannot release in the background: the key is
/// left, but with the lock's ttl, and goes when it runs out — never later.
#[test]
fn a_guard_dropped_without_a_runtime_leaves_a_key_that_lives_until_its_ttl_not_longer() {
    let server = support::server();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ttl = Duration::from_millis(1500);
    let (guard, key) = rt.block_on(async {
        let lock = redmutex::Lock::builder("orphan").ttl(ttl).connect(&server.url()).await.unwrap();
        let guard = lock.acquire().await.unwrap();
        (guard, lock.keys().lock.clone())
    });
    drop(rt);
    let dropped = std::time::Instant::now();
    drop(guard);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut raw = support::raw(&server).await;
        let pttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut raw).await.unwrap();
        assert!(pttl > 0 && pttl <= 1500, "the orphaned key's PTTL is {pttl}");
        // It goes by itself within its ttl (plus a margin for a slow machine's expiry cycle).
        loop {
            let exists: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut raw).await.unwrap();
            if exists == 0 {
                break;
            }
            assert!(dropped.elapsed() < ttl + Duration::from_secs(2), "the key outlived its ttl");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}
