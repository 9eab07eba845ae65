//! A history is evidence, on real Redis: `notify`'s hand-offs are named in the history and bound
//! the leases the checkers judge (the hand-made evidence cases are in
//! harness/check/tests/check_evidence.rs).

mod support;

use contend::check::Timeline;
use contend::history::Op;

/// On real Redis, `notify`'s releases name the waiter they handed the lock to, and the
/// checkers bound those waiters' leases by the release (not by when they began to wait).
#[test]
fn notify_on_real_redis_names_its_hand_offs_and_they_bound_the_leases() {
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let more = ["--workers", "4", "--iterations", "25"];
    let (output, _) =
        support::run_with(dir.path(), &scenario.join("increment-20x100.toml"), "notify", &more);
    assert!(output.status.success(), "{}", support::text(&output));
    let history = dir.path().join("reports/latest/history.jsonl");
    let file = std::fs::File::open(history).expect("a history");
    let history = contend::history::read_jsonl(std::io::BufReader::new(file)).expect("readable");
    let t = Timeline::new(&history);
    let handed: Vec<_> = t.acquisitions.iter().filter(|a| a.handed_by.is_some()).collect();
    assert!(!handed.is_empty(), "no acquisition of 4 contending workers was a hand-off");
    for a in handed {
        let release = a.handed_by.expect("handed");
        assert_eq!(history[release].f, Op::Release);
        assert_ne!(history[release].worker, Some(a.worker), "a worker handed the lock to itself");
        assert!(t.lease_start(a) >= history[release].time, "the bound is the release");
    }
}
