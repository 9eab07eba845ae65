//! The sans-IO protocol core: commands, replies, events, actions and the [`Machine`] trait.
//!
//! Internal: hidden from the docs, for the `contend` harness; not covered by semver. [`Keys`] is the public API, re-exported at the crate root.
//!
//! Deterministic; no sockets, no clocks, no randomness of its own. A driver feeds a machine
//! events together with the current time on the driver's monotonic clock, executes the action the
//! machine answers with, and feeds the result back as the next event. The same machines run
//! against real Redis ([`crate::Lock`]), against a model of Redis, and under loom.

mod script;

use std::fmt;
use std::time::Duration;

pub use script::{Script, ScriptHost};

/// Raw bytes of a key, value or argument.
pub type Bytes = Vec<u8>;

/// A Redis command, from the closed set the lock algorithms use.
#[derive(Clone, Debug, PartialEq, Eq)]
// The fields are the arguments the variant's doc names, in the same words.
#[allow(missing_docs)]
#[non_exhaustive]
pub enum Command {
    /// `PING`.
    Ping,
    /// `GET key`.
    Get { key: Bytes },
    /// `SET key value [NX|XX] [PX ms|EX s] [GET]`.
    Set { key: Bytes, value: Bytes, cond: Option<SetCond>, expiry: Option<Expiry>, get: bool },
    /// `SETNX key value`.
    SetNx { key: Bytes, value: Bytes },
    /// `GETSET key value`.
    GetSet { key: Bytes, value: Bytes },
    /// `DEL key [key ...]`.
    Del { keys: Vec<Bytes> },
    /// `EXPIRE key seconds`.
    Expire { key: Bytes, seconds: u64 },
    /// `PEXPIRE key ms`.
    PExpire { key: Bytes, ms: u64 },
    /// `PTTL key`.
    Pttl { key: Bytes },
    /// `TTL key`.
    Ttl { key: Bytes },
    /// `INCR key`.
    Incr { key: Bytes },
    /// `DECR key`.
    Decr { key: Bytes },
    /// `LPUSH key value [value ...]`.
    LPush { key: Bytes, values: Vec<Bytes> },
    /// `RPUSH key value [value ...]`.
    RPush { key: Bytes, values: Vec<Bytes> },
    /// `LPOP key`.
    LPop { key: Bytes },
    /// `LLEN key`.
    LLen { key: Bytes },
    /// `LREM key count value`: removes up to `count` occurrences of `value` from the head
    /// (from the tail when negative; all when 0).
    LRem { key: Bytes, count: i64, value: Bytes },
    /// `LPOS key value`: the index of the first occurrence of `value`, or nil.
    LPos { key: Bytes, value: Bytes },
    /// `BLPOP key timeout`: blocks the connection for at most `timeout` (millisecond precision).
    BLPop { key: Bytes, timeout: Duration },
    /// `PUBLISH channel message`.
    Publish { channel: Bytes, message: Bytes },
    /// `TIME`.
    Time,
    /// `WAIT numreplicas timeout`: blocks until this connection's writes reached `replicas`
    /// replicas or `timeout` passed; answers how many acknowledged.
    Wait { replicas: u32, timeout: Duration },
    /// `EVALSHA` of a known script, falling back to `EVAL` when the server lacks it.
    Eval { script: &'static Script, keys: Vec<Bytes>, args: Vec<Bytes> },
}

/// The condition of a `SET`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCond {
    /// Only set the key if it does not exist.
    Nx,
    /// Only set the key if it already exists.
    Xx,
}

/// The expiry of a `SET`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Milliseconds.
    Px(u64),
    /// Seconds.
    Ex(u64),
}

/// A reply from Redis (RESP2 shapes).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// The null bulk string or null array.
    Nil,
    /// A simple string such as `OK`.
    Status(String),
    /// An integer.
    Int(i64),
    /// A bulk string.
    Bulk(Bytes),
    /// An array.
    Array(Vec<Reply>),
    /// An error reply; the text is the server's.
    Error(String),
}

