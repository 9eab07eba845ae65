//! `notify` counts each waiter once per wait and forgets it when it stops waiting, so a release
//! never hands the lock to nobody and nothing is left on the server.

mod support;

use std::time::Duration;

use redis::AsyncCommands;
use redmutex::algo::Rng;
use redmutex::{Algorithm, Lock};

async fn keys_left(raw: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    redis::cmd("KEYS").arg("*").query_async(raw).await.unwrap()
}

/// Before exact accounting, a waiter that timed out stayed counted, and the next release handed
/// the lock to a fresh token nobody waited for: the lock stayed taken for a whole ttl.
#[tokio::test]
async fn a_waiter_that_timed_out_is_not_handed_the_lock() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let builder = support::builder("gave-up", Algorithm::Notify).ttl(Duration::from_secs(30));
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let waiter =
        builder.wait_timeout(Duration::from_millis(300)).connect(&server.url()).await.unwrap();
    let held = holder.acquire().await.unwrap();
    let err = waiter.acquire().await.expect_err("the lock is held for 30 s");
    assert!(matches!(err, redmutex::Error::Timeout(_)), "{err}");
    let queued: i64 = raw.llen(&waiter.keys().waiters).await.unwrap();
    assert_eq!(queued, 0, "a waiter that gave up is still queued");
    assert!(held.release().await.unwrap().owned);
    let lock: Option<String> = raw.get(&holder.keys().lock).await.unwrap();
    assert_eq!(lock, None, "the release handed the lock to a waiter that had given up");
    assert_eq!(keys_left(&mut raw).await, Vec::<String>::new());
}

/// A waiter whose `BLPOP` runs out while the holder extends looks again, several times, and is
/// still queued once; when the holder releases, the waiter gets the lock and nothing is left.
#[tokio::test]
async fn a_waiter_looking_again_is_queued_once() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let builder = support::builder("relook", Algorithm::Notify).ttl(Duration::from_secs(1));
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let waiter =
        builder.wait_timeout(Duration::from_secs(20)).connect(&server.url()).await.unwrap();
    let held = holder.acquire().await.unwrap();
    let waiting = tokio::spawn(async move { waiter.acquire().await });
    // The waiter blocks for at most half a ttl at a time: over 2 s it looks again 3-4 times.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        held.extend().await.unwrap();
    }
    let queued: Vec<String> = raw.lrange(&holder.keys().waiters, 0, -1).await.unwrap();
    assert_eq!(queued.len(), 1, "the waiter is queued {} times: {queued:?}", queued.len());
    assert!(held.release().await.unwrap().owned);
    let guard = waiting.await.unwrap().expect("the waiter gets the lock on release");
    assert_eq!(queued[0], guard.token(), "handed over under the waiter's own token");
    assert!(guard.release().await.unwrap().owned);
    assert_eq!(keys_left(&mut raw).await, Vec::<String>::new());
}

/// Random tasks: some give up on a short wait timeout, some are cancelled from outside, the
/// rest wait and get hand-offs. Afterwards no waiter is queued and no key is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_timeouts_cancellations_and_hand_offs_nothing_is_left() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let builder = support::builder("mix", Algorithm::Notify);
    let patient = builder.clone().connect(&server.url()).await.unwrap();
    let hasty =
        builder.wait_timeout(Duration::from_millis(5)).connect(&server.url()).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..6u64 {
        let lock: Lock = if t % 2 == 0 { patient.clone() } else { hasty.clone() };
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(t);
            let (mut won, mut timed_out) = (0u32, 0u32);
            for _ in 0..60 {
                let acquire = lock.acquire();
                let got = if rng.below(3) == 0 {
                    let deadline = Duration::from_micros(100 + rng.below(5_000));
                    tokio::time::timeout(deadline, acquire).await.ok()
                } else {
                    Some(acquire.await)
                };
                match got {
                    Some(Ok(guard)) => {
                        won += 1;
                        tokio::time::sleep(Duration::from_micros(rng.below(3_000))).await;
                        assert!(guard.release().await.unwrap().owned);
                    }
                    Some(Err(redmutex::Error::Timeout(_))) => timed_out += 1,
                    Some(Err(e)) => panic!("{e}"),
                    None => {}
                }
            }
            (won, timed_out)
        }));
    }
    let (mut won, mut timed_out) = (0, 0);
    // Under a second when hand-offs work; a hand-off lost to a cancelled waiter stalls everyone
    // for a 2 s ttl, again and again.
    let all = tokio::time::timeout(Duration::from_secs(30), futures_util::future::join_all(tasks));
    let results = all.await.expect("the lock kept getting stuck: hand-offs were lost");
    for result in results {
        let (w, t) = result.unwrap();
        won += w;
        timed_out += t;
    }
    eprintln!("{won} acquisitions, {timed_out} timeouts");
    assert!(won > 0 && timed_out > 0, "the mix must have both: {won} won, {timed_out} timed out");
    // Cancelled acquires are cleaned up in the background: give them a moment, well under the
    // 2 s ttl, so that a leaked key cannot simply expire meanwhile.
    let mut left = keys_left(&mut raw).await;
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = keys_left(&mut raw).await;
    }
    assert_eq!(left, Vec::<String>::new());
}
