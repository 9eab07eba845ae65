//! Distinct failures get distinct errors: an error reply from Redis, a reply of the wrong shape,
//! no answer to a blocking command.

mod support;

use std::time::Duration;

use redis::AsyncCommands;
use redmutex::{Algorithm, Error, FencedResource};

/// The server's `WRONGTYPE` error for operation `op`, or a panic saying what came instead.
fn assert_wrongtype(result: Result<impl std::fmt::Debug, Error>, op: &str, algorithm: Algorithm) {
    match result {
        Err(Error::Server { op: got, message }) => {
            assert_eq!(got, op, "{algorithm}: {message}");
            assert!(message.contains("WRONGTYPE"), "{algorithm} {op}: {message}");
        }
        other => panic!("{algorithm} {op}: expected a WRONGTYPE server error, got {other:?}"),
    }
}

/// Another program overwrites the held lock's key with a list: every algorithm's extend and
/// release answer Redis's WRONGTYPE as `Error::Server`, naming the operation.
#[tokio::test]
async fn a_lock_key_of_the_wrong_type_is_a_server_error_naming_wrongtype() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    for algorithm in Algorithm::ALL {
        let lock = support::builder("wrongtype", algorithm).connect(&server.url()).await.unwrap();
        let guard = lock.acquire().await.unwrap();
        let key = &lock.keys().lock;
        let () = raw.del(key).await.unwrap();
        let _: i64 = raw.rpush(key, "not a token").await.unwrap();
        assert_wrongtype(guard.extend().await, "extend", algorithm);
        let err = guard.release().await.expect_err("the release met a list");
        // The message says what to do about it.
        assert!(err.to_string().contains("another program stored another type"), "{err}");
        assert_wrongtype(Err::<(), _>(err), "release", algorithm);
        let () = raw.del(key).await.unwrap();
    }
}

/// Acquiring: `notify`'s acquire script reads the lock key and `fenced`'s increments the fence
/// counter, so a list there is a WRONGTYPE. (`token`'s `SET NX` does not look at the type: a
/// key of any type is a held lock to it.)
#[tokio::test]
async fn an_acquire_that_meets_a_key_of_the_wrong_type_is_a_server_error() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let notify = support::builder("wrongtype", Algorithm::Notify).connect(&server.url()).await;
    let notify = notify.unwrap();
    let _: i64 = raw.rpush(&notify.keys().lock, "x").await.unwrap();
    assert_wrongtype(notify.acquire().await, "acquire", Algorithm::Notify);
    assert_wrongtype(notify.try_acquire().await, "acquire", Algorithm::Notify);

    let fenced = support::builder("wrongfence", Algorithm::Fenced).connect(&server.url()).await;
    let fenced = fenced.unwrap();
    let _: i64 = raw.rpush(&fenced.keys().fence, "x").await.unwrap();
    assert_wrongtype(fenced.acquire().await, "acquire", Algorithm::Fenced);
    // The script set the lock key before its INCR failed (Redis does not roll scripts back);
    // the failed acquire's clean-up releases it.
    let key = fenced.keys().lock.clone();
    for _ in 0..200 {
        if !raw.exists::<_, bool>(&key).await.unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!raw.exists::<_, bool>(&key).await.unwrap(), "the failed acquire left its lock");

    let token = support::builder("wrongtype", Algorithm::Token).connect(&server.url()).await;
    assert!(token.unwrap().try_acquire().await.unwrap().is_none(), "a list holds token's lock");
}

/// A fenced resource whose fence key holds text instead of a number: reading the last fence
/// gets a reply it cannot interpret (`Error::UnexpectedReply`, describing it), and the scripts
/// that compare fences fail on the server (`Error::Server`).
#[tokio::test]
async fn a_fenced_resource_key_holding_garbage_is_an_unexpected_reply() {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let lock = support::builder("garbage", Algorithm::Fenced).connect(&server.url()).await.unwrap();
    let resource = FencedResource::new(lock.connection().clone(), "garbage");
    assert!(resource.write(1, b"first").await.unwrap());
    let () = raw.set("{garbage}:fence", "garbage").await.unwrap();
    match resource.last_fence().await {
        Err(Error::UnexpectedReply { op, reply }) => {
            assert_eq!(op, "last fence");
            assert!(reply.contains("garbage"), "the reply is described: {reply}");
        }
        other => panic!("expected an unexpected-reply error, got {other:?}"),
    }
    let err = resource.write(2, b"second").await.expect_err("the fence is not a number");
    assert!(matches!(&err, Error::Server { op: "fenced write", .. }), "{err:?}");
    let err = resource.read_fenced(2).await.expect_err("the fence is not a number");
    assert!(matches!(&err, Error::Server { op: "fenced read", .. }), "{err:?}");
    // The value key of the wrong type: the plain read is refused with WRONGTYPE.
    let () = raw.del("{garbage}:value").await.unwrap();
    let _: i64 = raw.rpush("{garbage}:value", "x").await.unwrap();
    assert_wrongtype(resource.read().await, "read", Algorithm::Fenced);
}

/// A `notify` waiter blocked in `BLPOP` while the server stalls (`DEBUG SLEEP`, longer than the
/// block plus the response timeout) gets `Error::NoAnswer`; a retry once the server answers
/// again takes the lock.
#[tokio::test]
async fn a_blocking_command_without_an_answer_is_no_answer() {
    let server = support::server();
    let builder = support::builder("stall", Algorithm::Notify)
        .ttl(Duration::from_secs(2))
        .response_timeout(Duration::from_millis(500));
    let holder = builder.clone().connect(&server.url()).await.unwrap();
    let guard = holder.acquire().await.unwrap();
    let lock = builder.connect(&server.url()).await.unwrap();
    let waiting = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire().await }
    });
    // Once the waiter is queued its next command is the BLPOP (blocking at most a second, half
    // the ttl); the server then sleeps 4 s, more than twice the 1.5 s the answer is awaited.
    let mut raw = support::raw(&server).await;
    while raw.llen::<_, i64>(&lock.keys().waiters).await.unwrap() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let client = redis::Client::open(server.url()).unwrap();
    let mut patient = client.get_multiplexed_async_connection_with_config(&config).await.unwrap();
    let sleeper = tokio::spawn(async move {
        let () = redis::cmd("DEBUG").arg("SLEEP").arg(4).query_async(&mut patient).await.unwrap();
    });
    match waiting.await.unwrap() {
        Err(e @ Error::NoAnswer { command: "BLPOP", .. }) => {
            assert!(e.to_string().contains("retry"), "{e}");
        }
        other => panic!("expected no answer to BLPOP, got {other:?}"),
    }
    sleeper.await.unwrap();
    guard.release().await.unwrap();
    lock.acquire().await.unwrap().release().await.unwrap();
}
