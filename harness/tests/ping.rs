//! The PING that `floor_ratio` divides by: taken between two cores when the lock server is
//! ours, with both processes' core affinities given back afterwards.

mod support;

use contend::ping::{self, Placement};
use redmutex::testing::RedisServer;

fn cores_of(pid: u32) -> Vec<usize> {
    // Field "Cpus_allowed_list" of /proc/PID/status, e.g. "0-1" or "0,2".
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim()
        .to_string();
    let mut cores = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cores.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => cores.push(part.parse().unwrap()),
        }
    }
    cores
}

fn my_thread_cores() -> Vec<usize> {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    cores_of(u32::try_from(tid).unwrap())
}

/// `ping::measure` against `server` on the runtime `rt`.
fn measure_on(rt: &tokio::runtime::Runtime, server: &RedisServer, pid: Option<u32>) -> ping::Ping {
    rt.block_on(async {
        let client = redis::Client::open(server.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        ping::measure(&mut conn, pid).await.expect("measure")
    })
}

#[test]
fn pings_between_two_cores_and_restores_the_affinities() {
    support::need_redis();
    let server = RedisServer::start().expect("redis-server");
    let pid = server.pid().expect("pid");
    let (server_before, me_before) = (cores_of(pid), my_thread_cores());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let measured = measure_on(&rt, &server, Some(pid));
    assert!(measured.p50_us > 0.0, "{measured:?}");
    if server_before.len() >= 2 && me_before.len() >= 2 {
        assert_eq!(measured.placement, Placement::CrossCore, "{measured:?}");
        assert!(measured.same_core_p50_us.is_some_and(|p| p > 0.0), "{measured:?}");
    } else {
        assert_eq!(measured.placement, Placement::Unpinned, "one core: {measured:?}");
    }
    assert_eq!(cores_of(pid), server_before, "the server's affinity is given back");
    assert_eq!(my_thread_cores(), me_before, "the coordinator's affinity is given back");
}

#[test]
fn someone_elses_server_is_pinged_unpinned() {
    support::need_redis();
    let server = RedisServer::start().expect("redis-server");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let measured = measure_on(&rt, &server, None);
    assert_eq!(measured.placement, Placement::Unpinned);
    assert!(measured.same_core_p50_us.is_none());
    assert!(measured.p50_us > 0.0);
}

#[test]
fn a_multi_thread_runtime_is_not_pinned() {
    // The measurement could hop between worker threads there, so pinning "this thread" would pin
    // the wrong one.
    support::need_redis();
    let server = RedisServer::start().expect("redis-server");
    let pid = server.pid().expect("pid");
    let server_before = cores_of(pid);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let measured = measure_on(&rt.unwrap(), &server, Some(pid));
    assert_eq!(measured.placement, Placement::Unpinned, "{measured:?}");
    assert!(measured.same_core_p50_us.is_none());
    assert_eq!(cores_of(pid), server_before, "the server was left alone");
}
