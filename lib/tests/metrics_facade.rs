//! The `metrics` feature: what the lock emits through the `metrics` facade, caught by
//! `metrics-util`'s debugging recorder, and the names the docs list.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use redis::AsyncCommands;
use redmutex::testing::RedisServer;
use redmutex::{Algorithm, Error, Lock};

/// Everything emitted so far: counters summed, histogram values in order. Keys are
/// `name{label=value,...}`, labels sorted.
#[derive(Debug, Default)]
struct Seen {
    counters: BTreeMap<String, u64>,
    histograms: BTreeMap<String, Vec<f64>>,
}

impl Seen {
    /// Adds what was emitted since the last snapshot (the recorder's snapshots drain it).
    fn take(&mut self, snapshotter: &Snapshotter) -> &Seen {
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<String> =
                key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            match value {
                DebugValue::Counter(n) => *self.counters.entry(name).or_default() += n,
                DebugValue::Histogram(values) => self
                    .histograms
                    .entry(name)
                    .or_default()
                    .extend(values.into_iter().map(|v| v.into_inner())),
                DebugValue::Gauge(_) => panic!("no gauges are documented: {name}"),
            }
        }
        self
    }

    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// Every metric name seen, without labels.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = (self.counters.keys().chain(self.histograms.keys()))
            .map(|k| k.split('{').next().unwrap_or_default().to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Runs `body` on a runtime of its own with a fresh debugging recorder as this thread's
/// recorder; `body` gets the snapshotter.
fn recorded<F: Future>(body: impl FnOnce(Snapshotter) -> F) -> F::Output {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(body(snapshotter))
    })
}

async fn lock(server: &RedisServer, name: &str, algorithm: Algorithm) -> Lock {
    support::builder(name, algorithm).connect(&server.url()).await.unwrap()
}

