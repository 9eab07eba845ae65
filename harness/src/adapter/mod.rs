//! Adapters: locks in other processes, in any language, run by the harness like any algorithm.
//!
//! An adapter is a program that speaks the adapter protocol (`docs/adapters.md`, [`proto`]) on
//! its stdin and stdout, declared by a TOML [`Manifest`]. Each worker process starts its own
//! adapter ([`child::Adapter`]) in its own process group, so the nemesis's SIGSTOP and SIGKILL
//! strike both, and times every call itself: the history is written by the worker exactly as for
//! a built-in algorithm, and the checkers see nothing different.
//!
//! `contend adapter serve NAME` ([`serve`]) serves a built-in algorithm over the protocol;
//! `contend adapter check MANIFEST` ([`check`]) runs a conformance check of an adapter.

pub mod check;
pub mod child;
pub mod faketime;
pub mod manifest;
pub mod proto;
pub mod serve;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use redmutex::algo::{ExtendParams, Protocol, ReleaseParams};
use redmutex::proto::{Action, Event, Failure, Machine, Outcome};

pub use child::AdapterFailed;
pub use manifest::Manifest;

use crate::scenario::{CommandAction, Fault, Scenario};

/// The exit code of a worker whose adapter broke the protocol: the coordinator turns it into a
/// setup error of the run, not a worker failure or a verdict.
pub const ADAPTER_FAILED_EXIT: u8 = 4;

/// The environment variable that lists more adapter manifests (files or folders, `:`-separated)
/// besides those in `adapters/`.
pub const ADAPTERS_ENV: &str = "CONTEND_ADAPTERS";

/// The manifest at `path`, loaded once per process (entries borrow it for the whole run).
pub fn load(path: &Path) -> anyhow::Result<&'static Manifest> {
    static LOADED: Mutex<Vec<&'static Manifest>> = Mutex::new(Vec::new());
    let manifest = Manifest::load(path)?;
    let mut loaded = LOADED.lock().map_err(|_| anyhow::anyhow!("adapter table poisoned"))?;
    if let Some(m) = loaded.iter().find(|m| ***m == manifest) {
        return Ok(m);
    }
    // A handful of manifests per process at most, each kept for the process's life.
    let m: &'static Manifest = Box::leak(Box::new(manifest));
    loaded.push(m);
    Ok(m)
}

/// The adapters `contend list` shows and scenarios may name: every `*.toml` in `adapters/` (under
/// the current folder) and in the files and folders [`ADAPTERS_ENV`] lists. A manifest that does
/// not load is reported on stderr (once) and left out; the first of two with one name wins.
/// Looked for once per process: the folder and the variable do not change during a run.
#[must_use]
pub fn discovered() -> Vec<&'static Manifest> {
    static FOUND: OnceLock<Vec<&'static Manifest>> = OnceLock::new();
    FOUND.get_or_init(discover).clone()
}

fn discover() -> Vec<&'static Manifest> {
    let mut places = vec![PathBuf::from("adapters")];
    if let Ok(more) = std::env::var(ADAPTERS_ENV) {
        places.extend(more.split(':').filter(|p| !p.is_empty()).map(PathBuf::from));
    }
    let mut files = Vec::new();
    for place in places {
        if place.is_file() {
            files.push(place);
        } else if let Ok(dir) = std::fs::read_dir(&place) {
            let mut here: Vec<PathBuf> = dir
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            here.sort();
            files.extend(here);
        }
    }
    let builtin: Vec<&str> = redmutex::algo::Algorithm::ALL
        .into_iter()
        .map(|a| a.name())
        .chain(crate::specimens::SPECIMENS.iter().map(|s| s.name))
        .collect();
    let mut found: Vec<&'static Manifest> = Vec::new();
    for f in files {
        match load(&f) {
            Ok(m) if builtin.contains(&m.name.as_str()) => eprintln!(
                "warning: {}: the adapter's name `{}` is a built-in algorithm's; left out",
                f.display(),
                m.name
            ),
            Ok(m) if found.iter().any(|o| o.name == m.name) => {}
            Ok(m) => found.push(m),
            Err(e) => eprintln!("warning: adapter manifest left out: {e:#}"),
        }
    }
    found
}

