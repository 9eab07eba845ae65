use std::time::Duration;

use super::*;
use crate::scripts;

const A: ClientId = ClientId(1);
const B: ClientId = ClientId(2);
const C: ClientId = ClientId(3);

fn b(s: &str) -> Bytes {
    s.as_bytes().to_vec()
}

fn run(m: &mut Model, command: Command) -> Reply {
    match m.exec(A, &command) {
        Step::Reply(r) => r,
        Step::Blocked => panic!("{command:?} blocked"),
    }
}

fn set_px(key: &str, value: &str, ms: u64) -> Command {
    Command::Set {
        key: b(key),
        value: b(value),
        cond: None,
        expiry: Some(Expiry::Px(ms)),
        get: false,
    }
}

fn get(key: &str) -> Command {
    Command::Get { key: b(key) }
}

fn blpop(key: &str, ms: u64) -> Command {
    Command::BLPop { key: b(key), timeout: Duration::from_millis(ms) }
}

#[test]
fn a_key_lives_through_its_last_millisecond_and_is_gone_after() {
    let mut m = Model::starting_at(1000);
    assert!(run(&mut m, set_px("k", "v", 10)).is_ok());
    m.advance(10);
    assert_eq!(run(&mut m, Command::Pttl { key: b("k") }), Reply::Int(0));
    assert_eq!(run(&mut m, get("k")), Reply::Bulk(b("v")));
    m.advance(1);
    assert_eq!(run(&mut m, get("k")), Reply::Nil);
    assert_eq!(run(&mut m, Command::Pttl { key: b("k") }), Reply::Int(-2));
    // An expired key does not block NX.
    let nx = Command::SetNx { key: b("k"), value: b("w") };
    assert_eq!(run(&mut m, nx), Reply::Int(1));
    assert_eq!(run(&mut m, Command::Ttl { key: b("k") }), Reply::Int(-1));
}

#[test]
fn ttl_rounds_to_the_nearest_second() {
    let mut m = Model::new();
    let _ = run(&mut m, set_px("k", "v", 1499));
    assert_eq!(run(&mut m, Command::Ttl { key: b("k") }), Reply::Int(1));
    let _ = run(&mut m, set_px("k", "v", 1500));
    assert_eq!(run(&mut m, Command::Ttl { key: b("k") }), Reply::Int(2));
    let _ = run(&mut m, set_px("k", "v", 499));
    assert_eq!(run(&mut m, Command::Ttl { key: b("k") }), Reply::Int(0));
}

#[test]
fn set_options_follow_redis() {
    let mut m = Model::new();
    let set = |cond, get| Command::Set { key: b("k"), value: b("v2"), cond, expiry: None, get };
    assert_eq!(run(&mut m, set(Some(SetCond::Xx), false)), Reply::Nil);
    assert_eq!(run(&mut m, set(Some(SetCond::Nx), true)), Reply::Nil);
    assert_eq!(run(&mut m, get("k")), Reply::Bulk(b("v2")));
    assert_eq!(run(&mut m, set(Some(SetCond::Nx), true)), Reply::Bulk(b("v2")));
    assert_eq!(run(&mut m, set(Some(SetCond::Nx), false)), Reply::Nil);
    // A plain SET drops the expiry.
    let _ = run(&mut m, set_px("k", "v", 100));
    assert!(run(&mut m, set(None, false)).is_ok());
    assert_eq!(run(&mut m, Command::Pttl { key: b("k") }), Reply::Int(-1));
    let zero = Command::Set {
        key: b("k"),
        value: b("v"),
        cond: None,
        expiry: Some(Expiry::Ex(0)),
        get: false,
    };
    assert_eq!(run(&mut m, zero), Reply::Error("ERR invalid expire time in 'set' command".into()));
}

