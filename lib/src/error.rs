//! The crate's one error type.

use crate::proto::Failure;

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
    /// Redis answered with an error reply: `WRONGTYPE` (another program stored a value of
    /// another type under the lock's keys), `READONLY` (the server is a replica), `OOM`,
    /// `NOPERM`, ... Retrying the same call gets the same answer until the server or its data
    /// changes; the message says what to do for the common codes.
    #[error("Redis refused the {op}: {message}{}", server_hint(.message))]
    Server {
        /// The operation: `acquire`, `release`, `extend`, `wait`, `fenced write`, ...
        op: &'static str,
        /// The server's message, its error code first (a script's error may carry it later:
        /// Redis 6 wraps it in `ERR Error running script`).
        message: String,
    },
    /// Redis answered with a reply of a shape the operation cannot interpret: another program
    /// may be writing the lock's keys, or the server is not Redis.
    #[error(
        "unexpected answer to the {op} from Redis: {reply} (make sure nothing else writes the lock's keys)"
    )]
    UnexpectedReply {
        /// The operation.
        op: &'static str,
        /// A short description of the reply, its shape and the start of its content.
        reply: String,
    },
    /// A blocking command (`notify`'s `BLPOP`) got no answer within its own timeout plus the
    /// response timeout: the server or the network stalled. Retry: the connection it used is
    /// dropped, and whatever the attempt left behind is cleaned up or expires within the ttl.
    #[error("no answer to {command} within {limit:?} (the server or the network stalled; retry)")]
    NoAnswer {
        /// The command.
        command: &'static str,
        /// How long the answer was awaited.
        limit: std::time::Duration,
    },
    /// Something this crate should never do happened (a poisoned mutex, an algorithm ending
    /// an operation with the wrong kind of outcome): a bug, please report it.
    #[error("internal error in redmutex: {0} (a bug; please report it)")]
    Internal(String),
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
    /// The lock was acquired, but fewer replicas than asked for ([`crate::LockBuilder::replicas`])
    /// acknowledged it within the timeout; it has been released. Retry, or check replication.
    #[error(
        "lock '{lock}' was acquired but only {acked} of {wanted} replicas acknowledged it in time; it was released (check replication, or retry)"
    )]
    NotReplicated {
        /// The lock's name.
        lock: String,
        /// How many replicas acknowledged.
        acked: u32,
        /// How many were asked for.
        wanted: u32,
    },
    /// Fewer than a majority of a `Redlock`'s servers answered within the per-server
    /// timeout (on every attempt, for a release or extend). An acquire released whatever it may
    /// have taken; a release or extend may or may not have run on the silent servers, and
    /// anything left there expires within the ttl. Check the servers, then retry.
    #[error(
        "the {op} reached too few servers: {answered} of {servers} answered, {needed} needed ({why}); check the servers and retry (anything left behind expires within the ttl)"
    )]
    NoQuorum {
        /// `acquire`, `release` or `extend`.
        op: &'static str,
        /// How many servers answered.
        answered: usize,
        /// How many answers a majority needs.
        needed: usize,
        /// How many servers the lock has.
        servers: usize,
        /// Why one of the silent servers did not answer.
        why: String,
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
            Error::Connect { .. } | Error::NoAnswer { .. } => true,
            _ => false,
        }
    }

    /// The error for operation `op` answered with `reply`: [`Error::Server`] for an error
    /// reply, [`Error::UnexpectedReply`] for any other.
    pub(crate) fn reply(op: &'static str, reply: &crate::proto::Reply) -> Error {
        Error::from_failure(Failure::reply(op, reply))
    }

    /// The error for an operation that ended with `failure`.
    pub(crate) fn from_failure(failure: Failure) -> Error {
        match failure {
            Failure::Server { op, message } => Error::Server { op, message },
            Failure::Reply { op, reply } => Error::UnexpectedReply { op, reply },
            Failure::Other(why) => Error::Internal(why),
            Failure::NoQuorum { op, answered, needed, servers, why } => {
                Error::NoQuorum { op, answered, needed, servers, why }
            }
        }
    }
}

/// What to do about a server error, from the codes its message names.
fn server_hint(message: &str) -> &'static str {
    let has = |code: &str| message.split(|c: char| !c.is_ascii_alphabetic()).any(|w| w == code);
    if has("WRONGTYPE") {
        " (another program stored another type under the lock's keys: remove them, or use another name or prefix)"
    } else if has("READONLY") {
        " (the server is a read-only replica: connect to the primary)"
    } else if has("OOM") {
        " (the server reached maxmemory: free memory or raise the limit)"
    } else if has("NOPERM") {
        " (the ACL user lacks a command, key or channel the lock needs)"
    } else {
        ""
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_error_says_what_to_do_for_the_common_codes() {
        let shown =
            |message: &str| Error::Server { op: "acquire", message: message.into() }.to_string();
        // Redis 7 puts the code first; Redis 6 wraps a script's error in `ERR Error running script`.
        for message in [
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "ERR Error running script (call to f_1): @user_script:1: WRONGTYPE Operation against a key",
        ] {
            assert!(shown(message).contains("another program stored another type"), "{message}");
        }
        assert!(
            shown("READONLY You can't write against a read only replica.")
                .contains("connect to the primary")
        );
        assert!(
            shown("OOM command not allowed when used memory > 'maxmemory'.").contains("maxmemory")
        );
        assert!(shown("NOPERM this user has no permissions").contains("ACL user"));
        let plain = shown("ERR unknown command");
        assert_eq!(plain, "Redis refused the acquire: ERR unknown command");
    }

    #[test]
    fn only_failures_in_transit_are_transient() {
        let limit = std::time::Duration::from_secs(1);
        assert!(Error::NoAnswer { command: "BLPOP", limit }.is_transient());
        assert!(!Error::Server { op: "release", message: "READONLY".into() }.is_transient());
        assert!(!Error::UnexpectedReply { op: "release", reply: "nil".into() }.is_transient());
        assert!(!Error::Internal("poisoned".into()).is_transient());
    }
}
