//! `contend`: runs many real processes contending for a Redis lock, injects faults, and checks
//! what happened (see `../shared/DESIGN.md`, "The harness").

pub mod specimens;
