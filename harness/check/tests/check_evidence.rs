//! A history is evidence: sections that ended `info`, overlaps nested in a long section, a
//! lock handed over, a holder killed during its release or acquire. Each case was judged wrong
//! before the checkers learnt it; the guard cases keep the verdicts that were already right.

use contend_check::check::{
    CheckResult, Timeline, Verdict, liveness, lost_updates, mutual_exclusion,
};
use contend_check::history::{Event, Op};
use contend_check::testkit::{H, ctx};

fn exclusion(h: &[Event]) -> CheckResult {
    mutual_exclusion(&Timeline::new(h), &ctx(false))
}

fn updates(h: &[Event]) -> CheckResult {
    lost_updates(&Timeline::new(h), &ctx(false))
}

fn live(h: &[Event]) -> CheckResult {
    liveness(&Timeline::new(h), &ctx(false))
}

fn kinds(r: &CheckResult) -> Vec<&str> {
    r.findings.iter().map(|f| f.kind.as_str()).collect()
}

#[test]
fn a_double_grant_nested_inside_a_long_paused_section_is_a_lease_violation() {
    // Worker 1 is paused inside its section for 3 s (ttl 1 s). Worker 2 takes the expired
    // lock at 1500; worker 3 gets it again at 1650, inside worker 2's lease.
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 3000, 0, &[])
        .acquire(2, 1400, 1500, None)
        .section(2, 1501, 1700, 0, &[])
        .acquire(3, 1600, 1650, None)
        .section(3, 1651, 1690, 1, &[])
        .done();
    let r = exclusion(&h);
    assert_eq!(r.verdict, Verdict::Invalid);
    let violated: Vec<_> = r.findings.iter().filter(|f| f.kind == "lease-violated").collect();
    assert_eq!(violated.len(), 1, "{r:?}");
    let workers: Vec<_> = violated[0].events.iter().filter_map(|&i| h[i].worker).collect();
    assert!(workers.contains(&2) && workers.contains(&3) && !workers.contains(&1), "{r:?}");
}

#[test]
fn a_section_whose_exit_failed_still_proves_its_overlap() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .info_section(1, 2, 50, Some(3), Some(40), Some(0), Some(1))
        .acquire(2, 5, 10, None)
        .section(2, 11, 20, 0, &[])
        .done();
    assert_eq!(kinds(&exclusion(&h)), ["lease-violated"]);
}

#[test]
fn a_section_cut_after_its_enter_was_inside_at_that_instant() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .info_section(1, 2, 50, Some(15), None, Some(0), None)
        .acquire(2, 5, 10, None)
        .section(2, 11, 20, 0, &[])
        .done();
    assert_eq!(exclusion(&h).verdict, Verdict::Invalid);
}

#[test]
fn a_section_killed_without_a_record_of_its_stretch_makes_an_overlap_unknown() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .invoke(1, 2, Op::Section)
        .killed_during(1, 30, Op::Section)
        .acquire(2, 5, 10, None)
        .section(2, 11, 20, 0, &[])
        .done();
    let r = exclusion(&h);
    assert_eq!(r.verdict, Verdict::Unknown, "{r:?}");
    assert!(r.reason.as_deref().unwrap_or("").contains("worker 1"), "{r:?}");
}

#[test]
fn guard_a_holder_killed_in_its_section_whose_lock_expired_first_is_valid() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .invoke(1, 2, Op::Section)
        .killed_during(1, 30, Op::Section)
        .acquire(2, 0, 1200, None)
        .section(2, 1201, 1210, 1, &[1])
        .done();
    assert_eq!(exclusion(&h).verdict, Verdict::Valid);
}

#[test]
fn a_live_worker_whose_witness_exit_failed_is_not_inside_ever_after() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .info_section(1, 2, 5, Some(2), Some(4), Some(0), Some(1))
        .release(1, 6, 7, true)
        .acquire(2, 0, 8, None)
        .section(2, 10, 12, 1, &[1])
        .release(2, 13, 14, true)
        .acquire(1, 15, 16, None)
        .section(1, 17, 19, 2, &[1])
        .release(1, 20, 21, true)
        .acquire(2, 15, 22, None)
        .section(2, 23, 25, 3, &[1])
        .done();
    assert_eq!(exclusion(&h).verdict, Verdict::Valid);
}

#[test]
fn guard_the_witness_seeing_a_clean_live_worker_inside_is_still_a_violation() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 5, 0, &[])
        .release(1, 6, 7, true)
        .acquire(2, 0, 8, None)
        .section(2, 9, 12, 1, &[1])
        .done();
    assert_eq!(exclusion(&h).verdict, Verdict::Invalid);
}

