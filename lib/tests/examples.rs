//! Every example runs, against a server of the test's own, and shows what it says (each one
//! asserts its point).

mod support;

use redis::AsyncCommands;
use redmutex::testing::RedisServer;

#[path = "../examples/token.rs"]
#[allow(dead_code)]
mod token;

#[path = "../examples/notify.rs"]
#[allow(dead_code)]
mod notify;

#[path = "../examples/fair.rs"]
#[allow(dead_code)]
mod fair;

#[path = "../examples/fenced.rs"]
#[allow(dead_code)]
mod fenced;

/// The keys on `server`, sorted.
async fn keys(server: &RedisServer) -> Vec<String> {
    let mut keys: Vec<String> = support::raw(server).await.keys("*").await.unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn the_token_example_runs_and_leaves_nothing() {
    let server = support::server();
    token::run(&server.url()).await.unwrap();
    assert_eq!(keys(&server).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_notify_example_runs_and_leaves_nothing() {
    let server = support::server();
    notify::run(&server.url()).await.unwrap();
    assert_eq!(keys(&server).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_fair_example_serves_in_arrival_order_and_leaves_nothing() {
    let server = support::server();
    fair::run(&server.url()).await.unwrap();
    assert_eq!(keys(&server).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_fenced_example_runs_and_leaves_the_keys_it_names() {
    let server = support::server();
    fenced::run(&server.url()).await.unwrap();
    let kept =
        ["redmutex:{example:balance}:fence", "{example:balance}:fence", "{example:balance}:value"];
    assert_eq!(keys(&server).await, kept);
    // Run again on the same server: fences keep growing from where they were.
    fenced::run(&server.url()).await.unwrap();
}
