//! Bad settings and unreachable servers fail fast with errors that say what to do.

mod support;

use std::time::{Duration, Instant};

use redmutex::{Error, Lock, MAX_WAIT};

#[tokio::test]
async fn bad_settings_are_refused_before_connecting() {
    // No server at this URL: validation must come first.
    let url = "redis://127.0.0.1:1";
    let cases = [
        ("zero ttl", Lock::builder("a").ttl(Duration::ZERO)),
        ("wait too long", Lock::builder("a").wait_timeout(MAX_WAIT + Duration::from_secs(1))),
        ("empty name", Lock::builder("")),
        ("brace in name", Lock::builder("a{b}")),
        (
            "drift eats ttl",
            Lock::builder("a").ttl(Duration::from_secs(1)).drift(Duration::from_secs(1)),
        ),
    ];
    for (what, builder) in cases {
        match builder.connect(url).await {
            Err(Error::Config(msg)) => assert!(!msg.is_empty(), "{what}"),
            other => panic!("{what}: expected a settings error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_refused_connection_is_an_error_not_a_hang() {
    let port = redmutex::testing::free_port().unwrap(); // nothing listens there now
    let err = Lock::builder("a").connect(&format!("redis://127.0.0.1:{port}")).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.to_string().contains("check the URL"), "{err}");
}

#[tokio::test]
async fn a_connect_error_does_not_show_the_password() {
    let port = redmutex::testing::free_port().unwrap();
    let url = format!("redis://ann:s3cret@127.0.0.1:{port}/0");
    let err = Lock::builder("a").connect(&url).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains(&format!("redis://ann:***@127.0.0.1:{port}/0")), "{text}");
}

#[test]
fn urls_lose_their_password_and_nothing_else() {
    use redmutex::driver::redacted_url as redact;
    assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    assert_eq!(redact("redis://:s3cret@127.0.0.1:6379/0"), "redis://:***@127.0.0.1:6379/0");
    assert_eq!(redact("rediss://ann:p%40ss@host:1"), "rediss://ann:***@host:1");
    // A lone user-info part is a user name to redis-rs, not a secret.
    assert_eq!(redact("redis://ann@host"), "redis://ann@host");
    assert_eq!(redact("redis://host/0?x=a@b"), "redis://host/0?x=a@b");
    assert_eq!(
        redact("unix:///run/redis.sock?db=2&pass=s3cret&user=ann"),
        "unix:///run/redis.sock?db=2&pass=***&user=ann"
    );
    // Unescaped `/`, `?`, `#` or `@` in a password: the URL does not parse, and everything up
    // to the last `@` goes.
    for url in ["redis://:ab/cd@host:1", "redis://:ab#cd@host:1", "redis://ann:x?y@host:1"] {
        assert_eq!(redact(url), "redis://***@host:1", "{url}");
    }
    assert_eq!(redact("rediss://ann:p@ss:w@host:1"), "rediss://ann:***@host:1");
    assert_eq!(redact("redis:/:s3cret@host"), "redis:***@host");
    assert_eq!(redact("s3cret@host"), "***@host");
    assert_eq!(redact("not a url"), "not a url");
}

#[tokio::test]
async fn a_silent_server_fails_within_the_connect_timeout() {
    // A socket that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let timeout = Duration::from_millis(1000);
    let started = Instant::now();
    let result = Lock::builder("a").connect_timeout(timeout).connect(&url).await;
    let took = started.elapsed();
    assert!(matches!(result, Err(Error::Connect { .. })), "{result:?}");
    // Generous margin for a busy machine; the point is that it does not hang.
    assert!(took < timeout * 5, "took {took:?}");
    drop(listener);
}
