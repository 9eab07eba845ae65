//! The fault proxy in front of a real `redis-server`, seen from a real `redis` client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use contend::proxy::{Action, Direction, Proxy, Rule, Target};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use redmutex::testing::RedisServer;

fn upstream(server: &RedisServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port()))
}

async fn connect(url: &str, response_timeout: Duration) -> MultiplexedConnection {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(response_timeout));
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

async fn mark(conn: &mut MultiplexedConnection, marker: &str) {
    let echoed: String = redis::cmd("ECHO").arg(marker).query_async(conn).await.unwrap();
    assert_eq!(echoed, marker);
}

async fn get(conn: &mut MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

async fn set(conn: &mut MultiplexedConnection, key: &str, value: &str) -> redis::RedisResult<()> {
    redis::cmd("SET").arg(key).arg(value).query_async(conn).await
}

fn setup() -> (RedisServer, Proxy) {
    let server = RedisServer::start().unwrap();
    let proxy = Proxy::start(upstream(&server)).unwrap();
    (server, proxy)
}

#[tokio::test]
async fn forwards_pipelines_and_blpop_and_counts_commands_per_operation() {
    let (server, proxy) = setup();
    let mut direct = connect(&server.url(), Duration::from_secs(5)).await;
    let mut conn = connect(&proxy.url(), Duration::from_secs(5)).await;
    mark(&mut conn, "contend:w=1:op=acquire:n=1").await;
    let (a, b, c): (String, i64, Option<String>) = redis::pipe()
        .cmd("SET")
        .arg("k")
        .arg("v")
        .cmd("INCR")
        .arg("n")
        .cmd("GET")
        .arg("k")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((a.as_str(), b, c.as_deref()), ("OK", 1, Some("v")));

    // BLPOP blocks its connection; the reply that ends it comes long after and still matches.
    let mut blocking = connect(&proxy.url(), Duration::from_secs(10)).await;
    mark(&mut blocking, "contend:w=1:op=acquire:n=1").await;
    let waiter = tokio::spawn(async move {
        let got: Option<(String, String)> =
            redis::cmd("BLPOP").arg("q").arg(5).query_async(&mut blocking).await.unwrap();
        (got, blocking)
    });
    while redis::cmd("CLIENT")
        .arg("LIST")
        .query_async::<String>(&mut direct)
        .await
        .unwrap()
        .matches("cmd=blpop")
        .count()
        == 0
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    mark(&mut conn, "contend:w=1:op=release:n=1").await;
    let pushed: i64 = redis::cmd("LPUSH").arg("q").arg("x").query_async(&mut conn).await.unwrap();
    assert_eq!(pushed, 1);
    let (got, mut blocking) = waiter.await.unwrap();
    assert_eq!(got, Some(("q".into(), "x".into())));
    assert_eq!(get(&mut blocking, "k").await.as_deref(), Some("v"), "the connection stays in step");

    let counts = proxy.counts();
    // A marker sets the worker's operation on all its connections: the GET after BLPOP is in
    // the release.
    assert_eq!(counts.op(1, "acquire", 1), 4, "SET INCR GET, BLPOP");
    assert_eq!(counts.op(1, "release", 1), 2, "LPUSH, GET");
    assert_eq!(counts.by_command["GET"], 2);
    assert_eq!(counts.by_command.get("ECHO"), None, "markers are not commands");
    let stats = contend::servers::commandstats(&mut direct).await.unwrap();
    assert_eq!(stats.get("echo"), None, "the proxy answered the markers itself");
    assert!(proxy.strikes().is_empty());
}

#[tokio::test]
async fn a_bad_marker_gets_an_error_reply_that_names_the_fault() {
    let (_server, proxy) = setup();
    let mut conn = connect(&proxy.url(), Duration::from_secs(5)).await;
    let err = redis::cmd("ECHO")
        .arg("contend:w=1:op=acquire")
        .query_async::<String>(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs n="), "{err}");
    assert_eq!(get(&mut conn, "k").await, None, "the connection goes on");
}

#[tokio::test]
async fn a_lost_reply_leaves_the_command_run_and_the_client_reset() {
    let (server, proxy) = setup();
    proxy.set_rules(vec![
        Rule::new(Action::DropReply).worker(2).op("release").nth_op(3).nth_command(1),
    ]);
    let mut direct = connect(&server.url(), Duration::from_secs(5)).await;
    let mut conn = connect(&proxy.url(), Duration::from_secs(5)).await;
    for n in 1..=2 {
        mark(&mut conn, &format!("contend:w=2:op=release:n={n}")).await;
        set(&mut conn, &format!("k{n}"), "v").await.unwrap();
    }
    mark(&mut conn, "contend:w=2:op=release:n=3").await;
    let err = set(&mut conn, "k3", "v").await.unwrap_err();
    assert!(
        err.is_io_error() || err.is_connection_dropped() || err.is_unrecoverable_error(),
        "{err:?}"
    );
    assert_eq!(get(&mut direct, "k3").await.as_deref(), Some("v"), "the SET ran");
    let strikes = proxy.strikes();
    assert_eq!(strikes.len(), 1, "{strikes:?}");
    assert_eq!(strikes[0].info.command, "SET");
    assert_eq!(strikes[0].info.op.as_ref().map(|o| o.n), Some(3));
    assert_eq!(strikes[0].action, Action::DropReply);
}

#[tokio::test]
async fn a_dropped_command_never_runs_and_the_client_is_reset() {
    let (server, proxy) = setup();
    proxy.add_rule(Rule::new(Action::DropCommand).command("set").times(1));
    let mut direct = connect(&server.url(), Duration::from_secs(5)).await;
    let mut conn = connect(&proxy.url(), Duration::from_secs(5)).await;
    let err = set(&mut conn, "k", "v").await.unwrap_err();
    assert!(!err.is_timeout(), "reset, not a timeout: {err:?}");
    assert_eq!(get(&mut direct, "k").await, None, "the SET did not run");
    // The rule struck its one time: a new connection works.
    let mut again = connect(&proxy.url(), Duration::from_secs(5)).await;
    set(&mut again, "k", "w").await.unwrap();
    assert_eq!(proxy.strikes().len(), 1);
}

#[tokio::test]
async fn delays_hold_a_command_or_its_reply_by_the_stated_time() {
    let (_server, proxy) = setup();
    let mut conn = connect(&proxy.url(), Duration::from_secs(10)).await;
    mark(&mut conn, "contend:w=1:op=acquire:n=1").await;
    let begin = Instant::now();
    set(&mut conn, "k", "v").await.unwrap();
    let undelayed = begin.elapsed();

    let actions = [Action::DelayCommand { ms: 1000 }, Action::DelayReply { ms: 1000 }];
    for (n, action) in (1..).zip(actions) {
        proxy.set_rules(vec![Rule::new(action.clone()).op("release").nth_command(2)]);
        mark(&mut conn, &format!("contend:w=1:op=release:n={n}")).await;
        let begin = Instant::now();
        set(&mut conn, "k", "v").await.unwrap();
        let first = begin.elapsed();
        let begin = Instant::now();
        set(&mut conn, "k", "v").await.unwrap();
        let second = begin.elapsed();
        assert!(
            second >= Duration::from_millis(1000),
            "{action:?}: the 2nd command took {second:?}"
        );
        assert!(
            second > 2 * undelayed && second > 2 * first,
            "{action:?}: {undelayed:?} {first:?} {second:?}"
        );
    }
    assert_eq!(proxy.strikes().len(), 2);
}

#[tokio::test]
async fn a_partition_times_the_client_out_without_closing_and_heal_lets_traffic_flow() {
    let (server, proxy) = setup();
    let mut direct = connect(&server.url(), Duration::from_secs(5)).await;
    let mut conn = connect(&proxy.url(), Duration::from_millis(800)).await;
    mark(&mut conn, "contend:w=3").await;

    // Replies cut: the command runs, the client hears nothing.
    proxy.partition(Target::Worker(3), Direction::ToClient);
    assert!(set(&mut conn, "a", "1").await.unwrap_err().is_timeout());
    assert_eq!(get(&mut direct, "a").await.as_deref(), Some("1"));
    assert_eq!(proxy.connections(), 1, "nothing was closed");
    proxy.heal(Target::Worker(3));

    // Commands cut: nothing runs until the heal, then the held command does.
    proxy.partition(Target::Worker(3), Direction::ToServer);
    assert!(set(&mut conn, "b", "1").await.unwrap_err().is_timeout());
    assert_eq!(get(&mut direct, "b").await, None);
    proxy.heal(Target::All);
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&mut direct, "b").await.is_none() {
        assert!(Instant::now() < deadline, "the held SET never arrived after the heal");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A rule partitions a worker at a precise command; others are not cut.
    proxy.set_rules(vec![
        Rule::new(Action::Partition { direction: Direction::Both }).worker(3).command("DEL"),
    ]);
    let mut other = connect(&proxy.url(), Duration::from_secs(5)).await;
    mark(&mut other, "contend:w=4").await;
    let err = redis::cmd("DEL").arg("b").query_async::<i64>(&mut conn).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    set(&mut other, "c", "1").await.unwrap();
    assert_eq!(
        get(&mut direct, "b").await.as_deref(),
        Some("1"),
        "the partition came before the DEL"
    );
    assert_eq!(proxy.strikes().len(), 1);
    proxy.heal(Target::All);
}

#[tokio::test]
async fn throttle_slows_big_values_and_reset_cuts_a_workers_connections() {
    let (_server, proxy) = setup();
    let mut conn = connect(&proxy.url(), Duration::from_secs(10)).await;
    mark(&mut conn, "contend:w=5").await;
    proxy.throttle(Target::Worker(5), 20_000);
    let value = "x".repeat(20_000);
    let begin = Instant::now();
    set(&mut conn, "big", &value).await.unwrap();
    assert!(
        begin.elapsed() >= Duration::from_millis(900),
        "20 kB at 20 kB/s took {:?}",
        begin.elapsed()
    );
    proxy.heal(Target::Worker(5));

    let mut bystander = connect(&proxy.url(), Duration::from_secs(5)).await;
    assert_eq!(proxy.reset(Target::Worker(5)), 1);
    let err = redis::cmd("GET").arg("big").query_async::<Option<String>>(&mut conn).await;
    assert!(err.is_err(), "a reset connection cannot answer");
    assert_eq!(get(&mut bystander, "nothing").await, None, "an unmarked client is untouched");
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_port_and_its_connections() {
    let (_server, proxy) = setup();
    let addr = proxy.addr();
    let mut conn = connect(&proxy.url(), Duration::from_secs(5)).await;
    set(&mut conn, "k", "v").await.unwrap();
    drop(proxy);
    std::net::TcpListener::bind(addr).expect("the port is free once the proxy is dropped");
    assert!(set(&mut conn, "k", "v").await.is_err(), "the client's connection is closed");
}

#[tokio::test]
async fn a_workers_own_port_names_its_unmarked_connections() {
    let (server, mut proxy) = setup();
    let port = proxy.listen_for(7).unwrap();
    let url = format!("redis://{port}");
    proxy.set_rules(vec![
        Rule::new(Action::DropReply).worker(7).op("release").nth_op(1).nth_command(2),
    ]);
    let mut direct = connect(&server.url(), Duration::from_secs(5)).await;
    let mut marked = connect(&url, Duration::from_secs(5)).await;
    // Say, a connection the client library opened for itself: never marked.
    let mut unmarked = connect(&url, Duration::from_secs(5)).await;
    mark(&mut marked, "contend:w=7:op=release:n=1").await;
    set(&mut marked, "a", "1").await.unwrap();
    assert!(
        set(&mut unmarked, "b", "1").await.is_err(),
        "the 2nd command of the release lost its reply"
    );
    assert_eq!(get(&mut direct, "b").await.as_deref(), Some("1"));
    assert_eq!(proxy.counts().op(7, "release", 1), 2);
    assert_eq!(proxy.counts().unmarked, 0);
    drop(proxy);
    std::net::TcpListener::bind(port).expect("the worker's port closes with the proxy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pipelines_with_markers_and_delays_get_every_reply_in_its_place() {
    let (_server, proxy) = setup();
    proxy.set_rules(vec![Rule::new(Action::DelayReply { ms: 5 }).worker(1).command("GET")]);
    let mut tasks = Vec::new();
    for w in 0..4_u32 {
        let mut conn = connect(&proxy.url(), Duration::from_secs(10)).await;
        mark(&mut conn, &format!("contend:w={w}")).await;
        tasks.push(tokio::spawn(async move {
            for n in 1..=50_i64 {
                // The marker's reply, made by the proxy, must wait for the GET's from the server.
                let (read, marker, count, echo): (Option<i64>, String, i64, String) = redis::pipe()
                    .cmd("GET")
                    .arg(format!("c{w}"))
                    .cmd("ECHO")
                    .arg(format!("contend:w={w}:op=acquire:n={n}"))
                    .cmd("INCR")
                    .arg(format!("c{w}"))
                    .cmd("ECHO")
                    .arg(format!("plain {w} {n}"))
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(read, (n > 1).then_some(n - 1));
                assert_eq!(marker, format!("contend:w={w}:op=acquire:n={n}"));
                assert_eq!((count, echo), (n, format!("plain {w} {n}")));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let counts = proxy.counts();
    // (The client's connection handshake adds commands of its own to the total.)
    let by = |name: &str| counts.by_command.get(name).copied();
    assert_eq!(
        (by("INCR"), by("GET"), by("ECHO")),
        (Some(200), Some(200), Some(200)),
        "markers are not counted, a plain ECHO is"
    );
    // An operation runs from its marker to the next: INCR, ECHO, and the next round's GET.
    assert!((0..4).all(|w| (1..50).all(|n| counts.op(w, "acquire", n) == 3)));
    assert!((0..4).all(|w| counts.op(w, "acquire", 50) == 2));
    assert_eq!(proxy.strikes().len(), 50, "worker 1's GETs");
}

#[tokio::test]
async fn a_resp3_client_is_served_and_faulted_the_same() {
    let (server, proxy) = setup();
    proxy.set_rules(vec![Rule::new(Action::DropReply).command("HSET")]);
    let mut conn =
        connect(&format!("{}/?protocol=resp3", proxy.url()), Duration::from_secs(5)).await;
    let (set, map): (String, std::collections::HashMap<String, String>) = redis::pipe()
        .cmd("SET")
        .arg("k")
        .arg("v")
        .cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        (set.as_str(), map.get("maxmemory-policy").map(String::as_str)),
        ("OK", Some("noeviction"))
    );
    assert!(proxy.counts().by_command.contains_key("HELLO"), "the client spoke RESP3");
    assert!(
        redis::cmd("HSET").arg("h").arg("f").arg("v").query_async::<i64>(&mut conn).await.is_err()
    );
    let mut direct = connect(&server.url(), Duration::from_secs(5)).await;
    let ran: Option<String> =
        redis::cmd("HGET").arg("h").arg("f").query_async(&mut direct).await.unwrap();
    assert_eq!(ran.as_deref(), Some("v"));
}
