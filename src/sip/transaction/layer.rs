//! The [`TransactionLayer`]: every client and server transaction in one sans-IO value, with one
//! timer heap, matching of incoming messages, CANCEL handling and the output queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use tracing::{debug, trace};

use super::client::{ClientState, ClientTx};
use super::key::{client_key_for_request, client_key_for_response, server_key, Role};
use super::server::{ServerState, ServerTx};
use super::{Output, Peer, TimerConfig, Transmit, TxError, TxEvent, TxKey};
use crate::sip::message::{Method, SipMessage};

/// What [`TransactionLayer::cancel`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// CANCEL sent in its own client transaction.
    Sent(TxKey),
    /// No provisional response yet: the CANCEL goes out when one arrives (§9.1); if a final
    /// response comes first, nothing is sent.
    Pending,
}

/// All transactions of one SIP endpoint.
pub struct TransactionLayer {
    cfg: TimerConfig,
    clients: HashMap<TxKey, ClientTx>,
    servers: HashMap<TxKey, ServerTx>,
    /// (deadline, id) with lazy deletion: an entry is live only if the tx's deadline still equals it.
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    /// The deadline already in the heap per id, so a flood of retransmissions adds no entries.
    scheduled: HashMap<u64, Instant>,
    ids: HashMap<u64, TxKey>,
    id_of: HashMap<TxKey, u64>,
    next_id: u64,
    out: VecDeque<Output>,
}

