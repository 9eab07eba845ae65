//! Server faults on harness-owned servers (issue 13): restarts with a persistence mode
//! ([`restart`]), a slow server ([`slow`]), a server whose wall clock jumps ([`clock`]),
//! Sentinel failover ([`sentinel`]).
//!
//! These are building blocks: a fault plan calls them at the times it chose and logs the
//! faults into the run's history itself.

pub mod clock;
mod process;
pub mod restart;
pub mod sentinel;
pub mod slow;

pub use clock::FaketimeServer;
pub use restart::{Crash, Persistence, RestartableServer};
pub use sentinel::{Failover, Outage, SentinelGroup};
pub use slow::{PauseMode, client_pause, debug_sleep};
