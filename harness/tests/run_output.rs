//! What a run prints and `report.md` opens with answer the next question: the first findings,
//! no `floor_ratio` where faults make it meaningless, numbers at their own precision, a
//! description that says what ran.

mod support;

use std::path::Path;

use support::{contend, text};

fn run(scenario: &str, algorithm: &str, extra: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(scenario);
    let out = dir.path().join("reports");
    let output = contend()
        .arg("run")
        .arg(&file)
        .args(["-a", algorithm, "--server", "sim", "--out"])
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(out.join("latest/report.md"))
        .unwrap_or_else(|e| panic!("no report.md ({e}): {}", text(&output)));
    (text(&output), report)
}

#[test]
fn a_run_with_findings_prints_the_first_ones_and_where_the_rest_are() {
    let (out, report) = run("release-step-delay.toml", "poll-get-del", &[]);
    let findings = out.lines().filter(|l| l.trim_start().starts_with("finding ")).count();
    assert!((1..=5).contains(&findings), "{findings} finding lines:\n{out}");
    assert!(out.contains("(events #"), "{out}");
    assert!(out.contains("more finding(s) listed in") && out.contains("report.md"), "{out}");
    assert!(report.contains("**Not as expected**") || report.contains("**As expected**"));
    let first = report.lines().nth(2).unwrap_or("");
    assert!(first.starts_with("**As expected**: ") || first.starts_with("**Not as expected**: "));
}

#[test]
fn a_run_with_faults_prints_no_floor_ratio_and_a_quiet_one_does() {
    let (faulted, report) = run("pause-holder.toml", "fenced", &[]);
    assert!(!faulted.contains("floor_ratio"), "{faulted}");
    assert!(report.contains("no floor_ratio"), "{report}");
    let (quiet, _) =
        run("increment-20x100.toml", "notify", &["--workers", "3", "--iterations", "5"]);
    assert!(quiet.contains("floor_ratio"), "{quiet}");
}

#[test]
fn numbers_are_printed_at_their_precision_and_overrides_show_in_the_description() {
    let (out, report) =
        run("increment-20x100.toml", "token", &["--workers", "3", "--iterations", "5"]);
    assert!(out.contains("(this run: 3 workers × 5 iterations)"), "{out}");
    assert!(report.contains("(this run: 3 workers × 5 iterations)"), "{report}");
    assert!(!report.contains(".000 |") && !report.contains(".000\n"), "padded numbers:\n{report}");
}

#[test]
fn a_fault_that_never_strikes_makes_the_run_not_as_expected_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = support::scenario(
        dir.path(),
        "late-kill",
        "workers = 2\niterations = 3\n[lock]\nttl_ms = 1000\n\
         [[faults]]\nkind = \"kill-holder\"\nstart_ms = 3600000\n\
         [expect.token]\nmutual-exclusion = \"valid\"\n",
    );
    for server in ["sim", "local"] {
        let out = contend()
            .arg("run")
            .arg(&scenario)
            .args(["-a", "token", "--server", server, "--out"])
            .arg(dir.path().join("reports"))
            .output()
            .unwrap();
        let text = text(&out);
        assert_eq!(out.status.code(), Some(1), "{server}: {text}");
        assert!(text.contains("fault `kill-holder` never struck"), "{server}: {text}");
        assert!(text.contains("NOT AS EXPECTED"), "{server}: {text}");
    }
}

/// A real run with `-v`/`-vv` says what the coordinator did on stderr; without it, nothing of
/// that.
#[test]
fn verbose_says_what_the_coordinator_did_and_quiet_says_nothing_of_it() {
    let real = |extra: &[&str], scenario: &str| {
        let dir = tempfile::tempdir().unwrap();
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(scenario);
        let output = contend()
            .args(extra)
            .arg("run")
            .arg(&file)
            .args(["-a", "token", "--workers", "2", "--iterations", "2", "--out"])
            .arg(dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let quiet = real(&[], "increment-20x100.toml");
    assert!(!quiet.contains("worker started") && !quiet.contains("run started"), "{quiet}");
    let chatty = real(&["-vv"], "increment-20x100.toml");
    for said in
        ["run started", "local servers started", "worker started", "worker ended", "run ended"]
    {
        assert!(chatty.contains(said), "`{said}` missing from -vv:\n{chatty}");
    }
    let info = real(&["-v"], "pause-holder.toml");
    assert!(info.contains("fault: the holder struck"), "{info}");
    assert!(!info.contains("worker started"), "-v is not -vv:\n{info}");
}
