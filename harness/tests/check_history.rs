//! A damaged or edited history is refused, naming its line, before any checker judges it.

mod support;

use contend::history::{Event, Kind, Op, read_jsonl, write_jsonl};
use support::{H, MS};

fn text(h: &[Event]) -> String {
    let mut buf = Vec::new();
    write_jsonl(h, &mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

fn refused(text: &str) -> String {
    match read_jsonl(text.as_bytes()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => format!("{e:#}"),
    }
}

fn good() -> Vec<Event> {
    H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 5, 0, &[])
        .release(1, 6, 7, true)
        .acquire(2, 0, 8, None)
        .section(2, 9, 12, 1, &[])
        .release(2, 13, 14, true)
        .fin(20, 2)
        .done()
}

#[test]
fn a_well_formed_history_is_read_back() {
    assert_eq!(read_jsonl(text(&good()).as_bytes()).unwrap(), good());
}

#[test]
fn a_completion_stamped_before_its_invocation_is_refused_with_its_line() {
    let mut h = good();
    let ok = h.iter().position(|e| e.f == Op::Acquire && e.kind == Kind::Ok).unwrap();
    h[ok].time = 0;
    h[0].time = MS / 2;
    let e = refused(&text(&h));
    assert!(
        e.contains(&format!("line {}", ok + 1)) && e.contains("before its own invocation"),
        "{e}"
    );
}

#[test]
fn a_completion_of_another_operation_is_refused() {
    let mut h = good();
    let i = h.iter().position(|e| e.f == Op::Section && e.kind == Kind::Ok).unwrap();
    h[i].f = Op::Release;
    let e = refused(&text(&h));
    assert!(e.contains(&format!("line {}", i + 1)) && e.contains("pending"), "{e}");
}

#[test]
fn a_duplicated_invocation_is_refused() {
    let mut h = good();
    h.insert(1, h[0].clone());
    let e = refused(&text(&h));
    assert!(e.contains("line 2") && e.contains("second invocation"), "{e}");
}

#[test]
fn a_completion_with_no_invocation_is_refused() {
    let mut h = good();
    let w = h[0].worker;
    h.remove(0);
    let ok = h.iter().position(|e| e.worker == w).unwrap();
    let e = refused(&text(&h));
    assert!(e.contains(&format!("line {}", ok + 1)) && e.contains("no invocation"), "{e}");
}

#[test]
fn an_unknown_field_is_refused() {
    let t = text(&good()).replacen(r#""pid":1001"#, r#""pid":1001,"ownd":true"#, 1);
    let e = refused(&t);
    assert!(e.contains("line 1") && e.contains("ownd"), "{e}");
}

#[test]
fn a_section_whose_exit_precedes_its_enter_is_refused() {
    let mut h = good();
    let i = h.iter().position(|e| e.f == Op::Section && e.kind == Kind::Ok).unwrap();
    let (enter, exit) = (h[i].enter, h[i].exit);
    h[i].enter = exit;
    h[i].exit = enter;
    let e = refused(&text(&h));
    assert!(e.contains(&format!("line {}", i + 1)) && e.contains("backwards"), "{e}");
}

#[test]
fn a_release_sent_after_it_completed_is_refused() {
    let mut h = good();
    let i = h.iter().position(|e| e.f == Op::Release && e.kind == Kind::Ok).unwrap();
    h[i].last_send = Some(h[i].time + 1);
    let e = refused(&text(&h));
    assert!(e.contains(&format!("line {}", i + 1)), "{e}");
}

#[test]
fn two_processes_sharing_a_worker_id_are_refused() {
    let mut h = good();
    let i = h.iter().rposition(|e| e.worker == Some(1)).unwrap();
    h[i].pid += 1;
    let e = refused(&text(&h));
    assert!(e.contains(&format!("line {}", i + 1)) && e.contains("two processes"), "{e}");
}

#[test]
fn contend_check_refuses_a_damaged_history_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = good();
    h.insert(1, h[0].clone());
    std::fs::write(dir.path().join("history.jsonl"), text(&h)).unwrap();
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
