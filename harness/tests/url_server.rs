//! `--server redis://…`: an existing server is used under the run's own prefix only; its other
//! keys are untouched and the run's keys are gone afterwards.

mod support;

use redis::AsyncCommands;

#[tokio::test]
async fn a_url_run_touches_only_its_prefix_and_cleans_up() {
    support::need_redis();
    let server = redmutex::testing::RedisServer::start().expect("redis-server");
    let mut conn = redis::Client::open(server.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: () = conn.set("someone:else", "keep me").await.expect("set");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = support::scenario(
        dir.path(),
        "url",
        "workers = 2\niterations = 5\n[lock]\nttl_ms = 2000\n[expect.fenced]\nmutual-exclusion = \"valid\"\nlost-updates = \"valid\"\nfencing = \"valid\"\n",
    );
    let out = support::contend()
        .arg("run")
        .arg(&path)
        .args(["-a", "fenced", "--server", &server.url(), "--out"])
        .arg(dir.path().join("reports"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
    let keys: Vec<String> = conn.keys("*").await.expect("keys");
    assert_eq!(keys, vec!["someone:else".to_string()], "left behind: {keys:?}");
    let kept: String = conn.get("someone:else").await.expect("get");
    assert_eq!(kept, "keep me");
}

#[test]
fn a_password_in_the_url_is_used_but_never_shown() {
    support::need_redis();
    let server = redmutex::testing::RedisServer::start().expect("redis-server");
    let mut admin =
        redis::Client::open(server.url()).and_then(|c| c.get_connection()).expect("connect");
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("s3cret")
        .query(&mut admin)
        .expect("CONFIG SET requirepass");
    let port = server.port();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = support::scenario(dir.path(), "auth", "workers = 2\niterations = 3\n");
    let run = |url: &str| {
        support::contend()
            .arg("run")
            .arg(&path)
            .args(["--server", url, "--out"])
            .arg(dir.path().join("reports"))
            .output()
            .expect("run")
    };
    let out = run(&format!("redis://:s3cret@127.0.0.1:{port}"));
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
    // The same URL from the environment, which keeps it off the coordinator's command line.
    let from_env = support::contend()
        .arg("run")
        .arg(&path)
        .env("CONTEND_SERVER", format!("redis://:s3cret@127.0.0.1:{port}"))
        .arg("--out")
        .arg(dir.path().join("env-reports"))
        .output()
        .expect("run");
    assert_eq!(from_env.status.code(), Some(0), "{}", support::text(&from_env));
    let env_results = std::fs::read_to_string(dir.path().join("env-reports/latest/results.json"))
        .expect("results");
    assert!(env_results.contains(&format!("redis://:***@127.0.0.1:{port}")), "{env_results}");
    assert!(!support::text(&from_env).contains("s3cret"), "{}", support::text(&from_env));
    assert!(!env_results.contains("s3cret"), "{env_results}");
    assert!(!support::text(&out).contains("s3cret"), "{}", support::text(&out));
    let latest = dir.path().join("reports/latest");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(
        results["server"],
        format!("redis://:***@127.0.0.1:{port} (the witness on the same server)")
    );
    for file in std::fs::read_dir(&latest).expect("report folder") {
        let file = file.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(!text.contains("s3cret"), "{} shows the password", file.display());
    }

    let out = run(&format!("redis://:wrong-one@127.0.0.1:{port}"));
    let text = support::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("check the user name and password"), "{text}");
    assert!(!text.contains("wrong-one"), "{text}");
}

#[tokio::test]
async fn a_witness_of_its_own_keeps_the_counter_off_the_lock_server() {
    if !redmutex::testing::available() {
        eprintln!("skipped: no redis-server");
        return;
    }
    let lock = redmutex::testing::RedisServer::start().expect("redis-server");
    let witness = redmutex::testing::RedisServer::start().expect("redis-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = support::scenario(dir.path(), "w", "workers = 2\niterations = 5\n");
    let out = support::contend()
        .arg("run")
        .arg(&path)
        .args(["-a", "token", "--server", &lock.url(), "--witness", &witness.url(), "--out"])
        .arg(dir.path().join("reports"))
        .output()
        .expect("run");
    let text = support::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let results = std::fs::read_to_string(dir.path().join("reports/latest/results.json")).unwrap();
    assert!(results.contains(&format!("witness {}", witness.url())), "{results}");
    // The lock server saw lock commands only; the witness saw the sections' commands.
    let calls = |url: String| async move {
        let mut c =
            redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let info: String =
            redis::cmd("INFO").arg("commandstats").query_async(&mut c).await.unwrap();
        info
    };
    let on_lock = calls(lock.url()).await;
    let on_witness = calls(witness.url()).await;
    assert!(
        !on_lock.contains("cmdstat_sadd:"),
        "the witness set was on the lock server:\n{on_lock}"
    );
    assert!(on_witness.contains("cmdstat_sadd:"), "{on_witness}");

    let out = support::contend()
        .arg("run")
        .arg(&path)
        .args(["--witness", &witness.url(), "--out"])
        .arg(dir.path().join("reports"))
        .output()
        .expect("run");
    let text = support::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("--witness goes with a redis:// lock server"), "{text}");
}
