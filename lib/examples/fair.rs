//! `fair`: a strict FIFO queue. Waiters block like `notify`'s, each release hands the lock to
//! the oldest waiter, and a newcomer never takes the lock while anyone waits: not even when
//! the lock falls free because its holder's lease ran out.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run -p redmutex --example fair`
//!
//! Uses keys under `redmutex:{example:ticket}`, all gone when the example ends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redmutex::{Algorithm, Lock};

#[tokio::main]
async fn main() -> redmutex::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    run(&url).await
}

pub async fn run(url: &str) -> redmutex::Result<()> {
    let lock = Lock::builder("example:ticket")
        .algorithm(Algorithm::Fair)
        .ttl(Duration::from_secs(10))
        .wait_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    let holder = lock.acquire().await?;
    println!("main holds the ticket counter");

    // Four customers queue behind it, one after another (each is in the queue once its first
    // command, the acquire script, has run: the next comes only then).
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut customers = Vec::new();
    for id in 0..4 {
        let (mine, served) = (lock.clone(), Arc::clone(&served));
        customers.push(tokio::spawn(async move {
            let guard = mine.acquire().await?;
            // A waiter handed the lock sent two commands: the script that queued it and the
            // BLPOP the hand-off answered.
            println!(
                "customer {id} served after {:?}, {} commands",
                guard.waited(),
                guard.commands()
            );
            served.lock().expect("not poisoned").push(id);
            guard.release().await?; // hands the lock to the next in the queue
            Ok::<_, redmutex::Error>(())
        }));
        while queued(&lock).await < id + 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    // A latecomer that only tries: the lock is held and four wait, so it gets nothing.
    let latecomer = lock.try_acquire().await?;
    assert!(latecomer.is_none(), "a latecomer passed the queue");

    holder.release().await?;
    for customer in customers {
        customer.await.expect("a customer panicked")?;
    }
    let order = served.lock().expect("not poisoned").clone();
    println!("served in order {order:?}");
    assert_eq!(order, [0, 1, 2, 3], "served out of arrival order");
    Ok(())
}

/// How many wait in the queue (a list of tokens under the lock's key prefix), read on a
/// connection of our own.
async fn queued(lock: &Lock) -> usize {
    let client = redis::Client::open(lock.connection().url()).expect("the lock's own URL");
    let mut raw = client.get_multiplexed_async_connection().await.expect("connect");
    redis::AsyncCommands::llen(&mut raw, &lock.keys().waiters).await.expect("LLEN")
}
