//! The B2BUA engine: one sans-IO value that owns the SIP transaction layer, the registrar, digest
//! authentication, trunk state and every call's core. SIP messages and the time go in; messages to
//! send, bindings and CDRs to persist come out; media is driven through [`MediaControl`].
//!
//! Why one value rather than a task per call: a call's work per SIP message is a few
//! microseconds, so one owner for all of them keeps transactions, dialogs and calls consistent
//! without locks or cross-task hops, and tests drive the whole B2BUA in virtual time. Several
//! engines can later shard calls by Call-ID (hotline picks the B-leg Call-IDs, so a shard prefix
//! routes them back).

mod dialog;
mod hosted;
mod invite;
mod keepalive;
mod media;
mod originate;
mod parties;
mod refer;
mod register;
mod session;
mod trunk_register;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, warn};

use crate::config::Profiles;
use crate::sip::auth::{Algorithm, DigestServer, DigestServerConfig};
use crate::sip::message::{Method, SipMessage};
use crate::sip::registrar::{self, Registrar};
use crate::sip::sdp::Codec;
use crate::sip::transaction::{self, Peer, TimerConfig, TransactionLayer, TxEvent, TxKey};
use crate::store::accounts::SipAccount;
use crate::web::Metrics;

use super::cdr::Cdr;
use super::core::{Call, CallPolicy, LegId};
use super::routing::TrunkTable;

pub use dialog::Side;
pub use hosted::{Service, Services, MUSIC_PROMPT};
pub use media::{BridgeInfo, MediaControl, MediaLeg, RelayMedia};

/// What the engine needs to know about itself.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The address written into Via, Contact and SDP.
    pub advertise: IpAddr,
    pub sip_port: u16,
    /// Digest realm of the agent domain.
    pub realm: String,
    pub profiles: Profiles,
    pub timers: TimerConfig,
    pub call: CallPolicy,
    pub codecs: Vec<Codec>,
    pub registrar: registrar::Limits,
    /// Secret keying the digest nonces (random per start unless nodes must share it).
    pub nonce_secret: Vec<u8>,
    /// Keep a finished call's dialog ids this long to answer late retransmissions.
    pub linger: Duration,
    /// RFC 4028 session timers: offered on B-legs, negotiated on every leg.
    pub session_timer: crate::sip::dialog::SessionTimerConfig,
}

/// Something the shell must carry out.
#[derive(Debug)]
pub enum Output {
    /// Send these bytes.
    Transmit { bytes: Bytes, peer: Peer },
    /// Write these registrar changes to the database.
    Bindings(Vec<registrar::Change>),
    /// Write this call detail record.
    Cdr(Box<Cdr>),
    /// Tell the ACD.
    Acd(crate::acd::Event),
    /// Look up the caller's history for the screen pop (a citizen's call that may reach the ACD);
    /// answer with [`Engine::handle_caller_history`].
    CallerHistory { call: u64, caller: String },
    /// Run an IVR lookup; answer with [`Engine::handle_lookup_result`].
    Lookup {
        call: u64,
        id: u64,
        source: crate::ivr::flow::LookupSource,
        args: Vec<(String, String)>,
        /// The node's timeout: the shell gives up then too (the IVR has its own timer).
        timeout_ms: u64,
        /// The A-leg's Call-ID, for the shell's logs.
        call_id: String,
    },
    /// Turn a voice message into a draft ticket bound to the call and its recording.
    MessageTicket {
        call_id: String,
        caller: String,
        did: String,
        recording: String,
        duration_ms: u64,
    },
    /// Store a caller's satisfaction rating.
    Rating {
        call_id: String,
        ticket: Option<String>,
        rating: u8,
        scale: u8,
    },
}

/// Timers of the engine itself (the transaction layer keeps its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// A call core's ring timeout.
    Call(u64),
    /// Retransmit our 2xx to an INVITE until its ACK comes (RFC 3261 §13.3.1.4).
    Retransmit2xx(u64, u16),
    /// Forget a finished call.
    Forget(u64),
    /// Send the next OPTIONS keepalive to trunk `i`.
    Keepalive(usize),
    /// (Re-)register to the carrier of outbound registration `i`.
    TrunkRegister(usize),
    /// Drop expired registrations.
    ExpireBindings,
    /// The drain time after shutdown is over: end every call.
    DrainOver,
    /// An IVR timer of a hosted call (call, token).
    Ivr(u64, u64),
    /// A leg's session timer: refresh due or session expired (RFC 4028).
    Session(u64, LegId),
}

