//! The harness's side of the protocol: one adapter child process, every call timed.
//!
//! Anything that is not a well-formed answer in time — the child exits, closes stdout, writes a
//! line that is not an answer, or stays silent past the call timeout — is an [`AdapterFailed`]:
//! a setup error naming the adapter and the last line it sent, never an event of the history.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::faketime::{self, FakeClock};
use super::manifest::Manifest;
use super::proto::{Acquired, Answer, Owned, PROTOCOL, Request, Supports};

/// The adapter broke the protocol: a setup error, not a finding about the lock.
#[derive(Debug)]
pub struct AdapterFailed(pub String);

impl std::fmt::Display for AdapterFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AdapterFailed {}

/// What the adapter said about itself in the handshake.
#[derive(Clone, Debug)]
pub struct Hello {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it supports.
    pub supports: Supports,
    /// Its wall clock when it answered, Unix ms, if it said.
    pub clock_ms: Option<i64>,
}

/// A running adapter.
pub struct Adapter {
    manifest: Manifest,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    last_line: Option<String>,
    stderr_tail: Arc<Mutex<String>>,
    call_timeout: Duration,
    /// The adapter leads a process group of its own, killed whole on drop.
    own_group: Option<i32>,
    /// The handshake's answer.
    pub hello: Hello,
}

/// Where an adapter's processes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// In the caller's process group: a worker, whose group the coordinator signals.
    Inherit,
    /// In a group of its own, killed whole when the [`Adapter`] is dropped (`adapter check`).
    Own,
}

