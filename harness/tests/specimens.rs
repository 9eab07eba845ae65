//! The specimens on a real `redis-server`, through `Connection::run`: each acquires, waits and
//! releases, and each known bug is reproduced deterministically. Faults come from the driver's
//! hooks (a step delay that holds a release before a step until the test lets it go; a skewed
//! client clock); every "meanwhile" is sequenced on a real outcome, never on a sleep.

mod support;

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use contend::specimens::{
    SPECIMENS, poll_get_del, setnx_getset_expiry, setnx_getset_unchecked, setnx_pubsub, token_poll,
};
use redmutex::algo::{AcquireParams, Backoff, ExtendParams, Protocol, ReleaseParams};
use redmutex::driver::{Connection, Hooks, NoHooks, Timeouts};
use redmutex::proto::{Action, Bytes, Command, Expiry, Grant, Keys, Outcome, Reply, Script, Token};
use redmutex::sim::{ClientId, Model, Step};
use redmutex::testing::RedisServer;
use tokio::sync::oneshot;

const SECOND: Duration = Duration::from_secs(1);

fn server() -> RedisServer {
    support::need_redis();
    RedisServer::start().expect("start redis-server")
}

/// One client of a lock: its own connection, as a separate process would have.
#[derive(Clone)]
struct Client {
    conn: Connection,
    protocol: Arc<dyn Protocol>,
    keys: Keys,
}

impl Client {
    async fn new(server: &RedisServer, protocol: Arc<dyn Protocol>, name: &str) -> Client {
        let conn = Connection::open(&server.url(), Timeouts::default()).await.expect("connect");
        Client { conn, protocol, keys: Keys::new("spec:", name) }
    }

    async fn acquire(
        &self,
        ttl: Duration,
        wait: Option<Duration>,
        hooks: &mut dyn Hooks,
    ) -> Outcome {
        let params = AcquireParams {
            keys: self.keys.clone(),
            token: Token::random().expect("randomness"),
            ttl,
            wait,
            drift: Duration::ZERO,
            seed: 1,
            backoff: Backoff::default(),
        };
        let mut machine = self.protocol.acquire(params);
        self.conn.run(machine.as_mut(), hooks).await.expect("acquire runs")
    }

    async fn release(&self, grant: Grant, ttl: Duration, hooks: &mut dyn Hooks) -> Outcome {
        let params = ReleaseParams {
            keys: self.keys.clone(),
            grant,
            ttl,
            fresh_token: Token::random().expect("randomness"),
        };
        let mut machine = self.protocol.release(params);
        self.conn.run(machine.as_mut(), hooks).await.expect("release runs")
    }

    /// What the lock key holds now.
    async fn held(&self) -> Option<Bytes> {
        match self.conn.exec(&Command::Get { key: self.keys.lock.clone() }).await.expect("GET") {
            Reply::Bulk(b) => Some(b),
            Reply::Nil => None,
            other => panic!("GET answered {other:?}"),
        }
    }

    /// Whether a grant of this client's is still within its lease.
    fn within(&self, grant: &Grant) -> bool {
        self.conn.now() < grant.valid_until
    }

    /// Runs a release on a thread of its own that `hooks` may block.
    fn release_in_background(
        &self,
        grant: Grant,
        ttl: Duration,
        mut hooks: PauseAt,
    ) -> tokio::task::JoinHandle<Outcome> {
        let (me, runtime) = (self.clone(), tokio::runtime::Handle::current());
        tokio::task::spawn_blocking(move || runtime.block_on(me.release(grant, ttl, &mut hooks)))
    }
}

fn granted(outcome: Outcome, who: &str) -> Grant {
    match outcome {
        Outcome::Acquired(grant) => grant,
        other => panic!("{who}: expected the lock, got {other:?}"),
    }
}

/// The step-delay fault, held open by the test: before step `step` the operation stops, reports
/// the action it is about to run, and waits until the test says go.
struct PauseAt {
    step: usize,
    reached: Option<oneshot::Sender<Action>>,
    resume: mpsc::Receiver<()>,
}

impl PauseAt {
    fn new(step: usize) -> (PauseAt, oneshot::Receiver<Action>, mpsc::Sender<()>) {
        let (reached, at) = oneshot::channel();
        let (go, resume) = mpsc::channel();
        (PauseAt { step, reached: Some(reached), resume }, at, go)
    }
}

