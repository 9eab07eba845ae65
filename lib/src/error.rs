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
    /// The operating system gave no randomness for a token.
    #[error("no randomness for a lock token: {0}")]
    Random(String),
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
