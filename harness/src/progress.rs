//! The live progress line on stderr (only when stderr is a terminal).

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Counts acquisitions and violations as events arrive, and redraws one line now and then.
#[derive(Debug)]
pub struct Progress {
    on: bool,
    started: Instant,
    last_draw: Instant,
    acquisitions: u64,
    violations: u64,
}

impl Progress {
    /// A progress line, drawn only if `wanted` and stderr is a terminal.
    #[must_use]
    pub fn new(wanted: bool) -> Progress {
        let now = Instant::now();
        Progress {
            on: wanted && std::io::stderr().is_terminal(),
            started: now,
            last_draw: now,
            acquisitions: 0,
            violations: 0,
        }
    }

    /// One more acquisition.
    pub fn acquired(&mut self) {
        self.acquisitions += 1;
    }

    /// One more violation seen live (the witness reported a second worker inside).
    pub fn violation(&mut self) {
        self.violations += 1;
    }

    /// Redraws at most five times a second; `last` draws the final state and ends the line.
    pub fn tick(&mut self, last: bool) {
        if !self.on || (!last && self.last_draw.elapsed().as_millis() < 200) {
            return;
        }
        self.last_draw = Instant::now();
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { self.acquisitions as f64 / secs } else { 0.0 };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{secs:6.1} s  {} acquisitions  {rate:8.0}/s  violations so far: {}",
            self.acquisitions, self.violations
        );
        if last {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}
