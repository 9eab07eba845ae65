//! The model of Redis (`redmutex::sim`) against a real `redis-server`: proptest generates random
//! command sequences (the reference scripts included) over a small key space, with short sleeps
//! and restarts, and every reply of the model must equal the server's.
//!
//! Time: the test reads the server's clock (`TIME`) right before and right after each command,
//! in one pipeline, and runs the model at the first of those instants. The one tolerance is on
//! that clock: a reply also counts as equal if the model gives it at an instant from 2 ms
//! before the first reading to 2 ms after the second (the command runs between the readings,
//! SET's expiry reads a fresh clock, and the readings may straddle a millisecond; a server
//! descheduled between them widens the window). Script errors are compared by their code (the
//! first word): Redis appends the script's SHA and line, which a model face cannot know. And
//! the `PTTL` a notify-acquire script answers may differ by 2 ms too: inside a script Redis
//! reads a fresh clock for each command, while the model runs a script at one instant.
//!
//! Budget: `REDMUTEX_MODEL_DIFF_CASES` sequences per test (default 64; `just model-diff` runs
//! 10,000). A mismatch fails the test and prints the shrunk sequence in Redis syntax.

use std::cell::RefCell;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use redmutex::driver::encode;
use redmutex::proto::{Bytes, Command, Expiry, Reply, Script, SetCond};
use redmutex::scripts;
use redmutex::sim::{ClientId, Model, Persistence, Step};
use redmutex::testing::RedisServer;

const KEYS: [&str; 4] = ["a", "b", "c", "q"];
const VALUES: [&str; 11] =
    ["x", "y", "tok1", "tok2", "1", "2", "10", "-3", "007", "+1", "9223372036854775807"];
const CHANNELS: [&str; 2] = ["ch1", "ch2"];
/// The channel the test's second connection subscribes to.
const SUBSCRIBED: &str = "ch1";
const ME: ClientId = ClientId(1);
const SUBSCRIBER: ClientId = ClientId(2);
/// How far (ms) from the server's clock the model may be to produce an equal reply.
const CLOCK_TOLERANCE_MS: i64 = 2;

#[test]
fn model_replies_equal_redis_replies() {
    let cases = budget();
    let found = differential(Persistence::None, cases, |c| c.clone());
    if let Err(failure) = found {
        panic!("the model differs from redis-server:\n{failure}");
    }
}

#[test]
fn model_replies_equal_redis_replies_across_restarts_with_aof() {
    let cases = (budget() / 4).max(8);
    let found = differential(Persistence::Aof, cases, |c| c.clone());
    if let Err(failure) = found {
        panic!("the model differs from redis-server:\n{failure}");
    }
}

/// A persistence mode the model does not have: an RDB-only server restarted right after a
/// `SAVE` keeps what the model's `Aof` keeps.
///
/// `aof-everysec` is not here, and the model does not claim it: this test, run with it, found
/// that a process crash can lose writes the server had acknowledged (`INCR a`, `DECR a`,
/// SIGKILL, and the `DECR` was gone): while a background fsync is still running, Redis
/// postpones writing the AOF buffer for up to 2 s but sends the replies anyway.
#[test]
fn model_replies_equal_redis_replies_across_restarts_with_rdb() {
    // Each sequence restarts the server once, after commands that may leave live keys.
    let cases = (budget() / 4).max(16);
    let found = differential_in(Mode::RdbSaved, cases, |c| c.clone());
    if let Err(failure) = found {
        panic!("the model differs from redis-server:\n{failure}");
    }
}

/// How the real server keeps its data across the sequences' restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// As the model's [`Persistence`] says (`None`, or `Aof`: appendfsync always).
    Model(Persistence),
    /// RDB only, with a `SAVE` just before each restart.
    RdbSaved,
}

impl Mode {
    /// What the model keeps.
    fn model(self) -> Persistence {
        match self {
            Mode::Model(p) => p,
            Mode::RdbSaved => Persistence::Aof,
        }
    }
}

