//! Ctrl-C during a run stops every process the run started: no worker, no redis-server left.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn ctrl_c_leaves_no_worker_or_server_behind() {
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = support::scenario(
        dir.path(),
        "long",
        "workers = 3\niterations = 1000000\nmax_duration_ms = 120000\n[lock]\nttl_ms = 2000\n[section]\nhold = { distribution = \"fixed\", ms = 2 }\n",
    );
    let mut child = support::contend()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("reports"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn contend");
    let pid = child.id();
    // Wait until the two servers and three workers are up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut kids = Vec::new();
    while Instant::now() < deadline {
        kids = support::children_of(pid);
        if kids.len() >= 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(kids.len() >= 5, "only {} children appeared", kids.len());
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(i32::try_from(pid).expect("pid"), libc::SIGINT) };
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let left: Vec<u32> = kids.into_iter().filter(|&k| support::running(k)).collect();
    assert!(left.is_empty(), "still running after Ctrl-C: {left:?}");
}
