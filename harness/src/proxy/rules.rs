//! Faults as data: which commands a [`Rule`] strikes and what it does to them, the in-band
//! operation marker, and what the proxy records ([`Strike`], [`Counts`]). Pure: no sockets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scenario::{CommandAction, CommandFault, DelayOp, Fault};

/// The prefix of the marker's argument: `ECHO contend:w=2:op=release:n=3`.
pub const MARKER_PREFIX: &str = "contend:";

/// Which way traffic is cut by a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Neither commands nor replies get through.
    Both,
    /// The client's commands do not reach the server; replies already under way still arrive.
    ToServer,
    /// The server runs the commands, but its replies do not reach the client.
    ToClient,
}

impl Direction {
    /// Whether this partition stops traffic going `way`.
    #[must_use]
    pub fn cuts(self, way: Direction) -> bool {
        self == Direction::Both || self == way
    }
}

/// What a rule does to the command it strikes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Hold the command this long before it goes to the server.
    DelayCommand {
        /// Milliseconds.
        ms: u64,
    },
    /// Hold the command's reply this long before it goes to the client (later replies wait too).
    DelayReply {
        /// Milliseconds.
        ms: u64,
    },
    /// Forward the command, swallow its reply and reset the client's connection: the command
    /// ran, the client cannot know it did.
    DropReply,
    /// Do not forward the command; reset the client's connection once the replies to the commands
    /// before it are delivered: the command did not run.
    DropCommand,
    /// From this command on, cut the worker's traffic (every connection of it) one way or both,
    /// without closing anything, until [`super::Proxy::heal`]. Needs a marked connection.
    Partition {
        /// Which way.
        direction: Direction,
    },
}

/// Which commands a rule strikes; every field left `None` matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Match {
    /// The worker id its connection's marker gave.
    pub worker: Option<u32>,
    /// The kind of operation the command is in (`acquire`, `release`, `extend`, …).
    pub op: Option<String>,
    /// The operation's ordinal, as the marker's `n` gave it (1 = the worker's first of its kind).
    pub nth_op: Option<u64>,
    /// The command's ordinal within its operation, 1-based, over all of the worker's
    /// connections. A command outside any operation has none and never matches this.
    pub nth_command: Option<u64>,
    /// The command's name, case-insensitive (`EVALSHA`, `SET`, `BLPOP`).
    pub command: Option<String>,
}

/// One fault: strike the commands that `when` matches with `action`, at most `times` times.
/// (Unknown keys cannot be refused here: serde does not combine that with the flattened action.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Which commands.
    #[serde(default)]
    pub when: Match,
    /// What happens to them.
    #[serde(flatten)]
    pub action: Action,
    /// How many strikes at most; `None` for every matching command.
    #[serde(default)]
    pub times: Option<u32>,
}

impl Rule {
    /// A rule striking every command with `action`; narrow it with the builder methods.
    #[must_use]
    pub fn new(action: Action) -> Rule {
        Rule { when: Match::default(), action, times: None }
    }

    /// Only the commands of worker `id`.
    #[must_use]
    pub fn worker(mut self, id: u32) -> Rule {
        self.when.worker = Some(id);
        self
    }

    /// Only commands inside operations of kind `op`.
    #[must_use]
    pub fn op(mut self, op: &str) -> Rule {
        self.when.op = Some(op.to_ascii_lowercase());
        self
    }

    /// Only commands inside the `n`-th operation (1-based) of its kind.
    #[must_use]
    pub fn nth_op(mut self, n: u64) -> Rule {
        self.when.nth_op = Some(n);
        self
    }

    /// Only the `n`-th command (1-based) of an operation.
    #[must_use]
    pub fn nth_command(mut self, n: u64) -> Rule {
        self.when.nth_command = Some(n);
        self
    }

    /// Only commands named `name`.
    #[must_use]
    pub fn command(mut self, name: &str) -> Rule {
        self.when.command = Some(name.to_ascii_uppercase());
        self
    }

