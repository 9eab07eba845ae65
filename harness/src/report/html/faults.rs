//! The faults of a history as windows (a start and, unless instantaneous, a stop), so the chart
//! can shade them and label them.

use std::collections::HashMap;

use crate::history::{Event, Kind, Op};

/// One fault: a window (`to` is `Some`) or an instant (kill, crash, heal).
pub(super) struct Fault {
    /// What struck.
    pub op: Op,
    /// The worker aimed at; `None`: every worker (a window of the plan, a restart, the heal).
    pub target: Option<u32>,
    /// When it began, ns.
    pub from: u64,
    /// When it ended, ns; `None` for an instant.
    pub to: Option<u64>,
    /// The nemesis's details.
    pub details: String,
    /// The events that record it.
    pub events: Vec<usize>,
}

impl Fault {
    /// A short name for the lane: `pause w3`, `step delay`, `heal`.
    pub fn label(&self) -> String {
        let name = match self.op {
            Op::Kill => "kill",
            Op::Pause => "pause",
            Op::StepDelay => "step delay",
            Op::ClockSkew => "clock skew",
            Op::Restart => "restart",
            Op::SlowServer => "slow server",
            Op::Partition => "partition",
            Op::Command => "command",
            Op::ServerClock => "clock jump",
            Op::Failover => "failover",
            Op::Crash => "crash",
            _ => "heal",
        };
        self.target.map_or_else(|| name.to_string(), |w| format!("{name} w{w}"))
    }

    /// The CSS class of its kind.
    pub fn class(&self) -> &'static str {
        match self.op {
            Op::Kill => "k-kill",
            Op::Pause => "k-pause",
            Op::StepDelay => "k-delay",
            Op::ClockSkew => "k-skew",
            Op::Restart | Op::SlowServer | Op::Failover => "k-restart",
            Op::Partition => "k-pause",
            Op::Command => "k-kill",
            Op::ServerClock => "k-skew",
            Op::Crash => "k-crash",
            _ => "k-heal",
        }
    }
}

/// The faults of `events`, in order of their start. A window whose stop is missing runs to the
/// last event; a kill is an instant even though it is recorded as a start and a stop.
pub(super) fn faults(events: &[Event]) -> Vec<Fault> {
    let end = events.last().map_or(0, |e| e.time);
    let mut found: Vec<Fault> = Vec::new();
    let mut open: HashMap<(Op, Option<u32>), Vec<usize>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let windowed = matches!(
            e.f,
            Op::Pause
                | Op::StepDelay
                | Op::ClockSkew
                | Op::Restart
                | Op::SlowServer
                | Op::Partition
                | Op::Failover
        );
        let instant = match (e.f, e.kind) {
            (Op::Kill | Op::Crash | Op::Command | Op::ServerClock, Kind::Invoke | Kind::Info) => {
                true
            }
            (Op::Heal, Kind::Ok) => e.worker.is_none(),
            _ => false,
        };
        if instant {
            found.push(Fault {
                op: e.f,
                target: e.target,
                from: e.time,
                to: None,
                details: e.details.clone().unwrap_or_default(),
                events: vec![i],
            });
        } else if windowed && e.kind == Kind::Invoke {
            open.entry((e.f, e.target)).or_default().push(found.len());
            found.push(Fault {
                op: e.f,
                target: e.target,
                from: e.time,
                to: Some(end),
                details: e.details.clone().unwrap_or_default(),
                events: vec![i],
            });
        } else if windowed && matches!(e.kind, Kind::Ok | Kind::Fail) {
            let Some(waiting) = open.get_mut(&(e.f, e.target)) else { continue };
            if waiting.is_empty() {
                continue;
            }
            let f = &mut found[waiting.remove(0)];
            f.to = Some(e.time);
            f.events.push(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_a_window_and_a_kill_an_instant() {
        let mut pause = Event::new(10, Kind::Invoke, Op::Pause);
        pause.target = Some(2);
        let mut resume = Event::new(30, Kind::Ok, Op::Pause);
        resume.target = Some(2);
        let mut kill = Event::new(40, Kind::Invoke, Op::Kill);
        kill.target = Some(3);
        let mut killed = kill.clone();
        killed.kind = Kind::Ok;
        let skew = Event::new(50, Kind::Invoke, Op::ClockSkew);
        let heal = Event::new(60, Kind::Ok, Op::Heal);
        let f = faults(&[pause, resume, kill, killed, skew, heal]);
        let spans: Vec<(String, u64, Option<u64>)> =
            f.iter().map(|f| (f.label(), f.from, f.to)).collect();
        assert_eq!(
            spans,
            [
                ("pause w2".into(), 10, Some(30)),
                ("kill w3".into(), 40, None),
                ("clock skew".into(), 50, Some(60)),
                ("heal".into(), 60, None)
            ]
        );
    }
}
