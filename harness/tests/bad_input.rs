//! Bad scenario files, unknown algorithms, missing or unreachable servers: clear errors, exit 2.

mod support;

use std::time::Instant;

use support::{contend, scenario, text};

const SMALL: &str = "workers = 1\niterations = 1\n[lock]\nttl_ms = 1000\n";

#[test]
fn an_unknown_key_is_an_error_naming_file_line_column_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "bad", "workers = 2\n[lock]\nttl_ms = 1000\nttl_sec = 3\n");
    let out = contend().arg("run").arg(&path).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:4:1") && err.contains("ttl_sec"), "{err}");
}

#[test]
fn an_unknown_algorithm_lists_the_known_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "ok", SMALL);
    let out = contend().arg("run").arg(&path).args(["-a", "nope"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for known in ["notify", "token", "fenced", "poll-get-del"] {
        assert!(err.contains(known), "{err}");
    }
}

#[test]
fn an_unreachable_url_fails_within_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "ok", SMALL);
    let port = redmutex::testing::free_port().expect("port");
    let started = Instant::now();
    let out = contend()
        .arg("run")
        .arg(&path)
        .args(["--server", &format!("redis://127.0.0.1:{port}")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reachable"), "{}", text(&out));
    // The limit is 5 s; the bound here only guards against a hang.
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

#[test]
fn no_redis_server_names_the_install_command_and_docker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "ok", SMALL);
    let out = contend()
        .arg("run")
        .arg(&path)
        .env(redmutex::testing::SERVER_ENV, dir.path().join("no-such-redis-server"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("apt-get install redis-server") && err.contains("--server docker"),
        "{err}"
    );
}

#[test]
fn a_fault_with_a_setting_of_another_kind_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "f", "[[faults]]\nkind = \"kill-holder\"\noffset_ms = 5\n");
    let out = contend().arg("run").arg(&path).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("f.toml:2:8"), "{}", text(&out));
}

#[cfg(not(feature = "docker"))]
#[test]
fn docker_without_the_feature_says_how_to_get_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "ok", SMALL);
    let out = contend().arg("run").arg(&path).args(["--server", "docker"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features docker"), "{}", text(&out));
}

/// Runs `contend run FILE ARGS` on a scenario of `text_of_file`; answers the exit code and
/// stderr.
fn refused(text_of_file: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "s", text_of_file);
    let out = contend()
        .arg("run")
        .arg(&path)
        .args(args)
        .arg("--out")
        .arg(dir.path().join("reports"))
        .output()
        .expect("run");
    if out.status.code() == Some(2) {
        assert!(!dir.path().join("reports/latest").exists(), "a refused run wrote a report");
    }
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn values_that_make_no_sense_are_refused_before_anything_starts() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("workers = 0\n", &[], "workers must be at least 1"),
        (SMALL, &["--workers", "0"], "workers must be at least 1"),
        ("iterations = 0\n", &[], "iterations must be at least 1"),
        (SMALL, &["--iterations", "0"], "iterations must be at least 1"),
        ("max_duration_ms = 0\n", &[], "max_duration_ms must be positive"),
        ("specimen_scale = -1.0\n", &[], "specimen_scale (--scale) must be a number above 0"),
        ("specimen_scale = nan\n", &[], "not NaN"),
        (SMALL, &["--scale=0"], "not 0"),
        (SMALL, &["--scale=inf"], "not inf"),
        ("[lock]\nttl_ms = 1000\ndrift_ms = 2000\n", &[], "drift_ms 2000 must be less than ttl_ms"),
        ("[lock]\nttl_ms = 2\n", &[], "ttl_ms 2 is too short: the default drift allowance"),
        (
            "workers = 2\n[[faults]]\nkind = \"clock-skew\"\noffset_ms = 5\nworkers = [5]\n",
            &[],
            "worker slot 5 does not exist",
        ),
        (
            "workers = 2\n[gate]\nworkers = 0\n",
            &[],
            "in the gate's settings ([gate]): workers must be at least 1",
        ),
        ("name = \"../elsewhere/x\"\n", &[], "cannot name a report folder"),
        ("[lock]\nwait_ms = 4000000\n", &[], "wait_ms must be at most 3600000"),
        (
            "[[faults]]\nkind = \"clock-skew\"\noffset_ms = 5\nworkers = []\n",
            &[],
            "workers = [] names no worker",
        ),
        (
            "[[faults]]\nkind = \"step-delay\"\nop = \"release\"\nstep = 1\ndelay_ms = 5\nevery = 0\n",
            &[],
            "every must be at least 1",
        ),
        (
            "[[faults]]\nkind = \"step-delay\"\nop = \"release\"\nstep = 1\n\
             delay_ms = 18446744073709551615\n",
            &[],
            "delay_ms must be at most 3600000",
        ),
        ("[[faults]]\nkind = \"kill-holder\"\ncount = 0\n", &[], "count must be at least 1"),
        ("workers = 2\nworkers = 3\n", &[], "duplicate key `workers`"),
        (
            "[section]\nhold = { distribution = \"uniform\", min_ms = 10 }\n",
            &[],
            "also needs: max_ms",
        ),
    ];
    for (file, args, message) in cases {
        let (code, err) = refused(file, args);
        assert_eq!(code, Some(2), "{file} {args:?}: {err}");
        assert!(err.contains(message), "{file} {args:?}: wanted {message:?} in: {err}");
    }
}

