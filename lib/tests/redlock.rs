//! `Redlock` on three real servers: majority, minority down, release everywhere, validity.

mod support;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redmutex::proto::Command;
use redmutex::testing::RedisServer;
use redmutex::{Error, Redlock, RedlockBuilder};

const TTL: Duration = Duration::from_secs(10);
/// Generous for a loaded test machine; the slow servers below stay silent far longer.
const SERVER_TIMEOUT: Duration = Duration::from_millis(500);

fn three() -> Vec<RedisServer> {
    (0..3).map(|_| support::server()).collect()
}

fn urls(servers: &[RedisServer]) -> Vec<String> {
    servers.iter().map(RedisServer::url).collect()
}

fn builder(name: &str) -> RedlockBuilder {
    Redlock::builder(name)
        .ttl(TTL)
        .wait_timeout(Duration::from_secs(5))
        .server_timeout(SERVER_TIMEOUT)
}

/// The lock key's value on each server (`None` for a server that is down).
async fn values(servers: &[RedisServer], lock: &Redlock) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for server in servers {
        let value = match server.pid() {
            Some(_) => support::raw(server).await.get(&lock.keys().lock).await.unwrap(),
            None => None,
        };
        out.push(value);
    }
    out
}

/// Pauses every client of `server` for `ms`; answered at once, so the pause has begun when
/// this returns.
async fn pause(server: &RedisServer, ms: u64) {
    let mut raw = support::raw(server).await;
    let () = redis::cmd("CLIENT").arg("PAUSE").arg(ms).query_async(&mut raw).await.unwrap();
}

#[tokio::test]
async fn acquire_then_release_leaves_no_key_on_any_server() {
    let servers = three();
    let lock = builder("basic").connect(urls(&servers)).await.unwrap();
    assert_eq!(lock.quorum(), 2);
    let guard = lock.acquire().await.unwrap();
    let token = Some(guard.token().to_string());
    assert_eq!(values(&servers, &lock).await, [token.clone(), token.clone(), token]);
    assert!(guard.is_valid());
    let released = guard.release().await.unwrap();
    assert!(released.owned);
    assert_eq!(values(&servers, &lock).await, [None, None, None]);
}

#[tokio::test]
async fn with_one_server_killed_acquisitions_keep_completing() {
    let mut servers = three();
    let lock = builder("one-down").connect(urls(&servers)).await.unwrap();
    servers[1].kill();
    for _ in 0..5 {
        let guard = lock.acquire().await.expect("a majority is up");
        guard.extend().await.expect("a majority extends");
        assert!(guard.release().await.unwrap().owned);
    }
}

#[tokio::test]
async fn with_two_servers_killed_no_one_acquires() {
    let mut servers = three();
    let lock = builder("two-down")
        .wait_timeout(Duration::from_millis(300))
        .connect(urls(&servers))
        .await
        .unwrap();
    servers[0].kill();
    servers[2].kill();
    for result in [lock.try_acquire().await.map(|_| ()), lock.acquire().await.map(|_| ())] {
        let Err(Error::NoQuorum { op, answered, needed, servers: n, why }) = result else {
            panic!("{result:?}")
        };
        assert_eq!((op, answered, needed, n), ("acquire", 1, 2, 3));
        assert!(why.contains("server 0") || why.contains("server 2"), "{why}");
    }
    assert_eq!(values(&servers, &lock).await, [None, None, None], "the lone grant was released");
}

#[tokio::test]
async fn five_servers_tolerate_two_down_but_not_three() {
    let mut servers: Vec<RedisServer> = (0..5).map(|_| support::server()).collect();
    let lock = builder("five")
        .wait_timeout(Duration::from_millis(300))
        .connect(urls(&servers))
        .await
        .unwrap();
    assert_eq!(lock.quorum(), 3);
    servers[0].kill();
    servers[3].kill();
    let guard = lock.acquire().await.expect("three of five are up");
    assert!(guard.release().await.unwrap().owned);
    servers[4].kill();
    let result = lock.acquire().await.map(|_| ());
    assert!(matches!(result, Err(Error::NoQuorum { answered: 2, needed: 3, .. })), "{result:?}");
}

#[tokio::test]
async fn a_second_client_cannot_acquire_while_the_first_holds() {
    let servers = three();
    let first = builder("exclusion").connect(urls(&servers)).await.unwrap();
    let second = builder("exclusion")
        .wait_timeout(Duration::from_millis(300))
        .connect(urls(&servers))
        .await
        .unwrap();
    let held = first.acquire().await.unwrap();
    assert!(second.try_acquire().await.unwrap().is_none());
    assert!(matches!(second.acquire().await, Err(Error::Timeout(_))));
    let token = Some(held.token().to_string());
    assert_eq!(values(&servers, &first).await, [token.clone(), token.clone(), token]);
    assert!(held.release().await.unwrap().owned);
    let next = second.acquire().await.unwrap();
    next.release().await.unwrap();
}

#[tokio::test]
async fn the_validity_shrinks_by_the_time_the_servers_took() {
    let servers = three();
    let lock = builder("validity").connect(urls(&servers)).await.unwrap();
    // Two of three answer only after 300 ms: the majority is late, within the server timeout.
    pause(&servers[0], 300).await;
    pause(&servers[1], 300).await;
    let guard = lock.acquire().await.unwrap();
    let answered = Instant::now();
    let took = answered - guard.acquired_at();
    assert!(took >= Duration::from_millis(250), "the pause did not slow the acquire: {took:?}");
    let valid_until = guard.valid_until().unwrap();
    assert_eq!(valid_until - guard.acquired_at(), TTL - lock.drift());
    assert!(valid_until - answered <= TTL - lock.drift() - Duration::from_millis(250));
    guard.release().await.unwrap();
}

