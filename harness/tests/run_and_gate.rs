//! End to end: a run writes its report folder with the promised fields; the gate runs a
//! scenario folder, prints the matrix and writes JUnit XML.

mod support;

#[test]
fn a_run_writes_history_results_report_and_latest() {
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/increment-20x100.toml");
    let out = support::contend()
        .arg("run")
        .arg(&scenario)
        .args(["--workers", "4", "--iterations", "10", "--out"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
    let latest = dir.path().join("latest");
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(latest.join("results.json")).expect("results"),
    )
    .expect("json");
    assert_eq!(results["scenario"], "increment-20x100");
    assert_eq!(results["algorithm"], "notify");
    assert_eq!(results["as_expected"], true);
    let stats = &results["stats"];
    assert_eq!(stats["completed"], 40);
    assert_eq!(stats["counter"], 40);
    for key in ["ping_us_p50", "lock_work_s", "floor_ratio", "server_commands_per_acquisition"] {
        assert!(stats[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {stats}");
    }
    let history = std::fs::read_to_string(latest.join("history.jsonl")).expect("history");
    assert!(history.lines().count() >= 40 * 6, "{} lines", history.lines().count());
    assert!(
        std::fs::read_to_string(latest.join("report.md")).expect("report").contains("floor_ratio")
    );
}

/// `contend gate` on a temporary folder holding one scenario, `name` with `text`, writing JUnit
/// XML; answers the output and the JUnit text (read before the folder goes).
fn gate_one(name: &str, text: &str) -> (std::process::Output, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).expect("mkdir");
    support::scenario(&scenarios, name, text);
    let junit = dir.path().join("junit.xml");
    let out = support::contend()
        .arg("gate")
        .arg(&scenarios)
        .arg("--junit")
        .arg(&junit)
        .arg("--out")
        .arg(dir.path().join("reports"))
        .output()
        .expect("gate");
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    (out, xml)
}

/// The start tag of the first `<tag ...>` element whose `name` attribute is `name` (attributes in
/// any order, as XML allows).
fn start_tag<'x>(xml: &'x str, tag: &str, name: &str) -> Option<&'x str> {
    xml.split(&format!("<{tag} ")).skip(1).map(|rest| rest.split('>').next().unwrap_or("")).find(
        |attrs| {
            attrs.contains(&format!(" name=\"{name}\""))
                || attrs.starts_with(&format!("name=\"{name}\""))
        },
    )
}

#[test]
fn the_gate_runs_a_folder_writes_junit_and_skips_unknown_algorithms() {
    support::need_redis();
    let (out, xml) = gate_one(
        "tiny",
        "workers = 2\niterations = 3\n[lock]\nttl_ms = 2000\n[expect.token]\nmutual-exclusion = \"valid\"\n\
         lost-updates = \"valid\"\n[expect.no-such-lock]\nmutual-exclusion = \"valid\"\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tiny") && stdout.contains("skip"), "{}", support::text(&out));
    // A folder of one's own holds none of the specimens' bug scenarios: those bugs are listed
    // as not run, and do not fail the gate.
    assert!(stdout.contains("not run"), "{}", support::text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
    let case = start_tag(&xml, "testcase", "token").unwrap_or_else(|| panic!("no token: {xml}"));
    assert!(case.contains(" classname=\"tiny\""), "{case}");
    assert!(xml.contains("skipped: unknown algorithm `no-such-lock`"), "{xml}");
    let suite = start_tag(&xml, "testsuite", "tiny").unwrap_or_else(|| panic!("no suite: {xml}"));
    for count in [" tests=\"2\"", " failures=\"0\"", " errors=\"0\"", " skipped=\"1\""] {
        assert!(suite.contains(count), "{count} missing from {suite}");
    }
}

#[test]
fn the_gate_fails_when_a_known_specimen_bug_goes_unseen() {
    support::need_redis();
    // A scenario that takes the name of poll-get-del's known-bug scenario but injects no fault:
    // the run is as its own expectations say, yet the bug goes undetected, and the gate says so.
    let (out, xml) = gate_one(
        "release-step-delay",
        "workers = 2\niterations = 2\nspecimen_scale = 0.1\n[lock]\nttl_ms = 2000\n\
         [expect.poll-get-del]\nownership = \"valid\"\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", support::text(&out));
    assert!(stdout.contains("MISSED"), "{}", support::text(&out));
    assert!(
        stdout.contains("no scenario in this folder caught a known bug of poll-get-del"),
        "{}",
        support::text(&out)
    );
    assert!(xml.contains("did not report it in release-step-delay"), "{xml}");
}

