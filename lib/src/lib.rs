//! # redmutex
//!
//! A Redis lock that is correct wherever a single healthy Redis makes that possible, and says
//! plainly what it cannot promise.
//!
//! - **Ownership.** Every acquisition stores a fresh 128-bit random token; release and extend
//!   are Lua scripts that act only if the key still holds our token, so a holder whose lease ran
//!   out never deletes the next holder's lock.
//! - **Leases.** A [`Guard`] knows until when the lock is safely ours: the instant the winning
//!   command was *sent* plus the ttl minus a drift allowance. [`Guard::lost`] resolves when
//!   that passes, or when an extend finds the lock gone.
//! - **Fencing.** With [`Algorithm::Fenced`] each acquisition carries a strictly increasing
//!   fence, and a [`FencedResource`] refuses writes with an older one. This is the only defence
//!   against a holder that is paused past its lease (GC, SIGSTOP, a swapped VM).
//! - **No spinning.** [`Algorithm::Notify`] (the default) blocks waiters on a signal list and
//!   hands the lock straight to one of them on release.
//!
//! What no single-Redis lock can promise: safety across a failover to a replica that missed
//! the last write, across a restart without persistence (the lock and the fence counter are
//! forgotten), or when the server's clock jumps forward (Redis expires keys by its wall clock).
//! [`LockBuilder::replicas`] narrows the failover case (each acquire waits until replicas have
//! the key) without closing it. [`Redlock`] spreads one lock over several independent servers
//! and survives a minority of them failing, on assumptions of its own (no fence, clocks that
//! run at the same rate).
//!
//! ## Design
//!
//! Every algorithm is a sans-IO state machine fed events and answering actions; a small tokio
//! driver behind [`Connection`] runs them on real Redis. The same machines run against a model
//! of Redis and under loom (`docs/ARCHITECTURE.md` in the repository). The modules that expose
//! them (`algo`, `driver`, `proto`, `scripts`, `sim`) are hidden from these docs: they serve
//! the `contend` harness and are not covered by semver. Everything documented here is the API.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = redmutex::testing::RedisServer::start()?;
//! # let url = server.url();
//! use std::time::Duration;
//! use redmutex::Lock;
//!
//! let lock = Lock::builder("report:daily")
//!     .ttl(Duration::from_secs(30))
//!     .connect(&url) // e.g. "redis://127.0.0.1:6379"
//!     .await?;
//! if let Some(guard) = lock.try_acquire().await? {
//!     tokio::select! {
//!         () = guard.lost() => eprintln!("lease ran out; abandon the work"),
//!         () = async { /* the protected work */ } => {}
//!     }
//!     guard.release().await?;
//! }
//! # Ok(()) }
//! ```
//!
//! ## A fenced write, end to end
//!
//! A paused holder *will* outlive its lease; only the resource can notice. With
//! [`Algorithm::Fenced`] every guard carries a fence, and a [`FencedResource`] (here a key on a
//! Redis of your choice) refuses a write whose fence is older than one it has seen:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = redmutex::testing::RedisServer::start()?;
//! # let url = server.url();
//! use std::time::Duration;
//! use redmutex::{Algorithm, FencedResource, Lock};
//!
//! let lock = Lock::builder("invoice:42")
//!     .algorithm(Algorithm::Fenced)
//!     .ttl(Duration::from_secs(10))
//!     .connect(&url)
//!     .await?;
//! // The resource may live anywhere that can compare fences; here, a key next to the lock.
//! let resource = FencedResource::new(lock.connection().clone(), "invoice:42:total");
//!
//! let guard = lock.acquire().await?;
//! let fence = guard.fence().expect("a fenced lock gives every guard a fence");
//! // Accepted: no newer holder has written yet. A holder paused past its lease would get
//! // `false` here once the next holder had written with its newer fence.
//! assert!(resource.write(fence, b"100").await?);
//! guard.release().await?;
//! # Ok(()) }
//! ```
//!
//! ## Drops, cancellation and broken connections
//!
//! - Dropping a [`Guard`] without [`Guard::release`] releases the lock in a background task
//!   (owner-checked); without a tokio runtime, or while it shuts down, the key lives until its
//!   ttl — never longer.
//! - Dropping an [`Lock::acquire`] future at any await point (a `select!`, a timeout) is safe:
//!   what the dropped attempt may have taken, or been handed, is released or passed on in the
//!   background.
//! - A broken connection (a server restart, an idle timeout, `CLIENT KILL`) fails the command
//!   under way and is replaced on the next one: retry on the same [`Lock`]. [`Guard::release`]
//!   and [`Guard::extend`] retry a lost reply themselves and say when they could not confirm.
//!
//! ## Metrics (feature `metrics`)
//!
//! With the feature `metrics` (off by default) the lock reports through the
//! [`metrics`](https://docs.rs/metrics) facade; it brings no exporter: install the recorder of
//! your choice (Prometheus, StatsD, ...) and these appear. No label carries the lock's name, which
//! may be unbounded (`invoice:42`).
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `redmutex_acquires_total` | counter | `algorithm`, `outcome` | every `acquire` and `try_acquire` call that returned: `outcome` is `acquired`, `busy` (`try_acquire` found the lock held), `timeout` (`acquire` waited its whole wait timeout) or `error` |
//! | `redmutex_acquire_wait_seconds` | histogram | `algorithm` | how long each acquisition waited ([`Guard::waited`]) |
//! | `redmutex_releases_total` | counter | `algorithm`, `owned` | every release that got an answer, explicit or a dropped guard's; `owned=false`: the lease had run out, and the work may have overlapped another holder's |
//! | `redmutex_hold_seconds` | histogram | `algorithm` | how long the lock was held, per answered release ([`Released::held`]) |
//! | `redmutex_release_margin_seconds` | histogram | `algorithm` | how much of the lease was left when the release was sent ([`Released::margin`]), for releases sent within the lease |
//! | `redmutex_leases_lost_total` | counter | `algorithm`, `reason` | guards whose lease was over when they were released or dropped: `reason` is `expired` (the validity deadline passed) or `gone` (an extend or renewal found the lock taken) |
//! | `redmutex_unconfirmed_total` | counter | `algorithm`, `op` | releases and extends that got no answer on any attempt ([`Error::Unconfirmed`]), a dropped guard's release included; `op` is `release` or `extend` |

#![warn(missing_docs)]

#[doc(hidden)]
pub mod algo;
#[doc(hidden)]
pub mod driver;
mod error;
#[doc(hidden)]
pub mod fanout;
mod guard;
mod lock;
#[doc(hidden)]
pub mod proto;
mod redlock;
mod resource;
#[doc(hidden)]
pub mod scripts;
#[doc(hidden)]
pub mod sim;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use algo::{Algorithm, Backoff};
pub use driver::{Connection, Timeouts};
pub use error::{Error, Result};
pub use guard::{Guard, Loss, Released};
pub use lock::{Lock, LockBuilder, MAX_TTL, MAX_WAIT};
pub use proto::Keys;
/// The `redis` crate this one is built on, for matching [`Error::Redis`]'s error kinds without
/// a second, possibly different, `redis` dependency.
pub use redis;
pub use redlock::{MIN_SERVERS, Redlock, RedlockBuilder, RedlockGuard};
pub use resource::{FencedRead, FencedResource};