/// The test can fail: a model that rounds `PX` up to whole seconds must be caught.
#[test]
fn a_model_that_rounds_px_to_seconds_is_caught() {
    let broken = |c: &Command| match c {
        Command::Set { key, value, cond, expiry: Some(Expiry::Px(ms)), get } => Command::Set {
            key: key.clone(),
            value: value.clone(),
            cond: *cond,
            expiry: Some(Expiry::Px(ms.div_ceil(1000) * 1000)),
            get: *get,
        },
        other => other.clone(),
    };
    let found = differential(Persistence::None, 256, broken);
    let Err(failure) = found else { panic!("256 sequences did not notice PX rounded to seconds") };
    eprintln!("caught, as it should be:\n{failure}");
}

fn budget() -> u32 {
    std::env::var("REDMUTEX_MODEL_DIFF_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

/// Runs `cases` random sequences against a fresh server and the model (whose commands first go
/// through `distort`, to prove the test notices a wrong model). `Err` holds the shrunk failure.
fn differential(
    persistence: Persistence,
    cases: u32,
    distort: impl Fn(&Command) -> Command,
) -> Result<(), String> {
    differential_in(Mode::Model(persistence), cases, distort)
}

/// As [`differential`], with the real server keeping its data as `mode` says.
fn differential_in(
    mode: Mode,
    cases: u32,
    distort: impl Fn(&Command) -> Command,
) -> Result<(), String> {
    let persistence = mode.model();
    let builder = match mode {
        Mode::Model(p) => RedisServer::builder().persistence(p == Persistence::Aof),
        Mode::RdbSaved => RedisServer::builder(),
    };
    let server = builder.start().expect("start redis-server (apt-get install redis-server)");
    let mut real = Real::connect(server).expect("connect to our redis-server");
    real.save_first = mode == Mode::RdbSaved;
    let real = RefCell::new(real);
    let config =
        Config { cases, failure_persistence: None, max_shrink_iters: 2_000, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let stats = RefCell::new(Stats::default());
    // The modes the model has not got are about what a restart keeps: every sequence has one.
    let sequences = if matches!(mode, Mode::Model(_)) {
        prop::collection::vec(op(), 1..40).boxed()
    } else {
        (prop::collection::vec(op(), 1..20), prop::collection::vec(op(), 1..20))
            .prop_map(|(mut before, after)| {
                before.push(Op::Restart);
                before.extend(after);
                before
            })
            .boxed()
    };
    let result = runner.run(&sequences, |ops| {
        let mut real = real.borrow_mut();
        real.reset().map_err(|e| TestCaseError::fail(format!("reset: {e}")))?;
        let outcome = check(&mut real, persistence, &ops, &distort);
        if let Ok(s) = &outcome {
            stats.borrow_mut().add(s);
        }
        outcome.map(|_| ())
    });
    eprintln!("{mode:?}: {cases} cases, {:?}", stats.borrow());
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, ops)) => {
            Err(format!("{reason}\nshrunk sequence:\n{}", Listing(&ops)))
        }
        Err(TestError::Abort(reason)) => Err(format!("aborted: {reason}")),
    }
}

/// Figures of passing sequences.
#[derive(Debug, Default)]
struct Stats {
    commands: u64,
    /// Replies equal only at another instant than the first clock reading.
    tolerated: u64,
    /// Error replies (equal on both sides).
    errors: u64,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.commands += other.commands;
        self.tolerated += other.tolerated;
        self.errors += other.errors;
    }
}

/// One step of a sequence.
#[derive(Clone)]
enum Op {
    Run(Command),
    Sleep(u64),
    Restart,
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Sleep(ms) => write!(f, "sleep {ms}ms"),
            Op::Restart => f.write_str("RESTART"),
            Op::Run(Command::Eval { script, keys, args }) => {
                write!(f, "EVAL {} {}", script.name, keys.len())?;
                keys.iter()
                    .chain(args)
                    .try_for_each(|a| write!(f, " {}", String::from_utf8_lossy(a)))
            }
            Op::Run(command) => {
                let packed = encode(command);
                let mut words = packed.args_iter().map(|arg| match arg {
                    redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                    _ => "<arg>".into(),
                });
                f.write_str(&words.next().unwrap_or_default())?;
                words.try_for_each(|w| write!(f, " {w}"))
            }
        }
    }
}

/// A sequence, one step a line.
struct Listing<'a>(&'a [Op]);

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().enumerate().try_for_each(|(i, op)| writeln!(f, "  {i:>2}: {op:?}"))
    }
}

fn bytes(s: &str) -> Bytes {
    s.as_bytes().to_vec()
}