#[test]
fn a_report_folder_that_cannot_be_made_is_an_error_before_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), "ok", SMALL);
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    let out = contend().arg("run").arg(&path).arg("--out").arg(&file).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("check --out"), "{}", text(&out));
    // Refused before any server or worker started: no verdict table was printed.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("checker"), "{}", text(&out));
}

#[test]
fn an_expectation_for_a_misspelt_algorithm_is_pointed_out() {
    support::need_redis();
    let file = format!("{SMALL}[expect.notfy]\nliveness = \"valid\"\n");
    let (code, err) = refused(&file, &[]);
    assert_ne!(code, Some(2), "the run itself goes ahead: {err}");
    assert!(err.contains("[expect.notfy] names no known algorithm"), "{err}");
}

#[test]
fn a_file_that_is_not_text_is_called_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("garbage.toml");
    std::fs::write(&path, [0_u8, 0xff, 0xfe, 0x80]).expect("write");
    let out = contend().arg("run").arg(&path).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("it is not text") && !err.contains("check the path"), "{err}");
}

#[test]
fn server_and_network_faults_with_bad_settings_are_refused_naming_the_fix() {
    let cases: &[(&str, &str)] = &[
        ("[server]\npersistence = \"sometimes\"\n", "unknown variant `sometimes`"),
        (
            "[[faults]]\nkind = \"command\"\naction = \"delay-reply\"\nop = \"release\"\n",
            "a delay needs `delay_ms`",
        ),
        (
            "[[faults]]\nkind = \"command\"\naction = \"drop-reply\"\nop = \"release\"\ndelay_ms = 5\n",
            "`delay_ms` goes with action delay-command or delay-reply",
        ),
        (
            "[[faults]]\nkind = \"command\"\naction = \"drop-reply\"\nop = \"release\"\nnth_op = 0\n",
            "count from 1",
        ),
        (
            "[[faults]]\nkind = \"command\"\naction = \"drop-reply\"\nop = \"acquire\"\nstart_ms = 5\n",
            "a command fault has no window",
        ),
        ("[[faults]]\nkind = \"command\"\nop = \"acquire\"\n", "needs `action`"),
        ("[[faults]]\nkind = \"slow-server\"\n", "needs `pause_ms`"),
        ("[[faults]]\nkind = \"restart-server\"\npause_ms = 5\n", "key `pause_ms` does not apply"),
    ];
    for (file, want) in cases {
        let (code, err) = refused(&format!("{SMALL}{file}"), &[]);
        assert_eq!(code, Some(2), "{file}: {err}");
        assert!(err.contains(want), "{file}: wanted `{want}` in: {err}");
    }
}

#[test]
fn a_server_fault_on_someone_elses_server_is_refused_before_anything_starts() {
    let server = redmutex::testing::RedisServer::start().expect("redis-server");
    let file = format!("{SMALL}[[faults]]\nkind = \"restart-server\"\n");
    let (code, err) = refused(&file, &["--server", &server.url()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("fault `restart-server` needs a lock server the harness starts itself"),
        "{err}"
    );
    assert!(err.contains("--server local"), "{err}");
}

#[test]
fn a_cancel_acquire_fault_with_bad_settings_is_refused() {
    let cases: &[(&str, &str)] = &[
        ("[[faults]]\nkind = \"cancel-acquire\"\n", "needs `max_after_ms`"),
        (
            "[[faults]]\nkind = \"cancel-acquire\"\nmax_after_ms = 5\npercent = 0\n",
            "percent must be 1 to 100",
        ),
        (
            "[[faults]]\nkind = \"cancel-acquire\"\nmin_after_ms = 9\nmax_after_ms = 5\n",
            "min_after_ms must not exceed max_after_ms",
        ),
    ];
    for (file, want) in cases {
        let (code, err) = refused(&format!("{SMALL}{file}"), &[]);
        assert_eq!(code, Some(2), "{file}: {err}");
        assert!(err.contains(want), "{file}: wanted `{want}` in: {err}");
    }
}
