//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use redmutex::testing::RedisServer;
use redmutex::{Algorithm, Lock, LockBuilder};

/// A fresh server of our own for one test.
pub fn server() -> RedisServer {
    RedisServer::start().expect("start redis-server (apt-get install redis-server)")
}

/// A lock builder with test-friendly settings: ttl 2 s (a single command here has taken
/// 178 ms), wait 10 s.
pub fn builder(name: &str, algorithm: Algorithm) -> LockBuilder {
    Lock::builder(name)
        .ttl(Duration::from_secs(2))
        .wait_timeout(Duration::from_secs(10))
        .algorithm(algorithm)
}

/// A plain connection for looking at keys directly.
pub async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}
