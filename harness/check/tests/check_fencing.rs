//! The fencing checker: hand-made histories (its real-Redis catches are in contend's tests/catches_fencing.rs).

use contend_check::check::{Timeline, Verdict, fencing};
use contend_check::testkit::{H, ctx};

/// Two holders in turn, fences 1 then 2, both writes accepted; the resource's mark is `mark`.
fn two_writes_then_mark(mark: u64) -> contend_check::history::History {
    H::new()
        .acquire(1, 0, 1, Some(1))
        .fenced_section(1, 2, 10, 0, 1, true)
        .acquire(2, 20, 21, Some(2))
        .fenced_section(2, 22, 30, 1, 2, true)
        .fin(40, 2)
        .mark(mark)
        .done()
}

#[test]
fn increasing_fences_and_newer_accepted_writes_are_valid() {
    let h = H::new()
        .acquire(1, 0, 1, Some(1))
        .fenced_section(1, 2, 1500, 0, 1, false)
        .acquire(2, 0, 1100, Some(2))
        .fenced_section(2, 1101, 1200, 0, 2, true)
        .done();
    assert_eq!(fencing(&Timeline::new(&h), &ctx(true)).verdict, Verdict::Valid);
}

#[test]
fn an_older_fence_accepted_after_a_newer_one_is_invalid() {
    // Worker 2's write (fence 2) ended before worker 1's (fence 1) began; both accepted.
    let h = H::new()
        .acquire(1, 0, 1, Some(1))
        .acquire(2, 0, 5, Some(2))
        .fenced_section(2, 6, 20, 0, 2, true)
        .fenced_section(1, 30, 40, 1, 1, true)
        .done();
    let r = fencing(&Timeline::new(&h), &ctx(true));
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.findings.iter().any(|f| f.kind == "older-fence-accepted"), "{r:?}");
}

#[test]
fn a_paused_holders_stale_write_accepted_over_a_newer_read_is_invalid() {
    // Both read 0; worker 2's fenced read (fence 2) raised the bar before worker 1's write with
    // fence 1, yet both writes were accepted. Their intervals nest, so only the shared read
    // orders them.
    let h = H::new()
        .acquire(1, 0, 1, Some(1))
        .fenced_section(1, 2, 1500, 0, 1, true)
        .acquire(2, 0, 1100, Some(2))
        .fenced_section(2, 1101, 1200, 0, 2, true)
        .done();
    let r = fencing(&Timeline::new(&h), &ctx(true));
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert_eq!(r.findings[0].kind, "older-fence-accepted");
    let message = &r.findings[0].message;
    assert!(message.contains("worker 1's write with fence 1"), "{r:?}");
    assert!(message.contains("worker 2 had read the same value 0 with the newer fence 2"), "{r:?}");
    // The newer fence's section first, then the stale write it should have barred.
    let workers: Vec<_> = r.findings[0].events.iter().map(|&i| h[i].worker).collect();
    assert_eq!(workers, [Some(2), Some(1)], "{r:?}");
}

#[test]
fn a_high_water_mark_at_the_newest_accepted_fence_is_valid() {
    let r = fencing(&Timeline::new(&two_writes_then_mark(2)), &ctx(true));
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
}

#[test]
fn a_resource_whose_high_water_mark_is_behind_an_accepted_fence_is_invalid() {
    // Nothing overlaps and every fence came in order: only the mark shows that the resource
    // keeps no bar (here none at all), so a stale holder's write would be taken.
    let r = fencing(&Timeline::new(&two_writes_then_mark(0)), &ctx(true));
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert_eq!(r.findings[0].kind, "fence-mark-behind", "{r:?}");
    assert!(r.findings[0].message.contains("below fence 2 of worker 2"), "{r:?}");
    // Behind by one is behind too.
    let r = fencing(&Timeline::new(&two_writes_then_mark(1)), &ctx(true));
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
}

#[test]
fn a_high_water_mark_no_holder_was_given_is_invalid() {
    let h = H::new()
        .acquire(1, 0, 1, Some(1))
        .fenced_section(1, 2, 10, 0, 1, true)
        .fin(40, 1)
        .mark(9)
        .done();
    let r = fencing(&Timeline::new(&h), &ctx(true));
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert_eq!(r.findings[0].kind, "fence-mark-unknown", "{r:?}");
}

#[test]
fn a_fence_handed_out_twice_is_invalid() {
    let h = H::new().acquire(1, 0, 1, Some(7)).acquire(2, 5, 1100, Some(7)).done();
    let r = fencing(&Timeline::new(&h), &ctx(true));
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.findings[0].kind, "fence-not-increasing");
}

#[test]
fn an_unfenced_algorithm_is_unknown() {
    let h = H::new().acquire(1, 0, 1, None).done();
    assert_eq!(fencing(&Timeline::new(&h), &ctx(false)).verdict, Verdict::Unknown);
}

#[test]
fn an_acquisition_of_a_fenced_lock_without_a_fence_is_missing_fence() {
    let h = H::new()
        .acquire(1, 0, 1, Some(1))
        .fenced_section(1, 2, 10, 0, 1, true)
        .acquire(2, 20, 21, None)
        .done();
    let r = fencing(&Timeline::new(&h), &ctx(true));
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    let kinds: Vec<_> = r.findings.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["missing-fence"], "{r:?}");
    assert_eq!(r.findings[0].events, [5], "{r:?}");
}

#[test]
fn a_fence_below_the_largest_handed_out_before_is_not_increasing() {
    // Fences 3, then 5, then 4: above the first, below the second.
    let h = H::new()
        .acquire(1, 0, 1, Some(3))
        .acquire(2, 2, 3, Some(5))
        .acquire(3, 10, 11, Some(4))
        .done();
    let r = fencing(&Timeline::new(&h), &ctx(true));
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert_eq!(r.findings.len(), 1, "{r:?}");
    assert_eq!(r.findings[0].kind, "fence-not-increasing");
    assert!(r.findings[0].message.contains("worker 3 got fence 4 after worker 2's"), "{r:?}");
}

#[test]
fn a_fence_handed_out_twice_is_not_also_an_older_fence_accepted() {
    // The second holder's write carries the same fence as the first's, not an older one.
    let h = H::new()
        .acquire(1, 0, 1, Some(7))
        .fenced_section(1, 2, 10, 0, 7, true)
        .acquire(2, 20, 21, Some(7))
        .fenced_section(2, 22, 30, 1, 7, true)
        .done();
    let r = fencing(&Timeline::new(&h), &ctx(true));
    let kinds: Vec<_> = r.findings.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["fence-not-increasing"], "{r:?}");
}