#[test]
fn check_judges_a_saved_history_against_the_runs_expectations() {
    support::need_redis();
    // A fenced holder paused past its lease: mutual exclusion is invalid (lease outlived), and
    // that is what the scenario expects, so `check` agrees with the run and exits 0.
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pause-holder.toml");
    let (out, results) = support::run(dir.path(), &scenario, "fenced");
    let results = results.unwrap_or_else(|| panic!("{}", support::text(&out)));
    assert_eq!(results["checkers"]["mutual-exclusion"]["verdict"], "invalid");
    let latest = dir.path().join("reports/latest");
    let check = || support::contend().arg("check").arg(&latest).output().expect("check");
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
    assert!(stdout.contains("lease-outlived") && stdout.contains("AS EXPECTED"), "{stdout}");

    // Claim the run expected mutual exclusion to hold: the same history now fails the check.
    let path = latest.join("results.json");
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    saved["checkers"]["mutual-exclusion"]["expected"] = "valid".into();
    std::fs::write(&path, saved.to_string()).unwrap();
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{}", support::text(&out));
    assert!(stdout.contains("UNEXPECTED") && stdout.contains("NOT AS EXPECTED"), "{stdout}");
}

#[test]
fn a_run_cut_short_by_its_time_limit_says_so() {
    // 2 workers × 20 sections of 100 ms cannot finish in 300 ms.
    let Some((dir, out, results)) = support::run_text(
        "short",
        "description = \"too much work for the time\"\nworkers = 2\niterations = 20\n\
         max_duration_ms = 300\n[lock]\nttl_ms = 2000\n\
         [section]\nhold = { distribution = \"fixed\", ms = 100 }\n",
        "token",
    ) else {
        return;
    };
    assert_eq!(results["time_limit_reached"], true, "{results}");
    // No acquire starts after the limit: nowhere near the 40 sections were done (without the
    // limit they would all finish, within the grace period after it).
    assert!(results["stats"]["completed"].as_u64().is_some_and(|n| n < 40), "{results}");
    assert_eq!(results["description"], "too much work for the time");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("time limit: the run reached max_duration_ms"), "{stdout}");
    assert!(stdout.contains("too much work for the time"), "{stdout}");
    let report =
        std::fs::read_to_string(dir.path().join("reports/latest/report.md")).expect("report");
    let (before, table) = report.split_once("## Verdicts").expect("verdicts");
    assert!(before.contains("reached its time limit"), "{report}");
    assert!(table.contains("|---|") && table.contains("| lost-updates |"), "{report}");
}

#[test]
fn a_gate_with_nothing_to_run_or_bad_files_is_a_setup_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = |folder: &std::path::Path| {
        support::contend()
            .arg("gate")
            .arg(folder)
            .arg("--out")
            .arg(dir.path().join("reports"))
            .output()
            .expect("gate")
    };
    // Empty, and a scenario with no expectations: nothing would run; green would be a lie.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = gate(&empty);
    assert_eq!(out.status.code(), Some(2), "{}", support::text(&out));
    assert!(support::text(&out).contains("nothing to gate"), "{}", support::text(&out));
    support::scenario(&empty, "no-expect", "workers = 2\n");
    let out = gate(&empty);
    assert_eq!(out.status.code(), Some(2), "{}", support::text(&out));
    // Two bad files: both named at once.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).expect("mkdir");
    support::scenario(&bad, "y-bad", "workers = \"two\"\n");
    support::scenario(&bad, "z-bad", "wrokers = 2\n");
    let out = gate(&bad);
    let text = support::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("y-bad.toml:1") && text.contains("z-bad.toml:1"), "{text}");
}

#[test]
fn the_timeline_escapes_what_it_shows() {
    let Some((dir, _, results)) = support::run_text(
        "odd",
        "name = \"a<b&c\"\nworkers = 2\niterations = 2\n[[faults]]\nkind = \"clock-skew\"\n\
         offset_ms = 5\n",
        "token",
    ) else {
        return;
    };
    assert_eq!(results["faults_struck"]["clock-skew"], 1, "{results}");
    let html = std::fs::read_to_string(dir.path().join("reports/latest/timeline.html")).unwrap();
    assert!(html.contains("<title>a&lt;b&amp;c × token</title>"), "{html}");
    assert!(!html.contains("a<b"), "{html}");
}
