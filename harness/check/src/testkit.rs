//! Hand-made histories for tests of the checkers: `H::new().acquire(1, 0, 1, None)...done()`,
//! times in ms. Used by this crate's tests and by `contend`'s.
#![allow(missing_docs)]

use crate::check::Context;
use crate::history::{Event, History, Kind, Op};

/// One millisecond in ns.
pub const MS: u64 = 1_000_000;

/// A context with ttl 1000 ms, wait 2000 ms, slack 100 ms.
pub fn ctx(fenced: bool) -> Context {
    Context::from_ms(1000, 2000, 100, fenced)
}

/// Builds a history event by event; times in ms.
#[derive(Default)]
pub struct H {
    pub events: History,
}

impl H {
    pub fn new() -> H {
        H::default()
    }

    fn push(&mut self, at_ms: u64, kind: Kind, f: Op, w: u32) -> &mut Event {
        self.events.push(Event::new(at_ms * MS, kind, f).by(w, 1000 + w));
        self.events.last_mut().expect("just pushed")
    }

    /// Worker `w` acquires: invoke at `from`, ok at `to`.
    pub fn acquire(&mut self, w: u32, from: u64, to: u64, fence: Option<u64>) -> &mut H {
        self.push(from, Kind::Invoke, Op::Acquire, w);
        let ok = self.push(to, Kind::Ok, Op::Acquire, w);
        ok.token = Some(format!("t{w}-{to}"));
        ok.fence = fence;
        self
    }

    /// Worker `w` runs a section [from, to] that read `read` and wrote `read + 1`.
    pub fn section(&mut self, w: u32, from: u64, to: u64, read: i64, others: &[u32]) -> &mut H {
        self.push(from, Kind::Invoke, Op::Section, w);
        let ok = self.push(to, Kind::Ok, Op::Section, w);
        ok.enter = Some(from * MS + MS / 10);
        ok.exit = Some(to * MS - MS / 10);
        ok.read = Some(read);
        ok.wrote = Some(read + 1);
        ok.others = others.to_vec();
        self
    }

    /// As [`H::section`] for a fenced lock: the write with `fence` was `accepted` or not.
    pub fn fenced_section(
        &mut self,
        w: u32,
        from: u64,
        to: u64,
        read: i64,
        fence: u64,
        accepted: bool,
    ) -> &mut H {
        self.section(w, from, to, read, &[]);
        let ok = self.events.last_mut().expect("section");
        ok.fence = Some(fence);
        ok.accepted = Some(accepted);
        self
    }

    /// Worker `w` releases [from, to]; `owned` as the algorithm reported.
    pub fn release(&mut self, w: u32, from: u64, to: u64, owned: bool) -> &mut H {
        self.push(from, Kind::Invoke, Op::Release, w);
        self.push(to, Kind::Ok, Op::Release, w).owned = Some(owned);
        self
    }

    /// Worker `w` acquires `token`, handed over by a release, with the lease the waiter reports
    /// from `lease_from` (when it began to wait).
    pub fn acquire_handed(&mut self, w: u32, from: u64, to: u64, token: &str) -> &mut H {
        self.push(from, Kind::Invoke, Op::Acquire, w);
        let ok = self.push(to, Kind::Ok, Op::Acquire, w);
        ok.token = Some(token.to_string());
        ok.lease_from = Some(from * MS);
        self
    }

    /// Worker `w`'s acquire with token `token`, invoked at `from` and dropped by its caller at
    /// `at` (`info`), then its clean-up: a release with that token [at, done], ending `ok`
    /// unless `done` is `None` (its worker died in it).
    pub fn cancelled(
        &mut self,
        w: u32,
        from: u64,
        at: u64,
        token: &str,
        done: Option<u64>,
    ) -> &mut H {
        self.push(from, Kind::Invoke, Op::Acquire, w);
        let info = self.push(at, Kind::Info, Op::Acquire, w);
        info.token = Some(token.to_string());
        info.details = Some("cancelled: the caller dropped the acquire".into());
        self.push(at, Kind::Invoke, Op::Release, w).token = Some(token.to_string());
        match done {
            Some(done) => self.push(done, Kind::Ok, Op::Release, w).owned = Some(false),
            None => return self.killed_during(w, at + 1, Op::Release),
        }
        self
    }

    /// Worker `w` releases [from, to] and hands the lock to the waiter with token `handed`
    /// (the release's completion names it, as `notify` reports).
    pub fn release_handing(&mut self, w: u32, from: u64, to: u64, handed: &str) -> &mut H {
        self.push(from, Kind::Invoke, Op::Release, w);
        let ok = self.push(to, Kind::Ok, Op::Release, w);
        ok.owned = Some(true);
        ok.handed = Some(handed.to_string());
        self
    }

