//! The ownership checker: real algorithms on real Redis, one caught, one passed (its hand-made histories are in harness/check/tests/check_ownership.rs).

mod support;

/// On real Redis: `setnx-getset-unchecked`'s bare DEL removes the next holder's lock when its
/// holder releases late; `token`'s owner-checked release removes nothing.
#[test]
fn catches_a_bare_del_after_the_lease_and_passes_token() {
    support::need_redis();
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
