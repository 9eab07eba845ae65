//! The algorithms `contend` can run: the reference algorithms of `redmutex`, the specimens, and
//! adapters (locks in other processes, declared by a manifest: see [`crate::adapter`]).
//! Adding an algorithm means adding it to [`all`]'s list; everything else looks it up by name.

use std::time::Duration;

use redmutex::algo::redlock::RedlockAlgorithm;
use redmutex::algo::{AcquireParams, Algorithm, ExtendParams, Protocol, ReleaseParams};
use redmutex::proto::Machine;

use crate::adapter::Manifest;
use crate::scenario::{ClientSettings, Scenario};
use crate::specimens::{self, KnownBug};

/// The name of the quorum lock over several independent servers.
pub const REDLOCK: &str = "redlock";

/// What an algorithm's protocol is built with besides its name: a specimen's time scale, and
/// for a quorum lock the servers it runs over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Build {
    /// Scale of a specimen's document time constants.
    pub scale: f64,
    /// How many independent lock servers (`[server] count`).
    pub servers: usize,
    /// How long a quorum lock awaits each server's answer.
    pub server_timeout: Duration,
}

impl Build {
    /// One lock server, the specimens' time constants scaled by `scale`.
    #[must_use]
    pub fn one(scale: f64) -> Build {
        Build {
            scale,
            servers: 1,
            server_timeout: Duration::from_millis(crate::scenario::SERVER_TIMEOUT_MS),
        }
    }

    /// What a run of `scenario` builds.
    #[must_use]
    pub fn of(scenario: &Scenario) -> Build {
        Build {
            scale: scenario.specimen_scale,
            servers: scenario.server.count as usize,
            server_timeout: Duration::from_millis(scenario.server_timeout_ms()),
        }
    }

    /// What a client with `client`'s settings builds, specimens scaled by `scale`.
    #[must_use]
    pub fn of_client(client: &ClientSettings, scale: f64) -> Build {
        Build {
            scale,
            servers: client.servers as usize,
            server_timeout: Duration::from_millis(client.server_timeout_ms),
        }
    }
}

/// Whether an algorithm is one we promise things for, or a specimen kept for its bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A `redmutex` algorithm: a broken promise fails the gate.
    Reference,
    /// A specimen: an undetected known bug fails the gate.
    Specimen,
    /// A lock in another process, spoken to over the adapter protocol: the gate holds it to the
    /// expectations its scenarios state.
    Adapter,
}

/// One algorithm as the harness lists and runs it.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// The name scenarios and `--algorithm` use.
    pub name: &'static str,
    /// One line for `contend list`.
    pub summary: &'static str,
    /// Reference or specimen.
    pub class: Class,
    /// Known bugs (specimens).
    pub bugs: &'static [KnownBug],
    /// The manifest of an adapter.
    pub adapter: Option<&'static Manifest>,
    /// Whether it runs over several independent lock servers (`[server] count`), not one.
    pub quorum: bool,
}

impl Class {
    /// `reference` or `specimen`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Class::Reference => "reference",
            Class::Specimen => "specimen",
            Class::Adapter => "adapter",
        }
    }
}

impl Entry {
    /// The algorithm's protocol, with a specimen's document time constants scaled by
    /// `build.scale`, a quorum lock over `build.servers` servers.
    ///
    /// An adapter has no machines in this process: its protocol fails every operation (the run
    /// spine refuses adapters where they cannot run, so this is never reached in a run).
    #[must_use]
    pub fn protocol(&self, build: &Build) -> Box<dyn Protocol> {
        let scale = build.scale;
        if self.adapter.is_some() {
            return Box::new(Static(&crate::adapter::NotHere));
        }
        if self.name == REDLOCK {
            return Box::new(RedlockAlgorithm {
                servers: build.servers,
                server_timeout: build.server_timeout,
            });
        }
        if let Some(s) = specimens::find(self.name) {
            if let Some(over) = s.over {
                return over(build);
            }
            return if (scale - 1.0).abs() < f64::EPSILON {
                Box::new(Static(s.protocol()))
            } else {
                s.scaled(scale)
            };
        }
        let reference =
            Algorithm::ALL.into_iter().find(|a| a.name() == self.name).unwrap_or_default();
        Box::new(Static(reference.protocol()))
    }

    /// Whether acquisitions carry fences.
    #[must_use]
    pub fn fenced(&self) -> bool {
        match self.adapter {
            Some(m) => m.supports.fencing,
            None => self.protocol(&Build::one(1.0)).fenced(),
        }
    }

