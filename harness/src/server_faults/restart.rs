//! Server restarts: a harness-owned server with a persistence mode, crashed by `SIGKILL` or
//! `SHUTDOWN NOSAVE` and started again on the same port and data folder. [`Restartable`] is
//! what a run needs of such a server, a process ([`RestartableServer`]) or a container
//! (`ContainerServer`, feature `docker`).

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::str::FromStr;
use std::time::{Duration, Instant};

use redmutex::testing::RedisServer;
use serde::{Deserialize, Serialize};

/// How a server keeps its data across a crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Persistence {
    /// Nothing: a restart forgets every key.
    #[default]
    None,
    /// RDB snapshots, each second in which something changed (`save 1 1`, Redis's tightest
    /// save point): a crash loses the writes since the last finished snapshot.
    Rdb,
    /// Append-only file, fsync once a second. A write reaches the file (the OS page cache)
    /// before its reply unless a slow fsync holds writes back (up to 2 s), so a process crash
    /// (all [`Crash`] can do) rarely loses anything; a machine crash loses a second or two.
    AofEverysec,
    /// Append-only file, fsync before every reply.
    AofAlways,
}

impl Persistence {
    /// Every mode, in the order a report lists them.
    pub const ALL: [Persistence; 4] =
        [Persistence::None, Persistence::Rdb, Persistence::AofEverysec, Persistence::AofAlways];

    /// The `redis-server` arguments that set this mode (later arguments win over earlier ones).
    #[must_use]
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Persistence::None => &["--save", "", "--appendonly", "no"],
            Persistence::Rdb => &["--save", "1 1", "--appendonly", "no"],
            Persistence::AofEverysec => {
                &["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
            }
            Persistence::AofAlways => {
                &["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
            }
        }
    }

    /// The name scenario files use.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Persistence::None => "none",
            Persistence::Rdb => "rdb",
            Persistence::AofEverysec => "aof-everysec",
            Persistence::AofAlways => "aof-always",
        }
    }
}

impl fmt::Display for Persistence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Persistence {
    type Err = String;

    fn from_str(s: &str) -> Result<Persistence, String> {
        Persistence::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            format!("`{s}` is not a persistence mode: use none, rdb, aof-everysec or aof-always")
        })
    }
}

/// How a server goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Crash {
    /// `SIGKILL` to the server and to a snapshot child it may have forked: nothing is saved.
    Sigkill,
    /// `SHUTDOWN NOSAVE`: the server closes its clients and exits without a snapshot (an
    /// append-only file is flushed and kept).
    ShutdownNosave,
}

/// A lock server the harness owns and can crash and start again on the same port and data.
pub trait Restartable {
    /// `redis://127.0.0.1:PORT` (the same across restarts).
    fn url(&self) -> String;
    /// The port on 127.0.0.1.
    fn port(&self) -> u16;
    /// The persistence mode.
    fn persistence(&self) -> Persistence;
    /// Whether the server is running (not crashed since its last start).
    fn is_up(&self) -> bool;
    /// The server's process id, when it is a process of ours (the PING measurement pins it).
    fn pid(&self) -> Option<u32>;
    /// What the history calls it: "the lock server", "the lock server's container".
    fn noun(&self) -> &'static str;
    /// Brings the server down `how`; it stays down until [`Restartable::start_again`].
    fn crash(&mut self, how: Crash) -> io::Result<()>;
    /// Starts it again with the same settings and waits until it answers `PING`.
    fn start_again(&mut self) -> io::Result<()>;
}

impl Restartable for RestartableServer {
    fn url(&self) -> String {
        RestartableServer::url(self)
    }

    fn port(&self) -> u16 {
        RestartableServer::port(self)
    }

    fn persistence(&self) -> Persistence {
        RestartableServer::persistence(self)
    }

    fn is_up(&self) -> bool {
        RestartableServer::is_up(self)
    }

    fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    fn noun(&self) -> &'static str {
        "the lock server"
    }

    fn crash(&mut self, how: Crash) -> io::Result<()> {
        RestartableServer::crash(self, how)
    }

    fn start_again(&mut self) -> io::Result<()> {
        RestartableServer::start_again(self)
    }
}

