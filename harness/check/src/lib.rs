//! `contend`'s history and its checkers, a crate of their own: nothing here runs a process or
//! touches a server. A run (real or simulated) records a [`history::History`]; the checkers
//! ([`check::check_all`]) turn it into verdicts. The `contend` crate re-exports both modules as
//! `contend::history` and `contend::check`.
//!
//! Kept apart so that the checkers build and test in seconds: their mutation testing
//! (`just mutants`, docs/mutants.md) rebuilds this crate and its tests for every mutant, not the
//! whole harness.

pub mod check;
pub mod history;
#[doc(hidden)]
pub mod testkit;