/// Who a client or server transaction belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxRole {
    /// The caller's INVITE (server).
    AInvite(u64),
    /// A B-leg INVITE (client).
    BInvite(u64, LegId),
    /// A re-INVITE we relayed onto `leg` (client).
    ReinviteOut(u64, LegId),
    /// A session refresh (UPDATE or re-INVITE) we sent on `leg` (client).
    Refresh(u64, LegId),
    /// A BYE or CANCEL we sent (client); its answer changes nothing.
    Fire,
    /// An OPTIONS keepalive to trunk `i` (client).
    Keepalive(usize),
    /// A REGISTER to a carrier (client).
    TrunkRegister(usize),
}

/// One call in the engine: its core, its legs' dialogs and its media bridge.
struct CallCtx {
    id: u64,
    core: Call,
    /// The caller's INVITE and our dialog with the caller.
    a_invite: SipMessage,
    a_key: TxKey,
    a: dialog::Side,
    b: Vec<invite::BLeg>,
    bridge: Option<BridgeInfo>,
    /// The SDP the caller offered (parsed once, kept for re-anchoring answers).
    inbound_trunk: Option<String>,
    direction: &'static str,
    /// The agent extension that dialled out (empty for inbound calls).
    agent: String,
    caller: String,
    callee: String,
    did: String,
    start_ms: i64,
    started: Instant,
    answered: Option<(Instant, i64)>,
    /// Our 2xx to the caller, resent until the ACK arrives.
    a_2xx: Option<Retransmit>,
    /// Re-INVITE transactions received per leg, to answer when the other side answers.
    reinvites_in: HashMap<LegId, TxKey>,
    /// IVR and queue state of a call hotline answered itself.
    hosted: Option<Box<hosted::Hosted>>,
    /// The recording of the current conversation, if one runs.
    recording: Option<String>,
    /// A blind transfer (REFER) under way on a plain call.
    transfer: Option<refer::PlainTransfer>,
    done: bool,
    span: tracing::Span,
}

struct Retransmit {
    bytes: Bytes,
    peer: Peer,
    interval: Duration,
    give_up: Instant,
    seq: u16,
}

/// The engine.
pub struct Engine<M: MediaControl> {
    cfg: EngineConfig,
    tx: TransactionLayer,
    registrar: Registrar,
    digest: DigestServer,
    accounts: HashMap<String, SipAccount>,
    trunks: TrunkTable,
    media: M,
    metrics: Arc<Metrics>,
    calls: HashMap<u64, CallCtx>,
    /// Media bridge → call (digits, prompt ends and RTP timeouts come by bridge).
    by_bridge: HashMap<crate::media::relay::BridgeId, u64>,
    /// IVR flows and ACD, when this node runs them.
    services: Option<Services>,
    /// A-leg Call-ID → call.
    by_a: HashMap<String, u64>,
    /// ACD call id → a call hotline placed itself (it has no A-leg Call-ID of its own).
    by_origin: HashMap<String, u64>,
    /// B-leg Call-ID (ours) → call and leg.
    by_b: HashMap<String, (u64, LegId)>,
    tx_roles: HashMap<TxKey, TxRole>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    out: std::collections::VecDeque<Output>,
    next_id: u64,
    shutting_down: bool,
    keepalive: Vec<keepalive::TrunkHealth>,
    trunk_regs: Vec<trunk_register::TrunkRegistration>,
    /// How each registered contact is reached: the transport and stream connection its REGISTER
    /// came on (an agent behind NAT on TCP/TLS can only be called back on that connection).
    contact_routes: HashMap<String, (transaction::TransportKind, Option<u64>)>,
    /// The time of the input being handled, for events the transaction layer emits later.
    now_hint: Option<Instant>,
    /// The wall clock (unix ms) that `epoch` stands for: registrations and CDRs are stored in unix
    /// milliseconds, computed from the engine's own time so that virtual time drives them too.
    epoch: Instant,
    epoch_ms: i64,
}

