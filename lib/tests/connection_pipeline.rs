//! `Connection::exec_pipeline` (the harness sends a critical section's witness commands with
//! it): the commands run in their order and each gets its own reply, a script even on a server
//! that has none cached, a server error without stopping the others; a blocking command is
//! refused.

mod support;

use std::time::Duration;

use redmutex::driver::{Connection, Timeouts};
use redmutex::proto::{Command, Reply};
use redmutex::{FencedRead, FencedResource};

fn set(key: &[u8], value: &[u8]) -> Command {
    Command::Set { key: key.to_vec(), value: value.to_vec(), cond: None, expiry: None, get: false }
}

#[tokio::test]
async fn a_pipeline_runs_its_commands_in_order_and_answers_each() {
    let server = support::server();
    let conn = Connection::open(&server.url(), Timeouts::default()).await.unwrap();
    let resource = FencedResource::new(conn.clone(), "r");
    // No script cached: an EVALSHA would answer NOSCRIPT while the commands behind it ran.
    let mut raw = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut raw).unwrap();
    let sent = conn.commands_sent();
    let replies = conn
        .exec_pipeline(&[
            set(b"k", b"1"),
            Command::Get { key: b"k".to_vec() },
            Command::Incr { key: b"k".to_vec() },
            set(b"s", b"text"),
            Command::Incr { key: b"s".to_vec() },
            resource.read_command(7),
            Command::Get { key: b"k".to_vec() },
        ])
        .await
        .unwrap();
    assert_eq!(conn.commands_sent() - sent, 7, "each command counts");
    assert_eq!(replies.len(), 7);
    assert!(replies[0].is_ok());
    assert_eq!(replies[1], Reply::Bulk(b"1".to_vec()), "GET ran after SET");
    assert_eq!(replies[2], Reply::Int(2));
    assert!(matches!(&replies[4], Reply::Error(e) if e.contains("not an integer")), "{replies:?}");
    assert_eq!(FencedRead::from_reply(replies[5].clone()).unwrap(), FencedRead::Value(None));
    assert_eq!(replies[6], Reply::Bulk(b"2".to_vec()), "the error stopped nothing");
    assert_eq!(resource.last_fence().await.unwrap(), 7, "the script ran");
}

#[tokio::test]
async fn a_blocking_command_is_not_pipelined() {
    let server = support::server();
    let conn = Connection::open(&server.url(), Timeouts::default()).await.unwrap();
    let blpop = Command::BLPop { key: b"l".to_vec(), timeout: Duration::from_millis(10) };
    let e = conn.exec_pipeline(&[blpop]).await.expect_err("refused");
    assert!(e.to_string().contains("cannot be pipelined"), "{e}");
}
