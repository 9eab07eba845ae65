//! The lost-updates checker: hand-made histories, and real algorithms on real Redis.

mod support;

use contend::check::{Timeline, Verdict, lost_updates};
use support::{H, ctx};

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
    let mut h = H::new();
    h.acquire(1, 0, 1, None).section(1, 2, 3, 0, &[]).acquire(2, 0, 1200, None);
    h.events.push(
        contend::history::Event::new(
            1201 * support::MS,
            contend::history::Kind::Invoke,
            contend::history::Op::Section,
        )
        .by(2, 2),
    );
    let h0 = h.fin(2000, 1).done();
    assert_eq!(lost_updates(&Timeline::new(&h0), &ctx(false)).verdict, Verdict::Valid);
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

/// On real Redis: `setnx-getset-unchecked`'s late bare DEL lets a third worker in while the
/// second is between its read and its write, and an increment is lost; `fenced`, whose holders
/// all outlive their leases in `expiry-mid-section`, refuses the stale writes and loses none.
#[test]
fn catches_the_lost_update_of_a_stale_del_and_passes_fenced() {
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let (out, results) =
        support::run(dir.path(), &scenarios.join("stale-release.toml"), "setnx-getset-unchecked");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "lost-updates"), "invalid", "{}", support::text(&out));
    let (out, results) =
        support::run(dir.path(), &scenarios.join("expiry-mid-section.toml"), "fenced");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "lost-updates"), "valid", "{}", support::text(&out));
    assert_eq!(support::verdict(&results, "fencing"), "valid", "{}", support::text(&out));
}
