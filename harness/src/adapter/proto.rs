//! The messages of the adapter protocol, version 1 (`docs/adapters.md` is the specification).
//!
//! One JSON object per line. The harness writes [`Request`]s to the adapter's stdin; the adapter
//! answers each with one [`Answer`] on its stdout, carrying the request's `id`. Both sides ignore
//! fields they do not know, so a later version can add fields without breaking this one.

use serde::{Deserialize, Serialize};

/// The protocol version this harness speaks.
pub const PROTOCOL: u32 = 1;

/// What the harness asks, tagged by `op`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The first request: who the adapter is, where the server is.
    Hello {
        /// The request's number, echoed in the answer.
        id: u64,
        /// The protocol version the harness speaks.
        protocol: u32,
        /// The Redis server the lock must use (`redis://host:port[/db]`, maybe with a password).
        redis_url: String,
        /// Every key the adapter touches begins with this.
        key_prefix: String,
    },
    /// Take the lock `key` for `ttl_ms`, waiting at most `wait_ms` (0: try once).
    Acquire {
        /// The request's number.
        id: u64,
        /// The lock's key.
        key: String,
        /// The lease, ms.
        ttl_ms: u64,
        /// The longest wait for a busy lock, ms.
        wait_ms: u64,
    },
    /// Give back the lock `key` taken with `token`.
    Release {
        /// The request's number.
        id: u64,
        /// The lock's key.
        key: String,
        /// The token the acquire answered.
        token: String,
    },
    /// Make the lease of `key` (taken with `token`) last `ttl_ms` from now.
    Extend {
        /// The request's number.
        id: u64,
        /// The lock's key.
        key: String,
        /// The token the acquire answered.
        token: String,
        /// The new lease, ms.
        ttl_ms: u64,
    },
    /// Answer `bye` and exit.
    Shutdown {
        /// The request's number.
        id: u64,
    },
}

impl Request {
    /// The request's number.
    #[must_use]
    pub fn id(&self) -> u64 {
        match self {
            Request::Hello { id, .. }
            | Request::Acquire { id, .. }
            | Request::Release { id, .. }
            | Request::Extend { id, .. }
            | Request::Shutdown { id } => *id,
        }
    }

    /// The `op` name, for messages.
    #[must_use]
    pub fn op(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Acquire { .. } => "acquire",
            Request::Release { .. } => "release",
            Request::Extend { .. } => "extend",
            Request::Shutdown { .. } => "shutdown",
        }
    }
}

/// What an adapter can do besides acquire and release.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Supports {
    /// Acquisitions carry a fence: a number that grows with every acquisition of the key.
    pub fencing: bool,
    /// `extend` works.
    pub extend: bool,
    /// `wait_ms: 0` tries exactly once and answers at once.
    pub try_acquire: bool,
}

/// One answer line, as loose as the protocol allows: which fields matter depends on the request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Answer {
    /// The `id` of the request this answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// `hello`, `acquired`, `timeout`, `released`, `not_owned`, `unknown`, `extended`, `bye`, or
    /// `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Hello: the protocol version the adapter speaks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u32>,
    /// Hello: the adapter's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Hello: the adapter's (or the lock library's) version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Hello: what the adapter supports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supports: Option<Supports>,
    /// Hello, optional: the adapter's wall clock as its runtime reads it, Unix ms (lets the
    /// harness see that a clock skew reached it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_ms: Option<i64>,
    /// Acquired: the opaque token to release or extend with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Acquired: the fence, when the adapter supports fencing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fence: Option<u64>,
    /// Error: what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Answer {
    /// An answer to request `id` with `result`.
    #[must_use]
    pub fn new(id: u64, result: &str) -> Answer {
        Answer { id: Some(id), result: Some(result.to_string()), ..Answer::default() }
    }

    /// An `error` answer to request `id`.
    #[must_use]
    pub fn error(id: u64, message: impl Into<String>) -> Answer {
        Answer { message: Some(message.into()), ..Answer::new(id, "error") }
    }
}

/// The result of an acquire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The lock is ours.
    Acquired {
        /// The token to release or extend with.
        token: String,
        /// The fence, if the adapter fences.
        fence: Option<u64>,
    },
    /// The wait ended with the lock still busy.
    TimedOut,
    /// The adapter could not tell (an error from the server, a lost connection): the lock may or
    /// may not be ours.
    Error(String),
}

/// The result of a release or an extend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    /// The lock was still ours (release: and is now gone; extend: and now lasts longer).
    Yes,
    /// The lock was not ours any more; nothing was changed.
    No,
    /// Release only: it ran, but the library does not say whether the lock was still ours.
    Unknown,
    /// The adapter could not tell whether anything happened.
    Error(String),
}
