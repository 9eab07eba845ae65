//! The differential: gate scenarios run through `contend adapter serve NAME` (the built-in
//! algorithm behind the adapter protocol) give the same verdicts as the built-in path, so the
//! adapter path does not change what the checkers see.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::{contend, text, verdict};

const CHECKERS: [&str; 5] =
    ["mutual-exclusion", "lost-updates", "ownership", "fencing", "liveness"];

/// A manifest serving `algorithm` at `scale`, written into `dir`.
fn served_manifest(dir: &Path, algorithm: &str, scale: &str) -> PathBuf {
    let out = contend()
        .args(["adapter", "serve", algorithm, "--scale", scale, "--manifest"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let path = dir.join(format!("served-{algorithm}.toml"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// `scenario` with its `[expect.ALGORITHM]` table also stated for `served-ALGORITHM`.
fn scenario_for_served(dir: &Path, scenario: &str, algorithm: &str) -> PathBuf {
    let text = std::fs::read_to_string(shipped(scenario)).unwrap();
    let from = format!("[expect.{algorithm}]");
    assert!(text.contains(&from), "{scenario} has no {from}");
    let path = dir.join(format!("{scenario}.toml"));
    std::fs::write(&path, text.replace(&from, &format!("[expect.served-{algorithm}]"))).unwrap();
    path
}

fn shipped(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{scenario}.toml"))
}

fn run(
    scenario: &Path,
    algorithm: &str,
    out: &Path,
    extra: &[&str],
) -> (Output, serde_json::Value) {
    let output = contend()
        .arg("run")
        .arg(scenario)
        .args(["-a", algorithm, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let results = std::fs::read_to_string(out.join("latest").join("results.json"))
        .unwrap_or_else(|_| panic!("no results: {}", text(&output)));
    (output, serde_json::from_str(&results).unwrap())
}

/// Runs `scenario` with `algorithm` built in and served; both must meet the scenario's
/// expectations and agree checker by checker.
fn same_verdicts(scenario: &str, algorithm: &str, scale: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = served_manifest(dir.path(), algorithm, scale);
    let served_scenario = scenario_for_served(dir.path(), scenario, algorithm);
    let (b_out, builtin) = run(&shipped(scenario), algorithm, &dir.path().join("b"), extra);
    let served_name = format!("adapter:{}", manifest.display());
    let (s_out, served) = run(&served_scenario, &served_name, &dir.path().join("s"), extra);
    assert_eq!(builtin["as_expected"], true, "built in: {}", text(&b_out));
    assert_eq!(served["as_expected"], true, "served: {}", text(&s_out));
    assert_eq!(served["algorithm"], format!("served-{algorithm}"));
    // The served adapter is named by its path: its table is still known, and no warning says
    // otherwise.
    let warning = format!("[expect.served-{algorithm}] names no known algorithm");
    assert!(!text(&s_out).contains(&warning), "{}", text(&s_out));
    for c in CHECKERS {
        assert_eq!(
            verdict(&builtin, c),
            verdict(&served, c),
            "{scenario} × {algorithm}: {c} differs\nbuilt in: {}\nserved: {}",
            text(&b_out),
            text(&s_out)
        );
    }
}

#[test]
fn a_served_token_lock_refuses_a_stale_release_as_the_built_in_one_does() {
    same_verdicts("stale-release", "token", "1", &[]);
}

#[test]
fn a_served_specimen_shows_its_stale_release_bug_as_the_built_in_one_does() {
    same_verdicts("stale-release", "setnx-getset-unchecked", "0.2", &[]);
}

#[test]
fn a_served_clock_reading_specimen_takes_over_live_locks_under_a_skew_as_the_built_in_one_does() {
    // The served specimen reads its clock in its own process, which runs under libfaketime.
    same_verdicts("client-clock-skew", "setnx-getset-expiry", "0.2", &[]);
}

#[test]
fn a_served_fenced_lock_refuses_a_paused_holders_write_as_the_built_in_one_does() {
    same_verdicts("pause-holder", "fenced", "1", &[]);
}

#[test]
fn a_served_notify_lock_counts_every_increment_as_the_built_in_one_does() {
    same_verdicts("increment-20x100", "notify", "1", &["--workers", "4", "--iterations", "15"]);
}

#[test]
fn an_adapter_in_contend_adapters_is_listed_and_a_bad_manifest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = served_manifest(dir.path(), "token", "1");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"no spaces allowed\"\ncommand = [\"x\"]\n").unwrap();
    let out = contend()
        .arg("list")
        .env("CONTEND_ADAPTERS", format!("{}:{}", good.display(), bad.display()))
        .output()
        .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout.lines().any(|l| l.starts_with("served-token") && l.contains("adapter")),
        "{stdout}"
    );
    assert!(stderr.contains("bad.toml") && stderr.contains("`name`"), "{stderr}");
    assert_eq!(stderr.matches("bad.toml").count(), 1, "warned more than once: {stderr}");
}
