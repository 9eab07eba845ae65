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

/// Every file a `contend run` and a `contend gate` write, and everything they print, with an
/// ACL user's URL for a server that requires it: the password is nowhere. The scenario kills
/// a holder, so worker deaths and their stderr are in it too.
#[test]
fn an_acl_password_shows_in_no_file_and_no_output() {
    const PASSWORD: &str = "Run-s3cr3t-9f1c";
    support::need_redis();
    let server = redmutex::testing::RedisServer::start().expect("redis-server");
    let mut admin =
        redis::Client::open(server.url()).and_then(|c| c.get_connection()).expect("connect");
    for args in [
        vec!["SETUSER", "runner", "on", &format!(">{PASSWORD}"), "~*", "&*", "+@all"],
        vec!["SETUSER", "default", "off"],
    ] {
        let () = redis::cmd("ACL").arg(&args).query(&mut admin).expect("ACL SETUSER");
    }
    let url = format!("redis://runner:{PASSWORD}@127.0.0.1:{}", server.port());
    let dir = tempfile::tempdir().expect("tempdir");
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).expect("scenario folder");
    let path = support::scenario(
        &scenarios,
        "crash",
        "workers = 2\niterations = 4\n[lock]\nttl_ms = 1000\nwait_ms = 5000\n\
         [section]\nhold = { distribution = \"fixed\", ms = 50 }\n\
         [[faults]]\nkind = \"kill-holder\"\nstart_ms = 100\ncount = 1\nafter_acquire_ms = 10\n\
         [expect.token]\nmutual-exclusion = \"valid\"\nlost-updates = \"valid\"\nownership = \"valid\"\n",
    );
    let run = support::contend()
        .arg("run")
        .arg(&path)
        .args(["-a", "token", "--server", &url, "--out"])
        .arg(dir.path().join("reports"))
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(0), "{}", support::text(&run));
    let gate = support::contend()
        .arg("gate")
        .arg(&scenarios)
        .args(["--server", &url, "--junit"])
        .arg(dir.path().join("gate.xml"))
        .arg("--breaks")
        .arg(dir.path().join("breaks.md"))
        .arg("--out")
        .arg(dir.path().join("gate-reports"))
        .output()
        .expect("gate");
    assert_eq!(gate.status.code(), Some(0), "{}", support::text(&gate));
    let wrong = url.replace(PASSWORD, &format!("{PASSWORD}-old"));
    let refused = support::contend()
        .arg("run")
        .arg(&path)
        .args(["-a", "token", "--server", &wrong, "--out"])
        .arg(dir.path().join("refused"))
        .output()
        .expect("run");
    assert_eq!(refused.status.code(), Some(2), "{}", support::text(&refused));

    for out in [&run, &gate, &refused] {
        let text = support::text(out);
        assert!(!text.contains(PASSWORD), "the output shows the password:\n{text}");
    }
    let results = std::fs::read_to_string(dir.path().join("reports/latest/results.json"));
    let results = results.expect("results.json");
    assert!(results.contains("redis://runner:***@127.0.0.1"), "the redacted URL: {results}");
    // Every file under the folder, however deep.
    let mut files = Vec::new();
    let mut folders = vec![dir.path().to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read folder") {
            let path = entry.expect("entry").path();
            let kind = std::fs::symlink_metadata(&path).expect("metadata").file_type();
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_file() {
                files.push(path);
            }
        }
    }
    for file in &files {
        let text = String::from_utf8_lossy(&std::fs::read(file).expect("read")).into_owned();
        assert!(!text.contains(PASSWORD), "{} shows the password", file.display());
    }
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for wanted in ["results.json", "history.jsonl", "report.md", "timeline.html", "gate.xml"] {
        let n = names.iter().filter(|n| *n == wanted).count();
        assert!(n >= 1, "no {wanted} among the files searched: {names:?}");
    }
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

/// Faults that need the harness's own server, or its fault proxy in front of it, are refused
/// on someone else's server before anything runs, naming the fault.
#[test]
fn server_and_network_faults_are_refused_on_a_url_server() {
    support::need_redis();
    let server = redmutex::testing::RedisServer::start().expect("redis-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    for (file, kind) in [
        ("lost-release-reply.toml", "command"),
        ("partition-holder.toml", "partition-holder"),
        ("slow-server.toml", "slow-server"),
        ("restart-none.toml", "restart-server"),
        ("failover.toml", "failover"),
    ] {
        let out = support::contend()
            .arg("run")
            .arg(shipped.join(file))
            .args(["-a", "token", "--server", &server.url(), "--out"])
            .arg(dir.path().join("reports"))
            .output()
            .expect("run");
        let text = support::text(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {text}");
        assert!(text.contains(&format!("fault `{kind}` needs a lock server")), "{file}: {text}");
    }
}
