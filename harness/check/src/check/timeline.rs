//! One pass over a history that pairs invocations with completions and groups each worker's
//! acquire → section → release into an [`Acquisition`]; every checker starts from it.

use std::collections::HashMap;

use crate::history::{Event, Kind, Op};

/// One successful acquisition and what its holder did with it (event indices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acquisition {
    /// The holder.
    pub worker: u32,
    /// The acquire's invocation.
    pub invoke: usize,
    /// The acquire's `ok`.
    pub ok: usize,
    /// The section's invocation, if it began.
    pub section_invoke: Option<usize>,
    /// The section's completion (`ok` or `info`), if it ended.
    pub section_done: Option<usize>,
    /// The release's invocation, if it began.
    pub release_invoke: Option<usize>,
    /// The release's completion, if it ended.
    pub release_done: Option<usize>,
    /// The invocation of the release that handed this grant's token over (its `handed`), if
    /// one did: the lease began no earlier.
    pub handed_by: Option<usize>,
}

/// One acquire operation, successful or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The worker.
    pub worker: u32,
    /// The invocation.
    pub invoke: usize,
    /// The completion, if any.
    pub done: Option<usize>,
    /// When the completion is `info` (a dropped or unsure acquire): the completion of the
    /// clean-up its worker ran next, a release with the attempt's own token, if one ended.
    /// An `ok` one proves the attempt holds nothing after it.
    pub cleanup_done: Option<usize>,
}

/// A history with its operations paired up.
#[derive(Debug)]
pub struct Timeline<'h> {
    /// The events.
    pub events: &'h [Event],
    /// Successful acquisitions, in order of their `ok`.
    pub acquisitions: Vec<Acquisition>,
    /// Every acquire operation, in order of invocation.
    pub attempts: Vec<Attempt>,
    /// Indices of `crash` events.
    pub crashes: Vec<usize>,
    /// Index of the `final` event, if the run got that far.
    pub final_event: Option<usize>,
    /// Every worker id that appears, ascending.
    pub workers: Vec<u32>,
    /// Each crashed worker's first `crash` event.
    pub crashed: HashMap<u32, usize>,
}

#[derive(Default)]
struct WorkerState {
    pending: Option<(Op, usize)>,
    current: Option<usize>,
    attempt: Option<usize>,
    /// The worker's last attempt, when it ended `info` and nothing has followed it yet.
    unsure: Option<usize>,
    /// That attempt, while a release with its token (its clean-up) is under way.
    cleanup: Option<usize>,
}

/// Each token a release handed the lock to, with that release's invocation: named by the
/// release's completion (`handed`: whom it handed to, as `notify` reports) or, in older
/// histories, by its invocation (the fresh token a hand-off would give).
fn handed_by_release(events: &[Event]) -> HashMap<&str, usize> {
    let mut handed = HashMap::new();
    let mut invoked: HashMap<u32, usize> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        if e.f != Op::Release {
            continue;
        }
        let Some(w) = e.worker else { continue };
        let at = if e.kind == Kind::Invoke {
            invoked.insert(w, i);
            Some(i)
        } else {
            invoked.remove(&w)
        };
        if let (Some(token), Some(at)) = (&e.handed, at) {
            handed.insert(token.as_str(), at);
        }
    }
    handed
}

