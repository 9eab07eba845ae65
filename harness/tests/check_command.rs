//! A damaged or edited history is refused, naming its line, before any checker judges it.

mod support;

use contend_check::testkit::{jsonl, two_turns};

#[test]
fn contend_check_refuses_a_damaged_history_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = two_turns();
    h.insert(1, h[0].clone());
    std::fs::write(dir.path().join("history.jsonl"), jsonl(&h)).unwrap();
    let results = serde_json::json!({
        "scenario": "hand-made", "algorithm": "token", "expectations_stated": false,
        "context": {"ttl_ns": 1_000_000_000u64, "wait_ns": 2_000_000_000u64,
                    "slack_ns": 100_000_000u64, "fenced": false},
        "checkers": {}
    });
    std::fs::write(dir.path().join("results.json"), results.to_string()).unwrap();
    let out = support::contend().arg("check").arg(dir.path()).output().unwrap();
    let all = support::text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("line 2") && all.contains("second invocation"), "{all}");
}