/// A broken hand-off (as if `notify`'s release pushed the fresh token without storing it): the
/// waiter, blocked since 0, is handed the lock at 911; worker 3 takes the key that was left
/// free at 1050 while the waiter works. The waiter's own lease bound (0, when it began to wait)
/// filed this as *outlived*; the release's invocation (900) proves it *violated*.
#[test]
fn an_overlap_after_a_broken_hand_off_is_a_lease_violation() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 800, 0, &[])
        .release_handing(1, 900, 910, "fresh")
        .acquire_handed(2, 0, 911, "fresh")
        .section(2, 912, 1100, 1, &[])
        .acquire(3, 1040, 1050, None)
        .section(3, 1051, 1200, 1, &[])
        .done();
    let t = Timeline::new(&h);
    assert_eq!(t.lease_start(&t.acquisitions[1]), 900 * contend_check::testkit::MS);
    assert_eq!(kinds(&exclusion(&h)), ["lease-violated"]);
}

#[test]
fn a_hand_off_named_by_a_release_that_answered_after_the_waiter_still_bounds_its_lease() {
    // The waiter hears of the hand-off (911) before the releaser hears its script's answer.
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 800, 0, &[])
        .release_handing(1, 900, 930, "fresh")
        .acquire_handed(2, 0, 911, "fresh")
        .done();
    let t = Timeline::new(&h);
    assert_eq!(t.lease_start(&t.acquisitions[1]), 900 * contend_check::testkit::MS);
}

#[test]
fn an_older_history_naming_the_hand_off_on_the_release_invocation_gives_the_same_bound() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 800, 0, &[])
        .release_handing_old(1, 900, 910, "fresh")
        .acquire_handed(2, 0, 911, "fresh")
        .done();
    let t = Timeline::new(&h);
    assert_eq!(t.lease_start(&t.acquisitions[1]), 900 * contend_check::testkit::MS);
}

#[test]
fn guard_after_a_sound_hand_off_a_holder_outliving_its_lease_is_outlived() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 800, 0, &[])
        .release_handing(1, 900, 910, "fresh")
        .acquire_handed(2, 0, 911, "fresh")
        .section(2, 912, 2100, 1, &[])
        .acquire(3, 1950, 2000, None)
        .section(3, 2001, 2050, 1, &[])
        .done();
    assert_eq!(kinds(&exclusion(&h)), ["lease-outlived"]);
}

#[test]
fn guard_a_token_nobody_handed_gives_no_bound() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 800, 0, &[])
        .release_handing(1, 900, 910, "fresh")
        .acquire_handed(2, 0, 911, "other")
        .done();
    let t = Timeline::new(&h);
    assert_eq!(t.acquisitions[1].handed_by, None);
    assert_eq!(t.lease_start(&t.acquisitions[1]), 0);
}

#[test]
fn a_duplicate_write_is_a_finding_even_when_an_unsure_section_fills_the_counter() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 30, 0, &[])
        .acquire(2, 0, 10, None)
        .section(2, 11, 20, 0, &[])
        .acquire(3, 40, 41, None)
        .invoke(3, 42, Op::Section)
        .killed_during(3, 43, Op::Section)
        .fin(2000, 2)
        .done();
    let r = updates(&h);
    assert_eq!(kinds(&r), ["duplicate-write"], "{r:?}");
}

#[test]
fn a_write_recorded_by_a_section_whose_exit_failed_counts() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 30, 0, &[])
        .acquire(2, 0, 10, None)
        .info_section(2, 11, 20, Some(12), Some(19), Some(0), Some(1))
        .fin(40, 1)
        .done();
    assert!(kinds(&updates(&h)).contains(&"duplicate-write"));
}

#[test]
fn a_write_above_the_final_counter_proves_it_was_set_back() {
    // Certain writes 1 and 3, two unsure sections, final 2: the counts fit, the values do not.
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 3, 0, &[])
        .acquire(2, 4, 5, None)
        .invoke(2, 6, Op::Section)
        .killed_during(2, 7, Op::Section)
        .acquire(3, 1100, 1101, None)
        .section(3, 1102, 1103, 2, &[])
        .acquire(4, 1104, 1105, None)
        .invoke(4, 1106, Op::Section)
        .killed_during(4, 1107, Op::Section)
        .fin(3000, 2)
        .done();
    let r = updates(&h);
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    assert!(kinds(&r).contains(&"counter-set-back"), "{r:?}");
}

