//! The residue checker on hand-made histories: what the run left on the lock server.

use contend_check::check::{Timeline, Verdict, residue};
use contend_check::history::{Event, History, Kind, Op};
use contend_check::testkit::{H, MS, ctx};

/// A clean run of worker 1, then the listing of `keys` (key, pttl, kept) at 5000 ms.
fn listed(keys: &[(&str, i64, bool)], crash_at: Option<u64>) -> History {
    listed_after(keys, |h| {
        if let Some(at) = crash_at {
            h.crash(2, at);
        }
    })
}

/// As [`listed`], with `more` added to the history before the listing.
fn listed_after(keys: &[(&str, i64, bool)], more: impl FnOnce(&mut H)) -> History {
    let mut h = H::new();
    h.acquire(1, 0, 10, None).section(1, 10, 20, 0, &[]).release(1, 20, 30, true);
    more(&mut h);
    h.fin(4000, 1);
    let mut events = h.done();
    for (key, pttl, kept) in keys {
        let mut e = Event::new(5000 * MS, Kind::Ok, Op::Residue);
        e.details = Some((*key).to_string());
        e.value = Some(*pttl);
        e.kept = Some(*kept);
        events.push(e);
    }
    let mut close = Event::new(5000 * MS, Kind::Ok, Op::Residue);
    close.value = Some(i64::try_from(keys.len()).unwrap());
    events.push(close);
    events
}

fn verdict(h: &History) -> (Verdict, usize) {
    let r = residue(&Timeline::new(h), &ctx(false));
    (r.verdict, r.findings.len())
}

#[test]
fn nothing_left_is_valid_and_a_key_kept_by_design_is_too() {
    assert_eq!(verdict(&listed(&[], None)).0, Verdict::Valid);
    assert_eq!(verdict(&listed(&[("p{lock}:fence", -1, true)], None)).0, Verdict::Valid);
}

#[test]
fn a_dropped_acquire_cleaned_up_by_its_worker_excuses_nothing() {
    let keys = [("p{lock}:waiters", 800, false)];
    // Dropped at 4900 ms and cleaned up at 4950 ms: the key is not its doing.
    let h = listed_after(&keys, |h| {
        h.cancelled(2, 4800, 4900, "c2", Some(4950));
    });
    assert_eq!(verdict(&h), (Verdict::Invalid, 1));
    // Its worker died in the clean-up: the key may be the dropped acquire's, and expires.
    let h = listed_after(&keys, |h| {
        h.cancelled(2, 4800, 4900, "c2", None);
    });
    assert_eq!(verdict(&h), (Verdict::Valid, 0));
}

#[test]
fn a_key_no_one_can_still_need_is_residue() {
    let h = listed(&[("p{lock}:waiters", 800, false)], None);
    assert_eq!(verdict(&h), (Verdict::Invalid, 1));
}

#[test]
fn a_key_without_a_ttl_is_residue_whatever_crashed() {
    let h = listed(&[("p{lock}:signal", -1, false)], Some(4900));
    assert_eq!(verdict(&h), (Verdict::Invalid, 1));
}

#[test]
fn a_crash_within_a_ttl_explains_a_key_that_expires_by_itself() {
    // ttl 1000 ms: a crash at 4500 ms may have left the lock until about 5512 ms.
    assert_eq!(verdict(&listed(&[("p{lock}", 900, false)], Some(4500))).0, Verdict::Valid);
    // A crash long before the listing explains nothing.
    assert_eq!(verdict(&listed(&[("p{lock}", 900, false)], Some(100))), (Verdict::Invalid, 1));
}

#[test]
fn a_run_that_did_not_list_the_server_is_unknown() {
    let mut h = H::new();
    h.acquire(1, 0, 10, None).release(1, 20, 30, true).fin(100, 0);
    assert_eq!(verdict(&h.done()).0, Verdict::Unknown);
}

#[test]
fn a_crash_explains_a_key_up_to_a_ttl_plus_the_drift_margin_before_the_listing() {
    // Listing at 5000 ms; ttl 1000 ms + margin (ttl/100 + 2 ms = 12 ms).
    let key = [("p{lock}", 900, false)];
    assert_eq!(verdict(&listed(&key, Some(3988))), (Verdict::Valid, 0));
    assert_eq!(verdict(&listed(&key, Some(3987))), (Verdict::Invalid, 1));
}

