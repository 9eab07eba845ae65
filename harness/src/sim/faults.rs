//! The simulator's faults: the random nemesis's kinds (`--faults`), and a scenario's faults
//! played on the simulated clock exactly as the coordinator plays them on the real one.

use std::fmt;
use std::str::FromStr;

use super::engine::{Engine, Ev};
use crate::history::Kind;
use redmutex::sim::Persistence as ModelPersistence;

use crate::plan::{FaultPlan, HolderStrike, WindowEdge};
use crate::scenario::{Fault, Persistence};

/// A fault the random nemesis can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NemesisKind {
    /// Stop a client (the long GC pause) for ½ to 3 ttl; it reads nothing meanwhile.
    Pause,
    /// Kill a client; its pending operation ends `info`, a fresh worker takes its slot.
    Crash,
    /// Kill the client that holds the lock (the `crash-holder` scenario's fault), if any.
    CrashHolder,
    /// Restart the lock server with `appendfsync always`: keys survive; blocked clients and
    /// subscribers lose their connection. With several lock servers: a minority of them, drawn
    /// at random (one of three, one or two of five), restarted at once.
    Restart,
    /// Restart the lock server without persistence: every key is lost. No lock can stay safe
    /// through this; it shows what happens. With several lock servers, a drawn minority as for
    /// `Restart`: a quorum lock whose holder won a bare majority including a restarted server
    /// can then be taken by a second client (the classic Redlock failure).
    RestartVolatile,
    /// Skew a client's wall clock by ±1 to 3 ttl for a while (algorithms that read it).
    Skew,
    /// Make a client sleep ½ to 3 ttl before step 0, 1 or 2 of an operation (before it
    /// starts, or between two commands, e.g. the GET and the DEL of a release).
    Delay,
}

impl NemesisKind {
    /// Every kind.
    pub const ALL: [NemesisKind; 7] = [
        NemesisKind::Pause,
        NemesisKind::Crash,
        NemesisKind::CrashHolder,
        NemesisKind::Restart,
        NemesisKind::RestartVolatile,
        NemesisKind::Skew,
        NemesisKind::Delay,
    ];

    /// The kinds a single healthy Redis lets a correct lock survive (all but the volatile
    /// restart).
    pub const SAFE: [NemesisKind; 6] = [
        NemesisKind::Pause,
        NemesisKind::Crash,
        NemesisKind::CrashHolder,
        NemesisKind::Restart,
        NemesisKind::Skew,
        NemesisKind::Delay,
    ];

    /// The name `--faults` uses.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            NemesisKind::Pause => "pause",
            NemesisKind::Crash => "crash",
            NemesisKind::CrashHolder => "crash-holder",
            NemesisKind::Restart => "restart",
            NemesisKind::RestartVolatile => "restart-volatile",
            NemesisKind::Skew => "skew",
            NemesisKind::Delay => "delay",
        }
    }
}

/// The set of fault kinds the nemesis picks from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults(Vec<NemesisKind>);

impl Faults {
    /// No faults.
    #[must_use]
    pub fn none() -> Faults {
        Faults(Vec::new())
    }

    /// These kinds (sorted, once each).
    #[must_use]
    pub fn of(kinds: &[NemesisKind]) -> Faults {
        let mut v = kinds.to_vec();
        v.sort_unstable();
        v.dedup();
        Faults(v)
    }

    /// The kinds, in a fixed order.
    #[must_use]
    pub fn kinds(&self) -> &[NemesisKind] {
        &self.0
    }