impl<M: MediaControl> Engine<M> {
    pub fn new(cfg: EngineConfig, media: M, metrics: Arc<Metrics>, now: Instant) -> Engine<M> {
        let algorithms: Vec<Algorithm> = cfg
            .profiles
            .agents
            .as_ref()
            .map(|a| {
                a.digest_algorithms
                    .iter()
                    .filter_map(|s| Algorithm::parse(s.get_ref()).ok())
                    .collect()
            })
            .filter(|v: &Vec<Algorithm>| !v.is_empty())
            .unwrap_or_else(|| vec![Algorithm::Sha256, Algorithm::Md5]);
        let digest = DigestServer::new(
            &cfg.realm,
            &cfg.nonce_secret,
            DigestServerConfig {
                algorithms,
                ..DigestServerConfig::default()
            },
        );
        let trunks = TrunkTable::new(&cfg.profiles);
        let mut e = Engine {
            tx: TransactionLayer::new(cfg.timers),
            registrar: Registrar::new(cfg.registrar),
            digest,
            accounts: HashMap::new(),
            trunks,
            media,
            metrics,
            calls: HashMap::new(),
            by_bridge: HashMap::new(),
            services: None,
            by_a: HashMap::new(),
            by_origin: HashMap::new(),
            by_b: HashMap::new(),
            tx_roles: HashMap::new(),
            timers: BinaryHeap::new(),
            out: Default::default(),
            next_id: 1,
            shutting_down: false,
            keepalive: Vec::new(),
            trunk_regs: Vec::new(),
            contact_routes: HashMap::new(),
            now_hint: Some(now),
            epoch: now,
            epoch_ms: crate::store::now_ms(),
            cfg,
        };
        e.keepalive = keepalive::TrunkHealth::for_profiles(&e.cfg.profiles);
        let first: Vec<(usize, Duration)> = e
            .keepalive
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.interval.map(|d| (i, d)))
            .collect();
        for (i, every) in first {
            e.arm(now + every.min(Duration::from_secs(1)), Timer::Keepalive(i));
        }
        e.trunk_regs =
            trunk_register::TrunkRegistration::for_profiles(&e.cfg.profiles, e.cfg.advertise);
        for i in 0..e.trunk_regs.len() {
            e.arm(now, Timer::TrunkRegister(i));
        }
        e.arm(now + Duration::from_secs(30), Timer::ExpireBindings);
        e
    }

    /// Replaces the SIP accounts known to the registrar (loaded from the database).
    pub fn set_accounts(&mut self, accounts: Vec<SipAccount>) {
        self.accounts = accounts
            .into_iter()
            .filter(|a| a.enabled)
            .map(|a| (a.extension.clone(), a))
            .collect();
    }

    /// Restores a registration binding read back from the database.
    pub fn restore_binding(&mut self, extension: &str, binding: registrar::Binding, now_ms: i64) {
        self.registrar.restore(extension, binding, now_ms);
        self.metrics
            .registrations
            .store(self.registrar.count() as i64, Ordering::Relaxed);
    }

    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    pub fn active_calls(&self) -> usize {
        self.calls.values().filter(|c| !c.done).count()
    }

    /// New calls are refused with 503 from now on; calls still up after `drain` are ended.
    pub fn begin_shutdown(&mut self, drain: Duration, now: Instant) {
        if !self.shutting_down {
            info!(active = self.active_calls(), "refusing new calls; draining");
            self.shutting_down = true;
            self.arm(now + drain, Timer::DrainOver);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        loop {
            if let Some(o) = self.out.pop_front() {
                return Some(o);
            }
            let o = self.tx.poll_output()?;
            match o {
                transaction::Output::Transmit(t) => {
                    self.metrics
                        .sip_messages_out
                        .fetch_add(1, Ordering::Relaxed);
                    return Some(Output::Transmit {
                        bytes: t.bytes,
                        peer: t.peer,
                    });
                }
                transaction::Output::Event(ev) => self.on_tx_event(ev),
            }
        }
    }

    /// When [`Engine::handle_timeout`] must run next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let own = self.timers.peek().map(|Reverse((at, _))| *at);
        match (own, self.tx.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.now_hint = Some(now);
        self.tx.handle_timeout(now);
        let mut budget = self.timers.len();
        while budget > 0 {
            budget -= 1;
            match self.timers.peek() {
                Some(Reverse((at, _))) if *at <= now => {}
                _ => break,
            }
            let Some(Reverse((_, timer))) = self.timers.pop() else {
                break;
            };
            self.on_timer(timer, now);
        }
    }

    /// A message from the transport.
    pub fn handle_message(&mut self, msg: SipMessage, source: Peer, now: Instant) {
        self.metrics.sip_messages_in.fetch_add(1, Ordering::Relaxed);
        self.now_hint = Some(now);
        if let Err(e) = self.tx.handle_incoming(msg, source, now) {
            debug!(%source.addr, error = %e, "message not taken by the transaction layer");
        }
    }

    /// Unix milliseconds at engine time `now`.
    pub(crate) fn unix_ms(&self, now: Instant) -> i64 {
        self.epoch_ms + now.saturating_duration_since(self.epoch).as_millis() as i64
    }

    fn arm(&mut self, at: Instant, t: Timer) {
        self.timers.push(Reverse((at, t)));
    }

    fn on_timer(&mut self, t: Timer, now: Instant) {
        match t {
            Timer::Call(id) => {
                if let Some(c) = self.calls.get_mut(&id) {
                    if c.core.poll_timeout().is_some_and(|d| d <= now) {
                        c.core.handle_timeout(now);
                        self.run_call(id, now);
                    }
                }
            }
            Timer::Retransmit2xx(id, seq) => self.retransmit_2xx(id, seq, now),
            Timer::Ivr(id, token) => self.on_ivr_timer(id, token, now),
            Timer::Session(id, leg) => self.on_session_timer(id, leg, now),
            Timer::Forget(id) => self.forget(id),
            Timer::Keepalive(i) => self.send_keepalive(i, now),
            Timer::TrunkRegister(i) => self.send_trunk_register(i, now),
            Timer::ExpireBindings => {
                let changes = self.registrar.expire(self.unix_ms(now));
                if !changes.is_empty() {
                    self.out.push_back(Output::Bindings(changes));
                }
                self.metrics
                    .registrations
                    .store(self.registrar.count() as i64, Ordering::Relaxed);
                self.arm(now + Duration::from_secs(30), Timer::ExpireBindings);
            }
            Timer::DrainOver => {
                let ids: Vec<u64> = self
                    .calls
                    .values()
                    .filter(|c| !c.done)
                    .map(|c| c.id)
                    .collect();
                if !ids.is_empty() {
                    warn!(calls = ids.len(), "drain time over: ending calls still up");
                }
                for id in ids {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.core.handle(super::core::Input::Terminate, now);
                    }
                    self.run_call(id, now);
                }
            }
        }
    }

    fn on_tx_event(&mut self, ev: TxEvent) {
        let now = self.now();
        match ev {
            TxEvent::Request {
                key,
                request,
                source,
            } => self.on_request(key, request, source, now),
            TxEvent::Cancel {
                cancel,
                invite,
                request,
                answered,
                ..
            } => {
                if answered {
                    // RFC 3261 §9.2: the INVITE already has its final answer; CANCEL changes nothing.
                    return self.reply(&cancel, &request, 200, "OK", now);
                }
                let call =
                    invite
                        .as_ref()
                        .and_then(|k| self.tx_roles.get(k))
                        .and_then(|r| match r {
                            TxRole::AInvite(id) => Some(*id),
                            _ => None,
                        });
                let Some(id) = call else {
                    // RFC 3261 §9.2: nothing to cancel (already answered, or unknown).
                    return self.reply(
                        &cancel,
                        &request,
                        481,
                        "Call/Transaction Does Not Exist",
                        now,
                    );
                };
                self.reply(&cancel, &request, 200, "OK", now);
                if let Some(c) = self.calls.get_mut(&id) {
                    let _g = c.span.clone().entered();
                    info!("caller cancelled");
                    c.core.handle(super::core::Input::Cancelled, now);
                    let (key, invite) = (c.a_key.clone(), c.a_invite.clone());
                    let tag = c.a.local_tag.clone();
                    let r = SipMessage::response_to(&invite, 487, "Request Terminated", Some(&tag));
                    self.respond(&key, r, now);
                }
                self.run_call(id, now);
            }
            TxEvent::Ack { request, .. } => self.on_ack(&request),
            TxEvent::Response { key, response } => self.on_response(key, response, now),
            TxEvent::StrayResponse { response, source } => {
                self.on_stray_response(&response, source)
            }
            TxEvent::Timeout { key } => self.on_tx_failure(key, 408, "Request Timeout", now),
            TxEvent::TransportError { key } => {
                self.on_tx_failure(key, 503, "Service Unavailable", now)
            }
            TxEvent::Terminated { key } => {
                self.tx_roles.remove(&key);
            }
        }
    }

    fn on_request(&mut self, key: TxKey, req: SipMessage, source: Peer, now: Instant) {
        let Some(method) = req.method().cloned() else {
            return;
        };
        let to_tag = req.to().ok().and_then(|t| t.tag().map(str::to_owned));
        if to_tag.is_some() {
            return self.on_in_dialog(key, req, method, source, now);
        }
        match method {
            Method::Invite => self.on_invite(key, req, source, now),
            Method::Register => self.on_register(key, req, source, now),
            Method::Options => {
                let mut r = SipMessage::response_to(&req, 200, "OK", Some(&dialog::new_tag()));
                r.push_header("Allow", ALLOW);
                r.push_header("Accept", "application/sdp");
                self.respond(&key, r, now);
            }
            Method::Bye | Method::Info | Method::Update | Method::Prack => {
                self.reply(&key, &req, 481, "Call/Transaction Does Not Exist", now)
            }
            // RFC 3515 allows a REFER outside a dialog; hotline transfers only calls it carries.
            Method::Refer => self.reply(
                &key,
                &req,
                403,
                "Forbidden (REFER is honoured only inside a call)",
                now,
            ),
            Method::Other(_) => self.reply(&key, &req, 501, "Not Implemented", now),
            _ => {
                let mut r = SipMessage::response_to(
                    &req,
                    405,
                    "Method Not Allowed",
                    Some(&dialog::new_tag()),
                );
                r.push_header("Allow", ALLOW);
                self.respond(&key, r, now);
            }
        }
    }

    fn reply(&mut self, key: &TxKey, req: &SipMessage, code: u16, reason: &str, now: Instant) {
        let tag = if code > 100 {
            Some(dialog::new_tag())
        } else {
            None
        };
        let r = SipMessage::response_to(req, code, reason, tag.as_deref());
        self.respond(key, r, now);
    }

    fn respond(&mut self, key: &TxKey, resp: SipMessage, now: Instant) {
        if let Err(e) = self.tx.send_response(key, &resp, now) {
            debug!(error = %e, "response not sent: its transaction is gone");
        }
    }

    /// The time of the input being handled (events drained later use it too).
    fn now(&self) -> Instant {
        self.now_hint.unwrap_or_else(Instant::now)
    }

    fn forget(&mut self, id: u64) {
        if let Some(c) = self.calls.remove(&id) {
            // Only this call's own entries: an originated callback reuses the id of the inbound
            // call that promised it, which may still linger under `by_a`.
            for map in [&mut self.by_a, &mut self.by_origin] {
                if map.get(c.a.call_id.as_str()) == Some(&id) {
                    map.remove(c.a.call_id.as_str());
                }
            }
            if let Some(b) = c.bridge {
                self.by_bridge.remove(&b.id);
            }
            for b in &c.b {
                self.by_b.remove(b.side.call_id.as_str());
            }
        }
    }
}

/// The transport a trunk is configured for.
pub(crate) fn trunk_transport(t: crate::config::TrunkTransport) -> transaction::TransportKind {
    match t {
        crate::config::TrunkTransport::Udp => transaction::TransportKind::Udp,
        crate::config::TrunkTransport::Tcp => transaction::TransportKind::Tcp,
        crate::config::TrunkTransport::Tls => transaction::TransportKind::Tls,
    }
}

/// A From/To value without its `;tag=` (for records and display).
pub(crate) fn strip_tag_param(v: &str) -> String {
    let (head, params) = match v.rfind('>') {
        Some(i) => v.split_at(i + 1),
        None => (v, ""),
    };
    let mut out = head.trim().to_string();
    for p in params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("tag="))
    {
        out.push(';');
        out.push_str(p);
    }
    out
}

/// Methods hotline answers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER, REFER";
