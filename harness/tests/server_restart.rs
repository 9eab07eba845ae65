//! Restarts of a harness-owned server with each persistence mode.

use std::time::{Duration, Instant};

use contend::server_faults::{Crash, Persistence, RestartableServer};
use redis::aio::MultiplexedConnection;

async fn connect(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(5)));
    client.get_multiplexed_async_connection_with_config(&config).await.unwrap()
}

async fn set(conn: &mut MultiplexedConnection, key: &str) {
    let _: () = redis::cmd("SET").arg(key).arg("v").query_async(conn).await.unwrap();
}

async fn exists(url: &str, key: &str) -> bool {
    let mut conn = connect(url).await;
    redis::cmd("EXISTS").arg(key).query_async::<i64>(&mut conn).await.unwrap() == 1
}

#[tokio::test]
async fn without_persistence_a_restart_forgets_the_key() {
    for how in [Crash::Sigkill, Crash::ShutdownNosave] {
        let mut server = RestartableServer::start(Persistence::None, &[]).unwrap();
        let port = server.port();
        let mut conn = connect(&server.url()).await;
        set(&mut conn, "lock").await;
        server.restart(how, Duration::ZERO).unwrap();
        assert_eq!(server.port(), port);
        assert!(!exists(&server.url(), "lock").await, "{how:?}: the key should be gone");
        let err = redis::cmd("PING").query_async::<String>(&mut conn).await.unwrap_err();
        assert!(
            err.is_io_error() || err.is_connection_dropped() || err.is_unrecoverable_error(),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn with_aof_always_a_key_written_just_before_a_crash_survives() {
    for how in [Crash::Sigkill, Crash::ShutdownNosave] {
        let mut server = RestartableServer::start(Persistence::AofAlways, &[]).unwrap();
        let mut conn = connect(&server.url()).await;
        set(&mut conn, "lock").await;
        server.crash(how).unwrap();
        assert!(!server.is_up());
        assert!(redmutex::testing::ping(server.port()).is_err(), "down means down");
        server.start_again().unwrap();
        assert!(exists(&server.url(), "lock").await, "{how:?}: the key should survive");
    }
}

#[tokio::test]
async fn with_rdb_a_key_survives_once_a_snapshot_holds_it() {
    let mut server = RestartableServer::start(Persistence::Rdb, &[]).unwrap();
    let mut conn = connect(&server.url()).await;
    set(&mut conn, "lock").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String =
            redis::cmd("INFO").arg("persistence").query_async(&mut conn).await.unwrap();
        if info.contains("rdb_changes_since_last_save:0")
            && info.contains("rdb_bgsave_in_progress:0")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no snapshot within 10 s:\n{info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.restart(Crash::Sigkill, Duration::ZERO).unwrap();
    assert!(exists(&server.url(), "lock").await);
}

#[tokio::test]
async fn each_mode_is_what_the_server_runs_with() {
    for mode in Persistence::ALL {
        let server = RestartableServer::start(mode, &[]).unwrap();
        let mut conn = connect(&server.url()).await;
        let get = |name: &'static str| redis::cmd("CONFIG").arg("GET").arg(name).clone();
        let (_, save): (String, String) = get("save").query_async(&mut conn).await.unwrap();
        let (_, aof): (String, String) = get("appendonly").query_async(&mut conn).await.unwrap();
        let (_, fsync): (String, String) = get("appendfsync").query_async(&mut conn).await.unwrap();
        let want = match mode {
            Persistence::None => ("", "no"),
            Persistence::Rdb => ("1 1", "no"),
            Persistence::AofEverysec | Persistence::AofAlways => ("", "yes"),
        };
        assert_eq!((save.as_str(), aof.as_str()), want, "{mode}");
        if mode == Persistence::AofAlways {
            assert_eq!(fsync, "always");
        } else if mode == Persistence::AofEverysec {
            assert_eq!(fsync, "everysec");
        }
    }
}

#[tokio::test]
async fn through_the_proxy_a_restart_resets_clients_and_new_connections_reach_the_new_server() {
    let mut server = RestartableServer::start(Persistence::AofAlways, &[]).unwrap();
    let proxy = contend::proxy::Proxy::start(([127, 0, 0, 1], server.port()).into()).unwrap();
    let mut conn = connect(&proxy.url()).await;
    set(&mut conn, "lock").await;

    server.crash(Crash::Sigkill).unwrap();
    let err =
        redis::cmd("GET").arg("lock").query_async::<Option<String>>(&mut conn).await.unwrap_err();
    assert!(!err.is_timeout(), "the client sees the crash at once: {err:?}");
    // While the server is down, a new client is turned away, not left hanging.
    let client = redis::Client::open(proxy.url()).unwrap();
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(5)));
    assert!(client.get_multiplexed_async_connection_with_config(&config).await.is_err());

    server.start_again().unwrap();
    assert!(
        exists(&proxy.url(), "lock").await,
        "through the proxy, the restarted server has the key"
    );
    drop(proxy);
}
