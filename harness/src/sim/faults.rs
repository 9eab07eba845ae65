//! The simulator's faults: the random nemesis's kinds (`--faults`), and a scenario's faults
//! played on the simulated clock exactly as the coordinator plays them on the real one.

use std::fmt;
use std::str::FromStr;

use super::engine::{Engine, Ev};
use crate::history::{Kind, Op};
use crate::scenario::{HolderFault, Window};

/// A fault the random nemesis can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Stop a client (the long GC pause) for ½ to 3 ttl; it reads nothing meanwhile.
    Pause,
    /// Kill a client; its pending operation ends `info`, a fresh worker takes its slot.
    Crash,
    /// Kill the client that holds the lock (the `crash-holder` scenario's fault), if any.
    CrashHolder,
    /// Restart the lock server with `appendfsync always`: keys survive; blocked clients and
    /// subscribers lose their connection.
    Restart,
    /// Restart the lock server without persistence: every key is lost. No lock can stay safe
    /// through this; it shows what happens.
    RestartVolatile,
    /// Skew a client's wall clock by ±1 to 3 ttl for a while (algorithms that read it).
    Skew,
    /// Make a client sleep ½ to 3 ttl before step 0, 1 or 2 of an operation (before it
    /// starts, or between two commands, e.g. the GET and the DEL of a release).
    Delay,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Pause,
        FaultKind::Crash,
        FaultKind::CrashHolder,
        FaultKind::Restart,
        FaultKind::RestartVolatile,
        FaultKind::Skew,
        FaultKind::Delay,
    ];

    /// The kinds a single healthy Redis lets a correct lock survive (all but the volatile
    /// restart).
    pub const SAFE: [FaultKind; 6] = [
        FaultKind::Pause,
        FaultKind::Crash,
        FaultKind::CrashHolder,
        FaultKind::Restart,
        FaultKind::Skew,
        FaultKind::Delay,
    ];

    /// The name `--faults` uses.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Pause => "pause",
            FaultKind::Crash => "crash",
            FaultKind::CrashHolder => "crash-holder",
            FaultKind::Restart => "restart",
            FaultKind::RestartVolatile => "restart-volatile",
            FaultKind::Skew => "skew",
            FaultKind::Delay => "delay",
        }
    }
}

/// The set of fault kinds the nemesis picks from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults(Vec<FaultKind>);

impl Faults {
    /// No faults.
    #[must_use]
    pub fn none() -> Faults {
        Faults(Vec::new())
    }

    /// These kinds (sorted, once each).
    #[must_use]
    pub fn of(kinds: &[FaultKind]) -> Faults {
        let mut v = kinds.to_vec();
        v.sort_unstable();
        v.dedup();
        Faults(v)
    }

    /// The kinds, in a fixed order.
    #[must_use]
    pub fn kinds(&self) -> &[FaultKind] {
        &self.0
    }

    /// Whether `kind` is on.
    #[must_use]
    pub fn has(&self, kind: FaultKind) -> bool {
        self.0.contains(&kind)
    }

    /// Whether any fault is on.
    #[must_use]
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<_> = self.0.iter().map(|k| k.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Faults {
    type Err = String;

    /// `none`, `safe` (every kind but `restart-volatile`), `all`, or a comma list of kinds.
    fn from_str(s: &str) -> Result<Faults, String> {
        match s.trim() {
            "" | "none" => return Ok(Faults::none()),
            "safe" => return Ok(Faults::of(&FaultKind::SAFE)),
            "all" => return Ok(Faults::of(&FaultKind::ALL)),
            _ => {}
        }
        let mut kinds = Vec::new();
        for part in s.split(',').map(str::trim) {
            let kind = FaultKind::ALL.into_iter().find(|k| k.name() == part).ok_or_else(|| {
                let known: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown fault `{part}`; use none, safe, all, or a comma list of: {}",
                    known.join(", ")
                )
            })?;
            kinds.push(kind);
        }
        Ok(Faults::of(&kinds))
    }
}

/// A scenario's holder fault (`kill-holder`, `pause-holder`), with its schedule.
#[derive(Clone, Debug)]
struct HolderPlan {
    fault: HolderFault,
    pause_ms: Option<u64>,
    next_ms: Option<u64>,
    strikes: u32,
}

/// A scenario's window fault (`step-delay`, `clock-skew`) as logged in the history.
#[derive(Clone, Debug)]
struct WindowPlan {
    op: Op,
    window: Window,
    details: String,
    started: bool,
    stopped: bool,
}

/// The scenario's faults on the simulated clock.
#[derive(Clone, Debug, Default)]
pub(super) struct Plans {
    holder: Vec<HolderPlan>,
    windows: Vec<WindowPlan>,
}

impl Plans {
    pub(super) fn new(cfg: &super::SimConfig) -> Plans {
        let holder = cfg
            .holder_faults
            .iter()
            .map(|&(fault, pause_ms)| HolderPlan {
                fault,
                pause_ms,
                next_ms: Some(fault.window.start_ms),
                strikes: 0,
            })
            .collect();
        let mut windows = Vec::new();
        for d in &cfg.step_delays {
            let details = d.describe();
            windows.push(WindowPlan {
                op: Op::StepDelay,
                window: d.window,
                details,
                started: false,
                stopped: false,
            });
        }
        for s in &cfg.clock_skews {
            let details = s.describe();
            windows.push(WindowPlan {
                op: Op::ClockSkew,
                window: s.window,
                details,
                started: false,
                stopped: false,
            });
        }
        Plans { holder, windows }
    }

