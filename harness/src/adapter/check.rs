//! `contend adapter check MANIFEST`: a conformance run of an adapter against a `redis-server`
//! of its own. Each step says what passed, or what did not and how to fix it.

use std::path::Path;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redmutex::testing::RedisServer;

use super::child::{Adapter, AdapterFailed, Group};
use super::manifest::Manifest;
use super::proto::{Acquired, Owned};

/// The key prefix of a check run.
const PREFIX: &str = "contend-check:";

/// Runs the conformance check of the adapter at `path`, printing each step; true when every
/// step passed. An error is a setup problem of the check itself (no manifest, no server).
pub async fn check(path: &Path) -> anyhow::Result<bool> {
    let manifest = Manifest::load(path)?;
    let server = RedisServer::start()
        .map_err(|e| anyhow::anyhow!("cannot start a redis-server for the check: {e}"))?;
    let url = server.url();
    let raw = crate::servers::connect(&url).await?;
    println!("checking adapter `{}` ({}) against {url}", manifest.name, manifest.path.display());
    let mut c = Check { m: manifest, url, raw, failed: 0 };
    let result = c.steps().await;
    if let Err(AdapterFailed(e)) = result {
        c.fail(
            "protocol",
            &e,
            "the adapter must answer each request with one JSON line on stdout, \
            carrying the request's id, within the call timeout; logs go to stderr",
        );
        println!("  (the remaining steps were not run)");
    }
    println!(
        "{}",
        if c.failed == 0 {
            "adapter check: PASSED".to_string()
        } else {
            format!("adapter check: FAILED ({} step(s))", c.failed)
        }
    );
    drop(server);
    Ok(c.failed == 0)
}

struct Check {
    m: Manifest,
    url: String,
    raw: MultiplexedConnection,
    failed: u32,
}

impl Check {
    fn pass(&self, step: &str, detail: &str) {
        println!("  PASS {step}: {detail}");
    }

    fn fail(&mut self, step: &str, detail: &str, fix: &str) {
        self.failed += 1;
        println!("  FAIL {step}: {detail}\n       fix: {fix}");
    }

    async fn start(&mut self) -> Result<Adapter, AdapterFailed> {
        Adapter::start(&self.m, &self.url, PREFIX, 30_000, Group::Own, None).await
    }

    async fn exists(&mut self, key: &str) -> bool {
        redis::cmd("EXISTS").arg(key).query_async::<i64>(&mut self.raw).await.unwrap_or(0) > 0
    }

