//! Shared helpers of the harness's integration tests: hand-made histories for the checkers,
//! and runs of the `contend` binary on small scenarios.
#![allow(dead_code)]

pub mod browser;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use contend::check::Context;
use contend::history::{Event, History, Kind, Op};

/// One millisecond in ns.
pub const MS: u64 = 1_000_000;

/// A context with ttl 1000 ms, wait 2000 ms, slack 100 ms.
pub fn ctx(fenced: bool) -> Context {
    Context::from_ms(1000, 2000, 100, fenced)
}

/// Builds a history event by event; times in ms.
#[derive(Default)]
pub struct H {
    pub events: History,
}

impl H {
    pub fn new() -> H {
        H::default()
    }

    fn push(&mut self, at_ms: u64, kind: Kind, f: Op, w: u32) -> &mut Event {
        self.events.push(Event::new(at_ms * MS, kind, f).by(w, 1000 + w));
        self.events.last_mut().expect("just pushed")
    }

    /// Worker `w` acquires: invoke at `from`, ok at `to`.
    pub fn acquire(&mut self, w: u32, from: u64, to: u64, fence: Option<u64>) -> &mut H {
        self.push(from, Kind::Invoke, Op::Acquire, w);
        let ok = self.push(to, Kind::Ok, Op::Acquire, w);
        ok.token = Some(format!("t{w}-{to}"));
        ok.fence = fence;
        self
    }

    /// Worker `w` runs a section [from, to] that read `read` and wrote `read + 1`.
    pub fn section(&mut self, w: u32, from: u64, to: u64, read: i64, others: &[u32]) -> &mut H {
        self.push(from, Kind::Invoke, Op::Section, w);
        let ok = self.push(to, Kind::Ok, Op::Section, w);
        ok.enter = Some(from * MS + MS / 10);
        ok.exit = Some(to * MS - MS / 10);
        ok.read = Some(read);
        ok.wrote = Some(read + 1);
        ok.others = others.to_vec();
        self
    }

    /// As [`H::section`] for a fenced lock: the write with `fence` was `accepted` or not.
    pub fn fenced_section(
        &mut self,
        w: u32,
        from: u64,
        to: u64,
        read: i64,
        fence: u64,
        accepted: bool,
    ) -> &mut H {
        self.section(w, from, to, read, &[]);
        let ok = self.events.last_mut().expect("section");
        ok.fence = Some(fence);
        ok.accepted = Some(accepted);
        self
    }

    /// Worker `w` releases [from, to]; `owned` as the algorithm reported.
    pub fn release(&mut self, w: u32, from: u64, to: u64, owned: bool) -> &mut H {
        self.push(from, Kind::Invoke, Op::Release, w);
        self.push(to, Kind::Ok, Op::Release, w).owned = Some(owned);
        self
    }

    /// Worker `w` acquires `token`, handed over by a release, with the lease the waiter reports
    /// from `lease_from` (when it began to wait).
    pub fn acquire_handed(&mut self, w: u32, from: u64, to: u64, token: &str) -> &mut H {
        self.push(from, Kind::Invoke, Op::Acquire, w);
        let ok = self.push(to, Kind::Ok, Op::Acquire, w);
        ok.token = Some(token.to_string());
        ok.lease_from = Some(from * MS);
        self
    }

    /// Worker `w`'s acquire with token `token`, invoked at `from` and dropped by its caller at
    /// `at` (`info`), then its clean-up: a release with that token [at, done], ending `ok`
    /// unless `done` is `None` (its worker died in it).
    pub fn cancelled(
        &mut self,
        w: u32,
        from: u64,
        at: u64,
        token: &str,
        done: Option<u64>,
    ) -> &mut H {
        self.push(from, Kind::Invoke, Op::Acquire, w);
        let info = self.push(at, Kind::Info, Op::Acquire, w);
        info.token = Some(token.to_string());
        info.details = Some("cancelled: the caller dropped the acquire".into());
        self.push(at, Kind::Invoke, Op::Release, w).token = Some(token.to_string());
        match done {
            Some(done) => self.push(done, Kind::Ok, Op::Release, w).owned = Some(false),
            None => return self.killed_during(w, at + 1, Op::Release),
        }
        self
    }

