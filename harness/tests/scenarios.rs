//! The scenario files of `scenarios/` parse, and the fault scenarios not covered by the
//! checker tests run as promised on real Redis.

mod support;

use std::path::{Path, PathBuf};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"))
}

#[test]
fn every_scenario_file_parses_and_names_known_checkers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("scenarios") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let s = contend::scenario::Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
            assert!(!s.expect.is_empty(), "{}: no expectations", path.display());
            n += 1;
        }
    }
    assert!(n >= 7, "{n} scenarios");
}

#[test]
fn the_shipped_folder_expects_every_known_specimen_bug_to_be_caught() {
    // The gate only holds a folder to the known bugs whose scenarios it contains, so the shipped
    // folder must contain them all, each expecting its checker to catch the bug.
    for specimen in &contend::specimens::SPECIMENS {
        for bug in specimen.bugs {
            let s = contend::scenario::Scenario::load(&scenario(bug.scenario))
                .unwrap_or_else(|e| panic!("{} / {}: {e:#}", specimen.name, bug.id));
            assert_eq!(s.name, bug.scenario, "the gate matches bugs by scenario name");
            let expect = s.expect.get(specimen.name).and_then(|e| e.get(bug.checker));
            assert!(
                expect.is_some_and(contend::scenario::Expect::catches),
                "{}: [expect.{}] {} should be \"invalid\", is {expect:?}",
                bug.scenario,
                specimen.name,
                bug.checker
            );
        }
    }
}

fn run(name: &str, algorithm: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, results) = support::run(dir.path(), &scenario(name), algorithm);
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(results["as_expected"], true, "{}", support::text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
    results
}

#[test]
fn a_paused_holder_outlives_its_lease_and_fencing_refuses_its_write() {
    support::need_redis();
    let token = run("pause-holder", "token");
    assert_eq!(support::verdict(&token, "lost-updates"), "invalid");
    let fenced = run("pause-holder", "fenced");
    assert_eq!(support::verdict(&fenced, "lost-updates"), "valid");
    assert_eq!(support::verdict(&fenced, "mutual-exclusion"), "invalid");
}

#[test]
fn a_delay_between_get_and_del_removes_the_next_holders_lock() {
    support::need_redis();
    let specimen = run("release-step-delay", "poll-get-del");
    assert_eq!(support::verdict(&specimen, "ownership"), "invalid");
    let reference = run("release-step-delay", "notify");
    assert_eq!(support::verdict(&reference, "ownership"), "valid");
}

/// `fair-client-clock` (Redisson's fair lock: waiters' places expire at client wall-clock
/// deadlines) grants in arrival order while the clocks agree, and breaks that order, leaving
/// the lock free while dropped waiters sleep, once one worker's clock runs ahead: the shipped
/// scenario, and the same without its clock-skew fault, on real Redis and in the simulator.
#[test]
fn a_fair_queue_timed_by_client_clocks_is_fifo_until_one_clock_runs_ahead() {
    support::need_redis();
    let shipped = std::fs::read_to_string(scenario("fair-client-clock-skew")).expect("scenario");
    let skew = "[[faults]]\nkind = \"clock-skew\"\noffset_ms = 60000\nworkers = [0]\n";
    assert!(shipped.contains(skew), "the scenario's skew changed: update this test");
    for server in ["local", "sim"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let without = support::scenario(dir.path(), "no-skew", &shipped.replace(skew, ""));
        let more = ["--server", server, "--iterations", "10"];
        for (path, skewed) in [(scenario("fair-client-clock-skew"), true), (without, false)] {
            let (out, results) = support::run_with(dir.path(), &path, "fair-client-clock", &more);
            let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
            let broken = if skewed { "invalid" } else { "valid" };
            let why = format!("{server}, skewed {skewed}: {}", support::text(&out));
            assert_eq!(support::verdict(&results, "fairness"), broken, "{why}");
            assert_eq!(support::verdict(&results, "stranded-lock"), broken, "{why}");
            assert_eq!(support::verdict(&results, "mutual-exclusion"), "valid", "{why}");
            assert_eq!(support::verdict(&results, "ownership"), "valid", "{why}");
        }
    }
}

/// A `notify` waiter whose acquire script ran (its token joined the waiters) but whose reply was
/// lost fails its acquire in transit; its worker then cleans up as `redmutex::Lock` does, with a
/// release under the failed attempt's token that withdraws it from the queue. On real Redis
/// behind the proxy and in the simulator alike: without that clean-up the holder's release
/// hands the lock to the lost token, and it lies there for a ttl while the retry waits.
#[test]
fn a_waiter_whose_acquire_reply_is_lost_is_withdrawn_by_its_workers_clean_up() {
    support::need_redis();
    // Whoever loses the race for the lock sends `SET NX` and then the acquire script. On a
    // fresh server the driver's first `EVALSHA` of a script gets `NOSCRIPT` and the script goes
    // again as `EVAL`, the third command on the wire; the simulator has no script cache.
    for (server, nth_command) in [("local", 3), ("sim", 2)] {
        let text = format!(
            r#"description = "a queued waiter's acquire reply is lost"
workers = 2
iterations = 2

[lock]
ttl_ms = 5000
wait_ms = 10000

[section]
hold = {{ distribution = "fixed", ms = 500 }}

[[faults]]
kind = "command"
action = "drop-reply"
op = "acquire"
nth_op = 1
nth_command = {nth_command}

[expect.notify]
mutual-exclusion = "valid"
ownership = "valid"
liveness = "valid"
stranded-lock = "valid"
residue = "valid"
"#
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = support::scenario(dir.path(), "lost-waiter-reply", &text);
        let (out, results) = support::run_with(dir.path(), &path, "notify", &["--server", server]);
        let why = format!("{server}: {}", support::text(&out));
        let results = results.unwrap_or_else(|| panic!("no results: {why}"));
        assert_eq!(results["as_expected"], true, "{why}");
        let history = std::fs::read_to_string(dir.path().join("reports/latest/history.jsonl"));
        let history: Vec<serde_json::Value> = history
            .expect("history")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a history line"))
            .collect();
        let struck = history.iter().filter(|e| e["f"] == "command" && e["type"] == "ok");
        let struck: Vec<_> = struck.map(|e| e["details"].as_str().unwrap_or("")).collect();
        assert!(struck.iter().all(|d| d.starts_with("DropReply on EVAL")), "{struck:?}: {why}");
        let lost = history
            .iter()
            .position(|e| e["f"] == "acquire" && e["type"] == "info")
            .unwrap_or_else(|| panic!("no acquire failed: {why}"));
        let (worker, token) = (&history[lost]["worker"], &history[lost]["token"]);
        assert!(token.is_string(), "the failed acquire names its token: {why}");
        let next: Vec<_> = history[lost + 1..].iter().filter(|e| e["worker"] == *worker).collect();
        let release = |kind: &str| serde_json::json!([kind, "release", token]);
        let shape = |e: &serde_json::Value| serde_json::json!([e["type"], e["f"], e["token"]]);
        assert_eq!(
            shape(next[0]),
            release("invoke"),
            "no clean-up after the failed acquire: {why}"
        );
        assert_eq!(shape(next[1]), release("ok"), "the clean-up did not end ok: {why}");
        let handed = history.iter().filter(|e| e["handed"] == *token).count();
        assert_eq!(handed, 0, "a release handed the lock to the lost token: {why}");
    }
}
