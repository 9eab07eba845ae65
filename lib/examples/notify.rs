//! `notify` (the default): waiters block instead of polling, and each release hands the lock
//! straight to the oldest waiter.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run -p redmutex --example notify`
//!
//! Uses keys under `redmutex:{example:printer}`, all gone when the example ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redmutex::{Algorithm, Lock};

#[tokio::main]
async fn main() -> redmutex::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    run(&url).await
}

pub async fn run(url: &str) -> redmutex::Result<()> {
    let lock = Lock::builder("example:printer")
        .algorithm(Algorithm::Notify)
        .ttl(Duration::from_secs(10))
        .wait_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    let holder = lock.acquire().await?;
    println!("main holds the printer");

    // Three workers queue up behind it. Each blocks in BLPOP on a list of its own: no polling,
    // no commands at all while it waits. (Clones of a lock share its connection; each blocked
    // waiter gets a connection of its own from a small pool.)
    let inside = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for id in 0..3 {
        let (lock, inside) = (lock.clone(), Arc::clone(&inside));
        workers.push(tokio::spawn(async move {
            let guard = lock.acquire().await?;
            assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
            // A waiter woken by a hand-off sent three commands: the SET that found the lock
            // busy, the script that queued it, and the BLPOP the release answered.
            println!(
                "worker {id} printing, after waiting {:?} and {} commands",
                guard.waited(),
                guard.commands()
            );
            assert!(guard.commands() <= 3, "worker {id} was not handed the lock: its wait ran out");
            tokio::time::sleep(Duration::from_millis(50)).await; // the work
            inside.store(false, Ordering::SeqCst);
            // The release stores the next waiter's own token in the lock and wakes it.
            guard.release().await?;
            Ok::<_, redmutex::Error>(())
        }));
        tokio::time::sleep(Duration::from_millis(50)).await; // so that they queue in order
    }

    println!("main releases; the waiters take turns");
    holder.release().await?; // hands the lock to the oldest waiter
    for worker in workers {
        worker.await.expect("a worker panicked")?;
    }
    Ok(())
}