fn key() -> impl Strategy<Value = Bytes> {
    select(&KEYS[..]).prop_map(bytes)
}

fn value() -> impl Strategy<Value = Bytes> {
    select(&VALUES[..]).prop_map(bytes)
}

/// A ttl in ms: mostly short enough to expire inside a sequence, sometimes around a second
/// (for TTL's rounding), rarely zero (an error).
fn ttl_ms() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 1..150u64, 2 => 400..2600u64, 1 => Just(0u64)]
}

fn ttl_arg() -> impl Strategy<Value = Bytes> {
    ttl_ms().prop_map(|ms| ms.to_string().into_bytes())
}

fn eval(script: &'static Script, keys: Vec<Bytes>, args: Vec<Bytes>) -> Command {
    Command::Eval { script, keys, args }
}

fn script() -> impl Strategy<Value = Command> {
    let keys = |n: usize| prop::collection::vec(key(), n);
    let fence = prop_oneof![value(), (0..12u64).prop_map(|n| n.to_string().into_bytes())];
    prop_oneof![
        (key(), value()).prop_map(|(k, t)| eval(&scripts::RELEASE, vec![k], vec![t])),
        (key(), value(), ttl_arg()).prop_map(|(k, t, ms)| eval(
            &scripts::EXTEND,
            vec![k],
            vec![t, ms]
        )),
        (keys(2), value(), ttl_arg()).prop_map(|(k, t, ms)| eval(
            &scripts::FENCED_ACQUIRE,
            k,
            vec![t, ms]
        )),
        (keys(2), fence.clone(), value()).prop_map(|(k, f, v)| eval(
            &scripts::FENCED_WRITE,
            k,
            vec![f, v]
        )),
        (keys(2), fence).prop_map(|(k, f)| eval(&scripts::FENCED_READ, k, vec![f])),
        (keys(3), value(), ttl_arg(), select(&["0", "1", "2", "3"][..])).prop_map(
            |(k, t, ms, reg)| { eval(&scripts::NOTIFY_ACQUIRE, k, vec![t, ms, bytes(reg)]) }
        ),
        (keys(4), value(), ttl_arg())
            .prop_map(|(k, t, ms)| { eval(&scripts::NOTIFY_RELEASE, k, vec![t, ms]) }),
        fair_acquire(),
    ]
}

/// `fair-acquire`, mostly with its keys as the lock uses them (the caller's signal list named
/// from the common prefix and its token, so that its marks and hand-offs meet other scripts'),
/// sometimes with any keys.
fn fair_acquire() -> impl Strategy<Value = Command> {
    let mode = select(&["0", "1", "2", "3"][..]);
    let named = (key(), key(), key(), value(), ttl_arg(), mode.clone(), ttl_arg()).prop_map(
        |(lock, waiters, prefix, t, ms, mode, mark)| {
            let own = [prefix.as_slice(), b":", &t].concat();
            let keys = vec![lock, waiters, own, prefix];
            eval(&scripts::FAIR_ACQUIRE, keys, vec![t, ms, bytes(mode), mark])
        },
    );
    let any = (prop::collection::vec(key(), 4), value(), ttl_arg(), mode, ttl_arg()).prop_map(
        |(k, t, ms, mode, mark)| eval(&scripts::FAIR_ACQUIRE, k, vec![t, ms, bytes(mode), mark]),
    );
    prop_oneof![3 => named, 1 => any]
}