impl Reply {
    /// The integer in an `Int` reply, or in a bulk string that holds a decimal number.
    #[must_use]
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// Whether this is the `OK` status.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        matches!(self, Reply::Status(s) if s == "OK")
    }

    /// A short description for messages: its shape and the start of its content
    /// (`bulk "garbage"`, `array [int 1, nil]`), at most about 100 characters.
    #[must_use]
    pub fn describe(&self) -> String {
        const MAX: usize = 100;
        let mut out = String::new();
        self.describe_into(&mut out, MAX);
        if out.len() > MAX {
            let mut end = MAX;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push('…');
        }
        out
    }

    fn describe_into(&self, out: &mut String, max: usize) {
        use fmt::Write as _;
        if out.len() > max {
            return;
        }
        let _ = match self {
            Reply::Nil => write!(out, "nil"),
            Reply::Status(s) => write!(out, "status {s:?}"),
            Reply::Int(n) => write!(out, "int {n}"),
            Reply::Bulk(b) => write!(out, "bulk {:?}", String::from_utf8_lossy(b)),
            Reply::Error(e) => write!(out, "error {e:?}"),
            Reply::Array(items) => {
                out.push_str("array [");
                for (i, item) in items.iter().enumerate() {
                    if out.len() > max {
                        break;
                    }
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.describe_into(out, max);
                }
                write!(out, "]")
            }
        };
    }
}

/// What happened, fed to [`Machine::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The operation begins; always the first event.
    Start,
    /// The reply to the last [`Action::Send`].
    Reply(Reply),
    /// A [`Action::Sleep`] ran its course.
    Slept,
    /// A message arrived on the channel of the last [`Action::Wait`].
    Notified(Bytes),
    /// The last [`Action::Wait`] ran out without a message.
    TimedOut,
    /// The wall clock, in milliseconds since the Unix epoch, as asked by [`Action::ReadClock`].
    Clock(u64),
    /// What each server did with the commands of the last [`Action::SendEach`]: `answers[i]` is
    /// server `i`'s.
    Answers(Vec<Answer>),
}

/// What one server of a multi-server driver did with its command of an [`Action::SendEach`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The server's reply (an error reply included).
    Reply(Reply),
    /// No reply within the action's timeout, or the command failed in transit; in words. The
    /// command may still run on the server, later.
    Unanswered(String),
    /// The action sent this server nothing.
    Unsent,
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send one command and feed back its reply.
    Send(Command),
    /// Sleep, then feed [`Event::Slept`].
    Sleep(Duration),
    /// Subscribe to `channel` (once per operation; messages are kept from then on) and wait for
    /// the next message, at most `timeout`.
    Wait {
        /// The channel.
        channel: Bytes,
        /// The longest wait.
        timeout: Duration,
    },
    /// Read the wall clock and feed [`Event::Clock`].
    ReadClock,
    /// Send `commands[i]` (when `Some`) to server `i` of a multi-server driver, all at once,
    /// await each answer at most `timeout`, and feed [`Event::Answers`]. Every command is sent
    /// even if its answer is not awaited. Single-server drivers end the operation with
    /// [`Failure::single_server`] instead.
    SendEach {
        /// One entry per server, in the driver's order.
        commands: Vec<Option<Command>>,
        /// How long each server's answer is awaited.
        timeout: Duration,
    },
    /// The operation is over.
    Done(Outcome),
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The lock is ours.
    Acquired(Grant),
    /// The lock was held by someone else and the operation did not wait (any more).
    Busy,
    /// The lock stayed busy for the whole wait timeout.
    TimedOut,
    /// A release ended; `owned` says whether the lock was still ours when it ran.
    Released {
        /// Whether the lock held our token when the release ran.
        owned: bool,
        /// The token the release handed the lock over to, for algorithms that hand it to a
        /// waiter (`notify`) and say so; `None` when it deleted the lock or does not tell.
        handed: Option<Bytes>,
    },
    /// An extend ended; on success the new validity deadline, in the driver's time.
    Extended {
        /// The new deadline, or `None` when the lock was no longer ours.
        valid_until: Option<Duration>,
    },
    /// The operation could not go on; [`Failure`] says why.
    Failed(Failure),
}

