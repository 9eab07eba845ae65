//! The mutual-exclusion checker: hand-made histories, and real algorithms on real Redis.

mod support;

use contend::check::{Timeline, Verdict, mutual_exclusion};
use support::{H, ctx};

fn check(h: &[contend::history::Event]) -> contend::check::CheckResult {
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

/// A real algorithm's bug on real Redis: a worker with a fast clock takes over live locks of
/// `setnx-getset-expiry`; `token` never reads the client's clock and passes.
#[test]
fn catches_a_skewed_clock_takeover_and_passes_token() {
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/client-clock-skew.toml");
    let (out, results) = support::run(dir.path(), &scenario, "setnx-getset-expiry");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(
        support::verdict(&results, "mutual-exclusion"),
        "invalid",
        "{}",
        support::text(&out)
    );
    let (out, results) = support::run(dir.path(), &scenario, "token");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "mutual-exclusion"), "valid", "{}", support::text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
}
