//! Fences strictly increase, and the protected resource refuses an older fence.

mod support;

use std::time::Duration;

use redmutex::driver::{Connection, Timeouts};
use redmutex::{Algorithm, FencedResource};

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
