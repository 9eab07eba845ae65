//! The ownership checker: hand-made histories, and real algorithms on real Redis.

mod support;

use contend::check::{Timeline, Verdict, ownership};
use support::{H, ctx};

fn check(h: &[contend::history::Event]) -> contend::check::CheckResult {
    ownership(&Timeline::new(h), &ctx(false))
}

#[test]
fn a_release_that_removes_a_live_holders_lock_is_a_stale_release() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 1100, 0, &[])
        .acquire(2, 1040, 1050, None)
        .section(2, 1051, 1400, 0, &[])
        .release(1, 1200, 1201, true)
        .done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.findings[0].kind, "stale-release");
}

#[test]
fn an_owner_checked_release_that_finds_another_holder_is_valid() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 1100, 0, &[])
        .acquire(2, 0, 1050, None)
        .section(2, 1051, 1400, 0, &[])
        .release(1, 1200, 1201, false)
        .release(2, 1401, 1402, true)
        .done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

#[test]
fn a_removal_after_the_other_lease_ended_is_valid() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .acquire(2, 0, 100, None)
        .release(2, 101, 102, true)
        .release(1, 2000, 2001, true)
        .done();
    assert_eq!(check(&h).verdict, Verdict::Valid);
}

#[test]
fn a_lock_gone_before_its_lease_ended_was_removed_by_someone() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .release(1, 100, 900, true)
        .acquire(2, 0, 500, None)
        .release(2, 600, 610, false)
        .done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.findings.iter().any(|f| f.kind == "lock-removed-under-holder"), "{r:?}");
}

/// On real Redis: `setnx-getset-unchecked`'s bare DEL removes the next holder's lock when its
/// holder releases late; `token`'s owner-checked release removes nothing.
#[test]
fn catches_a_bare_del_after_the_lease_and_passes_token() {
    if !redmutex::testing::available() {
        eprintln!("skipped: no redis-server");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/stale-release.toml");
    let (out, results) = support::run(dir.path(), &scenario, "setnx-getset-unchecked");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "ownership"), "invalid", "{}", support::text(&out));
    let (out, results) = support::run(dir.path(), &scenario, "token");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "ownership"), "valid", "{}", support::text(&out));
}
