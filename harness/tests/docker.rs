//! The docker server backend: a container from the local image answers PING, serves one lock
//! acquire/release, and is gone after drop. Needs the image (`just redis-image`); run with
//! `cargo test -p contend --features docker --test docker`.
#![cfg(feature = "docker")]

use std::time::Duration;

use contend::docker;
use redmutex::algo::{AcquireParams, Backoff, ReleaseParams};
use redmutex::driver::{Connection, NoHooks, Timeouts};
use redmutex::proto::{Command, Keys, Outcome, Reply, Token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_from_the_local_image_serves_a_lock() {
    let server = docker::start(docker::IMAGE, docker::TAG).await.expect("start the container");
    let url = server.url();
    assert!(url.starts_with("redis://127.0.0.1:"), "{url}");
    let conn = Connection::open(&url, Timeouts::default()).await.expect("connect");
    assert_eq!(conn.exec(&Command::Ping).await.expect("PING"), Reply::Status("PONG".into()));

    let protocol = redmutex::Algorithm::Token.protocol();
    let keys = Keys::new("docker:", "lock");
    let acquire = AcquireParams {
        keys: keys.clone(),
        token: Token::random().expect("randomness"),
        ttl: Duration::from_secs(5),
        wait: Some(Duration::from_secs(5)),
        drift: Duration::ZERO,
        seed: 1,
        backoff: Backoff::default(),
    };
    let mut machine = protocol.acquire(acquire);
    let grant = match conn.run(machine.as_mut(), &mut NoHooks).await.expect("acquire") {
        Outcome::Acquired(grant) => grant,
        other => panic!("expected the lock, got {other:?}"),
    };
    let release = ReleaseParams {
        keys,
        grant,
        ttl: Duration::from_secs(5),
        fresh_token: Token::random().expect("randomness"),
    };
    let mut machine = protocol.release(release);
    let released = conn.run(machine.as_mut(), &mut NoHooks).await.expect("release");
    assert_eq!(released, Outcome::Released { owned: true, handed: None });

    let (id, port) = (server.id().to_string(), server.port());
    drop(server);
    let listed = std::process::Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter"])
        .arg(format!("id={id}"))
        .output()
        .expect("docker ps");
    assert!(
        String::from_utf8_lossy(&listed.stdout).trim().is_empty(),
        "container {id} survived drop"
    );
    assert!(redmutex::testing::ping(port).is_err(), "port {port} still answers");
}

#[tokio::test]
async fn a_missing_image_says_how_to_build_it() {
    let err = docker::start("redmutex/no-such-image", "never").await.expect_err("no such image");
    let text = format!("{err:#}");
    assert!(text.contains("just redis-image"), "{text}");
}

/// The port of a `redis://127.0.0.1:PORT` URL.
fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port in the URL")
}

#[test]
fn start_pair_gives_a_lock_server_and_a_witness_until_dropped() {
    let (guard, lock, witness) = docker::start_pair().expect("start two containers");
    assert_ne!(lock, witness);
    let ports = [port_of(&lock), port_of(&witness)];
    for port in ports {
        redmutex::testing::ping(port).expect("PING");
    }
    drop(guard);
    for port in ports {
        assert!(redmutex::testing::ping(port).is_err(), "port {port} still answers after drop");
    }
}

/// The whole path a user takes: `contend run SCENARIO --server docker` starts its lock server
/// and witness as containers and judges the run (removal on drop is tested above).
#[test]
fn contend_run_with_server_docker_judges_a_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/increment-20x100.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_contend"))
        .args([
            "run",
            scenario,
            "--server",
            "docker",
            "--workers",
            "3",
            "--iterations",
            "10",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .expect("run contend");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("AS EXPECTED"), "{text}");
}
