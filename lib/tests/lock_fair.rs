//! `fair` on a real server: blocked waiters get the lock in the order they queued, a free lock
//! goes to the queue's head rather than to a newcomer, and neither a cancelled waiter nor a
//! dead one holds the queue up past the stated bound.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redmutex::algo::Protocol;
use redmutex::{Algorithm, Lock, scripts};

/// A lock whose ttl no test waits for: only a release or a hand-off can move it.
fn patient(name: &str) -> redmutex::LockBuilder {
    support::builder(name, Algorithm::Fair)
        .ttl(Duration::from_secs(60))
        .wait_timeout(Duration::from_secs(20))
}

/// Waits until the waiters list holds `n` tokens (each waiter queues in its first command).
async fn until_queued(raw: &mut redis::aio::MultiplexedConnection, lock: &Lock, n: i64) {
    let started = Instant::now();
    loop {
        let queued: i64 = raw.llen(&lock.keys().waiters).await.unwrap();
        if queued == n {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{queued} queued, not {n}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn blocked_waiters_get_the_lock_in_the_order_they_queued() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let builder = patient("order");
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let held = holder.acquire().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut waiting = Vec::new();
    for i in 0..5 {
        let waiter = builder.clone().connect(&server.url()).await.unwrap();
        let order = order.clone();
        waiting.push(tokio::spawn(async move {
            let guard = waiter.acquire().await.expect("every waiter gets the lock in turn");
            order.lock().unwrap().push(i);
            assert!(guard.release().await.unwrap().owned);
        }));
        // The next waiter comes only once this one is queued: arrival order is known.
        until_queued(&mut raw, &holder, i + 1).await;
    }
    assert!(held.release().await.unwrap().owned);
    for w in waiting {
        w.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

/// The lock vanishes under its holder (as when its lease expires) while a waiter is queued: a
/// newcomer must not take it, and the waiter gets it without waiting for its `BLPOP` to end.
#[tokio::test]
async fn a_newcomer_does_not_take_a_free_lock_while_someone_waits() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let builder = patient("barge");
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let waiter = builder.clone().connect(&server.url()).await.unwrap();
    let newcomer = builder.connect(&server.url()).await.unwrap();
    let held = holder.acquire().await.unwrap();
    let waiting = tokio::spawn(async move { waiter.acquire().await });
    until_queued(&mut raw, &holder, 1).await;
    let _: i64 = raw.del(&holder.keys().lock).await.unwrap();
    std::mem::forget(held);
    let tried = newcomer.try_acquire().await.unwrap();
    assert!(tried.is_none(), "the newcomer took the lock past a queued waiter");
    let started = Instant::now();
    let guard = waiting.await.unwrap().expect("the queued waiter gets the free lock");
    // Its `BLPOP` runs up to half a ttl (30 s): the newcomer's script handed the lock over.
    assert!(started.elapsed() < Duration::from_secs(10), "woken after {:?}", started.elapsed());
    assert!(guard.release().await.unwrap().owned);
}

#[tokio::test]
async fn a_cancelled_waiter_does_not_block_the_queue() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let builder = patient("cancel");
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let first = builder.clone().connect(&server.url()).await.unwrap();
    let second = builder.clone().wait_timeout(Duration::from_secs(5));
    let second = second.connect(&server.url()).await.unwrap();
    let held = holder.acquire().await.unwrap();
    let cancelled = tokio::spawn(async move { first.acquire().await });
    until_queued(&mut raw, &holder, 1).await;
    let waiting = tokio::spawn(async move { second.acquire().await });
    until_queued(&mut raw, &holder, 2).await;
    cancelled.abort();
    // `Lock`'s clean-up withdraws the cancelled acquire from the queue in the background.
    until_queued(&mut raw, &holder, 1).await;
    assert!(held.release().await.unwrap().owned);
    // With the cancelled waiter still queued and marked, the lock would go to it for 60 s and
    // the second waiter would time out after its 5 s.
    let guard = waiting.await.unwrap().expect("the waiter behind a cancelled one gets the lock");
    assert!(guard.release().await.unwrap().owned);
}

/// A waiter that dies in the queue without any clean-up (here: its first acquire script, run by
/// hand, as a killed process leaves it) keeps its place only until its alive mark expires,
/// within `dead_waiter_window` of its last look; after that a release skips it.
#[tokio::test]
async fn a_dead_waiters_place_expires_within_the_stated_bound() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let builder = patient("dead");
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let live = builder.clone().wait_timeout(Duration::from_secs(5));
    let live = live.connect(&server.url()).await.unwrap();
    let held = holder.acquire().await.unwrap();
    let keys = holder.keys().clone();
    // The dead waiter's ttl: its mark lasts that long after its only look.
    let ttl = Duration::from_millis(400);
    let token = "dead-waiter";
    let signal = [keys.signal.as_slice(), b":", token.as_bytes()].concat();
    let looked = Instant::now();
    let reply: redis::Value = redis::cmd("EVAL")
        .arg(scripts::FAIR_ACQUIRE.source)
        .arg(4)
        .arg(&keys.lock)
        .arg(&keys.waiters)
        .arg(&signal)
        .arg(&keys.signal)
        .arg(token)
        .arg(ttl.as_millis().to_string())
        .arg("1")
        .arg(ttl.as_millis().to_string())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(matches!(reply, redis::Value::Array(_)), "{reply:?}");
    let waiting = tokio::spawn(async move { live.acquire().await });
    until_queued(&mut raw, &holder, 2).await;
    let mark = [signal.as_slice(), b":alive"].concat();
    let bound = redmutex::algo::Fair.dead_waiter_window(ttl) + Duration::from_secs(1);
    loop {
        let exists: i64 = raw.exists(&mark).await.unwrap();
        if exists == 0 {
            break;
        }
        assert!(looked.elapsed() < bound, "the dead waiter is still marked after {bound:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(held.release().await.unwrap().owned);
    let guard = waiting.await.unwrap().expect("the live waiter behind a dead one gets the lock");
    assert!(guard.release().await.unwrap().owned);
    let queued: i64 = raw.llen(&keys.waiters).await.unwrap();
    assert_eq!(queued, 0, "the dead waiter was dropped from the queue");
}
