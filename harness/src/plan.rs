//! The one fault plan of a run: which of the scenario's faults are due, given the time and who
//! holds the lock, which fault windows open and close, and what the heal phase undoes.
//!
//! Pure: no processes, no clocks, no Redis. The real coordinator ([`crate::run`]) and the
//! simulator ([`crate::sim`]) keep one [`FaultPlan`] each and only *carry out* what it says —
//! SIGKILL or SIGSTOP a worker process, or kill or pause a simulated client — so a fault means
//! the same in both. Client-side faults that act inside an operation (step delays, clock skews)
//! are summed by [`crate::scenario::ClientSettings`], which the worker and the simulated client
//! share.

use crate::history::Op;
use crate::scenario::{Crash, Fault, HolderFault, ServerSet, Window};

/// What a fault timed by the holder does when it strikes: to the holder itself, to its link to
/// the lock server, or to the lock server while the holder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HolderStrike {
    /// SIGKILL: the holder dies; a fresh worker takes its slot.
    Kill,
    /// SIGSTOP, then SIGCONT after `ms`.
    Pause {
        /// How long the holder stays stopped.
        ms: u64,
    },
    /// Cut the holder off from the lock server for `ms` (at the fault proxy).
    Partition {
        /// How long the partition lasts.
        ms: u64,
    },
    /// Crash the lock server, and start it again after `downtime_ms`.
    Restart {
        /// How it goes down.
        crash: Crash,
        /// How long it stays down.
        downtime_ms: u64,
    },
    /// Block the lock server whole for `ms`.
    Slow {
        /// How long it sleeps.
        ms: u64,
    },
    /// Step the lock server's wall clock by `ms`.
    ClockJump {
        /// The step, ms.
        ms: i64,
    },
    /// Take the primary away and move the clients to the replica the Sentinels promote.
    Failover {
        /// How the primary goes away.
        outage: crate::scenario::Outage,
    },
}

/// A fault window opened or closed: what the history records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowEdge {
    /// The fault's operation in the history (`step-delay`, `clock-skew`).
    pub op: Op,
    /// Opened (an `invoke` event, with `details`) or closed (an `ok` event).
    pub open: bool,
    /// The fault's settings in plain words, on opening.
    pub details: Option<String>,
}

/// The schedule of every fault of a scenario.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    holder: Vec<HolderPlan>,
    windows: Vec<WindowPlan>,
}

/// A holder fault (`kill-holder`, `pause-holder`) with its schedule.
#[derive(Clone, Debug)]
struct HolderPlan {
    fault: HolderFault,
    strike: HolderStrike,
    /// When it may strike next, ms after the run began; `None`: never again.
    next_ms: Option<u64>,
    strikes: u32,
}

/// A window fault (`step-delay`, `clock-skew`) as logged in the history.
#[derive(Clone, Debug)]
struct WindowPlan {
    op: Op,
    window: Window,
    details: String,
    started: bool,
    stopped: bool,
}

impl FaultPlan {
    /// The plan of `faults`: faults timed by the holder in file order; step delays, then clock
    /// skews. (Command faults are not scheduled: the fault proxy strikes them by operation.)
    #[must_use]
    pub fn new(faults: &[Fault]) -> FaultPlan {
        let holder = faults
            .iter()
            .filter_map(|f| match f {
                Fault::KillHolder(h) => Some((*h, HolderStrike::Kill)),
                Fault::PauseHolder { strike, pause_ms } => {
                    Some((*strike, HolderStrike::Pause { ms: *pause_ms }))
                }
                Fault::PartitionHolder { strike, pause_ms } => {
                    Some((*strike, HolderStrike::Partition { ms: *pause_ms }))
                }
                Fault::RestartServer { strike, crash, downtime_ms } => Some((
                    *strike,
                    HolderStrike::Restart { crash: *crash, downtime_ms: *downtime_ms },
                )),
                Fault::SlowServer { strike, pause_ms } => {
                    Some((*strike, HolderStrike::Slow { ms: *pause_ms }))
                }
                Fault::ServerClockJump { strike, jump_ms } => {
                    Some((*strike, HolderStrike::ClockJump { ms: *jump_ms }))
                }
                Fault::Failover { strike, outage } => {
                    Some((*strike, HolderStrike::Failover { outage: *outage }))
                }
                _ => None,
            })
            .map(|(fault, strike)| HolderPlan {
                fault,
                strike,
                next_ms: Some(fault.window.start_ms),
                strikes: 0,
            })
            .collect();
        let window = |op, window, details| WindowPlan {
            op,
            window,
            details,
            started: false,
            stopped: false,
        };
        let delays = faults.iter().filter_map(|f| match f {
            Fault::StepDelay(d) => Some(window(Op::StepDelay, d.window, d.describe())),
            _ => None,
        });
        let skews = faults.iter().filter_map(|f| match f {
            Fault::ClockSkew(s) => Some(window(Op::ClockSkew, s.window, s.describe())),
            _ => None,
        });
        FaultPlan { holder, windows: delays.chain(skews).collect() }
    }

