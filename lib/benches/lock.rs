//! Criterion benches: uncontended acquire+release per algorithm, and contended hand-off with
//! 2 to 16 tasks on separate connections. `just bench` runs them; each group also times a PING
//! on the same server so that figures can be read as round trips.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use redmutex::driver::{Connection, Timeouts};
use redmutex::proto::Command;
use redmutex::testing::RedisServer;
use redmutex::{Algorithm, Lock};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn uncontended(c: &mut Criterion) {
    let server = RedisServer::start().expect("redis-server (apt-get install redis-server)");
    let rt = runtime();
    let conn = rt.block_on(Connection::open(&server.url(), Timeouts::default())).expect("connect");
    let mut group = c.benchmark_group("uncontended");
    group.bench_function("ping", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    conn.exec(&Command::Ping).await.expect("ping");
                }
                t.elapsed()
            })
        });
    });
    for algorithm in Algorithm::ALL {
        let lock = Lock::builder(format!("bench-{algorithm}"))
            .algorithm(algorithm)
            .on(conn.clone())
            .expect("lock");
        group.bench_function(BenchmarkId::new("acquire_release", algorithm), |b| {
            b.iter_custom(|n| {
                rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..n {
                        lock.acquire().await.expect("acquire").release().await.expect("release");
                    }
                    t.elapsed()
                })
            });
        });
    }
    group.finish();
}

fn contended(c: &mut Criterion) {
    let server = RedisServer::start().expect("redis-server (apt-get install redis-server)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("handoff");
    group.measurement_time(Duration::from_secs(5)).sample_size(10);
    for algorithm in Algorithm::ALL {
        for tasks in [2usize, 4, 8, 16] {
            let locks: Vec<Lock> = rt.block_on(async {
                let mut locks = Vec::new();
                for _ in 0..tasks {
                    let lock = Lock::builder(format!("handoff-{algorithm}-{tasks}"))
                        .algorithm(algorithm)
                        .wait_timeout(Duration::from_secs(60))
                        .connect(&server.url())
                        .await
                        .expect("connect");
                    locks.push(lock);
                }
                locks
            });
            // One iteration = one acquisition somewhere among the contending tasks.
            group.bench_function(BenchmarkId::new(algorithm.name(), tasks), |b| {
                b.iter_custom(|n| {
                    let per_task = n.div_ceil(tasks as u64);
                    rt.block_on(async {
                        let t = Instant::now();
                        let handles: Vec<_> = locks
                            .iter()
                            .cloned()
                            .map(|lock| {
                                tokio::spawn(async move {
                                    for _ in 0..per_task {
                                        let g = lock.acquire().await.expect("acquire");
                                        g.release().await.expect("release");
                                    }
                                })
                            })
                            .collect();
                        for h in handles {
                            h.await.expect("task");
                        }
                        let done = (per_task * tasks as u64).max(1) as f64;
                        t.elapsed().mul_f64(n as f64 / done)
                    })
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
