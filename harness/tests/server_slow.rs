//! A slow server: DEBUG SLEEP and CLIENT PAUSE for a stated time.

use std::time::{Duration, Instant};

use contend::server_faults::{PauseMode, client_pause, debug_sleep};
use redis::aio::MultiplexedConnection;
use redmutex::testing::RedisServer;

async fn connect(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(10)));
    client.get_multiplexed_async_connection_with_config(&config).await.unwrap()
}

async fn timed(conn: &mut MultiplexedConnection, cmd: &redis::Cmd) -> Duration {
    let begin = Instant::now();
    let _: redis::Value = cmd.query_async(conn).await.unwrap();
    begin.elapsed()
}

#[tokio::test]
async fn debug_sleep_blocks_every_client_for_the_stated_time() {
    let server = RedisServer::start().unwrap();
    let mut conn = connect(&server.url()).await;
    let url = server.url();
    let begin = Instant::now();
    let sleeper = tokio::spawn(async move { debug_sleep(&url, Duration::from_secs(1)).await });
    // Back-to-back PINGs: the one under way when the server falls asleep waits it out.
    let mut longest = Duration::ZERO;
    while !sleeper.is_finished() {
        longest = longest.max(timed(&mut conn, &redis::cmd("PING")).await);
    }
    sleeper.await.unwrap().unwrap();
    assert!(begin.elapsed() >= Duration::from_secs(1));
    assert!(longest >= Duration::from_millis(700), "the longest PING took {longest:?}");
}

#[tokio::test]
async fn debug_sleep_on_a_server_without_debug_says_why() {
    let server = RedisServer::builder().arg("--enable-debug-command").arg("no").start().unwrap();
    let err = debug_sleep(&server.url(), Duration::from_millis(10)).await.unwrap_err();
    assert!(err.to_string().contains("--enable-debug-command local"), "{err}");
}

#[tokio::test]
async fn client_pause_holds_writes_and_lets_reads_through() {
    let server = RedisServer::start().unwrap();
    let mut conn = connect(&server.url()).await;
    let get = redis::cmd("GET").arg("k").clone();
    let unpaused = timed(&mut conn, &get).await;

    client_pause(&server.url(), Duration::from_secs(1), PauseMode::Write).await.unwrap();
    let read = timed(&mut conn, &get).await;
    let write = timed(&mut conn, redis::cmd("SET").arg("k").arg("v")).await;
    assert!(write >= Duration::from_millis(700), "the SET took {write:?}");
    assert!(write > 2 * read && write > 2 * unpaused, "{unpaused:?} {read:?} {write:?}");

    client_pause(&server.url(), Duration::from_secs(1), PauseMode::All).await.unwrap();
    let read = timed(&mut conn, &get).await;
    assert!(read >= Duration::from_millis(700), "the GET took {read:?}");
}
