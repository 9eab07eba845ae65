//! A broken connection is replaced on the next command: after the server drops every client,
//! a retry works on the same `Lock`, as `Error::Redis` advises.

mod support;

use redmutex::{Algorithm, Error};

#[tokio::test]
async fn a_lock_recovers_after_its_connection_is_dropped() {
    if !redmutex::testing::available() {
        eprintln!("skipped: no redis-server");
        return;
    }
    let server = support::server();
    for algorithm in Algorithm::ALL {
        let lock = support::builder("reconnect", algorithm).connect(&server.url()).await.unwrap();
        let guard = lock.acquire().await.expect("acquire");
        assert!(guard.release().await.expect("release").owned);
        // The server closes every other client's connection, the lock's included.
        let mut admin = support::raw(&server).await;
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .query_async(&mut admin)
            .await
            .expect("CLIENT KILL");
        assert!(killed >= 1, "the lock's connection was not killed");
        // The first command may fail in transit; the next one runs on a fresh connection.
        let mut result = lock.acquire().await;
        if let Err(Error::Redis(e)) = &result {
            eprintln!("{algorithm:?}: first try after the kill failed as expected: {e}");
            result = lock.acquire().await;
        }
        let guard = result.unwrap_or_else(|e| panic!("{algorithm:?}: no recovery: {e}"));
        assert!(guard.release().await.expect("release after the reconnect").owned);
    }
}