impl Drop for Adapter {
    fn drop(&mut self) {
        if let Some(pgid) = self.own_group {
            // SAFETY: kill(2) on the group our child leads; the child is not yet reaped (we
            // hold it), so the group id is still its.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

/// The most of the adapter's stderr an error message quotes.
const STDERR_TAIL: usize = 2000;

impl Adapter {
    /// Starts the adapter of `manifest` and shakes hands: the adapter must speak protocol 1 and
    /// support what its manifest says. `call_timeout_ms` bounds every later call. With `clock`,
    /// the adapter runs under libfaketime at that clock's offset; when the offset is not 0 and
    /// the hello reports the adapter's clock, the clock must show it.
    pub async fn start(
        manifest: &Manifest,
        redis_url: &str,
        key_prefix: &str,
        call_timeout_ms: u64,
        group: Group,
        clock: Option<&FakeClock>,
    ) -> Result<Adapter, AdapterFailed> {
        let mut cmd = tokio::process::Command::new(manifest.program());
        cmd.args(&manifest.command[1..])
            .current_dir(&manifest.workdir)
            .env("CONTEND_PROTOCOL", PROTOCOL.to_string())
            .env("CONTEND_REDIS_URL", redis_url)
            .env("CONTEND_KEY_PREFIX", key_prefix)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in clock.map(FakeClock::env).unwrap_or_default() {
            cmd.env(name, value);
        }
        // SAFETY: prctl is async-signal-safe and touches only the child itself. The adapter
        // stays in our process group, so the coordinator's SIGSTOP/SIGKILL of the group strike
        // it too; and it dies with us whatever way we die.
        unsafe {
            cmd.pre_exec(move || {
                if group == Group::Own {
                    libc::setpgid(0, 0);
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            let hint = manifest.setup.as_deref().map_or(String::new(), |s| {
                format!(" (is it installed? the manifest says to run `{s}`)")
            });
            AdapterFailed(format!(
                "adapter `{}` ({}): cannot start `{}` in {}: {e}{hint}",
                manifest.name,
                manifest.path.display(),
                manifest.program().display(),
                manifest.workdir.display()
            ))
        })?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(AdapterFailed(format!("adapter `{}`: no pipes", manifest.name)));
        };
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        let tail = Arc::clone(&stderr_tail);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf).await {
                let Ok(mut t) = tail.lock() else { return };
                t.push_str(&String::from_utf8_lossy(&buf[..n]));
                if t.len() > 2 * STDERR_TAIL {
                    let cut = t.len() - STDERR_TAIL;
                    let cut = (cut..t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(0);
                    t.drain(..cut);
                }
            }
        });
        let own_group = match group {
            Group::Own => child.id().and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 0),
            Group::Inherit => None,
        };
        let mut adapter = Adapter {
            own_group,
            manifest: manifest.clone(),
            child,
            stdin,
            stdout: BufReader::new(stdout),
            next_id: 1,
            last_line: None,
            stderr_tail,
            call_timeout: Duration::from_millis(manifest.start_timeout_ms),
            hello: Hello {
                name: String::new(),
                version: String::new(),
                supports: Supports::default(),
                clock_ms: None,
            },
        };
        let hello = Request::Hello {
            id: 0,
            protocol: PROTOCOL,
            redis_url: redis_url.to_string(),
            key_prefix: key_prefix.to_string(),
        };
        let asked_ms = unix_ms();
        let answer = adapter.call(hello).await?;
        let answered_ms = unix_ms();
        adapter.hello = adapter.check_hello(&answer)?;
        if let (Some(clock), Some(clock_ms)) = (clock, adapter.hello.clock_ms)
            && clock.offset_ms() != 0
        {
            faketime::check(clock.offset_ms(), asked_ms, answered_ms, clock_ms)
                .map_err(|e| adapter.fail(&e))?;
        }
        adapter.call_timeout = Duration::from_millis(call_timeout_ms);
        Ok(adapter)
    }

    /// Acquires `key`.
    pub async fn acquire(
        &mut self,
        key: &str,
        ttl_ms: u64,
        wait_ms: u64,
    ) -> Result<Acquired, AdapterFailed> {
        let id = self.id();
        let a = self.call(Request::Acquire { id, key: key.into(), ttl_ms, wait_ms }).await?;
        match a.result.as_deref() {
            Some("acquired") => {
                let Some(token) = a.token else {
                    return Err(self.fail("answered `acquired` without a `token`"));
                };
                if self.hello.supports.fencing && a.fence.is_none() {
                    return Err(
                        self.fail("supports fencing but answered `acquired` without a `fence`")
                    );
                }
                Ok(Acquired::Acquired { token, fence: a.fence })
            }
            Some("timeout") => Ok(Acquired::TimedOut),
            Some("error") => Ok(Acquired::Error(a.message.unwrap_or_default())),
            _ => {
                Err(self.fail("answered `acquire` with a result other than acquired/timeout/error"))
            }
        }
    }

    /// Releases `key` taken with `token`.
    pub async fn release(&mut self, key: &str, token: &str) -> Result<Owned, AdapterFailed> {
        let id = self.id();
        let a = self.call(Request::Release { id, key: key.into(), token: token.into() }).await?;
        match a.result.as_deref() {
            Some("released") => Ok(Owned::Yes),
            Some("not_owned") => Ok(Owned::No),
            Some("unknown") => Ok(Owned::Unknown),
            Some("error") => Ok(Owned::Error(a.message.unwrap_or_default())),
            _ => Err(self.fail(
                "answered `release` with a result other than released/not_owned/unknown/error",
            )),
        }
    }

    /// Extends `key` taken with `token` to `ttl_ms` from now.
    pub async fn extend(
        &mut self,
        key: &str,
        token: &str,
        ttl_ms: u64,
    ) -> Result<Owned, AdapterFailed> {
        let id = self.id();
        let a =
            self.call(Request::Extend { id, key: key.into(), token: token.into(), ttl_ms }).await?;
        match a.result.as_deref() {
            Some("extended") => Ok(Owned::Yes),
            Some("not_owned") => Ok(Owned::No),
            Some("error") => Ok(Owned::Error(a.message.unwrap_or_default())),
            _ => {
                Err(self
                    .fail("answered `extend` with a result other than extended/not_owned/error"))
            }
        }
    }

    /// Asks the adapter to exit and waits a moment for it; it is killed if it does not go
    /// (`kill_on_drop`, and its group with [`Group::Own`]).
    pub async fn shutdown(mut self) -> Result<(), AdapterFailed> {
        self.call_timeout = self.call_timeout.min(Duration::from_secs(5));
        let id = self.id();
        let answer = self.call(Request::Shutdown { id }).await;
        let exited = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let answer = answer?;
        if answer.result.as_deref() != Some("bye") {
            return Err(self.fail("answered `shutdown` with something other than `bye`"));
        }
        if exited.is_err() {
            return Err(self.fail("answered `bye` but did not exit within 5 s"));
        }
        Ok(())
    }

    /// The operating-system process id of the adapter (while it runs).
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends `request` and reads its answer, within the call timeout.
    async fn call(&mut self, request: Request) -> Result<Answer, AdapterFailed> {
        let (id, op) = (request.id(), request.op());
        let mut line = serde_json::to_string(&request).unwrap_or_default();
        line.push('\n');
        let limit = self.call_timeout;
        let exchange = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.flush().await?;
            let mut answer = String::new();
            let n = self.stdout.read_line(&mut answer).await?;
            Ok::<_, std::io::Error>((n, answer))
        };
        let (n, text) = match tokio::time::timeout(limit, exchange).await {
            Err(_) => {
                return Err(self.fail(&format!(
                    "did not answer `{op}` within {} ms (the call timeout; a lock that keeps its \
                     wait answers well before it)",
                    limit.as_millis()
                )));
            }
            Ok(Err(e)) => return Err(self.gone(op, &e.to_string()).await),
            Ok(Ok(read)) => read,
        };
        if n == 0 {
            return Err(self.gone(op, "closed its stdout").await);
        }
        let text = text.trim_end_matches(['\n', '\r']).to_string();
        self.last_line = Some(text.clone());
        let answer: Answer = match serde_json::from_str(&text) {
            Ok(a) => a,
            Err(e) => {
                return Err(self.fail(&format!(
                    "answered `{op}` with a line that is not a JSON object ({e}); only protocol \
                     lines may go to stdout, logs go to stderr"
                )));
            }
        };
        if answer.id != Some(id) {
            return Err(self.fail(&format!(
                "answered `{op}` (id {id}) with id {}: each answer must carry its request's id",
                answer.id.map_or_else(|| "missing".to_string(), |i| i.to_string())
            )));
        }
        Ok(answer)
    }

