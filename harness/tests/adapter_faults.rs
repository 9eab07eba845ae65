//! Faults that strike inside an adapter's operations, on real Redis: a command fault at the
//! fault proxy delays a command the adapter's own library sends.
//!
//! These tests run the redis-py `Lock` adapter: `just adapters` must have made
//! `adapters/.venv` (a missing one fails the test, naming the command).

mod support;

use std::path::{Path, PathBuf};

use contend::history::{Event, Kind, Op};
use support::{contend, text};

/// The repository's `adapters/` folder.
fn adapters() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters")
}

/// `adapter:PATH` of the redis-py Lock adapter; fails naming `just adapters` without its venv.
fn redis_py() -> String {
    support::need_redis();
    assert!(
        adapters().join(".venv/bin/python").exists(),
        "the redis-py adapter needs its virtual environment: run `just adapters`"
    );
    format!("adapter:{}", adapters().join("redis-py-lock.toml").display())
}

/// Runs `scenario` with `algorithm`; answers the output and the run's history.
fn run(dir: &Path, scenario: &Path, algorithm: &str) -> (std::process::Output, Vec<Event>) {
    let reports = dir.join("reports");
    let out = contend()
        .arg("run")
        .arg(scenario)
        .args(["-a", algorithm])
        .arg("--out")
        .arg(&reports)
        .output()
        .expect("contend run");
    let history = std::fs::read_to_string(reports.join("latest/history.jsonl")).unwrap_or_default();
    let events = history.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    (out, events)
}

/// Worker 0's first release: its first command (redis-py's `EVALSHA` of the release script)
/// is held 2500 ms at the proxy, past the 1000 ms lease; worker 1 takes the lock meanwhile.
const DELAYED_RELEASE: &str = r#"
description = "worker 0's first release command reaches Redis 2500 ms late (ttl 1000 ms)"
workers = 2
iterations = 2

[lock]
ttl_ms = 1000
wait_ms = 6000

[section]
hold = { distribution = "fixed", ms = 100 }

[[faults]]
kind = "command"
action = "delay-command"
op = "release"
nth_op = 1
nth_command = 1
delay_ms = 2500
workers = [0]

# Worker 1's first release is then the first to reach the fresh server: its EVALSHA gets
# NOSCRIPT, so redis-py loads the script (its 2nd command) and sends EVALSHA again. A 1 ms
# delay of the 2nd command's reply shows which command it is.
[[faults]]
kind = "command"
action = "delay-reply"
op = "release"
nth_op = 1
nth_command = 2
delay_ms = 1
workers = [1]

# Worker 1 starts each acquire 300 ms late, so that worker 0 holds the lock first.
[[faults]]
kind = "step-delay"
op = "acquire"
step = 0
delay_ms = 300
workers = [1]

[expect.redis-py-lock]
mutual-exclusion = "valid"
lost-updates = "valid"
ownership = "valid"
fencing = "unknown"
liveness = "valid"
"#;

#[test]
fn a_command_fault_delays_the_redis_py_release_script_at_the_proxy() {
    let algorithm = redis_py();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = support::scenario(dir.path(), "delayed-release", DELAYED_RELEASE);
    let (out, history) = run(dir.path(), &scenario, &algorithm);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The proxy struck the release script of worker 0's first release...
    let strikes: Vec<&Event> =
        history.iter().filter(|e| e.f == Op::Command && e.kind == Kind::Invoke).collect();
    let details: Vec<&str> =
        strikes.iter().map(|e| e.details.as_deref().unwrap_or_default()).collect();
    assert_eq!(strikes.len(), 2, "{details:?}");
    assert!(
        details.iter().any(|d| d.contains("on EVALSHA (command 1 of release #1 of worker slot 0)")),
        "not the release script: {details:?}"
    );
    // The script was not on the fresh server yet: redis-py loaded it after the NOSCRIPT.
    assert!(
        details.iter().any(|d| d.contains("on SCRIPT (command 2 of release #1 of worker slot 1)")),
        "{details:?}"
    );
    // ... so it ran after the lease ended and another worker took the lock: redis-py's
    // owner-checked script said it was no longer ours (LockNotOwnedError), removing nothing.
    let releases: Vec<&Event> =
        history.iter().filter(|e| e.f == Op::Release && e.kind == Kind::Ok).collect();
    let stale: Vec<&&Event> = releases.iter().filter(|e| e.owned == Some(false)).collect();
    assert_eq!(stale.len(), 1, "one release must have found the lock gone: {releases:?}");
    let delayed =
        strikes.iter().find(|e| e.details.as_deref().is_some_and(|d| d.contains("EVALSHA")));
    assert!(stale[0].time >= delayed.map_or(u64::MAX, |e| e.time), "not the delayed release");
}
