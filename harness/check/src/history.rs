//! The history of a run: one event per line, Jepsen-style.
//!
//! Every operation of a worker is an `invoke` followed by one completion: `ok` (it happened),
//! `fail` (it certainly did not) or `info` (it may or may not have happened: a timeout, a crash).
//! Faults are events of the nemesis (no worker) with a start (`invoke`) and a stop (`ok`).
//! Times are plain nanoseconds on one system-wide monotonic clock, so a simulator can produce
//! the same history in simulated time and run the same checkers.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The `details` of the heal event of a run that reached its time limit (`max_duration_ms`)
/// before every worker finished.
pub const TIME_LIMIT: &str = "the run reached its time limit";

/// A whole history, in time order; an event's index is its position.
pub type History = Vec<Event>;

/// Whether an event begins or ends an operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The operation begins (a fault starts).
    #[default]
    Invoke,
    /// The operation happened (a fault stops).
    Ok,
    /// The operation certainly did not happen.
    Fail,
    /// The operation may or may not have happened.
    Info,
}

/// What an event is about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// A worker acquires the lock.
    #[default]
    Acquire,
    /// A worker runs the critical section: witness enter, GET, SET (or fenced write), exit.
    Section,
    /// A worker releases the lock.
    Release,
    /// The nemesis kills a worker (SIGKILL).
    Kill,
    /// The nemesis pauses a worker (SIGSTOP .. SIGCONT).
    Pause,
    /// A window in which workers sleep before a given step of an operation.
    StepDelay,
    /// A window in which workers read a skewed wall clock.
    ClockSkew,
    /// A worker died (killed, or exited abnormally); `target` names it.
    Crash,
    /// The nemesis restarted the lock server (`details` say whether its keys survived).
    Restart,
    /// The lock server was blocked whole (`DEBUG SLEEP`): invoke when it began, ok when it ended.
    SlowServer,
    /// A worker was cut off from the lock server at the fault proxy (`target`): invoke, then ok
    /// at the heal.
    Partition,
    /// A worker dropped its acquire future (`cancel-acquire`); `details` say after how long.
    CancelAcquire,
    /// A key of the lock left on the lock server once the run ended (`details` the key, `value`
    /// its PTTL in ms, -1 for none, `kept` whether the algorithm keeps it by design).
    Residue,
    /// The lock server's wall clock was stepped (`details` by how much).
    ServerClock,
    /// The fault proxy struck a single command (`target` the worker slot, `details` what it did).
    Command,
    /// A failover: invoke when the primary was taken away, ok when the Sentinels had promoted a
    /// replica and the clients were moved to it (`details` say which), fail when none was.
    Failover,
    /// The heal phase: every fault is undone before liveness is judged (`details`: why, e.g.
    /// [`TIME_LIMIT`]).
    Heal,
    /// The coordinator read the outcome on the witness after the run (`value`).
    Final,
    /// Commands a worker sent since its last `stats` line: `value` to the lock server, `details`
    /// to the witness (read by the coordinator, not part of a saved history).
    Stats,
}

/// One line of a history. A field this struct does not know is an error: a history is
/// evidence, and a misspelt field would silently drop what it says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Nanoseconds on the system-wide monotonic clock.
    pub time: u64,
    /// Invoke or completion.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// What happened.
    pub f: Op,
    /// The worker (a fresh id per process; a restarted worker gets a new one); `None` for the
    /// nemesis and the coordinator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<u32>,
    /// The operating-system process id (0 in simulation).
    #[serde(default)]
    pub pid: u32,
    /// The lock token of the acquisition this event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The fence of the acquisition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<u64>,
    /// Acquire `ok`: when the command that won the lock was sent (ns), as the algorithm reports
    /// it; the lease cannot have begun earlier. Absent: use the invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_from: Option<u64>,
    /// Release completion: when the operation's last command was sent (ns). A release removes
    /// the lock with its last command, so the removal happened between this and the completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_send: Option<u64>,
    /// Release completion: the token the release handed the lock to (`notify` says which
    /// waiter's); older histories put on the invocation the fresh token a hand-off would give.
    /// Either way a grant of this token began no earlier than this release's invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handed: Option<String>,
    /// Release: whether the algorithm says the lock was still ours (and so it removed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned: Option<bool>,
    /// Section: when the witness `enter` answered (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enter: Option<u64>,
    /// Section: when the witness `exit` was sent (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<u64>,
    /// Section: the counter value read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<i64>,
    /// Section: the counter value written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrote: Option<i64>,
    /// Section of a fenced lock: whether the resource accepted the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
    /// Residue: whether the algorithm keeps this key by design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<bool>,
    /// Residue: `true` for a key every waiter's look renews for a ttl (a queue of waiters:
    /// `notify`'s and `fair`'s list), which a dead waiter's entry keeps alive until a ttl after
    /// the last look; absent for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed: Option<bool>,
    /// Section: the other workers the witness saw inside when this one entered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<u32>,
    /// Faults and crashes: the worker aimed at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u32>,
    /// `final`: the counter (or the fenced resource's value); `stats`: lock commands sent.
    /// (A fenced run's `final` also carries, in `fence`, the resource's high-water mark.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// A step delay that hit this operation (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delayed_ms: Option<u64>,
    /// Free-form details: an error, the reason of a failure, a fault's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

impl Event {
    /// An event at `time` of `kind` for operation `f`; the other fields empty.
    #[must_use]
    pub fn new(time: u64, kind: Kind, f: Op) -> Event {
        Event { time, kind, f, ..Event::default() }
    }

