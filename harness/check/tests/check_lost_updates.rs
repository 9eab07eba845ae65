//! The lost-updates checker: hand-made histories (its real-Redis catches are in contend's tests/catches_lost_updates.rs).

use contend_check::check::{Timeline, Verdict, lost_updates};
use contend_check::testkit::{H, ctx};

#[test]
fn a_counter_equal_to_the_writes_is_valid() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 3, 0, &[])
        .release(1, 4, 5, true)
        .acquire(2, 0, 6, None)
        .section(2, 7, 8, 1, &[])
        .release(2, 9, 10, true)
        .fin(20, 2)
        .done();
    assert_eq!(lost_updates(&Timeline::new(&h), &ctx(false)).verdict, Verdict::Valid);
}

#[test]
fn two_writers_of_the_same_value_lose_an_update_and_are_named() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 30, 0, &[])
        .acquire(2, 0, 10, None)
        .section(2, 11, 20, 0, &[])
        .fin(40, 1)
        .done();
    let r = lost_updates(&Timeline::new(&h), &ctx(false));
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.findings[0].kind, "counter-mismatch");
    assert!(r.findings.iter().any(|f| f.kind == "duplicate-write" && f.events.len() == 2), "{r:?}");
}

#[test]
fn a_crashed_section_may_or_may_not_have_written() {
    let mut h = H::new();
    h.acquire(1, 0, 1, None).section(1, 2, 3, 0, &[]).acquire(2, 0, 1200, None);
    h.events.push(
        contend_check::history::Event::new(
            1201 * contend_check::testkit::MS,
            contend_check::history::Kind::Invoke,
            contend_check::history::Op::Section,
        )
        .by(2, 2),
    );
    let h0 = h.fin(2000, 1).done();
    assert_eq!(lost_updates(&Timeline::new(&h0), &ctx(false)).verdict, Verdict::Valid);
}

#[test]
fn a_fenced_lock_counts_only_accepted_writes() {
    let h = H::new()
        .acquire(1, 0, 1, Some(1))
        .fenced_section(1, 2, 1500, 0, 1, false)
        .acquire(2, 0, 1100, Some(2))
        .fenced_section(2, 1101, 1200, 0, 2, true)
        .fin(2000, 1)
        .done();
    assert_eq!(lost_updates(&Timeline::new(&h), &ctx(true)).verdict, Verdict::Valid);
    assert_eq!(lost_updates(&Timeline::new(&h), &ctx(false)).verdict, Verdict::Invalid);
}

#[test]
fn no_final_read_is_unknown() {
    let h = H::new().acquire(1, 0, 1, None).section(1, 2, 3, 0, &[]).done();
    assert_eq!(lost_updates(&Timeline::new(&h), &ctx(false)).verdict, Verdict::Unknown);
}
