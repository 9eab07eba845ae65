//! A broken adapter is a setup error naming the adapter and the last line it sent — never a
//! verdict, never a hang, never an orphan process; and `contend adapter check` says which steps
//! an adapter fails.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{cmdline, contend, running, text};

const HELLO: &str =
    r#"{"id":0,"result":"hello","protocol":1,"name":"broken","version":"0","supports":{}}"#;

/// A manifest running `sh -c SCRIPT`, named `name`.
fn manifest(dir: &Path, name: &str, script: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let command = serde_json::to_string(&["sh", "-c", script]).unwrap();
    std::fs::write(&path, format!("name = \"{name}\"\ncommand = {command}\ncall_timeout_ms = 1\n"))
        .unwrap();
    path
}

fn small_scenario(dir: &Path) -> PathBuf {
    support::scenario(
        dir,
        "small",
        "workers = 1\niterations = 2\n[lock]\nttl_ms = 1000\nwait_ms = 1000\n",
    )
}

/// Whether a process whose command line holds `marker` is still running.
fn alive_with(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .parse::<u32>()
            .is_ok_and(|pid| running(pid) && cmdline(pid).iter().any(|a| a.contains(marker)))
    })
}

/// Runs the small scenario with the adapter of `script`; answers stderr, after asserting the
/// run was a setup error (exit 2) that left no process with `marker` behind.
fn setup_error(name: &str, script: &str, marker: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), name, script);
    let started = Instant::now();
    let out = contend()
        .arg("run")
        .arg(small_scenario(dir.path()))
        .arg("-a")
        .arg(format!("adapter:{}", m.display()))
        .arg("--out")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains(&format!("adapter `{name}`")), "{stderr}");
    assert!(!dir.path().join("reports/latest").exists(), "a broken adapter gave a verdict");
    // Killed processes are reaped by init a moment later.
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive_with(marker) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive_with(marker), "an adapter process ({marker}) outlived the run");
    stderr
}

#[test]
fn an_adapter_that_crashes_is_a_setup_error_quoting_its_last_line_and_stderr() {
    let script = format!("read l; echo '{HELLO}'; read l; echo 'boom: crash-4711' >&2; exit 3");
    let err = setup_error("crasher", &script, "crash-4711");
    assert!(err.contains("closed its stdout during `acquire`"), "{err}");
    assert!(err.contains(r#""result":"hello""#), "the last line is not quoted: {err}");
    assert!(err.contains("boom: crash-4711"), "stderr is not quoted: {err}");
}

#[test]
fn an_adapter_that_writes_garbage_is_a_setup_error_quoting_the_line() {
    // The adapter's own child (the sleep) must go too: it is in the worker's process group.
    let script = "read l; sleep 30.4712 & sleep 0.2; echo 'Starting lock v1 garbage-4712'; wait";
    let err = setup_error("chatty", script, "30.4712");
    assert!(err.contains("not a JSON object"), "{err}");
    assert!(err.contains("Starting lock v1 garbage-4712"), "{err}");
}

#[test]
fn an_adapter_that_hangs_is_stopped_after_the_call_timeout_and_leaves_no_process() {
    // The call timeout never goes below ttl + wait + 1 s: 3 s here.
    let script = format!("read l; echo '{HELLO}'; read l; exec sleep 300.4713");
    let err = setup_error("hanger", &script, "300.4713");
    assert!(err.contains("did not answer `acquire` within 3000 ms"), "{err}");
}

#[test]
fn adapters_refuse_what_they_cannot_take_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "any", "exit 0");
    let base = "workers = 2\niterations = 2\n[lock]\nttl_ms = 1000\n";
    let cases = [
        (
            "delayed",
            "wait_ms = 1000\n[[faults]]\nkind = \"step-delay\"\nop = \"release\"\nstep = 1\n\
             delay_ms = 100\n",
            "action = \"delay-command\"\nop = \"release\"\nnth_command = N\ndelay_ms = 100",
        ),
        (
            "skewed",
            "wait_ms = 1000\n[[faults]]\nkind = \"clock-skew\"\noffset_ms = 3000\n",
            "libfaketime, which is not installed: `apt-get install libfaketime`",
        ),
        ("once", "wait_ms = 0\n", "does not support try_acquire"),
    ];
    for (name, rest, why) in cases {
        let scenario = support::scenario(dir.path(), name, &format!("{base}{rest}"));
        let out = contend()
            .arg("run")
            .arg(&scenario)
            .arg("-a")
            .arg(format!("adapter:{}", m.display()))
            .arg("--out")
            .arg(dir.path().join("reports"))
            // As on a machine without libfaketime.
            .env("CONTEND_LIBFAKETIME", dir.path().join("no-libfaketime.so.1"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        assert!(text(&out).contains(why), "{name}: {}", text(&out));
    }
}

fn check(manifest: &Path) -> (Option<i32>, String) {
    let out = contend().args(["adapter", "check"]).arg(manifest).output().unwrap();
    (out.status.code(), text(&out))
}

#[test]
fn the_check_passes_a_served_reference_lock_and_fails_a_bare_del_release() {
    let dir = tempfile::tempdir().unwrap();
    for (algorithm, passes) in [("token", true), ("setnx-getset-unchecked", false)] {
        let out = contend()
            .args(["adapter", "serve", algorithm, "--scale", "0.2", "--manifest"])
            .output()
            .unwrap();
        let path = dir.path().join(format!("{algorithm}.toml"));
        std::fs::write(&path, &out.stdout).unwrap();
        let (code, out) = check(&path);
        if passes {
            assert_eq!(code, Some(0), "{out}");
            assert!(out.contains("PASS stale release"), "{out}");
        } else {
            assert_eq!(code, Some(1), "{out}");
            assert!(out.contains("FAIL stale release"), "{out}");
            assert!(out.contains("fix: release only when the lock still holds our token"), "{out}");
        }
    }
}

#[test]
fn the_check_reports_a_garbage_adapter_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = "read l; sleep 30.4714 & sleep 0.2; echo 'INFO ready'; wait";
    let m = manifest(dir.path(), "noisy", script);
    let (code, out) = check(&m);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL protocol") && out.contains("`INFO ready`"), "{out}");
    assert!(!alive_with("30.4714"), "the check left the adapter's child running");
}

#[test]
fn a_killed_holders_adapter_dies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    // The served lock leaves a helper process behind it (as an adapter's might): only killing
    // the worker's whole group ends it. The sleep's length marks it.
    let command = serde_json::to_string(&[
        "sh",
        "-c",
        "sleep 30.4715 & exec \"$0\" adapter serve token",
        env!("CARGO_BIN_EXE_contend"),
    ])
    .unwrap();
    let m = dir.path().join("served.toml");
    std::fs::write(
        &m,
        format!(
            "name = \"lingering\"\ncommand = {command}\n\
             [supports]\nfencing = false\nextend = true\ntry_acquire = true\n"
        ),
    )
    .unwrap();
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/crash-holder.toml"),
    )
    .unwrap();
    let scenario = support::scenario(dir.path(), "crash", &scenario);
    let out = contend()
        .arg("run")
        .arg(&scenario)
        .arg("-a")
        .arg(format!("adapter:{}", m.display()))
        .arg("--out")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("kill-holder ×2"), "{}", text(&out));
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive_with("30.4715") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive_with("30.4715"), "an adapter's process outlived its worker");
}

