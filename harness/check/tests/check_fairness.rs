//! The fairness-order checker: hand-made histories of grants in and out of arrival order.

use contend_check::check::{CheckResult, Timeline, Verdict, fairness};
use contend_check::history::{Event, Op};
use contend_check::testkit::{H, ctx};

fn check(h: &[Event], fifo: bool) -> CheckResult {
    fairness(&Timeline::new(h), &ctx(false).with_fifo(fifo))
}

/// Worker 1 holds until 100 ms; worker 2 invokes at 10 ms, worker 3 at `third` ms; the one
/// named `first` is granted at 102 ms, the other at 200 ms; worker 4 invokes at 150 ms and is
/// granted at 300 ms.
fn queue(third: u64, first: u32) -> Vec<Event> {
    let second = if first == 2 { 3 } else { 2 };
    let invoked = |w: u32| if w == 2 { 10 } else { third };
    H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 99, 0, &[])
        .release(1, 100, 101, true)
        .acquire(first, invoked(first), 102, None)
        .section(first, 103, 198, 1, &[])
        .release(first, 199, 199, true)
        .acquire(second, invoked(second), 200, None)
        .section(second, 201, 298, 2, &[])
        .release(second, 299, 299, true)
        .acquire(4, 150, 300, None)
        .done()
}

#[test]
fn a_later_waiter_granted_first_is_a_bypass_naming_both_acquires() {
    let h = queue(50, 3);
    let r = check(&h, true);
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert_eq!(r.findings.len(), 1, "{r:?}");
    let f = &r.findings[0];
    assert_eq!(f.kind, "bypass");
    assert!(f.message.contains("worker 3") && f.message.contains("worker 2"), "{f:?}");
    let workers: Vec<_> = f.events.iter().map(|&i| h[i].worker).collect();
    assert_eq!(workers, [Some(2), Some(3), Some(3)], "{f:?}");
    // Worker 3's grant passed worker 2; worker 2's passed no one (worker 4 came later).
    assert_eq!(r.figures["bypasses"], 1.0);
    assert_eq!(r.figures["contended_grants"], 2.0);
    assert_eq!(r.figures["bypass_rate"], 0.5);
}

#[test]
fn an_algorithm_without_a_fifo_promise_gets_its_bypass_rate_not_a_failure() {
    let r = check(&queue(50, 3), false);
    assert_eq!(r.verdict, Verdict::Unknown, "{r:?}");
    assert!(r.reason.as_deref().unwrap_or("").contains("no FIFO promise"), "{r:?}");
    assert_eq!(r.figures["bypass_rate"], 0.5);
}

#[test]
fn grants_in_arrival_order_pass() {
    let r = check(&queue(50, 2), true);
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    assert_eq!(r.figures["bypass_rate"], 0.0);
    assert_eq!(r.figures["contended_grants"], 2.0);
}

#[test]
fn acquires_invoked_within_the_tolerance_are_not_ordered() {
    // 15 ms apart: within the 20 ms tolerance, either order is fine.
    assert_eq!(check(&queue(25, 3), true).verdict, Verdict::Valid);
    // 20 ms apart: not more than the tolerance, still not ordered.
    assert_eq!(check(&queue(30, 3), true).verdict, Verdict::Valid);
    // 30 ms apart: ordered.
    assert_eq!(check(&queue(40, 3), true).verdict, Verdict::Invalid);
}

#[test]
fn a_waiter_that_died_or_gave_up_before_the_grant_is_not_passed() {
    let with = |w2: fn(&mut H) -> &mut H| {
        let mut h = H::new();
        h.acquire(1, 0, 1, None).section(1, 2, 99, 0, &[]).release(1, 100, 101, true);
        w2(&mut h);
        h.acquire(3, 50, 102, None).done()
    };
    let crashed = with(|h| h.invoke(2, 10, Op::Acquire).crash(2, 60));
    assert_eq!(check(&crashed, true).verdict, Verdict::Valid);
    // Gave up 1 ms before the grant: its last look may have left the queue first.
    let gave_up = with(|h| h.timeout(2, 10, 101));
    assert_eq!(check(&gave_up, true).verdict, Verdict::Valid);
    // Still waiting well after the grant, then timed out: passed over.
    let passed = with(|h| h.timeout(2, 10, 500));
    assert_eq!(check(&passed, true).verdict, Verdict::Invalid);
}

/// Worker 1 holds until 100 ms; worker 2 begins to wait at 10 ms and its acquire then goes as
/// `w2` says; worker 3, invoked at 50 ms, is granted the lock at 102 ms.
fn passing(w2: fn(&mut H) -> &mut H) -> Vec<Event> {
    let mut h = H::new();
    h.acquire(1, 0, 1, None).section(1, 2, 99, 0, &[]).release(1, 100, 101, true);
    w2(&mut h);
    h.acquire(3, 50, 102, None).section(3, 103, 104, 1, &[]).release(3, 105, 106, true).done()
}

#[test]
fn a_waiter_that_gave_up_no_more_than_the_tolerance_after_the_grant_is_not_passed() {
    // Its last look at the queue may have come before the grant.
    let soon = passing(|h| h.timeout(2, 10, 107));
    assert_eq!(check(&soon, true).verdict, Verdict::Valid);
    let at_the_tolerance = passing(|h| h.timeout(2, 10, 122));
    assert_eq!(check(&at_the_tolerance, true).verdict, Verdict::Valid);
    let past_it = passing(|h| h.timeout(2, 10, 123));
    assert_eq!(check(&past_it, true).verdict, Verdict::Invalid);
}

#[test]
fn a_waiter_granted_right_after_a_bypassing_grant_was_passed_over() {
    // Worker 2 gets the lock 8 ms after worker 3's grant: it was still waiting at that grant,
    // whatever the tolerance (which only excuses waiters that gave up).
    let h = passing(|h| h.acquire(2, 10, 110, None));
    let r = check(&h, true);
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert_eq!(r.figures["bypasses"], 1.0, "{r:?}");
}

#[test]
fn a_bypass_by_the_last_event_of_the_history_is_still_a_bypass() {
    // Worker 2 is still waiting (the run ended) when worker 3 is granted the lock, the history's
    // last event.
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 99, 0, &[])
        .release(1, 100, 101, true)
        .invoke(2, 10, Op::Acquire)
        .acquire(3, 50, 102, None)
        .done();
    assert_eq!(check(&h, true).verdict, Verdict::Invalid);
}

#[test]
fn a_waiter_whose_crash_is_stamped_at_the_grant_no_longer_waited() {
    // The crash is recorded once the worker is dead: at the grant's instant it waited no more.
    let at_the_grant = passing(|h| h.invoke(2, 10, Op::Acquire).crash(2, 102));
    assert_eq!(check(&at_the_grant, true).verdict, Verdict::Valid);
    let after_it = passing(|h| h.invoke(2, 10, Op::Acquire).crash(2, 103));
    assert_eq!(check(&after_it, true).verdict, Verdict::Invalid);
}
