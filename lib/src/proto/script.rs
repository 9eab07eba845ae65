//! Server-side scripts as values with two faces: Lua for real Redis, Rust for the model.

use std::fmt;
use std::sync::OnceLock;

use super::{Bytes, Command, Reply};

/// Whatever can execute commands for a script's model face: the Redis model, inside one atomic
/// step, just as Lua's `redis.call` runs inside the server.
pub trait ScriptHost {
    /// Execute one command and answer its reply.
    fn call(&mut self, command: Command) -> Reply;
}

/// A Lua script the algorithms run with `EVALSHA`, together with its meaning in Rust.
pub struct Script {
    /// A short name, for reports and errors.
    pub name: &'static str,
    /// The Lua source sent to Redis.
    pub source: &'static str,
    /// The same meaning in Rust, run by the model against a [`ScriptHost`].
    pub model: fn(&mut dyn ScriptHost, &[Bytes], &[Bytes]) -> Reply,
    sha: OnceLock<String>,
}

impl Script {
    /// A script from its name, Lua source and model face.
    #[must_use]
    pub const fn new(
        name: &'static str,
        source: &'static str,
        model: fn(&mut dyn ScriptHost, &[Bytes], &[Bytes]) -> Reply,
    ) -> Script {
        Script { name, source, model, sha: OnceLock::new() }
    }

    /// The SHA1 of the source, as `EVALSHA` wants it (computed once).
    pub fn sha(&self) -> &str {
        self.sha.get_or_init(|| sha1_smol::Sha1::from(self.source).digest().to_string())
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Script({})", self.name)
    }
}

impl PartialEq for Script {
    fn eq(&self, other: &Script) -> bool {
        self.source == other.source
    }
}

impl Eq for Script {}
