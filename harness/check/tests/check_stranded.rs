//! The stranded-lock checker: hand-made histories of a lock free of every holder while workers
//! waited, and of the cases that only look like it.

use contend_check::check::{CheckResult, Timeline, Verdict, stranded_lock};
use contend_check::history::{Event, Op};
use contend_check::testkit::{H, ctx};

fn check(h: &[Event]) -> CheckResult {
    stranded_lock(&Timeline::new(h), &ctx(false))
}

#[test]
fn a_lock_handed_to_nobody_while_a_worker_waits_is_stranded_and_named() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 5, 0, &[])
        .release_handing(1, 6, 7, "fresh")
        .acquire(2, 3, 1500, None)
        .won_at(1490)
        .done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    let f = &r.findings[0];
    assert_eq!(f.kind, "stranded-lock");
    assert!(f.message.contains("from 7 ms to 1490 ms") && f.message.contains("[2]"), "{f:?}");
    assert!(f.events.iter().all(|&i| h[i].worker == Some(2)), "{f:?}");
}

#[test]
fn a_dropped_acquire_cleaned_up_by_its_worker_hides_no_stranded_lock() {
    // Worker 2's acquire is dropped at 4 ms and cleaned up by 5 ms: from then on it holds
    // nothing, so the lock lies free from 7 ms (worker 1's release) while worker 3 waits.
    let h = |cleanup: Option<u64>| {
        H::new()
            .acquire(1, 0, 1, None)
            .section(1, 2, 5, 0, &[])
            .release(1, 6, 7, true)
            .cancelled(2, 3, 4, "c2", cleanup)
            .acquire(3, 3, 900, None)
            .won_at(890)
            .done()
    };
    let r = check(&h(Some(5)));
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert!(r.findings[0].message.contains("from 7 ms to 890 ms"), "{r:?}");
    // Without a clean-up that ended (its worker died in it), the dropped acquire may hold the
    // lock for a ttl: no finding.
    assert_eq!(check(&h(None)).verdict, Verdict::Valid);
}

#[test]
fn a_waiter_polling_within_the_slack_is_fine() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 5, 0, &[])
        .release(1, 6, 7, true)
        .acquire(2, 3, 60, None)
        .won_at(59)
        .done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

#[test]
fn a_hand_off_covers_the_time_until_the_waiter_hears_of_it() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 5, 0, &[])
        .release_handing(1, 6, 7, "fresh")
        .acquire_handed(2, 3, 900, "fresh")
        .done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

#[test]
fn a_crashed_holders_lease_holds_the_lock_until_it_can_have_run_out() {
    let retaken = |at: u64| {
        H::new()
            .acquire(1, 0, 1, None)
            .invoke(1, 2, Op::Section)
            .killed_during(1, 50, Op::Section)
            .acquire(2, 10, at + 1, None)
            .won_at(at)
            .done()
    };
    assert_eq!(check(&retaken(1050)).verdict, Verdict::Valid);
    assert_eq!(check(&retaken(1490)).verdict, Verdict::Invalid);
}

#[test]
fn a_paused_holder_holds_the_lock_until_its_release() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 3000, 0, &[])
        .release(1, 3001, 3002, true)
        .acquire(2, 5, 3010, None)
        .won_at(3005)
        .done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

#[test]
fn an_acquire_that_ended_unsure_may_hold_the_lock_for_a_ttl() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .release(1, 2, 3, true)
        .unfinished(3, 4, 20)
        .acquire(2, 5, 1000, None)
        .won_at(990)
        .done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

