//! Many tasks on separate connections contend; the critical section never overlaps and the
//! shared read-modify-write counter is exact.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use redis::AsyncCommands;
use redmutex::Algorithm;

const TASKS: usize = 20;
const ROUNDS: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_tasks_never_overlap_and_the_counter_is_exact() {
    let server = support::server();
    for algorithm in Algorithm::ALL {
        let counter_key = format!("counter-{algorithm}");
        let inside = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let lock =
                support::builder("exclusion", algorithm).connect(&server.url()).await.unwrap();
            let mut raw = support::raw(&server).await;
            let (inside, counter_key) = (Arc::clone(&inside), counter_key.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let guard = lock.acquire().await.unwrap();
                    assert_eq!(
                        inside.fetch_add(1, Ordering::SeqCst),
                        0,
                        "{algorithm}: two holders"
                    );
                    // The documents' test: a read-modify-write that loses updates without a lock.
                    let n: Option<u64> = raw.get(&counter_key).await.unwrap();
                    tokio::task::yield_now().await;
                    let () = raw.set(&counter_key, n.unwrap_or(0) + 1).await.unwrap();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    assert!(
                        guard.release().await.unwrap().owned,
                        "{algorithm}: lost the lock mid-run"
                    );
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut raw = support::raw(&server).await;
        let total: u64 = raw.get(&counter_key).await.unwrap();
        assert_eq!(total, (TASKS * ROUNDS) as u64, "{algorithm}: lost updates");
    }
}