fn command() -> impl Strategy<Value = Command> {
    let cond = prop_oneof![Just(None), Just(Some(SetCond::Nx)), Just(Some(SetCond::Xx))];
    let expiry = prop_oneof![
        Just(None),
        ttl_ms().prop_map(|ms| Some(Expiry::Px(ms))),
        (0..3u64).prop_map(|s| Some(Expiry::Ex(s))),
    ];
    let set = (key(), value(), cond, expiry, any::<bool>())
        .prop_map(|(key, value, cond, expiry, get)| Command::Set { key, value, cond, expiry, get });
    let values = || prop::collection::vec(value(), 1..4);
    prop_oneof![
        6 => set,
        3 => key().prop_map(|key| Command::Get { key }),
        2 => (key(), value()).prop_map(|(key, value)| Command::SetNx { key, value }),
        1 => (key(), value()).prop_map(|(key, value)| Command::GetSet { key, value }),
        2 => prop::collection::vec(key(), 1..3).prop_map(|keys| Command::Del { keys }),
        1 => (key(), 0..3u64).prop_map(|(key, seconds)| Command::Expire { key, seconds }),
        2 => (key(), prop_oneof![Just(0u64), ttl_ms()]).prop_map(|(key, ms)| Command::PExpire { key, ms }),
        3 => key().prop_map(|key| Command::Pttl { key }),
        2 => key().prop_map(|key| Command::Ttl { key }),
        2 => key().prop_map(|key| Command::Incr { key }),
        1 => key().prop_map(|key| Command::Decr { key }),
        2 => (key(), values()).prop_map(|(key, values)| Command::LPush { key, values }),
        2 => (key(), values()).prop_map(|(key, values)| Command::RPush { key, values }),
        2 => key().prop_map(|key| Command::LPop { key }),
        1 => key().prop_map(|key| Command::LLen { key }),
        1 => (key(), -2..3i64, value()).prop_map(|(key, count, value)| Command::LRem { key, count, value }),
        1 => (key(), value()).prop_map(|(key, value)| Command::LPos { key, value }),
        2 => (key(), 1..20u64).prop_map(|(key, ms)| Command::BLPop { key, timeout: Duration::from_millis(ms) }),
        1 => (select(&CHANNELS[..]), value()).prop_map(|(c, message)| Command::Publish { channel: bytes(c), message }),
        1 => Just(Command::Time),
        1 => Just(Command::Ping),
        8 => script(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => command().prop_map(Op::Run),
        8 => (0..30u64).prop_map(Op::Sleep),
        1 => Just(Op::Restart),
    ]
}

/// Runs one sequence on both sides; `Err` names the first difference.
fn check(
    real: &mut Real,
    persistence: Persistence,
    ops: &[Op],
    distort: &impl Fn(&Command) -> Command,
) -> Result<Stats, TestCaseError> {
    let mut model = Model::new();
    model.subscribe(SUBSCRIBER, SUBSCRIBED.as_bytes());
    let mut stats = Stats::default();
    // The widest window of clock readings around a command so far, ms.
    let mut slack = 0;
    let io = |what: &str, e: std::io::Error| TestCaseError::fail(format!("{what}: {e}"));
    for (i, op) in ops.iter().enumerate() {
        let command = match op {
            Op::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                continue;
            }
            Op::Restart => {
                real.restart().map_err(|e| io("restart", e))?;
                let _ = model.restart(persistence);
                model.subscribe(SUBSCRIBER, SUBSCRIBED.as_bytes());
                continue;
            }
            Op::Run(command) => command,
        };
        let (before, after, got) = real.exec(command).map_err(|e| io("redis", e))?;
        // A BLPOP's second reading comes after its block: only the first one says when it ran.
        let after = if matches!(command, Command::BLPop { .. }) { before } else { after };
        stats.commands += 1;
        let modelled = distort(command);
        let mut matched = None;
        for at in instants(before, after, slack) {
            let mut candidate = model.clone();
            candidate.set_clock(at);
            let want = reply_of(&mut candidate, &modelled);
            if equal(command, &want, &got) {
                matched = Some((candidate, at != before));
                break;
            }
        }
        let Some((next, tolerated)) = matched else {
            let mut at = model.clone();
            at.set_clock(before);
            let want = reply_of(&mut at, &modelled);
            return Err(TestCaseError::fail(format!(
                "step {i}: {op:?}\n  redis: {got:?}\n  model: {want:?} (server clock {before}..={after} ms)"
            )));
        };
        stats.tolerated += u64::from(tolerated);
        // The model ran it at the first instant that gave the server's reply; the server may
        // have run it as late as the window's end, and an expiry it set is then that much
        // later. On a loaded machine a window spans milliseconds: later commands may be off
        // by as much.
        slack = slack.max(after.saturating_sub(before));
        stats.errors += u64::from(matches!(got, Reply::Error(_)));
        model = next;
        if let Command::Publish { channel, message } = command {
            check_delivery(real, &mut model, channel, message, i)?;
        }
    }
    Ok(stats)
}

