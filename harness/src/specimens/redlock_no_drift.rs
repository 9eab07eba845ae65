//! `redlock-no-drift`: redlock without its clock-drift allowance.
//!
//! **The mistake.** Redlock counts a lease from when it sent its requests and takes off the
//! time the answers took; it also takes off an allowance for the servers' clocks running a
//! little faster than the client's (`ttl × 0.01 + 2 ms` by default: a key may expire that much
//! early by the client's reckoning). Without it the validity is `ttl − elapsed`, all of it
//! promised to the caller: a server whose clock runs a little fast, or steps forward by less
//! than the allowance, ends the key before the client's validity does, and when that happens on
//! a majority another client can win a majority while the first still counts itself the holder.
//! Everything else is `redlock`'s: the same machines, with a drift of zero.
//!
//! **Faithful to.** Getting the allowance wrong is a mistake real ports made: redlock-py
//! subtracted it with the wrong sign (`ttl − (elapsed − drift)`, fixing it in 2015, its pull
//! request 3: "by subtracting twice, we accidentally added the drift"), and the Go port linked
//! from the first Redlock page adds the 2 ms instead of taking them off. Leaving the allowance
//! out, or setting its factor to 0, is the plain form of the same mistake.
//!
//! **Where the harness sees it.** `redlock-drift`: every server's clock steps 40 ms forward
//! during each lease (6 s), and each holder works until 2 ms before its lease ends as the
//! algorithm computed it (`hold = { distribution = "lease" }`). `redlock` took 62 ms off and
//! stops 24 ms before the stepped servers let the key go; this specimen works on 38 ms past it,
//! another worker wins the servers meanwhile, and `mutual-exclusion` reports the lock handed
//! out twice. With a hold shorter than the lease, or a step larger than the allowance, the two
//! cannot be told apart: the allowance only changes when the client stops counting itself the
//! holder, and whether a round whose answers came between `ttl − drift` and `ttl` is won.

use std::time::Duration;

use redmutex::algo::redlock::{self, RedlockAcquire, RedlockAlgorithm};
use redmutex::algo::{AcquireParams, ExtendParams, Protocol, ReleaseParams};
use redmutex::proto::Machine;

use super::{CheckerKind, KnownBug};

/// The specimen's name.
pub const NAME: &str = "redlock-no-drift";

/// One line for `contend list`.
pub const SUMMARY: &str = "redlock with no clock-drift allowance (validity = ttl − elapsed): a server clock a little fast ends the keys on a majority while the client still counts itself the holder";

/// The known bug.
pub const BUGS: &[KnownBug] = &[KnownBug {
    id: "no-drift-allowance",
    what: "its validity runs to ttl − elapsed: a holder that works to the end of it works on after servers whose clocks stepped a little forward let the key go, and another client wins a majority",
    checker: CheckerKind::MutualExclusion,
    scenario: "redlock-drift",
    fault: "every server's clock steps 40 ms forward during each 6 s lease; holders work until 2 ms before their lease ends",
    safety: true,
}];

/// The protocol: `redlock` over the given servers, with no drift allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedlockNoDrift(pub RedlockAlgorithm);

/// Over three servers, each awaited the harness's default server timeout.
pub static DOCUMENT: RedlockNoDrift = RedlockNoDrift(super::THREE);

impl Protocol for RedlockNoDrift {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        Box::new(RedlockAcquire::new(self.0, AcquireParams { drift: Duration::ZERO, ..p }))
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        self.0.release(p)
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Some(Box::new(redlock::extend(self.0, &ExtendParams { drift: Duration::ZERO, ..p })))
    }

    fn servers(&self) -> usize {
        self.0.servers
    }
}

#[cfg(test)]
mod tests {
    use redmutex::proto::Outcome;
    use redmutex::sim::{ClientId, Model, RunOptions, Server, run_each};

    use super::*;
    use crate::specimens::quorum_testkit::{T0, acquire, granted, keys, ms, redlock};

    const TTL: u64 = 1_000;
    /// Less than the allowance of a 1 s lease (12 ms).
    const STEP: u64 = 10;

    fn servers() -> Vec<Server> {
        (0..3).map(|_| Server { model: Model::starting_at(T0), down: false }).collect()
    }

    fn client(id: u64) -> RunOptions {
        RunOptions { client: ClientId(id), latency_ms: 1, ..RunOptions::default() }
    }

    /// Client 1 acquires with `protocol`; servers 0 and 1 then step their clocks `STEP` ms
    /// forward (their keys expire that much early); at `at` ms after the send client 2 tries.
    /// Answers client 1's grant and client 2's outcome.
    fn stepped_majority(protocol: &dyn Protocol, at: u64) -> (redmutex::proto::Grant, Outcome) {
        let mut s = servers();
        let first =
            granted(run_each(&mut s, protocol.acquire(acquire(1, TTL, None)).as_mut(), client(1)));
        let lock = keys().lock;
        for server in &mut s[..2] {
            let left = server.model.expires_at(&lock).unwrap() - server.model.now() - STEP;
            let pexpire = redmutex::proto::Command::PExpire { key: lock.clone(), ms: left };
            let _ = server.model.exec(ClientId(0), &pexpire);
        }
        for server in &mut s {
            server.model.advance_to(T0 + at);
        }
        let second = run_each(&mut s, protocol.acquire(acquire(2, TTL, None)).as_mut(), client(2));
        (first, second)
    }

    #[test]
    fn its_validity_is_the_whole_ttl_less_the_time_the_answers_took() {
        let mut s = servers();
        let g =
            granted(run_each(&mut s, DOCUMENT.acquire(acquire(1, TTL, None)).as_mut(), client(1)));
        assert_eq!((g.acquired_at, g.valid_until), (ms(T0), ms(T0 + TTL)));
        let mut s = servers();
        let g =
            granted(run_each(&mut s, redlock().acquire(acquire(1, TTL, None)).as_mut(), client(1)));
        assert_eq!(g.valid_until, ms(T0 + TTL - 12), "redlock keeps ttl/100 + 2 ms back");
    }

    #[test]
    fn a_majority_whose_clocks_step_forward_less_than_the_allowance_hands_the_lock_out_inside_its_validity()
     {
        // 995 ms after the send: past the stepped keys (990 ms), inside the validity.
        let (first, second) = stepped_majority(&DOCUMENT, 995);
        let second = granted(second);
        assert!(
            second.acquired_at < first.valid_until,
            "client 2 won at {:?}, while client 1 counts itself the holder until {:?}",
            second.acquired_at,
            first.valid_until
        );
    }

    #[test]
    fn redlock_under_the_same_step_never_overlaps_its_own_validity() {
        // The earliest the stepped keys let anyone in is after redlock's validity ended.
        for at in [992, 995, 999] {
            let (first, second) = stepped_majority(&redlock(), at);
            let second = granted(second);
            assert!(first.valid_until <= second.acquired_at, "at {at}: {first:?} / {second:?}");
        }
        // And before the keys expire no one gets in at all.
        let (_, second) = stepped_majority(&redlock(), 985);
        assert_eq!(second, Outcome::Busy);
    }
}