    /// Worker `w` releases [from, to] and hands the lock to the waiter with token `handed`
    /// (the release's completion names it, as `notify` reports).
    pub fn release_handing(&mut self, w: u32, from: u64, to: u64, handed: &str) -> &mut H {
        self.push(from, Kind::Invoke, Op::Release, w);
        let ok = self.push(to, Kind::Ok, Op::Release, w);
        ok.owned = Some(true);
        ok.handed = Some(handed.to_string());
        self
    }

    /// As [`H::release_handing`] in an older history: the invocation carries the fresh token a
    /// hand-off would give.
    pub fn release_handing_old(&mut self, w: u32, from: u64, to: u64, handed: &str) -> &mut H {
        self.push(from, Kind::Invoke, Op::Release, w).handed = Some(handed.to_string());
        self.push(to, Kind::Ok, Op::Release, w).owned = Some(true);
        self
    }

    /// Worker `w`'s section invoked at `from` that ended `info` at `to`, with what it got to
    /// record: the witness `enter` answered, `exit` sent (ms), the value read and written.
    #[allow(clippy::too_many_arguments)]
    pub fn info_section(
        &mut self,
        w: u32,
        from: u64,
        to: u64,
        enter: Option<u64>,
        exit: Option<u64>,
        read: Option<i64>,
        wrote: Option<i64>,
    ) -> &mut H {
        self.push(from, Kind::Invoke, Op::Section, w);
        let e = self.push(to, Kind::Info, Op::Section, w);
        e.enter = enter.map(|t| t * MS);
        e.exit = exit.map(|t| t * MS);
        e.read = read;
        e.wrote = wrote;
        e.details = Some("witness exit: connection reset".into());
        self
    }

    /// Worker `w` invokes `op` at `at`; nothing completes it (its worker dies, or the run ends).
    pub fn invoke(&mut self, w: u32, at: u64, op: Op) -> &mut H {
        self.push(at, Kind::Invoke, op, w);
        self
    }

    /// Worker `w` is killed at `at` with `op` under way: the coordinator's `info` completion of
    /// that operation and the `crash`, as a run records them.
    pub fn killed_during(&mut self, w: u32, at: u64, op: Op) -> &mut H {
        self.push(at, Kind::Info, op, w).details = Some("killed by the nemesis".into());
        self.crash(w, at)
    }

    /// The last event (an acquire `ok`) says its winning command was sent at `at`.
    pub fn won_at(&mut self, at: u64) -> &mut H {
        self.events.last_mut().expect("an acquire").lease_from = Some(at * MS);
        self
    }

    /// Worker `w`'s acquire that failed (timed out) after [from, to].
    pub fn timeout(&mut self, w: u32, from: u64, to: u64) -> &mut H {
        self.push(from, Kind::Invoke, Op::Acquire, w);
        self.push(to, Kind::Fail, Op::Acquire, w);
        self
    }

    /// Worker `w`'s acquire invoked at `from` that may or may not have happened (`info`, e.g.
    /// stopped at the end of the run) at `to`.
    pub fn unfinished(&mut self, w: u32, from: u64, to: u64) -> &mut H {
        self.push(from, Kind::Invoke, Op::Acquire, w);
        self.push(to, Kind::Info, Op::Acquire, w);
        self
    }

    /// Worker `w` is killed at `at`.
    pub fn crash(&mut self, w: u32, at: u64) -> &mut H {
        let mut e = Event::new(at * MS, Kind::Info, Op::Crash);
        e.target = Some(w);
        self.events.push(e);
        self
    }

    /// The counter read at the end.
    pub fn fin(&mut self, at: u64, value: i64) -> &mut H {
        let mut e = Event::new(at * MS, Kind::Ok, Op::Final);
        e.value = Some(value);
        self.events.push(e);
        self
    }

    /// The last event (a `final`) carries the fenced resource's high-water mark `fence`.
    pub fn mark(&mut self, fence: u64) -> &mut H {
        self.events.last_mut().expect("a final event").fence = Some(fence);
        self
    }

    /// The history, in time order.
    pub fn done(&mut self) -> History {
        let mut h = std::mem::take(&mut self.events);
        contend::history::sort(&mut h);
        h
    }
}

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
    use std::os::unix::process::CommandExt as _;
    need_redis();
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"));
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("reports");
    let mut cmd = contend();
    cmd.arg("run").arg(scenario).args(["-a", algorithm, "--out"]).arg(&out_dir);
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