/// The instants the model may run a command at, given the server's clock readings around it:
/// the first reading first, then outwards to ±2 ms around the window, widened by `slack` (how
/// far an earlier command's instant may have been off).
fn instants(before: u64, after: u64, slack: u64) -> Vec<u64> {
    let tolerance = CLOCK_TOLERANCE_MS.unsigned_abs() + slack;
    let mut all = vec![before];
    for d in 1..=tolerance {
        all.push(before + d);
        all.push(before.saturating_sub(d));
    }
    all.extend(before + tolerance + 1..=after.max(before) + tolerance);
    all.dedup();
    all
}

/// The model's reply to `command` at its current clock, waiting out a block like the real
/// connection does (nobody else pushes).
fn reply_of(model: &mut Model, command: &Command) -> Reply {
    match model.exec(ME, command) {
        Step::Reply(reply) => reply,
        Step::Blocked => {
            if let Some(deadline) = model.next_timeout() {
                model.set_clock(deadline + 1);
            }
            model.take_unblocked_for(ME).unwrap_or(Reply::Error("still blocked".into()))
        }
    }
}

fn equal(command: &Command, model: &Reply, real: &Reply) -> bool {
    match (command, model, real) {
        (Command::Time, Reply::Array(m), Reply::Array(r)) => match (time_ms(m), time_ms(r)) {
            (Some(m), Some(r)) => m.abs_diff(r) <= CLOCK_TOLERANCE_MS.unsigned_abs(),
            _ => false,
        },
        (Command::Eval { .. }, Reply::Error(m), Reply::Error(r)) => {
            m.split_whitespace().next() == r.split_whitespace().next()
        }
        // Inside a script Redis reads a fresh clock for each command, so the `PTTL` that ends
        // notify-acquire (and fair-acquire) can see a millisecond pass after the script's own `PEXPIRE`.
        (Command::Eval { script, .. }, Reply::Array(m), Reply::Array(r))
            if script.name == scripts::NOTIFY_ACQUIRE.name
                || script.name == scripts::FAIR_ACQUIRE.name =>
        {
            match (m.as_slice(), r.as_slice()) {
                ([Reply::Int(0), Reply::Int(m)], [Reply::Int(0), Reply::Int(r)]) => {
                    m == r
                        || (*m >= 0
                            && *r >= 0
                            && m.abs_diff(*r) <= CLOCK_TOLERANCE_MS.unsigned_abs())
                }
                _ => m == r,
            }
        }
        _ => model == real,
    }
}

fn time_ms(parts: &[Reply]) -> Option<u64> {
    let [secs, micros] = parts else { return None };
    let n = |r: &Reply| u64::try_from(r.as_int()?).ok();
    Some(n(secs)? * 1000 + n(micros)? / 1000)
}

/// A `PUBLISH` to the subscribed channel must reach the subscriber, on both sides alike.
fn check_delivery(
    real: &mut Real,
    model: &mut Model,
    channel: &[u8],
    message: &[u8],
    step: usize,
) -> Result<(), TestCaseError> {
    let modelled = model.take_delivery_for(SUBSCRIBER).map(|d| (d.channel, d.message));
    if channel != SUBSCRIBED.as_bytes() {
        return match modelled {
            None => Ok(()),
            Some(d) => Err(TestCaseError::fail(format!("step {step}: model delivered {d:?}"))),
        };
    }
    let got = real.sub.read().map_err(|e| TestCaseError::fail(format!("subscriber: {e}")))?;
    let want = Reply::Array(vec![
        Reply::Bulk(bytes("message")),
        Reply::Bulk(channel.to_vec()),
        Reply::Bulk(message.to_vec()),
    ]);
    if got != want || modelled != Some((channel.to_vec(), message.to_vec())) {
        return Err(TestCaseError::fail(format!(
            "step {step}: subscriber got {got:?}, model delivered {modelled:?}"
        )));
    }
    Ok(())
}

/// Our server with a command connection and a subscriber connection.
struct Real {
    server: RedisServer,
    conn: Resp,
    sub: Resp,
    /// `SAVE` before each restart (an RDB-only server).
    save_first: bool,
}

impl Real {
    fn connect(server: RedisServer) -> std::io::Result<Real> {
        let conn = Resp::connect(server.port())?;
        let mut sub = Resp::connect(server.port())?;
        sub.send(&[b"SUBSCRIBE", SUBSCRIBED.as_bytes()])?;
        let _confirmation = sub.read()?;
        Ok(Real { server, conn, sub, save_first: false })
    }

