//! A server that requires an ACL user and password, and keeping that password secret.

mod support;

use std::time::Duration;

use redmutex::{Algorithm, Error, FencedResource, Lock};

const USER: &str = "locker";
const PASSWORD: &str = "s3cr3t-Pa55";

/// A server whose default user is off: only `locker` with its password gets in.
async fn acl_server() -> redmutex::testing::RedisServer {
    let server = support::server();
    let mut raw = support::raw(&server).await;
    let setuser: String = redis::cmd("ACL")
        .arg(&["SETUSER", USER, "on", &format!(">{PASSWORD}"), "~*", "&*", "+@all"])
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(setuser, "OK");
    let off: String =
        redis::cmd("ACL").arg(&["SETUSER", "default", "off"]).query_async(&mut raw).await.unwrap();
    assert_eq!(off, "OK");
    server
}

fn url(server: &redmutex::testing::RedisServer, password: &str) -> String {
    format!("redis://{USER}:{password}@127.0.0.1:{}", server.port())
}

#[tokio::test]
async fn an_acl_user_with_its_password_locks_and_without_it_is_refused() {
    let server = acl_server().await;
    for algorithm in Algorithm::ALL {
        let lock = support::builder("acl", algorithm)
            .connect(&url(&server, PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        let guard = lock.acquire().await.unwrap();
        assert!(guard.release().await.unwrap().owned, "{algorithm}");
    }
    // No password: the default user is off.
    let anonymous = format!("redis://127.0.0.1:{}", server.port());
    // Connecting sends nothing without credentials; the first command is refused.
    let refused = match support::builder("acl", Algorithm::Notify).connect(&anonymous).await {
        Ok(lock) => lock.acquire().await.map(drop),
        Err(e) => Err(e),
    };
    assert!(refused.is_err(), "the server let an anonymous client in");
    let wrong = support::builder("acl", Algorithm::Notify).connect(&url(&server, "nope")).await;
    assert!(wrong.is_err(), "the server took a wrong password");
}

/// `Debug` and `Display` of everything a user may log: the lock, its connection, a guard, the
/// builder, a fenced resource, and every error a user can meet with a password in the URL.
#[tokio::test]
async fn no_debug_display_or_error_shows_the_password() {
    let server = acl_server().await;
    let lock: Lock = support::builder("secret", Algorithm::Notify)
        .connect(&url(&server, PASSWORD))
        .await
        .unwrap();
    let guard = lock.acquire().await.unwrap();
    let resource = FencedResource::new(lock.connection().clone(), "secret");
    let mut shown = vec![
        format!("{lock:?}"),
        format!("{:?}", lock.connection()),
        format!("{guard:?}"),
        format!("{:?}", support::builder("secret", Algorithm::Notify)),
        format!("{resource:?}"),
    ];
    let mut errors: Vec<Error> = Vec::new();
    // A password one letter off is refused: its error must not show it either.
    let near = format!("{PASSWORD}x");
    let refused = support::builder("secret", Algorithm::Notify).connect(&url(&server, &near)).await;
    errors.push(refused.expect_err("a wrong password is refused"));
    // Nothing listens: a connect error naming the address, with the password in the URL.
    let closed = redmutex::testing::free_port().unwrap();
    let nowhere = format!("redis://{USER}:{PASSWORD}@127.0.0.1:{closed}");
    let unreachable = support::builder("secret", Algorithm::Notify).connect(&nowhere).await;
    errors.push(unreachable.expect_err("nothing listens there"));
    // A URL that does not parse (a `/` in the password): its error must not quote it.
    let mangled = format!("redis://{USER}:{PASSWORD}/x@127.0.0.1:{}", server.port());
    let mangled = support::builder("secret", Algorithm::Notify).connect(&mangled).await;
    errors.push(mangled.expect_err("an unparsable URL is refused"));
    // Bad settings, a busy lock, a lease found gone, a server error, an unexpected reply.
    let bad = support::builder("", Algorithm::Notify).connect(&url(&server, PASSWORD)).await;
    errors.push(bad.expect_err("an empty name is refused"));
    let impatient = support::builder("impatient", Algorithm::Token)
        .wait_timeout(Duration::from_millis(20))
        .on(lock.connection().clone())
        .unwrap();
    let held = impatient.acquire().await.unwrap();
    errors.push(impatient.acquire().await.expect_err("the lock is held"));
    let mut raw = acl_raw(&server).await;
    let () = redis::cmd("DEL").arg(&impatient.keys().lock).query_async(&mut raw).await.unwrap();
    errors.push(held.extend().await.expect_err("the lock was deleted"));
    drop(held);
    let () =
        redis::cmd("SET").arg("{secret}:fence").arg("junk").query_async(&mut raw).await.unwrap();
    errors.push(resource.last_fence().await.expect_err("the fence is junk"));
    errors.push(resource.write(1, b"x").await.expect_err("the fence is junk"));
    // Every reply lost: the release is unconfirmed.
    lock.connection().lose_replies(10);
    errors.push(guard.release().await.expect_err("every reply was lost"));
    lock.connection().lose_replies(0);
    // The user's password changes under live locks (their connections stay logged in): a
    // waiter's first blocking connection, and any reconnection, are refused.
    let holder = support::builder("contended", Algorithm::Notify)
        .connect(&url(&server, PASSWORD))
        .await
        .unwrap();
    let waiter = support::builder("contended", Algorithm::Notify)
        .connect(&url(&server, PASSWORD))
        .await
        .unwrap();
    let held = holder.acquire().await.unwrap();
    let () = redis::cmd("ACL")
        .arg(&["SETUSER", USER, "resetpass", ">another-one"])
        .query_async(&mut raw)
        .await
        .unwrap();
    errors.push(waiter.acquire().await.expect_err("the blocking connection is refused"));
    // `lock`'s connection broke with the lost replies: the reconnection is refused.
    errors.push(lock.try_acquire().await.expect_err("the new password is not ours"));
    drop(held);

    let kinds: Vec<String> = errors.iter().map(|e| format!("{e:?}")).collect();
    for wanted in [
        "Config",
        "Connect",
        "Timeout",
        "Lost",
        "Server",
        "UnexpectedReply",
        "Unconfirmed",
        "Redis",
    ] {
        assert!(kinds.iter().any(|k| k.starts_with(wanted)), "no {wanted} error among {kinds:#?}");
    }
    for err in &errors {
        shown.extend([format!("{err:?}"), err.to_string()]);
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            shown.extend([format!("{cause:?}"), cause.to_string()]);
            source = cause.source();
        }
    }
    for text in &shown {
        assert!(!text.contains(PASSWORD), "the password shows in: {text}");
    }
    // The redacted form is what shows instead.
    assert!(shown[1].contains(&format!("{USER}:***@")), "{}", shown[1]);
    drop(lock);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// A plain connection as the ACL user.
async fn acl_raw(server: &redmutex::testing::RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url(server, PASSWORD))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}
