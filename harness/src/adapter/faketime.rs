//! A client clock skew for an adapter: the adapter's process runs under libfaketime, which
//! answers its wall-clock reads (`time()`, `gettimeofday`, `clock_gettime(CLOCK_REALTIME)`)
//! with real time plus an offset read from a control file on every read. The worker writes the
//! offset the scenario's `clock-skew` faults give its slot, when the adapter starts and at each
//! edge of their windows, so the adapter's clock moves when a built-in algorithm's would. The
//! monotonic clock is left alone, as for the built-in algorithms.
//!
//! It works where the runtime reads the time through the C library: CPython, Ruby, Node, the
//! JVM, a Rust or C program linked against glibc. It cannot reach a statically linked program
//! or one that reads the clock itself (Go). An adapter that reports its clock in its hello
//! (`clock_ms`) lets the worker see that the skew took: [`check`].

use std::io;
use std::path::{Path, PathBuf};

use crate::scenario::{ClientSettings, Fault};

/// How to get libfaketime, for error messages.
pub const INSTALL: &str = "`apt-get install libfaketime` (or set CONTEND_LIBFAKETIME to a \
                           libfaketime.so.1)";

/// The libfaketime library, if it is there: `$CONTEND_LIBFAKETIME`, else Debian's place.
#[must_use]
pub fn library() -> Option<PathBuf> {
    crate::server_faults::clock::library().filter(|p| p.is_file())
}

/// Whether `faults` skew the clock of the client in `slot` at some time.
#[must_use]
pub fn skews(faults: &[Fault], slot: u32) -> bool {
    faults.iter().any(|f| matches!(f, Fault::ClockSkew(s) if s.hits_slot(slot)))
}

/// The times (ms into the run) at which the clock offset of the client in `slot` may change:
/// the edges of the windows of the skews that hit it, in order.
#[must_use]
pub fn edges(faults: &[Fault], slot: u32) -> Vec<u64> {
    let mut edges: Vec<u64> = faults
        .iter()
        .filter_map(|f| match f {
            Fault::ClockSkew(s) if s.hits_slot(slot) => Some(s.window),
            _ => None,
        })
        .flat_map(|w| std::iter::once(w.start_ms).chain(w.stop_ms))
        .collect();
    edges.sort_unstable();
    edges.dedup();
    edges
}

/// An offset as libfaketime reads it: `+3.000s`, `-0.250s`.
#[must_use]
pub fn offset_text(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}s", abs / 1000, abs % 1000)
}

/// One adapter's fake clock: the library and the control file it reads.
#[derive(Clone, Debug)]
pub struct FakeClock {
    library: PathBuf,
    control: PathBuf,
    offset_ms: i64,
}

impl FakeClock {
    /// A clock controlled by the file `control` (written now, at offset 0).
    pub fn new(library: PathBuf, control: PathBuf) -> io::Result<FakeClock> {
        let mut clock = FakeClock { library, control, offset_ms: 0 };
        clock.set(0)?;
        Ok(clock)
    }

    /// Sets the adapter's wall clock to real time plus `offset_ms`, from its next read on.
    pub fn set(&mut self, offset_ms: i64) -> io::Result<()> {
        // Written whole and renamed in: the adapter never reads half a file.
        let mut staged = self.control.clone().into_os_string();
        staged.push(".new");
        std::fs::write(&staged, format!("{}\n", offset_text(offset_ms)))?;
        std::fs::rename(&staged, &self.control)?;
        self.offset_ms = offset_ms;
        Ok(())
    }

    /// The offset in force, ms.
    #[must_use]
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// The environment that starts a program under this clock.
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let mut preload = self.library.clone().into_os_string();
        if let Some(more) = std::env::var_os("LD_PRELOAD").filter(|p| !p.is_empty()) {
            preload.push(":");
            preload.push(more);
        }
        vec![
            ("LD_PRELOAD", preload),
            ("FAKETIME_TIMESTAMP_FILE", self.control.clone().into_os_string()),
            ("FAKETIME_NO_CACHE", "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
        ]
    }

    /// The control file.
    #[must_use]
    pub fn control(&self) -> &Path {
        &self.control
    }

    /// Keeps the offset as `settings` give it to the client in `slot`: sets it at each edge of
    /// the skews' windows, `run_start_ns` being the run's start on [`crate::clock`]. Runs until
    /// the last edge; a failed write is reported on stderr (the adapter keeps the old offset).
    pub async fn follow(mut self, settings: ClientSettings, slot: u32, run_start_ns: u64) {
        for edge in edges(&settings.faults, slot) {
            let at = run_start_ns.saturating_add(edge.saturating_mul(1_000_000));
            let wait = at.saturating_sub(crate::clock::monotonic_ns());
            tokio::time::sleep(std::time::Duration::from_nanos(wait)).await;
            let offset = settings.clock_offset_ms(slot, edge);
            if offset != self.offset_ms
                && let Err(e) = self.set(offset)
            {
                eprintln!(
                    "worker slot {slot}: cannot move the adapter's clock to {}: {e}",
                    offset_text(offset)
                );
            }
        }
    }
}

/// Whether the adapter's clock took the skew: `clock_ms`, its wall clock in its hello, must lie
/// within the harness's wall clock before the hello was sent and after its answer was read
/// (`asked_ms`, `answered_ms`, Unix ms), moved by `offset_ms`. A millisecond either side
/// allows for rounding. The error says how far off it was.
pub fn check(offset_ms: i64, asked_ms: i64, answered_ms: i64, clock_ms: i64) -> Result<(), String> {
    let (lo, hi) = (asked_ms + offset_ms - 1, answered_ms + offset_ms + 1);
    if (lo..=hi).contains(&clock_ms) {
        return Ok(());
    }
    Err(format!(
        "its clock in the hello (`clock_ms`) was {:+} ms from the worker's, but the scenario's \
         clock skew runs it under libfaketime at {:+} ms: its runtime does not read the time \
         through the C library (a statically linked program, Go), so a clock skew cannot strike \
         it; leave clock-skew faults out for this adapter",
        clock_ms - (asked_ms + answered_ms) / 2,
        offset_ms
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ClockSkew, Window};

    fn skew(
        start_ms: u64,
        stop_ms: Option<u64>,
        offset_ms: i64,
        workers: Option<Vec<u32>>,
    ) -> Fault {
        Fault::ClockSkew(ClockSkew { window: Window { start_ms, stop_ms }, offset_ms, workers })
    }

    #[test]
    fn offsets_are_written_as_libfaketime_reads_them() {
        assert_eq!(offset_text(3000), "+3.000s");
        assert_eq!(offset_text(-2500), "-2.500s");
        assert_eq!(offset_text(-4), "-0.004s");
        assert_eq!(offset_text(0), "+0.000s");
    }

    #[test]
    fn the_edges_are_those_of_the_skews_that_hit_the_slot() {
        let faults = [skew(500, Some(1500), 3000, Some(vec![0])), skew(0, None, -200, None)];
        assert_eq!(edges(&faults, 0), vec![0, 500, 1500]);
        assert_eq!(edges(&faults, 1), vec![0]);
        assert!(skews(&faults, 1));
        assert!(!skews(&faults[..1], 1));
    }

    #[test]
    fn a_clock_that_did_not_move_is_found_out() {
        assert!(check(3000, 1_000, 1_010, 4_005).is_ok());
        let err = check(3000, 1_000, 1_010, 1_005).unwrap_err();
        assert!(err.contains("+0 ms from the worker's") && err.contains("+3000 ms"), "{err}");
        assert!(check(-40, 1_000, 1_000, 1_000).is_err());
    }
}