#[test]
fn wrong_types_are_refused_like_redis() {
    let mut m = Model::new();
    let _ = run(&mut m, Command::RPush { key: b("l"), values: vec![b("x")] });
    let wrongtype = Reply::Error(WRONGTYPE.into());
    assert_eq!(run(&mut m, get("l")), wrongtype);
    assert_eq!(run(&mut m, Command::Incr { key: b("l") }), wrongtype);
    assert_eq!(run(&mut m, Command::GetSet { key: b("l"), value: b("v") }), wrongtype);
    assert_eq!(run(&mut m, Command::SetNx { key: b("l"), value: b("v") }), Reply::Int(0));
    let _ = run(
        &mut m,
        Command::Set { key: b("s"), value: b("v"), cond: None, expiry: None, get: false },
    );
    assert_eq!(run(&mut m, Command::LLen { key: b("s") }), wrongtype);
    assert_eq!(run(&mut m, blpop("s", 10)), wrongtype);
}

#[test]
fn incr_reads_integers_strictly_and_keeps_the_expiry() {
    let mut m = Model::new();
    for (text, ok) in
        [("007", false), ("+1", false), ("-0", false), ("1 ", false), ("-12", true), ("0", true)]
    {
        let _ = run(
            &mut m,
            Command::Set { key: b("n"), value: b(text), cond: None, expiry: None, get: false },
        );
        let reply = run(&mut m, Command::Incr { key: b("n") });
        assert_eq!(matches!(reply, Reply::Int(_)), ok, "{text}: {reply:?}");
    }
    let _ = run(&mut m, set_px("n", &i64::MAX.to_string(), 50));
    assert_eq!(run(&mut m, Command::Incr { key: b("n") }), Reply::Error(OVERFLOW.into()));
    assert_eq!(run(&mut m, Command::Decr { key: b("n") }), Reply::Int(i64::MAX - 1));
    assert_eq!(run(&mut m, Command::Pttl { key: b("n") }), Reply::Int(50));
}

#[test]
fn expire_in_the_past_deletes_and_overflow_is_refused() {
    let mut m = Model::starting_at(5);
    let _ = run(&mut m, set_px("k", "v", 100));
    assert_eq!(run(&mut m, Command::PExpire { key: b("k"), ms: 0 }), Reply::Int(1));
    assert_eq!(run(&mut m, get("k")), Reply::Nil);
    assert_eq!(run(&mut m, Command::Expire { key: b("k"), seconds: 1 }), Reply::Int(0));
    let huge = Command::Expire { key: b("k"), seconds: u64::MAX };
    assert_eq!(run(&mut m, huge), Reply::Error(NOT_AN_INTEGER.into()));
    let huge = Command::Expire { key: b("k"), seconds: 9_223_372_036_854_776 };
    assert_eq!(
        run(&mut m, huge),
        Reply::Error("ERR invalid expire time in 'expire' command".into())
    );
}

#[test]
fn a_push_serves_blocked_clients_first_come_first_served() {
    let mut m = Model::new();
    assert_eq!(m.exec(A, &blpop("q", 100)), Step::Blocked);
    assert_eq!(m.exec(B, &blpop("q", 100)), Step::Blocked);
    assert_eq!(m.blocked_on(b"q"), vec![A, B]);
    let push = Command::RPush { key: b("q"), values: vec![b("1"), b("2"), b("3")] };
    assert_eq!(m.exec(C, &push), Step::Reply(Reply::Int(3)));
    let served = m.take_unblocked();
    assert_eq!(served, vec![(A, popped(b"q", b("1"))), (B, popped(b"q", b("2")))]);
    assert_eq!(m.exec(C, &Command::LLen { key: b("q") }), Step::Reply(Reply::Int(1)));
}

