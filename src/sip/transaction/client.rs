//! Client transactions: INVITE (§17.1.1, Timers A, B, D) and non-INVITE (§17.1.2, E, F, K).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::debug;

use super::{Output, Peer, TimerConfig, Transmit, TxEvent, TxKey};
use crate::sip::message::{Method, SipMessage};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// INVITE sent, nothing heard (INVITE "Calling", non-INVITE "Trying").
    Calling,
    Proceeding,
    Completed,
    Terminated,
}

pub(crate) struct ClientTx {
    pub key: TxKey,
    pub invite: bool,
    pub state: ClientState,
    pub request: SipMessage,
    pub bytes: Bytes,
    pub peer: Peer,
    /// Timer A / E.
    retransmit_at: Option<Instant>,
    interval: Duration,
    /// Timer B / F.
    timeout_at: Option<Instant>,
    /// Timer D / K.
    linger_until: Option<Instant>,
    /// The ACK we generated for a non-2xx final, resent on each retransmitted final.
    ack: Option<Bytes>,
    /// The TU asked to CANCEL before any provisional arrived (§9.1: wait for one).
    pub cancel_pending: bool,
}

impl ClientTx {
    /// Creates the transaction and emits the first transmission.
    pub fn start(
        key: TxKey,
        request: SipMessage,
        peer: Peer,
        now: Instant,
        cfg: &TimerConfig,
        out: &mut VecDeque<Output>,
    ) -> Self {
        let bytes = request.to_bytes();
        let invite = key.method == Method::Invite;
        let reliable = peer.transport.is_reliable();
        let tx = ClientTx {
            invite,
            state: ClientState::Calling,
            bytes: bytes.clone(),
            peer,
            retransmit_at: (!reliable).then(|| now + cfg.t1),
            interval: cfg.t1,
            timeout_at: Some(now + cfg.timeout_64t1()),
            linger_until: None,
            ack: None,
            cancel_pending: false,
            request,
            key,
        };
        tx.transmit(bytes, out);
        tx
    }

    fn transmit(&self, bytes: Bytes, out: &mut VecDeque<Output>) {
        out.push_back(Output::Transmit(Transmit {
            bytes,
            peer: self.peer,
            key: Some(self.key.clone()),
        }));
    }

