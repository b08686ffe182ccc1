//! Server transactions: INVITE (§17.2.1, Timers G, H, I, plus RFC 6026 Accepted/Timer L) and
//! non-INVITE (§17.2.2, Timer J).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::debug;

use super::client::next_after;
use super::{Output, Peer, TimerConfig, Transmit, TryingPolicy, TxEvent, TxKey};
use crate::sip::message::{Method, SipMessage};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Non-INVITE only: request passed up, nothing sent yet.
    Trying,
    Proceeding,
    Completed,
    /// INVITE only: ACK received for our non-2xx final.
    Confirmed,
    /// INVITE only (RFC 6026): a 2xx was sent; absorb INVITE retransmissions, pass ACKs up.
    Accepted,
    Terminated,
}

pub(crate) struct ServerTx {
    pub key: TxKey,
    pub invite: bool,
    pub state: ServerState,
    pub request: SipMessage,
    pub peer: Peer,
    last_response: Option<Bytes>,
    /// To tag of our last response (RFC 2543 ACK matching).
    pub response_to_tag: Option<String>,
    /// Automatic 100 Trying.
    trying_at: Option<Instant>,
    /// Timer G.
    retransmit_at: Option<Instant>,
    interval: Duration,
    /// Timer H.
    timeout_at: Option<Instant>,
    /// Timers I, J, L.
    linger_until: Option<Instant>,
}

impl ServerTx {
    pub fn new(
        key: TxKey,
        request: SipMessage,
        peer: Peer,
        now: Instant,
        cfg: &TimerConfig,
        out: &mut VecDeque<Output>,
    ) -> Self {
        let invite = key.method == Method::Invite;
        let mut tx = ServerTx {
            invite,
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            peer,
            last_response: None,
            response_to_tag: None,
            trying_at: None,
            retransmit_at: None,
            interval: cfg.t1,
            timeout_at: None,
            linger_until: None,
            request,
            key,
        };
        if invite {
            match cfg.trying {
                TryingPolicy::Immediate => tx.send_trying(out),
                TryingPolicy::After(d) => tx.trying_at = Some(now + d),
                TryingPolicy::Never => {}
            }
        }
        tx
    }

    fn transmit(&self, bytes: Bytes, out: &mut VecDeque<Output>) {
        out.push_back(Output::Transmit(Transmit {
            bytes,
            peer: self.peer,
            key: Some(self.key.clone()),
        }));
    }

    fn send_trying(&mut self, out: &mut VecDeque<Output>) {
        let trying = SipMessage::response_to(&self.request, 100, "Trying", None).to_bytes();
        self.trying_at = None;
        self.last_response = Some(trying.clone());
        self.transmit(trying, out);
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.trying_at,
            self.retransmit_at,
            self.timeout_at,
            self.linger_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A retransmission of the request (or, for INVITE, an ACK) arrived.
    pub fn on_retransmit(&mut self, out: &mut VecDeque<Output>) {
        match self.state {
            ServerState::Trying => {}
            ServerState::Proceeding => match self.last_response.clone() {
                Some(r) => self.transmit(r, out),
                // The INVITE came again before we said anything: say Trying now.
                None if self.invite => self.send_trying(out),
                None => {}
            },
            ServerState::Completed => {
                if let Some(r) = self.last_response.clone() {
                    self.transmit(r, out);
                }
            }
            // Accepted: the TU retransmits the 2xx itself (§13.3.1.4); Confirmed/Terminated: absorb.
            _ => {}
        }
    }

    /// An ACK matched this INVITE transaction. Returns true when the TU must see it (Accepted).
    pub fn on_ack(&mut self, now: Instant, cfg: &TimerConfig) -> bool {
        match self.state {
            ServerState::Completed => {
                self.state = ServerState::Confirmed;
                self.retransmit_at = None;
                self.timeout_at = None;
                if self.peer.transport.is_reliable() {
                    // Timer I is zero on reliable transports.
                    self.state = ServerState::Terminated;
                } else {
                    self.linger_until = Some(now + cfg.t4); // Timer I
                }
                false
            }
            ServerState::Accepted => true,
            _ => false,
        }
    }

    /// Whether the TU may still send `code` through this transaction.
    pub fn accepts_response(&self, code: u16) -> bool {
        match self.state {
            ServerState::Trying | ServerState::Proceeding => true,
            ServerState::Accepted => (200..300).contains(&code),
            _ => false,
        }
    }

    /// The TU sends a response. The caller checked `accepts_response`.
    pub fn send_response(
        &mut self,
        resp: &SipMessage,
        now: Instant,
        cfg: &TimerConfig,
        out: &mut VecDeque<Output>,
    ) {
        let code = resp.status_code().unwrap_or(500);
        let bytes = resp.to_bytes();
        self.trying_at = None;
        self.response_to_tag = resp.to().ok().and_then(|t| t.tag().map(str::to_owned));
        self.transmit(bytes.clone(), out);
        self.last_response = Some(bytes);
        let reliable = self.peer.transport.is_reliable();
        if code < 200 {
            if self.state == ServerState::Trying {
                self.state = ServerState::Proceeding;
            }
            return;
        }
        if self.state == ServerState::Accepted {
            return; // a 2xx retransmission by the TU
        }
        if self.invite && code < 300 {
            self.state = ServerState::Accepted;
            self.linger_until = Some(now + cfg.timeout_64t1()); // Timer L
        } else if self.invite {
            self.state = ServerState::Completed;
            self.retransmit_at = (!reliable).then(|| now + cfg.t1); // Timer G
            self.interval = cfg.t1;
            self.timeout_at = Some(now + cfg.timeout_64t1()); // Timer H
        } else {
            if reliable {
                // Timer J is zero on reliable transports.
                self.state = ServerState::Terminated;
            } else {
                self.state = ServerState::Completed;
                self.linger_until = Some(now + cfg.timeout_64t1()); // Timer J
            }
        }
    }

    pub fn on_timer(&mut self, now: Instant, cfg: &TimerConfig, out: &mut VecDeque<Output>) {
        if self.trying_at.is_some_and(|t| t <= now) {
            if self.state == ServerState::Proceeding && self.last_response.is_none() {
                self.send_trying(out);
            }
            self.trying_at = None;
        }
        if self.timeout_at.is_some_and(|t| t <= now) {
            // Timer H: the ACK never came.
            debug!(
                tx = %self.key,
                call_id = self.request.call_id().unwrap_or("?"),
                "no ACK for our final response (Timer H)"
            );
            self.timeout_at = None;
            self.retransmit_at = None;
            self.state = ServerState::Terminated;
            out.push_back(Output::Event(TxEvent::Timeout {
                key: self.key.clone(),
            }));
            return;
        }
        if let Some(t) = self.retransmit_at.filter(|t| *t <= now) {
            if let Some(r) = self.last_response.clone() {
                self.transmit(r, out);
            }
            self.interval = self.interval.saturating_mul(2).min(cfg.t2);
            self.retransmit_at = Some(next_after(t, self.interval, now));
        }
        if self.linger_until.is_some_and(|t| t <= now) {
            self.linger_until = None;
            self.state = ServerState::Terminated;
        }
    }

    pub fn on_transport_error(&mut self, out: &mut VecDeque<Output>) {
        debug!(tx = %self.key, call_id = self.request.call_id().unwrap_or("?"), "transport error");
        self.state = ServerState::Terminated;
        self.trying_at = None;
        self.retransmit_at = None;
        self.timeout_at = None;
        self.linger_until = None;
        out.push_back(Output::Event(TxEvent::TransportError {
            key: self.key.clone(),
        }));
    }
}
