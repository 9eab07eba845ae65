//! Indexes of the model's connections: clients blocked in `BLPOP` and channel subscribers, so
//! that a simulation with thousands of clients pays logarithmic costs, not linear scans.

use std::collections::{BTreeMap, BTreeSet};

use super::ClientId;
use crate::proto::Bytes;

/// Clients blocked in `BLPOP`, each at most once, found by arrival order, key, deadline and
/// client.
#[derive(Clone, Debug, Default)]
pub(super) struct Waiters {
    /// Arrival number → waiter; lower numbers blocked earlier.
    by_seq: BTreeMap<u64, Waiter>,
    by_key: BTreeMap<Bytes, BTreeSet<u64>>,
    by_deadline: BTreeSet<(u64, u64)>,
    by_client: BTreeMap<ClientId, u64>,
    next_seq: u64,
}

/// One blocked client.
#[derive(Clone, Debug)]
pub(super) struct Waiter {
    pub(super) client: ClientId,
    pub(super) key: Bytes,
    /// The client times out once the clock passes this instant.
    pub(super) deadline: u64,
}

impl Waiters {
    /// Blocks `client` on `key` until `deadline` (a client already blocked is moved).
    pub(super) fn block(&mut self, client: ClientId, key: &[u8], deadline: u64) {
        self.cancel(client);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_key.entry(key.to_vec()).or_default().insert(seq);
        self.by_deadline.insert((deadline, seq));
        self.by_client.insert(client, seq);
        self.by_seq.insert(seq, Waiter { client, key: key.to_vec(), deadline });
    }

    /// Unblocks `client` without a reply; answers whether it was blocked.
    pub(super) fn cancel(&mut self, client: ClientId) -> bool {
        let Some(seq) = self.by_client.get(&client).copied() else { return false };
        self.remove(seq).is_some()
    }

    /// Removes and answers the longest-blocked client on `key`.
    pub(super) fn first_on(&mut self, key: &[u8]) -> Option<Waiter> {
        let seq = self.by_key.get(key)?.first().copied()?;
        self.remove(seq)
    }

    /// Whether anyone is blocked on `key`.
    pub(super) fn any_on(&self, key: &[u8]) -> bool {
        self.by_key.get(key).is_some_and(|s| !s.is_empty())
    }

    /// Removes and answers the clients whose deadline is before `now`, earliest first.
    pub(super) fn expire(&mut self, now: u64) -> Vec<Waiter> {
        let mut expired = Vec::new();
        while let Some(&(deadline, seq)) = self.by_deadline.first() {
            if deadline >= now {
                break;
            }
            expired.extend(self.remove(seq));
        }
        expired
    }

    /// The earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        self.by_deadline.first().map(|(deadline, _)| *deadline)
    }

    /// The clients blocked on `key`, longest-blocked first.
    pub(super) fn on(&self, key: &[u8]) -> Vec<ClientId> {
        let seqs = self.by_key.get(key).into_iter().flatten();
        seqs.filter_map(|seq| self.by_seq.get(seq)).map(|w| w.client).collect()
    }

    /// Whether `client` is blocked.
    pub(super) fn contains(&self, client: ClientId) -> bool {
        self.by_client.contains_key(&client)
    }

    /// Removes everyone; answers the clients, in id order.
    pub(super) fn clear(&mut self) -> Vec<ClientId> {
        let clients = std::mem::take(&mut self.by_client).into_keys().collect();
        *self = Waiters { next_seq: self.next_seq, ..Waiters::default() };
        clients
    }

    fn remove(&mut self, seq: u64) -> Option<Waiter> {
        let waiter = self.by_seq.remove(&seq)?;
        self.by_deadline.remove(&(waiter.deadline, seq));
        self.by_client.remove(&waiter.client);
        if let Some(seqs) = self.by_key.get_mut(&waiter.key) {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.by_key.remove(&waiter.key);
            }
        }
        Some(waiter)
    }
}

/// The subscribers of each channel, in subscription order.
#[derive(Clone, Debug, Default)]
pub(super) struct Subscribers {
    channels: BTreeMap<Bytes, Channel>,
    next_seq: u64,
}

#[derive(Clone, Debug, Default)]
struct Channel {
    by_seq: BTreeMap<u64, ClientId>,
    by_client: BTreeMap<ClientId, u64>,
}

impl Subscribers {
    /// Subscribes `client` to `channel` (again: no change).
    pub(super) fn add(&mut self, client: ClientId, channel: &[u8]) {
        let seq = self.next_seq;
        let subs = self.channels.entry(channel.to_vec()).or_default();
        if subs.by_client.contains_key(&client) {
            return;
        }
        self.next_seq += 1;
        subs.by_client.insert(client, seq);
        subs.by_seq.insert(seq, client);
    }

    /// Unsubscribes `client` from `channel`.
    pub(super) fn remove(&mut self, client: ClientId, channel: &[u8]) {
        let Some(subs) = self.channels.get_mut(channel) else { return };
        if let Some(seq) = subs.by_client.remove(&client) {
            subs.by_seq.remove(&seq);
        }
        if subs.by_seq.is_empty() {
            self.channels.remove(channel);
        }
    }

    /// Unsubscribes `client` from every channel.
    pub(super) fn remove_everywhere(&mut self, client: ClientId) {
        self.channels.retain(|_, subs| {
            if let Some(seq) = subs.by_client.remove(&client) {
                subs.by_seq.remove(&seq);
            }
            !subs.by_seq.is_empty()
        });
    }

    /// The subscribers of `channel`, in subscription order.
    pub(super) fn of(&self, channel: &[u8]) -> impl Iterator<Item = ClientId> + '_ {
        self.channels.get(channel).into_iter().flat_map(|subs| subs.by_seq.values().copied())
    }

    /// Removes every subscription; answers the subscribers.
    pub(super) fn clear(&mut self) -> Vec<ClientId> {
        let channels = std::mem::take(&mut self.channels);
        channels.into_values().flat_map(|subs| subs.by_client.into_keys()).collect()
    }
}
