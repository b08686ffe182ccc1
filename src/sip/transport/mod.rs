//! SIP transports: UDP, TCP and TLS, with Content-Length framing on streams and RFC 3581 rport.
//!
//! The async shell (`service`, `udp`, `stream`) owns the sockets; the decisions it makes are pure
//! values beside it: `route` (RFC 3261 §18.2.2 response routing, RFC 3581 Via stamping), `stamp` (the
//! same over parsed messages), `framer` (Content-Length framing of streams), `table` (connection reuse
//! and limits), `keepalive` (CRLF ping/pong, STUN Binding), `errors` (stateless 400/505/513),
//! `config`, `tls` (PEM loading, rustls configs), `counters` (atomics for /metrics).
//!
//! # Use
//! ```ignore
//! let (transport, mut incoming) = Transport::start(config, 4096).await?;
//! let net = transport.handle();                      // Clone + Send: give one to each task
//! while let Some(inc) = incoming.recv().await {      // Incoming { message, source, transport, connection, local }
//!     // requests already carry received=/rport= in the top Via
//!     let resp = SipMessage::response_to(&inc.message, 200, "OK", Some("tag"));
//!     net.send_response(&resp, Some(inc.connection)).await?; // §18.2.2: same connection, else Via
//! }
//! net.send(Outgoing::new(bytes, dest, TransportKind::Tcp)).await?; // reuses or opens a connection
//! transport.shutdown(Duration::from_secs(2)).await;  // stop accepting, flush queues, close
//! ```

pub mod config;
pub mod counters;
pub mod errors;
pub mod framer;
pub mod keepalive;
pub mod ratelog;
pub mod route;
pub mod service;
pub mod stamp;
mod stream;
pub mod table;
pub mod tls;
mod udp;

use std::fmt;

pub use config::{Limits, TransportConfig, DEFAULT_SIPS_PORT, DEFAULT_SIP_PORT};
pub use counters::{CountersSnapshot, TransportCounters};
pub use service::{Incoming, Outgoing, SendError, StartError, Transport, TransportHandle};

/// A transport protocol we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Udp,
    Tcp,
    Tls,
}

impl TransportKind {
    /// Streams are reliable: no retransmissions, responses go back on the same connection.
    pub fn is_reliable(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }

    /// The token used in a Via header.
    pub fn via_token(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }

    /// From a Via transport token (case-insensitive); `None` for ones we do not speak.
    pub fn from_via(token: &str) -> Option<Self> {
        [TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls]
            .into_iter()
            .find(|k| k.via_token().eq_ignore_ascii_case(token))
    }

    pub fn default_port(self) -> u16 {
        match self {
            TransportKind::Tls => DEFAULT_SIPS_PORT,
            _ => DEFAULT_SIP_PORT,
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}

/// Identifies a stream connection or a UDP socket for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_tokens_round_trip_case_insensitively() {
        for k in [TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls] {
            assert_eq!(
                TransportKind::from_via(&k.via_token().to_lowercase()),
                Some(k)
            );
        }
        assert_eq!(TransportKind::from_via("WS"), None);
        assert_eq!(TransportKind::Tls.default_port(), 5061);
    }
}
