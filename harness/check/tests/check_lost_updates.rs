//! The lost-updates checker: hand-made histories (its real-Redis catches are in contend's tests/catches_lost_updates.rs).

use contend_check::check::{CheckResult, Timeline, Verdict, lost_updates};
use contend_check::history::{Event, History, Op};
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
    // Worker 2's section has no completion on record: the counter may or may not count it.
    for counted in [1, 2] {
        let mut h = H::new();
        h.acquire(1, 0, 1, None).section(1, 2, 3, 0, &[]).acquire(2, 0, 1200, None);
        let h = h.invoke(2, 1201, Op::Section).fin(2000, counted).done();
        let r = lost_updates(&Timeline::new(&h), &ctx(false));
        assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
        assert_eq!(r.figures["unsure"], 1.0, "{r:?}");
    }
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

fn kinds(r: &CheckResult) -> Vec<&str> {
    r.findings.iter().map(|f| f.kind.as_str()).collect()
}

#[test]
fn a_counter_above_every_write_that_may_count_is_a_counter_mismatch() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 3, 0, &[])
        .acquire(2, 4, 5, None)
        .section(2, 6, 7, 1, &[])
        .fin(20, 3)
        .done();
    let r = lost_updates(&Timeline::new(&h), &ctx(false));
    assert_eq!(kinds(&r), ["counter-mismatch"], "{r:?}");
    assert!(r.findings[0].message.contains("the counter is 3 but 2 completed"), "{r:?}");
}

/// Worker 1 writes 1 for sure; worker 2's section read `read` and ended `info` before its write.
fn unsure_read(read: i64, fin: i64) -> History {
    H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 3, 0, &[])
        .acquire(2, 4, 5, None)
        .info_section(2, 6, 7, Some(6), None, Some(read), None)
        .fin(20, fin)
        .done()
}

#[test]
fn a_value_read_above_the_final_counter_proves_it_set_back_and_one_read_at_it_does_not() {
    let r = lost_updates(&Timeline::new(&unsure_read(1, 1)), &ctx(false));
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    let r = lost_updates(&Timeline::new(&unsure_read(3, 2)), &ctx(false));
    assert_eq!(kinds(&r), ["counter-set-back"], "{r:?}");
    assert!(r.findings[0].message.contains("worker 2 read 3"), "{r:?}");
}

/// A fenced section of worker `w` as [`H::fenced_section`], but ended `info` (its exit failed)
/// with `accepted` as recorded: `None` when it ended before its write.
fn fenced_info(h: &mut H, w: u32, at: u64, read: i64, fence: u64, accepted: Option<bool>) {
    h.acquire(w, at, at + 1, Some(fence)).info_section(
        w,
        at + 2,
        at + 3,
        Some(at + 2),
        None,
        Some(read),
        None,
    );
    let e: &mut Event = h.events.last_mut().expect("the section's info");
    e.fence = Some(fence);
    e.accepted = accepted;
}

#[test]
fn a_fenced_section_that_ended_before_its_write_may_count_and_one_refused_does_not() {
    let with = |accepted: Option<bool>, fin: i64| {
        let mut h = H::new();
        h.acquire(1, 0, 1, Some(1)).fenced_section(1, 2, 3, 0, 1, true);
        fenced_info(&mut h, 2, 10, 1, 2, accepted);
        lost_updates(&Timeline::new(&h.fin(100, fin).done()), &ctx(true))
    };
    for fin in [1, 2] {
        let r = with(None, fin);
        assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
        assert_eq!(r.figures["unsure"], 1.0, "{r:?}");
    }
    let r = with(Some(false), 1);
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    assert_eq!(r.figures["unsure"], 0.0, "{r:?}");
    assert_eq!(kinds(&with(Some(false), 2)), ["counter-mismatch"]);
}

#[test]
fn a_fenced_counter_counts_the_accepted_writes_and_not_the_refused_ones() {
    // Fences 1 and 2 write 1 and 2; a stale holder of fence 1 is refused.
    let h = H::new()
        .acquire(1, 0, 1, Some(1))
        .fenced_section(1, 2, 3, 0, 1, true)
        .acquire(2, 4, 5, Some(2))
        .fenced_section(2, 6, 7, 1, 2, true)
        .acquire(3, 8, 9, Some(1))
        .fenced_section(3, 10, 11, 2, 1, false)
        .fin(20, 2)
        .done();
    let r = lost_updates(&Timeline::new(&h), &ctx(true));
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    assert_eq!(r.figures["writes"], 2.0, "{r:?}");
}

#[test]
fn a_section_that_completed_without_a_write_certainly_did_not_count() {
    let mut h = H::new();
    h.acquire(1, 0, 1, None).section(1, 2, 3, 0, &[]);
    h.acquire(2, 4, 5, None).section(2, 6, 7, 1, &[]);
    h.events.last_mut().expect("worker 2's section").wrote = None;
    let r = lost_updates(&Timeline::new(&h.fin(20, 1).done()), &ctx(false));
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    assert_eq!(r.figures["unsure"], 0.0, "{r:?}");
}
