//! Fences strictly increase, and the protected resource refuses an older fence.

mod support;

use std::time::Duration;

use redmutex::driver::{Connection, Timeouts};
use redmutex::{Algorithm, FencedRead, FencedResource};

#[tokio::test]
async fn fences_strictly_increase_over_a_thousand_acquisitions() {
    let server = support::server();
    let lock = support::builder("fences", Algorithm::Fenced).connect(&server.url()).await.unwrap();
    let mut last = 0;
    for _ in 0..1000 {
        let guard = lock.acquire().await.unwrap();
        let fence = guard.fence().expect("fenced locks carry a fence");
        assert!(fence > last, "fence {fence} after {last}");
        last = fence;
        guard.release().await.unwrap();
    }
}

#[tokio::test]
async fn the_resource_rejects_a_write_with_an_older_fence() {
    let server = support::server();
    let conn = Connection::open(&server.url(), Timeouts::default()).await.unwrap();
    let resource = FencedResource::new(conn.clone(), "ledger");
    let lock = support::builder("paused", Algorithm::Fenced)
        .ttl(Duration::from_millis(1000))
        .on(conn)
        .unwrap();
    let paused = lock.acquire().await.unwrap();
    paused.lost().await; // the "GC pause": our lease ran out while we were not looking
    let current = lock.acquire().await.unwrap();
    assert!(resource.write(current.fence().unwrap(), b"new").await.unwrap());
    assert!(
        !resource.write(paused.fence().unwrap(), b"stale").await.unwrap(),
        "older fence accepted"
    );
    assert_eq!(resource.read().await.unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(resource.last_fence().await.unwrap(), current.fence().unwrap());
    // The same holder may write again under its fence.
    assert!(resource.write(current.fence().unwrap(), b"newer").await.unwrap());
}

#[tokio::test]
async fn a_fenced_read_raises_the_bar_for_older_holders() {
    let server = support::server();
    let conn = Connection::open(&server.url(), Timeouts::default()).await.unwrap();
    let resource = FencedResource::new(conn.clone(), "account");
    let lock = support::builder("read-modify-write", Algorithm::Fenced)
        .ttl(Duration::from_millis(1000))
        .on(conn)
        .unwrap();
    let paused = lock.acquire().await.unwrap();
    let old = paused.fence().unwrap();
    assert_eq!(resource.read_fenced(old).await.unwrap(), FencedRead::Value(None));
    paused.lost().await;
    let current = lock.acquire().await.unwrap();
    let new = current.fence().unwrap();
    // The newer holder reads: from now on the paused one can neither read nor write, even
    // though the newer holder has not written yet.
    assert_eq!(resource.read_fenced(new).await.unwrap(), FencedRead::Value(None));
    assert!(!resource.write(old, b"stale").await.unwrap(), "a stale write slipped in");
    assert_eq!(resource.read_fenced(old).await.unwrap(), FencedRead::Refused);
    assert!(resource.write(new, b"1").await.unwrap());
    assert_eq!(resource.read_fenced(new).await.unwrap(), FencedRead::Value(Some(b"1".to_vec())));
    assert_eq!(resource.last_fence().await.unwrap(), new);
}

#[tokio::test]
async fn a_plain_write_alone_lets_a_stale_write_in_before_it() {
    // Why the read is fenced too: with an unfenced read, the newer holder's read does not
    // raise the bar, so the paused holder's write lands between that read and the write.
    let server = support::server();
    let conn = Connection::open(&server.url(), Timeouts::default()).await.unwrap();
    let resource = FencedResource::new(conn, "account");
    assert!(resource.write(1, b"0").await.unwrap());
    let _newer_reads = resource.read().await.unwrap(); // holder with fence 2, unfenced read
    assert!(resource.write(1, b"stale").await.unwrap(), "fence 1 is still the newest seen");
}
