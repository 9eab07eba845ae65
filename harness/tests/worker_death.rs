//! A worker that dies on its own (not struck by the nemesis) is reported, and whatever it had
//! begun, an acquire still waiting included, ends in the history as `info`.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

/// The coordinator's children: (workers, redis-server ports).
fn children(pid: u32) -> (Vec<u32>, Vec<u16>) {
    let (mut workers, mut ports) = (Vec::new(), Vec::new());
    for child in support::children_of(pid) {
        let args = support::cmdline(child);
        if args.iter().any(|a| a == "worker") {
            workers.push(child);
        } else if let Some(title) = args.first().filter(|a| a.starts_with("redis-server")) {
            // redis-server retitles itself "redis-server 127.0.0.1:PORT".
            ports.extend(title.rsplit(':').next().and_then(|p| p.trim().parse::<u16>().ok()));
        }
    }
    (workers, ports)
}

/// Clients blocked in a command (`BLPOP`) on the server at `port` (0 when it cannot be asked).
fn blocked_clients(port: u16) -> u64 {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else { return 0 };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
        return 0;
    };
    let info: String = redis::cmd("INFO").arg("clients").query(&mut conn).unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_worker_dying_mid_acquire_leaves_an_info_event_and_is_reported() {
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    // One holder lingers 5 s in its section; the other two wait in `notify`'s BLPOP.
    let path = support::scenario(
        dir.path(),
        "waiters",
        "workers = 3\niterations = 2\n[lock]\nttl_ms = 20000\nwait_ms = 30000\n\
         [section]\nhold = { distribution = \"fixed\", ms = 5000 }\n",
    );
    let out_dir = dir.path().join("reports");
    let mut child = support::contend()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn contend");
    let pid = child.id();
    // Wait until three workers run and two of them are blocked in `BLPOP` on the lock server:
    // then one holds the lock (it is in its section or about to be) and two are inside an
    // acquire.
    let deadline = Instant::now() + Duration::from_secs(60);
    let workers = loop {
        let (workers, ports) = children(pid);
        if workers.len() == 3 && ports.len() == 2 && ports.iter().any(|&p| blocked_clients(p) == 2)
        {
            break workers;
        }
        if Instant::now() >= deadline || child.try_wait().is_ok_and(|s| s.is_some()) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "the workers did not start: {workers:?} {ports:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for w in &workers {
        // SAFETY: kill(2) on a process of the run we started.
        unsafe { libc::kill(i32::try_from(*w).expect("pid"), libc::SIGKILL) };
    }
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "deaths must not pass silently: {stderr}");
    let history =
        std::fs::read_to_string(out_dir.join("latest/history.jsonl")).expect("the run's history");
    let events: Vec<serde_json::Value> =
        history.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    let infos: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "info" && e["f"] != "crash")
        .filter(|e| e["details"].as_str().is_some_and(|d| d.contains("died")))
        .collect();
    let pids: Vec<u64> = workers.iter().map(|&w| u64::from(w)).collect();
    assert_eq!(infos.len(), 3, "one info per dead worker: {infos:?}");
    assert!(infos.iter().all(|e| pids.contains(&e["pid"].as_u64().unwrap_or(0))), "{infos:?}");
    assert!(
        infos.iter().filter(|e| e["f"] == "acquire").count() >= 1,
        "a waiting worker's acquire must end as info: {infos:?}"
    );
    assert_eq!(events.iter().filter(|e| e["f"] == "crash").count(), 3);
}
