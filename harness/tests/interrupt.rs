//! Ctrl-C during a run stops every process the run started: no worker, no redis-server left.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return kids };
    for entry in entries.flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // The fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            kids.push(child);
        }
    }
    kids
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !matches!(s.rsplit(')').next().unwrap_or("").split_whitespace().next(), Some("Z" | "X"))
        })
        .unwrap_or(false)
}

#[test]
fn ctrl_c_leaves_no_worker_or_server_behind() {
    if !redmutex::testing::available() {
        eprintln!("skipped: no redis-server");
        return;
    }
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
        kids = children_of(pid);
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
    let left: Vec<u32> = kids.into_iter().filter(|&k| running(k)).collect();
    assert!(left.is_empty(), "still running after Ctrl-C: {left:?}");
}
