//! One client connection: a command pump (client → server) and a reply pump (server → client)
//! joined by a queue that matches each reply to its command.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::Value;
use tokio::io::{AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};

use super::frame::{self, FrameReader};
use super::rules::{Action, CommandInfo, Direction, Marker};
use super::{Shared, Target, lock};

/// How long a new client waits for its connection to the server.
const CONNECT: Duration = Duration::from_secs(2);

/// Whose connection this is, and the handle to reset it.
#[derive(Default)]
pub(super) struct ConnState {
    worker: Mutex<Option<u32>>,
    /// Set once the client subscribed (RESP2): replies no longer match commands one to one.
    pubsub: AtomicBool,
    pub kill: Notify,
}

impl ConnState {
    pub fn worker(&self) -> Option<u32> {
        *lock(&self.worker)
    }
}

/// How a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// One side closed: close the other.
    Close,
    /// A fault: reset both sides.
    Reset,
}

/// What the reply pump owes the client next.
enum Pending {
    /// The server's reply to a forwarded command, with the reply fault chosen for it.
    Reply { info: CommandInfo, fault: Option<(usize, Action)> },
    /// A reply the proxy makes itself (to a marker).
    Local(Vec<u8>),
    /// Reset the connection once everything before this is delivered.
    Reset,
}

/// Accepts clients until `stop` fires; `worker` names the worker of every client of a
/// listener of its own (see `Proxy::listen_for`).
pub(super) async fn accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    worker: Option<u32>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve(client, Arc::clone(&shared), id, worker));
                }
                // Out of descriptors, or the client gave up before we took it: try again soon.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// Keeps a connection in the proxy's table while its task lives.
struct Registered<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(&self.shared.conns).remove(&self.id);
    }
}

async fn serve(mut client: TcpStream, shared: Arc<Shared>, id: u64, worker: Option<u32>) {
    let state = Arc::new(ConnState { worker: Mutex::new(worker), ..ConnState::default() });
    lock(&shared.conns).insert(id, Arc::clone(&state));
    let _registered = Registered { shared: &shared, id };
    let upstream = *lock(&shared.upstream);
    let end = match tokio::time::timeout(CONNECT, TcpStream::connect(upstream)).await {
        Ok(Ok(mut server)) => {
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let end = pump(&mut client, &mut server, &shared, &state).await;
            if end == End::Reset {
                let _ = server.set_zero_linger();
            }
            end
        }
        // The server is down (a restart): the client sees its connection reset, as it would.
        _ => End::Reset,
    };
    if end == End::Reset {
        let _ = client.set_zero_linger();
    }
}

async fn pump(
    client: &mut TcpStream,
    server: &mut TcpStream,
    shared: &Shared,
    state: &ConnState,
) -> End {
    let (mut from_client, mut to_client) = client.split();
    let (mut from_server, mut to_server) = server.split();
    if shared.raw {
        return tokio::select! {
            end = copy(&mut from_client, &mut to_server, Direction::ToServer, shared, state) => end,
            end = copy(&mut from_server, &mut to_client, Direction::ToClient, shared, state) => end,
            () = state.kill.notified() => End::Reset,
        };
    }
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::select! {
        end = commands(&mut from_client, &mut to_server, tx, shared, state) => end,
        end = replies(&mut from_server, &mut to_client, rx, shared, state) => end,
        () = state.kill.notified() => End::Reset,
    }
}

async fn commands(
    from_client: &mut (impl tokio::io::AsyncRead + Unpin),
    to_server: &mut (impl AsyncWrite + Unpin),
    tx: mpsc::UnboundedSender<Pending>,
    shared: &Shared,
    state: &ConnState,
) -> End {
    let mut reader = FrameReader::default();
    loop {
        let frame = match reader.next(from_client).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return End::Close,
            // Not RESP (an inline command): nothing sensible can be forwarded.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return End::Reset,
            Err(_) => return End::Close,
        };
        if hold(shared, state, Direction::ToServer).await.is_err() {
            return End::Close;
        }
        if let Some(reply) = marker(&frame.value, shared, state) {
            let _ = tx.send(Pending::Local(reply));
            continue;
        }
        let info = count(shared, state, frame::command_name(&frame.value));
        let mut reply_fault = None;
        if let Some((rule, action)) = shared.pick(&info) {
            match action {
                Action::DelayCommand { ms } => {
                    shared.record(rule, &info, &action);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Action::DropCommand => {
                    shared.record(rule, &info, &action);
                    let _ = tx.send(Pending::Reset);
                    // The reply pump resets the connection once the earlier replies are out.
                    return std::future::pending().await;
                }
                Action::Partition { direction } => {
                    if let Some(w) = info.worker {
                        shared
                            .links
                            .send_modify(|l| l.link(Target::Worker(w)).partition = Some(direction));
                    }
                    shared.record(rule, &info, &action);
                }
                Action::DelayReply { .. } | Action::DropReply => reply_fault = Some((rule, action)),
            }
        }
        if matches!(info.command.as_str(), "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE") {
            state.pubsub.store(true, Ordering::Relaxed);
        }
        // Queued before the command leaves, so it is there before its reply can come back.
        let _ = tx.send(Pending::Reply { info, fault: reply_fault });
        if send(to_server, &frame.raw, Direction::ToServer, shared, state).await.is_err() {
            return End::Close;
        }
    }
}