#[test]
fn a_script_push_serves_a_blocked_waiter_after_the_script() {
    let mut m = Model::new();
    let acquire = |token: &str| Command::Eval {
        script: &scripts::NOTIFY_ACQUIRE,
        keys: vec![b("lock"), b("waiters"), format!("signal:{token}").into_bytes()],
        args: vec![b(token), b("1000"), b("1"), b("1000")],
    };
    assert_eq!(
        m.exec(A, &acquire("ta")),
        Step::Reply(Reply::Array(vec![Reply::Int(1), Reply::Bulk(b("ta"))]))
    );
    let busy = Step::Reply(Reply::Array(vec![Reply::Int(0), Reply::Int(1000)]));
    assert_eq!(m.exec(B, &acquire("tb")), busy);
    assert_eq!(m.exec(B, &blpop("signal:tb", 500)), Step::Blocked);
    let release = Command::Eval {
        script: &scripts::NOTIFY_RELEASE,
        keys: vec![b("lock"), b("waiters"), b("signal"), b("signal:ta")],
        args: vec![b("ta"), b("1000")],
    };
    let handed = Reply::Array(vec![Reply::Int(1), Reply::Bulk(b("tb"))]);
    assert_eq!(m.exec(A, &release), Step::Reply(handed));
    // The lock is handed over under the waiter's own token.
    assert_eq!(m.take_unblocked(), vec![(B, popped(b"signal:tb", b("tb")))]);
    assert_eq!(m.string(b"lock"), Some(&b"tb"[..]));
    assert!(!m.exists(b"signal:tb"));
    assert!(!m.exists(b"waiters"));
}

#[test]
fn a_release_skips_a_waiter_whose_mark_expired_and_hands_to_the_next() {
    let mut m = Model::new();
    // Waiters mark themselves alive for `alive` ms; the lock's ttl is 1000 ms.
    let acquire = |token: &str, alive: &str| Command::Eval {
        script: &scripts::NOTIFY_ACQUIRE,
        keys: vec![b("lock"), b("waiters"), format!("signal:{token}").into_bytes()],
        args: vec![b(token), b("1000"), b("1"), b(alive)],
    };
    let won = Step::Reply(Reply::Array(vec![Reply::Int(1), Reply::Bulk(b("ta"))]));
    assert_eq!(m.exec(A, &acquire("ta", "1000")), won);
    let _ = m.exec(B, &acquire("tb", "300")); // dies in the queue: no look renews its mark
    m.advance(200);
    let _ = m.exec(C, &acquire("tc", "1000"));
    m.advance(200);
    assert!(!m.exists(b"signal:tb:alive") && m.exists(b"signal:tc:alive"));
    let release = Command::Eval {
        script: &scripts::NOTIFY_RELEASE,
        keys: vec![b("lock"), b("waiters"), b("signal"), b("signal:ta")],
        args: vec![b("ta"), b("1000")],
    };
    let handed = Reply::Array(vec![Reply::Int(1), Reply::Bulk(b("tc"))]);
    assert_eq!(m.exec(A, &release), Step::Reply(handed));
    // Handed to the live waiter behind the dead one, whose mark is gone with its wait.
    assert_eq!(m.string(b"lock"), Some(&b"tc"[..]));
    assert!(!m.exists(b"signal:tc:alive"));
    assert!(!m.exists(b"waiters"), "the dead waiter was dropped from the queue");
}

#[test]
fn a_blocked_client_times_out_once_the_clock_passes_its_deadline() {
    let mut m = Model::new();
    assert_eq!(m.exec(A, &blpop("q", 20)), Step::Blocked);
    assert_eq!(m.next_timeout(), Some(20));
    m.advance_to(20);
    assert!(m.take_unblocked().is_empty());
    m.advance(1);
    assert_eq!(m.take_unblocked(), vec![(A, Reply::Nil)]);
    assert!(!m.is_blocked(A));
}

#[test]
fn publish_reaches_subscribers_only() {
    let mut m = Model::new();
    m.subscribe(A, b"ch");
    m.subscribe(B, b"ch");
    m.subscribe(B, b"other");
    let publish = Command::Publish { channel: b("ch"), message: b("hi") };
    assert_eq!(m.exec(C, &publish), Step::Reply(Reply::Int(2)));
    m.disconnect(A);
    assert_eq!(m.exec(C, &publish), Step::Reply(Reply::Int(1)));
    let got: Vec<_> = m.take_deliveries().into_iter().map(|d| d.client).collect();
    assert_eq!(got, vec![A, B, B]);
}