    /// At most `n` strikes.
    #[must_use]
    pub fn times(mut self, n: u32) -> Rule {
        self.times = Some(n);
        self
    }
}

/// The operation a command belongs to, as the connection's last marker said.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct OpRef {
    /// Its kind (`acquire`, `release`, `extend`, …).
    pub op: String,
    /// Its ordinal among the worker's operations of that kind.
    pub n: u64,
}

/// What the proxy knows of one command when it decides whether a rule strikes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommandInfo {
    /// The worker of its connection, once a marker named it.
    pub worker: Option<u32>,
    /// Its operation, if the connection is inside one.
    pub op: Option<OpRef>,
    /// Its ordinal within that operation (1-based).
    pub nth_command: Option<u64>,
    /// Its name, upper case.
    pub command: String,
}

/// Rules with the strikes each has made so far (the proxy's, and the simulator's).
#[derive(Clone, Debug, Default)]
pub struct RuleBook(Vec<(Rule, u32)>);

impl RuleBook {
    /// `rules`, none of which has struck yet.
    #[must_use]
    pub fn new(rules: Vec<Rule>) -> RuleBook {
        RuleBook(rules.into_iter().map(|r| (r, 0)).collect())
    }

    /// Adds a rule after the others.
    pub fn push(&mut self, rule: Rule) {
        self.0.push((rule, 0));
    }

    /// The first rule with strikes left that matches `info`, charged one strike: its index
    /// and action.
    pub fn pick(&mut self, info: &CommandInfo) -> Option<(usize, Action)> {
        let (index, (rule, struck)) =
            self.0.iter_mut().enumerate().find(|(_, (rule, struck))| {
                rule.times.is_none_or(|t| *struck < t)
                && rule.when.matches(info)
                // A partition cuts a worker, so it needs to know whose connection this is.
                && (info.worker.is_some() || !matches!(rule.action, Action::Partition { .. }))
            })?;
        *struck += 1;
        Some((index, rule.action.clone()))
    }
}

impl Strike {
    /// For the history: `DropReply on EVALSHA (command 1 of release #2 of worker slot 0)`.
    #[must_use]
    pub fn describe(&self) -> String {
        let info = &self.info;
        format!(
            "{:?} on {} (command {} of {} of worker slot {})",
            self.action,
            info.command,
            info.nth_command.unwrap_or(0),
            info.op
                .as_ref()
                .map_or_else(|| "no operation".into(), |o| format!("{} #{}", o.op, o.n)),
            info.worker.map_or_else(|| "?".into(), |w| w.to_string()),
        )
    }
}

impl Match {
    /// Whether this matches the command `info` describes.
    #[must_use]
    pub fn matches(&self, info: &CommandInfo) -> bool {
        fn fits<T: PartialEq>(want: Option<&T>, have: Option<&T>) -> bool {
            want.is_none_or(|w| have == Some(w))
        }
        fits(self.worker.as_ref(), info.worker.as_ref())
            && self
                .op
                .as_ref()
                .is_none_or(|o| info.op.as_ref().is_some_and(|h| h.op.eq_ignore_ascii_case(o)))
            && fits(self.nth_op.as_ref(), info.op.as_ref().map(|o| &o.n))
            && fits(self.nth_command.as_ref(), info.nth_command.as_ref())
            && self.command.as_ref().is_none_or(|c| c.eq_ignore_ascii_case(&info.command))
    }
}

/// A fault that struck: when, which command, and what was done to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Strike {
    /// `crate::clock::monotonic_ns` when it struck (for a reply fault: when the reply came back).
    pub time: u64,
    /// The index of the rule in the proxy's rule list at the time.
    pub rule: usize,
    /// The command struck.
    #[serde(flatten)]
    pub info: CommandInfo,
    /// What was done.
    pub action: Action,
}