/// Why `scenario` cannot run with an adapter on the chosen server, if it cannot: the simulator
/// has no processes; a step delay inside an operation (step 1 or later) names a step of a
/// built-in machine, which an adapter does not have; a clock skew needs libfaketime; a dropped
/// acquire has no message yet.
#[must_use]
pub fn refusal(m: &Manifest, scenario: &Scenario, simulated: bool) -> Option<String> {
    let who = format!("adapter `{}`", m.name);
    if simulated {
        return Some(format!(
            "{who} runs in its own process, on a real server: the simulator (--server sim) cannot \
             run it"
        ));
    }
    if scenario.lock.wait_ms == 0 && !m.supports.try_acquire {
        return Some(format!(
            "{}: wait_ms = 0 asks for a single try, and {who} does not support try_acquire",
            scenario.path.display()
        ));
    }
    if scenario.lock.replicas.is_some() {
        return Some(format!(
            "{}: [lock] replicas sends WAIT on the connection that took the lock, which is inside \
             {who}'s process: leave it out for adapters (a failover without it still runs)",
            scenario.path.display()
        ));
    }
    for f in &scenario.faults {
        match f {
            Fault::StepDelay(d) if d.step > 0 => {
                return Some(step_delay_refusal(&who, scenario, d));
            }
            Fault::ClockSkew(_) if faketime::library().is_none() => {
                return Some(format!(
                    "{}: a client clock skew runs {who} under libfaketime, which is not \
                     installed: {}",
                    scenario.path.display(),
                    faketime::INSTALL
                ));
            }
            Fault::CancelAcquire(_) => {
                return Some(format!(
                    "{}: dropping an acquire midway means dropping a future inside the adapter's \
                     process, which the protocol has no message for yet: {who} cannot take \
                     cancel-acquire faults",
                    scenario.path.display()
                ));
            }
            _ => {}
        }
    }
    None
}

/// The refusal of a step delay at step ≥ 1 for an adapter, with the command fault to write
/// instead. A step is the index of an action of a built-in algorithm's machine: commands, but
/// also sleeps, waits and clock reads. An adapter's library sends commands the harness cannot
/// foresee (connection set-up, `SCRIPT LOAD` after a `NOSCRIPT`, health checks) and does things
/// between them that are no commands, so no step number maps to one of its commands for sure:
/// the user, who knows the library, names the command.
fn step_delay_refusal(who: &str, scenario: &Scenario, d: &crate::scenario::StepDelay) -> String {
    let op = match d.op {
        crate::scenario::DelayOp::Acquire => "acquire",
        crate::scenario::DelayOp::Release => "release",
    };
    let workers = d.workers.as_ref().map_or_else(String::new, |w| {
        let list: Vec<String> = w.iter().map(u32::to_string).collect();
        format!("workers = [{}]\n", list.join(", "))
    });
    format!(
        "{}: a step delay at step {} falls inside the {op}, which {who} runs in its own process: \
         a step is an action of a built-in algorithm's machine (a command, but also a sleep or a \
         clock read), and an adapter's library sends commands of its own (connection set-up, a \
         SCRIPT LOAD after NOSCRIPT), so no step number names one of its commands for sure. \
         Delay the command itself at the fault proxy instead, with N the place of the command \
         among those the adapter sends in the {op} (1 = its first):\n\n\
         [[faults]]\nkind = \"command\"\naction = \"delay-command\"\nop = \"{op}\"\n\
         nth_command = N\ndelay_ms = {}\n{workers}\n\
         (a command fault has no window and no `every`: nth_op picks one operation, count bounds \
         the strikes). A step delay at step 0, before the operation starts, works for adapters.",
        scenario.path.display(),
        d.step,
        d.delay_ms,
    )
}

/// How long holders of `scenario`'s faults may stay paused or cut off in all, ms: a paused
/// worker's adapter is paused with it (and a partition, a sleeping server or a delayed command
/// holds its calls), and a call must not time out for that.
#[must_use]
pub fn paused_ms(faults: &[Fault]) -> u64 {
    faults
        .iter()
        .map(|f| match f {
            Fault::PauseHolder { strike, pause_ms }
            | Fault::PartitionHolder { strike, pause_ms }
            | Fault::SlowServer { strike, pause_ms }
            | Fault::RestartServer { strike, downtime_ms: pause_ms, .. } => {
                let n = strike.count.unwrap_or(if strike.every_ms.is_none() { 1 } else { 5 });
                pause_ms.saturating_mul(u64::from(n))
            }
            // A delayed command or reply holds the call that sent it: one command of each
            // operation when the fault names one, else every command the operation sends.
            Fault::Command(c)
                if matches!(c.action, CommandAction::DelayCommand | CommandAction::DelayReply) =>
            {
                let n = match (c.nth_command, c.count) {
                    (Some(_), _) => 1,
                    (None, Some(count)) => count,
                    (None, None) => 5,
                };
                c.delay_ms.saturating_mul(u64::from(n))
            }
            _ => 0,
        })
        .fold(0, u64::saturating_add)
}

/// The protocol of an algorithm that runs in another process: it has no machines here, and
/// every operation fails at once saying so.
pub struct NotHere;

struct Fails;

impl Machine for Fails {
    fn handle(&mut self, _: std::time::Duration, _: Event) -> Action {
        Action::Done(Outcome::Failed(Failure::Other(
            "an adapter runs in its own process, not here".into(),
        )))
    }
}

impl Protocol for NotHere {
    fn name(&self) -> &'static str {
        "adapter"
    }
    fn acquire(&self, _: redmutex::algo::AcquireParams) -> Box<dyn Machine> {
        Box::new(Fails)
    }
    fn release(&self, _: ReleaseParams) -> Box<dyn Machine> {
        Box::new(Fails)
    }
    fn extend(&self, _: ExtendParams) -> Option<Box<dyn Machine>> {
        Some(Box::new(Fails))
    }
}
