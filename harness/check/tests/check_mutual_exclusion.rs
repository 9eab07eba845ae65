//! The mutual-exclusion checker: hand-made histories (its real-Redis catches are in contend's tests/catches_mutual_exclusion.rs).

use contend_check::check::{Timeline, Verdict, mutual_exclusion};
use contend_check::testkit::{H, ctx};

fn check(h: &[contend_check::history::Event]) -> contend_check::check::CheckResult {
    mutual_exclusion(&Timeline::new(h), &ctx(false))
}

#[test]
fn disjoint_sections_are_valid() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 5, 0, &[])
        .release(1, 6, 7, true)
        .acquire(2, 0, 8, None)
        .section(2, 9, 12, 1, &[])
        .release(2, 13, 14, true)
        .done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

#[test]
fn an_overlap_within_the_first_lease_is_a_lease_violation_naming_its_events() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 50, 0, &[])
        .acquire(2, 0, 10, None)
        .section(2, 11, 20, 0, &[])
        .done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.findings[0].kind, "lease-violated");
    let workers: Vec<_> = r.findings[0].events.iter().filter_map(|&i| h[i].worker).collect();
    assert!(workers.contains(&1) && workers.contains(&2), "{:?}", r.findings[0]);
}

#[test]
fn an_overlap_after_the_first_lease_ran_out_is_lease_outlived() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 1500, 0, &[])
        .acquire(2, 0, 1100, None)
        .section(2, 1101, 1200, 0, &[])
        .done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.findings.iter().all(|f| f.kind == "lease-outlived"), "{r:?}");
}

#[test]
fn the_witness_seeing_a_live_worker_inside_is_a_violation() {
    // Clock intervals do not overlap (skewed stamps), but the witness saw worker 1 inside.
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 5, 0, &[])
        .release(1, 6, 7, true)
        .acquire(2, 0, 8, None)
        .section(2, 9, 12, 1, &[1])
        .done();
    assert_eq!(check(&h).verdict, Verdict::Invalid);
}

#[test]
fn the_witness_seeing_a_crashed_worker_inside_proves_nothing() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 5, 0, &[])
        .crash(1, 6)
        .acquire(2, 0, 1200, None)
        .section(2, 1201, 1210, 1, &[1])
        .done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

#[test]
fn no_completed_section_is_unknown() {
    let h = H::new().acquire(1, 0, 1, None).done();
    assert_eq!(check(&h).verdict, Verdict::Unknown);
}

#[test]
fn an_overlap_seen_both_on_the_clock_and_by_the_witness_is_one_finding() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 50, 0, &[])
        .acquire(2, 0, 10, None)
        .section(2, 11, 20, 0, &[1])
        .done();
    let r = check(&h);
    assert_eq!(r.findings.len(), 1, "{r:?}");
    assert_eq!(r.reason.as_deref(), Some("1 finding(s)"), "{r:?}");
}

#[test]
fn a_finding_says_whether_the_clock_or_the_witness_proved_the_overlap() {
    let clock = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 50, 0, &[])
        .acquire(2, 0, 10, None)
        .section(2, 11, 20, 0, &[])
        .done();
    let r = check(&clock);
    assert!(r.findings[0].message.contains("their sections overlap in time"), "{r:?}");
    // Skewed stamps: only the witness saw worker 1 still inside.
    let witness = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 5, 0, &[])
        .release(1, 6, 7, true)
        .acquire(2, 0, 8, None)
        .section(2, 9, 12, 1, &[1])
        .done();
    let r = check(&witness);
    assert!(r.findings[0].message.contains("the witness saw both inside"), "{r:?}");
}

/// The second grant is a lease violation only if it completed *before* the earlier lease start
/// + ttl (1000 ms here); at that instant the first lease may have run out.
#[test]
fn a_second_grant_one_full_ttl_after_the_first_lease_began_is_outlived_not_violated() {
    let h = |granted: u64| {
        H::new()
            .acquire(1, 0, 1, None)
            .section(1, 2, 1500, 0, &[])
            .acquire(2, 900, granted, None)
            .section(2, granted + 1, granted + 50, 0, &[])
            .done()
    };
    let kinds = |r: contend_check::check::CheckResult| {
        r.findings.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>()
    };
    assert_eq!(kinds(check(&h(999))), ["lease-violated"]);
    assert_eq!(kinds(check(&h(1000))), ["lease-outlived"]);
}