/// Server 2 is paused through the acquire: the acquire wins on 0 and 1 and gives up on 2 after
/// the server timeout, but its `SET` is queued there and runs when the pause ends. The release
/// must still go to 2, to delete that key once it wakes.
#[tokio::test]
async fn the_release_reaches_a_server_that_did_not_answer_the_acquire() {
    let servers = three();
    let lock = builder("slow-one").connect(urls(&servers)).await.unwrap();
    pause(&servers[2], 2_000).await;
    let guard = lock.acquire().await.unwrap();
    assert!(guard.waited() >= SERVER_TIMEOUT, "server 2 answered: {:?}", guard.waited());
    assert!(guard.release().await.unwrap().owned);
    // The lock's own connection to server 2 answers in order: once this PING is answered,
    // the queued SET and the release after it have both run.
    let ping = lock.connections()[2].exec(&Command::Ping).await.unwrap();
    assert!(ping.is_ok() || ping == redmutex::proto::Reply::Status("PONG".into()));
    assert_eq!(values(&servers, &lock).await, [None, None, None]);
}

/// The ttl (60 s) is far beyond the next acquire's wait (5 s): only the dropped attempt's
/// clean-up can free what it took.
#[tokio::test]
async fn a_dropped_acquire_leaves_the_lock_free() {
    let servers = three();
    let lock =
        builder("dropped").ttl(Duration::from_secs(60)).connect(urls(&servers)).await.unwrap();
    for micros in [0u64, 20, 50, 100, 200, 400, 800, 1_600] {
        let _ = tokio::time::timeout(Duration::from_micros(micros), lock.acquire()).await;
        let guard = lock.acquire().await.expect("lock stuck after a dropped acquire");
        let token = guard.token().to_string();
        let holding = values(&servers, &lock).await;
        let ours = holding.iter().filter(|v| v.as_deref() == Some(token.as_str())).count();
        assert!(ours >= lock.quorum(), "{holding:?}");
        guard.release().await.unwrap();
    }
}

#[tokio::test]
async fn an_extend_finds_the_lock_lost_once_a_majority_forgot_it() {
    let servers = three();
    let lock = builder("extend").connect(urls(&servers)).await.unwrap();
    let guard = lock.acquire().await.unwrap();
    let before = guard.valid_until().unwrap();
    guard.extend().await.unwrap();
    assert!(guard.valid_until().unwrap() > before);
    for server in &servers[..2] {
        let () = support::raw(server).await.del(&lock.keys().lock).await.unwrap();
    }
    assert!(matches!(guard.extend().await, Err(Error::Lost(_))));
    assert!(!guard.is_valid());
    assert!(!guard.release().await.unwrap().owned);
    assert_eq!(values(&servers, &lock).await, [None, None, None]);
}

#[tokio::test]
async fn a_single_server_connection_refuses_the_redlock_machine() {
    let servers = three();
    let lock = builder("refused").connect(urls(&servers)).await.unwrap();
    let algo =
        redmutex::algo::RedlockAlgorithm { servers: 3, server_timeout: Duration::from_millis(50) };
    let mut release = redmutex::algo::redlock::release(algo, &lock.keys().lock, b"t".to_vec());
    let outcome = lock.connections()[0].run(&mut release, &mut redmutex::driver::NoHooks).await;
    let expected = redmutex::proto::Outcome::Failed(redmutex::proto::Failure::single_server());
    assert_eq!(outcome.unwrap(), expected);
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused() {
    let servers = three();
    let urls = urls(&servers);
    let refused = |result: Result<Redlock, Error>| match result {
        Err(Error::Config(why)) => why,
        other => panic!("{other:?}"),
    };
    let why = refused(builder("x").connect(&urls[..2]).await);
    assert!(why.contains("at least 3"), "{why}");
    let twice = [urls[0].clone(), urls[1].clone(), urls[0].clone()];
    assert!(refused(builder("x").connect(twice).await).contains("given twice"));
    let slow =
        builder("x").ttl(Duration::from_millis(100)).server_timeout(Duration::from_millis(98));
    assert!(refused(slow.connect(&urls).await).contains("server timeout"));
    assert!(refused(builder("x").drift_factor(0.9).connect(&urls).await).contains("drift"));
}

#[tokio::test]
async fn debug_output_hides_the_servers_passwords() {
    let servers = three();
    for server in &servers {
        let mut raw = support::raw(server).await;
        let () = redis::cmd("CONFIG")
            .arg(&["SET", "requirepass", "s3cret"])
            .query_async(&mut raw)
            .await
            .unwrap();
    }
    let urls: Vec<String> =
        servers.iter().map(|s| format!("redis://:s3cret@127.0.0.1:{}", s.port())).collect();
    let lock = builder("secret").connect(&urls).await.unwrap();
    let guard = lock.acquire().await.unwrap();
    let shown = format!("{lock:?} {guard:?}");
    assert!(!shown.contains("s3cret") && shown.contains("***"), "{shown}");
    guard.release().await.unwrap();
}