impl<'h> Timeline<'h> {
    /// Pairs the operations of `events` (which must be in time order).
    #[must_use]
    pub fn new(events: &'h [Event]) -> Timeline<'h> {
        let mut t = Timeline {
            events,
            acquisitions: Vec::new(),
            attempts: Vec::new(),
            crashes: Vec::new(),
            final_event: None,
            workers: Vec::new(),
            crashed: HashMap::new(),
        };
        let mut states: HashMap<u32, WorkerState> = HashMap::new();
        let handed = handed_by_release(events);
        for (i, e) in events.iter().enumerate() {
            match e.f {
                Op::Crash => {
                    t.crashes.push(i);
                    if let Some(w) = e.target {
                        t.crashed.entry(w).or_insert(i);
                    }
                }
                Op::Final => t.final_event = Some(i),
                _ => {}
            }
            let Some(worker) = e.worker else { continue };
            let s = states.entry(worker).or_default();
            if e.kind == Kind::Invoke {
                t.invoke(s, worker, e, i);
            } else if let Some((op, invoke)) = s.pending.take()
                && op == e.f
            {
                t.complete(s, worker, e, op, invoke, i);
                if op == Op::Acquire
                    && e.kind == Kind::Ok
                    && let Some(a) = t.acquisitions.last_mut()
                    && a.ok == i
                {
                    a.handed_by = e.token.as_deref().and_then(|tok| handed.get(tok)).copied();
                }
            }
        }
        t.workers = states.into_keys().collect();
        t.workers.sort_unstable();
        t
    }

    /// When attempt `a`, which ended unsure, certainly held nothing any more: the `ok`
    /// completion of the clean-up release its worker ran with its token, if there was one.
    #[must_use]
    pub fn cleaned_up_at(&self, a: &Attempt) -> Option<u64> {
        a.cleanup_done.filter(|&d| self.events[d].kind == Kind::Ok).map(|d| self.time(d))
    }

    /// The time of event `i`.
    #[must_use]
    pub fn time(&self, i: usize) -> u64 {
        self.events[i].time
    }

    /// When `a`'s lease began at the earliest, the tightest bound the history proves: never
    /// before the acquire's invocation, nor the send time of the winning command (`lease_from`),
    /// nor, for a lock handed over, the invocation of the release that handed it (the waiter's
    /// `lease_from` is when it began to wait, often long before).
    #[must_use]
    pub fn lease_start(&self, a: &Acquisition) -> u64 {
        let handed = a.handed_by.map_or(0, |r| self.time(r));
        self.time(a.invoke).max(self.events[a.ok].lease_from.unwrap_or(0)).max(handed)
    }

    /// When worker `w` was last seen alive: its crash, else the end of the history.
    #[must_use]
    pub fn alive_until(&self, w: u32) -> u64 {
        self.crashed
            .get(&w)
            .map_or_else(|| self.events.last().map_or(0, |e| e.time), |&c| self.time(c))
    }

    fn invoke(&mut self, s: &mut WorkerState, worker: u32, e: &Event, i: usize) {
        let op = e.f;
        s.pending = Some((op, i));
        let unsure = s.unsure.take();
        match op {
            Op::Acquire => {
                s.current = None;
                s.attempt = Some(self.attempts.len());
                self.attempts.push(Attempt { worker, invoke: i, done: None, cleanup_done: None });
            }
            Op::Section => {
                if let Some(c) = s.current {
                    self.acquisitions[c].section_invoke = Some(i);
                }
            }
            Op::Release => {
                if let Some(c) = s.current {
                    self.acquisitions[c].release_invoke = Some(i);
                } else if let Some(a) = unsure
                    && let Some(d) = self.attempts[a].done
                    && e.token.is_some()
                    && self.events[d].token == e.token
                {
                    s.cleanup = Some(a);
                }
            }
            _ => {}
        }
    }

    fn complete(
        &mut self,
        s: &mut WorkerState,
        worker: u32,
        e: &Event,
        op: Op,
        invoke: usize,
        i: usize,
    ) {
        match op {
            Op::Acquire => {
                if let Some(a) = s.attempt.take() {
                    self.attempts[a].done = Some(i);
                    if e.kind == Kind::Info {
                        s.unsure = Some(a);
                    }
                }
                if e.kind == Kind::Ok {
                    s.current = Some(self.acquisitions.len());
                    self.acquisitions.push(Acquisition {
                        worker,
                        invoke,
                        ok: i,
                        section_invoke: None,
                        section_done: None,
                        release_invoke: None,
                        release_done: None,
                        handed_by: None,
                    });
                }
            }
            Op::Section => {
                if let Some(c) = s.current {
                    self.acquisitions[c].section_done = Some(i);
                }
            }
            Op::Release => {
                if let Some(c) = s.current.take() {
                    self.acquisitions[c].release_done = Some(i);
                } else if let Some(a) = s.cleanup.take() {
                    self.attempts[a].cleanup_done = Some(i);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_pair_up_per_worker() {
        let ev = |t, kind, f, w| Event::new(t, kind, f).by(w, 0);
        let h = vec![
            ev(1, Kind::Invoke, Op::Acquire, 1),
            ev(2, Kind::Invoke, Op::Acquire, 2),
            ev(3, Kind::Ok, Op::Acquire, 1),
            ev(4, Kind::Invoke, Op::Section, 1),
            ev(5, Kind::Ok, Op::Section, 1),
            ev(6, Kind::Invoke, Op::Release, 1),
            ev(7, Kind::Ok, Op::Release, 1),
            ev(8, Kind::Fail, Op::Acquire, 2),
        ];
        let t = Timeline::new(&h);
        assert_eq!(t.acquisitions.len(), 1);
        let a = t.acquisitions[0];
        assert_eq!((a.invoke, a.ok, a.section_invoke, a.section_done), (0, 2, Some(3), Some(4)));
        assert_eq!((a.release_invoke, a.release_done), (Some(5), Some(6)));
        assert_eq!(t.attempts.len(), 2);
        assert_eq!(t.attempts[1].done, Some(7));
        assert_eq!(t.workers, vec![1, 2]);
    }
}