#[test]
fn a_script_stops_at_its_first_error_and_keeps_what_ran() {
    let mut m = Model::new();
    let _ = run(
        &mut m,
        Command::Set { key: b("w"), value: b("x"), cond: None, expiry: None, get: false },
    );
    let keys = vec![b("lock"), b("w"), b("signal")];
    let acquire = |token: &str| Command::Eval {
        script: &scripts::NOTIFY_ACQUIRE,
        keys: keys.clone(),
        args: vec![b(token), b("1000"), b("3")],
    };
    let _ = run(&mut m, acquire("ta"));
    // Busy, looking again: the signal list is emptied, then LPOS on a string fails: the script answers that
    // error, and the deletion before it stays done.
    let _ = run(&mut m, Command::RPush { key: b("signal"), values: vec![b("stale")] });
    assert_eq!(run(&mut m, acquire("tb")), Reply::Error(WRONGTYPE.into()));
    assert_eq!(m.string(b"w"), Some(&b"x"[..]));
    assert!(!m.exists(b"signal"));
}

#[test]
fn a_restart_without_persistence_forgets_and_with_it_remembers() {
    let mut m = Model::new();
    let _ = run(&mut m, set_px("k", "v", 100));
    assert_eq!(m.exec(B, &blpop("q", 100)), Step::Blocked);
    assert_eq!(m.restart(Persistence::Aof), vec![B]);
    assert_eq!(m.expires_at(b"k"), Some(100));
    assert!(m.restart(Persistence::None).is_empty());
    assert!(!m.exists(b"k"));
    assert!(m.take_unblocked().is_empty());
}

#[test]
fn run_drives_a_token_machine_through_a_held_lock_until_it_expires() {
    use crate::algo::{AcquireParams, Algorithm, Backoff};
    use crate::proto::{Keys, Outcome, Token};
    let mut m = Model::new();
    let params = |n: u128, wait| AcquireParams {
        keys: Keys::new("t:", "l"),
        token: Token::from_u128(n),
        ttl: Duration::from_millis(100),
        wait,
        drift: Duration::from_millis(2),
        seed: 9,
        backoff: Backoff::default(),
    };
    for algorithm in Algorithm::ALL {
        let protocol = algorithm.protocol();
        let first = super::super::run(&mut m, protocol.acquire(params(1, None)).as_mut());
        assert!(matches!(first, Outcome::Acquired(_)), "{algorithm}: {first:?}");
        let started = m.now();
        let second = super::super::run(
            &mut m,
            protocol.acquire(params(2, Some(Duration::from_secs(1)))).as_mut(),
        );
        let Outcome::Acquired(grant) = second else { panic!("{algorithm}: {second:?}") };
        assert_eq!(grant.token, Token::from_u128(2).to_bytes(), "{algorithm}");
        assert!(
            m.now() > started + 100,
            "{algorithm}: won at {} before the first lease ended",
            m.now()
        );
        m.advance(1000);
    }
}

#[test]
fn timeouts_fire_earliest_first_and_a_served_client_never_times_out() {
    let mut m = Model::new();
    assert_eq!(m.exec(A, &blpop("q", 30)), Step::Blocked);
    assert_eq!(m.exec(B, &blpop("q", 10)), Step::Blocked);
    assert_eq!(m.exec(C, &blpop("r", 20)), Step::Blocked);
    let push = Command::LPush { key: b("q"), values: vec![b("x")] };
    assert_eq!(m.exec(ClientId(9), &push), Step::Reply(Reply::Int(1)));
    assert_eq!(m.take_unblocked(), vec![(A, popped(b"q", b("x")))], "A blocked first");
    m.advance(100);
    assert_eq!(m.take_unblocked(), vec![(B, Reply::Nil), (C, Reply::Nil)]);
    assert_eq!(m.next_timeout(), None);
    m.disconnect(A);
    assert!(m.blocked_on(b"q").is_empty());
}
