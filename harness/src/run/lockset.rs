//! The lock servers of a real run: one [`Topology`] (a server, perhaps of our own, perhaps
//! behind a fault proxy) per independent lock server (`[server] count`). A run of one server is
//! the single topology as it always was; with several, each is a server of the harness's own,
//! struck only by the faults that name it (`servers = [..]`), and every event it records says
//! which server it was.

use crate::history::Event;
use crate::plan::HolderStrike;
use crate::scenario::{Scenario, ServerSet};
use crate::servers::ServerChoice;

use super::topology::Topology;

/// The run's lock servers, in the order the workers address them.
pub(super) struct Lockset {
    sides: Vec<Topology>,
}

impl Lockset {
    /// The lock servers of a run of `scenario`: with `[server] count = 1`, `lock_url` (process
    /// `lock_pid`, from `choice`) or the server of our own its faults need; with several, that
    /// many servers of our own, each with the faults that strike it.
    pub(super) fn start(
        scenario: &Scenario,
        lock_url: &str,
        lock_pid: Option<u32>,
        choice: &ServerChoice,
    ) -> anyhow::Result<Lockset> {
        let count = scenario.server.count;
        if count <= 1 {
            let one = Topology::start(scenario, lock_url, lock_pid, choice, false)?;
            return Ok(Lockset { sides: vec![one] });
        }
        match choice {
            ServerChoice::Local => {}
            ServerChoice::Docker => anyhow::bail!(
                "{}: [server] count = {count} starts independent lock servers as processes of \
                 this machine (each behind a fault proxy of the harness): run it with --server \
                 local",
                scenario.path.display()
            ),
            _ => anyhow::bail!(
                "{}: [server] count = {count} needs independent lock servers the harness starts \
                 itself: run it with --server local",
                scenario.path.display()
            ),
        }
        let mut sides = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let mut own = scenario.clone();
            own.faults.retain(|f| f.servers().is_none_or(|s| s.contains(i)));
            // On failure the sides started so far stop as they drop.
            let side = Topology::start(&own, lock_url, None, choice, true)
                .map_err(|e| e.context(format!("lock server {i} of {count}")))?;
            sides.push(side);
        }
        Ok(Lockset { sides })
    }

    /// Whether the run has several lock servers (then events name theirs).
    fn several(&self) -> bool {
        self.sides.len() > 1
    }

    /// Where the first lock server listens (the coordinator's PINGs go there).
    pub(super) fn first_url(&self) -> &str {
        &self.sides[0].lock_url
    }

    /// Where each lock server listens, in order (the coordinator's own connections go there).
    pub(super) fn urls(&self) -> Vec<String> {
        self.sides.iter().map(|s| s.lock_url.clone()).collect()
    }

    /// The first lock server's process, when it is ours.
    pub(super) fn first_pid(&self) -> Option<u32> {
        self.sides[0].lock_pid
    }

    /// The URLs worker slot `slot` connects to, one per lock server.
    pub(super) fn worker_urls(&self, slot: u32) -> Vec<String> {
        self.sides.iter().map(|s| s.worker_url(slot)).collect()
    }

    /// The lock servers' binary and allocator when one is not the usual one.
    pub(super) fn server_note(&self) -> Option<String> {
        let notes: Vec<String> = self
            .sides
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let note = s.server_note()?;
                Some(if self.several() { format!("server {i}: {note}") } else { note })
            })
            .collect();
        let servers = if self.several() {
            Some(format!("{} independent lock servers", self.sides.len()))
        } else {
            None
        };
        let all: Vec<String> = servers.into_iter().chain(notes).collect();
        (!all.is_empty()).then(|| all.join("; "))
    }

    /// Whether workers mark their operations for a proxy.
    pub(super) fn marks(&self) -> bool {
        self.sides.iter().any(Topology::marks)
    }

    /// Carries out a strike on the lock servers in `on` (or on the holder's links to them);
    /// answers the events to record, none when the strike is not for any of them.
    pub(super) fn strike(
        &mut self,
        what: HolderStrike,
        on: ServerSet,
        slot: u32,
        id: u32,
        now: u64,
    ) -> Vec<Event> {
        let several = self.several();
        let mut struck = Vec::new();
        for (i, side) in self.sides.iter_mut().enumerate() {
            if several && !on.contains(i) {
                continue;
            }
            if let Some(e) = side.strike(what, slot, id, now) {
                struck.push((i, e));
            }
        }
        merged(several, struck)
    }

    /// Undoes what is due by `now` on every server (everything with `u64::MAX`).
    pub(super) fn undo_due(&mut self, now: u64) -> Vec<Event> {
        let several = self.several();
        let mut undone = Vec::new();
        for (i, side) in self.sides.iter_mut().enumerate() {
            undone.extend(side.undo_due(now).into_iter().map(|e| (i, e)));
        }
        merged(several, undone)
    }

    /// What the proxies struck, as history events.
    pub(super) fn command_strikes(&self) -> Vec<Event> {
        let several = self.several();
        let mut events = Vec::new();
        for (i, side) in self.sides.iter().enumerate() {
            events.extend(side.command_strikes().into_iter().map(|e| named(several, i, e)));
        }
        events
    }
}

/// `e` with its lock server named first in its details, when the run has several.
fn named(several: bool, server: usize, mut e: Event) -> Event {
    if several {
        e.details = Some(match e.details.take() {
            Some(d) => format!("lock server {server}: {d}"),
            None => format!("lock server {server}"),
        });
    }
    e
}

/// The events of one strike (or of the undoing due at one tick) on several servers, as one
/// event per operation, kind and target naming every server it struck — one strike is one
/// strike, however many servers it hits, as the simulator records it: `lock servers 0, 1, 2:
/// DETAILS` when every server said the same, else each server's words after its number.
fn merged(several: bool, events: Vec<(usize, Event)>) -> Vec<Event> {
    if !several {
        return events.into_iter().map(|(_, e)| e).collect();
    }
    let mut groups: Vec<(Vec<usize>, Event, Vec<Option<String>>)> = Vec::new();
    for (i, e) in events {
        let same = groups
            .iter_mut()
            .find(|(_, g, _)| g.f == e.f && g.kind == e.kind && g.target == e.target);
        match same {
            Some((servers, first, details)) => {
                servers.push(i);
                details.push(e.details);
                first.time = first.time.max(e.time);
            }
            None => {
                let details = vec![e.details.clone()];
                groups.push((vec![i], e, details));
            }
        }
    }
    groups
        .into_iter()
        .map(|(servers, mut e, details)| {
            if let [only] = servers[..] {
                return named(true, only, e);
            }
            let list: Vec<String> = servers.iter().map(usize::to_string).collect();
            let names = format!("lock servers {}", list.join(", "));
            e.details = Some(if details.iter().all(|d| *d == details[0]) {
                match &details[0] {
                    Some(d) => format!("{names}: {d}"),
                    None => names,
                }
            } else {
                let each: Vec<String> = servers
                    .iter()
                    .zip(&details)
                    .map(|(i, d)| format!("{i}: {}", d.as_deref().unwrap_or("done")))
                    .collect();
                format!("{names}: {}", each.join("; "))
            });
            e
        })
        .collect()
}
