//! What a run left on the lock server: listed after the last worker ended, for the residue
//! checker (`check/residue.rs`).

use crate::clock::monotonic_ns;
use crate::history::{Event, Kind, Op};

/// The algorithm's say on its keys: those it keeps by design, and those waiters' looks renew
/// (`redmutex::algo::Protocol::kept_keys`, `renewed_keys`).
pub(super) struct KeyRoles {
    /// Kept by design.
    pub kept: Vec<Vec<u8>>,
    /// Renewed by every waiter's look.
    pub renewed: Vec<Vec<u8>>,
}

/// The lock's keys left on the lock servers at `urls` (`SCAN MATCH` on the lock key's name),
/// each with its PTTL and its roles (named `KEY (server I)` when there are several servers),
/// then one closing event with their count. Each server gets a connection of its own: one
/// opened before the run died with a restarted server.
pub(super) async fn list_all(
    urls: &[String],
    lock: &[u8],
    roles: &KeyRoles,
) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let mut conn = crate::servers::connect(url)
            .await
            .map_err(|e| e.context(format!("lock server {i} ({})", crate::servers::redact(url))))?;
        let mut keys = list(&mut conn, lock, roles).await?;
        if urls.len() > 1 {
            for e in &mut keys {
                if let Some(key) = e.details.as_mut() {
                    key.push_str(&format!(" (server {i})"));
                }
            }
        }
        events.extend(keys);
    }
    let mut close = Event::new(monotonic_ns(), Kind::Ok, Op::Residue);
    close.value = i64::try_from(events.len()).ok();
    events.push(close);
    Ok(events)
}

/// The lock's keys left on one lock server, each with its PTTL and its roles (no closing
/// event).
async fn list(
    conn: &mut redis::aio::MultiplexedConnection,
    lock: &[u8],
    roles: &KeyRoles,
) -> anyhow::Result<Vec<Event>> {
    let mut pattern = lock.to_vec();
    pattern.push(b'*');
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut cursor = 0_u64;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    keys.sort();
    keys.dedup();
    let mut events = Vec::new();
    for key in &keys {
        let pttl: i64 = redis::cmd("PTTL").arg(key).query_async(conn).await?;
        if pttl == -2 {
            continue; // gone meanwhile
        }
        let mut e = Event::new(monotonic_ns(), Kind::Ok, Op::Residue);
        e.details = Some(String::from_utf8_lossy(key).into_owned());
        e.value = Some(pttl);
        e.kept = Some(roles.kept.contains(key));
        e.renewed = roles.renewed.contains(key).then_some(true);
        events.push(e);
    }
    Ok(events)
}