/// What a marker says about its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The worker.
    pub worker: u32,
    /// The operation it starts, or `None` (`op=idle`, or no `op`) for commands outside any.
    pub op: Option<OpRef>,
}

impl Marker {
    /// Parses a marker argument; `None` when `arg` is not one (it lacks [`MARKER_PREFIX`]),
    /// `Some(Err)` when it is one but malformed.
    #[must_use]
    pub fn parse(arg: &[u8]) -> Option<Result<Marker, String>> {
        let text = std::str::from_utf8(arg).ok()?;
        let fields = text.strip_prefix(MARKER_PREFIX)?;
        Some(Marker::fields(fields).map_err(|e| format!("bad marker `{text}`: {e}")))
    }

    fn fields(fields: &str) -> Result<Marker, String> {
        let (mut worker, mut op, mut n) = (None, None, None);
        for field in fields.split(':') {
            let (key, value) = field.split_once('=').ok_or("fields are key=value")?;
            match key {
                "w" => worker = Some(value.parse().map_err(|_| "w is a worker number")?),
                "op" if value.is_empty()
                    || !value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
                {
                    return Err("op is a word like acquire, release, extend or idle".into());
                }
                "op" => op = Some(value.to_ascii_lowercase()),
                "n" => n = Some(value.parse().map_err(|_| "n is an operation ordinal")?),
                _ => return Err(format!("unknown field `{key}` (use w, op, n)")),
            }
        }
        let worker = worker.ok_or("w=WORKER is required")?;
        let op = match (op.filter(|o| o != "idle"), n) {
            (None, _) => None,
            (Some(op), Some(n)) => Some(OpRef { op, n }),
            (Some(_), None) => return Err("op=KIND needs n=ORDINAL".into()),
        };
        Ok(Marker { worker, op })
    }
}

/// How many commands went through (markers not included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// All commands.
    pub total: u64,
    /// Commands on connections no marker named.
    pub unmarked: u64,
    /// Per worker.
    pub by_worker: BTreeMap<u32, u64>,
    /// Per worker and operation.
    pub by_op: BTreeMap<(u32, OpRef), u64>,
    /// Per command name.
    pub by_command: BTreeMap<String, u64>,
}

impl Counts {
    /// The commands of worker `worker`'s `n`-th `op`.
    #[must_use]
    pub fn op(&self, worker: u32, op: &str, n: u64) -> u64 {
        self.by_op.get(&(worker, OpRef { op: op.into(), n })).copied().unwrap_or(0)
    }

    /// Counts one command of `worker` in `op`; its ordinal within the operation.
    pub(crate) fn add(
        &mut self,
        worker: Option<u32>,
        op: Option<&OpRef>,
        command: &str,
    ) -> Option<u64> {
        self.total += 1;
        *self.by_command.entry(command.to_string()).or_default() += 1;
        let Some(w) = worker else {
            self.unmarked += 1;
            return None;
        };
        *self.by_worker.entry(w).or_default() += 1;
        let in_op = self.by_op.entry((w, op?.clone())).or_default();
        *in_op += 1;
        Some(*in_op)
    }
}

/// The proxy rules of a scenario's command faults, one per worker slot named (or one for all):
/// what a real run's proxy strikes with, and the simulator too.
#[must_use]
pub fn scenario_rules(faults: &[Fault], workers: u32) -> Vec<Rule> {
    let mut rules = Vec::new();
    for f in faults {
        let Fault::Command(c) = f else { continue };
        let slots: Vec<Option<u32>> = match &c.workers {
            Some(w) => w.iter().map(|&s| Some(s)).collect(),
            None => vec![None],
        };
        for slot in slots.into_iter().filter(|s| s.is_none_or(|s| s < workers)) {
            rules.push(rule(c, slot));
        }
    }
    rules
}

