//! Faults that strike inside an adapter's process, on real Redis: a command fault at the fault
//! proxy delays a command the adapter's own library sends; a client clock skew runs the
//! adapter under libfaketime.
//!
//! The redis-py tests need `just adapters` (`adapters/.venv`; a missing one fails the test,
//! naming the command); the clock tests need libfaketime (`apt-get install libfaketime`).

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

/// The repository's `scenarios/NAME.toml`.
fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"))
}

/// Runs `scenario` with `algorithm` from the repository's root (where `adapters/` is found);
/// answers the output and the run's history.
fn run(dir: &Path, scenario: &Path, algorithm: &str) -> (std::process::Output, Vec<Event>) {
    let reports = dir.join("reports");
    let out = contend()
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
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

/// libfaketime, which the clock tests need.
fn need_faketime() {
    assert!(
        contend::adapter::faketime::library().is_some(),
        "a client clock skew of an adapter needs libfaketime: apt-get install libfaketime"
    );
}

#[test]
fn the_redis_py_lock_runs_under_a_client_clock_skew_and_its_clock_shows_it() {
    // The skewed worker's adapter answers its hello with its clock (`clock_ms`): the run
    // stops with a setup error unless CPython's clock reads 3000 ms ahead. Its lock's waits
    // sleep (time.sleep, mended by the helper) and its lease is the server's: all valid.
    let algorithm = redis_py();
    need_faketime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, history) = run(dir.path(), &shipped("client-clock-skew"), &algorithm);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(history.iter().any(|e| e.f == Op::ClockSkew), "no clock-skew in the history");
}

/// A manifest running `sh -c SCRIPT`, named `name`, supporting try-acquire only.
fn sh_manifest(dir: &Path, name: &str, script: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let command = serde_json::to_string(&["sh", "-c", script]).expect("json");
    let text = format!(
        "name = \"{name}\"\ncommand = {command}\n\
         [supports]\nfencing = false\nextend = false\ntry_acquire = true\n"
    );
    std::fs::write(&path, text).expect("write manifest");
    path
}

#[test]
fn an_adapter_whose_clock_the_skew_does_not_move_is_a_setup_error() {
    // A runtime that ignores libfaketime reports its real clock: 0 stands for it.
    need_faketime();
    let dir = tempfile::tempdir().expect("tempdir");
    let hello = r#"{"id":0,"result":"hello","protocol":1,"name":"static","version":"0","supports":{"fencing":false,"extend":false,"try_acquire":true},"clock_ms":0}"#;
    let m = sh_manifest(dir.path(), "static", &format!("read l; echo '{hello}'; read l"));
    let scenario = support::scenario(
        dir.path(),
        "skewed",
        "workers = 1\niterations = 1\n[lock]\nttl_ms = 1000\nwait_ms = 1000\n\
         [[faults]]\nkind = \"clock-skew\"\noffset_ms = 3000\n",
    );
    let (out, _) = run(dir.path(), &scenario, &format!("adapter:{}", m.display()));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("adapter `static`"), "{err}");
    assert!(err.contains("does not read the time through the C library"), "{err}");
    assert!(err.contains("+3000 ms"), "{err}");
}

#[test]
fn a_skew_whose_window_opens_mid_run_moves_the_adapters_clock_then() {
    // A served clock-reading specimen (`setnx-getset-expiry`: expiry judged by the client's
    // clock against a timestamp another client wrote). Worker 0's clock jumps 3000 ms ahead
    // 1500 ms into the run, when the adapter has long started at offset 0: from then on it
    // takes over live locks.
    need_faketime();
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let served = contend()
        .args(["adapter", "serve", "setnx-getset-expiry", "--scale", "0.2", "--manifest"])
        .output()
        .expect("serve --manifest");
    let m = dir.path().join("served.toml");
    std::fs::write(&m, &served.stdout).expect("write manifest");
    let toml = std::fs::read_to_string(shipped("client-clock-skew"))
        .expect("client-clock-skew.toml")
        .replace(
            "offset_ms = 3000\nworkers = [0]\n",
            "offset_ms = 3000\nworkers = [0]\nstart_ms = 1500\n",
        )
        .replace("[expect.setnx-getset-expiry]", "[expect.served-setnx-getset-expiry]");
    assert!(toml.contains("start_ms = 1500"), "the scenario changed: {toml}");
    let scenario = support::scenario(dir.path(), "late-skew", &toml);
    let (out, history) = run(dir.path(), &scenario, &format!("adapter:{}", m.display()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let opened = history.iter().find(|e| e.f == Op::ClockSkew && e.kind == Kind::Invoke);
    let first = history.iter().map(|e| e.time).min().unwrap_or(0);
    assert!(
        opened.is_some_and(|e| e.time >= first + 1_400_000_000),
        "the skew's window opened too early: {opened:?}"
    );
}
