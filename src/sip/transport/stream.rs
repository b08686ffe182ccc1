//! TCP and TLS: accept loops, outbound connects, and the per-connection task that frames messages by
//! Content-Length, answers CRLF pings, enforces size and idle limits and writes a bounded queue.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::counters::TransportCounters;
use super::framer::{FrameEvent, StreamFramer};
use super::keepalive::PONG;
use super::service::{ConnHandle, Incoming, Outgoing, SendError, Shared, TaskGuard};
use super::{errors, stamp, ConnectionId, TransportKind};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;

pub(crate) async fn accept_loop(
    shared: Arc<Shared>,
    kind: TransportKind,
    listener: TcpListener,
    _guard: TaskGuard,
) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => break,
        };
        let (tcp, remote) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(%kind, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Signalling is small and latency-bound: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        let (handle, rx) = new_handle(&shared, &tcp);
        let admitted = shared.table().insert(remote, kind, true, handle.clone());
        let id = match admitted {
            Ok(id) => id,
            Err(refused) => {
                TransportCounters::inc(&shared.counters.connections_refused);
                tracing::warn!(%remote, %kind, "connection refused: {refused}");
                drop(tcp); // closes at once
                continue;
            }
        };
        opened(&shared);
        let guard = shared.tasks.guard();
        let shared2 = shared.clone();
        tokio::spawn(async move {
            let span = tracing::info_span!("sip_conn", conn = %id, %remote, %kind);
            let _g = guard;
            let run = async {
                match kind {
                    TransportKind::Tls => {
                        let Some(cfg) = shared2.tls_server.clone() else {
                            return;
                        };
                        let hs = timeout(
                            shared2.config.limits.connect_timeout,
                            TlsAcceptor::from(cfg).accept(tcp),
                        )
                        .await;
                        match hs {
                            Ok(Ok(tls)) => {
                                run_connection(&shared2, tls, id, remote, kind, handle, rx).await
                            }
                            Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        }
                    }
                    _ => run_connection(&shared2, tcp, id, remote, kind, handle, rx).await,
                }
            };
            tracing::Instrument::instrument(run, span).await;
            closed(&shared2, id);
        });
    }
    tracing::debug!(%kind, "accept loop stopped");
}

fn new_handle(shared: &Shared, tcp: &TcpStream) -> (ConnHandle, mpsc::Receiver<Bytes>) {
    let (tx, rx) = mpsc::channel(shared.config.limits.write_queue_len.max(1));
    let local = tcp
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    (
        ConnHandle {
            tx,
            local,
            close: Arc::new(Notify::new()),
        },
        rx,
    )
}

fn opened(shared: &Shared) {
    TransportCounters::inc(&shared.counters.connections_open);
    TransportCounters::inc(&shared.counters.connections_total);
}

fn closed(shared: &Shared, id: ConnectionId) {
    if shared.table().remove(id).is_some() {
        TransportCounters::dec(&shared.counters.connections_open);
    }
}

/// Milliseconds since `base`, for the shared last-activity stamp.
fn millis_since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Why a connection's reader stopped.
#[derive(Debug)]
enum End {
    PeerClosed,
    Idle,
    Incomplete,
    Closed,
    Error,
}

