//! The docker server backend (feature `docker`): a `redis-server` in a container, started with
//! testcontainers from a local image and removed when dropped.
//!
//! This machine has a Docker engine but no image registry, so the image is built locally from
//! the Debian `redis-server` binary (`just redis-image`, which runs
//! `harness/docker/build-image.sh`). A missing image is reported with that command instead of a
//! pull that cannot succeed.
//!
//! The container's port is published on 127.0.0.1 only: the server runs without protected mode
//! and must not be reachable from the network.
//!
//! Two ways in: [`start`] (async, one server, removed when the [`DockerRedis`] is dropped inside a
//! tokio runtime) and [`start_pair`] / [`start_blocking`] / [`start_specs_blocking`] (callable
//! from anywhere, sync or async: the containers live on a thread of their own, with their own
//! runtime, and are removed when the returned [`Containers`] guard is dropped).
//!
//! Every container carries the label [`PID_LABEL`] with the id of the process that started it,
//! so that what a `contend` killed by SIGKILL left behind can be found and removed:
//! `docker rm -f -v $(docker ps -aq --filter label=org.redmutex.contend.pid)`.

use std::any::Any;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use testcontainers::bollard::models::{HostConfig, Mount, MountType};
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// The image `just redis-image` builds.
pub const IMAGE: &str = "redmutex/redis";

/// The tag `just redis-image` builds.
pub const TAG: &str = "local";

/// The environment variable that picks another image for [`start_pair`]: `NAME:TAG`.
pub const IMAGE_ENV: &str = "CONTEND_DOCKER_IMAGE";

/// The port Redis listens on inside the container.
const REDIS_PORT: u16 = 6379;

/// The label on every container this module starts; its value is the starting process's id.
pub const PID_LABEL: &str = "org.redmutex.contend.pid";

/// The folder the image's `redis-server` runs in and keeps its files in.
const DATA_DIR: &str = "/data";

/// How to start one server container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    /// `redis-server` arguments after the defaults (no persistence); later ones win.
    pub args: Vec<String>,
    /// Whether the data folder is a volume of the container's own (removed with it): a real
    /// file system under the engine's data root rather than the container's overlay, for a
    /// server whose files must outlive restarts and whose fsyncs must mean what they say.
    pub data_volume: bool,
}

/// A `redis-server` in a container; the container is removed on drop.
///
/// Drop it inside a tokio runtime (testcontainers removes the container with an async call).
pub struct DockerRedis {
    container: ContainerAsync<GenericImage>,
    port: u16,
}

impl DockerRedis {
    /// `redis://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The host port the server is published on (on 127.0.0.1).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The container's id.
    #[must_use]
    pub fn id(&self) -> &str {
        self.container.id()
    }
}

impl std::fmt::Debug for DockerRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRedis").field("id", &self.id()).field("port", &self.port).finish()
    }
}

/// Starts `redis-server` from `image:tag` (for example [`IMAGE`]:[`TAG`]) with no persistence,
/// published on a free port of 127.0.0.1, and waits until it accepts connections.
///
/// Fails with what to do when Docker is unreachable or the image is missing (`just
/// redis-image`).
pub async fn start(image: &str, tag: &str) -> anyhow::Result<DockerRedis> {
    start_spec(image, tag, &Spec::default()).await
}