    /// How many keys hold `key` in their name (a library may add a prefix of its own).
    async fn keys_naming(&mut self, key: &str) -> usize {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("*{}*", glob_escape(key)))
            .query_async(&mut self.raw)
            .await
            .unwrap_or_default();
        keys.len()
    }

    async fn steps(&mut self) -> Result<(), AdapterFailed> {
        let mut a = self.start().await?;
        let h = a.hello.clone();
        self.pass(
            "handshake",
            &format!(
                "protocol 1, `{}` version `{}`; fencing {}, extend {}, try-acquire {}",
                h.name,
                h.version,
                yes(h.supports.fencing),
                yes(h.supports.extend),
                yes(h.supports.try_acquire)
            ),
        );
        let key = format!("{PREFIX}{{lock}}");
        let Some(token) = self.acquire_free(&mut a, &key, 5000).await? else { return Ok(()) };
        let at_key = self.exists(&key).await;
        if self.keys_naming(&key).await == 0 {
            self.fail(
                "acquire",
                &format!("acquired, but no key with `{key}` in its name exists on the server"),
                "use the server from `redis_url` (or CONTEND_REDIS_URL) and the `key` of the request",
            );
        } else {
            self.pass("acquire", "acquired a free lock; its key is on the server");
        }
        let mut b = self.start().await?;
        self.wait_times_out(&mut b, &key).await?;
        if h.supports.try_acquire {
            let t = Instant::now();
            match b.acquire(&key, 5000, 0).await? {
                Acquired::TimedOut if t.elapsed() < Duration::from_secs(1) => {
                    self.pass("try-acquire", "wait_ms 0 on a held lock answered timeout at once");
                }
                other => self.fail(
                    "try-acquire",
                    &format!("wait_ms 0 on a held lock answered {other:?} after {:?}", t.elapsed()),
                    "with wait_ms 0, try once and answer `timeout` at once (or say try_acquire = false)",
                ),
            }
        }
        match a.release(&key, &token).await? {
            Owned::Yes if at_key && self.exists(&key).await => self.fail(
                "release",
                "answered released, but the lock's key is still there",
                "delete the lock on release",
            ),
            Owned::Yes => self.pass("release", "released, and the lock was still ours"),
            other => self.fail(
                "release",
                &format!("releasing a lock we hold answered {other:?}"),
                "answer {\"result\": \"released\"} when the lock was ours and is now gone",
            ),
        }
        if let Some(t) = self.acquire_free(&mut b, &key, 5000).await? {
            self.pass("acquire after release", "another client took the released lock");
            b.release(&key, &t).await?;
        }
        self.stale_release(&mut a, &mut b).await?;
        if h.supports.extend {
            self.extend(&mut a, &mut b).await?;
        } else {
            println!("  skip extend: the adapter says it cannot extend");
        }
        for (name, adapter) in [("first", a), ("second", b)] {
            match adapter.shutdown().await {
                Ok(()) => self.pass("shutdown", &format!("the {name} adapter said bye and exited")),
                Err(AdapterFailed(e)) => self.fail(
                    "shutdown",
                    &e,
                    "answer {\"result\": \"bye\"} to shutdown, then exit with status 0",
                ),
            }
        }
        Ok(())
    }

    /// Acquires a lock that must be free; a failure is reported and answers `None`.
    async fn acquire_free(
        &mut self,
        a: &mut Adapter,
        key: &str,
        ttl_ms: u64,
    ) -> Result<Option<String>, AdapterFailed> {
        match a.acquire(key, ttl_ms, 2000).await? {
            Acquired::Acquired { token, .. } => Ok(Some(token)),
            other => {
                self.fail(
                    "acquire",
                    &format!("acquiring a free lock answered {other:?}"),
                    "answer {\"result\": \"acquired\", \"token\": \"...\"} when the lock is taken",
                );
                Ok(None)
            }
        }
    }

    async fn wait_times_out(&mut self, b: &mut Adapter, key: &str) -> Result<(), AdapterFailed> {
        let t = Instant::now();
        let answer = b.acquire(key, 5000, 800).await?;
        let took = t.elapsed();
        match answer {
            // A poller may give up one poll interval early (redis-py does, by up to 100 ms).
            Acquired::TimedOut if took >= Duration::from_millis(600) => self.pass(
                "wait times out",
                &format!(
                    "a held lock with wait_ms 800 answered timeout after {} ms",
                    took.as_millis()
                ),
            ),
            Acquired::TimedOut => self.fail(
                "wait times out",
                &format!("answered timeout after {} ms of an 800 ms wait", took.as_millis()),
                "keep trying for the whole wait_ms before answering timeout",
            ),
            other => self.fail(
                "wait times out",
                &format!("acquiring a lock held by another client answered {other:?}"),
                "answer acquired only when the lock is ours; timeout when the wait ends",
            ),
        }
        Ok(())
    }

    /// A releases after its ttl ran out and B took the lock: A must not remove B's lock.
    async fn stale_release(
        &mut self,
        a: &mut Adapter,
        b: &mut Adapter,
    ) -> Result<(), AdapterFailed> {
        let key = format!("{PREFIX}{{stale}}");
        let Some(old) = self.acquire_free(a, &key, 1000).await? else { return Ok(()) };
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let Some(new) = self.acquire_free(b, &key, 10_000).await? else {
            self.fail(
                "stale release",
                "the lock was not free after its ttl",
                "set the lease to ttl_ms",
            );
            return Ok(());
        };
        let said = a.release(&key, &old).await?;
        let still = b.release(&key, &new).await?;
        match (said, still) {
            (_, Owned::No) => self.fail(
                "stale release",
                "releasing an expired lock removed the lock another client holds now",
                "release only when the lock still holds our token (compare and delete in one \
                 Lua script)",
            ),
            (Owned::Yes, _) => self.fail(
                "stale release",
                "releasing an expired lock that another client now holds answered released",
                "answer not_owned when the lock was no longer ours (or unknown if the library \
                 cannot tell)",
            ),
            (Owned::No, _) => {
                self.pass("stale release", "answered not_owned and left the new holder's lock");
            }
            (Owned::Unknown, _) => self.pass(
                "stale release",
                "answered unknown (the library cannot tell) and left the new holder's lock",
            ),
            (Owned::Error(e), _) => self.fail(
                "stale release",
                &format!("answered error: {e}"),
                "a release of a lock that is no longer ours is not an error: answer not_owned",
            ),
        }
        Ok(())
    }

    async fn extend(&mut self, a: &mut Adapter, b: &mut Adapter) -> Result<(), AdapterFailed> {
        let key = format!("{PREFIX}{{extend}}");
        let Some(t) = self.acquire_free(a, &key, 1000).await? else { return Ok(()) };
        let said = a.extend(&key, &t, 5000).await?;
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let other = b.acquire(&key, 1000, 0).await?;
        match (said, other) {
            (Owned::Yes, Acquired::TimedOut) => {
                self.pass("extend", "extended, and the lock outlived its first ttl");
            }
            (said, other) => self.fail(
                "extend",
                &format!("extend answered {said:?}; another acquire after the first ttl answered {other:?}"),
                "extend sets the lease to ttl_ms from now when the lock is still ours",
            ),
        }
        a.release(&key, &t).await?;
        let Some(old) = self.acquire_free(a, &key, 1000).await? else { return Ok(()) };
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let Some(new) = self.acquire_free(b, &key, 10_000).await? else { return Ok(()) };
        match a.extend(&key, &old, 5000).await? {
            Owned::No => self.pass("extend a lost lock", "answered not_owned"),
            other => self.fail(
                "extend a lost lock",
                &format!("extending a lock another client now holds answered {other:?}"),
                "extend only when the lock still holds our token; else answer not_owned",
            ),
        }
        b.release(&key, &new).await?;
        Ok(())
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `key` with the glob characters of `KEYS` escaped.
fn glob_escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
