//! The liveness checker: real algorithms on real Redis, one caught, one passed (its hand-made histories are in harness/check/tests/check_liveness.rs).

mod support;

/// On real Redis: `setnx-pubsub` waiters sleep through the silent expiry of a killed holder's
/// lock; `notify` retakes it within ttl + slack.
#[test]
fn catches_a_silent_expiry_and_passes_notify() {
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/crash-holder.toml");
    let (out, results) = support::run(dir.path(), &scenario, "setnx-pubsub");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "liveness"), "invalid", "{}", support::text(&out));
    let (out, results) = support::run(dir.path(), &scenario, "notify");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "liveness"), "valid", "{}", support::text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
}

#[test]
fn the_commands_of_killed_workers_are_counted() {
    // One slot, every holder killed in its section: no worker ever ends on its own, yet what
    // they sent is counted.
    let Some((_dir, _, results)) = support::run_text(
        "all-killed",
        "workers = 1\niterations = 3\n[lock]\nttl_ms = 1000\n\
         [section]\nhold = { distribution = \"fixed\", ms = 1000 }\n\
         [[faults]]\nkind = \"kill-holder\"\nevery_ms = 10\nafter_acquire_ms = 50\n",
        "token",
    ) else {
        return;
    };
    let stats = &results["stats"];
    assert_eq!(stats["completed"], 0, "{stats}");
    let sent = stats["server_commands_per_acquisition"].as_f64().unwrap_or(0.0);
    let ran = stats["server_commands_per_acquisition_incl_scripts"].as_f64().unwrap_or(0.0);
    assert!(sent >= 1.0 && sent <= ran, "sent {sent}, ran {ran}: {stats}");
}
