//! Failover on real servers: a primary, a replica and three Sentinels; the shipped scenarios
//! `failover` (no `WAIT`) and `failover-wait` (`[lock] replicas = 1`) run end to end, and the
//! run leaves no process behind.

mod support;

fn run(name: &str, algorithm: &str) -> serde_json::Value {
    support::run_shipped(name, algorithm).results
}

#[test]
fn without_wait_a_failover_hands_the_lock_out_twice_and_with_wait_it_does_not() {
    let plain = run("failover", "token");
    assert_eq!(support::verdict(&plain, "mutual-exclusion"), "invalid");
    let rate = &plain["failover_rate"];
    assert!(rate["failovers"].as_u64().unwrap() >= 1, "{rate}");
    assert!(rate["broken"].as_u64().unwrap() >= 1, "{rate}");
    assert_eq!(rate["wait_replicas"], serde_json::Value::Null);

    let waited = run("failover-wait", "token");
    assert_eq!(support::verdict(&waited, "mutual-exclusion"), "valid");
    let rate = &waited["failover_rate"];
    assert!(rate["failovers"].as_u64().unwrap() >= 1, "{rate}");
    assert_eq!(rate["broken"], 0, "{rate}");
    assert_eq!(rate["wait_replicas"], 1);
}

#[test]
fn a_failover_with_wait_keeps_fences_in_order() {
    let fenced = run("failover-wait", "fenced");
    assert_eq!(support::verdict(&fenced, "fencing"), "valid");
    assert_eq!(fenced["faults_struck"]["failover"].as_u64().map(|n| n >= 1), Some(true));
}
