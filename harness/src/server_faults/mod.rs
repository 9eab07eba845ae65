//! Server faults on harness-owned servers (issue 13): restarts with a persistence mode
//! ([`restart`]), a slow server ([`slow`]), a server whose wall clock jumps ([`clock`]),
//! Sentinel failover ([`sentinel`]); in docker mode, restarts of the lock server's container
//! (`docker`, feature `docker`).
//!
//! These are building blocks: a fault plan calls them at the times it chose and logs the
//! faults into the run's history itself.

pub mod clock;
#[cfg(feature = "docker")]
pub mod docker;
mod process;
pub mod restart;
pub mod sentinel;
pub mod slow;

pub use clock::FaketimeServer;
pub use restart::{Crash, Persistence, Restartable, RestartableServer};
pub use sentinel::{Failover, Outage, SentinelGroup};
pub use slow::{PauseMode, client_pause, debug_sleep};

/// The lock server a run's server faults strike: a container of its own when `in_docker`
/// (feature `docker`), else a local `redis-server` answering debug commands from loopback.
/// Call it from the thread that lives for the whole run (a local server dies with its thread).
pub fn lock_server(
    in_docker: bool,
    persistence: Persistence,
) -> anyhow::Result<Box<dyn Restartable>> {
    use anyhow::Context as _;
    if in_docker {
        #[cfg(feature = "docker")]
        return Ok(Box::new(docker::ContainerServer::start(persistence)?));
        #[cfg(not(feature = "docker"))]
        anyhow::bail!("docker mode needs a contend built with the docker feature");
    }
    let server = RestartableServer::start(persistence, &["--enable-debug-command", "local"])
        .context("cannot start the lock server of the run's server faults")?;
    Ok(Box::new(server))
}
