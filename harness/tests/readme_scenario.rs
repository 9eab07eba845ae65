//! The scenario the top-level README shows, written as a new user would from the README alone,
//! parses and runs with the verdicts it states (on real Redis, and in simulation).

use std::process::Command;

fn readme_scenario() -> String {
    let readme = include_str!("../../README.md");
    let start =
        readme.find("`scenarios/my-pause.toml`:\n\n```toml\n").expect("README shows my-pause.toml");
    let body = &readme[start..];
    let body = &body[body.find("```toml\n").expect("toml block") + 8..];
    body[..body.find("```").expect("closing fence")].to_string()
}

fn run(server: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("my-pause.toml");
    std::fs::write(&path, readme_scenario()).expect("write scenario");
    Command::new(env!("CARGO_BIN_EXE_contend"))
        .arg("run")
        .arg(&path)
        .args(["-a", "fenced", "--server", server, "--out"])
        .arg(dir.path().join("reports"))
        .output()
        .expect("run contend")
}

#[test]
fn the_readme_scenario_runs_as_written_on_real_redis() {
    let out = run("local");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("AS EXPECTED"), "{text}");
}

#[test]
fn the_readme_scenario_runs_as_written_in_simulation() {
    let out = run("sim");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
}