    /// Whether `kind` is on.
    #[must_use]
    pub fn has(&self, kind: NemesisKind) -> bool {
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
            "safe" => return Ok(Faults::of(&NemesisKind::SAFE)),
            "all" => return Ok(Faults::of(&NemesisKind::ALL)),
            _ => {}
        }
        let mut kinds = Vec::new();
        for part in s.split(',').map(str::trim) {
            let kind =
                NemesisKind::ALL.into_iter().find(|k| k.name() == part).ok_or_else(|| {
                    let known: Vec<_> = NemesisKind::ALL.iter().map(|k| k.name()).collect();
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

/// Why the simulator cannot play a scenario, if it cannot: it plays every fault kind, but its
/// model has no `WAIT` (`[lock] replicas`), and it keeps every key across a restart or none
/// (no RDB snapshot or fsync window).
#[must_use]
pub fn unsimulable(scenario: &crate::scenario::Scenario) -> Option<String> {
    let (faults, server) = (&scenario.faults, scenario.server);
    let restarts = faults.iter().any(|f| matches!(f, Fault::RestartServer { .. }));
    if restarts && matches!(server.persistence, Persistence::Rdb | Persistence::AofEverysec) {
        return Some(format!(
            "the simulator models a restart that keeps every key (aof-always) or none (none), \
             not `{}`: run it on real servers",
            server.persistence.name()
        ));
    }
    if scenario.lock.replicas.is_some() {
        return Some(
            "the simulator does not model WAIT ([lock] replicas): run it on real servers \
             (--server local)"
                .into(),
        );
    }
    None
}

/// The scenario's faults on the simulated clock: the run's [`FaultPlan`], its window edges put
/// on the event queue and its strikes carried out on simulated clients.
#[derive(Clone, Debug, Default)]
pub(super) struct Plans(FaultPlan);

impl Plans {
    pub(super) fn new(cfg: &super::SimConfig) -> Plans {
        Plans(FaultPlan::new(&cfg.client.faults))
    }

    /// Puts the first nemesis strike, the first tick and the window edges on the queue.
    pub(super) fn schedule(&self, e: &mut Engine<'_>) {
        if e.cfg.faults.any() {
            let every = e.cfg.fault_every_ms.max(1);
            let at = e.rng.below(2 * every);
            e.schedule(at, Ev::Nemesis);
        }
        if let Some(first) = self.0.first_holder_strike_ms() {
            e.schedule(first, Ev::Tick);
        }
        for (index, at, open) in self.0.window_edges() {
            e.schedule(at, Ev::Window { index, open });
        }
    }

    /// Strikes the holder where a plan is due; answers whether any plan may strike again.
    pub(super) fn tick(&mut self, e: &mut Engine<'_>) -> bool {
        let now = e.run_ms();
        self.0.strike_holders_on(now, |after_ms, what, servers| {
            let after_us = after_ms.saturating_mul(1000);
            let now_us = e.now_us;
            let holder = e.holders.iter().find(|&(&slot, &since)| {
                e.clients[slot as usize].paused_until <= now_us
                    && since.saturating_add(after_us) <= now_us
            });
            let Some((&slot, _)) = holder else { return false };
            match what {
                HolderStrike::Pause { ms } => e.pause(slot, ms),
                HolderStrike::Kill => e.kill(slot, "killed by the nemesis"),
                // One server restarts at once (its downtime is not modelled); several stay down
                // for it.
                HolderStrike::Restart { downtime_ms, .. } => {
                    let persistence = match e.cfg.server.persistence {
                        Persistence::None => ModelPersistence::None,
                        _ => ModelPersistence::Aof,
                    };
                    return e.restart_servers(persistence, servers, downtime_ms);
                }
                HolderStrike::Partition { ms } => e.partition(slot, ms, servers),
                HolderStrike::Slow { ms } => e.sleep_servers(ms, servers),
                HolderStrike::ClockJump { ms } => e.jump_server_clocks(ms, servers),
                HolderStrike::Failover { outage } => return e.fail_primary(outage),
            }
            true
        })
    }

    /// A window opens or closes: logged as the coordinator logs it.
    pub(super) fn window(&mut self, e: &mut Engine<'_>, index: usize, open: bool) {
        if let Some(edge) = self.0.edge(index, open) {
            record(e, edge);
        }
    }

    /// The heal phase: open windows close, holder plans stop.
    pub(super) fn heal(&mut self, e: &mut Engine<'_>) {
        for edge in self.0.heal() {
            record(e, edge);
        }
    }
}

fn record(e: &mut Engine<'_>, edge: WindowEdge) {
    let kind = if edge.open { Kind::Invoke } else { Kind::Ok };
    e.nemesis_event(kind, edge.op, None, edge.details);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_lists_parse_and_unknown_ones_name_the_known() {
        assert_eq!("none".parse::<Faults>(), Ok(Faults::none()));
        let f: Faults = "crash, pause".parse().unwrap();
        assert_eq!(f.kinds(), &[NemesisKind::Pause, NemesisKind::Crash]);
        assert_eq!(f.to_string(), "pause,crash");
        assert!(!"safe".parse::<Faults>().unwrap().has(NemesisKind::RestartVolatile));
        assert!("all".parse::<Faults>().unwrap().has(NemesisKind::RestartVolatile));
        let err = "crash,boom".parse::<Faults>().unwrap_err();
        assert!(err.contains("`boom`") && err.contains("restart-volatile"), "{err}");
    }
}
