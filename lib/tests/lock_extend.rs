//! Extend, `lost()`, and auto-renewal.

mod support;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redmutex::{Algorithm, Error};

#[tokio::test]
async fn extend_moves_the_deadline_and_fails_after_loss() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    for algorithm in Algorithm::ALL {
        let lock = support::builder("extend", algorithm)
            .ttl(Duration::from_millis(1000))
            .connect(&server.url())
            .await
            .unwrap();
        let guard = lock.acquire().await.unwrap();
        let first = guard.valid_until().unwrap();
        // Let half the ttl pass, so that the server's PTTL shows whether the extend reached it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        guard.extend().await.unwrap();
        let pttl: i64 = raw.pttl(&lock.keys().lock).await.unwrap();
        assert!(pttl > 700, "{algorithm}: the server's pttl after an extend is {pttl} ms");
        assert!(
            guard.valid_until().unwrap() >= first,
            "{algorithm}: extend moved the deadline back"
        );
        guard.lost().await;
        let other = lock.acquire().await.unwrap();
        let err = guard.extend().await.unwrap_err();
        assert!(matches!(err, Error::Lost(_)), "{algorithm}: {err}");
        assert!(guard.valid_until().is_none(), "{algorithm}: a failed extend marks the guard lost");
        assert!(other.release().await.unwrap().owned);
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
    let ttl = Duration::from_millis(1500);
    let lock = support::builder("renew", Algorithm::Notify)
        .ttl(ttl)
        .auto_renew(1000)
        .connect(&server.url())
        .await
        .unwrap();
    let guard = lock.acquire().await.unwrap();
    // Two ttls later the key is still ours and alive on the server: only renewals can do that.
    tokio::time::sleep(ttl * 2).await;
    let value: Option<String> = raw.get(&lock.keys().lock).await.unwrap();
    assert_eq!(value.as_deref(), Some(guard.token()), "the renewed key is gone");
    assert!(guard.is_valid());
    // Now take the lock away: the next renewal must say so instead of hiding it.
    let () = raw.del(&lock.keys().lock).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), guard.lost()).await.expect("loss not signalled");
    assert!(guard.valid_until().is_none());
}

/// `auto_renew(n)` renews at most `n` times: after that the lease runs out as usual.
#[tokio::test]
async fn auto_renewal_stops_after_its_count() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let ttl = Duration::from_millis(1500);
    let lock = support::builder("renew-twice", Algorithm::Token)
        .ttl(ttl)
        .auto_renew(2)
        .connect(&server.url())
        .await
        .unwrap();
    let acquired = Instant::now();
    let guard = lock.acquire().await.unwrap();
    // Renewals at ttl/3 and 2ttl/3 keep the key until 2ttl/3 + ttl = 2.5 s; unlimited renewals
    // would keep it for ever, none would let it go at 1.5 s.
    tokio::time::timeout(Duration::from_secs(30), guard.lost()).await.expect("lost never fired");
    let lasted = acquired.elapsed();
    assert!(lasted > Duration::from_millis(2000), "the lease ended after {lasted:?}: no renewals");
    let held_for = Instant::now();
    let gone = async {
        while raw.exists::<_, bool>(&lock.keys().lock).await.unwrap() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone).await.expect("renewals went on");
    assert!(held_for.elapsed() < ttl, "the key outlived the last renewal's lease");
    drop(guard);
}
