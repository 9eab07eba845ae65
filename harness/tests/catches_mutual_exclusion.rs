//! The mutual-exclusion checker: real algorithms on real Redis, one caught, one passed (its hand-made histories are in harness/check/tests/check_mutual_exclusion.rs).

mod support;

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