#[test]
fn a_free_lock_nobody_waits_for_is_fine() {
    let h =
        H::new().acquire(1, 0, 1, None).release(1, 2, 3, true).acquire(2, 2000, 2001, None).done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

/// The crashed holder's lease may run to its acquisition + ttl + the drift margin (ttl/100 +
/// 2 ms = 12 ms here): 1013 ms. A waiter winning 103 ms after that waited past the 100 ms slack;
/// one winning 98 ms after did not.
#[test]
fn a_crashed_holders_lease_counts_to_ttl_plus_the_drift_margin() {
    let retaken = |at: u64| {
        H::new()
            .acquire(1, 0, 1, None)
            .invoke(1, 2, Op::Section)
            .killed_during(1, 50, Op::Section)
            .acquire(2, 10, at + 1, None)
            .won_at(at)
            .done()
    };
    assert_eq!(check(&retaken(1116)).verdict, Verdict::Invalid);
    assert_eq!(check(&retaken(1111)).verdict, Verdict::Valid);
}

#[test]
fn a_completed_release_frees_the_lock_at_once() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .release(1, 6, 7, true)
        .acquire(2, 3, 601, None)
        .won_at(600)
        .done();
    assert_eq!(check(&h).verdict, Verdict::Invalid);
}

#[test]
fn a_release_that_ended_unsure_may_leave_the_lease_running() {
    let mut h = H::new();
    h.acquire(1, 0, 1, None).invoke(1, 6, Op::Release);
    h.events.push(
        Event::new(7 * contend_check::testkit::MS, contend_check::history::Kind::Info, Op::Release)
            .by(1, 1001),
    );
    let h = h.acquire(2, 3, 601, None).won_at(600).done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

#[test]
fn an_acquire_with_no_completion_on_record_may_hold_the_lock_for_a_ttl_after_its_worker_died() {
    // Worker 3's acquire never completed: its worker died at 20 ms, and the acquire may have
    // won the lock, which then lies with it for a ttl.
    let h = |w3: fn(&mut H) -> &mut H| {
        let mut h = H::new();
        h.acquire(1, 0, 1, None).release(1, 2, 3, true);
        w3(&mut h);
        h.acquire(2, 5, 1000, None).won_at(990).done()
    };
    assert_eq!(check(&h(|h| h.invoke(3, 4, Op::Acquire).crash(3, 20))).verdict, Verdict::Valid);
    // Without it, the lock lay free from 3 ms while worker 2 waited.
    assert_eq!(check(&h(|h| h)).verdict, Verdict::Invalid);
}

/// The lock lies free from 7 ms (worker 1's release) until worker 3 takes it at 999 ms; worker
/// 2's acquire, invoked at 50 ms, gave up at `gave_up` ms: it waited for a free lock only if that
/// took longer than the 100 ms slack (less any step delay it slept, `slept_ms`).
fn one_waiter_gave_up(gave_up: u64, slept_ms: Option<u64>) -> Vec<Event> {
    let mut h = H::new();
    h.acquire(1, 0, 1, None).release(1, 6, 7, true).timeout(2, 50, gave_up);
    h.events.last_mut().expect("the fail").delayed_ms = slept_ms;
    h.acquire(3, 999, 1000, None).done()
}

#[test]
fn a_waiter_is_stranded_only_past_the_slack() {
    assert_eq!(check(&one_waiter_gave_up(150, None)).verdict, Verdict::Valid);
    let r = check(&one_waiter_gave_up(151, None));
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert!(r.findings[0].message.contains("while workers [2] waited"), "{r:?}");
}

#[test]
fn the_step_delay_a_waiter_slept_is_not_waiting_for_the_lock() {
    // 500 ms of which it slept 450 ms in a step delay: 50 ms of waiting.
    assert_eq!(check(&one_waiter_gave_up(550, Some(450))).verdict, Verdict::Valid);
    assert_eq!(check(&one_waiter_gave_up(550, Some(300))).verdict, Verdict::Invalid);
}

#[test]
fn a_holder_with_no_release_on_record_holds_the_lock_while_its_worker_lives() {
    // Worker 1 works (paused) until the run ends, well past its lease; worker 2 waits.
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 3000, 0, &[])
        .acquire(2, 5, 3010, None)
        .won_at(3005)
        .done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}