    fn restart(&mut self) -> std::io::Result<()> {
        if self.save_first {
            self.conn.send(&[b"SAVE"])?;
            let reply = self.conn.read()?;
            if !reply.is_ok() {
                return Err(std::io::Error::other(format!("SAVE answered {reply:?}")));
            }
        }
        self.server.restart()?;
        let port = self.server.port();
        self.conn = Resp::connect(port)?;
        self.sub = Resp::connect(port)?;
        self.sub.send(&[b"SUBSCRIBE", SUBSCRIBED.as_bytes()])?;
        self.sub.read().map(drop)
    }

    fn reset(&mut self) -> std::io::Result<()> {
        self.conn.send(&[b"FLUSHALL"])?;
        match self.conn.read()? {
            r if r.is_ok() => Ok(()),
            other => Err(std::io::Error::other(format!("FLUSHALL answered {other:?}"))),
        }
    }

    /// The server's clock (ms) just before and just after `command` ran, and its reply.
    fn exec(&mut self, command: &Command) -> std::io::Result<(u64, u64, Reply)> {
        let time = encode(&Command::Time).get_packed_command();
        let mut packed = time.clone();
        packed.extend(encode(command).get_packed_command());
        packed.extend(time);
        self.conn.write.write_all(&packed)?;
        let before = self.clock()?;
        let reply = self.conn.read()?;
        Ok((before, self.clock()?, reply))
    }

    fn clock(&mut self) -> std::io::Result<u64> {
        let time = self.conn.read()?;
        let Reply::Array(parts) = &time else {
            return Err(std::io::Error::other(format!("TIME answered {time:?}")));
        };
        time_ms(parts).ok_or_else(|| std::io::Error::other("TIME: not two numbers"))
    }
}

/// A minimal RESP2 connection: the test needs pipelining and raw replies.
struct Resp {
    read: BufReader<TcpStream>,
    write: TcpStream,
}

impl Resp {
    fn connect(port: u16) -> std::io::Result<Resp> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_nodelay(true)?;
        Ok(Resp { read: BufReader::new(stream.try_clone()?), write: stream })
    }

    fn send(&mut self, words: &[&[u8]]) -> std::io::Result<()> {
        let mut out = format!("*{}\r\n", words.len()).into_bytes();
        for w in words {
            out.extend(format!("${}\r\n", w.len()).as_bytes());
            out.extend(*w);
            out.extend(b"\r\n");
        }
        self.write.write_all(&out)
    }

    fn read(&mut self) -> std::io::Result<Reply> {
        let mut line = Vec::new();
        self.read.read_until(b'\n', &mut line)?;
        let text =
            String::from_utf8_lossy(line.strip_suffix(b"\r\n").unwrap_or(&line)).into_owned();
        let bad = || std::io::Error::other(format!("bad RESP line {text:?}"));
        let (kind, rest) = (text.chars().next().ok_or_else(bad)?, text.get(1..).unwrap_or(""));
        let n = || rest.parse::<i64>().map_err(|_| bad());
        Ok(match kind {
            '+' => Reply::Status(rest.into()),
            '-' => Reply::Error(rest.into()),
            ':' => Reply::Int(n()?),
            '$' if n()? < 0 => Reply::Nil,
            '$' => {
                let len = usize::try_from(n()?).map_err(|_| bad())?;
                let mut body = vec![0; len + 2];
                self.read.read_exact(&mut body)?;
                body.truncate(len);
                Reply::Bulk(body)
            }
            '*' if n()? < 0 => Reply::Nil,
            '*' => Reply::Array((0..n()?).map(|_| self.read()).collect::<Result<_, _>>()?),
            _ => return Err(bad()),
        })
    }
}

/// A server restarted on its old port while another server has taken the port must fail, not
/// take the other for itself: this test's `FLUSHALL` once went to another test's server that
/// way (a run of the harness saw its lock vanish mid-lease).
#[test]
fn a_server_started_on_a_port_another_server_answers_fails_instead_of_using_it() {
    let theirs = RedisServer::start().expect("redis-server");
    let Err(err) = RedisServer::builder().port(theirs.port()).start() else {
        panic!("started on a port another server answers");
    };
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    assert!(err.to_string().contains("another redis-server"), "{err}");
    let pid = theirs.pid().expect("running");
    redmutex::testing::ping_ours(theirs.port(), pid).expect("still theirs, and answering");
}