/// A harness-owned server that can crash and come back on the same port and folder.
///
/// The process dies with the thread that started it (see [`RedisServer`]): call
/// [`RestartableServer::start`] and [`RestartableServer::start_again`] from the thread that
/// lives for the whole run, not from a blocking-pool thread.
#[derive(Debug)]
pub struct RestartableServer {
    server: RedisServer,
    persistence: Persistence,
    up: bool,
}

impl RestartableServer {
    /// Starts a server with `persistence` on a free port; `extra` arguments go last.
    pub fn start(persistence: Persistence, extra: &[&str]) -> io::Result<RestartableServer> {
        let mut builder = RedisServer::builder();
        for arg in persistence.args().iter().chain(extra) {
            builder = builder.arg(*arg);
        }
        Ok(RestartableServer { server: builder.start()?, persistence, up: true })
    }

    /// `redis://127.0.0.1:PORT` (the same across restarts).
    #[must_use]
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The persistence mode.
    #[must_use]
    pub fn persistence(&self) -> Persistence {
        self.persistence
    }

    /// The server underneath (its folder and log).
    #[must_use]
    pub fn server(&self) -> &RedisServer {
        &self.server
    }

    /// Whether the server is running (not crashed since its last start).
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Brings the server down `how`; it stays down until [`RestartableServer::start_again`].
    /// Returns once the process is gone and its port is closed.
    pub fn crash(&mut self, how: Crash) -> io::Result<()> {
        if !self.up {
            return Ok(());
        }
        let pid = self.server.pid();
        match how {
            Crash::Sigkill => {
                // A snapshot child would go on and write its file after the parent's death.
                let children = pid.map(children).unwrap_or_default();
                self.server.kill();
                for child in children {
                    // SAFETY: kill(2) with a pid we read from our own child's /proc entry.
                    unsafe { libc::kill(child, libc::SIGKILL) };
                }
            }
            Crash::ShutdownNosave => {
                shutdown_nosave(self.server.port())?;
                if let Some(pid) = pid {
                    wait_exit(pid, Duration::from_secs(10));
                }
                // Reaps the exited process (or kills one that would not stop).
                self.server.kill();
            }
        }
        self.up = false;
        Ok(())
    }

    /// Starts the server again on the same port and folder, with the same settings, and waits
    /// until it answers `PING` (after loading whatever its persistence kept).
    pub fn start_again(&mut self) -> io::Result<()> {
        self.server.restart()?;
        self.up = true;
        Ok(())
    }

    /// [`RestartableServer::crash`], `downtime`, then [`RestartableServer::start_again`].
    pub fn restart(&mut self, how: Crash, downtime: Duration) -> io::Result<()> {
        self.crash(how)?;
        std::thread::sleep(downtime);
        self.start_again()
    }
}

/// Sends `SHUTDOWN NOSAVE` to the server on `port` and waits until it closes the connection.
pub(crate) fn shutdown_nosave(port: u16) -> io::Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")?;
    // The server answers by closing the connection; an error reply means it refused.
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    if reply.starts_with(b"-") {
        return Err(io::Error::other(format!(
            "SHUTDOWN NOSAVE refused: {}",
            String::from_utf8_lossy(&reply).trim()
        )));
    }
    Ok(())
}

/// Waits until `pid` has exited (gone or a zombie), at most `limit`.
fn wait_exit(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the parenthesised command name.
        let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
        if matches!(state, None | Some('Z' | 'X')) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The children of `pid` (Linux), e.g. a snapshot or AOF-rewrite child.
fn children(pid: u32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_from_their_names_and_refuse_others() {
        for mode in Persistence::ALL {
            assert_eq!(mode.name().parse::<Persistence>(), Ok(mode));
        }
        let err = "aof".parse::<Persistence>().unwrap_err();
        assert!(err.contains("aof-always"), "{err}");
        let mode: Persistence = serde_json::from_str("\"aof-everysec\"").unwrap();
        assert_eq!(mode, Persistence::AofEverysec);
    }
}
