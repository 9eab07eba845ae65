//! A `redis-server` of our own for tests and the harness (feature `testing`).
//!
//! [`RedisServer`] starts `redis-server` (from `$REDMUTEX_REDIS_SERVER`, else `PATH`) on a free
//! loopback port with a temporary folder, no persistence unless asked, and `DEBUG` enabled
//! where the server supports the switch. It is killed when dropped, and its log is printed if
//! the thread is panicking (a failing test). On Linux the server also dies with the thread that
//! started it, so a killed test run leaves no server behind: start servers from a thread that
//! lives as long as they should.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment variable naming the `redis-server` binary to use.
pub const SERVER_ENV: &str = "REDMUTEX_REDIS_SERVER";

/// A running `redis-server`, stopped on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    config: ServerBuilder,
}

/// Settings for [`RedisServer`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ServerBuilder {
    persistence: bool,
    args: Vec<String>,
    port: Option<u16>,
}

impl ServerBuilder {
    /// Keep data across [`RedisServer::restart`] (append-only file, fsync always).
    pub fn persistence(mut self, on: bool) -> ServerBuilder {
        self.persistence = on;
        self
    }

    /// An extra command-line argument for `redis-server`.
    pub fn arg(mut self, arg: impl Into<String>) -> ServerBuilder {
        self.args.push(arg.into());
        self
    }

    /// Listen on this port instead of a free one.
    pub fn port(mut self, port: u16) -> ServerBuilder {
        self.port = Some(port);
        self
    }

    /// Starts the server and waits until it answers `PING`.
    pub fn start(self) -> io::Result<RedisServer> {
        let mut last_err = None;
        // A free port can be taken by someone else before the server binds it: try a few.
        for _ in 0..5 {
            let port = match self.port {
                Some(p) => p,
                None => free_port()?,
            };
            let dir = tempfile::Builder::new().prefix("redmutex-redis-").tempdir()?;
            let mut server = RedisServer { child: None, port, dir, config: self.clone() };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last_err = Some(e),
            }
            if self.port.is_some() {
                break;
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }
}

impl RedisServer {
    /// Starts a server with the default settings.
    pub fn start() -> io::Result<RedisServer> {
        RedisServer::builder().start()
    }

    /// Settings for a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
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

    /// The server's process id, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's working folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server logged so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Kills the server (SIGKILL: no shutdown save).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts it again on the same port and folder. Data survives only
    /// with [`ServerBuilder::persistence`].
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn spawn(&mut self) -> io::Result<()> {
        let binary = binary();
        let mut cmd = Command::new(&binary);
        cmd.arg("--port").arg(self.port.to_string());
        cmd.args(["--bind", "127.0.0.1", "--daemonize", "no", "--protected-mode", "no"]);
        cmd.arg("--dir").arg(self.dir.path());
        cmd.arg("--logfile").arg(self.log_path());
        cmd.args(["--save", ""]);
        if self.config.persistence {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if major_version(&binary) >= 7 {
            cmd.args(["--enable-debug-command", "local"]);
        }
        cmd.args(&self.config.args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot run {}: {e}; install it (apt-get install redis-server) or set {SERVER_ENV}",
                    binary.display()
                ),
            )
        })?;
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match ping_ours(self.port, pid) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    self.kill();
                    return Err(e);
                }
                Err(_) => {}
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(io::Error::other(format!(
                    "redis-server exited ({status}) at start; its log:\n{}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        Err(io::Error::other(format!(
            "redis-server did not answer PING in 10 s; log:\n{}",
            self.log()
        )))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- redis-server log (port {}) ---\n{}", self.port, self.log());
        }
    }
}

/// The `redis-server` binary: `$REDMUTEX_REDIS_SERVER`, else `redis-server` from `PATH`.
#[must_use]
pub fn binary() -> PathBuf {
    std::env::var_os(SERVER_ENV).map_or_else(|| PathBuf::from("redis-server"), PathBuf::from)
}

/// Whether a `redis-server` binary can be run.
#[must_use]
pub fn available() -> bool {
    major_version(&binary()) > 0
}

/// The server's major version (0 when it cannot be run).
#[must_use]
pub fn major_version(binary: &Path) -> u32 {
    static CACHE: OnceLock<std::sync::Mutex<Vec<(PathBuf, u32)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) =
        cache.lock().ok().and_then(|c| c.iter().find(|(b, _)| b == binary).map(|e| e.1))
    {
        return hit;
    }
    let version = Command::new(binary)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let v = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?.to_string();
            v.split('.').next()?.parse().ok()
        })
        .unwrap_or(0);
    if let Ok(mut c) = cache.lock() {
        c.push((binary.to_path_buf(), version));
    }
    version
}

/// A port that was free a moment ago.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One `PING` over a plain socket.
pub fn ping(port: u16) -> io::Result<()> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    s.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf)?;
    if &buf == b"+PONG\r\n" { Ok(()) } else { Err(io::Error::other("not PONG")) }
}

/// [`ping`], and the server that answers is process `pid` (`INFO server`'s `process_id`): a
/// server restarted on its old port must not take another server that took the port meanwhile
/// (another test's, say) for itself. Fails with [`io::ErrorKind::AddrInUse`] when another
/// process answers.
pub fn ping_ours(port: u16, pid: u32) -> io::Result<()> {
    ping(port)?;
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    s.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")?;
    let mut reader = io::BufReader::new(s);
    let mut head = String::new();
    io::BufRead::read_line(&mut reader, &mut head)?;
    let len: usize = head
        .strip_prefix('$')
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("INFO server answered {head:?}")))?;
    let mut body = vec![0; len + 2];
    reader.read_exact(&mut body)?;
    let answered = String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix("process_id:").and_then(|p| p.trim().parse::<u32>().ok()))
        .ok_or_else(|| io::Error::other("INFO server has no process_id"))?;
    if answered == pid {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "port {port} is answered by another redis-server (pid {answered}), not ours                  (pid {pid}): someone took the port"
            ),
        ))
    }
}

/// Makes a child started with `cmd` die with the thread that starts it (Linux), so a killed
/// test or run leaves no server behind; elsewhere it does nothing.
#[cfg(target_os = "linux")]
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child's own process state.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// As on Linux; without `PR_SET_PDEATHSIG` it does nothing.
#[cfg(not(target_os = "linux"))]
pub fn die_with_parent(_cmd: &mut Command) {}