#[test]
fn an_unsure_write_of_a_value_also_written_for_sure_is_unknown() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 30, 0, &[])
        .acquire(2, 0, 10, None)
        .info_section(2, 11, 20, Some(12), None, Some(0), None)
        .fin(40, 1)
        .done();
    assert_eq!(updates(&h).verdict, Verdict::Unknown);
}

#[test]
fn guard_a_crashed_section_of_unknown_read_may_have_written() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 3, 0, &[])
        .acquire(2, 4, 5, None)
        .invoke(2, 6, Op::Section)
        .killed_during(2, 7, Op::Section)
        .fin(3000, 2)
        .done();
    assert_eq!(updates(&h).verdict, Verdict::Valid);
}

#[test]
fn a_holder_killed_during_its_release_is_a_crash_for_recovery() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 3, 0, &[])
        .invoke(1, 4, Op::Release)
        .killed_during(1, 5, Op::Release)
        .timeout(2, 10, 2010)
        .done();
    assert!(kinds(&live(&h)).contains(&"not-retaken"));
}

#[test]
fn a_worker_killed_during_its_acquire_may_hold_the_lock() {
    let h = H::new()
        .invoke(1, 0, Op::Acquire)
        .killed_during(1, 5, Op::Acquire)
        .timeout(2, 2, 2002)
        .done();
    assert!(kinds(&live(&h)).contains(&"not-retaken"));
}

#[test]
fn guard_a_lock_retaken_in_time_after_a_kill_during_acquire_is_valid() {
    let h = H::new()
        .invoke(1, 0, Op::Acquire)
        .killed_during(1, 5, Op::Acquire)
        .acquire(2, 2, 900, None)
        .section(2, 901, 902, 0, &[])
        .release(2, 903, 904, true)
        .done();
    assert_eq!(live(&h).verdict, Verdict::Valid);
}

#[test]
fn guard_a_release_that_completed_before_the_kill_leaves_nothing_to_retake() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 3, 0, &[])
        .release(1, 4, 5, true)
        .invoke(1, 6, Op::Acquire)
        .timeout(2, 3, 800)
        .acquire(2, 850, 900, None)
        .killed_during(1, 7, Op::Acquire)
        .done();
    // Worker 1 died in an acquire; worker 2 took the lock within ttl + slack of that.
    assert_eq!(live(&h).verdict, Verdict::Valid);
}

#[test]
fn a_crashed_holders_unsure_retake_is_unknown_not_valid() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .invoke(1, 2, Op::Section)
        .killed_during(1, 50, Op::Section)
        .unfinished(2, 10, 1200)
        .acquire(3, 20, 1400, None)
        .acquire(2, 1300, 1500, None)
        .done();
    let r = live(&h);
    assert_eq!(r.verdict, Verdict::Unknown, "{r:?}");
}

/// Worker 1's unconditional delete lands 6 ms before worker 2's lease ends on our clock: within
/// the drift margin (ttl/100 + 2 ms) the server may already have expired worker 2's key.
#[test]
fn a_release_within_the_drift_margin_of_the_others_lease_end_proves_no_stale_release() {
    let h = |done: u64| {
        H::new()
            .acquire(1, 0, 1, None)
            .acquire(2, 1001, 1002, None)
            .release(1, done - 5, done, true)
            .done()
    };
    let check = |h: &[Event]| contend_check::check::ownership(&Timeline::new(h), &ctx(false));
    assert_eq!(check(&h(1995)).verdict, Verdict::Valid);
    assert_eq!(kinds(&check(&h(1900))), ["stale-release"]);
}

#[test]
fn two_sections_cut_right_after_entering_at_the_same_instant_were_inside_together() {
    // Each recorded only the instant its `enter` answered (15 ms), the same instant for both.
    let h = H::new()
        .acquire(1, 0, 1, None)
        .info_section(1, 2, 50, Some(15), None, Some(0), None)
        .acquire(2, 5, 10, None)
        .info_section(2, 11, 40, Some(15), None, Some(0), None)
        .done();
    assert_eq!(kinds(&exclusion(&h)), ["lease-violated"]);
}

#[test]
fn a_section_with_no_completion_may_have_been_inside_until_its_worker_died() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .invoke(1, 2, Op::Section)
        .crash(1, 30)
        .acquire(2, 5, 10, None)
        .section(2, 11, 20, 0, &[])
        .done();
    let r = exclusion(&h);
    assert_eq!(r.verdict, Verdict::Unknown, "{r:?}");
}
