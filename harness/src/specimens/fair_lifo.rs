//! `fair-lifo`: the `fair` lock with its queue served from the wrong end.
//!
//! **The mistake.** A waiter joins the queue at its head (`LPUSH`) instead of its tail
//! (`RPUSH`), while releases hand the lock to the head as before: the waiter that came last is
//! served first. Every grant still goes to one live waiter, so mutual exclusion, hand-off and
//! liveness checks see nothing wrong; under steady contention the oldest waiters are passed
//! over again and again (until they give up), and the FIFO promise is broken.
//!
//! **Where the harness sees it.** `fair-order`: several workers queue behind a holder; the
//! `fairness` checker reports each grant to a later waiter while an earlier one still waits
//! (`bypass`). The specimen claims FIFO like `fair` does, so that the checker holds it to it.

use std::sync::LazyLock;

use redmutex::algo::{AcquireParams, Algorithm, ExtendParams, Protocol, ReleaseParams};
use redmutex::proto::{Bytes, Command, Machine, Reply, Script, ScriptHost};
use redmutex::scripts::FAIR_ACQUIRE;

use super::CheckerKind;
use super::KnownBug;

/// The specimen's name.
pub const NAME: &str = "fair-lifo";

/// One line for `contend list`.
pub const SUMMARY: &str =
    "fair, but a waiter joins the queue at its head (LPUSH): the newest waiter is served first";

/// The known bug.
pub const BUGS: &[KnownBug] = &[KnownBug {
    id: "queue-served-lifo",
    what: "a waiter that came later is granted the lock while earlier ones still wait",
    checker: CheckerKind::Fairness,
    scenario: "fair-order",
    fault: "none: steady contention queues several waiters",
    safety: false,
}];

/// The mode-1 join of `fair-acquire`, and the mistaken one.
const JOIN: &str = "if ARGV[3] == '1' then\n  redis.call('rpush', KEYS[2], me)";
const JOIN_AT_HEAD: &str = "if ARGV[3] == '1' then\n  redis.call('lpush', KEYS[2], me)";

/// `fair-acquire` with the mistaken join.
static LIFO_ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    // Once per process; the script must be 'static, like every script.
    let source: &'static str = Box::leak(FAIR_ACQUIRE.source.replace(JOIN, JOIN_AT_HEAD).into());
    Script::new("fair-lifo-acquire", source, lifo_model)
});

/// The model face: `fair-acquire`'s, then a caller that joined (mode 1, busy) moved from the
/// tail to the head, which is where `LPUSH` would have put it.
fn lifo_model(h: &mut dyn ScriptHost, keys: &[Bytes], args: &[Bytes]) -> Reply {
    let reply = (FAIR_ACQUIRE.model)(h, keys, args);
    let joined = args.get(2).is_some_and(|m| m == b"1");
    let busy = matches!(&reply, Reply::Array(items) if items.first() == Some(&Reply::Int(0)));
    if joined && busy {
        let (queue, me) = (keys[1].clone(), args[0].clone());
        h.call(Command::LRem { key: queue.clone(), count: 0, value: me.clone() });
        h.call(Command::LPush { key: queue.clone(), values: vec![me] });
        let ttl = args.get(1).and_then(|a| std::str::from_utf8(a).ok()?.parse().ok());
        h.call(Command::PExpire { key: queue, ms: ttl.unwrap_or(0) });
    }
    reply
}

/// The protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FairLifo;

/// The specimen (it has no time constants of its own).
pub static DOCUMENT: FairLifo = FairLifo;

impl Protocol for FairLifo {
    fn name(&self) -> &'static str {
        NAME
    }

    fn acquire(&self, p: AcquireParams) -> Box<dyn Machine> {
        redmutex::algo::fair_acquire_running(p, &LIFO_ACQUIRE)
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Algorithm::Fair.protocol().release(p)
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Algorithm::Fair.protocol().extend(p)
    }

    fn dead_waiter_window(&self, ttl: std::time::Duration) -> std::time::Duration {
        Algorithm::Fair.protocol().dead_waiter_window(ttl)
    }

    fn renewed_keys(&self, keys: &redmutex::proto::Keys) -> Vec<redmutex::proto::Bytes> {
        Algorithm::Fair.protocol().renewed_keys(keys)
    }

    /// It claims what `fair` promises; the checker finds that it does not keep it.
    fn fifo(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mistaken_script_differs_from_fair_in_its_join_only() {
        assert_eq!(FAIR_ACQUIRE.source.matches(JOIN).count(), 1);
        assert_eq!(LIFO_ACQUIRE.source, FAIR_ACQUIRE.source.replace(JOIN, JOIN_AT_HEAD));
    }
}