    /// Whether the plan holds no fault at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.holder.is_empty() && self.windows.is_empty()
    }

    /// When the first holder fault may strike, ms after the run began.
    #[must_use]
    pub fn first_holder_strike_ms(&self) -> Option<u64> {
        self.holder.iter().map(|p| p.fault.window.start_ms).min()
    }

    /// Every window edge the plan knows in advance: `(window, ms after the run began, opens)`,
    /// for a backend that schedules them (the simulator) rather than polls.
    #[must_use]
    pub fn window_edges(&self) -> Vec<(usize, u64, bool)> {
        let mut edges = Vec::new();
        for (index, w) in self.windows.iter().enumerate() {
            edges.push((index, w.window.start_ms, true));
            if let Some(stop) = w.window.stop_ms {
                edges.push((index, stop, false));
            }
        }
        edges
    }

    /// Window `index` reached its edge: what to record, if anything changed.
    pub fn edge(&mut self, index: usize, open: bool) -> Option<WindowEdge> {
        let w = self.windows.get_mut(index)?;
        if open && !w.started {
            w.started = true;
            return Some(WindowEdge { op: w.op, open: true, details: Some(w.details.clone()) });
        }
        if !open && w.started && !w.stopped {
            w.stopped = true;
            return Some(WindowEdge { op: w.op, open: false, details: None });
        }
        None
    }

    /// The windows that opened or closed by `now_ms`, for a backend that polls (the real
    /// coordinator).
    pub fn poll_windows(&mut self, now_ms: u64) -> Vec<WindowEdge> {
        let mut edges = Vec::new();
        for index in 0..self.windows.len() {
            let inside = self.windows[index].window.contains(now_ms);
            if inside {
                edges.extend(self.edge(index, true));
            }
            if !inside && self.windows[index].started {
                edges.extend(self.edge(index, false));
            }
        }
        edges
    }

    /// Strikes every holder fault that is due at `now_ms`: `strike(after_acquire_ms, what)` must
    /// find a holder that has held the lock for at least `after_acquire_ms`, strike it, and
    /// answer whether it found one (a fault with no holder to strike waits for one). Answers
    /// whether any holder fault may strike again.
    pub fn strike_holders(
        &mut self,
        now_ms: u64,
        mut strike: impl FnMut(u64, HolderStrike) -> bool,
    ) -> bool {
        self.strike_holders_on(now_ms, |after, what, _| strike(after, what))
    }

    /// [`strike_holders`](Self::strike_holders) for a run of several lock servers: `strike`
    /// also gets the servers the fault names (`servers = [..]`, every one by default).
    pub fn strike_holders_on(
        &mut self,
        now_ms: u64,
        mut strike: impl FnMut(u64, HolderStrike, ServerSet) -> bool,
    ) -> bool {
        for p in &mut self.holder {
            let Some(due) = p.next_ms else { continue };
            let exhausted = p.fault.count.is_some_and(|c| p.strikes >= c);
            if now_ms < due || !p.fault.window.contains(now_ms) || exhausted {
                if exhausted || p.fault.window.stop_ms.is_some_and(|s| now_ms >= s) {
                    p.next_ms = None;
                }
                continue;
            }
            if !strike(p.fault.after_acquire_ms, p.strike, p.fault.servers) {
                continue;
            }
            p.strikes += 1;
            p.next_ms = p.fault.every_ms.map(|every| now_ms + every);
        }
        self.holder.iter().any(|p| p.next_ms.is_some())
    }

    /// The heal phase: every open window closes (what to record), no holder fault strikes again.
    pub fn heal(&mut self) -> Vec<WindowEdge> {
        for p in &mut self.holder {
            p.next_ms = None;
        }
        (0..self.windows.len()).filter_map(|i| self.edge(i, false)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ClockSkew, DelayOp, StepDelay};

    fn holder(start_ms: u64, every_ms: Option<u64>, count: Option<u32>) -> HolderFault {
        HolderFault {
            window: Window { start_ms, stop_ms: Some(10_000) },
            every_ms,
            after_acquire_ms: 5,
            count,
            servers: crate::scenario::ServerSet::ALL,
        }
    }

    #[test]
    fn a_holder_fault_strikes_when_due_every_period_and_retires_after_its_count() {
        let mut plan = FaultPlan::new(&[Fault::PauseHolder {
            strike: holder(100, Some(50), Some(2)),
            pause_ms: 30,
        }]);
        let mut struck = Vec::new();
        let mut at = |plan: &mut FaultPlan, now| {
            plan.strike_holders(now, |after, what| {
                struck.push((now, after, what));
                true
            })
        };
        assert!(at(&mut plan, 99), "not due yet, but it will be");
        assert!(at(&mut plan, 100));
        assert!(at(&mut plan, 120), "next strike at 150");
        assert!(at(&mut plan, 150));
        assert!(!at(&mut plan, 200), "two strikes: retired");
        assert_eq!(
            struck,
            vec![
                (100, 5, HolderStrike::Pause { ms: 30 }),
                (150, 5, HolderStrike::Pause { ms: 30 })
            ]
        );
    }

    #[test]
    fn a_holder_fault_without_a_holder_waits_and_stops_at_its_window_end() {
        let mut plan = FaultPlan::new(&[Fault::KillHolder(holder(0, None, None))]);
        assert!(plan.strike_holders(10, |_, _| false), "nobody held: it stays due");
        assert!(!plan.strike_holders(20, |_, _| true), "struck once, no period: done");
        let mut plan = FaultPlan::new(&[Fault::KillHolder(holder(0, None, None))]);
        assert!(!plan.strike_holders(10_000, |_, _| panic!("window over")));
    }

    #[test]
    fn windows_open_and_close_once_by_poll_or_by_edge_and_heal_closes_the_rest() {
        let delay = StepDelay {
            window: Window { start_ms: 10, stop_ms: Some(20) },
            op: DelayOp::Release,
            step: 1,
            delay_ms: 700,
            workers: None,
            every: 1,
        };
        let skew = ClockSkew {
            window: Window { start_ms: 0, stop_ms: None },
            offset_ms: 5,
            workers: Some(vec![0]),
        };
        let faults = [Fault::ClockSkew(skew), Fault::StepDelay(delay)];
        let mut plan = FaultPlan::new(&faults);
        assert_eq!(plan.window_edges(), vec![(0, 10, true), (0, 20, false), (1, 0, true)]);
        let polled = plan.poll_windows(0);
        assert_eq!(polled.len(), 1);
        assert_eq!((polled[0].op, polled[0].open), (Op::ClockSkew, true));
        assert!(plan.poll_windows(5).is_empty());
        assert_eq!(plan.poll_windows(10)[0].op, Op::StepDelay);
        let closed = plan.poll_windows(25);
        assert_eq!((closed.len(), closed[0].open), (1, false));
        assert!(plan.poll_windows(30).is_empty());
        let healed = plan.heal();
        assert_eq!((healed.len(), healed[0].op), (1, Op::ClockSkew));
        assert!(plan.heal().is_empty(), "closed once");
        let mut plan = FaultPlan::new(&faults);
        assert!(plan.edge(0, false).is_none(), "a window that never opened does not close");
        assert!(plan.edge(0, true).is_some() && plan.edge(0, true).is_none());
    }
}
