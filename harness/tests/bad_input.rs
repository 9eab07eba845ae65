//! Bad scenario files, unknown algorithms, missing or unreachable servers: clear errors, exit 2.

mod support;

use std::time::Instant;

use support::{contend, scenario, text};

const SMALL: &str = "workers = 1\niterations = 1\n[lock]\nttl_ms = 1000\n";

#[test]
fn an_unknown_key_is_an_error_naming_file_line_column_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "bad", "workers = 2\n[lock]\nttl_ms = 1000\nttl_sec = 3\n");
    let out = contend().arg("run").arg(&path).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:4:1") && err.contains("ttl_sec"), "{err}");
}

#[test]
fn an_unknown_algorithm_lists_the_known_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "ok", SMALL);
    let out = contend().arg("run").arg(&path).args(["-a", "nope"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for known in ["notify", "token", "fenced", "poll-get-del"] {
        assert!(err.contains(known), "{err}");
    }
}

#[test]
fn an_unreachable_url_fails_within_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "ok", SMALL);
    let port = redmutex::testing::free_port().expect("port");
    let started = Instant::now();
    let out = contend()
        .arg("run")
        .arg(&path)
        .args(["--server", &format!("redis://127.0.0.1:{port}")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reachable"), "{}", text(&out));
    // The limit is 5 s; the bound here only guards against a hang.
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

#[test]
fn no_redis_server_names_the_install_command_and_docker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "ok", SMALL);
    let out = contend()
        .arg("run")
        .arg(&path)
        .env(redmutex::testing::SERVER_ENV, dir.path().join("no-such-redis-server"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("apt-get install redis-server") && err.contains("--server docker"),
        "{err}"
    );
}

#[test]
fn a_fault_with_a_setting_of_another_kind_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "f", "[[faults]]\nkind = \"kill-holder\"\noffset_ms = 5\n");
    let out = contend().arg("run").arg(&path).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("f.toml:2:8"), "{}", text(&out));
}

#[cfg(not(feature = "docker"))]
#[test]
fn docker_without_the_feature_says_how_to_get_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "ok", SMALL);
    let out = contend().arg("run").arg(&path).args(["--server", "docker"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features docker"), "{}", text(&out));
}
