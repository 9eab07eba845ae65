//! A deterministic model of Redis, for testing lock machines without a server.
//!
//! Internal: hidden from the docs, for the `contend` harness; not covered by semver.
//!
//! Deterministic; no sockets, no clocks, no threads. [`Model`] holds the keys, a logical clock
//! in milliseconds, the clients blocked in `BLPOP` and the pub/sub subscriptions, for the subset
//! of Redis the lock algorithms use. It executes one command at a time for a client named by a
//! [`ClientId`], atomically, as a single-threaded server does; scripts run through their model
//! face ([`crate::proto::Script::model`]) inside the same atomic step. The model never owns a
//! machine or a connection: whoever drives it decides when commands arrive and when time moves.
//!
//! What it models, as observed by commands on Redis 7:
//!
//! - strings and lists, with `WRONGTYPE` where a command meets the other kind;
//! - expiry: a key is alive while `now <= expires_at` and invisible to every command after;
//!   `PTTL`/`TTL` answer -2 and -1 like Redis, and `TTL` rounds to the nearest second;
//! - `BLPOP`: a client blocked on an empty list is served, longest-blocked first, after the
//!   command (or script) that pushed to it; it times out with a nil reply once the clock passes
//!   its deadline;
//! - `PUBLISH` to subscribers registered with [`Model::subscribe`];
//! - a restart that keeps or loses the data ([`Persistence`]).
//!
//! Active expiry, memory, replication and the wire protocol are not modelled: none of them is
//! visible to the commands the algorithms send. The differential test `tests/model_diff.rs` runs
//! random command sequences against a real `redis-server` and this model and requires equal
//! replies.
//!
//! # Driving one machine
//!
//! [`run()`] runs a single [`crate::proto::Machine`] to completion against a model, moving the
//! logical clock for sleeps and timeouts. It is enough for tests of one operation at a time.
//!
//! # Driving many clients (the simulator's contract)
//!
//! A multi-client simulator keeps, for each client, its machine and the action it is waiting
//! on, and a queue of messages in flight. Each step it picks (from a seeded generator) one of:
//!
//! 1. deliver a client's pending [`Command`](crate::proto::Command) to the model:
//!    [`Model::exec`]; a [`Step::Reply`] goes into the in-flight queue back to the client, a
//!    [`Step::Blocked`] means the reply comes later through [`Model::take_unblocked`];
//! 2. deliver a reply (or a pub/sub message, [`Model::take_deliveries`]) to its client: feed the
//!    machine the event, and record its next action;
//! 3. move the clock ([`Model::advance_to`]) to the next interesting instant: the earliest
//!    sleep or wait deadline of a client, or [`Model::next_timeout`];
//! 4. a fault: crash a client ([`Model::disconnect`] drops its block and subscriptions), or
//!    restart the server ([`Model::restart`]).
//!
//! After every [`Model::exec`] and every clock move, drain [`Model::take_unblocked`]: a push can
//! serve blocked clients and a clock move can time them out. The machines see time as
//! `Duration::from_millis(model.now())` (plus any skew the simulator gives a client), so the same
//! seed replays the same history.

mod index;
#[cfg(feature = "loom")]
pub mod loom_support;
mod model;
mod run;
mod run_each;

pub use model::{Model, Persistence};
pub use run::{RunOptions, run, run_with};
pub use run_each::{Server, run_each};

/// A client of the model: one connection. Ids are chosen by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// What [`Model::exec`] did with a command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Step {
    /// The command ran; here is its reply.
    Reply(crate::proto::Reply),
    /// The client is blocked (`BLPOP` on an empty list); its reply will come out of
    /// [`Model::take_unblocked`] when an item is pushed or the timeout passes.
    Blocked,
}

/// A pub/sub message for a subscribed client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The subscriber.
    pub client: ClientId,
    /// The channel it was published on.
    pub channel: crate::proto::Bytes,
    /// The message.
    pub message: crate::proto::Bytes,
}
