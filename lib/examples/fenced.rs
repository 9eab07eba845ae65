//! `fenced`: a holder paused past its lease writes late, and the resource refuses the write
//! because a newer holder's fence has been there first.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run -p redmutex --example fenced`
//!
//! Leaves, by design, the lock's fence counter `redmutex:{example:balance}:fence` (a fence must
//! never go back) and the resource's keys `{example:balance}:value` and `{example:balance}:fence`.

use std::time::Duration;

use redmutex::{Algorithm, FencedRead, FencedResource, Lock};

#[tokio::main]
async fn main() -> redmutex::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    run(&url).await
}

pub async fn run(url: &str) -> redmutex::Result<()> {
    let builder = Lock::builder("example:balance")
        .algorithm(Algorithm::Fenced) // every acquisition gets a strictly greater fence
        .ttl(Duration::from_secs(1))
        .wait_timeout(Duration::from_secs(5));
    let slow = builder.clone().connect(url).await?;
    let fast = builder.connect(url).await?;
    // The protected resource keeps the newest fence it has seen. Here it is a key on the same
    // server; it can be anything that compares fences.
    let balance = FencedResource::new(slow.connection().clone(), "example:balance");

    // The slow client takes the lock and reads the balance as the holder of its fence...
    let stale = slow.acquire().await?;
    let old = stale.fence().expect("fenced locks give every guard a fence");
    let read = balance.read_fenced(old).await?;
    println!("slow client (fence {old}) read {read:?}");

    // ...and then stalls past its lease (a GC pause, a swapped-out VM, SIGSTOP).
    stale.lost().await;
    println!("slow client's lease ran out while it was paused");

    // The lock expires in Redis; the next holder gets a greater fence and writes.
    let fresh = fast.acquire().await?;
    let new = fresh.fence().expect("fenced locks give every guard a fence");
    assert!(new > old, "fences must grow");
    let accepted = balance.write(new, b"90").await?;
    assert!(accepted, "the newest holder's write is accepted");
    println!("fast client (fence {new}) wrote 90");

    // The slow client wakes up and writes what it computed before the pause: refused.
    let late = balance.write(old, b"110").await?;
    assert!(!late, "a write with an older fence must be refused");
    println!("slow client's late write with fence {old}: refused");
    // A fenced read is refused the same way.
    assert_eq!(balance.read_fenced(old).await?, FencedRead::Refused);

    let value = balance.read().await?.unwrap_or_default();
    println!("balance is {}", String::from_utf8_lossy(&value));
    // The slow client's release finds the lock no longer its own, and touches nothing.
    let released = stale.release().await?;
    assert!(!released.owned);
    fresh.release().await?;
    Ok(())
}
