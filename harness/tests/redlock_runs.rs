//! `redlock` on real servers: a run of `[server] count = 3` starts three independent lock
//! servers, each struck only by the faults that name it; the shipped redlock scenarios go as
//! they expect (a killed minority is safe and live, a restart that forgets the lock breaks it
//! unless delayed by a ttl, a clock jump on one server breaks it), and nothing outlives a run.

mod support;

use serde_json::Value;

/// The details of the history's events of operation `f`.
fn details(history: &[Value], f: &str) -> Vec<String> {
    history
        .iter()
        .filter(|e| e["f"] == f)
        .filter_map(|e| e["details"].as_str().map(str::to_string))
        .collect()
}

/// Sections completed in a run.
fn sections(results: &Value) -> u64 {
    results["stats"]["completed"].as_u64().unwrap_or(0)
}

#[test]
fn a_killed_minority_of_servers_leaves_redlock_safe_and_live() {
    let run = support::run_shipped("redlock-minority-down", "redlock");
    let r = &run.results;
    for checker in ["mutual-exclusion", "lost-updates", "ownership", "liveness"] {
        assert_eq!(support::verdict(r, checker), "valid", "{checker}: {r}");
    }
    // Every iteration of every worker completed, with server 0 down most of the run.
    assert_eq!(sections(r), 3 * 8, "{}", support::text(&run.output));
    assert_eq!(r["faults_struck"]["restart-server"], 1, "{r}");
    // The fault named server 0, and only server 0 went down.
    let restarts = details(&run.history, "restart");
    assert!(!restarts.is_empty() && restarts.iter().all(|d| d.starts_with("lock server 0")));
    assert!(restarts.iter().any(|d| d.contains("SIGKILL")), "the kill is on record: {restarts:?}");
}

#[test]
fn a_restart_that_forgets_the_lock_breaks_redlock_unless_it_waits_a_ttl() {
    let amnesia = support::run_shipped("redlock-restart-amnesia", "redlock");
    assert_eq!(support::verdict(&amnesia.results, "mutual-exclusion"), "invalid");
    let restarts = details(&amnesia.history, "restart");
    assert!(restarts.iter().any(|d| d.starts_with("lock server 2: SIGKILL")), "{restarts:?}");
    assert!(restarts.iter().any(|d| d.starts_with("lock server 0: SIGKILL")), "{restarts:?}");
    assert!(!restarts.iter().any(|d| d.starts_with("lock server 1")), "{restarts:?}");

    let delayed = support::run_shipped("redlock-restart-delayed", "redlock");
    assert_eq!(support::verdict(&delayed.results, "mutual-exclusion"), "valid");
    assert_eq!(support::verdict(&delayed.results, "lost-updates"), "valid");
    assert_eq!(delayed.results["faults_struck"]["restart-server"], 2);
}

#[test]
fn a_forward_clock_jump_on_one_server_hands_redlock_out_twice() {
    let run = support::run_shipped("redlock-clock-jump", "redlock");
    assert_eq!(support::verdict(&run.results, "mutual-exclusion"), "invalid");
    let jumps = details(&run.history, "server-clock");
    assert!(
        jumps.iter().any(|d| d.starts_with("lock server 0: the lock server's wall clock stepped")),
        "{jumps:?}"
    );
    // The finding names the two holders and the events that prove it.
    let findings = &run.results["checkers"]["mutual-exclusion"]["findings"];
    let first = findings[0]["message"].as_str().unwrap_or_default();
    assert!(first.contains("the lock handed out twice"), "{findings}");
    assert!(findings[0]["events"].as_array().is_some_and(|e| e.len() >= 4), "{findings}");
}

#[test]
fn a_partition_from_a_minority_strikes_only_that_servers_proxy() {
    let run = support::run_shipped("redlock-partition-minority", "redlock");
    assert_eq!(support::verdict(&run.results, "mutual-exclusion"), "valid");
    let cuts = details(&run.history, "partition");
    assert!(!cuts.is_empty(), "the partition struck");
    assert!(cuts.iter().all(|d| d.starts_with("lock server 0")), "{cuts:?}");
}

#[test]
fn a_quorum_lock_and_a_single_server_lock_each_refuse_the_others_servers() {
    support::need_redis();
    let dir = tempfile::tempdir().unwrap();
    let three = support::scenario(dir.path(), "three", "[server]\ncount = 3\n[expect.redlock]\n");
    let one = support::scenario(dir.path(), "one", "workers = 2\n");
    let refused = |scenario: &std::path::Path, algorithm: &str, more: &[&str], says: &str| {
        let (out, results) = support::run_with(dir.path(), scenario, algorithm, more);
        let text = support::text(&out);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(results.is_none() || !dir.path().join("reports/latest").exists(), "{text}");
        assert!(text.contains(says), "{algorithm}: {text}");
    };
    refused(&one, "redlock", &[], "set [server] count = 3 or 5");
    refused(&three, "token", &[], "runs on one lock server");
    let url = "redis://127.0.0.1:1";
    refused(&three, "redlock", &["--server", url], "run it with --server local");
    // The bench runs every cell on one lock server: refused before it makes its folder.
    let out = dir.path().join("bench");
    let bench = support::contend()
        .args(["bench", "--quick", "-a", "token", "-a", "redlock", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(bench.status.code(), Some(2), "{}", support::text(&bench));
    assert!(support::text(&bench).contains("quorum lock"), "{}", support::text(&bench));
    assert!(!out.exists(), "the refused bench left {}", out.display());
}

#[test]
fn a_command_fault_strikes_only_at_the_proxies_of_the_servers_it_names() {
    let toml = "workers = 2\niterations = 4\n[server]\ncount = 3\n[lock]\nttl_ms = 2000\n\
                server_timeout_ms = 300\n[[faults]]\nkind = \"command\"\naction = \"drop-reply\"\n\
                op = \"acquire\"\nservers = [1]\ncount = 2\n[expect.redlock]\n\
                mutual-exclusion = \"valid\"\n";
    let (_dir, out, results) = support::run_text("one-proxy", toml, "redlock").unwrap();
    assert_eq!(results["as_expected"], true, "{}", support::text(&out));
    let history: Vec<Value> =
        std::fs::read_to_string(_dir.path().join("reports/latest/history.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let struck = details(&history, "command");
    assert!(!struck.is_empty(), "the fault struck: {}", support::text(&out));
    assert!(struck.iter().all(|d| d.starts_with("lock server 1: ")), "{struck:?}");
}
