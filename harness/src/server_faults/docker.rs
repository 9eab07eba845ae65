//! Server faults in docker mode (feature `docker`): the lock server is a container of the run's
//! own that a restart crashes and starts again — the container itself, as an orchestrator would
//! see it, not a process inside it.
//!
//! - `sigkill` is `docker kill --signal KILL`: the server is PID 1 of the container, so the
//!   whole container goes, a snapshot child with it; `shutdown-nosave` sends `SHUTDOWN NOSAVE`
//!   through the published port and the container exits with its server. Either way the
//!   container is stopped, not removed.
//! - `docker start` brings the same container back: the same published port on 127.0.0.1
//!   (Docker keeps the binding), the same data volume (an anonymous volume on `/data`, removed
//!   with the container), so each persistence mode keeps what it keeps with a local server.
//!
//! The faults go through the `docker` command line (the same one `just redis-image` needs):
//! each call is synchronous, as a strike of the coordinator is, and says what the engine
//! answered when it fails. Creating and removing the container is [`crate::docker`]'s, so it is
//! removed on every path a run ends by (the guard is dropped).
//!
//! A partition is *not* a `docker network disconnect` here: the workers are processes on this
//! machine that reach the container through its published port, and disconnecting the
//! container from its network unpublishes that port — every connection of every worker is
//! closed at once and new ones are refused (Docker 20.10, userland proxy; see
//! `docs/scenarios.md`). That cuts everyone, loudly, where `partition-holder` cuts one holder
//! silently, so the fault proxy in front of the published port does it, as in local mode.

use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::restart::{self, Crash, Persistence, Restartable};
use crate::docker::{self, Containers, Spec};

/// How long a crashed container may take to stop, and a started one to answer `PING`.
const STATE_LIMIT: Duration = Duration::from_secs(30);

/// A lock server in a container of its own, with a persistence mode, that can crash and start
/// again; removed (with its volume) when dropped.
pub struct ContainerServer {
    /// Removes the container when dropped.
    _containers: Containers,
    id: String,
    port: u16,
    persistence: Persistence,
    up: bool,
}

impl ContainerServer {
    /// Starts a container from the run's image (`$CONTEND_DOCKER_IMAGE`, default
    /// `redmutex/redis:local`) with `persistence`, a data volume of its own and debug commands
    /// (for `DEBUG SLEEP`: the port is published on 127.0.0.1 only, and the server's clients
    /// come through Docker's proxy, which Redis does not count as local).
    pub fn start(persistence: Persistence) -> anyhow::Result<ContainerServer> {
        let (image, tag) = docker::image_reference()?;
        let mut args: Vec<String> = persistence.args().iter().map(|a| (*a).to_string()).collect();
        args.extend(["--enable-debug-command".into(), "yes".into()]);
        let containers =
            docker::start_specs_blocking(&image, &tag, vec![Spec { args, data_volume: true }])
                .context("cannot start the lock server's container for the run's server faults")?;
        let (Some(id), Some(url)) = (containers.ids().first(), containers.urls().first()) else {
            anyhow::bail!("the docker backend started no container");
        };
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("no port in the container's URL {url}"))?;
        let id = id.clone();
        Ok(ContainerServer { _containers: containers, id, port, persistence, up: true })
    }

    /// The container's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits until the container has stopped.
    fn wait_stopped(&self) -> io::Result<()> {
        let deadline = Instant::now() + STATE_LIMIT;
        while cli(&["inspect", "--format", "{{.State.Running}}", &self.id])?.trim() == "true" {
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "container {} still running {} s after the crash",
                    short(&self.id),
                    STATE_LIMIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Restartable for ContainerServer {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn persistence(&self) -> Persistence {
        self.persistence
    }

    fn is_up(&self) -> bool {
        self.up
    }

    fn pid(&self) -> Option<u32> {
        None
    }

    fn noun(&self) -> &'static str {
        "the lock server's container"
    }

    fn crash(&mut self, how: Crash) -> io::Result<()> {
        if !self.up {
            return Ok(());
        }
        match how {
            Crash::Sigkill => {
                cli(&["kill", "--signal", "KILL", &self.id])?;
            }
            Crash::ShutdownNosave => restart::shutdown_nosave(self.port)?,
        }
        self.wait_stopped()?;
        self.up = false;
        Ok(())
    }

    fn start_again(&mut self) -> io::Result<()> {
        cli(&["start", &self.id])?;
        let deadline = Instant::now() + STATE_LIMIT;
        // Until the proxy is published again and the server has loaded what it kept (a loading
        // server answers -LOADING, not PONG).
        while let Err(e) = redmutex::testing::ping(self.port) {
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "container {} started but answers no PING on port {} after {} s: {e}",
                    short(&self.id),
                    self.port,
                    STATE_LIMIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.up = true;
        Ok(())
    }
}

impl std::fmt::Debug for ContainerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerServer")
            .field("id", &short(&self.id))
            .field("port", &self.port)
            .field("persistence", &self.persistence)
            .field("up", &self.up)
            .finish()
    }
}

/// Runs `docker ARGS`, answering its output, or an error with what the engine said.
fn cli(args: &[&str]) -> io::Result<String> {
    let output = Command::new("docker").args(args).output().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            io::Error::other(
                "the `docker` command line is not installed: docker-mode server faults run it \
                 (apt-get install docker.io), or run with --server local",
            )
        } else {
            io::Error::other(format!("cannot run `docker {}`: {e}", args.join(" ")))
        }
    })?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "`docker {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A container id as `docker ps` shows it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
