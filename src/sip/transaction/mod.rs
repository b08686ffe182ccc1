//! RFC 3261 §17 transactions as sans-IO state machines (timers A–K).
//!
//! One [`TransactionLayer`] value holds every transaction. Drive it like str0m's `Rtc`:
//! feed one input — [`TransactionLayer::handle_incoming`] (a parsed message and its [`Peer`]),
//! [`TransactionLayer::send_request`], [`TransactionLayer::send_response`],
//! [`TransactionLayer::cancel`], [`TransactionLayer::handle_transport_error`] or
//! [`TransactionLayer::handle_timeout`] — then drain [`TransactionLayer::poll_output`] (bytes to
//! send, [`TxEvent`]s for the transaction user) and arm a timer for
//! [`TransactionLayer::poll_timeout`].
//!
//! - INVITE client (Timers A, B, D): the ACK for a non-2xx final is generated here; a 2xx ends the
//!   transaction and its retransmissions reach the TU as [`TxEvent::StrayResponse`] (it re-ACKs).
//! - Non-INVITE client (E, F, K). INVITE server (G, H, I, plus RFC 6026 "Accepted" with Timer L so
//!   INVITE retransmissions after a 2xx are absorbed and ACKs for the 2xx reach the TU as
//!   [`TxEvent::Ack`]); 100 Trying after [`TimerConfig::trying`]. Non-INVITE server (J).
//! - Reliable transports zero Timers D, I, J, K and never retransmit.

mod client;
pub mod key;
mod layer;
mod server;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::sip::message::SipMessage;

pub use key::{new_branch, KeyError, Role, TxKey, MAGIC_COOKIE};
pub use layer::{CancelOutcome, TransactionLayer};

/// The transport a message travels on: the one enum the socket shell uses too.
pub use crate::sip::transport::TransportKind;

/// The far end of a transaction: where to send, over what, on which connection if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: TransportKind,
    /// The transport's connection/socket id (responses go back on the request's connection).
    pub connection: Option<u64>,
}

impl Peer {
    pub fn udp(addr: SocketAddr) -> Self {
        Peer {
            addr,
            transport: TransportKind::Udp,
            connection: None,
        }
    }
}

/// When the INVITE server transaction sends 100 Trying by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryingPolicy {
    /// As soon as the INVITE arrives.
    Immediate,
    /// If the TU has sent no response after this long (RFC 3261 §17.2.1 suggests 200 ms).
    After(Duration),
    /// Never (the TU answers itself).
    Never,
}

/// Timer values (RFC 3261 §17.1.1.1 and Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, default 500 ms.
    pub t1: Duration,
    /// Cap on non-INVITE and response retransmission intervals, default 4 s.
    pub t2: Duration,
    /// How long a message may stay in the network, default 5 s.
    pub t4: Duration,
    pub trying: TryingPolicy,
    /// Most live transactions; new ones beyond this are refused (a flood must not eat memory).
    pub max_transactions: usize,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying: TryingPolicy::After(Duration::from_millis(200)),
            max_transactions: 100_000,
        }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H, J and L.
    pub fn timeout_64t1(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

/// Bytes to put on the wire.
#[derive(Clone, Debug)]
pub struct Transmit {
    pub bytes: Bytes,
    pub peer: Peer,
    /// The transaction this belongs to; `None` for [`TransactionLayer::send_stateless`].
    /// For a response, `peer` is the request's source and connection: the transport still
    /// applies RFC 3261 §18.2.2 / RFC 3581 (received, rport, maddr) when it sends.
    pub key: Option<TxKey>,
}

/// What the transaction user (dialog/B2BUA layer) needs to hear.
#[derive(Clone, Debug)]
pub enum TxEvent {
    /// A new request created a server transaction; answer it with `send_response(key, ..)`.
    Request {
        key: TxKey,
        request: SipMessage,
        source: Peer,
    },
    /// A CANCEL created its own server transaction `cancel`; `invite` is the INVITE server
    /// transaction it matches while that INVITE can still take a final response. The TU answers
    /// the CANCEL 200 and the INVITE 487 (§9.2). When `invite` is `None`, `answered` says whether
    /// a matching INVITE exists but already sent its final response (§9.2: the CANCEL still gets
    /// 200 and changes nothing) or no INVITE matches at all (answer 481).
    Cancel {
        cancel: TxKey,
        invite: Option<TxKey>,
        answered: bool,
        request: SipMessage,
        source: Peer,
    },
    /// An ACK that is not absorbed by a transaction: the ACK for a 2xx (dialog layer's business).
    /// An RFC 3261 ACK for a 2xx carries a new branch, so `key` is normally `None` and the TU
    /// matches it by dialog id; `key` is the INVITE server transaction when the ACK reused the
    /// INVITE's key (RFC 2543 peers) while that transaction was in the Accepted state.
    Ack {
        key: Option<TxKey>,
        request: SipMessage,
        source: Peer,
    },
    /// A response for one of our client transactions (provisional or final, once each).
    Response { key: TxKey, response: SipMessage },
    /// A response matching no transaction: typically a retransmitted 2xx to an INVITE, which the
    /// dialog layer answers with the same ACK again.
    StrayResponse { response: SipMessage, source: Peer },
    /// Timer B or F (no final response), or H (no ACK for our non-2xx final).
    Timeout { key: TxKey },
    /// The transport could not send for this transaction.
    TransportError { key: TxKey },
    /// The transaction is gone; its key will not appear again.
    Terminated { key: TxKey },
}

/// One thing for the shell to do.
#[derive(Clone, Debug)]
pub enum Output {
    Transmit(Transmit),
    Event(TxEvent),
}

/// Refusals of API calls and of unplaceable incoming messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("cannot key message: {0}")]
    Key(#[from] KeyError),
    #[error("a transaction with this key already exists")]
    Duplicate,
    #[error("no such transaction")]
    NoTransaction,
    #[error("transaction state does not allow this: {0}")]
    State(&'static str),
    #[error("not a response")]
    NotResponse,
    #[error("ACK is not sent through a client transaction")]
    AckNotTransaction,
    #[error("too many transactions")]
    Overload,
}