/// Drives one established connection until EOF, error, limit, idle timeout, close or shutdown.
async fn run_connection<S>(
    shared: &Arc<Shared>,
    stream: S,
    id: ConnectionId,
    remote: SocketAddr,
    kind: TransportKind,
    handle: ConnHandle,
    rx: mpsc::Receiver<Bytes>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(stream);
    let base = Instant::now();
    let activity = Arc::new(AtomicU64::new(0));
    let stop_writer = Arc::new(Notify::new());
    let mut writer = tokio::spawn(write_loop(
        wr,
        rx,
        Writer {
            activity: activity.clone(),
            base,
            stop: stop_writer.clone(),
            failed: handle.close.clone(),
            counters: shared.counters.clone(),
            _guard: shared.tasks.guard(),
        },
    ));
    let limits = &shared.config.limits;
    let idle = match kind {
        TransportKind::Tls => limits.tls_idle_timeout,
        _ => limits.tcp_idle_timeout,
    };
    let mut shutdown = shared.shutdown.clone();
    let mut framer = StreamFramer::new(limits.max_message_size, limits.max_pending_bytes);
    let tx = handle.tx.clone();
    // When the oldest unframed byte arrived: a message must complete within `message_timeout`
    // (a peer trickling one byte a minute would otherwise hold a slot until the idle timeout).
    let mut partial_since: Option<Instant> = None;
    let end = loop {
        let last = Duration::from_millis(activity.load(Ordering::Relaxed));
        let idle_at = base + last + idle;
        let deadline = match partial_since {
            Some(t) => idle_at.min(t + limits.message_timeout),
            None => idle_at,
        };
        let buf = framer.buffer_mut();
        if buf.capacity() - buf.len() < READ_CHUNK {
            buf.reserve(READ_CHUNK);
        }
        let n = tokio::select! {
            r = rd.read_buf(buf) => match r {
                Ok(0) => break End::PeerClosed,
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!("read error: {e}");
                    break End::Error;
                }
            },
            _ = sleep_until(deadline) => {
                let now = Instant::now();
                if partial_since.is_some_and(|t| now >= t + limits.message_timeout) {
                    TransportCounters::inc(&shared.counters.dropped);
                    break End::Incomplete;
                }
                if now >= base + Duration::from_millis(activity.load(Ordering::Relaxed)) + idle {
                    TransportCounters::inc(&shared.counters.idle_closed);
                    break End::Idle;
                }
                continue;
            }
            _ = handle.close.notified() => break End::Closed,
            _ = shutdown.changed() => break End::Closed,
        };
        activity.store(millis_since(base), Ordering::Relaxed);
        tracing::trace!(n, "read");
        let before = framer.pending();
        if !drain_frames(shared, &mut framer, &tx, id, remote, &handle, kind).await {
            break End::Error;
        }
        let after = framer.pending();
        if !framer.has_partial_message() {
            partial_since = None;
        } else if after < before || partial_since.is_none() {
            // Something was consumed (the leftover starts a new message), or this is the first byte.
            partial_since = Some(Instant::now());
        }
    };
    tracing::debug!(?end, "connection closing");
    // Unregister first so no new sends pick this connection, then let the writer flush and close.
    closed(shared, id);
    drop(tx);
    drop(handle);
    stop_writer.notify_one();
    if timeout(limits.write_timeout, &mut writer).await.is_err() {
        // The peer stopped reading: do not let its queue hold the task (and shutdown) hostage.
        writer.abort();
    }
}

/// Delivers every event the framer has. Returns false when the connection must close.
async fn drain_frames(
    shared: &Shared,
    framer: &mut StreamFramer,
    tx: &mpsc::Sender<Bytes>,
    id: ConnectionId,
    remote: SocketAddr,
    handle: &ConnHandle,
    kind: TransportKind,
) -> bool {
    while let Some(event) = framer.next_event() {
        let mut message = match event {
            FrameEvent::Ping => {
                TransportCounters::inc(&shared.counters.keepalives);
                // A pong that does not fit the queue is dropped: the peer pings again.
                let _ = tx.try_send(Bytes::from_static(PONG));
                continue;
            }
            FrameEvent::Invalid { error, response } => {
                // Framed correctly, so the stream stays in sync: answer and go on.
                TransportCounters::inc(&shared.counters.parse_errors);
                match response {
                    Some(resp) => queue_error(shared, tx, resp),
                    None => shared.note_drop("unparseable stream message", remote, &error),
                }
                continue;
            }
            FrameEvent::Fatal { reason, response } => {
                TransportCounters::inc(&shared.counters.parse_errors);
                tracing::debug!("closing: {reason}");
                if let Some(resp) = response {
                    queue_error(shared, tx, resp);
                }
                return false;
            }
            FrameEvent::Message(m) => m,
        };
        TransportCounters::inc(&shared.counters.stream_messages_in);
        if message.is_request() {
            if let Err(e) = stamp::stamp_request(&mut message, remote) {
                TransportCounters::inc(&shared.counters.parse_errors);
                if let Some(resp) = errors::error_response(message.source(), &e) {
                    queue_error(shared, tx, resp);
                }
                continue;
            }
        }
        let incoming = Incoming {
            message,
            source: remote,
            transport: kind,
            connection: id,
            local: handle.local,
        };
        // Streams push back: a slow core slows this peer's reads, not others'.
        let mut shutdown = shared.shutdown.clone();
        tokio::select! {
            r = shared.incoming.send(incoming) => if r.is_err() { return false },
            _ = shutdown.changed() => return false,
        }
    }
    true
}

fn queue_error(shared: &Shared, tx: &mpsc::Sender<Bytes>, resp: Bytes) {
    if tx.try_send(resp).is_ok() {
        TransportCounters::inc(&shared.counters.error_responses);
    }
}

/// What the writer task shares with its connection.
struct Writer {
    activity: Arc<AtomicU64>,
    base: Instant,
    /// Notified by the reader: write what is queued, then shut the stream down.
    stop: Arc<Notify>,
    /// Notified by the writer on a write error, so the reader closes the connection too.
    failed: Arc<Notify>,
    counters: Arc<TransportCounters>,
    _guard: TaskGuard,
}

