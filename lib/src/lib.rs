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
//!
//! ## Design
//!
//! Every algorithm is a sans-IO state machine ([`proto::Machine`]) fed events and answering
//! actions; [`driver::Connection`] runs them on real Redis. The same machines run against a model
//! of Redis and under loom.
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

#![warn(missing_docs)]

pub mod algo;
pub mod driver;
mod error;
mod guard;
mod lock;
pub mod proto;
mod resource;
pub mod scripts;
pub mod sim;
#[cfg(feature = "testing")]
pub mod testing;

pub use algo::Algorithm;
pub use driver::Connection;
pub use error::{Error, Result};
pub use guard::{Guard, Loss, Released};
pub use lock::{Lock, LockBuilder, MAX_TTL, MAX_WAIT};
/// The `redis` crate this one is built on, for matching [`Error::Redis`]'s error kinds without
/// a second, possibly different, `redis` dependency.
pub use redis;
pub use resource::{FencedRead, FencedResource};
