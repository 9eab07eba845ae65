//! `contend`: runs many real processes contending for a Redis lock, injects faults, and checks
//! what happened. `docs/ARCHITECTURE.md` maps the modules and the path from a scenario to a
//! verdict.
//!
//! The pieces a simulator reuses are pure: [`history`] (the events) and [`check`] (the
//! checkers, functions from a history to verdicts).

pub mod adapter;
pub mod bench;
pub use contend_check::check;
pub mod clock;
#[cfg(feature = "docker")]
pub mod docker;
pub mod gate;
pub use contend_check::history;
pub mod ping;
pub mod plan;
pub mod progress;
pub mod proxy;
pub mod registry;
pub mod report;
pub mod run;
pub mod scenario;
pub mod server_faults;
pub mod servers;
pub mod sim;
pub mod specimens;
pub mod witness;
pub mod worker;
