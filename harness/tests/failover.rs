//! Failover on real servers: a primary, a replica and three Sentinels; the shipped scenarios
//! `failover` (no `WAIT`) and `failover-wait` (`[lock] replicas = 1`) run end to end, and the
//! run leaves no process behind.

mod support;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"))
}

/// Runs a shipped scenario in a session of its own; answers its results, after checking that it
/// went as the scenario expects and that nothing of the session outlived it.
fn run(name: &str, algorithm: &str) -> serde_json::Value {
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("reports");
    let mut cmd = support::contend();
    cmd.arg("run").arg(scenario(name)).args(["-a", algorithm, "--out"]).arg(&out_dir);
    // SAFETY: setsid is async-signal-safe and touches nothing of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = child.spawn().expect("run contend");
    let sid = child.id();
    let out = child.wait_with_output().expect("wait for contend");
    let left = support::session_members(sid);
    assert!(left.is_empty(), "processes of the run outlived it: {left:?}\n{}", support::text(&out));
    let results: serde_json::Value = std::fs::read_to_string(out_dir.join("latest/results.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(results["as_expected"], true, "{}", support::text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
    results
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
