//! A server process of our own that `redmutex::testing::RedisServer` cannot start (a
//! different binary or environment, a sentinel with its config file): spawned, waited for
//! until it answers `PING`, killed on drop, dying with the thread that started it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redmutex::testing::{die_with_parent, ping_ours};

/// A running process serving RESP on a loopback port.
#[derive(Debug)]
pub(crate) struct Process {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Process {
    /// Runs `cmd` (which must make the process listen on `port` and log to `log`) and waits up
    /// to 10 s for it to answer `PING`.
    pub fn spawn(mut cmd: Command, port: u16, log: PathBuf) -> anyhow::Result<Process> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| anyhow::anyhow!("cannot run {program}: {e}"))?;
        let pid = child.id();
        let mut process = Process { child: Some(child), port, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match ping_ours(port, pid) {
                Ok(()) => return Ok(process),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    process.kill();
                    anyhow::bail!("{program}: {e}");
                }
                Err(_) => {}
            }
            if let Some(Ok(Some(status))) = process.child.as_mut().map(Child::try_wait) {
                process.child = None;
                anyhow::bail!("{program} exited ({status}) at start; its log:\n{}", process.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        process.kill();
        anyhow::bail!("{program} did not answer PING in 10 s; its log:\n{}", process.log())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `SIGKILL`, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- log of the process on port {} ---\n{}", self.port, self.log());
        }
    }
}
