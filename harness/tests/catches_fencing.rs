//! The fencing checker: real algorithms on real Redis, one caught, one passed (its hand-made histories are in harness/check/tests/check_fencing.rs).

mod support;

use std::time::Duration;

use contend::check::{Timeline, Verdict, fencing};
use contend::clock::monotonic_ns;
use contend::history::{Event, Kind, Op};
use redmutex::algo::{AcquireParams, Algorithm, Backoff, ExtendParams, Protocol, ReleaseParams};
use redmutex::driver::{NoHooks, Timeouts};
use redmutex::proto::{Action, Event as MachineEvent, Keys, Machine, Outcome, Token};
use support::ctx;

/// A deliberately broken fenced lock: every acquisition claims fence 1.
struct ConstantFence;

struct Constant(Box<dyn Machine>);

impl Machine for Constant {
    fn handle(&mut self, now: Duration, event: MachineEvent) -> Action {
        match self.0.handle(now, event) {
            Action::Done(Outcome::Acquired(mut grant)) => {
                grant.fence = Some(1);
                Action::Done(Outcome::Acquired(grant))
            }
            other => other,
        }
    }
}

impl Protocol for ConstantFence {
    fn name(&self) -> &'static str {
        "constant-fence"
    }
    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine> {
        Box::new(Constant(Algorithm::Fenced.protocol().acquire(params)))
    }
    fn release(&self, params: ReleaseParams) -> Box<dyn Machine> {
        Algorithm::Fenced.protocol().release(params)
    }
    fn extend(&self, _: ExtendParams) -> Option<Box<dyn Machine>> {
        None
    }
    fn fenced(&self) -> bool {
        true
    }
}

/// Two workers take the lock one after the other (the first never releases; its lease runs
/// out) and the acquisitions go into a history as the harness records them.
async fn two_acquisitions(protocol: &dyn Protocol, url: &str) -> Vec<Event> {
    let conn = redmutex::Connection::open(url, Timeouts::default()).await.expect("connect");
    let mut history = Vec::new();
    for worker in 1..=2 {
        let params = AcquireParams {
            keys: Keys::new("test:", "fence"),
            token: Token::random().expect("token"),
            ttl: Duration::from_millis(1000),
            wait: Some(Duration::from_secs(5)),
            drift: Duration::from_millis(12),
            seed: u64::from(worker),
            backoff: Backoff::default(),
        };
        let mut machine = protocol.acquire(params);
        history.push(Event::new(monotonic_ns(), Kind::Invoke, Op::Acquire).by(worker, 0));
        let outcome = conn.run(&mut *machine, &mut NoHooks).await.expect("acquire");
        let Outcome::Acquired(grant) = outcome else { panic!("worker {worker}: {outcome:?}") };
        let mut ok = Event::new(monotonic_ns(), Kind::Ok, Op::Acquire).by(worker, 0);
        ok.fence = grant.fence;
        history.push(ok);
    }
    history
}

/// `unchecked-resource` is `fenced` with a resource that compares no fences: under
/// `fence-pause-holder` the paused holder's stale write is accepted, and the fencing checker
/// says so on real Redis; `fenced` passes the same scenario.
#[test]
fn catches_a_resource_that_compares_no_fences_and_passes_fenced() {
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/fence-pause-holder.toml");
    let (out, results) = support::run(dir.path(), &scenario, "unchecked-resource");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "fencing"), "invalid", "{}", support::text(&out));
    let findings = results["checkers"]["fencing"]["findings"].to_string();
    assert!(findings.contains("older-fence-accepted"), "{findings}");
    // The resource keeps no fence at all: the mark read at the end shows it too.
    assert!(findings.contains("fence-mark-behind"), "{findings}");
    let (out, results) = support::run(dir.path(), &scenario, "fenced");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "fencing"), "valid", "{}", support::text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
}

#[tokio::test]
async fn catches_a_repeated_fence_on_real_redis_and_passes_fenced() {
    support::need_redis();
    let server = redmutex::testing::RedisServer::start().expect("redis-server");
    let broken = two_acquisitions(&ConstantFence, &server.url()).await;
    let r = fencing(&Timeline::new(&broken), &ctx(true));
    assert_eq!(r.verdict, Verdict::Invalid, "{r:?}");
    let reference = two_acquisitions(Algorithm::Fenced.protocol(), &server.url()).await;
    assert_eq!(fencing(&Timeline::new(&reference), &ctx(true)).verdict, Verdict::Valid);
}

/// `clock-fence` takes its fence from the client's wall clock: under `fence-clock-skew` the
/// skewed worker's fences come from the future and the fencing checker says so on real Redis;
/// `fenced` (a server-side counter) passes the same scenario.
#[test]
fn catches_a_fence_read_from_a_skewed_client_clock_and_passes_fenced() {
    support::need_redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/fence-clock-skew.toml");
    let (out, results) = support::run(dir.path(), &scenario, "clock-fence");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "fencing"), "invalid", "{}", support::text(&out));
    let findings = results["checkers"]["fencing"]["findings"].to_string();
    assert!(findings.contains("fence-not-increasing"), "{findings}");
    let (out, results) = support::run(dir.path(), &scenario, "fenced");
    let results = results.unwrap_or_else(|| panic!("no results: {}", support::text(&out)));
    assert_eq!(support::verdict(&results, "fencing"), "valid", "{}", support::text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
}
