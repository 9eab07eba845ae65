//! The PING round trip that `floor_ratio` divides by, measured on the lock server before the
//! workers start.
//!
//! On a machine with several cores, a PING between two processes can be two different things:
//! a round trip between two cores running in parallel (what a client and a server on separate
//! machines or cores do), or a pair of context switches on one core, when the scheduler happens
//! to put both processes there. On the 2-core VMs of this project the second is 2–5× faster
//! (13–25 µs against 50–80 µs), and which one an unpinned loop of PINGs gets changes from
//! machine to machine and run to run. So with servers of our own the coordinator pins the lock
//! server's main thread (the one that answers commands) and its own thread to two different
//! cores for the measurement (the round trip between cores, used as the floor), then both to the
//! same core (reported beside it), and restores both affinities. Pinning needs the measurement
//! to stay on one thread, so it is only done on a current-thread runtime. With someone else's
//! server, one core, or a multi-thread runtime, the scheduler decides and the report says so.

use anyhow::Context as _;

/// The measured round trips, µs (medians of 200 PINGs after 20 of warm-up).
#[derive(Clone, Copy, Debug)]
pub struct Ping {
    /// The round trip `floor_ratio` divides by.
    pub p50_us: f64,
    /// How `p50_us` was taken.
    pub placement: Placement,
    /// Both pinned to the same core: a context switch each way instead of a round trip.
    pub same_core_p50_us: Option<f64>,
}

/// Where the two ends of the measured PING ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Pinned to two different cores.
    CrossCore,
    /// Wherever the scheduler put them (someone else's server, or a single core).
    Unpinned,
    /// The simulator's network delay, not a measurement.
    Simulated,
}

impl Placement {
    /// The name in reports: `cross-core`, `unpinned`, `simulated`.
    pub fn name(self) -> &'static str {
        match self {
            Placement::CrossCore => "cross-core",
            Placement::Unpinned => "unpinned",
            Placement::Simulated => "simulated",
        }
    }
}

/// Measures the PING round trip on `conn`; `server_pid` is the lock server's process when it is
/// ours to pin.
pub async fn measure(
    conn: &mut redis::aio::MultiplexedConnection,
    server_pid: Option<u32>,
) -> anyhow::Result<Ping> {
    let one_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
    let pair = server_pid.filter(|_| one_thread).and_then(Pinning::two_cores);
    let Some(mut pin) = pair else {
        let p50_us = median_burst(conn).await?;
        return Ok(Ping { p50_us, placement: Placement::Unpinned, same_core_p50_us: None });
    };
    let cross_core = pin.apart();
    let cross = median_burst(conn).await;
    let same = if cross_core && pin.together() { median_burst(conn).await.ok() } else { None };
    drop(pin);
    let placement = if cross_core { Placement::CrossCore } else { Placement::Unpinned };
    Ok(Ping { p50_us: cross?, placement, same_core_p50_us: same })
}

/// The median of 200 PING round trips after 20 of warm-up, µs.
async fn median_burst(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<f64> {
    let mut samples = Vec::with_capacity(220);
    for _ in 0..220 {
        let t = crate::clock::monotonic_ns();
        redis::cmd("PING").query_async::<String>(conn).await.context("PING the lock server")?;
        samples.push(crate::clock::monotonic_ns() - t);
    }
    samples.drain(..20);
    Ok(crate::clock::median_us(&mut samples).unwrap_or(0.0))
}

/// The coordinator's thread and the server's main thread pinned for the measurement; the
/// affinities they had come back on drop.
struct Pinning {
    server: libc::pid_t,
    server_before: libc::cpu_set_t,
    /// The measuring thread, named explicitly so that drop restores it even if it ran elsewhere.
    me: libc::pid_t,
    me_before: libc::cpu_set_t,
    cores: [usize; 2],
}

impl Pinning {
    /// Two cores both processes may run on, or `None` (one core, or affinity not available).
    fn two_cores(server_pid: u32) -> Option<Pinning> {
        let server = libc::pid_t::try_from(server_pid).ok()?;
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() };
        let me_before = affinity(me)?;
        let server_before = affinity(server)?;
        let mut common = (0..libc::CPU_SETSIZE as usize).filter(|&c| {
            // SAFETY: CPU_ISSET only reads the set, with c < CPU_SETSIZE.
            unsafe { libc::CPU_ISSET(c, &me_before) && libc::CPU_ISSET(c, &server_before) }
        });
        let cores = [common.next()?, common.next()?];
        Some(Pinning { server, server_before, me, me_before, cores })
    }

    /// The server on one core, the coordinator on the other; false if either failed.
    fn apart(&mut self) -> bool {
        set_affinity(self.server, &only(self.cores[0]))
            && set_affinity(self.me, &only(self.cores[1]))
    }

    /// The coordinator joins the server's core.
    fn together(&mut self) -> bool {
        set_affinity(self.me, &only(self.cores[0]))
    }
}

impl Drop for Pinning {
    fn drop(&mut self) {
        set_affinity(self.me, &self.me_before);
        set_affinity(self.server, &self.server_before);
    }
}

/// The cores thread `pid` may run on (a process id names its main thread).
fn affinity(pid: libc::pid_t) -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0)
            .then_some(set)
    }
}

/// Pins thread `pid` to `set`; false if the kernel refused.
fn set_affinity(pid: libc::pid_t, set: &libc::cpu_set_t) -> bool {
    // SAFETY: as above; a failure leaves the affinity as it was.
    unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
}

fn only(core: usize) -> libc::cpu_set_t {
    // SAFETY: as above; core < CPU_SETSIZE by construction.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        set
    }
}
