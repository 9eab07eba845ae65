//! Shared helpers of the harness's integration tests: runs of the `contend` binary on small
//! scenarios, and (from `contend_check::testkit`) hand-made histories for the checkers.
#![allow(dead_code)]

pub mod browser;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(unused_imports)]
pub use contend_check::testkit::{H, MS, ctx};

/// The `contend` binary.
pub fn contend() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_contend"));
    // A developer's own default server must not leak into the tests.
    cmd.env_remove("CONTEND_SERVER");
    cmd
}

/// A scratch folder with `name.toml` holding `text`.
pub fn scenario(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write scenario");
    path
}

/// Fails the test, with the command that installs it, when `redis-server` cannot be run: a
/// test that needs Redis must not pass by skipping itself.
pub fn need_redis() {
    assert!(
        redmutex::testing::available(),
        "this test needs redis-server (looked for {}): install it with \
         `sudo apt-get install redis-server`, or set {} to its path",
        redmutex::testing::binary().display(),
        redmutex::testing::SERVER_ENV
    );
}

/// `contend run` of a scenario `name` written from `toml` in a fresh temporary folder, with
/// `algorithm`; answers the folder (its `reports/latest` holds the report), the output and the
/// parsed results.json, which must exist. Fails the test when there is no `redis-server`
/// (always `Some`; the `Option` keeps the callers' shape).
pub fn run_text(
    name: &str,
    toml: &str,
    algorithm: &str,
) -> Option<(tempfile::TempDir, Output, serde_json::Value)> {
    need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), name, toml);
    let (out, results) = run(dir.path(), &path, algorithm);
    let results = results.unwrap_or_else(|| panic!("no results: {}", text(&out)));
    Some((dir, out, results))
}

/// Runs `contend run SCENARIO -a ALGORITHM --out DIR/reports`; answers the output and the
/// parsed results.json (if the run got that far).
pub fn run(dir: &Path, scenario: &Path, algorithm: &str) -> (Output, Option<serde_json::Value>) {
    run_with(dir, scenario, algorithm, &[])
}

/// As [`run`], with more arguments (`--workers 4`, ...); the report is in `dir/reports/latest`.
pub fn run_with(
    dir: &Path,
    scenario: &Path,
    algorithm: &str,
    more: &[&str],
) -> (Output, Option<serde_json::Value>) {
    let out = dir.join("reports");
    let output = contend()
        .arg("run")
        .arg(scenario)
        .args(["-a", algorithm])
        .args(more)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run contend");
    let results = std::fs::read_to_string(out.join("latest").join("results.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    (output, results)
}

/// Every scenario of `scenarios/`, parsed, in file-name order (there are at least seven).
pub fn shipped_scenarios() -> Vec<contend::scenario::Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "the scenarios are missing from {}", dir.display());
    files.iter().map(|f| contend::scenario::Scenario::load(f).unwrap()).collect()
}

/// A shipped scenario's run: its results, its history, its output.
pub struct Shipped {
    /// results.json.
    pub results: serde_json::Value,
    /// history.jsonl, one event a value.
    pub history: Vec<serde_json::Value>,
    /// What `contend` printed.
    pub output: Output,
}

/// Runs the shipped scenario `scenarios/NAME.toml` with `algorithm` in a session of its own;
/// answers the run after checking that it went as the scenario expects (exit 0) and that no
/// process of the session outlived it.
pub fn run_shipped(name: &str, algorithm: &str) -> Shipped {
    run_shipped_with(name, algorithm, &[])
}

/// As [`run_shipped`], with more arguments (`--iterations 1`, ...).
pub fn run_shipped_with(name: &str, algorithm: &str, more: &[&str]) -> Shipped {
    use std::os::unix::process::CommandExt as _;
    need_redis();
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"));
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("reports");
    let mut cmd = contend();
    cmd.arg("run").arg(scenario).args(["-a", algorithm]).args(more).arg("--out").arg(&out_dir);
    // SAFETY: setsid is async-signal-safe and touches nothing of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = child.spawn().expect("run contend");
    let sid = child.id();
    let output = child.wait_with_output().expect("wait for contend");
    let left = session_members(sid);
    assert!(left.is_empty(), "processes of the run outlived it: {left:?}\n{}", text(&output));
    let read = |file: &str| std::fs::read_to_string(out_dir.join("latest").join(file)).ok();
    let results: serde_json::Value = read("results.json")
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| panic!("no results: {}", text(&output)));
    assert_eq!(results["as_expected"], true, "{}", text(&output));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let history = read("history.jsonl")
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a history line"))
        .collect();
    Shipped { results, history, output }
}

/// The verdict of checker `name` in results.json.
pub fn verdict(results: &serde_json::Value, name: &str) -> String {
    results["checkers"][name]["verdict"].as_str().unwrap_or("?").to_string()
}

/// Output as text, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return kids };
    for entry in entries.flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // The fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            kids.push(child);
        }
    }
    kids
}

/// Whether `pid` exists and is not a zombie.
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !matches!(s.rsplit(')').next().unwrap_or("").split_whitespace().next(), Some("Z" | "X"))
        })
        .unwrap_or(false)
}

/// The arguments `pid` was started with (as it shows them now: a server may retitle itself).
pub fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The live processes of session `sid` (a process that left the session by `setsid` is not
/// counted): what a run started with `setsid` and did not stop, even after it was re-parented.
pub fn session_members(sid: u32) -> Vec<u32> {
    let mut members = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return members };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // After the name: state, ppid, pgrp, session.
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let zombie = matches!(fields.first(), Some(&("Z" | "X")));
        if !zombie && fields.get(3).and_then(|s| s.parse::<u32>().ok()) == Some(sid) {
            members.push(pid);
        }
    }
    members
}