fn rule(c: &CommandFault, slot: Option<u32>) -> Rule {
    let action = match c.action {
        CommandAction::DropReply => Action::DropReply,
        CommandAction::DropCommand => Action::DropCommand,
        CommandAction::DelayCommand => Action::DelayCommand { ms: c.delay_ms },
        CommandAction::DelayReply => Action::DelayReply { ms: c.delay_ms },
    };
    let mut rule = Rule::new(action).op(match c.op {
        DelayOp::Acquire => "acquire",
        DelayOp::Release => "release",
    });
    rule.when.worker = slot;
    rule.when.nth_op = c.nth_op;
    rule.when.nth_command = c.nth_command;
    rule.times = c.count;
    rule
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(worker: u32, op: &str, n: u64, nth: u64, command: &str) -> CommandInfo {
        CommandInfo {
            worker: Some(worker),
            op: Some(OpRef { op: op.into(), n }),
            nth_command: Some(nth),
            command: command.into(),
        }
    }

    #[test]
    fn markers_parse_and_bad_ones_say_why() {
        let m = Marker::parse(b"contend:w=2:op=release:n=3").unwrap().unwrap();
        assert_eq!(m, Marker { worker: 2, op: Some(OpRef { op: "release".into(), n: 3 }) });
        assert_eq!(Marker::parse(b"contend:w=7").unwrap().unwrap().op, None);
        assert_eq!(Marker::parse(b"contend:w=7:op=idle").unwrap().unwrap().op, None);
        assert_eq!(Marker::parse(b"hello"), None);
        let err = Marker::parse(b"contend:w=1:op=acquire").unwrap().unwrap_err();
        assert!(err.contains("needs n="), "{err}");
        assert!(Marker::parse(b"contend:op=acquire:n=1").unwrap().is_err());
        assert!(Marker::parse(b"contend:w=1:x=2").unwrap().is_err());
    }

    #[test]
    fn a_rule_matches_only_the_command_it_names() {
        let rule = Rule::new(Action::DropReply).worker(2).op("release").nth_op(3).nth_command(1);
        assert!(rule.when.matches(&info(2, "release", 3, 1, "EVALSHA")));
        assert!(!rule.when.matches(&info(1, "release", 3, 1, "EVALSHA")));
        assert!(!rule.when.matches(&info(2, "acquire", 3, 1, "EVALSHA")));
        assert!(!rule.when.matches(&info(2, "release", 2, 1, "EVALSHA")));
        assert!(!rule.when.matches(&info(2, "release", 3, 2, "EVALSHA")));
        let outside =
            CommandInfo { worker: Some(2), op: None, nth_command: None, command: "GET".into() };
        assert!(!rule.when.matches(&outside));
        assert!(Rule::new(Action::DropReply).command("get").when.matches(&outside));
    }

    #[test]
    fn rules_read_from_scenario_data() {
        let rule: Rule = toml::from_str(
            "action = 'delay-command'\nms = 700\n[when]\nop = 'release'\nnth_command = 2\n",
        )
        .unwrap();
        assert_eq!(rule, Rule::new(Action::DelayCommand { ms: 700 }).op("release").nth_command(2));
        let part: Rule =
            toml::from_str("action = 'partition'\ndirection = 'to-client'\ntimes = 1\n").unwrap();
        assert_eq!(part.action, Action::Partition { direction: Direction::ToClient });
    }

    #[test]
    fn counts_number_commands_within_an_operation() {
        let mut counts = Counts::default();
        let op = OpRef { op: "acquire".into(), n: 1 };
        assert_eq!(counts.add(Some(1), Some(&op), "SET"), Some(1));
        assert_eq!(counts.add(Some(1), Some(&op), "GET"), Some(2));
        assert_eq!(counts.add(Some(1), None, "GET"), None);
        assert_eq!(counts.add(None, None, "PING"), None);
        assert_eq!((counts.total, counts.unmarked, counts.op(1, "acquire", 1)), (4, 1, 2));
    }
}