    fn event(&self, ev: TxEvent, out: &mut VecDeque<Output>) {
        out.push_back(Output::Event(ev));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.timeout_at, self.linger_until]
            .into_iter()
            .flatten()
            .min()
    }

    fn complete(&mut self, now: Instant, cfg: &TimerConfig) {
        self.retransmit_at = None;
        self.timeout_at = None;
        let wait = if self.peer.transport.is_reliable() {
            Duration::ZERO
        } else if self.invite {
            // Timer D: at least 32 s for unreliable transports.
            Duration::from_secs(32).max(cfg.timeout_64t1())
        } else {
            cfg.t4 // Timer K
        };
        if wait.is_zero() {
            // Reliable transport: Timer D/K is zero, so Completed ends at once.
            self.state = ClientState::Terminated;
            return;
        }
        self.state = ClientState::Completed;
        self.linger_until = Some(now + wait);
    }

    pub fn on_response(
        &mut self,
        resp: SipMessage,
        now: Instant,
        cfg: &TimerConfig,
        out: &mut VecDeque<Output>,
    ) {
        let Some(code) = resp.status_code() else {
            return;
        };
        match (self.state, code) {
            (ClientState::Calling | ClientState::Proceeding, 100..=199) => {
                if self.state == ClientState::Calling {
                    self.state = ClientState::Proceeding;
                    if self.invite {
                        // §17.1.1.2: stop retransmitting; Timer B only guards "Calling".
                        self.retransmit_at = None;
                        self.timeout_at = None;
                    } else if self.retransmit_at.is_some() {
                        // §17.1.2.2: in Proceeding, retransmit every T2.
                        self.interval = cfg.t2;
                    }
                }
                self.event(
                    TxEvent::Response {
                        key: self.key.clone(),
                        response: resp,
                    },
                    out,
                );
            }
            (ClientState::Calling | ClientState::Proceeding, 200..=299) if self.invite => {
                self.state = ClientState::Terminated;
                self.retransmit_at = None;
                self.timeout_at = None;
                self.event(
                    TxEvent::Response {
                        key: self.key.clone(),
                        response: resp,
                    },
                    out,
                );
            }
            (ClientState::Calling | ClientState::Proceeding, 200..=699) => {
                if self.invite {
                    let ack = build_ack(&self.request, &resp).to_bytes();
                    self.transmit(ack.clone(), out);
                    self.ack = Some(ack);
                }
                self.complete(now, cfg);
                self.event(
                    TxEvent::Response {
                        key: self.key.clone(),
                        response: resp,
                    },
                    out,
                );
            }
            (ClientState::Completed, 300..=699) if self.invite => {
                // A retransmitted final: our ACK was lost. Resend it; the TU already knows.
                if let Some(ack) = self.ack.clone() {
                    self.transmit(ack, out);
                }
            }
            // Late provisionals, finals in Completed (non-INVITE): absorbed.
            _ => {}
        }
    }

    pub fn on_timer(&mut self, now: Instant, cfg: &TimerConfig, out: &mut VecDeque<Output>) {
        if self.timeout_at.is_some_and(|t| t <= now) {
            // Timer B / F.
            debug!(
                tx = %self.key,
                call_id = self.request.call_id().unwrap_or("?"),
                "client transaction timed out (Timer {})",
                if self.invite { "B" } else { "F" }
            );
            self.timeout_at = None;
            self.retransmit_at = None;
            self.state = ClientState::Terminated;
            self.event(
                TxEvent::Timeout {
                    key: self.key.clone(),
                },
                out,
            );
            return;
        }
        if let Some(t) = self.retransmit_at.filter(|t| *t <= now) {
            self.transmit(self.bytes.clone(), out);
            self.interval = if self.invite {
                // Timer A doubles without cap; Timer B ends it.
                self.interval.saturating_mul(2)
            } else if self.state == ClientState::Proceeding {
                cfg.t2
            } else {
                self.interval.saturating_mul(2).min(cfg.t2)
            };
            // Schedule from the deadline, not from a late wake-up, so the schedule does not drift.
            self.retransmit_at = Some(next_after(t, self.interval, now));
        }
        if self.linger_until.is_some_and(|t| t <= now) {
            self.linger_until = None;
            self.state = ClientState::Terminated;
        }
    }

    pub fn on_transport_error(&mut self, out: &mut VecDeque<Output>) {
        debug!(tx = %self.key, call_id = self.request.call_id().unwrap_or("?"), "transport error");
        self.state = ClientState::Terminated;
        self.retransmit_at = None;
        self.timeout_at = None;
        self.linger_until = None;
        self.event(
            TxEvent::TransportError {
                key: self.key.clone(),
            },
            out,
        );
    }
}

/// The next firing of a periodic timer due at `due` with `interval`, never in the past.
pub(crate) fn next_after(due: Instant, interval: Duration, now: Instant) -> Instant {
    let next = due + interval;
    if next > now {
        next
    } else {
        now + interval
    }
}

/// The ACK for a non-2xx final response (§17.1.1.3): same Request-URI, Call-ID, From, CSeq number,
/// the top Via of the INVITE, To from the response, and the INVITE's Route headers.
pub(crate) fn build_ack(invite: &SipMessage, resp: &SipMessage) -> SipMessage {
    let ruri = invite.request_uri_str().unwrap_or("sip:invalid");
    let mut ack = match SipMessage::request(Method::Ack, ruri) {
        Ok(a) => a,
        // The INVITE's own URI was accepted when it was built; this is unreachable in practice.
        Err(_) => return SipMessage::response(500, "bad INVITE"),
    };
    if let Some(via) = invite.header("Via") {
        let top = via.split(|b| *b == b',').next().unwrap_or(via);
        ack.push_header("Via", top);
    }
    ack.push_header("Max-Forwards", "70");
    if let Some(v) = invite.header("From") {
        ack.push_header("From", v);
    }
    if let Some(v) = resp.header("To").or_else(|| invite.header("To")) {
        ack.push_header("To", v);
    }
    if let Some(v) = invite.header("Call-ID") {
        ack.push_header("Call-ID", v);
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(0);
    ack.push_header("CSeq", format!("{seq} ACK"));
    for r in invite.headers("Route") {
        ack.push_header("Route", r);
    }
    ack
}