    fn check_hello(&self, a: &Answer) -> Result<Hello, AdapterFailed> {
        if a.result.as_deref() != Some("hello") {
            return Err(self.fail("answered `hello` without `\"result\": \"hello\"`"));
        }
        if a.protocol != Some(PROTOCOL) {
            return Err(self.fail(&format!(
                "speaks protocol {:?}; this harness speaks {PROTOCOL}",
                a.protocol
            )));
        }
        let supports = a.supports.unwrap_or_default();
        if supports != self.manifest.supports {
            return Err(self.fail(&format!(
                "says it supports {supports:?}, its manifest says {:?}: make them agree",
                self.manifest.supports
            )));
        }
        Ok(Hello {
            name: a.name.clone().unwrap_or_default(),
            version: a.version.clone().unwrap_or_default(),
            supports,
            clock_ms: a.clock_ms,
        })
    }

    /// The adapter stopped talking: wait a moment for its exit status, then describe it.
    async fn gone(&mut self, op: &str, what: &str) -> AdapterFailed {
        let status = tokio::time::timeout(Duration::from_millis(500), self.child.wait()).await;
        let status = match status {
            Ok(Ok(s)) => format!(" ({s})"),
            _ => String::new(),
        };
        // Let the stderr reader catch up with the last words.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.fail(&format!("{what} during `{op}`{status}"))
    }

    /// The error: the adapter, what happened, the last line it sent, the end of its stderr.
    fn fail(&self, what: &str) -> AdapterFailed {
        let last = self
            .last_line
            .as_deref()
            .map_or_else(|| "nothing yet".to_string(), |l| format!("`{}`", clip(l, 300)));
        let stderr = self.stderr_tail.lock().map(|t| t.trim().to_string()).unwrap_or_default();
        let stderr = if stderr.is_empty() {
            String::new()
        } else {
            format!("; its stderr ended with:\n{}", clip_start(&stderr, 800))
        };
        AdapterFailed(format!(
            "adapter `{}` ({}): {what}; the last line it sent: {last}{stderr}",
            self.manifest.name,
            self.manifest.path.display()
        ))
    }
}

/// The wall clock, Unix ms.
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let end = (0..=n).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    format!("{}…", &s[..end])
}

fn clip_start(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let start = (s.len() - n..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    format!("…{}", &s[start..])
}
