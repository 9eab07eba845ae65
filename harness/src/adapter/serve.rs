//! `contend adapter serve NAME`: a built-in algorithm (reference or specimen) served over the
//! adapter protocol, its machines driven by [`redmutex::driver::Connection::run`] as a worker
//! drives them. Running a scenario through it and through the built-in path must give the same
//! verdicts: that shows the adapter path does not change what the checkers see.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Duration;

use redmutex::Connection;
use redmutex::algo::{AcquireParams, Backoff, ExtendParams, Protocol, ReleaseParams, Rng};
use redmutex::driver::{NoHooks, Timeouts};
use redmutex::proto::{Grant, Keys, Outcome, Token};

use super::proto::{Answer, PROTOCOL, Request, Supports};
use crate::registry::{self, Class};

/// What the served algorithm supports.
#[must_use]
pub fn supports(protocol: &dyn Protocol) -> Supports {
    let probe = ExtendParams {
        keys: Keys::new("", "probe"),
        grant: Grant {
            token: Vec::new(),
            fence: None,
            acquired_at: Duration::ZERO,
            valid_until: Duration::ZERO,
            clock_ms: None,
        },
        ttl: Duration::from_secs(1),
        drift: Duration::ZERO,
    };
    Supports {
        fencing: protocol.fenced(),
        extend: protocol.extend(probe).is_some(),
        try_acquire: true,
    }
}

/// A manifest that runs this program's `adapter serve NAME --scale SCALE`, named `served-NAME`.
pub fn manifest_text(name: &str, scale: f64) -> anyhow::Result<String> {
    let entry = served(name)?;
    let s = supports(&*entry.protocol(&crate::registry::Build::one(scale)));
    let exe = std::env::current_exe()?;
    let quoted = |t: &str| serde_json::to_string(t).unwrap_or_default();
    Ok(format!(
        "# `contend adapter serve {name}`: the built-in algorithm over the adapter protocol.\n\
         name = \"served-{name}\"\n\
         summary = \"{name}, served over the adapter protocol\"\n\
         command = [{}, \"adapter\", \"serve\", {}, \"--scale\", \"{scale}\"]\n\n\
         [supports]\nfencing = {}\nextend = {}\ntry_acquire = {}\n",
        quoted(&exe.to_string_lossy()),
        quoted(name),
        s.fencing,
        s.extend,
        s.try_acquire
    ))
}

/// Serves algorithm `name` (specimen time constants scaled by `scale`) on stdin and stdout
/// until `shutdown` or the end of stdin.
pub async fn serve(name: &str, scale: f64) -> anyhow::Result<()> {
    let entry = served(name)?;
    let mut s = Server {
        protocol: entry.protocol(&crate::registry::Build::one(scale)),
        name: entry.name,
        conn: None,
        held: HashMap::new(),
        contended: false,
        rng: Rng::new(u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    };
    // stdin is read on a thread of its own: the runtime stays free for the server's replies.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let (answer, bye) = s.answer(&line).await;
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &answer)?;
        out.write_all(b"\n")?;
        out.flush()?;
        if bye {
            break;
        }
    }
    Ok(())
}

fn served(name: &str) -> anyhow::Result<registry::Entry> {
    let entry = registry::find(name)?;
    if entry.class == Class::Adapter {
        anyhow::bail!("`{name}` is an adapter already: serve a built-in algorithm");
    }
    Ok(entry)
}

struct Server {
    protocol: Box<dyn Protocol>,
    name: &'static str,
    conn: Option<Connection>,
    /// What each acquisition returned, by the token handed out, with its ttl.
    held: HashMap<String, (Grant, Duration)>,
    contended: bool,
    rng: Rng,
}