impl Hooks for PauseAt {
    fn before(&mut self, step: usize, action: &Action) -> Option<Duration> {
        if step == self.step
            && let Some(reached) = self.reached.take()
        {
            let _ = reached.send(action.clone());
            // Bounded, so that a failing test cannot hang the run.
            let _ = self.resume.recv_timeout(Duration::from_secs(30));
        }
        None
    }
}

/// Reports the first time the operation sleeps or waits: it found the lock busy.
struct OnIdle(Option<oneshot::Sender<()>>);

impl Hooks for OnIdle {
    fn before(&mut self, _step: usize, action: &Action) -> Option<Duration> {
        if matches!(action, Action::Sleep(_) | Action::Wait { .. })
            && let Some(idle) = self.0.take()
        {
            let _ = idle.send(());
        }
        None
    }
}

/// A client whose wall clock reads `0` ms ahead.
struct Skew(i64);

impl Hooks for Skew {
    fn clock_offset_ms(&self) -> i64 {
        self.0
    }
}

/// Returns once someone listens on `channel`: a message published before a waiter's
/// SUBSCRIBE is lost (a weakness of `setnx-pubsub`), so tests that mean to wake it wait for this.
async fn until_subscribed(server: &RedisServer, channel: &[u8]) {
    let started = Instant::now();
    let client = redis::Client::open(server.url()).expect("url");
    let mut raw = client.get_multiplexed_async_connection().await.expect("connect");
    loop {
        let counts: Vec<(Vec<u8>, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query_async(&mut raw)
            .await
            .expect("PUBSUB NUMSUB");
        if counts.first().is_some_and(|(_, n)| *n > 0) {
            return;
        }
        assert!(started.elapsed() < 5 * SECOND, "nobody subscribed to the channel");
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_specimen_acquires_waits_and_releases() {
    let server = server();
    let ttl = 5 * SECOND;
    for specimen in &SPECIMENS {
        let name = specimen.name;
        // Its waiter blocks in BLPOP (no sleep or wait for the hook to see) and is handed the
        // lock: its lock side is `fair`'s (lib/tests/lock_fair.rs), its bug is caught in
        // `fair-order`.
        if name == contend::specimens::fair_lifo::NAME {
            continue;
        }
        // A quorum specimen runs over several servers; a connection to one refuses its
        // machines (tests/redlock_specimens.rs runs them over three).
        if specimen.over.is_some() {
            continue;
        }
        let protocol: Arc<dyn Protocol> = Arc::from(specimen.scaled(0.2));
        let a = Client::new(&server, protocol.clone(), name).await;
        let b = Client::new(&server, protocol, name).await;
        let first = granted(a.acquire(ttl, None, &mut NoHooks).await, name);
        assert_eq!(a.held().await.as_ref(), Some(&first.token), "{name}: the key holds A's value");
        assert_eq!(b.acquire(ttl, None, &mut NoHooks).await, Outcome::Busy, "{name}");

        let (idle, busy) = oneshot::channel();
        let waiter = {
            let b = b.clone();
            tokio::spawn(
                async move { b.acquire(ttl, Some(10 * SECOND), &mut OnIdle(Some(idle))).await },
            )
        };
        busy.await.expect("the waiter finds the lock busy");
        if name == setnx_pubsub::NAME {
            until_subscribed(&server, &a.keys.channel).await;
        }
        let released = a.release(first, ttl, &mut NoHooks).await;
        assert_eq!(released, Outcome::Released { owned: true, handed: None }, "{name}");
        let second = granted(waiter.await.expect("the waiter ends"), name);
        assert_eq!(b.held().await.as_ref(), Some(&second.token), "{name}: now B's value");
        let released = b.release(second, ttl, &mut NoHooks).await;
        assert_eq!(released, Outcome::Released { owned: true, handed: None }, "{name}");
        assert_eq!(b.held().await, None, "{name}: free after release");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_get_del_release_delayed_before_its_del_deletes_the_next_holders_lock() {
    let server = server();
    let protocol: Arc<dyn Protocol> =
        Arc::new(poll_get_del::PollGetDel::new(poll_get_del::Params {
            delay: Duration::from_millis(50),
        }));
    let name = "get-del";
    let a = Client::new(&server, protocol.clone(), name).await;
    let b = Client::new(&server, protocol.clone(), name).await;
    let c = Client::new(&server, protocol, name).await;

    let first = granted(a.acquire(SECOND, None, &mut NoHooks).await, "A");
    // Release step 0 is the GET; hold A before step 1, the DEL.
    let (pause, at, go) = PauseAt::new(1);
    let release = a.release_in_background(first, SECOND, pause);
    let paused_before = at.await.expect("A reaches the DEL");
    assert_eq!(paused_before, Action::Send(Command::Del { keys: vec![a.keys.lock.clone()] }));

    // Meanwhile A's lease runs out and B takes the lock for 10 s.
    let second = granted(b.acquire(10 * SECOND, Some(5 * SECOND), &mut NoHooks).await, "B");
    go.send(()).expect("A is waiting");
    assert_eq!(
        release.await.expect("A's release ends"),
        Outcome::Released { owned: true, handed: None }
    );

    // A's DEL removed B's lock while B's lease runs, and C gets in beside B.
    assert!(b.within(&second), "B's lease is still valid");
    assert_eq!(c.held().await, None, "B's key was deleted by A");
    let _third = granted(c.acquire(10 * SECOND, None, &mut NoHooks).await, "C");
    assert!(b.within(&second), "two holders at once: B and C");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setnx_getset_unchecked_release_after_expiry_deletes_the_next_holders_lock() {
    let server = server();
    let params = setnx_getset_unchecked::Params {
        sleep: Duration::from_millis(50),
        grace: Duration::from_millis(100),
    };
    let protocol: Arc<dyn Protocol> =
        Arc::new(setnx_getset_unchecked::SetnxGetsetUnchecked::new(params));
    let name = "unchecked";
    let a = Client::new(&server, protocol.clone(), name).await;
    let b = Client::new(&server, protocol.clone(), name).await;
    let c = Client::new(&server, protocol, name).await;

    let first = granted(a.acquire(SECOND, None, &mut NoHooks).await, "A");
    // A's critical section outlasts its lease: B takes the expired timestamp over with GETSET.
    let second = granted(b.acquire(10 * SECOND, Some(5 * SECOND), &mut NoHooks).await, "B");
    assert_eq!(b.held().await.as_ref(), Some(&second.token));
    assert!(!a.within(&first));

    // A finishes and releases: a bare DEL of B's lock.
    assert_eq!(
        a.release(first, SECOND, &mut NoHooks).await,
        Outcome::Released { owned: true, handed: None }
    );
    assert_eq!(a.held().await, None, "B's key was deleted by A");
    let _third = granted(c.acquire(10 * SECOND, None, &mut NoHooks).await, "C");
    assert!(b.within(&second), "two holders at once: B and C");
}

fn setnx_getset_expiry() -> Arc<dyn Protocol> {
    let params = setnx_getset_expiry::Params {
        retry_sleep: Duration::from_millis(50),
        ..setnx_getset_expiry::Params::DOCUMENT
    };
    Arc::new(setnx_getset_expiry::SetnxGetsetExpiry::new(params))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setnx_getset_expiry_client_with_a_fast_clock_takes_over_a_live_lock() {
    let server = server();
    let name = "skew";
    let a = Client::new(&server, setnx_getset_expiry(), name).await;
    let b = Client::new(&server, setnx_getset_expiry(), name).await;

    let first = granted(a.acquire(10 * SECOND, None, &mut NoHooks).await, "A");
    // B's clock runs 20 s ahead: A's fresh 10 s expiry looks long past to it.
    let second = granted(b.acquire(10 * SECOND, None, &mut Skew(20_000)).await, "B");
    assert!(a.within(&first), "two holders at once: A's lease is valid");
    assert_eq!(b.held().await.as_ref(), Some(&second.token));

    // A's own elapsed-time check passes, so its release deletes B's lock.
    assert_eq!(
        a.release(first, 10 * SECOND, &mut NoHooks).await,
        Outcome::Released { owned: true, handed: None }
    );
    assert_eq!(a.held().await, None, "B's key was deleted by A");
    assert!(b.within(&second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setnx_getset_expiry_release_delayed_after_its_elapsed_check_deletes_the_next_holders_lock()
{
    let server = server();
    let name = "check-then-del";
    let a = Client::new(&server, setnx_getset_expiry(), name).await;
    let b = Client::new(&server, setnx_getset_expiry(), name).await;

    let first = granted(a.acquire(SECOND, None, &mut NoHooks).await, "A");
    // Release step 0 reads the clock (the elapsed check passes at once); hold A before step 1.
    let (pause, at, go) = PauseAt::new(1);
    let release = a.release_in_background(first, SECOND, pause);
    assert_eq!(
        at.await.expect("A reaches the DEL"),
        Action::Send(Command::Del { keys: vec![a.keys.lock.clone()] })
    );

    // Meanwhile A's timestamp passes and B takes the lock over with GETSET.
    let second = granted(b.acquire(10 * SECOND, Some(5 * SECOND), &mut NoHooks).await, "B");
    go.send(()).expect("A is waiting");
    assert_eq!(
        release.await.expect("A's release ends"),
        Outcome::Released { owned: true, handed: None }
    );
    assert_eq!(b.held().await, None, "B's key was deleted by A");
    assert!(b.within(&second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setnx_pubsub_waiter_sleeps_through_an_expiry_and_times_out_on_a_free_lock() {
    let server = server();
    let protocol: Arc<dyn Protocol> =
        Arc::new(setnx_pubsub::SetnxPubsub::new(setnx_pubsub::Params::DOCUMENT));
    let name = "silent-expiry";
    let a = Client::new(&server, protocol.clone(), name).await;
    let b = Client::new(&server, protocol.clone(), name).await;

    // A "crashes" holding a 1 s lock: it never releases, the key expires, nobody publishes.
    let _first = granted(a.acquire(SECOND, None, &mut NoHooks).await, "A");
    let started = Instant::now();
    let outcome = b.acquire(SECOND, Some(3 * SECOND), &mut NoHooks).await;
    // The lock was free after 1 s; B, waiting for a message that never comes, gives up at 3 s.
    assert_eq!(outcome, Outcome::TimedOut);
    assert!(started.elapsed() >= 3 * SECOND, "{:?}", started.elapsed());
    assert_eq!(b.held().await, None, "the lock was free all along");
    // Only a fresh acquire notices.
    let _second = granted(b.acquire(SECOND, None, &mut NoHooks).await, "B, afresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setnx_pubsub_growing_variant_still_sleeps_through_an_expiry() {
    let server = server();
    let params = setnx_pubsub::Params { first_wait: Some(4 * SECOND), growth: 2.0 };
    let protocol: Arc<dyn Protocol> = Arc::new(setnx_pubsub::SetnxPubsub::new(params));
    let name = "silent-expiry-growing";
    let a = Client::new(&server, protocol.clone(), name).await;
    let b = Client::new(&server, protocol, name).await;

    let _first = granted(a.acquire(SECOND, None, &mut NoHooks).await, "A");
    let started = Instant::now();
    let _second = granted(b.acquire(SECOND, Some(10 * SECOND), &mut NoHooks).await, "B");
    // The lock was free after 1 s; B only looked again when its 4 s round ran out.
    let waited = started.elapsed();
    assert!(waited >= 4 * SECOND, "B waited {waited:?}: woken without a message?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setnx_pubsub_release_wakes_a_subscribed_waiter_at_once() {
    let server = server();
    let protocol: Arc<dyn Protocol> =
        Arc::new(setnx_pubsub::SetnxPubsub::new(setnx_pubsub::Params::DOCUMENT));
    let name = "wake";
    let a = Client::new(&server, protocol.clone(), name).await;
    let b = Client::new(&server, protocol, name).await;

    let first = granted(a.acquire(10 * SECOND, None, &mut NoHooks).await, "A");
    let started = Instant::now();
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.acquire(10 * SECOND, Some(10 * SECOND), &mut NoHooks).await })
    };
    // Release only once B listens: a message before its SUBSCRIBE would be lost.
    until_subscribed(&server, &a.keys.channel).await;
    assert_eq!(
        a.release(first, 10 * SECOND, &mut NoHooks).await,
        Outcome::Released { owned: true, handed: None }
    );
    let _second = granted(waiter.await.expect("B ends"), "B");
    assert!(
        started.elapsed() < 4 * SECOND,
        "B was not woken by the release: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_poll_refuses_a_stale_release_and_extend_adds_time() {
    let server = server();
    let protocol: Arc<dyn Protocol> =
        Arc::new(token_poll::TokenPoll::new(token_poll::Params::DOCUMENT));
    let name = "token-poll";
    let a = Client::new(&server, protocol.clone(), name).await;
    let b = Client::new(&server, protocol.clone(), name).await;

    let first = granted(a.acquire(SECOND, None, &mut NoHooks).await, "A");
    let second = granted(b.acquire(10 * SECOND, Some(5 * SECOND), &mut NoHooks).await, "B");
    assert_eq!(
        a.release(first, SECOND, &mut NoHooks).await,
        Outcome::Released { owned: false, handed: None }
    );
    assert_eq!(b.held().await.as_ref(), Some(&second.token), "B's key survives");

    let extend = ExtendParams {
        keys: b.keys.clone(),
        grant: second,
        ttl: 2 * SECOND,
        drift: Duration::ZERO,
    };
    let mut machine = protocol.extend(extend).expect("token-poll extends");
    let outcome = b.conn.run(machine.as_mut(), &mut NoHooks).await.expect("extend runs");
    assert!(matches!(outcome, Outcome::Extended { valid_until: Some(_) }), "{outcome:?}");
    let pttl = b.conn.exec(&Command::Pttl { key: b.keys.lock.clone() }).await.expect("PTTL");
    // About 10 s were left; 2 s were added (a reset would leave 2 s).
    assert!(pttl.as_int().is_some_and(|ms| ms > 11_000), "PTTL {pttl:?}");
}

/// A state of the lock key before a script runs: absent, or a value with an optional expiry.
type KeyState = Option<(&'static [u8], Option<u64>)>;

#[tokio::test]
async fn script_model_faces_answer_like_their_lua() {
    let server = server();
    let conn = Connection::open(&server.url(), Timeouts::default()).await.expect("connect");
    let (key, channel) = (b"diff{k}".to_vec(), b"diff{k}:channel".to_vec());
    let states: [KeyState; 4] =
        [None, Some((b"tok", Some(5_000))), Some((b"tok", None)), Some((b"other", Some(5_000)))];
    let cases: [(&'static Script, Vec<Bytes>, Vec<Bytes>); 3] = [
        (&token_poll::RELEASE, vec![key.clone()], vec![b"tok".to_vec()]),
        (&token_poll::EXTEND, vec![key.clone()], vec![b"tok".to_vec(), b"2000".to_vec()]),
        (
            &setnx_pubsub::RELEASE,
            vec![key.clone(), channel],
            vec![b"tok".to_vec(), setnx_pubsub::UNLOCKED.to_vec()],
        ),
    ];
    for (script, keys, args) in cases {
        for state in states {
            let mut model = Model::new();
            let setup = match state {
                None => Command::Del { keys: vec![key.clone()] },
                Some((value, px)) => Command::Set {
                    key: key.clone(),
                    value: value.to_vec(),
                    cond: None,
                    expiry: px.map(Expiry::Px),
                    get: false,
                },
            };
            let _ = model.exec(ClientId(0), &setup);
            conn.exec(&setup).await.expect("setup");
            let eval = Command::Eval { script, keys: keys.clone(), args: args.clone() };
            let Step::Reply(expected) = model.exec(ClientId(0), &eval) else { panic!("blocked") };
            let real = conn.exec(&eval).await.expect("eval");
            assert_eq!(real, expected, "{} on {state:?}", script.name);

            let get = Command::Get { key: key.clone() };
            let Step::Reply(model_value) = model.exec(ClientId(0), &get) else { panic!() };
            assert_eq!(
                conn.exec(&get).await.expect("GET"),
                model_value,
                "{} on {state:?}",
                script.name
            );
            let pttl = Command::Pttl { key: key.clone() };
            let Step::Reply(model_pttl) = model.exec(ClientId(0), &pttl) else { panic!() };
            let real_pttl = conn.exec(&pttl).await.expect("PTTL");
            let (m, r) =
                (model_pttl.as_int().unwrap_or(i64::MIN), real_pttl.as_int().unwrap_or(i64::MAX));
            // The model's clock stands still; the server's moved on by a few milliseconds.
            assert!(
                r <= m && (m < 0 || m - r < 500),
                "{} on {state:?}: PTTL {r} vs {m}",
                script.name
            );
        }
    }
}

/// `fair-client-clock`'s scripts on a real server and on the model, one call after another
/// from the same state: a queue built, a head woken, live waiters dropped by a fast clock, a
/// give-up, a try. The replies and the state after each call (holder, queue, deadlines) must
/// agree, up to the few milliseconds the real lease ran meanwhile (a deadline behind nobody
/// counts from the lease's `PTTL`).
#[tokio::test]
async fn fair_client_clock_scripts_answer_like_their_model_faces() {
    use contend::specimens::fair_client_clock::{ACQUIRE, GIVE_UP, RELEASE, deadlines};

    let server = server();
    let conn = Connection::open(&server.url(), Timeouts::default()).await.expect("connect");
    let mut raw = redis::Client::open(server.url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut model = Model::new();
    let keys = Keys::new("diff:", "fair-client-clock");
    let prefix = deadlines(&keys);
    let id = |n: u128| Token::from_u128(n).to_bytes();
    let now: u64 = 1_700_000_000_000;
    let (lease, step, ahead) = (2_000, 10_000, 60_000);
    let acquire = |who: u128, clock: u64, mode: &str| Command::Eval {
        script: &ACQUIRE,
        keys: vec![keys.lock.clone(), keys.waiters.clone(), prefix.clone()],
        args: vec![
            id(who),
            lease.to_string().into(),
            step.to_string().into(),
            clock.to_string().into(),
            mode.into(),
        ],
    };
    let release = |who: u128, clock: u64| Command::Eval {
        script: &RELEASE,
        keys: vec![keys.lock.clone(), keys.waiters.clone(), prefix.clone(), keys.channel.clone()],
        args: vec![id(who), clock.to_string().into()],
    };
    let give_up = |who: u128| Command::Eval {
        script: &GIVE_UP,
        keys: vec![keys.waiters.clone(), prefix.clone()],
        args: vec![id(who), step.to_string().into()],
    };
    let (h, a, b, s) = (1, 2, 3, 4);
    let steps = [
        acquire(h, now, "1"),
        acquire(a, now, "1"),
        acquire(b, now, "1"),
        acquire(a, now, "1"),
        release(h, now),
        acquire(s, now + ahead, "1"),
        acquire(a, now, "1"),
        acquire(b, now, "1"),
        give_up(a),
        give_up(s),
        release(s, now),
        acquire(s, now, "0"),
        acquire(s, now, "1"),
        acquire(b, now, "1"),
        release(s, now),
        release(b, now - ahead),
    ];
    // Two numbers that agree up to how long the real lease has run.
    let close = |real: i64, model: i64| (real - model).abs() < 500;
    for (i, command) in steps.iter().enumerate() {
        let Step::Reply(expected) = model.exec(ClientId(0), command) else { panic!("blocked") };
        let real = conn.exec(command).await.expect("eval");
        let same = match (&real, &expected) {
            (Reply::Int(r), Reply::Int(m)) => close(*r, *m),
            _ => real == expected,
        };
        assert!(same, "step {i}: the server answered {real:?}, the model {expected:?}");

        let real_holder = conn.exec(&Command::Get { key: keys.lock.clone() }).await.expect("GET");
        let Step::Reply(model_holder) =
            model.exec(ClientId(0), &Command::Get { key: keys.lock.clone() })
        else {
            panic!()
        };
        assert_eq!(real_holder, model_holder, "step {i}: holder");
        let real_queue: Vec<Bytes> = redis::cmd("LRANGE")
            .arg(&keys.waiters)
            .arg(0)
            .arg(-1)
            .query_async(&mut raw)
            .await
            .expect("LRANGE");
        let mut copy = model.clone();
        let mut model_queue = Vec::new();
        while let Step::Reply(Reply::Bulk(item)) =
            copy.exec(ClientId(0), &Command::LPop { key: keys.waiters.clone() })
        {
            model_queue.push(item);
        }
        assert_eq!(real_queue, model_queue, "step {i}: queue");
        for who in [h, a, b, s] {
            let key = [prefix.as_slice(), b":", &id(who)].concat();
            let real = conn.exec(&Command::Get { key: key.clone() }).await.expect("GET");
            let model = model.string(&key).map(|v| Reply::Bulk(v.to_vec())).unwrap_or(Reply::Nil);
            let same = match (real.as_int(), model.as_int()) {
                (Some(r), Some(m)) => close(r, m),
                _ => real == model,
            };
            assert!(same, "step {i}: deadline of {who}: server {real:?}, model {model:?}");
        }
    }
}
