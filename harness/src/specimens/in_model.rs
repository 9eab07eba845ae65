//! The specimens' bugs in `redmutex::sim`, the deterministic model of Redis the simulation mode
//! uses: the same machines, logical time, no server.

use std::time::Duration;

use redmutex::algo::{AcquireParams, Backoff, Protocol, ReleaseParams};
use redmutex::proto::{Action, Event, Grant, Keys, Outcome, Token};
use redmutex::sim::{ClientId, Model, RunOptions, Step, run_with};

use super::{poll_get_del, setnx_getset_expiry, setnx_getset_unchecked, setnx_pubsub};

const T0: u64 = 1_700_000_000_000;

fn keys() -> Keys {
    Keys::new("m:", "l")
}

fn client(id: u64) -> RunOptions {
    RunOptions { client: ClientId(id), ..RunOptions::default() }
}

fn acquire(
    model: &mut Model,
    protocol: &dyn Protocol,
    who: RunOptions,
    ttl_ms: u64,
    wait_ms: Option<u64>,
) -> Outcome {
    let params = AcquireParams {
        keys: keys(),
        token: Token::from_u128(u128::from(who.client.0) + 1),
        ttl: Duration::from_millis(ttl_ms),
        wait: wait_ms.map(Duration::from_millis),
        drift: Duration::ZERO,
        seed: who.client.0,
        backoff: Backoff::default(),
    };
    run_with(model, protocol.acquire(params).as_mut(), who)
}

fn release(
    model: &mut Model,
    protocol: &dyn Protocol,
    who: RunOptions,
    grant: Grant,
    ttl_ms: u64,
) -> Outcome {
    let params = ReleaseParams {
        keys: keys(),
        grant,
        ttl: Duration::from_millis(ttl_ms),
        fresh_token: Token::from_u128(99),
    };
    run_with(model, protocol.release(params).as_mut(), who)
}

fn granted(outcome: Outcome) -> Grant {
    match outcome {
        Outcome::Acquired(g) => g,
        other => panic!("expected the lock, got {other:?}"),
    }
}

fn held(model: &Model) -> Option<Vec<u8>> {
    model.string(&keys().lock).map(<[u8]>::to_vec)
}

fn valid(model: &Model, grant: &Grant) -> bool {
    Duration::from_millis(model.now()) < grant.valid_until
}

#[test]
fn setnx_getset_expiry_with_a_fast_clock_takes_over_and_the_victim_deletes_its_lock() {
    let spec = setnx_getset_expiry::SetnxGetsetExpiry::new(setnx_getset_expiry::Params::DOCUMENT);
    let mut model = Model::starting_at(T0);
    let a = granted(acquire(&mut model, &spec, client(1), 10_000, None));
    let skewed = RunOptions { clock_offset_ms: 20_000, ..client(2) };
    let b = granted(acquire(&mut model, &spec, skewed, 10_000, None));
    assert!(valid(&model, &a) && valid(&model, &b), "two holders");
    assert_eq!(
        release(&mut model, &spec, client(1), a, 10_000),
        Outcome::Released { owned: true, handed: None }
    );
    assert_eq!(held(&model), None, "A deleted B's lock");
}

#[test]
fn setnx_getset_unchecked_late_release_deletes_the_next_holders_lock() {
    let params = setnx_getset_unchecked::Params::DOCUMENT;
    let spec = setnx_getset_unchecked::SetnxGetsetUnchecked::new(params);
    let mut model = Model::starting_at(T0);
    let a = granted(acquire(&mut model, &spec, client(1), 1_000, None));
    let b = granted(acquire(&mut model, &spec, client(2), 10_000, Some(5_000)));
    assert_eq!(held(&model), Some(b.token.clone()), "B took the expired timestamp over");
    assert_eq!(
        release(&mut model, &spec, client(1), a, 1_000),
        Outcome::Released { owned: true, handed: None }
    );
    let _c = granted(acquire(&mut model, &spec, client(3), 10_000, None));
    assert!(valid(&model, &b), "B and C hold the lock at once");
}

#[test]
fn poll_get_del_del_after_a_takeover_removes_the_new_lock() {
    let spec = poll_get_del::PollGetDel::new(poll_get_del::Params::DOCUMENT);
    let mut model = Model::starting_at(T0);
    let a = granted(acquire(&mut model, &spec, client(1), 1_000, None));
    let params = ReleaseParams {
        keys: keys(),
        grant: a,
        ttl: Duration::from_millis(1_000),
        fresh_token: Token::from_u128(99),
    };
    let mut machine = spec.release(params);
    let mut step =
        |model: &mut Model, event: Event| machine.handle(Duration::from_millis(model.now()), event);
    let exec = |model: &mut Model, action: Action| match action {
        Action::Send(command) => match model.exec(ClientId(1), &command) {
            Step::Reply(reply) => Event::Reply(reply),
            Step::Blocked => panic!("blocked"),
        },
        other => panic!("expected a command, got {other:?}"),
    };
    // Step 0, the GET, sees A's own value; step 1, the DEL, is held back.
    let get = step(&mut model, Event::Start);
    let seen = exec(&mut model, get);
    let del = step(&mut model, seen);
    // Meanwhile the lease ends and B wins; then A's DEL lands.
    model.advance(1_001);
    let b = granted(acquire(&mut model, &spec, client(2), 10_000, None));
    let deleted = exec(&mut model, del);
    assert_eq!(
        step(&mut model, deleted),
        Action::Done(Outcome::Released { owned: true, handed: None })
    );
    assert_eq!(held(&model), None, "A's DEL removed B's lock");
    assert!(valid(&model, &b));
}

#[test]
fn setnx_pubsub_waiter_times_out_on_a_silently_expired_lock() {
    let spec = setnx_pubsub::SetnxPubsub::new(setnx_pubsub::Params::DOCUMENT);
    let mut model = Model::starting_at(T0);
    let _a = granted(acquire(&mut model, &spec, client(1), 1_000, None));
    let started = model.now();
    assert_eq!(acquire(&mut model, &spec, client(2), 1_000, Some(5_000)), Outcome::TimedOut);
    assert_eq!(model.now() - started, 5_000, "waited out the whole timeout");
    assert_eq!(held(&model), None, "on a lock free since 1 s in");
}