impl Server {
    /// The answer to one request line, and whether to stop after it.
    async fn answer(&mut self, line: &str) -> (Answer, bool) {
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return (Answer::error(0, format!("not JSON: {e}")), false),
        };
        let id = value.get("id").and_then(serde_json::Value::as_u64).unwrap_or(0);
        let request: Request = match serde_json::from_value(value) {
            Ok(r) => r,
            Err(e) => return (Answer::error(id, format!("not a request: {e}")), false),
        };
        match request {
            Request::Hello { id, redis_url, .. } => (self.hello(id, &redis_url).await, false),
            Request::Acquire { id, key, ttl_ms, wait_ms } => {
                (self.acquire(id, &key, ttl_ms, wait_ms).await, false)
            }
            Request::Release { id, key, token } => (self.release(id, &key, &token).await, false),
            Request::Extend { id, key, token, ttl_ms } => {
                (self.extend(id, &key, &token, ttl_ms).await, false)
            }
            Request::Shutdown { id } => (Answer::new(id, "bye"), true),
        }
    }

    async fn hello(&mut self, id: u64, url: &str) -> Answer {
        let timeouts =
            Timeouts { connect: Duration::from_secs(3), response: Duration::from_secs(5) };
        match Connection::open(url, timeouts).await {
            Ok(c) => self.conn = Some(c),
            Err(e) => return Answer::error(id, format!("cannot connect: {e}")),
        }
        Answer {
            protocol: Some(PROTOCOL),
            name: Some(format!("served-{}", self.name)),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            supports: Some(supports(&*self.protocol)),
            clock_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_millis()).ok()),
            ..Answer::new(id, "hello")
        }
    }

    async fn acquire(&mut self, id: u64, key: &str, ttl_ms: u64, wait_ms: u64) -> Answer {
        let Some(conn) = self.conn.clone() else { return Answer::error(id, "no hello yet") };
        let token = match Token::random() {
            Ok(t) => t,
            Err(e) => return Answer::error(id, format!("no randomness: {e}")),
        };
        let ttl = Duration::from_millis(ttl_ms);
        let params = AcquireParams {
            keys: keys(key),
            token,
            ttl,
            wait: (wait_ms > 0).then(|| Duration::from_millis(wait_ms)),
            drift: redmutex::algo::default_drift(ttl),
            seed: self.rng.next_u64(),
            backoff: Backoff::default(),
        };
        // As a worker does: once an acquire met a busy lock, take the contended path.
        let mut machine = if self.contended {
            self.protocol.acquire_contended(params)
        } else {
            self.protocol.acquire(params)
        };
        let before = conn.commands_sent();
        let result = conn.run(&mut *machine, &mut NoHooks).await;
        self.contended = conn.commands_sent() - before > 1;
        match result {
            Ok(Outcome::Acquired(grant)) => {
                let token = String::from_utf8_lossy(&grant.token).into_owned();
                let fence = grant.fence;
                self.held.insert(token.clone(), (grant, ttl));
                Answer { token: Some(token), fence, ..Answer::new(id, "acquired") }
            }
            Ok(Outcome::Busy | Outcome::TimedOut) => Answer::new(id, "timeout"),
            Ok(other) => Answer::error(id, format!("{other:?}")),
            Err(e) => Answer::error(id, e.to_string()),
        }
    }

    async fn release(&mut self, id: u64, key: &str, token: &str) -> Answer {
        let Some(conn) = self.conn.clone() else { return Answer::error(id, "no hello yet") };
        let Some((grant, ttl)) = self.held.remove(token) else {
            return Answer::error(id, format!("no acquisition with token {token}"));
        };
        let fresh = Token::random().unwrap_or(Token::from_u128(u128::from(self.rng.next_u64())));
        let params = ReleaseParams { keys: keys(key), grant, ttl, fresh_token: fresh };
        let mut machine = self.protocol.release(params);
        match conn.run(&mut *machine, &mut NoHooks).await {
            Ok(Outcome::Released { owned: true, .. }) => Answer::new(id, "released"),
            Ok(Outcome::Released { owned: false, .. }) => Answer::new(id, "not_owned"),
            Ok(other) => Answer::error(id, format!("{other:?}")),
            Err(e) => Answer::error(id, e.to_string()),
        }
    }

    async fn extend(&mut self, id: u64, key: &str, token: &str, ttl_ms: u64) -> Answer {
        let Some(conn) = self.conn.clone() else { return Answer::error(id, "no hello yet") };
        let Some((grant, _)) = self.held.get(token).cloned() else {
            return Answer::error(id, format!("no acquisition with token {token}"));
        };
        let ttl = Duration::from_millis(ttl_ms);
        let drift = redmutex::algo::default_drift(ttl);
        let params = ExtendParams { keys: keys(key), grant, ttl, drift };
        let Some(mut machine) = self.protocol.extend(params) else {
            return Answer::error(id, format!("{} cannot extend", self.name));
        };
        match conn.run(&mut *machine, &mut NoHooks).await {
            Ok(Outcome::Extended { valid_until: Some(until) }) => {
                if let Some((g, t)) = self.held.get_mut(token) {
                    g.valid_until = until;
                    *t = ttl;
                }
                Answer::new(id, "extended")
            }
            Ok(Outcome::Extended { valid_until: None }) => Answer::new(id, "not_owned"),
            Ok(other) => Answer::error(id, format!("{other:?}")),
            Err(e) => Answer::error(id, e.to_string()),
        }
    }
}

/// The keys of the lock at `key`, named as the built-in path names them (`Keys::new`).
fn keys(key: &str) -> Keys {
    let with = |suffix: &str| format!("{key}:{suffix}").into_bytes();
    Keys {
        lock: key.as_bytes().to_vec(),
        fence: with("fence"),
        signal: with("signal"),
        waiters: with("waiters"),
        channel: with("channel"),
    }
}