/// Polls the recorder until `done` holds (a background release reports when it is answered).
async fn until(seen: &mut Seen, snapshotter: &Snapshotter, done: impl Fn(&Seen) -> bool) {
    for _ in 0..500 {
        if done(seen.take(snapshotter)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never emitted: {seen:#?}");
}

/// One acquire and one release: exactly these metrics, with the guard's and the release's own
/// figures as values.
#[test]
fn one_acquire_and_release_emit_their_figures() {
    let server = support::server();
    for algorithm in Algorithm::ALL {
        let server = &server;
        recorded(|snapshotter| async move {
            let lock = lock(server, "figures", algorithm).await;
            let guard = lock.acquire().await.unwrap();
            let waited = guard.waited();
            tokio::time::sleep(Duration::from_millis(20)).await; // the work
            let released = guard.release().await.unwrap();
            let mut seen = Seen::default();
            seen.take(&snapshotter);

            let a = algorithm.name();
            let counters = BTreeMap::from([
                (format!("redmutex_acquires_total{{algorithm={a},outcome=acquired}}"), 1),
                (format!("redmutex_releases_total{{algorithm={a},owned=true}}"), 1),
            ]);
            assert_eq!(seen.counters, counters, "{algorithm}");
            let margin = released.margin.expect("released within the lease");
            let histograms = BTreeMap::from([
                (
                    format!("redmutex_acquire_wait_seconds{{algorithm={a}}}"),
                    vec![waited.as_secs_f64()],
                ),
                (
                    format!("redmutex_hold_seconds{{algorithm={a}}}"),
                    vec![released.held.as_secs_f64()],
                ),
                (
                    format!("redmutex_release_margin_seconds{{algorithm={a}}}"),
                    vec![margin.as_secs_f64()],
                ),
            ]);
            assert_eq!(seen.histograms, histograms, "{algorithm}");
        });
    }
}

/// Busy, timed out, failed; a lease that expired, one that was found gone; a release that
/// could not be confirmed, an extend too; a dropped guard's release. Then every name the docs
/// list has been seen, and none that they do not list.
#[test]
fn every_outcome_is_counted_and_the_docs_list_every_name() {
    let server = support::server();
    let server = &server;
    let names = recorded(|snapshotter| async move {
        let mut seen = Seen::default();
        let mut raw = support::raw(server).await;
        let token = lock(server, "outcomes", Algorithm::Token).await;

        let held = token.acquire().await.unwrap();
        assert!(token.try_acquire().await.unwrap().is_none());
        let impatient = support::builder("outcomes", Algorithm::Token)
            .wait_timeout(Duration::from_millis(50))
            .on(token.connection().clone())
            .unwrap();
        assert!(matches!(impatient.acquire().await, Err(Error::Timeout(_))));
        held.release().await.unwrap();
        let notify = lock(server, "wrongtype", Algorithm::Notify).await;
        let _: i64 = raw.rpush(&notify.keys().lock, "x").await.unwrap();
        assert!(matches!(notify.acquire().await, Err(Error::Server { .. })));
        seen.take(&snapshotter);
        for (outcome, n) in [("acquired", 1), ("busy", 1), ("timeout", 1)] {
            let key = format!("redmutex_acquires_total{{algorithm=token,outcome={outcome}}}");
            assert_eq!(seen.counter(&key), n, "{key}: {seen:#?}");
        }
        let key = "redmutex_acquires_total{algorithm=notify,outcome=error}";
        assert_eq!(seen.counter(key), 1, "{seen:#?}");

        // A lease that ran out (ttl 1 s), released once Redis has expired the key.
        let short = support::builder("expired", Algorithm::Token)
            .ttl(Duration::from_secs(1))
            .on(token.connection().clone())
            .unwrap();
        let guard = short.acquire().await.unwrap();
        guard.lost().await;
        while raw.exists::<_, bool>(&short.keys().lock).await.unwrap() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!guard.release().await.unwrap().owned);
        // A lock another program deleted, which an extend finds gone.
        let guard = token.acquire().await.unwrap();
        let () = raw.del(&token.keys().lock).await.unwrap();
        assert!(matches!(guard.extend().await, Err(Error::Lost(_))));
        assert!(!guard.release().await.unwrap().owned);
        seen.take(&snapshotter);
        for reason in ["expired", "gone"] {
            let key = format!("redmutex_leases_lost_total{{algorithm=token,reason={reason}}}");
            assert_eq!(seen.counter(&key), 1, "{key}: {seen:#?}");
        }
        assert_eq!(seen.counter("redmutex_releases_total{algorithm=token,owned=false}"), 2);

        // Every reply lost: an extend, then a release, end unconfirmed.
        let guard = token.acquire().await.unwrap();
        token.connection().lose_replies(100);
        assert!(matches!(guard.extend().await, Err(Error::Unconfirmed { op: "extend", .. })));
        assert!(matches!(guard.release().await, Err(Error::Unconfirmed { op: "release", .. })));
        token.connection().lose_replies(0);
        seen.take(&snapshotter);
        for op in ["extend", "release"] {
            let key = format!("redmutex_unconfirmed_total{{algorithm=token,op={op}}}");
            assert_eq!(seen.counter(&key), 1, "{key}: {seen:#?}");
        }

        // A dropped guard's release reports from the background, when it is answered; with
        // every reply lost, it reports an unconfirmed release instead.
        let releases = |s: &Seen| s.counter("redmutex_releases_total{algorithm=token,owned=true}");
        let before = releases(&seen);
        drop(token.acquire().await.unwrap());
        until(&mut seen, &snapshotter, |s| releases(s) == before + 1).await;
        let unconfirmed = "redmutex_unconfirmed_total{algorithm=token,op=release}";
        let guard = token.acquire().await.unwrap();
        token.connection().lose_replies(100);
        drop(guard);
        until(&mut seen, &snapshotter, |s| s.counter(unconfirmed) == 2).await;
        token.connection().lose_replies(0);
        seen.names()
    });
    let documented = |text: &str, heading: &str| -> Vec<String> {
        let start = text.find(heading).unwrap_or_else(|| panic!("no '{heading}' section"));
        let section = &text[start + heading.len()..];
        let section = &section[..section.find("\n#").unwrap_or(section.len())];
        let mut names: Vec<String> = section
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("redmutex_"))
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let readme = include_str!("../../README.md");
    assert_eq!(documented(readme, "### Metrics"), names, "README.md's metrics section");
    let crate_docs = include_str!("../src/lib.rs").replace("\n//! ", "\n").replace("\n//!", "\n");
    assert_eq!(documented(&crate_docs, "## Metrics"), names, "the crate docs' metrics section");
}
