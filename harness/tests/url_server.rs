//! `--server redis://…`: an existing server is used under the run's own prefix only; its other
//! keys are untouched and the run's keys are gone afterwards.

mod support;

use redis::AsyncCommands;

#[tokio::test]
async fn a_url_run_touches_only_its_prefix_and_cleans_up() {
    if !redmutex::testing::available() {
        eprintln!("skipped: no redis-server");
        return;
    }
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