    /// As [`H::release_handing`] in an older history: the invocation carries the fresh token a
    /// hand-off would give.
    pub fn release_handing_old(&mut self, w: u32, from: u64, to: u64, handed: &str) -> &mut H {
        self.push(from, Kind::Invoke, Op::Release, w).handed = Some(handed.to_string());
        self.push(to, Kind::Ok, Op::Release, w).owned = Some(true);
        self
    }

    /// Worker `w`'s section invoked at `from` that ended `info` at `to`, with what it got to
    /// record: the witness `enter` answered, `exit` sent (ms), the value read and written.
    #[allow(clippy::too_many_arguments)]
    pub fn info_section(
        &mut self,
        w: u32,
        from: u64,
        to: u64,
        enter: Option<u64>,
        exit: Option<u64>,
        read: Option<i64>,
        wrote: Option<i64>,
    ) -> &mut H {
        self.push(from, Kind::Invoke, Op::Section, w);
        let e = self.push(to, Kind::Info, Op::Section, w);
        e.enter = enter.map(|t| t * MS);
        e.exit = exit.map(|t| t * MS);
        e.read = read;
        e.wrote = wrote;
        e.details = Some("witness exit: connection reset".into());
        self
    }

    /// Worker `w` invokes `op` at `at`; nothing completes it (its worker dies, or the run ends).
    pub fn invoke(&mut self, w: u32, at: u64, op: Op) -> &mut H {
        self.push(at, Kind::Invoke, op, w);
        self
    }

    /// Worker `w` is killed at `at` with `op` under way: the coordinator's `info` completion of
    /// that operation and the `crash`, as a run records them.
    pub fn killed_during(&mut self, w: u32, at: u64, op: Op) -> &mut H {
        self.push(at, Kind::Info, op, w).details = Some("killed by the nemesis".into());
        self.crash(w, at)
    }

    /// The last event (an acquire `ok`) says its winning command was sent at `at`.
    pub fn won_at(&mut self, at: u64) -> &mut H {
        self.events.last_mut().expect("an acquire").lease_from = Some(at * MS);
        self
    }

    /// Worker `w`'s acquire that failed (timed out) after [from, to].
    pub fn timeout(&mut self, w: u32, from: u64, to: u64) -> &mut H {
        self.push(from, Kind::Invoke, Op::Acquire, w);
        self.push(to, Kind::Fail, Op::Acquire, w);
        self
    }

    /// Worker `w`'s acquire invoked at `from` that may or may not have happened (`info`, e.g.
    /// stopped at the end of the run) at `to`.
    pub fn unfinished(&mut self, w: u32, from: u64, to: u64) -> &mut H {
        self.push(from, Kind::Invoke, Op::Acquire, w);
        self.push(to, Kind::Info, Op::Acquire, w);
        self
    }

    /// Worker `w` is killed at `at`.
    pub fn crash(&mut self, w: u32, at: u64) -> &mut H {
        let mut e = Event::new(at * MS, Kind::Info, Op::Crash);
        e.target = Some(w);
        self.events.push(e);
        self
    }

    /// The counter read at the end.
    pub fn fin(&mut self, at: u64, value: i64) -> &mut H {
        let mut e = Event::new(at * MS, Kind::Ok, Op::Final);
        e.value = Some(value);
        self.events.push(e);
        self
    }

    /// The last event (a `final`) carries the fenced resource's high-water mark `fence`.
    pub fn mark(&mut self, fence: u64) -> &mut H {
        self.events.last_mut().expect("a final event").fence = Some(fence);
        self
    }

    /// The history, in time order.
    pub fn done(&mut self) -> History {
        let mut h = std::mem::take(&mut self.events);
        crate::history::sort(&mut h);
        h
    }
}

/// Two workers taking the lock one after the other, each reading and writing the counter once,
/// and the final read: a history every checker passes.
#[must_use]
pub fn two_turns() -> History {
    H::new()
        .acquire(1, 0, 1, None)
        .section(1, 2, 5, 0, &[])
        .release(1, 6, 7, true)
        .acquire(2, 0, 8, None)
        .section(2, 9, 12, 1, &[])
        .release(2, 13, 14, true)
        .fin(20, 2)
        .done()
}

/// `h` as history.jsonl text.
#[must_use]
pub fn jsonl(h: &[Event]) -> String {
    let mut buf = Vec::new();
    crate::history::write_jsonl(h, &mut buf).expect("writing to memory cannot fail");
    String::from_utf8(buf).expect("JSON is UTF-8")
}