    /// Puts the first nemesis strike, the first tick and the window edges on the queue.
    pub(super) fn schedule(&self, e: &mut Engine<'_>) {
        if e.cfg.faults.any() {
            let every = e.cfg.fault_every_ms.max(1);
            let at = e.rng.below(2 * every);
            e.schedule(at, Ev::Nemesis);
        }
        if let Some(first) = self.holder.iter().map(|p| p.fault.window.start_ms).min() {
            e.schedule(first, Ev::Tick);
        }
        for (index, w) in self.windows.iter().enumerate() {
            e.schedule(w.window.start_ms, Ev::Window { index, open: true });
            if let Some(stop) = w.window.stop_ms {
                e.schedule(stop, Ev::Window { index, open: false });
            }
        }
    }

    /// Strikes the holder where a plan is due; answers whether any plan may strike again.
    pub(super) fn tick(&mut self, e: &mut Engine<'_>) -> bool {
        let now = e.run_ms();
        for p in &mut self.holder {
            let Some(due) = p.next_ms else { continue };
            let exhausted = p.fault.count.is_some_and(|c| p.strikes >= c);
            if now < due || !p.fault.window.contains(now) || exhausted {
                if exhausted || p.fault.window.stop_ms.is_some_and(|s| now >= s) {
                    p.next_ms = None;
                }
                continue;
            }
            let after_us = p.fault.after_acquire_ms.saturating_mul(1000);
            let now_us = e.now_us;
            let holder = e.holders.iter().find(|&(&slot, &since)| {
                e.clients[slot as usize].paused_until <= now_us
                    && since.saturating_add(after_us) <= now_us
            });
            let Some((&slot, _)) = holder else { continue };
            p.strikes += 1;
            p.next_ms = p.fault.every_ms.map(|every| now + every);
            match p.pause_ms {
                Some(ms) => e.pause(slot, ms),
                None => e.kill(slot, "killed by the nemesis"),
            }
        }
        self.holder.iter().any(|p| p.next_ms.is_some())
    }

    /// A window opens or closes: logged as the coordinator logs it.
    pub(super) fn window(&mut self, e: &mut Engine<'_>, index: usize, open: bool) {
        let Some(w) = self.windows.get_mut(index) else { return };
        if open && !w.started {
            w.started = true;
            let details = w.details.clone();
            e.nemesis_event(Kind::Invoke, w.op, None, Some(details));
        } else if !open && w.started && !w.stopped {
            w.stopped = true;
            e.nemesis_event(Kind::Ok, w.op, None, None);
        }
    }

    /// The heal phase: open windows close, holder plans stop.
    pub(super) fn heal(&mut self, e: &mut Engine<'_>) {
        for w in &mut self.windows {
            if w.started && !w.stopped {
                w.stopped = true;
                e.nemesis_event(Kind::Ok, w.op, None, None);
            }
        }
        for p in &mut self.holder {
            p.next_ms = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_lists_parse_and_unknown_ones_name_the_known() {
        assert_eq!("none".parse::<Faults>(), Ok(Faults::none()));
        let f: Faults = "crash, pause".parse().unwrap();
        assert_eq!(f.kinds(), &[FaultKind::Pause, FaultKind::Crash]);
        assert_eq!(f.to_string(), "pause,crash");
        assert!(!"safe".parse::<Faults>().unwrap().has(FaultKind::RestartVolatile));
        assert!("all".parse::<Faults>().unwrap().has(FaultKind::RestartVolatile));
        let err = "crash,boom".parse::<Faults>().unwrap_err();
        assert!(err.contains("`boom`") && err.contains("restart-volatile"), "{err}");
    }
}