/// Why an operation failed ([`Outcome::Failed`]). [`crate::Error`] has a variant for each.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Redis answered with an error reply (`WRONGTYPE`, `READONLY`, `OOM`, ...).
    Server {
        /// The operation (`acquire`, `release`, `extend`, `wait`, ...).
        op: &'static str,
        /// The server's message, its code first.
        message: String,
    },
    /// Redis answered with a reply of a shape the operation cannot interpret.
    Reply {
        /// The operation.
        op: &'static str,
        /// A short description of the reply ([`Reply::describe`]).
        reply: String,
    },
    /// Anything else, in words: an event the machine does not expect (a driver bug), a step
    /// limit, an algorithm giving up for a reason of its own.
    Other(String),
    /// Fewer servers than a quorum answered (algorithms over several servers): what the
    /// operation did on the silent ones is unknown.
    NoQuorum {
        /// The operation.
        op: &'static str,
        /// How many servers answered.
        answered: usize,
        /// How many answers a quorum needs.
        needed: usize,
        /// How many servers there are.
        servers: usize,
        /// Why one of the silent servers did not answer.
        why: String,
    },
}

impl Failure {
    /// The failure of `op` answered with `reply`: [`Failure::Server`] for an error reply,
    /// [`Failure::Reply`] for any other.
    #[must_use]
    pub fn reply(op: &'static str, reply: &Reply) -> Failure {
        match reply {
            Reply::Error(message) => Failure::Server { op, message: message.clone() },
            other => Failure::Reply { op, reply: other.describe() },
        }
    }
}

impl Failure {
    /// What a driver of one server answers to an [`Action::SendEach`]: it cannot run it.
    #[must_use]
    pub fn single_server() -> Failure {
        Failure::Other(
            "this algorithm talks to several independent servers (Action::SendEach), but the \
             driver runs one; use a multi-server driver (redmutex::Redlock)"
                .into(),
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Server { op, message } => write!(f, "{op}: Redis error: {message}"),
            Failure::Reply { op, reply } => write!(f, "{op}: unexpected reply {reply}"),
            Failure::Other(why) => f.write_str(why),
            Failure::NoQuorum { op, answered, needed, servers, why } => write!(
                f,
                "{op}: only {answered} of {servers} servers answered, {needed} needed ({why})"
            ),
        }
    }
}

/// What a successful acquisition holds: enough to release, extend, and to know for how long the
/// lock is safely ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The value stored in the lock key; proof of ownership.
    pub token: Bytes,
    /// The fence of this acquisition, for algorithms that issue one.
    pub fence: Option<u64>,
    /// Driver time at which the command that won the lock was sent.
    pub acquired_at: Duration,
    /// Driver time until which the lock is ours: send time + ttl − drift allowance.
    pub valid_until: Duration,
    /// Wall-clock milliseconds the algorithm recorded (algorithms that store timestamps).
    pub clock_ms: Option<u64>,
}

impl Grant {
    /// A grant that knows only its token: what the clean-up of a dropped or failed acquire
    /// releases with (no fence, no lease of its own). The release frees what the attempt may
    /// have taken, and for `notify` and `fair` withdraws the token from the waiters.
    #[must_use]
    pub fn for_cleanup(token: Bytes) -> Grant {
        Grant {
            token,
            fence: None,
            acquired_at: Duration::ZERO,
            valid_until: Duration::ZERO,
            clock_ms: None,
        }
    }
}

/// A state machine for one lock operation (acquire, release or extend).
pub trait Machine: Send {
    /// Feed the next event at driver time `now`; answers the next action. Call first with
    /// [`Event::Start`], then with the result of each action until it answers [`Action::Done`].
    #[must_use]
    fn handle(&mut self, now: Duration, event: Event) -> Action;
}