/// Writes queued messages in order; on stop, writes what is already queued, then shuts down.
async fn write_loop<W: AsyncWrite>(wr: W, mut rx: mpsc::Receiver<Bytes>, w: Writer) {
    tokio::pin!(wr);
    let count = |b: &Bytes| {
        if b.as_ref() != PONG {
            TransportCounters::inc(&w.counters.stream_messages_out);
        }
    };
    loop {
        let next = tokio::select! {
            m = rx.recv() => m,
            _ = w.stop.notified() => {
                // Drain without waiting for senders that may never drop.
                while let Ok(b) = rx.try_recv() {
                    if wr.write_all(&b).await.is_err() {
                        break;
                    }
                    count(&b);
                }
                break;
            }
        };
        let Some(b) = next else { break };
        if let Err(e) = wr.write_all(&b).await {
            tracing::debug!("write error: {e}");
            w.failed.notify_one();
            return;
        }
        count(&b);
        w.activity.store(millis_since(w.base), Ordering::Relaxed);
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}

/// Sends on the hinted connection, an open one to the destination, or a new one.
pub(crate) async fn send(shared: &Arc<Shared>, out: Outgoing) -> Result<ConnectionId, SendError> {
    let limits = &shared.config.limits;
    if out.bytes.len() > limits.max_message_size {
        return Err(SendError::TooLarge(out.bytes.len()));
    }
    let lookup = |hint: Option<ConnectionId>| {
        let table = shared.table();
        hint.and_then(|c| table.get(c).map(|e| (c, e)))
            .filter(|(_, e)| e.kind == out.transport)
            .or_else(|| table.find(out.dest, out.transport))
            .map(|(c, e)| (c, e.handle.tx.clone()))
    };
    let (id, tx) = match lookup(out.connection) {
        Some(x) => x,
        None => {
            // One connect per destination at a time; whoever waited finds the new connection.
            let key = (out.dest, out.transport);
            let lock = shared.connect_lock(key);
            let _connecting = lock.lock().await;
            let r = match lookup(None) {
                Some(x) => Ok(x),
                None => connect(shared, &out).await,
            };
            shared.connect_done(key);
            r?
        }
    };
    match timeout(limits.write_timeout, tx.send(out.bytes)).await {
        Ok(Ok(())) => Ok(id),
        Ok(Err(_)) => Err(SendError::Closed(id)),
        Err(_) => Err(SendError::QueueFull(id)),
    }
}

enum Outbound {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Opens an outbound TCP or TLS connection, registers it and starts its task.
async fn connect(
    shared: &Arc<Shared>,
    out: &Outgoing,
) -> Result<(ConnectionId, mpsc::Sender<Bytes>), SendError> {
    let dest = out.dest;
    let limits = &shared.config.limits;
    let tcp = match timeout(limits.connect_timeout, TcpStream::connect(dest)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(SendError::Connect(dest, e)),
        Err(_) => return Err(SendError::ConnectTimeout(dest)),
    };
    let _ = tcp.set_nodelay(true);
    let (handle, rx) = new_handle(shared, &tcp);
    let tx = handle.tx.clone();
    let kind = out.transport;
    let stream = if kind == TransportKind::Tls {
        let name = match &out.server_name {
            Some(n) => rustls::pki_types::ServerName::try_from(n.clone())
                .map_err(|e| SendError::Tls(dest, e.to_string()))?,
            None => rustls::pki_types::ServerName::IpAddress(dest.ip().into()),
        };
        let connector = TlsConnector::from(shared.tls_client.clone());
        match timeout(limits.connect_timeout, connector.connect(name, tcp)).await {
            Ok(Ok(s)) => Outbound::Tls(Box::new(s)),
            Ok(Err(e)) => return Err(SendError::Tls(dest, e.to_string())),
            Err(_) => return Err(SendError::ConnectTimeout(dest)),
        }
    } else {
        Outbound::Tcp(tcp)
    };
    // Registered only once usable, so a failed handshake leaves nothing behind.
    let id = shared.table().insert(dest, kind, false, handle.clone())?;
    opened(shared);
    let guard = shared.tasks.guard();
    let shared2 = shared.clone();
    let span = tracing::info_span!("sip_conn", conn = %id, remote = %dest, %kind, outbound = true);
    let run = async move {
        let _g = guard;
        match stream {
            Outbound::Tls(s) => run_connection(&shared2, *s, id, dest, kind, handle, rx).await,
            Outbound::Tcp(s) => run_connection(&shared2, s, id, dest, kind, handle, rx).await,
        }
        closed(&shared2, id);
    };
    tokio::spawn(tracing::Instrument::instrument(run, span));
    Ok((id, tx))
}