async fn replies(
    from_server: &mut (impl tokio::io::AsyncRead + Unpin),
    to_client: &mut (impl AsyncWrite + Unpin),
    mut rx: mpsc::UnboundedReceiver<Pending>,
    shared: &Shared,
    state: &ConnState,
) -> End {
    let mut reader = FrameReader::default();
    let mut queue = VecDeque::new();
    loop {
        if let Some(end) = flush(&mut queue, to_client, shared, state).await {
            return end;
        }
        tokio::select! {
            // What the command pump queued comes first, so a reply finds its command there.
            biased;
            pending = rx.recv() => match pending {
                Some(p) => queue.push_back(p),
                None => return End::Close,
            },
            frame = reader.next(from_server) => {
                let Ok(Some(frame)) = frame else { return End::Close };
                while let Ok(p) = rx.try_recv() {
                    queue.push_back(p);
                }
                if let Some(end) = flush(&mut queue, to_client, shared, state).await {
                    return end;
                }
                // After the flush the head is this frame's command, if it is a reply at all.
                let fault = match (&frame.value, queue.pop_front()) {
                    (Value::Push { .. }, Some(head)) => {
                        queue.push_front(head);
                        None
                    }
                    (_, Some(Pending::Reply { info, fault: Some(fault) }))
                        if !state.pubsub.load(Ordering::Relaxed) => Some((info, fault)),
                    _ => None,
                };
                match fault {
                    Some((info, (rule, action @ Action::DropReply))) => {
                        shared.record(rule, &info, &action);
                        return End::Reset;
                    }
                    Some((info, (rule, action @ Action::DelayReply { ms }))) => {
                        shared.record(rule, &info, &action);
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    _ => {}
                }
                if send(to_client, &frame.raw, Direction::ToClient, shared, state).await.is_err() {
                    return End::Close;
                }
            }
        }
    }
}

/// Sends the proxy's own replies at the head of `queue`, which are due once every reply before
/// them went out; `Some` when the connection must end.
async fn flush(
    queue: &mut VecDeque<Pending>,
    to_client: &mut (impl AsyncWrite + Unpin),
    shared: &Shared,
    state: &ConnState,
) -> Option<End> {
    while let Some(front) = queue.front() {
        match front {
            Pending::Local(bytes) => {
                if send(to_client, bytes, Direction::ToClient, shared, state).await.is_err() {
                    return Some(End::Close);
                }
                queue.pop_front();
            }
            Pending::Reset => return Some(End::Reset),
            Pending::Reply { .. } => break,
        }
    }
    None
}

/// Forwards bytes one way as they come (a raw proxy), held by partitions and throttles.
async fn copy(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    way: Direction,
    shared: &Shared,
    state: &ConnState,
) -> End {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return End::Close,
            Ok(n) => n,
        };
        if send(to, &buf[..n], way, shared, state).await.is_err() {
            return End::Close;
        }
    }
}

/// Takes a marker in hand: the reply to give the client, or `None` if `value` is no marker.
fn marker(value: &Value, shared: &Shared, state: &ConnState) -> Option<Vec<u8>> {
    let args = frame::args(value)?;
    let [name, arg] = args.as_slice() else { return None };
    if !name.eq_ignore_ascii_case(b"ECHO") {
        return None;
    }
    match Marker::parse(arg)? {
        Ok(marker) => {
            *lock(&state.worker) = Some(marker.worker);
            lock(&shared.ops).insert(marker.worker, marker.op);
            Some(frame::bulk(arg))
        }
        Err(why) => Some(frame::error(&format!("contend proxy: {why}"))),
    }
}

fn count(shared: &Shared, state: &ConnState, command: String) -> CommandInfo {
    let worker = state.worker();
    let op = worker.and_then(|w| lock(&shared.ops).get(&w).cloned().flatten());
    let nth_command = lock(&shared.counts).add(worker, op.as_ref(), &command);
    CommandInfo { worker, op, nth_command, command }
}

/// Waits while a partition cuts this connection's traffic going `way`.
async fn hold(shared: &Shared, state: &ConnState, way: Direction) -> io::Result<Option<u64>> {
    let mut links = shared.links.subscribe();
    let worker = state.worker();
    let links = links
        .wait_for(|l| !l.cuts(worker, way))
        .await
        .map_err(|_| io::Error::other("the proxy stopped"))?;
    Ok(links.throttle(worker))
}

/// Writes `bytes` once no partition holds them, at the throttled rate if there is one.
async fn send(
    w: &mut (impl AsyncWrite + Unpin),
    bytes: &[u8],
    way: Direction,
    shared: &Shared,
    state: &ConnState,
) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some(rate) = hold(shared, state, way).await? else {
            w.write_all(rest).await?;
            break;
        };
        // Twenty slices a second keep a throttled stream smooth without a timer per byte.
        let slice = usize::try_from(rate / 20).unwrap_or(usize::MAX).clamp(1, rest.len());
        w.write_all(&rest[..slice]).await?;
        rest = &rest[slice..];
        tokio::time::sleep(Duration::from_secs_f64(slice as f64 / rate as f64)).await;
    }
    Ok(())
}
