//! The scenario file's parser: raw TOML types, checked into the typed scenario.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use anyhow::bail;
use serde::Deserialize;
use toml::Spanned;

use super::fault::{MAX_FAULT_MS, MAX_SERVERS, MAX_SKEW_MS, ServerSet};
use super::{
    CancelAcquire, ClockSkew, CommandAction, CommandFault, Crash, DelayOp, Expectations, Fault,
    GateOverride, Hold, HolderFault, LockSettings, Outage, Scenario, ServerSettings, StepDelay,
    Window,
};

impl Scenario {
    /// Parses scenario text; `path` names it in errors and gives the default name.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Scenario> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or_else(String::new, |s| position(text, &s));
            let message = e.message().trim_end();
            // The parser names the duplicate key by its place only: name it too.
            let key = e
                .span()
                .and_then(|s| text.get(s))
                .map(str::trim)
                .filter(|k| message == "duplicate key" && !k.is_empty() && k.len() < 80);
            match key {
                Some(key) => anyhow::anyhow!("{}{at}: duplicate key `{key}`", path.display()),
                None => anyhow::anyhow!("{}{at}: {message}", path.display()),
            }
        })?;
        let at = |span: &Range<usize>| format!("{}{}", path.display(), position(text, span));
        let stem = path
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
        let lock = raw.lock.unwrap_or(LockSettings {
            ttl_ms: default_ttl(),
            wait_ms: default_ttl(),
            drift_ms: None,
            replicas: None,
            replicas_timeout_ms: None,
            server_timeout_ms: None,
        });
        if lock.ttl_ms == 0 {
            bail!("{}: [lock] ttl_ms must be positive", path.display());
        }
        let hold = match raw.section.and_then(|s| s.hold) {
            None => Hold::None,
            Some(h) => {
                h.get_ref().to_hold().map_err(|m| anyhow::anyhow!("{}: {m}", at(&h.span())))?
            }
        };
        let server: ServerSettings = raw.server.unwrap_or_default();
        let faults = raw
            .faults
            .into_iter()
            .map(|f| {
                let span = f.kind.span();
                let fault = f.into_fault().map_err(|m| anyhow::anyhow!("{}: {m}", at(&span)))?;
                match fault.replicas_problem(server.replicas) {
                    Some(m) => Err(anyhow::anyhow!("{}: {m}", at(&span))),
                    None => Ok(fault),
                }
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let scenario = Scenario {
            name: raw.name.unwrap_or(stem),
            description: raw.description.unwrap_or_default(),
            path: path.to_path_buf(),
            workers: raw.workers.unwrap_or(4),
            iterations: raw.iterations.unwrap_or(10),
            seed: raw.seed.unwrap_or(1),
            max_duration_ms: raw.max_duration_ms.unwrap_or(120_000),
            lock,
            hold,
            slack_ms: raw.liveness.as_ref().and_then(|l| l.slack_ms).unwrap_or(1000),
            give_up_after: raw
                .liveness
                .as_ref()
                .and_then(|l| l.give_up_after)
                .unwrap_or(super::settings::GIVE_UP_AFTER),
            faults,
            expect: raw.expect,
            specimen_scale: raw.specimen_scale.unwrap_or(1.0),
            server,
            gate: raw.gate.unwrap_or_default(),
        };
        if let Some(problem) = scenario.problem() {
            bail!("{}: {problem}", path.display());
        }
        if let Some(problem) = scenario.clone().for_gate().problem() {
            bail!("{}: in the gate's settings ([gate]): {problem}", path.display());
        }
        Ok(scenario)
    }
}

/// `:line:column` of a byte offset (both from 1).
fn position(text: &str, span: &Range<usize>) -> String {
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(":{line}:{column}")
}

