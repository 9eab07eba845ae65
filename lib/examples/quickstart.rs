//! The README's example: `REDIS_URL=redis://127.0.0.1:6379 cargo run -p redmutex --example quickstart`.

use std::time::Duration;

use redmutex::{Algorithm, Lock};

#[tokio::main]
async fn main() -> redmutex::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    run(&url).await
}

pub async fn run(url: &str) -> redmutex::Result<()> {
    let lock = Lock::builder("invoice:42")
        .ttl(Duration::from_secs(10)) // the key expires by itself if we die
        .wait_timeout(Duration::from_secs(5)) // give up waiting after this
        .algorithm(Algorithm::Fenced) // each acquisition gets a strictly increasing fence
        .connect(url)
        .await?;

    let guard = lock.acquire().await?;
    println!("holding {} with fence {:?}", guard.token(), guard.fence());

    // Do the work, but stop if the lease runs out first.
    tokio::select! {
        () = guard.lost() => println!("lease ran out: abandon the work"),
        () = tokio::time::sleep(Duration::from_millis(100)) => println!("work done"),
    }

    let released = guard.release().await?;
    println!(
        "released after {:?}, {:?} of the lease left; it was still ours: {}",
        released.held, released.margin, released.owned
    );
    Ok(())
}
