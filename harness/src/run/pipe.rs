//! The pipe a worker writes its events into, read by the coordinator on its own tick.

use anyhow::{Context as _, bail};

/// The read end of a worker's stdout. Workers write each event the moment it happens; the
/// coordinator reads the pipe on its own tick (and before every fault that needs the holder,
/// and when the worker exits) instead of being woken by each write, so recording the history
/// costs the lock's critical path no extra process wake-ups.
pub(super) struct EventPipe {
    pipe: std::io::PipeReader,
    partial: Vec<u8>,
}

impl EventPipe {
    /// A pipe for one worker's stdout: the read end (non-blocking) and the write end.
    pub(super) fn new() -> anyhow::Result<(EventPipe, std::io::PipeWriter)> {
        use std::os::fd::AsRawFd as _;
        let (pipe, writer) = std::io::pipe().context("cannot create a pipe for a worker")?;
        let fd = pipe.as_raw_fd();
        // SAFETY: fcntl on a pipe we own; F_SETPIPE_SZ is a hint that may fail harmlessly (a
        // full pipe only makes the worker wait for the next read).
        unsafe {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                bail!(
                    "cannot make a worker's pipe non-blocking: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
        Ok((EventPipe { pipe, partial: Vec::new() }, writer))
    }

    /// Every complete line written so far.
    pub(super) fn read_lines(&mut self) -> Vec<String> {
        use std::io::Read as _;
        let mut buf = [0_u8; 64 * 1024];
        loop {
            match self.pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break, // WouldBlock: nothing more for now
            }
        }
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else { return Vec::new() };
        let rest = self.partial.split_off(end + 1);
        let done = std::mem::replace(&mut self.partial, rest);
        String::from_utf8_lossy(&done).lines().map(str::to_owned).collect()
    }

    /// Closes the pipe; what is left after the last newline, if anything.
    pub(super) fn close(self) -> Option<String> {
        (!self.partial.is_empty()).then(|| String::from_utf8_lossy(&self.partial).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::EventPipe;
    use std::io::Write as _;

    #[test]
    fn event_pipe_gives_whole_lines_and_keeps_a_cut_one() {
        let (mut pipe, mut writer) = EventPipe::new().unwrap();
        assert!(pipe.read_lines().is_empty(), "nothing written, and the read does not block");
        writer.write_all(b"{\"a\":1}\n{\"b\"").unwrap();
        assert_eq!(pipe.read_lines(), vec![r#"{"a":1}"#.to_string()]);
        writer.write_all(b":2}\n{\"c\":").unwrap();
        drop(writer);
        assert_eq!(pipe.read_lines(), vec![r#"{"b":2}"#.to_string()]);
        assert_eq!(pipe.close().as_deref(), Some(r#"{"c":"#));

        let (mut pipe, mut writer) = EventPipe::new().unwrap();
        writer.write_all(b"{}\n").unwrap();
        drop(writer);
        assert_eq!(pipe.read_lines().len(), 1);
        assert_eq!(pipe.close(), None, "a pipe that ends on a newline lost nothing");
    }
}