/// As [`start`], with `spec`'s extra arguments and data volume.
pub async fn start_spec(image: &str, tag: &str, spec: &Spec) -> anyhow::Result<DockerRedis> {
    check_image(image, tag)?;
    let mut cmd: Vec<String> = [
        "redis-server",
        "--port",
        "6379",
        "--bind",
        "0.0.0.0",
        "--protected-mode",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .map(String::from)
    .into();
    cmd.extend(spec.args.iter().cloned());
    let data_volume = spec.data_volume;
    let mut last = None;
    // A free port can be taken by someone else before Docker binds it: try a few.
    for _ in 0..3 {
        let port =
            redmutex::testing::free_port().context("finding a free port for the container")?;
        let request = GenericImage::new(image, tag)
            .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
            .with_mapped_port(port, REDIS_PORT.tcp())
            .with_host_config_modifier(move |config| {
                loopback_only(config);
                if data_volume {
                    anonymous_data_volume(config);
                }
            })
            .with_label(PID_LABEL, std::process::id().to_string())
            .with_startup_timeout(Duration::from_secs(30))
            .with_cmd(cmd.clone());
        match request.start().await {
            Ok(container) => return Ok(DockerRedis { container, port }),
            Err(e) => last = Some(e),
        }
    }
    let e = last.map_or_else(|| "no attempt made".to_string(), |e| e.to_string());
    bail!(
        "cannot start a container from {image}:{tag}: {e}; is the Docker engine running, and was \
         the image built (`just redis-image`)?"
    )
}

impl DockerRedis {
    /// Removes the container now, reporting failures (dropping removes it too, silently).
    pub async fn stop(self) -> anyhow::Result<()> {
        let id = self.id().to_string();
        self.container.rm().await.with_context(|| format!("removing container {id}"))
    }
}

/// Containers started by [`start_blocking`], kept on a thread of their own; dropping this
/// removes them and waits until they are gone.
pub struct Containers {
    urls: Vec<String>,
    ids: Vec<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Containers {
    /// The servers' URLs (`redis://127.0.0.1:PORT`), in start order.
    #[must_use]
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The containers' ids, in start order.
    #[must_use]
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        // Closing the channel tells the thread to remove the containers and end.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Containers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Containers").field("urls", &self.urls).finish_non_exhaustive()
    }
}

/// Starts `count` servers from `image:tag` on a thread with its own runtime and waits until all
/// accept connections. Blocks the calling thread meanwhile; safe inside or outside a tokio
/// runtime of either flavor.
pub fn start_blocking(image: &str, tag: &str, count: usize) -> anyhow::Result<Containers> {
    start_specs_blocking(image, tag, vec![Spec::default(); count])
}

/// As [`start_blocking`], one container per spec.
pub fn start_specs_blocking(
    image: &str,
    tag: &str,
    specs: Vec<Spec>,
) -> anyhow::Result<Containers> {
    type Started = (Vec<String>, Vec<String>);
    let (image, tag) = (image.to_string(), tag.to_string());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<Started>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("contend-docker".into())
        .spawn(move || {
            // Multi-threaded, so that a container dropped on an error path can remove itself.
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
            let runtime = match runtime {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow!("cannot build a runtime for docker: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let mut servers = Vec::with_capacity(specs.len());
                for spec in &specs {
                    match start_spec(&image, &tag, spec).await {
                        Ok(server) => servers.push(server),
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    }
                }
                let urls = servers.iter().map(DockerRedis::url).collect();
                let ids = servers.iter().map(|s| s.id().to_string()).collect();
                if ready_tx.send(Ok((urls, ids))).is_ok() {
                    // Until the guard is dropped (or its owner dies and the sender with it).
                    let _ = stop_rx.await;
                }
                for server in servers {
                    if let Err(e) = server.stop().await {
                        eprintln!("contend: {e:#}");
                    }
                }
            });
        })
        .context("cannot start the docker thread")?;
    let (urls, ids) = match ready_rx.recv() {
        Ok(Ok(started)) => started,
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(e);
        }
        Err(_) => {
            let _ = thread.join();
            bail!("the docker thread ended without starting the containers");
        }
    };
    Ok(Containers { urls, ids, stop: Some(stop_tx), thread: Some(thread) })
}

/// A lock server and a witness server for a run: two containers from `$CONTEND_DOCKER_IMAGE`
/// (`NAME:TAG`, default `redmutex/redis:local`). Answers the guard that removes them when dropped,
/// the lock server's URL and the witness's.
pub fn start_pair() -> anyhow::Result<(Box<dyn Any>, String, String)> {
    let (image, tag) = image_reference()?;
    let containers = start_blocking(&image, &tag, 2)?;
    let [lock, witness] = containers.urls() else {
        bail!("expected two containers, started {}", containers.urls().len());
    };
    let (lock, witness) = (lock.clone(), witness.clone());
    Ok((Box::new(containers), lock, witness))
}

/// The image runs use: `$CONTEND_DOCKER_IMAGE` (`NAME:TAG`), default `redmutex/redis:local`;
/// answers the name and the tag.
pub fn image_reference() -> anyhow::Result<(String, String)> {
    let reference = std::env::var(IMAGE_ENV).unwrap_or_else(|_| format!("{IMAGE}:{TAG}"));
    let (image, tag) = split_reference(&reference)
        .with_context(|| format!("{IMAGE_ENV}={reference}: expected NAME:TAG"))?;
    Ok((image.to_string(), tag.to_string()))
}

/// `NAME:TAG` split at the tag's colon (a registry's `host:port/` is part of the name).
fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let (name, tag) = reference.rsplit_once(':')?;
    (!name.is_empty() && !tag.is_empty() && !tag.contains('/')).then_some((name, tag))
}

/// Publishes every mapped port on the loopback address only.
fn loopback_only(config: &mut HostConfig) {
    for bindings in config.port_bindings.iter_mut().flat_map(|b| b.values_mut()).flatten() {
        for binding in bindings.iter_mut() {
            binding.host_ip = Some("127.0.0.1".into());
        }
    }
}

/// Mounts an anonymous volume on the data folder: removed with the container (testcontainers
/// removes containers with their volumes).
fn anonymous_data_volume(config: &mut HostConfig) {
    config.mounts.get_or_insert_with(Vec::new).push(Mount {
        target: Some(DATA_DIR.into()),
        typ: Some(MountType::VOLUME),
        ..Mount::default()
    });
}

/// Fails early, with the command that fixes it, when the image is not in the local engine;
/// otherwise testcontainers would try to pull it from a registry this machine cannot reach.
/// Skipped (left to testcontainers) when the `docker` command line is not installed.
fn check_image(image: &str, tag: &str) -> anyhow::Result<()> {
    let reference = format!("{image}:{tag}");
    let output = match Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}"])
        .arg(&reference)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).context("running `docker image inspect`"),
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No such image") || stderr.contains("No such object") {
        bail!(
            "the docker image {reference} is missing: run `just redis-image` to build it \
             (or `harness/docker/build-image.sh {reference}`)"
        );
    }
    bail!("cannot ask Docker about {reference}: {}", stderr.trim());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag() {
        assert_eq!(split_reference("redmutex/redis:local"), Some(("redmutex/redis", "local")));
        assert_eq!(split_reference("host:5000/redis:7"), Some(("host:5000/redis", "7")));
        assert_eq!(split_reference("host:5000/redis"), None);
        assert_eq!(split_reference("redis"), None);
    }
}
