//! redmutex's own lock through the fault proxy: the faults a lock scenario needs, struck at
//! the operation a marker names.

use std::time::Duration;

use contend::proxy::{Action, Proxy, Rule};
use redmutex::Lock;
use redmutex::testing::RedisServer;

async fn marker_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
}

async fn mark(conn: &mut redis::aio::MultiplexedConnection, marker: &str) {
    let _: String = redis::cmd("ECHO").arg(marker).query_async(conn).await.unwrap();
}

fn lock(name: &str) -> redmutex::LockBuilder {
    Lock::builder(name).ttl(Duration::from_secs(10)).response_timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn a_lost_release_reply_is_retried_and_the_release_confirmed() {
    let server = RedisServer::start().unwrap();
    let mut proxy = Proxy::start(([127, 0, 0, 1], server.port()).into()).unwrap();
    let url = format!("redis://{}", proxy.listen_for(2).unwrap());
    let holder = lock("res").connect(&url).await.unwrap();
    let mut markers = marker_conn(&url).await;

    // A first round loads the scripts, so the faulted release runs its script at once.
    mark(&mut markers, "contend:w=2:op=acquire:n=1").await;
    let guard = holder.acquire().await.unwrap();
    mark(&mut markers, "contend:w=2:op=release:n=1").await;
    assert!(guard.release().await.unwrap().owned);

    proxy.set_rules(vec![
        Rule::new(Action::DropReply).worker(2).op("release").nth_op(2).nth_command(1),
    ]);
    mark(&mut markers, "contend:w=2:op=acquire:n=2").await;
    let guard = holder.acquire().await.unwrap();
    mark(&mut markers, "contend:w=2:op=release:n=2").await;
    // The reply is lost and the connection reset; redmutex retries the idempotent release on a
    // new connection, which finds the lock gone within the lease: released, and it says so.
    let released = guard.release().await.expect("a retry confirms the release");
    assert!(released.owned, "{released:?}");

    let strikes = proxy.strikes();
    assert_eq!(strikes.len(), 1, "{strikes:?}");
    let sent = proxy.counts().op(2, "release", 2);
    assert!(sent >= 2, "the release and its retry (and a new connection's setup): {sent}");
    let other = lock("res").connect(&server.url()).await.unwrap();
    assert!(other.try_acquire().await.unwrap().is_some(), "the release ran: the lock is free");
}

#[tokio::test]
async fn a_dropped_release_leaves_the_lock_held_until_its_ttl() {
    let server = RedisServer::start().unwrap();
    let mut proxy = Proxy::start(([127, 0, 0, 1], server.port()).into()).unwrap();
    let url = format!("redis://{}", proxy.listen_for(1).unwrap());
    let holder = lock("res").connect(&url).await.unwrap();
    let mut markers = marker_conn(&url).await;
    proxy.set_rules(vec![Rule::new(Action::DropCommand).worker(1).op("release")]);

    mark(&mut markers, "contend:w=1:op=acquire:n=1").await;
    let guard = holder.acquire().await.unwrap();
    mark(&mut markers, "contend:w=1:op=release:n=1").await;
    assert!(guard.release().await.is_err());
    let other = lock("res").connect(&server.url()).await.unwrap();
    assert!(other.try_acquire().await.unwrap().is_none(), "the release never ran: still held");
}

#[tokio::test]
async fn a_waiters_blpop_on_its_own_pooled_connection_counts_in_its_acquire() {
    let server = RedisServer::start().unwrap();
    let mut proxy = Proxy::start(([127, 0, 0, 1], server.port()).into()).unwrap();
    let url = format!("redis://{}", proxy.listen_for(2).unwrap());
    let holder = lock("res").connect(&server.url()).await.unwrap();
    let waiter = lock("res").wait_timeout(Duration::from_secs(10)).connect(&url).await.unwrap();
    let mut markers = marker_conn(&url).await;

    let guard = holder.acquire().await.unwrap();
    mark(&mut markers, "contend:w=2:op=acquire:n=1").await;
    let waiting = tokio::spawn(async move { waiter.acquire().await.map(|g| (g, waiter)) });
    while !proxy.counts().by_command.contains_key("BLPOP") {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(guard.release().await.unwrap().owned);
    let (got, _waiter) = waiting.await.unwrap().unwrap();
    drop(got);

    let counts = proxy.counts();
    assert!(counts.op(2, "acquire", 1) >= 2, "the try and the BLPOP: {counts:?}");
    assert_eq!(counts.unmarked, 0, "the pooled connection came through the worker's port");
}