pub(super) fn default_ttl() -> u64 {
    10_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Option<String>,
    description: Option<String>,
    workers: Option<u32>,
    iterations: Option<u32>,
    seed: Option<u64>,
    max_duration_ms: Option<u64>,
    specimen_scale: Option<f64>,
    lock: Option<LockSettings>,
    section: Option<RawSection>,
    liveness: Option<RawLiveness>,
    server: Option<ServerSettings>,
    #[serde(default)]
    faults: Vec<RawFault>,
    #[serde(default)]
    expect: BTreeMap<String, Expectations>,
    gate: Option<GateOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    hold: Option<Spanned<RawHold>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLiveness {
    slack_ms: Option<u64>,
    give_up_after: Option<u32>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Distribution {
    None,
    Fixed,
    Uniform,
    Exponential,
    Lease,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHold {
    distribution: Distribution,
    ms: Option<u64>,
    min_ms: Option<u64>,
    max_ms: Option<u64>,
    mean_ms: Option<u64>,
    margin_ms: Option<u64>,
}

impl RawHold {
    fn to_hold(&self) -> Result<Hold, String> {
        let h = self;
        let fields = [
            ("ms", h.ms.is_some()),
            ("min_ms", h.min_ms.is_some()),
            ("max_ms", h.max_ms.is_some()),
            ("mean_ms", h.mean_ms.is_some()),
            ("margin_ms", h.margin_ms.is_some()),
        ];
        let (hold, allowed): (Option<Hold>, &[&str]) = match h.distribution {
            Distribution::None => (Some(Hold::None), &[]),
            Distribution::Fixed => (h.ms.map(|ms| Hold::Fixed { ms }), &["ms"]),
            Distribution::Uniform => match (h.min_ms, h.max_ms) {
                (Some(min_ms), Some(max_ms)) if min_ms <= max_ms => {
                    (Some(Hold::Uniform { min_ms, max_ms }), &["min_ms", "max_ms"])
                }
                (Some(_), Some(_)) => {
                    return Err("section.hold: min_ms must not exceed max_ms".into());
                }
                _ => (None, &["min_ms", "max_ms"]),
            },
            Distribution::Exponential => {
                (h.mean_ms.map(|mean_ms| Hold::Exponential { mean_ms }), &["mean_ms"])
            }
            Distribution::Lease => {
                (Some(Hold::Lease { margin_ms: h.margin_ms.unwrap_or(0) }), &["margin_ms"])
            }
        };
        if let Some((key, _)) = fields.iter().find(|(k, set)| *set && !allowed.contains(k)) {
            return Err(format!(
                "section.hold: key `{key}` does not apply to this distribution (it takes: {})",
                allowed.join(", ")
            ));
        }
        hold.ok_or_else(|| {
            let missing: Vec<&str> = allowed
                .iter()
                .copied()
                .filter(|k| fields.iter().any(|(f, set)| f == k && !set))
                .collect();
            format!("section.hold: this distribution also needs: {}", missing.join(", "))
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawKind {
    KillHolder,
    PauseHolder,
    StepDelay,
    ClockSkew,
    RestartServer,
    SlowServer,
    PartitionHolder,
    Command,
    ServerClockJump,
    CancelAcquire,
    Failover,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: Spanned<RawKind>,
    #[serde(default)]
    start_ms: u64,
    stop_ms: Option<u64>,
    every_ms: Option<u64>,
    after_acquire_ms: Option<u64>,
    count: Option<u32>,
    pause_ms: Option<u64>,
    op: Option<DelayOp>,
    step: Option<usize>,
    delay_ms: Option<u64>,
    every: Option<u32>,
    offset_ms: Option<i64>,
    workers: Option<Vec<u32>>,
    crash: Option<Crash>,
    downtime_ms: Option<u64>,
    action: Option<CommandAction>,
    nth_op: Option<u64>,
    nth_command: Option<u64>,
    jump_s: Option<i64>,
    jump_ms: Option<i64>,
    percent: Option<u32>,
    min_after_ms: Option<u64>,
    max_after_ms: Option<u64>,
    outage: Option<RawOutage>,
    servers: Option<Vec<u32>>,
}

/// How a `failover` takes the primary away.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawOutage {
    Partition,
    Kill,
}

impl RawFault {
    fn into_fault(self) -> Result<Fault, String> {
        let kind = *self.kind.get_ref();
        let set = [
            ("every_ms", self.every_ms.is_some()),
            ("after_acquire_ms", self.after_acquire_ms.is_some()),
            ("count", self.count.is_some()),
            ("pause_ms", self.pause_ms.is_some()),
            ("op", self.op.is_some()),
            ("step", self.step.is_some()),
            ("delay_ms", self.delay_ms.is_some()),
            ("every", self.every.is_some()),
            ("offset_ms", self.offset_ms.is_some()),
            ("workers", self.workers.is_some()),
            ("crash", self.crash.is_some()),
            ("downtime_ms", self.downtime_ms.is_some()),
            ("action", self.action.is_some()),
            ("nth_op", self.nth_op.is_some()),
            ("nth_command", self.nth_command.is_some()),
            ("jump_s", self.jump_s.is_some()),
            ("jump_ms", self.jump_ms.is_some()),
            ("percent", self.percent.is_some()),
            ("min_after_ms", self.min_after_ms.is_some()),
            ("max_after_ms", self.max_after_ms.is_some()),
            ("outage", self.outage.is_some()),
            ("servers", self.servers.is_some()),
        ];
        let (name, allowed): (&str, &[&str]) = match kind {
            RawKind::KillHolder => ("kill-holder", &["every_ms", "after_acquire_ms", "count"]),
            RawKind::PauseHolder => {
                ("pause-holder", &["every_ms", "after_acquire_ms", "count", "pause_ms"])
            }
            RawKind::StepDelay => ("step-delay", &["op", "step", "delay_ms", "every", "workers"]),
            RawKind::ClockSkew => ("clock-skew", &["offset_ms", "workers"]),
            RawKind::RestartServer => (
                "restart-server",
                &["every_ms", "after_acquire_ms", "count", "crash", "downtime_ms", "servers"],
            ),
            RawKind::SlowServer => {
                ("slow-server", &["every_ms", "after_acquire_ms", "count", "pause_ms", "servers"])
            }
            RawKind::PartitionHolder => {
                let keys = &["every_ms", "after_acquire_ms", "count", "pause_ms", "servers"];
                ("partition-holder", keys)
            }
            RawKind::CancelAcquire => {
                ("cancel-acquire", &["percent", "min_after_ms", "max_after_ms", "workers"])
            }
            RawKind::ServerClockJump => (
                "server-clock-jump",
                &["every_ms", "after_acquire_ms", "count", "jump_s", "jump_ms", "servers"],
            ),
            RawKind::Failover => ("failover", &["every_ms", "after_acquire_ms", "count", "outage"]),
            RawKind::Command => (
                "command",
                &[
                    "action",
                    "op",
                    "nth_op",
                    "nth_command",
                    "delay_ms",
                    "workers",
                    "count",
                    "servers",
                ],
            ),
        };
        if let Some((key, _)) = set.iter().find(|(k, on)| *on && !allowed.contains(k)) {
            return Err(format!(
                "fault `{name}`: key `{key}` does not apply (it takes start_ms, stop_ms, {})",
                allowed.join(", ")
            ));
        }
        let window = Window { start_ms: self.start_ms, stop_ms: self.stop_ms };
        if window.stop_ms.is_some_and(|s| s <= window.start_ms) {
            return Err(format!("fault `{name}`: stop_ms must be after start_ms"));
        }
        let need = |key: &str| format!("fault `{name}` needs `{key}`");
        let bad = |what: &str| Err(format!("fault `{name}`: {what}"));
        if self.workers.as_ref().is_some_and(Vec::is_empty) {
            return bad("workers = [] names no worker (leave `workers` out for all of them)");
        }
        if self.every == Some(0) {
            return bad("every must be at least 1 (1: every operation)");
        }
        if self.every_ms == Some(0) {
            return bad("every_ms must be at least 1");
        }
        if self.count == Some(0) {
            return bad("count must be at least 1 (leave it out for no limit)");
        }
        if self.nth_op == Some(0) || self.nth_command == Some(0) {
            return bad("nth_op and nth_command count from 1");
        }
        for (key, value) in [
            ("pause_ms", self.pause_ms),
            ("delay_ms", self.delay_ms),
            ("downtime_ms", self.downtime_ms),
        ] {
            if value.is_some_and(|v| v > MAX_FAULT_MS) {
                return bad(&format!("{key} must be at most {MAX_FAULT_MS} (an hour)"));
            }
        }
        if self.offset_ms.is_some_and(|v| v.unsigned_abs() > MAX_SKEW_MS) {
            return bad(&format!("offset_ms must be within ±{MAX_SKEW_MS} (a day)"));
        }
        let servers = match &self.servers {
            None => ServerSet::ALL,
            Some(list) if list.is_empty() => {
                return bad("servers = [] names no server (leave `servers` out for all of them)");
            }
            Some(list) => ServerSet::of(list).ok_or_else(|| {
                format!(
                    "fault `{name}`: servers counts lock servers from 0, and a scenario has at most {MAX_SERVERS}"
                )
            })?,
        };
        let strike = HolderFault {
            window,
            every_ms: self.every_ms,
            after_acquire_ms: self.after_acquire_ms.unwrap_or(0),
            count: self.count,
            servers,
        };
        Ok(match kind {
            RawKind::KillHolder => Fault::KillHolder(strike),
            RawKind::PauseHolder => Fault::PauseHolder {
                strike,
                pause_ms: self.pause_ms.ok_or_else(|| need("pause_ms"))?,
            },
            RawKind::StepDelay => Fault::StepDelay(StepDelay {
                window,
                op: self.op.ok_or_else(|| need("op"))?,
                step: self.step.ok_or_else(|| need("step"))?,
                delay_ms: self.delay_ms.ok_or_else(|| need("delay_ms"))?,
                workers: self.workers,
                every: self.every.unwrap_or(1),
            }),
            RawKind::ClockSkew => Fault::ClockSkew(ClockSkew {
                window,
                offset_ms: self.offset_ms.ok_or_else(|| need("offset_ms"))?,
                workers: self.workers,
            }),
            RawKind::RestartServer => Fault::RestartServer {
                strike,
                crash: self.crash.unwrap_or(Crash::Sigkill),
                downtime_ms: self.downtime_ms.unwrap_or(0),
            },
            RawKind::SlowServer => Fault::SlowServer {
                strike,
                pause_ms: self.pause_ms.ok_or_else(|| need("pause_ms"))?,
            },
            RawKind::PartitionHolder => Fault::PartitionHolder {
                strike,
                pause_ms: self.pause_ms.ok_or_else(|| need("pause_ms"))?,
            },
            RawKind::CancelAcquire => {
                let percent = self.percent.unwrap_or(100);
                let max_after_ms = self.max_after_ms.ok_or_else(|| need("max_after_ms"))?;
                let min_after_ms = self.min_after_ms.unwrap_or(0);
                if !(1..=100).contains(&percent) {
                    return bad("percent must be 1 to 100 (the share of acquires dropped)");
                }
                if min_after_ms > max_after_ms || max_after_ms > MAX_FAULT_MS {
                    return bad("min_after_ms must not exceed max_after_ms, at most an hour");
                }
                Fault::CancelAcquire(CancelAcquire {
                    window,
                    percent,
                    min_after_ms,
                    max_after_ms,
                    workers: self.workers,
                })
            }
            RawKind::ServerClockJump => {
                let jump_ms = match (self.jump_s, self.jump_ms) {
                    (Some(s), None) => s.saturating_mul(1000),
                    (None, Some(ms)) => ms,
                    (None, None) => return Err(need("jump_s` or `jump_ms")),
                    (Some(_), Some(_)) => {
                        return bad("give the step as jump_s or jump_ms, not both");
                    }
                };
                if jump_ms == 0 || jump_ms.unsigned_abs() > MAX_SKEW_MS {
                    return bad("the step must be at least 1 ms and at most a day");
                }
                Fault::ServerClockJump { strike, jump_ms }
            }
            RawKind::Failover => Fault::Failover {
                strike,
                outage: match self.outage.unwrap_or(RawOutage::Partition) {
                    RawOutage::Partition => Outage::Partition,
                    RawOutage::Kill => Outage::Kill,
                },
            },
            RawKind::Command => {
                let action = self.action.ok_or_else(|| need("action"))?;
                let delays =
                    matches!(action, CommandAction::DelayCommand | CommandAction::DelayReply);
                if delays != self.delay_ms.is_some() {
                    return bad(if delays {
                        "a delay needs `delay_ms`"
                    } else {
                        "`delay_ms` goes with action delay-command or delay-reply"
                    });
                }
                if self.stop_ms.is_some() || self.start_ms != 0 {
                    return bad("a command fault has no window: name the operation with op, \
                                nth_op and nth_command instead of start_ms/stop_ms");
                }
                Fault::Command(CommandFault {
                    action,
                    delay_ms: self.delay_ms.unwrap_or(0),
                    op: self.op.ok_or_else(|| need("op"))?,
                    nth_op: self.nth_op,
                    nth_command: self.nth_command,
                    workers: self.workers,
                    count: self.count,
                    servers,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ClientSettings, Expect};

    fn parse(text: &str) -> anyhow::Result<Scenario> {
        Scenario::parse(text, Path::new("s.toml"))
    }

    #[test]
    fn faults_describe_themselves_in_plain_words() {
        let s = parse(
            "workers = 3\n[[faults]]\nkind = \"step-delay\"\nop = \"release\"\nstep = 1\n\
             delay_ms = 700\nworkers = [0, 2]\nevery = 3\n\
             [[faults]]\nkind = \"clock-skew\"\noffset_ms = -40\n",
        )
        .unwrap();
        let described: Vec<String> = s
            .faults
            .iter()
            .map(|f| match f {
                Fault::StepDelay(d) => d.describe(),
                Fault::ClockSkew(c) => c.describe(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            described,
            ["release step 1 +700 ms, worker slots 0, 2, one time in 3", "-40 ms, all workers"]
        );
    }

    #[test]
    fn an_unknown_key_names_file_line_column_and_key() {
        let err = parse("workers = 2\n[lock]\nttl_ms = 1000\nttl = 5\n").unwrap_err().to_string();
        assert!(err.starts_with("s.toml:4:1:"), "{err}");
        assert!(err.contains("unknown field `ttl`"), "{err}");
    }

    #[test]
    fn a_fault_setting_of_another_kind_is_refused_with_its_line() {
        let err =
            parse("[[faults]]\nkind = \"kill-holder\"\npause_ms = 5\n").unwrap_err().to_string();
        assert!(err.starts_with("s.toml:2:8:") && err.contains("`pause_ms`"), "{err}");
    }

    #[test]
    fn replicas_wait_and_failovers_are_checked_before_anything_starts() {
        let failover = "[[faults]]\nkind = \"failover\"\n";
        let s =
            parse(&format!("[server]\nreplicas = 1\n[lock]\nreplicas = 1\n{failover}")).unwrap();
        assert_eq!(s.server.replicas, 1);
        assert!(
            matches!(s.faults[0], Fault::Failover { outage: Outage::Partition, .. }),
            "partition is the default outage"
        );
        assert_eq!(ClientSettings::of(&s).replicas, Some((1, 100)), "WAIT 1, 100 ms by default");
        let refused = |text: &str, says: &str| {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text:?}: {err}");
        };
        refused(
            failover,
            "s.toml:2:8: fault `failover` needs replicas to promote: set [server] replicas",
        );
        refused(
            &format!("[server]\nreplicas = 1\n{failover}outage = \"kill\"\ncount = 2\n"),
            "at most 1 failovers",
        );
        refused(
            &format!("[server]\nreplicas = 2\n{failover}outage = \"kill\"\n"),
            "set count to at most 2",
        );
        refused("[server]\nreplicas = 1\n[lock]\nreplicas = 2\n", "every acquire would fail");
        refused("[lock]\nreplicas = 0\n", "waits for nothing");
        refused("[lock]\nreplicas_timeout_ms = 5\n", "goes with [lock] replicas");
        refused(
            "[lock]\nttl_ms = 1000\nreplicas = 1\nreplicas_timeout_ms = 1000\n",
            "below ttl_ms",
        );
        refused(
            "[server]\nreplicas = 1\n[[faults]]\nkind = \"slow-server\"\npause_ms = 5\n",
            "fault `slow-server` strikes a lone lock server",
        );
        refused("[server]\nreplicas = 1\npersistence = \"rdb\"\n", "not with replicas");
        refused("[server]\nreplicas = 9\n", "at most 4");
        refused(&format!("{failover}outage = \"sleep\"\n"), "unknown variant `sleep`");
        refused(&format!("{failover}pause_ms = 5\n"), "`pause_ms` does not apply");
        refused("[liveness]\ngive_up_after = 0\n", "give_up_after must be 1 to 100");
    }

    #[test]
    fn independent_servers_and_the_faults_that_name_them_are_checked() {
        let text = "[server]\ncount = 3\n[lock]\nserver_timeout_ms = 200\n[[faults]]\n\
                    kind = \"restart-server\"\nservers = [0, 2]\ndowntime_ms = 5000\n\
                    [[faults]]\nkind = \"command\"\naction = \"drop-reply\"\nop = \"acquire\"\n\
                    servers = [1]\n";
        let s = parse(text).unwrap();
        assert_eq!(s.server.count, 3);
        let c = ClientSettings::of(&s);
        assert_eq!((c.servers, c.server_timeout_ms), (3, 200));
        let restart = s.faults[0].servers().unwrap();
        assert_eq!(restart.among(3), vec![0, 2]);
        assert_eq!(s.faults[1].servers().unwrap().among(3), vec![1]);
        let lone = parse("[[faults]]\nkind = \"slow-server\"\npause_ms = 5\n").unwrap();
        assert!(lone.faults[0].servers().unwrap().is_all(), "every server by default");
        assert_eq!(lone.server.count, 1);
        assert_eq!(ClientSettings::of(&lone).server_timeout_ms, 50, "redmutex's default");
        let refused = |text: &str, says: &str| {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text:?}: {err}");
        };
        let slow = "[[faults]]\nkind = \"slow-server\"\npause_ms = 5\n";
        refused(&format!("{slow}servers = [1]\n"), "lock server 1 does not exist");
        refused(&format!("[server]\ncount = 3\n{slow}servers = [3]\n"), "servers are 0 to 2");
        refused(&format!("{slow}servers = []\n"), "names no server");
        refused(&format!("{slow}servers = [40]\n"), "at most 9");
        refused("[[faults]]\nkind = \"kill-holder\"\nservers = [0]\n", "`servers` does not apply");
        refused("[server]\ncount = 0\n", "count must be 1 to 9");
        let jump = "[[faults]]\nkind = \"server-clock-jump\"\n";
        let ms = parse(&format!("{jump}jump_ms = 60\n")).unwrap();
        assert!(matches!(ms.faults[0], Fault::ServerClockJump { jump_ms: 60, .. }));
        let s = parse(&format!("{jump}jump_s = -2\n")).unwrap();
        assert!(matches!(s.faults[0], Fault::ServerClockJump { jump_ms: -2000, .. }));
        refused(&format!("{jump}jump_s = 1\njump_ms = 5\n"), "not both");
        refused(jump, "needs `jump_s` or `jump_ms`");
        refused(&format!("{jump}jump_ms = 0\n"), "at least 1 ms");
        refused("[server]\ncount = 3\nreplicas = 1\n", "do not go together");
        refused("[lock]\nttl_ms = 100\nserver_timeout_ms = 100\n", "less than ttl_ms");
    }

    #[test]
    fn a_full_scenario_parses_into_types() {
        let s = parse(
            r#"
workers = 3
[lock]
ttl_ms = 1000
wait_ms = 3000
[section]
hold = { distribution = "uniform", min_ms = 1, max_ms = 5 }
[[faults]]
kind = "step-delay"
op = "release"
step = 1
delay_ms = 1500
workers = [0]
[expect.token]
mutual-exclusion = "valid"
fencing = "unknown"
[gate]
workers = 2
"#,
        )
        .unwrap();
        assert_eq!(s.name, "s");
        assert_eq!(s.hold, Hold::Uniform { min_ms: 1, max_ms: 5 });
        assert!(
            matches!(&s.faults[0], Fault::StepDelay(d) if d.step == 1 && d.op == DelayOp::Release)
        );
        assert_eq!(
            s.expect["token"].get(crate::check::CheckerKind::MutualExclusion),
            Some(Expect::Valid)
        );
        assert_eq!(s.for_gate().workers, 2);
    }
}
