//! Sentinel failover on loopback: a primary, a replica, three Sentinels.

use std::time::Duration;

use contend::server_faults::{Outage, SentinelGroup};

fn conn(addr: std::net::SocketAddr) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}")).unwrap();
    let conn = client.get_connection_with_timeout(Duration::from_secs(2)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn
}

fn role(addr: std::net::SocketAddr) -> String {
    try_role(addr).unwrap()
}

/// `ROLE`'s first word, or why it could not be had (a server that is still asleep, or that drops
/// its clients while it turns into a replica, fails a query or two).
fn try_role(addr: std::net::SocketAddr) -> Result<String, String> {
    let client = redis::Client::open(format!("redis://{addr}")).map_err(|e| e.to_string())?;
    let mut c =
        client.get_connection_with_timeout(Duration::from_secs(2)).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut c).map_err(|e| e.to_string())?;
    match role.first() {
        Some(redis::Value::BulkString(r)) => Ok(String::from_utf8_lossy(r).into_owned()),
        other => Err(format!("ROLE said {other:?}")),
    }
}

#[test]
fn killing_the_primary_promotes_the_replica_with_what_it_acknowledged() {
    let mut group = SentinelGroup::start(1).unwrap();
    let old = group.primary().unwrap();
    let mut primary = conn(old);
    let _: () = redis::cmd("SET").arg("lock").arg("me").query(&mut primary).unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(2000).query(&mut primary).unwrap();
    assert_eq!(acked, 1, "the replica has the key before the primary dies");

    let failover = group.fail_primary(Outage::Kill, Duration::from_secs(30)).unwrap();
    assert_eq!(failover.old, old);
    assert_ne!(failover.new, old);
    assert_eq!(role(failover.new), "master");
    let kept: Option<String> =
        redis::cmd("GET").arg("lock").query(&mut conn(failover.new)).unwrap();
    assert_eq!(kept.as_deref(), Some("me"));
    assert!(failover.took >= Duration::from_millis(1000), "down-after alone is 1 s: {failover:?}");
}

#[test]
fn a_sleeping_primary_is_replaced_and_wakes_up_as_a_replica() {
    let mut group = SentinelGroup::start(1).unwrap();
    let failover = group.fail_primary(Outage::Sleep { ms: 4000 }, Duration::from_secs(30)).unwrap();
    assert_eq!(role(failover.new), "master");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last;
    loop {
        // Asking blocks until the old primary wakes; the Sentinels then demote it.
        match try_role(failover.old) {
            Ok(role) if role == "slave" => break,
            Ok(role) => last = role,
            Err(e) => last = e,
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the old primary was not demoted within 60 s; last answer: {last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_failover_without_replicas_is_refused_before_anything_starts() {
    let err = SentinelGroup::start(0).err().unwrap().to_string();
    assert!(err.contains("at least one replica"), "{err}");
}

#[test]
fn a_partitioned_primary_keeps_taking_writes_that_the_heal_throws_away() {
    let mut group = SentinelGroup::start(1).unwrap();
    let old = group.primary().unwrap();
    let old_direct = group.direct(old).unwrap();
    let failover = group.fail_primary(Outage::Partition, Duration::from_secs(30)).unwrap();

    // Split brain: the old primary, reached directly, still takes writes.
    assert_eq!(role(old_direct), "master");
    assert_eq!(role(failover.new), "master");
    let _: () = redis::cmd("SET").arg("stale").arg("1").query(&mut conn(old_direct)).unwrap();
    let _: () = redis::cmd("SET").arg("fresh").arg("1").query(&mut conn(failover.new)).unwrap();

    group.heal();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut c = conn(old_direct);
        let synced = role(old_direct) == "slave"
            && redis::cmd("EXISTS").arg("fresh").query::<i64>(&mut c).unwrap() == 1;
        if synced {
            let stale: i64 = redis::cmd("EXISTS").arg("stale").query(&mut c).unwrap();
            assert_eq!(stale, 0, "the write to the stale primary is gone");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the old primary never followed the new one");
        std::thread::sleep(Duration::from_millis(100));
    }
}