    /// How a worker process finds this algorithm again: its name, or `adapter:PATH`.
    #[must_use]
    pub fn locator(&self) -> String {
        self.adapter.map_or_else(|| self.name.to_string(), Manifest::locator)
    }
}

/// Every algorithm: reference ones first, then the specimens.
#[must_use]
pub fn all() -> Vec<Entry> {
    let reference = Algorithm::ALL.into_iter().map(|a| Entry {
        name: a.name(),
        summary: match a {
            Algorithm::Token => "SET NX PX with a random token, owner-checked Lua release, jittered exponential backoff",
            Algorithm::Notify => "token, but waiters block on a signal list and a release hands the lock to one of them",
            Algorithm::Fenced => "token plus a strictly increasing fence; the resource refuses writes with an older fence",
            Algorithm::Fair => "notify with a strict FIFO queue: a free lock goes to the oldest live waiter, never to a newcomer",
            _ => "reference algorithm",
        },
        class: Class::Reference,
        bugs: &[],
        adapter: None,
        quorum: false,
    });
    let redlock = Entry {
        name: REDLOCK,
        summary: "one lock over N independent servers ([server] count): SET NX PX on all at once, \
                  won by a majority within the lease less a drift allowance, released on all",
        class: Class::Reference,
        bugs: &[],
        adapter: None,
        quorum: true,
    };
    let specimens = specimens::SPECIMENS.iter().map(|s| Entry {
        name: s.name,
        summary: s.summary,
        class: Class::Specimen,
        bugs: s.bugs,
        adapter: None,
        quorum: s.over.is_some(),
    });
    let adapters = crate::adapter::discovered().into_iter().map(adapter_entry);
    reference.chain(std::iter::once(redlock)).chain(specimens).chain(adapters).collect()
}

/// The algorithm called `name` (or an adapter named `adapter:MANIFEST`); the error lists the
/// known ones.
pub fn find(name: &str) -> anyhow::Result<Entry> {
    if let Some(path) = name.strip_prefix("adapter:") {
        let manifest = crate::adapter::load(std::path::Path::new(path))?;
        if all().iter().any(|e| e.name == manifest.name && e.adapter.is_none()) {
            anyhow::bail!(
                "{}: the adapter's name `{}` is a built-in algorithm's: choose another",
                manifest.path.display(),
                manifest.name
            );
        }
        return Ok(adapter_entry(manifest));
    }
    all().into_iter().find(|e| e.name == name).ok_or_else(|| {
        let known: Vec<_> = all().iter().map(|e| e.name).collect();
        anyhow::anyhow!(
            "unknown algorithm `{name}`; known algorithms: {} (see `contend list`)",
            known.join(", ")
        )
    })
}

fn adapter_entry(m: &'static Manifest) -> Entry {
    Entry {
        name: &m.name,
        summary: &m.summary,
        class: Class::Adapter,
        bugs: &[],
        adapter: Some(m),
        quorum: false,
    }
}

/// The default algorithm.
#[must_use]
pub fn default_name() -> &'static str {
    Algorithm::default().name()
}

/// A `'static` protocol behind a box.
struct Static(&'static dyn Protocol);

impl Protocol for Static {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine> {
        self.0.acquire(params)
    }
    fn acquire_contended(&self, params: AcquireParams) -> Box<dyn Machine> {
        self.0.acquire_contended(params)
    }
    fn release(&self, params: ReleaseParams) -> Box<dyn Machine> {
        self.0.release(params)
    }
    fn extend(&self, params: ExtendParams) -> Option<Box<dyn Machine>> {
        self.0.extend(params)
    }
    fn fenced(&self) -> bool {
        self.0.fenced()
    }
    fn kept_keys(&self, keys: &redmutex::proto::Keys) -> Vec<redmutex::proto::Bytes> {
        self.0.kept_keys(keys)
    }
    fn dead_waiter_window(&self, ttl: std::time::Duration) -> std::time::Duration {
        self.0.dead_waiter_window(ttl)
    }
    fn renewed_keys(&self, keys: &redmutex::proto::Keys) -> Vec<redmutex::proto::Bytes> {
        self.0.renewed_keys(keys)
    }
    fn fifo(&self) -> bool {
        self.0.fifo()
    }
    fn servers(&self) -> usize {
        self.0.servers()
    }
}
