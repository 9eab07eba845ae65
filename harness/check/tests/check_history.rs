//! A damaged or edited history is refused, naming its line, before any checker judges it.

use contend_check::history::{Kind, Op, read_jsonl};
use contend_check::testkit::{MS, jsonl, two_turns};

fn refused(text: &str) -> String {
    match read_jsonl(text.as_bytes()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn a_well_formed_history_is_read_back() {
    assert_eq!(read_jsonl(jsonl(&two_turns()).as_bytes()).unwrap(), two_turns());
}

#[test]
fn a_completion_stamped_before_its_invocation_is_refused_with_its_line() {
    let mut h = two_turns();
    let ok = h.iter().position(|e| e.f == Op::Acquire && e.kind == Kind::Ok).unwrap();
    h[ok].time = 0;
    h[0].time = MS / 2;
    let e = refused(&jsonl(&h));
    assert!(
        e.contains(&format!("line {}", ok + 1)) && e.contains("before its own invocation"),
        "{e}"
    );
}

#[test]
fn a_completion_of_another_operation_is_refused() {
    let mut h = two_turns();
    let i = h.iter().position(|e| e.f == Op::Section && e.kind == Kind::Ok).unwrap();
    h[i].f = Op::Release;
    let e = refused(&jsonl(&h));
    assert!(e.contains(&format!("line {}", i + 1)) && e.contains("pending"), "{e}");
}

#[test]
fn a_duplicated_invocation_is_refused() {
    let mut h = two_turns();
    h.insert(1, h[0].clone());
    let e = refused(&jsonl(&h));
    assert!(e.contains("line 2") && e.contains("second invocation"), "{e}");
}

#[test]
fn a_completion_with_no_invocation_is_refused() {
    let mut h = two_turns();
    let w = h[0].worker;
    h.remove(0);
    let ok = h.iter().position(|e| e.worker == w).unwrap();
    let e = refused(&jsonl(&h));
    assert!(e.contains(&format!("line {}", ok + 1)) && e.contains("no invocation"), "{e}");
}

#[test]
fn an_unknown_field_is_refused() {
    let t = jsonl(&two_turns()).replacen(r#""pid":1001"#, r#""pid":1001,"ownd":true"#, 1);
    let e = refused(&t);
    assert!(e.contains("line 1") && e.contains("ownd"), "{e}");
}

#[test]
fn a_section_whose_exit_precedes_its_enter_is_refused() {
    let mut h = two_turns();
    let i = h.iter().position(|e| e.f == Op::Section && e.kind == Kind::Ok).unwrap();
    let (enter, exit) = (h[i].enter, h[i].exit);
    h[i].enter = exit;
    h[i].exit = enter;
    let e = refused(&jsonl(&h));
    assert!(e.contains(&format!("line {}", i + 1)) && e.contains("backwards"), "{e}");
}

#[test]
fn a_release_sent_after_it_completed_is_refused() {
    let mut h = two_turns();
    let i = h.iter().position(|e| e.f == Op::Release && e.kind == Kind::Ok).unwrap();
    h[i].last_send = Some(h[i].time + 1);
    let e = refused(&jsonl(&h));
    assert!(e.contains(&format!("line {}", i + 1)), "{e}");
}

#[test]
fn two_processes_sharing_a_worker_id_are_refused() {
    let mut h = two_turns();
    let i = h.iter().rposition(|e| e.worker == Some(1)).unwrap();
    h[i].pid += 1;
    let e = refused(&jsonl(&h));
    assert!(e.contains(&format!("line {}", i + 1)) && e.contains("two processes"), "{e}");
}
