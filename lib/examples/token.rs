//! `token`: two instances of a job race for one lock; one runs the job, the other waits its turn.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run -p redmutex --example token`
//!
//! Uses the key `redmutex:{example:nightly-report}`, gone when the example ends.

use std::time::Duration;

use redmutex::{Algorithm, Lock};

#[tokio::main]
async fn main() -> redmutex::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    run(&url).await
}

pub async fn run(url: &str) -> redmutex::Result<()> {
    let builder = Lock::builder("example:nightly-report")
        .algorithm(Algorithm::Token) // SET NX PX; waiters poll with backoff
        .ttl(Duration::from_secs(5))
        .wait_timeout(Duration::from_secs(10));
    // Two instances of the same service, each with a connection of its own.
    let first = builder.clone().connect(url).await?;
    let second = builder.connect(url).await?;

    let guard = first.acquire().await?;
    println!("first instance runs the job (token {})", guard.token());

    // `try_acquire` never waits: the lock is taken, so the second instance skips the job.
    let skipped = second.try_acquire().await?;
    assert!(skipped.is_none(), "two instances held the lock at once");
    println!("second instance: busy, skipping");

    // A job longer than the ttl pushes its lease forward before it runs out.
    guard.extend().await?;
    println!("first instance extended its lease to a full ttl from now");

    // `acquire` waits: it polls with capped exponential backoff until the lock is free.
    let waiting = tokio::spawn(async move { second.acquire().await });
    tokio::time::sleep(Duration::from_millis(200)).await; // the rest of the job
    let released = guard.release().await?;
    println!("first instance released after {:?} (still ours: {})", released.held, released.owned);

    let next = waiting.await.expect("the waiting task panicked")?;
    println!(
        "second instance got the lock after waiting {:?} ({} attempts)",
        next.waited(),
        next.commands()
    );
    next.release().await?;
    Ok(())
}