/// The keys of one lock. They share a hash tag so that a cluster keeps them on one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// The lock itself: holds the owner's token.
    pub lock: Bytes,
    /// The fence counter (`fenced`).
    pub fence: Bytes,
    /// The common prefix of the waiters' signal lists (`notify`): a waiter blocks on
    /// `signal:token`, where a release that hands it the lock pushes its token.
    pub signal: Bytes,
    /// The list of waiting tokens, oldest first (`notify`).
    pub waiters: Bytes,
    /// The pub/sub channel (algorithms that publish).
    pub channel: Bytes,
}

impl Keys {
    /// The keys for lock `name` under `prefix`: `prefix{name}`, `prefix{name}:fence`, ...
    #[must_use]
    pub fn new(prefix: &str, name: &str) -> Keys {
        let base = format!("{prefix}{{{name}}}");
        let with = |suffix: &str| format!("{base}:{suffix}").into_bytes();
        Keys {
            fence: with("fence"),
            signal: with("signal"),
            waiters: with("waiters"),
            channel: with("channel"),
            lock: base.into_bytes(),
        }
    }
}

/// A 128-bit random token, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token(pub [u8; 16]);

impl Token {
    /// The token's bytes as stored in Redis (hex text).
    #[must_use]
    pub fn to_bytes(self) -> Bytes {
        // Hot in simulations with thousands of clients: no formatter.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.0.iter().flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]).collect()
    }

    /// A token from 128 bits of the operating system's randomness.
    pub fn random() -> Result<Token, getrandom::Error> {
        let mut t = [0u8; 16];
        getrandom::fill(&mut t)?;
        Ok(Token(t))
    }

    /// A token from a 128-bit number (simulation and tests).
    #[must_use]
    pub fn from_u128(n: u128) -> Token {
        Token(n.to_be_bytes())
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({self})")
    }
}

/// Decimal text of a number, as Redis arguments are sent.
#[must_use]
pub fn num(n: impl fmt::Display) -> Bytes {
    n.to_string().into_bytes()
}

/// Milliseconds in a duration, rounded up and at least one (Redis rejects a zero expiry).
#[must_use]
pub fn millis(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        let k = Keys::new("app:", "orders");
        assert_eq!(k.lock, b"app:{orders}");
        assert_eq!(k.fence, b"app:{orders}:fence");
        assert!(k.signal.starts_with(b"app:{orders}"));
    }

    #[test]
    fn token_is_32_hex_digits() {
        let t = Token::from_u128(0xabc);
        assert_eq!(t.to_string().len(), 32);
        assert!(t.to_string().ends_with("0abc"));
        assert_eq!(t.to_bytes(), t.to_string().into_bytes());
        assert_ne!(Token::random().unwrap(), Token::random().unwrap());
    }

    #[test]
    fn a_reply_is_described_briefly() {
        let reply = Reply::Array(vec![Reply::Int(1), Reply::Bulk(b"garbage".to_vec()), Reply::Nil]);
        assert_eq!(reply.describe(), r#"array [int 1, bulk "garbage", nil]"#);
        let long = Reply::Bulk(vec![b'x'; 1000]).describe();
        assert!(long.len() < 110 && long.ends_with('…'), "{long}");
        let failure = Failure::reply("release", &Reply::Error("WRONGTYPE no".into()));
        assert_eq!(failure, Failure::Server { op: "release", message: "WRONGTYPE no".into() });
        let failure = Failure::reply("release", &Reply::Status("QUEUED".into()));
        assert_eq!(failure, Failure::Reply { op: "release", reply: r#"status "QUEUED""#.into() });
    }

    #[test]
    fn millis_rounds_up_and_is_never_zero() {
        assert_eq!(millis(Duration::from_micros(1)), 1);
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(1500)), 2);
    }
}