    /// The same event for worker `worker` with process id `pid`.
    #[must_use]
    pub fn by(mut self, worker: u32, pid: u32) -> Event {
        self.worker = Some(worker);
        self.pid = pid;
        self
    }

    /// Whether this event completes an operation.
    #[must_use]
    pub fn is_completion(&self) -> bool {
        self.kind != Kind::Invoke
    }
}

/// Writes a history as JSON lines.
pub fn write_jsonl(history: &[Event], out: &mut dyn Write) -> anyhow::Result<()> {
    for event in history {
        serde_json::to_writer(&mut *out, event)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Reads a history from JSON lines and checks that it is well formed (see [`validate_lines`]);
/// an error names the line.
pub fn read_jsonl(input: impl BufRead) -> anyhow::Result<History> {
    let mut history = History::new();
    let mut lines = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event =
            serde_json::from_str(&line).with_context(|| format!("history line {}", n + 1))?;
        history.push(event);
        lines.push(n + 1);
    }
    validate_lines(&history, &lines)?;
    Ok(history)
}

/// Sorts events into time order (stable: equal times keep their arrival order).
pub fn sort(history: &mut History) {
    history.sort_by_key(|e| e.time);
}

/// Checks that `history` is well formed, naming an event by its 1-based position (its line in
/// a file written by [`write_jsonl`]). See [`validate_lines`].
pub fn validate(history: &[Event]) -> anyhow::Result<()> {
    let lines: Vec<usize> = (1..=history.len()).collect();
    validate_lines(history, &lines)
}

/// Checks that `history` is well formed; `lines[i]` is the line of event `i`, for the error.
///
/// Each worker's events, in the order given, must alternate invocation and completion of the
/// same operation, never run back in time, and come from one process (a restarted worker gets
/// a fresh id); the times inside an event (`lease_from`, `last_send`, `enter`, `exit`) must lie
/// within its operation. A history that breaks these was damaged or edited, and judging it
/// anyway could turn a violation into a pass.
pub fn validate_lines(history: &[Event], lines: &[usize]) -> anyhow::Result<()> {
    use std::collections::HashMap;
    // Per worker: its pid, its last event, and its pending invocation (operation, index).
    struct Seen {
        pid: u32,
        last: usize,
        pending: Option<(Op, usize)>,
    }
    let mut seen: HashMap<u32, Seen> = HashMap::new();
    let line = |i: usize| lines.get(i).copied().unwrap_or(i + 1);
    for (i, e) in history.iter().enumerate() {
        let Some(w) = e.worker else { continue };
        if e.f == Op::Stats {
            continue;
        }
        let bad = |what: String| anyhow::anyhow!("history line {}: worker {w}: {what}", line(i));
        let s = seen.entry(w).or_insert(Seen { pid: e.pid, last: i, pending: None });
        if s.pid != e.pid {
            return Err(bad(format!(
                "pid {} but line {} gave it pid {}: two processes share one worker id",
                e.pid,
                line(s.last),
                s.pid
            )));
        }
        if s.last != i && e.time < history[s.last].time {
            let what = if e.is_completion() && s.pending.is_some_and(|(_, at)| at == s.last) {
                "a completion stamped before its own invocation"
            } else {
                "an event stamped before the worker's previous event"
            };
            return Err(bad(format!(
                "{what} (line {}, {} ns later): time runs backwards",
                line(s.last),
                history[s.last].time - e.time
            )));
        }
        s.last = i;
        if e.kind == Kind::Invoke {
            if let Some((op, at)) = s.pending {
                return Err(bad(format!(
                    "a second invocation ({}) while its {} of line {} is still pending",
                    name(e.f),
                    name(op),
                    line(at)
                )));
            }
            s.pending = Some((e.f, i));
            continue;
        }
        let Some((op, at)) = s.pending.take() else {
            return Err(bad(format!("a completion ({}) with no invocation", name(e.f))));
        };
        if op != e.f {
            return Err(bad(format!(
                "a completion of {} but the pending operation (line {}) is {}",
                name(e.f),
                line(at),
                name(op)
            )));
        }
        let from = history[at].time;
        let within = |t: Option<u64>, lo: u64| t.is_none_or(|t| lo <= t && t <= e.time);
        let ok = match e.f {
            Op::Acquire => e.lease_from.is_none_or(|t| t <= e.time),
            Op::Release => within(e.last_send, from),
            Op::Section => within(e.enter, from) && within(e.exit, e.enter.unwrap_or(from)),
            _ => true,
        };
        if !ok {
            return Err(bad(format!(
                "its {} interval runs backwards or outside the operation (invoked at line {}: \
                 {from} ns, completed {} ns; lease_from {:?}, last_send {:?}, enter {:?}, exit \
                 {:?})",
                name(e.f),
                line(at),
                e.time,
                e.lease_from,
                e.last_send,
                e.enter,
                e.exit
            )));
        }
    }
    Ok(())
}

/// An operation's name as the history spells it.
fn name(op: Op) -> String {
    serde_json::to_value(op).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_survives_jsonl() {
        let mut ok = Event::new(5, Kind::Ok, Op::Section).by(3, 42);
        ok.others = vec![1];
        ok.read = Some(7);
        let history = vec![Event::new(1, Kind::Invoke, Op::Section).by(3, 42), ok];
        let mut buf = Vec::new();
        write_jsonl(&history, &mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"time":1,"type":"invoke","f":"section","worker":3"#),
            "{text}"
        );
        assert_eq!(read_jsonl(&buf[..]).unwrap(), history);
    }
}
