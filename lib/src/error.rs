//! The crate's one error type.

/// Everything that can go wrong with a lock. Each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is invalid: the message names it and what is allowed. Fix the builder call.
    #[error("invalid lock settings: {0}")]
    Config(String),
    /// No connection within the connect timeout: check the URL and that the server runs.
    #[error(
        "cannot connect to Redis at {url}: {reason} (check the URL and that the server is running)"
    )]
    Connect {
        /// The address tried, its password (if any) replaced by `***`.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A command failed in transit (connection lost, no answer in time). Retry; whatever the
    /// failed command left behind lives at most one ttl.
    #[error("Redis command failed: {0} (retry; anything it left behind expires within the ttl)")]
    Redis(#[from] redis::RedisError),
    /// Redis answered something the algorithm cannot interpret: another program may be writing
    /// the lock's keys, or the server is not Redis.
    #[error("unexpected answer from Redis: {0} (make sure nothing else writes the lock's keys)")]
    Protocol(String),
    /// The lock stayed busy for the whole wait timeout: retry later or wait longer.
    #[error(
        "lock '{0}' stayed busy for the whole wait timeout (retry later or raise wait_timeout)"
    )]
    Timeout(String),
    /// The lock is no longer ours: its lease ran out or it was taken over. Redo the protected
    /// work under a new acquisition.
    #[error(
        "lock '{0}' is no longer held by us: its lease ran out (redo the work under a new acquisition)"
    )]
    Lost(String),
    /// A release or extend lost its connection on every attempt (see
    /// [`crate::Guard::release`]): the script may or may not have run. The lock is in one of
    /// two states, both safe: released (or extended), or held under `token` until its ttl. Do
    /// not count on the lease past [`crate::Guard::valid_until`].
    #[error(
        "{op} of lock '{lock}' is unconfirmed after {attempts} attempts (token {token}): {last} (the lock is {op}d, or it expires within its ttl)"
    )]
    Unconfirmed {
        /// `release` or `extend`.
        op: &'static str,
        /// The lock's name.
        lock: String,
        /// The guard's token, as stored in the lock key.
        token: String,
        /// How many times the script was sent.
        attempts: u32,
        /// The last attempt's failure.
        #[source]
        last: Box<Error>,
    },
    /// The operating system gave no randomness for a token.
    #[error("no randomness for a lock token: {0}")]
    Random(String),
}

impl Error {
    /// Whether the failure may be a lost connection or reply, after which the same idempotent
    /// script can be sent again.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Redis(e) => {
                e.is_connection_dropped()
                    || e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_refusal()
            }
            Error::Connect { .. } => true,
            _ => false,
        }
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
