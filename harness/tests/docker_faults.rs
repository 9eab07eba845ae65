//! Server faults in docker mode: the lock server's container restarts with each persistence
//! mode, `contend run --server docker` strikes the restart scenarios and the proxy's faults with
//! the verdicts the scenarios expect, refuses what a container cannot do, and leaves no
//! container or volume behind, Ctrl-C included. Needs the image (`just redis-image`); run with
//! `just test-docker`.
#![cfg(feature = "docker")]

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use contend::docker::PID_LABEL;
use contend::server_faults::docker::ContainerServer;
use contend::server_faults::{Crash, Persistence, Restartable};

fn scenario(name: &str) -> String {
    format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"))
}

/// `docker ARGS` answering its standard output.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("run docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The containers the process `pid` started that still exist.
fn containers_of(pid: u32) -> String {
    docker(&["ps", "-aq", "--filter", &format!("label={PID_LABEL}={pid}")])
}

/// Runs `contend run SCENARIO --server docker -a ALGORITHM`; answers its output and the pid.
fn run_in_docker(name: &str, algorithm: &str, out: &Path) -> (Output, u32) {
    let child = Command::new(env!("CARGO_BIN_EXE_contend"))
        .args(["run", &scenario(name), "--server", "docker", "-a", algorithm, "--out"])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run contend");
    let pid = child.id();
    (child.wait_with_output().expect("wait for contend"), pid)
}

fn results(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("latest/results.json")).expect("results.json");
    serde_json::from_str(&text).expect("results.json parses")
}

fn exists(port: u16, key: &str) -> bool {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("url");
    let mut conn = client.get_connection().expect("connect");
    redis::cmd("EXISTS").arg(key).query::<i64>(&mut conn).expect("EXISTS") == 1
}

fn set(port: u16, key: &str) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("url");
    let mut conn = client.get_connection().expect("connect");
    redis::cmd("SET").arg(key).arg("v").query::<()>(&mut conn).expect("SET");
}

#[test]
fn a_container_restart_keeps_what_its_persistence_keeps_and_drop_removes_its_volume() {
    for (mode, kept) in [(Persistence::None, false), (Persistence::AofAlways, true)] {
        for how in [Crash::Sigkill, Crash::ShutdownNosave] {
            let mut server = ContainerServer::start(mode).expect("start the container");
            let port = server.port();
            set(port, "lock");
            server.crash(how).expect("crash");
            assert!(!server.is_up());
            assert!(redmutex::testing::ping(port).is_err(), "{mode} {how:?}: down means down");
            let state = docker(&["inspect", "--format", "{{.State.Status}}", server.id()]);
            assert_eq!(state, "exited", "{mode} {how:?}: the container itself stopped");
            server.start_again().expect("start again");
            assert_eq!(server.port(), port, "the same published port");
            assert_eq!(exists(port, "lock"), kept, "{mode} {how:?}: was the key kept?");
            let volume =
                docker(&["inspect", "--format", "{{range .Mounts}}{{.Name}}{{end}}", server.id()]);
            assert!(!volume.is_empty(), "the data folder is a volume");
            let id = server.id().to_string();
            drop(server);
            assert!(docker(&["ps", "-aq", "--filter", &format!("id={id}")]).is_empty());
            assert!(
                docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]).is_empty(),
                "volume {volume} survived its container"
            );
        }
    }
}

/// The check, in docker mode: a restart without persistence forgets the lock (a lease
/// violation for token), with appendfsync always it does not; the restart struck each time,
/// struck the container, and no container of the run is left.
#[test]
fn restart_scenarios_in_containers_break_or_keep_the_lock_as_expected() {
    for (name, expected) in [("restart-none", "invalid"), ("restart-aof-always", "valid")] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (out, pid) = run_in_docker(name, "token", dir.path());
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {text}");
        assert!(text.contains("AS EXPECTED"), "{name}: {text}");
        let results = results(dir.path());
        assert_eq!(results["faults_struck"]["restart-server"], 1, "{name}: {results}");
        assert_eq!(results["checkers"]["mutual-exclusion"]["verdict"], expected, "{name}");
        let history =
            std::fs::read_to_string(dir.path().join("latest/history.jsonl")).expect("history");
        assert!(history.contains("SIGKILL the lock server's container"), "{name}: {history}");
        assert!(containers_of(pid).is_empty(), "{name}: containers left behind");
    }
}

/// The proxy's faults need no container of their own: the proxy sits in front of the
/// container's published port (a partitioned holder), and `DEBUG SLEEP` reaches it.
#[test]
fn the_proxy_faults_and_a_slow_server_strike_in_docker_mode() {
    for (name, fault) in [("partition-holder", "partition-holder"), ("slow-server", "slow-server")]
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let (out, pid) = run_in_docker(name, "token", dir.path());
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {text}");
        let results = results(dir.path());
        assert!(results["faults_struck"][fault].as_u64() >= Some(1), "{name}: {results}");
        assert!(containers_of(pid).is_empty(), "{name}: containers left behind");
    }
}

#[test]
fn a_server_clock_jump_is_refused_in_docker_mode_naming_the_alternative() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out, pid) = run_in_docker("server-clock-jump", "token", dir.path());
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("libfaketime") && text.contains("--server local"), "{text}");
    assert!(containers_of(pid).is_empty(), "containers left behind");
}

#[test]
fn ctrl_c_during_a_docker_restart_run_leaves_no_container_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_contend"))
        .args(["run", &scenario("restart-none"), "--server", "docker", "--out"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run contend");
    let pid = child.id();
    // The pair, the lock server's own container, and the workers.
    let deadline = Instant::now() + Duration::from_secs(60);
    while containers_of(pid).lines().count() < 3 || support::children_of(pid).len() < 3 {
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(i32::try_from(pid).expect("pid"), libc::SIGINT) };
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "interrupted");
    assert!(containers_of(pid).is_empty(), "containers left behind after Ctrl-C");
}
