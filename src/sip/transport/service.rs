//! The transport service: starts the listeners, owns the shared state, sends `Outgoing` messages and
//! stops gracefully. The per-socket loops live in `udp` and `stream`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch, Notify};

use crate::sip::message::SipMessage;

use super::config::TransportConfig;
use super::counters::TransportCounters;
use super::ratelog::RateLimitedLog;
use super::route::ResponseRoute;
use super::table::{ConnectionTable, Refused};
use super::tls::{self, TlsError};
use super::{stamp, stream, udp, ConnectionId, TransportKind};

/// A message received by the transport, for the core.
#[derive(Debug)]
pub struct Incoming {
    /// The parsed message; requests already carry RFC 3581 `received`/`rport` in the top Via.
    pub message: SipMessage,
    pub source: SocketAddr,
    pub transport: TransportKind,
    /// The stream connection (TCP/TLS) or UDP socket it arrived on; pass it back in `Outgoing`.
    pub connection: ConnectionId,
    /// Our address it arrived at.
    pub local: SocketAddr,
}

/// A message for the transport to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub bytes: Bytes,
    pub dest: SocketAddr,
    pub transport: TransportKind,
    /// Prefer this connection (streams) or socket (UDP), e.g. the one a request came on.
    pub connection: Option<ConnectionId>,
    /// Name to verify the peer's certificate against when a TLS connection must be opened
    /// (the destination IP is used when absent).
    pub server_name: Option<String>,
}

impl Outgoing {
    pub fn new(bytes: Bytes, dest: SocketAddr, transport: TransportKind) -> Self {
        Outgoing {
            bytes,
            dest,
            transport,
            connection: None,
            server_name: None,
        }
    }

    pub fn via_connection(mut self, connection: ConnectionId) -> Self {
        self.connection = Some(connection);
        self
    }
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no {0} transport configured for this destination")]
    NoTransport(TransportKind),
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("connect to {0} failed: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("connect to {0} timed out")]
    ConnectTimeout(SocketAddr),
    #[error("TLS to {0}: {1}")]
    Tls(SocketAddr, String),
    #[error("connection refused by limit: {0}")]
    Limit(#[from] Refused),
    #[error("write queue full for {0} and no room within the write timeout")]
    QueueFull(ConnectionId),
    #[error("connection {0} closed")]
    Closed(ConnectionId),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("response has no usable top Via")]
    NoRoute,
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("transport is shutting down")]
    ShuttingDown,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("bind {kind} {addr}: {source}")]
    Bind {
        kind: TransportKind,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The write side of one stream connection, stored in the connection table.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    pub(crate) tx: mpsc::Sender<Bytes>,
    pub(crate) local: SocketAddr,
    pub(crate) close: Arc<Notify>,
}

#[derive(Clone)]
pub(crate) struct UdpEntry {
    pub(crate) id: ConnectionId,
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) local: SocketAddr,
}

/// Counts running tasks so shutdown can wait for them.
#[derive(Default)]
pub(crate) struct Tasks {
    running: AtomicUsize,
    idle: Notify,
}

/// Held by each spawned task; dropping it marks the task finished.
pub(crate) struct TaskGuard(Arc<Tasks>);

impl Tasks {
    pub(crate) fn guard(self: &Arc<Self>) -> TaskGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        TaskGuard(self.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Held while connecting to one destination.
pub(crate) type ConnectLock = Arc<tokio::sync::Mutex<()>>;

/// State shared by the handle and every transport task.
pub(crate) struct Shared {
    pub(crate) config: TransportConfig,
    pub(crate) counters: Arc<TransportCounters>,
    pub(crate) table: Mutex<ConnectionTable<ConnHandle>>,
    /// UDP sockets; emptied at shutdown so the ports are released.
    pub(crate) udp: RwLock<Vec<UdpEntry>>,
    pub(crate) udp_local: Vec<SocketAddr>,
    pub(crate) tcp_local: Vec<SocketAddr>,
    pub(crate) tls_local: Vec<SocketAddr>,
    pub(crate) tls_server: Option<Arc<rustls::ServerConfig>>,
    pub(crate) tls_client: Arc<rustls::ClientConfig>,
    pub(crate) incoming: mpsc::Sender<Incoming>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) tasks: Arc<Tasks>,
    pub(crate) drop_log: Mutex<RateLimitedLog>,
    /// One lock per destination being connected to, so concurrent sends share one new connection.
    pub(crate) connecting: Mutex<HashMap<(SocketAddr, TransportKind), ConnectLock>>,
}

impl Shared {
    pub(crate) fn table(&self) -> MutexGuard<'_, ConnectionTable<ConnHandle>> {
        // A panic while holding the lock cannot leave the table half-updated in a way that matters
        // more than stopping all SIP traffic would, so recover the guard.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock that serialises connecting to `key`.
    pub(crate) fn connect_lock(
        &self,
        key: (SocketAddr, TransportKind),
    ) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.connecting.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).or_default().clone()
    }

    /// Forgets the connect lock for `key` (waiters keep their clone and re-check the table).
    pub(crate) fn connect_done(&self, key: (SocketAddr, TransportKind)) {
        let mut map = self.connecting.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&key);
    }

    /// The UDP sockets (cloned handles; empty after shutdown).
    pub(crate) fn udp_sockets(&self) -> Vec<UdpEntry> {
        self.udp.read().map(|v| v.clone()).unwrap_or_default()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Counts a drop and logs it at most once per 10 s.
    pub(crate) fn note_drop(&self, what: &str, source: SocketAddr, detail: &dyn std::fmt::Display) {
        TransportCounters::inc(&self.counters.dropped);
        let allowed = self
            .drop_log
            .lock()
            .map(|mut l| l.allow(Instant::now()))
            .unwrap_or(None);
        if let Some(suppressed) = allowed {
            tracing::warn!(%source, suppressed, "dropped {what}: {detail}");
        }
    }
}

