//! A server that requires an ACL user and password, and keeping that password secret.

mod support;

use std::time::Duration;

use redmutex::{Algorithm, Error, Lock};

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
/// builder, and the errors a wrong password or a lost reply produce.
#[tokio::test]
async fn no_debug_display_or_error_shows_the_password() {
    let server = acl_server().await;
    let lock: Lock = support::builder("secret", Algorithm::Notify)
        .connect(&url(&server, PASSWORD))
        .await
        .unwrap();
    let guard = lock.acquire().await.unwrap();
    let mut shown = vec![
        format!("{lock:?}"),
        format!("{:?}", lock.connection()),
        format!("{guard:?}"),
        format!("{:?}", support::builder("secret", Algorithm::Notify)),
    ];
    // A password one letter off is refused: its error must not show it either.
    let near = format!("{PASSWORD}x");
    let err = support::builder("secret", Algorithm::Notify)
        .connect(&url(&server, &near))
        .await
        .expect_err("a wrong password is refused");
    shown.extend([format!("{err:?}"), err.to_string()]);
    lock.connection().lose_replies(10);
    let err: Error = guard.release().await.expect_err("every reply was lost");
    shown.extend([format!("{err:?}"), err.to_string()]);
    lock.connection().lose_replies(0);
    for text in &shown {
        assert!(!text.contains(PASSWORD), "the password shows in: {text}");
    }
    // The redacted form is what shows instead.
    assert!(shown[1].contains(&format!("{USER}:***@")), "{}", shown[1]);
    drop(lock);
    tokio::time::sleep(Duration::from_millis(10)).await;
}