/// The one-letter state of `pid` (`R`, `S`, `T` for stopped, ...).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.split_whitespace().next()?.chars().next()
}

#[test]
fn a_paused_holders_adapter_is_paused_with_it() {
    let dir = tempfile::tempdir().unwrap();
    // A scale no other test uses marks this test's adapter processes.
    let out = contend()
        .args(["adapter", "serve", "token", "--scale", "1.004716", "--manifest"])
        .output()
        .unwrap();
    let m = dir.path().join("served.toml");
    std::fs::write(&m, &out.stdout).unwrap();
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pause-holder.toml"),
    )
    .unwrap()
    .replace("[expect.token]", "[expect.served-token]");
    let scenario = support::scenario(dir.path(), "pause", &scenario);
    let mut child = contend()
        .arg("run")
        .arg(&scenario)
        .arg("-a")
        .arg(format!("adapter:{}", m.display()))
        .arg("--out")
        .arg(dir.path().join("reports"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen_stopped = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        let adapters: Vec<u32> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
            .filter(|&pid| cmdline(pid).iter().any(|a| a == "1.004716"))
            .collect();
        seen_stopped |= adapters.iter().any(|&pid| state(pid) == Some('T'));
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the run was not as expected: {status:?}");
    assert!(seen_stopped, "no adapter process was ever stopped during the pause");
}

/// An adapter whose command is not installed is a setup error that names the manifest's
/// `setup` command; nothing is installed for the user.
#[test]
fn an_adapter_that_cannot_start_names_its_setup_command() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("missing.toml");
    std::fs::write(
        &m,
        "name = \"missing\"\ncommand = [\"./not-installed/bin/python\", \"x.py\"]\n\
         setup = \"just adapters\"\n",
    )
    .unwrap();
    let out = contend()
        .arg("run")
        .arg(small_scenario(dir.path()))
        .arg("-a")
        .arg(format!("adapter:{}", m.display()))
        .arg("--out")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr.contains("cannot start") && stderr.contains("`just adapters`"), "{stderr}");
    assert!(!dir.path().join("not-installed").exists(), "something was installed");
}