/// The running transport service. [`Transport::shutdown`] stops it and waits for the drain; dropping
/// it stops it too, without waiting.
pub struct Transport {
    handle: TransportHandle,
    stop: watch::Sender<bool>,
}

/// A cheap, cloneable way to send messages and read state.
#[derive(Clone)]
pub struct TransportHandle {
    shared: Arc<Shared>,
}

async fn bind_udp(addr: SocketAddr, recv_buffer: usize) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Signalling bursts (a trunk re-registering hundreds of lines) must not overflow the kernel queue.
    if let Err(e) = socket.set_recv_buffer_size(recv_buffer) {
        tracing::warn!(%addr, "cannot set UDP receive buffer to {recv_buffer}: {e}");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

impl Transport {
    /// Binds every configured listener and starts their tasks. Incoming messages arrive on the
    /// returned receiver (capacity `incoming_queue`).
    pub async fn start(
        config: TransportConfig,
        incoming_queue: usize,
    ) -> Result<(Transport, mpsc::Receiver<Incoming>), StartError> {
        let tls_server = if config.tls.is_empty() {
            None
        } else {
            let cert = config
                .tls_cert
                .as_ref()
                .ok_or(TlsError::Missing("tls_cert"))?;
            let key = config
                .tls_key
                .as_ref()
                .ok_or(TlsError::Missing("tls_key"))?;
            Some(tls::server_config(cert, key)?)
        };
        let tls_client = tls::client_config(&config.tls_ca)?;
        Self::start_with(config, incoming_queue, tls_server, tls_client).await
    }

    /// Like [`Transport::start`] with TLS configs built by the caller (tests, hot reload).
    pub async fn start_with(
        config: TransportConfig,
        incoming_queue: usize,
        tls_server: Option<Arc<rustls::ServerConfig>>,
        tls_client: Arc<rustls::ClientConfig>,
    ) -> Result<(Transport, mpsc::Receiver<Incoming>), StartError> {
        let bind_err = |kind, addr| move |source| StartError::Bind { kind, addr, source };
        let mut table = ConnectionTable::new(
            config.limits.max_connections,
            config.limits.max_connections_per_ip,
        );
        let mut udp = Vec::new();
        for &addr in &config.udp {
            let socket = bind_udp(addr, config.udp_recv_buffer)
                .await
                .map_err(bind_err(TransportKind::Udp, addr))?;
            let local = socket
                .local_addr()
                .map_err(bind_err(TransportKind::Udp, addr))?;
            udp.push(UdpEntry {
                id: table.alloc_id(),
                socket: Arc::new(socket),
                local,
            });
        }
        let mut listeners = Vec::new();
        let mut tcp_local = Vec::new();
        let mut tls_local = Vec::new();
        for (kind, addrs, locals) in [
            (TransportKind::Tcp, &config.tcp, &mut tcp_local),
            (TransportKind::Tls, &config.tls, &mut tls_local),
        ] {
            for &addr in addrs {
                let l = TcpListener::bind(addr)
                    .await
                    .map_err(bind_err(kind, addr))?;
                locals.push(l.local_addr().map_err(bind_err(kind, addr))?);
                listeners.push((kind, l));
            }
        }
        let (in_tx, in_rx) = mpsc::channel(incoming_queue.max(1));
        let (stop, shutdown) = watch::channel(false);
        let udp_local = udp.iter().map(|u| u.local).collect();
        let udp_count = udp.len();
        let shared = Arc::new(Shared {
            config,
            counters: Arc::new(TransportCounters::default()),
            table: Mutex::new(table),
            udp: RwLock::new(udp),
            udp_local,
            tcp_local,
            tls_local,
            tls_server,
            tls_client,
            incoming: in_tx,
            shutdown,
            tasks: Arc::new(Tasks::default()),
            drop_log: Mutex::new(RateLimitedLog::new(Duration::from_secs(10))),
            connecting: Mutex::new(HashMap::new()),
        });
        for i in 0..udp_count {
            let guard = shared.tasks.guard();
            tokio::spawn(udp::recv_loop(shared.clone(), i, guard));
        }
        for (kind, listener) in listeners {
            let guard = shared.tasks.guard();
            tokio::spawn(stream::accept_loop(shared.clone(), kind, listener, guard));
        }
        tracing::info!(
            udp = ?shared.udp_local,
            tcp = ?shared.tcp_local,
            tls = ?shared.tls_local,
            "SIP transport started"
        );
        Ok((
            Transport {
                handle: TransportHandle { shared },
                stop,
            },
            in_rx,
        ))
    }

    pub fn handle(&self) -> TransportHandle {
        self.handle.clone()
    }

    /// Signals every task to stop and releases the UDP sockets (shared by `shutdown` and `Drop`).
    fn signal_stop(&self) {
        let _ = self.stop.send(true);
        let shared = &self.handle.shared;
        if let Ok(mut udp) = shared.udp.write() {
            udp.clear(); // the receive loops drop their clones as they stop
        }
        for h in shared.table().handles() {
            h.close.notify_one();
        }
    }

    /// Stops accepting and receiving, lets each connection flush what is queued, then closes it.
    /// Waits at most `drain` for the tasks to finish; returns how many were still running.
    pub async fn shutdown(self, drain: Duration) -> usize {
        self.signal_stop();
        let tasks = &self.handle.shared.tasks;
        let wait = async {
            loop {
                let notified = tasks.idle.notified();
                if tasks.running.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(drain, wait).await;
        tasks.running.load(Ordering::SeqCst)
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

impl TransportHandle {
    pub fn counters(&self) -> Arc<TransportCounters> {
        self.shared.counters.clone()
    }

    /// The counters in Prometheus text format, for `/metrics`.
    pub fn metrics_text(&self) -> String {
        self.shared.counters.snapshot().to_prometheus()
    }

    /// The bound addresses for a transport (ephemeral ports resolved).
    pub fn local_addrs(&self, kind: TransportKind) -> Vec<SocketAddr> {
        match kind {
            TransportKind::Udp => self.shared.udp_local.clone(),
            TransportKind::Tcp => self.shared.tcp_local.clone(),
            TransportKind::Tls => self.shared.tls_local.clone(),
        }
    }

    /// The first bound address for a transport.
    pub fn local_addr(&self, kind: TransportKind) -> Option<SocketAddr> {
        self.local_addrs(kind).into_iter().next()
    }

    /// Open stream connections.
    pub fn connection_count(&self) -> usize {
        self.shared.table().len()
    }

    /// Whether a stream connection is still open.
    pub fn is_open(&self, id: ConnectionId) -> bool {
        self.shared.table().get(id).is_some()
    }

    /// Closes a stream connection after what is queued on it is written.
    pub fn close(&self, id: ConnectionId) -> bool {
        match self.shared.table().get(id) {
            Some(e) => {
                e.handle.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// Sends one message; returns the connection or socket used.
    pub async fn send(&self, out: Outgoing) -> Result<ConnectionId, SendError> {
        if self.shared.is_shutting_down() {
            return Err(SendError::ShuttingDown);
        }
        let r = match out.transport {
            TransportKind::Udp => udp::send(&self.shared, &out).await,
            TransportKind::Tcp | TransportKind::Tls => stream::send(&self.shared, out).await,
        };
        if r.is_err() {
            TransportCounters::inc(&self.shared.counters.send_errors);
        }
        r
    }

    /// Sends a response where RFC 3261 §18.2.2 / RFC 3581 say: back on `connection` if it is a
    /// still-open stream, else to the address the top Via names (resolving a host name if needed).
    pub async fn send_response(
        &self,
        response: &SipMessage,
        connection: Option<ConnectionId>,
    ) -> Result<ConnectionId, SendError> {
        // A request that came on a still-open stream is answered on it even if its Via names another
        // transport (broken clients write UDP there): the peer is reading that connection.
        let open = connection.and_then(|c| {
            let table = self.shared.table();
            table.get(c).map(|e| (c, e.remote, e.kind))
        });
        if let Some((c, remote, kind)) = open {
            return self
                .send(Outgoing::new(response.to_bytes(), remote, kind).via_connection(c))
                .await;
        }
        let route = stamp::route_response(response, connection).ok_or(SendError::NoRoute)?;
        let dest = resolve(&route).await?;
        self.send(Outgoing {
            bytes: response.to_bytes(),
            dest,
            transport: route.kind,
            connection: route.connection,
            server_name: None,
        })
        .await
    }
}

async fn resolve(route: &ResponseRoute) -> Result<SocketAddr, SendError> {
    if let Some(a) = route.socket_addr() {
        return Ok(a);
    }
    // A sent-by host name (no received= because the request came from that name's address) or a
    // maddr name: plain A/AAAA lookup, first answer (RFC 3263 §5 SRV lookups are not done here).
    tokio::net::lookup_host((route.host.as_str(), route.port))
        .await
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| SendError::Resolve(route.host.clone()))
}
