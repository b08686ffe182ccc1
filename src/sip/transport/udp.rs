//! UDP: one receive loop per socket, pooled receive buffers, datagram parsing, stateless error answers.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;

use crate::sip::message::{parse_datagram, ParseError};

use super::counters::TransportCounters;
use super::keepalive::{is_blank_datagram, is_stun, stun_binding_response};
use super::service::{Incoming, Outgoing, SendError, Shared, TaskGuard, UdpEntry};
use super::{errors, stamp, ConnectionId, TransportKind};

/// Largest UDP payload (IPv4: 65535 - 8 - 20).
const MAX_DATAGRAM: usize = 65_507;
/// Receive buffers are carved from allocations of this size; a datagram's `Bytes` keeps its slice
/// alive, and the allocation is reused once every message cut from it has been dropped.
const POOL_CHUNK: usize = 256 * 1024;

pub(crate) async fn recv_loop(shared: Arc<Shared>, index: usize, _guard: TaskGuard) {
    let Some(entry) = shared.udp_sockets().into_iter().nth(index) else {
        return;
    };
    let socket = entry.socket;
    let (id, local) = (entry.id, entry.local);
    let span = tracing::info_span!("sip_udp", %local, conn = %id);
    // Instrumented, not entered: an entered span must not be held across await points.
    tracing::Instrument::instrument(receive(&shared, socket, id, local), span).await;
}

async fn receive(shared: &Shared, socket: Arc<UdpSocket>, id: ConnectionId, local: SocketAddr) {
    let mut shutdown = shared.shutdown.clone();
    let mut buf = BytesMut::with_capacity(POOL_CHUNK);
    loop {
        if buf.capacity() - buf.len() < MAX_DATAGRAM + 1 {
            buf.reserve(POOL_CHUNK.max(MAX_DATAGRAM + 1));
        }
        let r = tokio::select! {
            r = socket.recv_buf_from(&mut buf) => r,
            _ = shutdown.changed() => break,
        };
        match r {
            Ok((n, source)) => {
                let data = buf.split_to(n).freeze();
                TransportCounters::inc(&shared.counters.datagrams_in);
                on_datagram(shared, data, source, id, local).await;
            }
            Err(e) => {
                // ICMP errors surface here on some systems; they say nothing about our socket.
                tracing::debug!("UDP receive error: {e}");
                buf.clear();
                tokio::task::yield_now().await;
            }
        }
    }
    tracing::debug!("UDP receive loop stopped");
}

async fn on_datagram(
    shared: &Shared,
    data: Bytes,
    source: SocketAddr,
    id: ConnectionId,
    local: SocketAddr,
) {
    if is_blank_datagram(&data) {
        // A CRLF keepalive over UDP: nothing to deliver and nothing to answer.
        TransportCounters::inc(&shared.counters.keepalives);
        return;
    }
    if is_stun(&data) {
        // RFC 5626 §4.4.2 UDP keepalive: a STUN Binding request, answered with the mapped address.
        TransportCounters::inc(&shared.counters.keepalives);
        if let Some(resp) = stun_binding_response(&data, source) {
            let out = Outgoing::new(resp.into(), source, TransportKind::Udp).via_connection(id);
            let _ = send(shared, &out).await;
        }
        return;
    }
    if data.len() > shared.config.limits.max_message_size {
        TransportCounters::inc(&shared.counters.parse_errors);
        let why = "datagram over size limit";
        return match errors::error_response_with(&data, 513, "Message Too Large", why) {
            Some(resp) => answer(shared, resp, source, id).await,
            None => shared.note_drop("datagram", source, &why),
        };
    }
    let mut message = match parse_datagram(data.clone()) {
        Ok(m) => m,
        Err(e) => return reject(shared, &data, &e, source, id).await,
    };
    if message.is_request() {
        if let Err(e) = stamp::stamp_request(&mut message, source) {
            return reject(shared, &data, &e, source, id).await;
        }
    }
    let incoming = Incoming {
        message,
        source,
        transport: TransportKind::Udp,
        connection: id,
        local,
    };
    // UDP sheds load when the core is behind: the sender retransmits.
    match shared.incoming.try_send(incoming) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => shared.note_drop("datagram", source, &"core queue full"),
        Err(TrySendError::Closed(_)) => {}
    }
}

/// A datagram that failed to parse: answer it if it is an addressable request, else drop and count.
async fn reject(
    shared: &Shared,
    data: &[u8],
    e: &ParseError,
    source: SocketAddr,
    id: ConnectionId,
) {
    TransportCounters::inc(&shared.counters.parse_errors);
    let Some(resp) = errors::error_response(data, e) else {
        return shared.note_drop("unparseable datagram", source, e);
    };
    tracing::debug!(%source, "answering malformed request: {e}");
    answer(shared, resp, source, id).await;
}

/// Sends a transport-made error response to the source address: the only one known to reach the
/// sender of a broken message.
async fn answer(shared: &Shared, resp: Bytes, source: SocketAddr, id: ConnectionId) {
    let out = Outgoing::new(resp, source, TransportKind::Udp).via_connection(id);
    if send(shared, &out).await.is_ok() {
        TransportCounters::inc(&shared.counters.error_responses);
    }
}

/// Sends a datagram from the hinted socket, or the first one of the destination's address family.
pub(crate) async fn send(shared: &Shared, out: &Outgoing) -> Result<ConnectionId, SendError> {
    if out.bytes.len() > MAX_DATAGRAM {
        return Err(SendError::TooLarge(out.bytes.len()));
    }
    let (id, socket) = {
        let sockets = shared.udp.read().map_err(|_| SendError::ShuttingDown)?;
        let same_family = |u: &&UdpEntry| u.local.is_ipv4() == out.dest.is_ipv4();
        let entry = out
            .connection
            .and_then(|c| sockets.iter().find(|u| u.id == c))
            .filter(same_family)
            .or_else(|| sockets.iter().find(same_family))
            .ok_or(SendError::NoTransport(TransportKind::Udp))?;
        (entry.id, entry.socket.clone())
    };
    socket.send_to(&out.bytes, out.dest).await?;
    TransportCounters::inc(&shared.counters.datagrams_out);
    Ok(id)
}