#[test]
fn an_acquire_that_ended_unsure_within_a_ttl_explains_a_key() {
    let key = [("p{lock}", 900, false)];
    let h = listed_after(&key, |h| {
        h.unfinished(2, 4800, 4900);
    });
    assert_eq!(verdict(&h), (Verdict::Valid, 0));
    // A section that ended unsure touches the witness, not the lock: it explains nothing.
    let h = listed_after(&key, |h| {
        h.acquire(2, 4700, 4710, None)
            .info_section(2, 4800, 4900, None, None, None, None)
            .release(2, 4910, 4920, true);
    });
    assert_eq!(verdict(&h), (Verdict::Invalid, 1));
}

#[test]
fn a_waiter_that_died_in_the_queue_explains_a_key_for_its_window_and_a_ttl() {
    // A crash at 3000 ms: with a 1000 ms dead-waiter window a release may have handed it the
    // lock until 4000 ms, which then lived until about 5012 ms.
    let h = listed(&[("p{lock}", 900, false)], Some(3000));
    let window = std::time::Duration::from_millis(1000);
    let r = residue(&Timeline::new(&h), &ctx(false).with_dead_waiter(window));
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    assert_eq!(verdict(&h), (Verdict::Invalid, 1));
}

#[test]
fn a_key_with_no_time_left_still_expires_but_one_whose_ttl_is_not_on_record_may_not() {
    let excused = Some(4900);
    assert_eq!(verdict(&listed(&[("p{lock}", 0, false)], excused)), (Verdict::Valid, 0));
    let mut h = listed(&[("p{lock}", 0, false)], excused);
    let key =
        h.iter_mut().find(|e| e.f == Op::Residue && e.details.is_some()).expect("the key's event");
    key.value = None;
    let r = residue(&Timeline::new(&h), &ctx(false));
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert!(r.findings[0].message.contains("with no ttl"), "{r:?}");
}

/// A queue of waiters (`renewed`, 300 ms to live) left at the listing (5000 ms), after
/// worker 2 was killed while it waited (at 1000 ms) if `crash`, and worker 3 waited from 950 ms
/// until it gave up at `waited_until`, its looks renewing the queue.
fn queue_left(renewed: bool, crash: bool, waited_until: u64) -> History {
    let mut h = listed_after(&[("p{lock}:waiters", 300, false)], |h| {
        if crash {
            h.invoke(2, 900, Op::Acquire).killed_during(2, 1000, Op::Acquire);
        }
        h.timeout(3, 950, waited_until);
    });
    let key = h.iter_mut().find(|e| e.f == Op::Residue && e.details.is_some()).expect("the key");
    key.renewed = renewed.then_some(true);
    h
}

#[test]
fn a_queue_renewed_by_live_waiters_keeps_a_dead_waiter_until_a_ttl_after_the_last_acquire() {
    // ttl 1000 ms + margin 12 ms: the last acquire ended at 4000 ms, the queue may live until
    // about 5012 ms.
    assert_eq!(verdict(&queue_left(true, true, 4000)), (Verdict::Valid, 0));
    // Listed more than a ttl and the margin after the last acquire ended: residue, and the
    // finding says why the looks do not explain it.
    let message = |h: &History| residue(&Timeline::new(h), &ctx(false)).findings[0].message.clone();
    let late = queue_left(true, true, 3987);
    assert_eq!(verdict(&late), (Verdict::Invalid, 1));
    assert!(message(&late).contains("looks that renew it ended"), "{}", message(&late));
    // A key no look renews gets no more than a ttl after the crash.
    let plain = queue_left(false, true, 4000);
    assert_eq!(verdict(&plain), (Verdict::Invalid, 1));
    assert!(!message(&plain).contains("looks"), "{}", message(&plain));
    // With no one dead, every waiter left the queue and it went as it emptied.
    let clean = queue_left(true, false, 4000);
    assert_eq!(verdict(&clean), (Verdict::Invalid, 1));
    assert!(!message(&clean).contains("looks"), "{}", message(&clean));
}
