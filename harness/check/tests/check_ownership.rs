//! The ownership checker: hand-made histories (its real-Redis catches are in contend's tests/catches_ownership.rs).

use contend_check::check::{Timeline, Verdict, ownership};
use contend_check::history::{Kind, Op};
use contend_check::testkit::{H, ctx};

fn check(h: &[contend_check::history::Event]) -> contend_check::check::CheckResult {
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
    // Worker 2's lease (from 1040 ms) runs over worker 1's release, which removed nothing.
    let h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 1100, 0, &[])
        .acquire(2, 1040, 1050, None)
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
    let f = r.findings.iter().find(|f| f.kind == "lock-removed-under-holder").expect("{r:?}");
    // Worker 1's release, which removed a lock meanwhile, is named as a suspect.
    assert!(f.message.contains("(releases that removed a lock meanwhile: workers [1])"), "{f:?}");
}

#[test]
fn a_stale_release_is_timed_from_the_victims_lease_not_from_its_wait() {
    // Worker 2 waited from 100 ms; its lease began when its winning command went out, at 1049.
    let mut h = H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 1100, 0, &[])
        .acquire(2, 100, 1050, None)
        .section(2, 1051, 1400, 0, &[])
        .release(1, 1200, 1201, true)
        .done();
    let won = h
        .iter_mut()
        .find(|e| e.f == Op::Acquire && e.kind == Kind::Ok && e.worker == Some(2))
        .expect("worker 2's acquire");
    won.lease_from = Some(1049 * 1_000_000);
    let r = check(&h);
    assert_eq!(r.findings[0].kind, "stale-release");
    assert!(r.findings[0].message.contains("sent 151 ms into 2's lease"), "{r:?}");
}

/// Worker 2 holds from 10 ms and finds its lock gone at 610 ms. Suspects are releases by other
/// workers that removed a lock while it held it: worker 1's (100..900 ms). Not worker 3's, over
/// before worker 2 acquired, nor worker 4's, which removed nothing (`owned: false`).
#[test]
fn the_suspects_of_a_lock_removed_under_its_holder_are_the_removals_while_it_held_it() {
    let h = H::new()
        .acquire(3, 0, 1, None)
        .release(3, 2, 3, true)
        .acquire(1, 4, 5, None)
        .release(1, 100, 900, true)
        .acquire(4, 6, 7, None)
        .release(4, 550, 560, false)
        .acquire(2, 10, 500, None)
        .release(2, 600, 610, false)
        .done();
    let r = check(&h);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == "lock-removed-under-holder" && f.message.starts_with("worker 2's"))
        .expect("worker 2's lock removed under it");
    assert!(f.message.ends_with("(releases that removed a lock meanwhile: workers [1])"), "{f:?}");
}
