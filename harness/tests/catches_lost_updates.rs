//! The lost-updates checker: real algorithms on real Redis, one caught, one passed (its hand-made histories are in harness/check/tests/check_lost_updates.rs).

mod support;

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