impl TransactionLayer {
    pub fn new(cfg: TimerConfig) -> Self {
        TransactionLayer {
            cfg,
            clients: HashMap::new(),
            servers: HashMap::new(),
            timers: BinaryHeap::new(),
            scheduled: HashMap::new(),
            ids: HashMap::new(),
            id_of: HashMap::new(),
            next_id: 0,
            out: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &TimerConfig {
        &self.cfg
    }

    /// Live transactions (client, server).
    pub fn len(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }

    /// Entries in the timer heap (live and stale); bounded by transactions × deadline changes.
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.servers.is_empty()
    }

    /// The next thing to send or tell the TU.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if self.deadline_of(id) == Some(at) {
                return Some(at);
            }
            self.timers.pop();
            if self.scheduled.get(&id) == Some(&at) {
                self.scheduled.remove(&id);
            }
        }
        None
    }

    fn deadline_of(&self, id: u64) -> Option<Instant> {
        let key = self.ids.get(&id)?;
        match key.role {
            Role::Client => self.clients.get(key)?.next_deadline(),
            Role::Server => self.servers.get(key)?.next_deadline(),
        }
    }

    /// Fires every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each live transaction fires at most once per distinct deadline; the heap bounds the loop.
        let mut budget = self.timers.len();
        while budget > 0 {
            budget -= 1;
            let Some(Reverse((at, id))) = self.timers.peek().copied() else {
                break;
            };
            if at > now {
                break;
            }
            self.timers.pop();
            if self.scheduled.get(&id) == Some(&at) {
                self.scheduled.remove(&id);
            }
            if self.deadline_of(id) != Some(at) {
                continue;
            }
            let Some(key) = self.ids.get(&id).cloned() else {
                continue;
            };
            match key.role {
                Role::Client => {
                    if let Some(tx) = self.clients.get_mut(&key) {
                        tx.on_timer(now, &self.cfg, &mut self.out);
                    }
                }
                Role::Server => {
                    if let Some(tx) = self.servers.get_mut(&key) {
                        tx.on_timer(now, &self.cfg, &mut self.out);
                    }
                }
            }
            self.touch(&key);
        }
    }

    /// After any change to a transaction: reschedule it, or remove it if it terminated.
    fn touch(&mut self, key: &TxKey) {
        let (terminated, deadline) = match key.role {
            Role::Client => match self.clients.get(key) {
                Some(tx) => (tx.state == ClientState::Terminated, tx.next_deadline()),
                None => return,
            },
            Role::Server => match self.servers.get(key) {
                Some(tx) => (tx.state == ServerState::Terminated, tx.next_deadline()),
                None => return,
            },
        };
        if terminated {
            match key.role {
                Role::Client => drop(self.clients.remove(key)),
                Role::Server => drop(self.servers.remove(key)),
            }
            if let Some(id) = self.id_of.remove(key) {
                self.ids.remove(&id);
                self.scheduled.remove(&id);
            }
            trace!(tx = %key, "transaction terminated");
            self.out
                .push_back(Output::Event(TxEvent::Terminated { key: key.clone() }));
            return;
        }
        let id = match self.id_of.get(key) {
            Some(id) => *id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                self.ids.insert(id, key.clone());
                self.id_of.insert(key.clone(), id);
                id
            }
        };
        if let Some(at) = deadline {
            if self.scheduled.get(&id) != Some(&at) {
                self.scheduled.insert(id, at);
                self.timers.push(Reverse((at, id)));
            }
        }
    }

    fn full(&self) -> bool {
        self.clients.len() + self.servers.len() >= self.cfg.max_transactions
    }

    /// A message from the transport. Requests open or hit server transactions; responses hit
    /// client transactions. Errors mean the message could not be keyed (log and drop it).
    pub fn handle_incoming(
        &mut self,
        msg: SipMessage,
        source: Peer,
        now: Instant,
    ) -> Result<(), TxError> {
        if msg.is_request() {
            self.incoming_request(msg, source, now)
        } else {
            self.incoming_response(msg, source, now)
        }
    }

    fn incoming_request(
        &mut self,
        req: SipMessage,
        source: Peer,
        now: Instant,
    ) -> Result<(), TxError> {
        let key = server_key(&req)?;
        let method = req.method().cloned().unwrap_or(Method::Invite);
        if method == Method::Ack {
            let to_tag = req.to().ok().and_then(|t| t.tag().map(str::to_owned));
            let matched = self.servers.get_mut(&key).filter(|tx| {
                // RFC 2543: the ACK's To tag must be the one in our response.
                !key.branch.starts_with("2543|") || tx.response_to_tag == to_tag
            });
            let pass_up = match matched {
                Some(tx) => tx.on_ack(now, &self.cfg).then(|| Some(key.clone())),
                None => Some(None),
            };
            if let Some(k) = pass_up {
                self.out.push_back(Output::Event(TxEvent::Ack {
                    key: k,
                    request: req,
                    source,
                }));
            }
            self.touch(&key);
            return Ok(());
        }
        if let Some(tx) = self.servers.get_mut(&key) {
            trace!(tx = %key, "request retransmission");
            tx.on_retransmit(&mut self.out);
            self.touch(&key);
            return Ok(());
        }
        if self.full() {
            return Err(TxError::Overload);
        }
        let tx = ServerTx::new(
            key.clone(),
            req.clone(),
            source,
            now,
            &self.cfg,
            &mut self.out,
        );
        self.servers.insert(key.clone(), tx);
        if method == Method::Cancel {
            let invite_key = TxKey {
                method: Method::Invite,
                ..key.clone()
            };
            let matched = self.servers.get(&invite_key);
            let cancellable = matched.is_some_and(|tx| tx.state == ServerState::Proceeding);
            let answered = matched.is_some() && !cancellable;
            let invite = cancellable.then_some(invite_key);
            debug!(tx = %key, cancellable, answered, "CANCEL received");
            self.out.push_back(Output::Event(TxEvent::Cancel {
                cancel: key.clone(),
                invite,
                answered,
                request: req,
                source,
            }));
        } else {
            self.out.push_back(Output::Event(TxEvent::Request {
                key: key.clone(),
                request: req,
                source,
            }));
        }
        self.touch(&key);
        Ok(())
    }

    fn incoming_response(
        &mut self,
        resp: SipMessage,
        source: Peer,
        now: Instant,
    ) -> Result<(), TxError> {
        let code = resp.status_code().ok_or(TxError::NotResponse)?;
        let key = client_key_for_response(&resp)?;
        let Some(tx) = self.clients.get_mut(&key) else {
            self.out.push_back(Output::Event(TxEvent::StrayResponse {
                response: resp,
                source,
            }));
            return Ok(());
        };
        tx.on_response(resp, now, &self.cfg, &mut self.out);
        let send_cancel = tx.cancel_pending && (100..200).contains(&code);
        if code >= 200 || send_cancel {
            tx.cancel_pending = false;
        }
        let cancel = send_cancel.then(|| (build_cancel(&tx.request), tx.peer));
        self.touch(&key);
        if let Some((cancel, peer)) = cancel {
            self.send_request(cancel, peer, now)?;
        }
        Ok(())
    }

    /// Starts a client transaction for `request` (not ACK) to `peer`. The request's top Via must
    /// carry a fresh magic-cookie branch ([`super::new_branch`]).
    pub fn send_request(
        &mut self,
        request: SipMessage,
        peer: Peer,
        now: Instant,
    ) -> Result<TxKey, TxError> {
        if request.method() == Some(&Method::Ack) {
            return Err(TxError::AckNotTransaction);
        }
        let key = client_key_for_request(&request)?;
        if self.clients.contains_key(&key) {
            return Err(TxError::Duplicate);
        }
        if self.full() {
            return Err(TxError::Overload);
        }
        let tx = ClientTx::start(key.clone(), request, peer, now, &self.cfg, &mut self.out);
        self.clients.insert(key.clone(), tx);
        self.touch(&key);
        Ok(key)
    }

    /// Sends `response` in server transaction `key` (to the request's source and connection).
    pub fn send_response(
        &mut self,
        key: &TxKey,
        response: &SipMessage,
        now: Instant,
    ) -> Result<(), TxError> {
        let code = response.status_code().ok_or(TxError::NotResponse)?;
        let tx = self.servers.get_mut(key).ok_or(TxError::NoTransaction)?;
        if !tx.accepts_response(code) {
            return Err(TxError::State("final response already sent"));
        }
        tx.send_response(response, now, &self.cfg, &mut self.out);
        self.touch(key);
        Ok(())
    }

    /// Sends bytes outside any transaction: the ACK for a 2xx, or a 2xx retransmission after
    /// the server transaction ended.
    pub fn send_stateless(&mut self, msg: &SipMessage, peer: Peer) {
        self.out.push_back(Output::Transmit(Transmit {
            bytes: msg.to_bytes(),
            peer,
            key: None,
        }));
    }

    /// Cancels our INVITE `invite` (§9.1).
    pub fn cancel(&mut self, invite: &TxKey, now: Instant) -> Result<CancelOutcome, TxError> {
        if invite.method != Method::Invite || invite.role != Role::Client {
            return Err(TxError::State("only a client INVITE can be cancelled"));
        }
        let tx = self.clients.get_mut(invite).ok_or(TxError::NoTransaction)?;
        match tx.state {
            ClientState::Calling => {
                tx.cancel_pending = true;
                Ok(CancelOutcome::Pending)
            }
            ClientState::Proceeding => {
                let (cancel, peer) = (build_cancel(&tx.request), tx.peer);
                self.send_request(cancel, peer, now)
                    .map(CancelOutcome::Sent)
            }
            _ => Err(TxError::State("final response already received")),
        }
    }

    /// The transport failed to send for `key` (connection refused, ICMP, TLS failure...).
    pub fn handle_transport_error(&mut self, key: &TxKey) {
        match key.role {
            Role::Client => {
                if let Some(tx) = self.clients.get_mut(key) {
                    tx.on_transport_error(&mut self.out);
                }
            }
            Role::Server => {
                if let Some(tx) = self.servers.get_mut(key) {
                    tx.on_transport_error(&mut self.out);
                }
            }
        }
        self.touch(key);
    }

    /// The original request of a live transaction (e.g. to build a CANCEL or a response).
    pub fn request(&self, key: &TxKey) -> Option<&SipMessage> {
        match key.role {
            Role::Client => self.clients.get(key).map(|t| &t.request),
            Role::Server => self.servers.get(key).map(|t| &t.request),
        }
    }
}

/// CANCEL for `invite` (§9.1): same Request-URI, top Via (branch), Call-ID, From, To, CSeq number,
/// and Route headers.
pub(crate) fn build_cancel(invite: &SipMessage) -> SipMessage {
    let ruri = invite.request_uri_str().unwrap_or("sip:invalid");
    let Ok(mut c) = SipMessage::request(Method::Cancel, ruri) else {
        return SipMessage::response(500, "bad INVITE");
    };
    if let Some(via) = invite.header("Via") {
        let top = via.split(|b| *b == b',').next().unwrap_or(via);
        c.push_header("Via", top);
    }
    c.push_header("Max-Forwards", "70");
    for h in ["From", "To", "Call-ID"] {
        if let Some(v) = invite.header(h) {
            c.push_header(h, v);
        }
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(0);
    c.push_header("CSeq", format!("{seq} CANCEL"));
    for r in invite.headers("Route") {
        c.push_header("Route", r);
    }
    c
}
