//! Calls in the engine: a new INVITE becomes a call (after routing and, for agents dialling out,
//! digest authentication); the call core's actions become SIP messages and media commands; SIP
//! responses and in-dialog requests become the core's inputs.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{debug, info, info_span, warn};

use crate::call::cdr::{CallRecord, Cdr, HangupSide, LegRecord};
use crate::call::core::{
    Action, Call, CallPolicy, Hangup, Input, LegId, LegSummary, Summary, Target,
};
use crate::call::routing::{self, Decision};
use crate::sip::auth::{Credentials, DigestClient};
use crate::sip::message::{Method, SipMessage};
use crate::sip::sdp::{self, SessionDescription};
use crate::sip::transaction::{Peer, TransportKind, TxKey};

use super::dialog::{self, Side};
use super::media::{BridgeInfo, MediaControl, MediaLeg};
use super::{CallCtx, Engine, Output, Retransmit, Timer, TxRole};
use crate::sip::dialog::Dialog;

/// A B-leg as the engine keeps it.
pub struct BLeg {
    pub leg: LegId,
    pub target: Target,
    pub side: Side,
    /// The INVITE as last sent (resent with credentials after a carrier's challenge).
    pub invite: SipMessage,
    pub key: Option<TxKey>,
    pub auth: Option<DigestClient>,
    pub authorized: bool,
    /// Trunk channel this leg holds (outbound through a trunk).
    pub trunk: Option<String>,
    /// Our ACK for its 2xx, resent if the 2xx is retransmitted.
    pub ack: Option<bytes::Bytes>,
    pub answered: bool,
    pub sdp_answer: Option<SessionDescription>,
    /// The side of the call's bridge this leg's media uses: B, except a transfer target that
    /// replaces the A-leg's party (it takes the A side, facing the transferee on B).
    pub media: MediaLeg,
}

impl<M: MediaControl> Engine<M> {
    pub(super) fn contact(&self) -> String {
        format!("<sip:hotline@{}>", self.host_port())
    }

    pub(super) fn host_port(&self) -> String {
        match self.cfg.advertise {
            std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", self.cfg.sip_port),
            ip => format!("{ip}:{}", self.cfg.sip_port),
        }
    }

    pub(super) fn on_invite(&mut self, key: TxKey, req: SipMessage, source: Peer, now: Instant) {
        let call_id = req.call_id().unwrap_or_default().to_string();
        let span = info_span!("call", call_id = %call_id);
        let _g = span.enter();
        if self.by_a.contains_key(&call_id) {
            // A second INVITE with the same Call-ID and no To tag: a merged request (RFC 3261 §8.2.2.2).
            return self.reply(&key, &req, 482, "Loop Detected", now);
        }
        if self.shutting_down {
            return self.reply(&key, &req, 503, "Service Unavailable (shutting down)", now);
        }
        if req.max_forwards().ok().flatten() == Some(0) {
            return self.reply(&key, &req, 483, "Too Many Hops", now);
        }
        if !self.session_request_ok(&key, &req, now) {
            return;
        }
        let dialled = req
            .request_uri()
            .and_then(|u| u.as_sip().and_then(|s| s.user.map(str::to_owned)))
            .unwrap_or_default();
        let caller = req
            .from()
            .ok()
            .and_then(|f| f.uri.as_sip().and_then(|s| s.user.map(str::to_owned)))
            .unwrap_or_default();

        // Who is calling: a trunk (by source address) or an agent (by digest).
        let from_trunk = self
            .cfg
            .profiles
            .trunk_for_source(source.addr.ip())
            .is_some();
        let (decision, direction, agent) = if from_trunk {
            let registrar = &self.registrar;
            let fixed = &self.cfg.profiles.agents;
            let now_ms = self.unix_ms(now);
            let devices = |ext: &str| devices_of(registrar, fixed.as_ref(), ext, now_ms);
            let d = routing::route_inbound(
                &self.cfg.profiles,
                &mut self.trunks,
                source.addr.ip(),
                &dialled,
                devices,
            );
            (d, "inbound", String::new())
        } else {
            let Some(ext) = self.authenticate(&key, &req, true, now) else {
                return;
            };
            if self.accounts.contains_key(&dialled) {
                let targets = self.extension_targets(&dialled, now);
                let d = if targets.is_empty() {
                    Decision::Reject {
                        code: 480,
                        reason: "extension not registered".into(),
                    }
                } else {
                    Decision::Route {
                        inbound_trunk: None,
                        did: dialled.clone(),
                        targets,
                        hunt: crate::call::core::Hunt::Parallel,
                        caller_id: None,
                    }
                };
                (d, "internal", ext)
            } else {
                (
                    routing::route_outbound(&self.cfg.profiles, &self.trunks, &dialled),
                    "outbound",
                    ext,
                )
            }
        };
        if let Decision::Hosted {
            inbound_trunk,
            did,
            service,
        } = decision
        {
            return self.on_hosted_invite(
                key,
                req,
                source,
                inbound_trunk,
                did,
                service,
                caller,
                span.clone(),
                now,
            );
        }
        let Decision::Route {
            inbound_trunk,
            did,
            targets,
            hunt,
            caller_id,
        } = decision
        else {
            if let Decision::Reject { code, reason } = decision {
                info!(code, %reason, %dialled, %caller, "call refused");
                self.metrics
                    .calls_failed_total
                    .fetch_add(1, Ordering::Relaxed);
                self.reply(&key, &req, code, &reason_phrase(code, &reason), now);
            }
            return;
        };
        // From here on a refusal must give the inbound trunk channel back.
        if let Some(t) = &inbound_trunk {
            self.trunk_gauge(t);
        }
        let refuse = |e: &mut Self, code: u16, reason: &str| {
            if let Some(t) = &inbound_trunk {
                e.trunks.release(t);
                e.trunk_gauge(t);
            }
            e.metrics.calls_failed_total.fetch_add(1, Ordering::Relaxed);
            e.reply(&key, &req, code, reason, now);
        };
        let Some(offer) = parse_offer(&req) else {
            warn!("INVITE without a usable SDP offer");
            return refuse(
                self,
                488,
                "Not Acceptable Here (an SDP offer with PCMU or PCMA is required)",
            );
        };
        let mut b_offer = offer.clone();
        // Only what the engine supports and the caller's trunk is allowed to carry.
        sdp::restrict_offer(&mut b_offer, &self.codecs_for(inbound_trunk.as_deref()));
        let Some(audio) = first_audio(&b_offer) else {
            return refuse(self, 488, "Not Acceptable Here (no common codec)");
        };
        let hint_a = media_addr(&offer, audio);
        let bridge = match self.media.create_bridge(hint_a, None) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "no media ports");
                return refuse(self, 503, "Service Unavailable (no media ports)");
            }
        };
        anchor_one(&mut b_offer, audio, self.cfg.advertise, bridge.port_b);
        let a_side = Side::new(call_id.clone(), dialog::new_tag(), source);
        let id = self.next_id;
        self.next_id += 1;
        let policy = CallPolicy {
            hunt,
            ..self.cfg.call
        };
        let core = Call::new(
            targets,
            Some(b_offer.to_sdp_string().into_bytes()),
            policy,
            now,
        );
        info!(%caller, %dialled, direction, trunk = inbound_trunk.as_deref().unwrap_or(""), "new call");
        let display_caller = match (direction, &caller_id) {
            ("outbound", Some(cid)) => cid.clone(),
            _ => caller.clone(),
        };
        self.by_a.insert(call_id, id);
        self.by_bridge.insert(bridge.id, id);
        self.tx_roles.insert(key.clone(), TxRole::AInvite(id));
        self.calls.insert(
            id,
            CallCtx {
                id,
                core,
                a_invite: req,
                a_key: key,
                a: a_side,
                b: Vec::new(),
                bridge: Some(bridge),
                inbound_trunk,
                direction,
                caller: display_caller,
                callee: dialled,
                did,
                start_ms: self.unix_ms(now),
                started: now,
                answered: None,
                a_2xx: None,
                reinvites_in: Default::default(),
                hosted: None,
                recording: None,
                transfer: None,
                done: false,
                agent,
                span: span.clone(),
            },
        );
        self.metrics.calls_total.fetch_add(1, Ordering::Relaxed);
        self.metrics.active_calls.fetch_add(1, Ordering::Relaxed);
        self.run_call(id, now);
    }

    /// Every answered call is recorded from the moment its parties are bridged.
    pub(super) fn record_call(&mut self, id: u64, b: LegId) {
        let Some(c) = self.calls.get(&id) else { return };
        let Some(bridge) = c.bridge else { return };
        if self
            .cfg
            .profiles
            .dids
            .get(&c.did)
            .is_some_and(|d| !d.record)
        {
            debug!(did = %c.did, "this line is not recorded (record = false)");
            return;
        }
        let b_leg = self.b_leg(id, b);
        let hosted = c.hosted.as_ref();
        let agent = hosted
            .and_then(|h| {
                h.offers
                    .iter()
                    .find(|(_, legs)| legs.contains(&b))
                    .map(|(a, _)| a.clone())
            })
            .or_else(|| b_leg.map(|l| l.target.peer.clone()))
            .unwrap_or_default();
        let meta = crate::media::recorder::RecordingMeta {
            call_id: c.a.call_id.clone(),
            a_leg: c.a.call_id.clone(),
            b_leg: b_leg.map(|l| l.side.call_id.clone()).unwrap_or_default(),
            agent,
            skill_group: hosted.and_then(|h| h.group.clone()).unwrap_or_default(),
        };
        if let Some(rec) = self.media.start_recording(bridge.id, meta) {
            info!(recording = %rec, "recording");
            if let Some(c) = self.calls.get_mut(&id) {
                c.recording = Some(rec);
            }
        }
    }

    /// A trunk call for an IVR flow or a queue: hotline answers it with its own SDP (one codec
    /// of the caller's offer plus telephone-event) and later B-legs get exactly that codec.
    #[allow(clippy::too_many_arguments)]
    fn on_hosted_invite(
        &mut self,
        key: TxKey,
        req: SipMessage,
        source: Peer,
        inbound_trunk: Option<String>,
        did: String,
        service: super::Service,
        caller: String,
        span: tracing::Span,
        now: Instant,
    ) {
        let refuse = |e: &mut Self, code: u16, reason: &str| {
            if let Some(t) = &inbound_trunk {
                e.trunks.release(t);
                e.trunk_gauge(t);
            }
            e.metrics.calls_failed_total.fetch_add(1, Ordering::Relaxed);
            e.reply(&key, &req, code, reason, now);
        };
        if let Some(t) = &inbound_trunk {
            self.trunk_gauge(t);
        }
        if let Err(why) = self.can_serve(&service) {
            warn!(?service, %why, "hosted route not served");
            return refuse(self, 480, &reason_phrase(480, &why));
        }
        let Some(offer) = parse_offer(&req) else {
            return refuse(
                self,
                488,
                "Not Acceptable Here (an SDP offer with PCMU or PCMA is required)",
            );
        };
        let allowed = self.codecs_for(inbound_trunk.as_deref());
        let bridge = match self.media.create_bridge(media_addr_any(&offer), None) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "no media ports");
                return refuse(self, 503, "Service Unavailable (no media ports)");
            }
        };
        let Some((local, pt, dtmf)) =
            super::hosted::local_answer(&offer, &allowed, self.cfg.advertise, bridge.port_a)
        else {
            self.media.destroy(bridge.id);
            return refuse(self, 488, "Not Acceptable Here (no common codec)");
        };
        self.media.set_format(bridge.id, MediaLeg::A, pt, dtmf);
        self.media.set_format(bridge.id, MediaLeg::B, pt, dtmf);
        // Nobody on B until an agent answers: no RTP timeout for the empty side.
        self.media
            .set_direction(bridge.id, MediaLeg::B, false, false);
        let mut b_offer = offer.clone();
        sdp::restrict_offer(&mut b_offer, &super::hosted::codecs_of_answer(pt, dtmf));
        if let Some(audio) = first_audio(&b_offer) {
            anchor_one(&mut b_offer, audio, self.cfg.advertise, bridge.port_b);
        }
        // Parties (supervisors, consulted staff) are offered the caller's codec on ports of their own.
        let party_offer = b_offer.clone();
        let call_id = req.call_id().unwrap_or_default().to_string();
        let id = self.next_id;
        self.next_id += 1;
        let core = Call::hosted(
            Some(b_offer.to_sdp_string().into_bytes()),
            self.cfg.call,
            now,
        );
        let language = self
            .services()
            .map(|s| s.language.clone())
            .unwrap_or_else(|| "zh-CN".into());
        info!(%caller, %did, ?service, trunk = inbound_trunk.as_deref().unwrap_or(""), "new hosted call");
        self.by_a.insert(call_id.clone(), id);
        self.by_bridge.insert(bridge.id, id);
        self.tx_roles.insert(key.clone(), TxRole::AInvite(id));
        self.calls.insert(
            id,
            CallCtx {
                id,
                core,
                a_invite: req,
                a_key: key,
                a: Side::new(call_id, dialog::new_tag(), source),
                b: Vec::new(),
                bridge: Some(bridge),
                inbound_trunk,
                direction: "inbound",
                caller: caller.clone(),
                callee: did.clone(),
                did,
                start_ms: self.unix_ms(now),
                started: now,
                answered: None,
                a_2xx: None,
                reinvites_in: Default::default(),
                recording: None,
                transfer: None,
                hosted: Some(Box::new(super::hosted::Hosted {
                    service: Some(service),
                    party_offer: Some(party_offer),
                    format: (pt, dtmf),
                    ..super::hosted::Hosted::new(local, language)
                })),
                done: false,
                agent: String::new(),
                span,
            },
        );
        // Looked up while the caller is greeted and guided, so the agent's screen pop has it.
        if self.services.as_ref().is_some_and(|s| s.acd) && !caller.is_empty() {
            self.out.push_back(Output::CallerHistory {
                call: id,
                caller: caller.clone(),
            });
        }
        self.metrics.calls_total.fetch_add(1, Ordering::Relaxed);
        self.metrics.active_calls.fetch_add(1, Ordering::Relaxed);
        self.run_call(id, now);
    }

    /// Checks digest credentials of a request from an agent; answers 401/407 and returns `None`
    /// when they are missing or wrong. `proxy` picks 407/Proxy-Authorization (calls) over
    /// 401/Authorization (REGISTER).
    pub(super) fn authenticate(
        &mut self,
        key: &TxKey,
        req: &SipMessage,
        proxy: bool,
        now: Instant,
    ) -> Option<String> {
        let (challenge_code, challenge_hdr, answer_hdr) = if proxy {
            (407, "Proxy-Authenticate", "Proxy-Authorization")
        } else {
            (401, "WWW-Authenticate", "Authorization")
        };
        let now_ms = self.unix_ms(now).max(0) as u64;
        let method = req
            .method()
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        let mut stale = false;
        let creds = req
            .headers(answer_hdr)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .find_map(|v| {
                Credentials::parse(v)
                    .ok()
                    .filter(|c| c.realm == self.cfg.realm)
            });
        if let Some(creds) = creds {
            match self.accounts.get(&creds.username) {
                Some(acct) => {
                    let ha1 = if creds.algorithm.base() == crate::sip::auth::Algorithm::Sha256 {
                        &acct.ha1_sha256
                    } else {
                        &acct.ha1_md5
                    };
                    match self.digest.verify(&creds, &method, None, ha1, now_ms) {
                        Ok(v) => return Some(v.username),
                        Err(e) if e.is_stale() => stale = true,
                        Err(e) => {
                            warn!(user = %creds.username, error = %e, "digest authentication failed");
                            self.reply(key, req, 403, "Forbidden (wrong credentials)", now);
                            return None;
                        }
                    }
                }
                None => {
                    warn!(user = %creds.username, "digest authentication for an unknown extension");
                    self.reply(key, req, 403, "Forbidden (unknown extension)", now);
                    return None;
                }
            }
        }
        let mut r = SipMessage::response_to(
            req,
            challenge_code,
            if proxy {
                "Proxy Authentication Required"
            } else {
                "Unauthorized"
            },
            Some(&dialog::new_tag()),
        );
        for v in self.digest.challenge_headers(now_ms, stale) {
            r.push_header(challenge_hdr, v);
        }
        self.respond(key, r, now);
        None
    }

    /// Carries out every action the call core has queued.
    pub(super) fn run_call(&mut self, id: u64, now: Instant) {
        let mut guard = 0;
        while guard < 256 {
            guard += 1;
            let Some(c) = self.calls.get_mut(&id) else {
                return;
            };
            let Some(action) = c.core.poll_action() else {
                break;
            };
            let span = c.span.clone();
            let _g = span.enter();
            self.do_action(id, action, now);
        }
        if let Some(c) = self.calls.get(&id) {
            if let Some(at) = c.core.poll_timeout() {
                self.arm(at, Timer::Call(id));
            }
        }
    }

    fn do_action(&mut self, id: u64, action: Action, now: Instant) {
        match action {
            Action::Invite { leg, target, sdp } => self.send_b_invite(id, leg, target, sdp, now),
            Action::Provisional { code, sdp } => {
                let body = sdp.and_then(|b| self.answer_for_a(id, &b));
                let Some(c) = self.calls.get(&id) else { return };
                let mut r = SipMessage::response_to(
                    &c.a_invite,
                    code,
                    if code == 180 {
                        "Ringing"
                    } else {
                        "Session Progress"
                    },
                    Some(&c.a.local_tag),
                );
                r.push_header("Contact", self.contact());
                if let Some(body) = body {
                    r.set_body(body, Some("application/sdp"));
                }
                let key = c.a_key.clone();
                self.a_dialog_from(id, &r);
                self.respond(&key, r, now);
            }
            Action::Answer { sdp } => {
                let body = match sdp {
                    Some(b) => self.answer_for_a(id, &b),
                    None => self
                        .calls
                        .get(&id)
                        .and_then(|c| c.hosted.as_ref())
                        .map(|h| h.local_sdp.to_sdp_string().into_bytes()),
                };
                let Some(c) = self.calls.get(&id) else { return };
                let mut r = SipMessage::response_to(&c.a_invite, 200, "OK", Some(&c.a.local_tag));
                r.push_header("Contact", self.contact());
                r.push_header("Allow", super::ALLOW);
                if let Some(body) = body {
                    r.set_body(body, Some("application/sdp"));
                }
                let key = c.a_key.clone();
                let peer = c.a.peer;
                let a_invite = c.a_invite.clone();
                self.session_answer(id, LegId::A, &a_invite, &mut r, now);
                if let Some(c) = self.calls.get_mut(&id) {
                    c.a.local_sdp = (!r.body().is_empty()).then(|| r.body().to_vec());
                }
                let bytes = r.to_bytes();
                self.a_dialog_from(id, &r);
                self.respond(&key, r, now);
                let t1 = self.cfg.timers.t1;
                let unix_now = self.unix_ms(now);
                if let Some(c) = self.calls.get_mut(&id) {
                    c.answered = Some((now, unix_now));
                    if !peer.transport.is_reliable() {
                        c.a_2xx = Some(Retransmit {
                            bytes,
                            peer,
                            interval: t1,
                            give_up: now + t1 * 64,
                            seq: 0,
                        });
                        self.arm(now + t1, Timer::Retransmit2xx(id, 0));
                    }
                }
                info!("answered");
                let service = self
                    .calls
                    .get_mut(&id)
                    .and_then(|c| c.hosted.as_mut())
                    .and_then(|h| h.service.take());
                if let Some(service) = service {
                    self.start_service(id, service, now);
                }
            }
            Action::Reject { code, reason } => {
                let Some(c) = self.calls.get(&id) else { return };
                let key = c.a_key.clone();
                let r = SipMessage::response_to(
                    &c.a_invite,
                    code,
                    &reason_phrase(code, &reason),
                    Some(&c.a.local_tag),
                );
                self.respond(&key, r, now);
            }
            Action::Cancel {
                leg,
                completed_elsewhere,
            } => {
                let Some(key) = self.b_leg(id, leg).and_then(|b| b.key.clone()) else {
                    return;
                };
                if completed_elsewhere {
                    debug!(leg = leg.0, "cancelling fork: answered elsewhere");
                }
                if let Err(e) = self.tx.cancel(&key, now) {
                    debug!(error = %e, "CANCEL not sent");
                }
            }
            Action::Bye { leg } => self.send_in_dialog(id, leg, Method::Bye, None, now),
            Action::AckAndBye { leg } => {
                self.send_ack(id, leg);
                self.send_in_dialog(id, leg, Method::Bye, None, now);
            }
            Action::Reinvite { leg, sdp } => {
                let body = sdp.and_then(|b| self.reoffer_for(id, leg, &b));
                self.send_in_dialog(id, leg, Method::Invite, body, now);
            }
            Action::Reoffer { leg, sdp } => self.send_in_dialog(id, leg, Method::Invite, sdp, now),
            Action::TransferProgress { leg, code, sdp } => {
                self.transfer_progress(id, leg, code, sdp, now)
            }
            Action::Transferred { from, to, sdp } => self.transferred(id, from, to, sdp, now),
            Action::TransferFailed {
                from,
                code,
                reason,
                from_up,
            } => self.transfer_failed(id, from, code, &reason, from_up, now),
            Action::ReinviteResponse { leg, code, sdp } => {
                let Some(c) = self.calls.get_mut(&id) else {
                    return;
                };
                let Some(key) = c.reinvites_in.remove(&leg) else {
                    return;
                };
                let Some(req) = self.tx.request(&key).cloned() else {
                    return;
                };
                let Some(c) = self.calls.get(&id) else { return };
                let tag = if leg == LegId::A {
                    c.a.local_tag.clone()
                } else {
                    self.b_leg(id, leg)
                        .map(|b| b.side.local_tag.clone())
                        .unwrap_or_default()
                };
                let mut r =
                    SipMessage::response_to(&req, code, &reason_phrase(code, ""), Some(&tag));
                if code == 200 {
                    r.push_header("Contact", self.contact());
                    // A B-side leg hotline answers itself (a party, or an agent with no caller
                    // left to relay to) keeps the session hotline offered it.
                    let party_sdp = self
                        .b_leg(id, leg)
                        .filter(|_| sdp.is_none())
                        .and_then(|b| b.side.local_sdp.as_deref())
                        .and_then(|b| SessionDescription::parse(b).ok())
                        .map(|mut s| {
                            s.bump_version();
                            s.to_sdp_string().into_bytes()
                        });
                    let body = match sdp {
                        Some(b) => self.reoffer_for(id, leg, &b),
                        // A party talks to hotline's relay: its session is the one we offered it.
                        None if party_sdp.is_some() => party_sdp,
                        // Hosted and nobody connected: hotline answers from its own session.
                        None => self
                            .calls
                            .get(&id)
                            .and_then(|c| c.hosted.as_ref())
                            .map(|h| {
                                let mut s = h.local_sdp.clone();
                                s.bump_version();
                                s.to_sdp_string().into_bytes()
                            }),
                    };
                    if let Some(body) = body {
                        if let Some(side) = self
                            .calls
                            .get_mut(&id)
                            .and_then(|c| super::session::side_mut(c, leg))
                        {
                            side.local_sdp = Some(body.clone());
                        }
                        r.set_body(body, Some("application/sdp"));
                    }
                    self.session_answer(id, leg, &req, &mut r, now);
                }
                self.respond(&key, r, now);
            }
            Action::Bridge { b } => {
                let Some(c) = self.calls.get(&id) else { return };
                let Some(bridge) = c.bridge else { return };
                if let Some(addr) = self
                    .b_leg(id, b)
                    .and_then(|l| l.sdp_answer.as_ref())
                    .and_then(|s| first_audio(s).and_then(|i| media_addr(s, i)))
                {
                    self.media.update_remote(bridge.id, MediaLeg::B, addr);
                }
                // A call hotline placed is recorded from when the number answers.
                if !self.is_originated(id) {
                    self.record_call(id, b);
                }
            }
            Action::Finished(summary) => {
                self.end_hosted(id, now);
                self.finish(id, summary, now)
            }
            a if super::hosted::is_hosted_action(&a) => self.on_hosted_action(id, a, now),
            _ => {}
        }
    }

    /// The side of the call's bridge that faces `leg`.
    pub(super) fn media_side(&self, id: u64, leg: LegId) -> MediaLeg {
        if leg == LegId::A {
            MediaLeg::A
        } else {
            self.b_leg(id, leg).map_or(MediaLeg::B, |b| b.media)
        }
    }

    pub(super) fn b_leg(&self, id: u64, leg: LegId) -> Option<&BLeg> {
        self.calls.get(&id)?.b.iter().find(|b| b.leg == leg)
    }

    fn b_leg_mut(&mut self, id: u64, leg: LegId) -> Option<&mut BLeg> {
        self.calls.get_mut(&id)?.b.iter_mut().find(|b| b.leg == leg)
    }

    fn send_b_invite(
        &mut self,
        id: u64,
        leg: LegId,
        target: Target,
        sdp: Option<Vec<u8>>,
        now: Instant,
    ) {
        let trunk = self.cfg.profiles.trunk(&target.peer).cloned();
        if let Some(t) = &trunk {
            if !self.trunks.acquire(&t.name) {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.core.handle(
                        Input::Failed {
                            leg,
                            code: 503,
                            reason: "trunk channel limit reached".into(),
                        },
                        now,
                    );
                }
                return;
            }
            self.trunk_gauge(&t.name);
        }
        let Some(dest) = target.dest.or_else(|| uri_addr(&target.uri)) else {
            if let Some(t) = &trunk {
                self.trunks.release(&t.name);
            }
            if let Some(c) = self.calls.get_mut(&id) {
                c.core.handle(
                    Input::Failed {
                        leg,
                        code: 480,
                        reason: "target has no IP address".into(),
                    },
                    now,
                );
            }
            return;
        };
        let peer = match trunk.as_ref().map(|t| t.transport) {
            Some(t) => Peer {
                addr: dest,
                transport: super::trunk_transport(t),
                connection: None,
            },
            None => match self.contact_routes.get(&target.uri) {
                // A registered device: the way its REGISTER came in.
                Some(&(transport, connection)) => Peer {
                    addr: dest,
                    transport,
                    connection: connection.filter(|_| transport.is_reliable()),
                },
                None => Peer {
                    addr: dest,
                    transport: uri_transport(&target.uri),
                    connection: None,
                },
            },
        };
        let host_port = self.host_port();
        let Some(c) = self.calls.get(&id) else { return };
        let transfer = c.transfer.as_ref().filter(|_| c.core.is_transfer_leg(leg));
        let media = transfer.map_or(MediaLeg::B, |t| t.side);
        // A transfer through a trunk presents the dial plan's caller id, as an agent's call does.
        let caller = transfer
            .and_then(|t| t.caller_id.clone())
            .filter(|_| trunk.is_some())
            .unwrap_or_else(|| c.caller.clone());
        let a_max_forwards = c.a_invite.max_forwards().ok().flatten().unwrap_or(70);
        let to = format!("<{}>", strip_uri_params(&target.uri));
        let from_uri = format!(
            "<sip:{}@{}>",
            if caller.is_empty() {
                "anonymous"
            } else {
                &caller
            },
            host_port
        );
        let side = Side::new(
            dialog::new_call_id(self.cfg.advertise),
            dialog::new_tag(),
            peer,
        );
        let mut invite = match SipMessage::request(Method::Invite, &target.uri) {
            Ok(m) => m,
            Err(e) => {
                warn!(uri = %target.uri, error = %e, "target URI is not usable");
                if let Some(t) = &trunk {
                    self.trunks.release(&t.name);
                }
                if let Some(c) = self.calls.get_mut(&id) {
                    c.core.handle(
                        Input::Failed {
                            leg,
                            code: 480,
                            reason: "bad target URI".into(),
                        },
                        now,
                    );
                }
                return;
            }
        };
        invite.push_header("Via", dialog::via(peer, &host_port));
        invite.push_header(
            "Max-Forwards",
            a_max_forwards.saturating_sub(1).clamp(1, 70).to_string(),
        );
        invite.push_header("From", format!("{from_uri};tag={}", side.local_tag));
        invite.push_header("To", &to);
        invite.push_header("Call-ID", &side.call_id);
        invite.push_header("CSeq", "1 INVITE");
        invite.push_header("Contact", self.contact());
        invite.push_header("Allow", super::ALLOW);
        invite.push_header("User-Agent", "hotline");
        for (name, value) in
            crate::sip::dialog::session_timer::request_headers(&self.cfg.session_timer, None)
        {
            invite.push_header(name, value);
        }
        if c.hosted.as_ref().is_some_and(|h| h.auto_answer) {
            // Agents on auto-answer: phones pick up by themselves (Polycom/Yealink/Snom style
            // headers; softphones honour one or the other).
            invite.push_header("Call-Info", format!("<sip:{host_port}>;answer-after=0"));
            invite.push_header("Alert-Info", "<http://127.0.0.1/>;info=alert-autoanswer");
        }
        let sdp = match (&trunk, sdp) {
            // Toward a trunk, offer only the codecs that trunk allows.
            (Some(t), Some(body)) => match SessionDescription::parse(&body) {
                Ok(mut d) => {
                    sdp::restrict_offer(&mut d, &self.codecs_for(Some(&t.name)));
                    if first_audio(&d).is_none() {
                        self.trunks.release(&t.name);
                        self.trunk_gauge(&t.name);
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.core.handle(
                                Input::Failed {
                                    leg,
                                    code: 488,
                                    reason: "no codec allowed on this trunk".into(),
                                },
                                now,
                            );
                        }
                        return;
                    }
                    Some(d.to_sdp_string().into_bytes())
                }
                Err(_) => Some(body),
            },
            (_, body) => body,
        };
        if let Some(body) = sdp {
            invite.set_body(body, Some("application/sdp"));
        }
        let auth = trunk
            .as_ref()
            .and_then(|t| t.auth.as_ref())
            .map(|a| DigestClient::new(&a.username, &a.password));
        self.by_b.insert(side.call_id.clone(), (id, leg));
        let key = match self.tx.send_request(invite.clone(), peer, now) {
            Ok(k) => Some(k),
            Err(e) => {
                warn!(error = %e, "B-leg INVITE not sent");
                None
            }
        };
        if let Some(k) = &key {
            self.tx_roles.insert(k.clone(), TxRole::BInvite(id, leg));
        }
        debug!(leg = leg.0, to = %target.uri, %dest, "ringing B-leg");
        let held = trunk.map(|t| t.name);
        let mut side = side;
        side.local_sdp = (!invite.body().is_empty()).then(|| invite.body().to_vec());
        if let Some(c) = self.calls.get_mut(&id) {
            c.b.push(BLeg {
                leg,
                target,
                side,
                invite,
                key: key.clone(),
                auth,
                authorized: false,
                trunk: held,
                ack: None,
                answered: false,
                sdp_answer: None,
                media,
            });
            if key.is_none() {
                c.core.handle(
                    Input::Failed {
                        leg,
                        code: 503,
                        reason: "could not send".into(),
                    },
                    now,
                );
            }
        }
    }

    /// A request inside an established dialog of `leg`, with an optional SDP body.
    fn send_in_dialog(
        &mut self,
        id: u64,
        leg: LegId,
        method: Method,
        body: Option<Vec<u8>>,
        now: Instant,
    ) {
        let host_port = self.host_port();
        let session_headers = match method {
            Method::Invite | Method::Update => self.session_request_headers(id, leg),
            _ => Vec::new(),
        };
        if method == Method::Bye {
            self.stop_session(id, leg);
        }
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let side = if leg == LegId::A {
            Some(&mut c.a)
        } else {
            c.b.iter_mut().find(|b| b.leg == leg).map(|b| &mut b.side)
        };
        let Some(side) = side else { return };
        let peer = side.peer;
        let mut m = match side.request(method.clone(), &host_port) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, ?method, "in-dialog request not built");
                return;
            }
        };
        for (name, value) in session_headers {
            m.push_header(name, value);
        }
        if let Some(b) = body {
            side.local_sdp = Some(b.clone());
            m.set_body(b, Some("application/sdp"));
        }
        match self.tx.send_request(m, peer, now) {
            Ok(k) => {
                let role = if method == Method::Invite {
                    TxRole::ReinviteOut(id, leg)
                } else {
                    TxRole::Fire
                };
                self.tx_roles.insert(k, role);
            }
            Err(e) => warn!(error = %e, ?method, "in-dialog request not sent"),
        }
    }

    /// Our side of the caller's dialog exists from the first tagged response we send.
    fn a_dialog_from(&mut self, id: u64, resp: &SipMessage) {
        let contact = self.contact();
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.a.dialog.is_none() {
            match Dialog::uas(&c.a_invite, resp, &contact) {
                Ok(d) => c.a.dialog = Some(d),
                Err(e) => {
                    warn!(error = %e, "caller's INVITE cannot form a dialog; hotline cannot send it BYE")
                }
            }
        }
    }

    /// The ACK for a B-leg's 2xx: sent directly, not through a transaction (RFC 3261 §13.2.2.4).
    fn send_ack(&mut self, id: u64, leg: LegId) {
        let host_port = self.host_port();
        let Some(b) = self.b_leg_mut(id, leg) else {
            return;
        };
        let seq = b.invite.cseq().map(|c| c.seq).unwrap_or(1);
        match b.side.ack(seq, &host_port) {
            Ok(ack) => {
                let bytes = ack.to_bytes();
                b.ack = Some(bytes.clone());
                let peer = b.side.peer;
                self.out.push_back(Output::Transmit { bytes, peer });
            }
            Err(e) => warn!(error = %e, "ACK not built"),
        }
    }

    pub(super) fn on_response(&mut self, key: TxKey, resp: SipMessage, now: Instant) {
        let Some(role) = self.tx_roles.get(&key).copied() else {
            return;
        };
        let code = resp.status_code().unwrap_or(500);
        match role {
            TxRole::BInvite(id, leg) => self.on_b_invite_response(id, leg, code, resp, now),
            TxRole::ReinviteOut(id, leg) => {
                if code < 200 {
                    return;
                }
                if (200..300).contains(&code) {
                    // ACK the re-INVITE's 2xx on that dialog.
                    let host_port = self.host_port();
                    let seq = resp.cseq().map(|c| c.seq).unwrap_or(1);
                    if let Some(c) = self.calls.get_mut(&id) {
                        let side = if leg == LegId::A {
                            Some(&mut c.a)
                        } else {
                            c.b.iter_mut().find(|b| b.leg == leg).map(|b| &mut b.side)
                        };
                        if let Some(side) = side {
                            if let Some(d) = side.dialog.as_mut() {
                                d.on_refresh_response(&resp);
                            }
                            if let Ok(ack) = side.ack(seq, &host_port) {
                                let peer = side.peer;
                                self.out.push_back(Output::Transmit {
                                    bytes: ack.to_bytes(),
                                    peer,
                                });
                            }
                        }
                    }
                }
                if (200..300).contains(&code) {
                    self.session_uac_2xx(id, leg, &resp, now);
                }
                let sdp = (!resp.body().is_empty()).then(|| resp.body().to_vec());
                if let Some(c) = self.calls.get_mut(&id) {
                    c.core
                        .handle(Input::ReinviteAnswered { leg, code, sdp }, now);
                }
                self.run_call(id, now);
            }
            TxRole::Refresh(id, leg) => self.on_refresh_response(id, leg, code, &resp, now),
            TxRole::Keepalive(i) => self.keepalive_answered(i, code, now),
            TxRole::TrunkRegister(i) => self.trunk_register_answered(i, &resp, now),
            _ => {}
        }
    }

    fn on_b_invite_response(
        &mut self,
        id: u64,
        leg: LegId,
        code: u16,
        resp: SipMessage,
        now: Instant,
    ) {
        if code == 100 {
            return;
        }
        if (code == 401 || code == 407) && self.retry_with_credentials(id, leg, code, &resp, now) {
            return;
        }
        if code == 422 && self.retry_b_after_422(id, leg, &resp, now) {
            return;
        }
        let sdp_body = (!resp.body().is_empty()).then(|| resp.body().to_vec());
        {
            let Some(b) = self.b_leg_mut(id, leg) else {
                return;
            };
            if code < 300 {
                let tagged = resp
                    .to()
                    .ok()
                    .and_then(|t| t.tag().map(str::to_owned))
                    .is_some();
                match b.side.dialog.as_mut() {
                    Some(d) => {
                        if let Err(e) = d.on_invite_response(&resp) {
                            debug!(error = %e, "response from another fork of this B-leg ignored for the dialog");
                        }
                    }
                    None if tagged => match Dialog::uac(&b.invite, &resp) {
                        Ok(d) => b.side.dialog = Some(d),
                        Err(e) => debug!(error = %e, "response does not form a dialog yet"),
                    },
                    None => {}
                }
            }
            if let Some(body) = &sdp_body {
                if let Ok(s) = SessionDescription::parse(body) {
                    b.sdp_answer = Some(s);
                }
            }
            if (200..300).contains(&code) {
                b.answered = true;
            }
        }
        if (200..300).contains(&code) {
            self.send_ack(id, leg);
            self.session_uac_2xx(id, leg, &resp, now);
        }
        if code >= 300 {
            self.release_leg_trunk(id, leg);
        }
        let input = match code {
            101..=199 => Input::Progress {
                leg,
                code,
                sdp: sdp_body,
            },
            200..=299 => Input::Answered { leg, sdp: sdp_body },
            _ => Input::Failed {
                leg,
                code,
                reason: resp
                    .reason_lossy()
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            },
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.core.handle(input, now);
        }
        self.run_call(id, now);
    }

    /// Resends a B-leg INVITE with digest credentials after a carrier's 401/407; `false` when
    /// there is nothing (more) to answer with.
    fn retry_with_credentials(
        &mut self,
        id: u64,
        leg: LegId,
        code: u16,
        resp: &SipMessage,
        now: Instant,
    ) -> bool {
        let host_port = self.host_port();
        let Some(b) = self.b_leg_mut(id, leg) else {
            return false;
        };
        let Some(client) = b.auth.as_mut() else {
            return false;
        };
        let hdr = if code == 407 {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        let values: Vec<String> = resp
            .headers(hdr)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
            .collect();
        if let Err(e) =
            client.handle_challenge(code, values.iter().map(String::as_str), b.authorized)
        {
            warn!(error = %e, "carrier challenge not answered");
            return false;
        }
        let uri = b.invite.request_uri_str().unwrap_or_default().to_string();
        let cnonce = dialog::new_tag();
        let answers = client.authorize("INVITE", &uri, b.invite.body(), &cnonce);
        let mut invite = b.invite.clone();
        let seq = invite.cseq().map(|c| c.seq).unwrap_or(1) + 1;
        invite.replace_header("CSeq", format!("{seq} INVITE"));
        invite.remove_headers("Via");
        invite.prepend_via(&dialog::via(b.side.peer, &host_port));
        invite.remove_headers("Authorization");
        invite.remove_headers("Proxy-Authorization");
        for (name, creds) in answers {
            invite.push_header(name, creds.to_header_value());
        }
        b.authorized = true;
        b.invite = invite.clone();
        let peer = b.side.peer;
        match self.tx.send_request(invite, peer, now) {
            Ok(k) => {
                if let Some(b) = self.b_leg_mut(id, leg) {
                    b.key = Some(k.clone());
                }
                self.tx_roles.insert(k, TxRole::BInvite(id, leg));
                info!(leg = leg.0, "answered the carrier's digest challenge");
                true
            }
            Err(e) => {
                warn!(error = %e, "authenticated INVITE not sent");
                false
            }
        }
    }

    /// The codecs a call on `trunk` may use: the engine's, limited to the trunk's `codecs` list.
    fn codecs_for(&self, trunk: Option<&str>) -> Vec<sdp::Codec> {
        match trunk.and_then(|t| self.cfg.profiles.trunk(t)) {
            Some(t) => self
                .cfg
                .codecs
                .iter()
                .filter(|c| t.codecs.iter().any(|n| n.eq_ignore_ascii_case(c.name)))
                .cloned()
                .collect(),
            None => self.cfg.codecs.clone(),
        }
    }

    /// Shows a trunk's channels in use on /metrics.
    fn trunk_gauge(&self, trunk: &str) {
        self.metrics
            .trunk(trunk)
            .channels_in_use
            .store(i64::from(self.trunks.in_use(trunk)), Ordering::Relaxed);
    }

    pub(super) fn release_leg_trunk(&mut self, id: u64, leg: LegId) {
        let Some(b) = self.b_leg_mut(id, leg) else {
            return;
        };
        if let Some(t) = b.trunk.take() {
            self.trunks.release(&t);
            self.trunk_gauge(&t);
        }
    }

    /// A 2xx for a B-leg INVITE whose transaction is over: our ACK was lost; send it again.
    pub(super) fn on_stray_response(&mut self, resp: &SipMessage, _source: Peer) {
        let code = resp.status_code().unwrap_or(0);
        let is_invite = resp
            .cseq()
            .map(|c| c.method == Method::Invite)
            .unwrap_or(false);
        if !(200..300).contains(&code) || !is_invite {
            return;
        }
        let Some(&(id, leg)) = resp.call_id().ok().and_then(|c| self.by_b.get(c)) else {
            return;
        };
        if let Some(b) = self.b_leg(id, leg) {
            if let Some(bytes) = b.ack.clone() {
                let peer = b.side.peer;
                self.out.push_back(Output::Transmit { bytes, peer });
            }
        }
    }

    pub(super) fn on_tx_failure(&mut self, key: TxKey, code: u16, reason: &str, now: Instant) {
        let Some(role) = self.tx_roles.remove(&key) else {
            return;
        };
        match role {
            TxRole::BInvite(id, leg) => {
                self.release_leg_trunk(id, leg);
                if let Some(c) = self.calls.get_mut(&id) {
                    c.core.handle(
                        Input::Failed {
                            leg,
                            code,
                            reason: reason.into(),
                        },
                        now,
                    );
                }
                self.run_call(id, now);
            }
            TxRole::ReinviteOut(id, leg) => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.core.handle(
                        Input::ReinviteAnswered {
                            leg,
                            code,
                            sdp: None,
                        },
                        now,
                    );
                }
                self.run_call(id, now);
            }
            TxRole::Refresh(id, leg) => {
                warn!(
                    leg = leg.0,
                    code, "session refresh got no answer: ending the call"
                );
                self.session_expired(id, leg, now)
            }
            TxRole::Keepalive(i) => self.keepalive_failed(i, now),
            TxRole::TrunkRegister(i) => self.trunk_register_failed(i, now),
            _ => {}
        }
    }

    pub(super) fn on_in_dialog(
        &mut self,
        key: TxKey,
        req: SipMessage,
        method: Method,
        _source: Peer,
        now: Instant,
    ) {
        let call_id = req.call_id().unwrap_or_default();
        let found = self
            .by_a
            .get(call_id)
            .map(|&id| (id, LegId::A))
            .or_else(|| self.by_b.get(call_id).copied());
        let Some((id, leg)) = found else {
            if method != Method::Ack {
                self.reply(&key, &req, 481, "Call/Transaction Does Not Exist", now);
            }
            return;
        };
        if let Some(c) = self.calls.get_mut(&id) {
            let side = if leg == LegId::A {
                Some(&mut c.a)
            } else {
                c.b.iter_mut().find(|b| b.leg == leg).map(|b| &mut b.side)
            };
            if let Some(d) = side.and_then(|s| s.dialog.as_mut()) {
                if let Err(e) = d.on_request(&req) {
                    if method != Method::Ack {
                        let code = e.status_code();
                        return self.reply(
                            &key,
                            &req,
                            code,
                            &reason_phrase(code, &e.to_string()),
                            now,
                        );
                    }
                    return;
                }
            }
        }
        match method {
            Method::Bye => {
                self.reply(&key, &req, 200, "OK", now);
                self.stop_session(id, leg);
                if let Some(c) = self.calls.get_mut(&id) {
                    if leg == LegId::A {
                        // A BYE proves the caller got our 200 even if its ACK was lost.
                        c.a_2xx = None;
                    }
                    c.core.handle(Input::Bye { leg }, now);
                }
                self.run_call(id, now);
            }
            // An UPDATE with an offer changes the session like a re-INVITE (RFC 3311); it is
            // relayed to the other side as a re-INVITE and answered with that side's answer.
            // An UPDATE without a body is a session refresh and is answered below.
            Method::Invite | Method::Update
                if method == Method::Invite || !req.body().is_empty() =>
            {
                if !self.session_request_ok(&key, &req, now) {
                    return;
                }
                let body = req.body().to_vec();
                if let Some(c) = self.calls.get_mut(&id) {
                    c.reinvites_in.insert(leg, key);
                    c.core.handle(
                        Input::Reinvite {
                            leg,
                            sdp: (!body.is_empty()).then_some(body),
                        },
                        now,
                    );
                }
                self.run_call(id, now);
            }
            Method::Refer => self.on_refer(key, req, id, leg, now),
            // A session refresh (RFC 4028 with RFC 3311): negotiated and answered here.
            Method::Update => {
                if !self.session_request_ok(&key, &req, now) {
                    return;
                }
                // In-dialog: the To tag is already there.
                let mut r = SipMessage::response_to(&req, 200, "OK", None);
                r.push_header("Contact", self.contact());
                self.session_answer(id, leg, &req, &mut r, now);
                self.respond(&key, r, now);
            }
            Method::Ack => {}
            // Key presses as SIP INFO (application/dtmf-relay, application/dtmf) from the caller
            // of a hosted call go to its flow like RFC 4733 and in-band digits.
            Method::Info
                if leg == LegId::A
                    && !req.body().is_empty()
                    && self.calls.get(&id).is_some_and(|c| c.hosted.is_some()) =>
            {
                let ctype = req
                    .header_str("Content-Type")
                    .unwrap_or_default()
                    .to_string();
                match crate::media::dtmf::info::parse_info(&ctype, req.body()) {
                    Ok(d) => {
                        self.reply(&key, &req, 200, "OK", now);
                        self.on_digit(id, d.digit, d.duration_ms, now);
                    }
                    Err(e) => {
                        let why = e.to_string();
                        let code = if ctype.to_ascii_lowercase().contains("dtmf") {
                            400
                        } else {
                            415
                        };
                        self.reply(&key, &req, code, &reason_phrase(code, &why), now)
                    }
                }
            }
            _ => self.reply(&key, &req, 200, "OK", now),
        }
    }

    pub(super) fn on_ack(&mut self, ack: &SipMessage) {
        let Some(&id) = ack.call_id().ok().and_then(|c| self.by_a.get(c)) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.a_2xx = None;
        }
    }

    pub(super) fn retransmit_2xx(&mut self, id: u64, seq: u16, now: Instant) {
        let t2 = self.cfg.timers.t2;
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(r) = c.a_2xx.as_mut() else { return };
        if r.seq != seq {
            return;
        }
        if now >= r.give_up {
            // No ACK in 64*T1: the caller never confirmed the session; end both legs
            // (RFC 3261 §13.3.1.4).
            let _g = c.span.clone().entered();
            warn!("no ACK for our 200: ending the call");
            c.a_2xx = None;
            c.core.handle(Input::AckTimeout, now);
            self.run_call(id, now);
            return;
        }
        self.out.push_back(Output::Transmit {
            bytes: r.bytes.clone(),
            peer: r.peer,
        });
        r.interval = (r.interval * 2).min(t2);
        r.seq = r.seq.wrapping_add(1);
        // The last wait ends exactly at 64*T1, not at the next doubling after it.
        let (next, s) = ((now + r.interval).min(r.give_up), r.seq);
        self.arm(next, Timer::Retransmit2xx(id, s));
    }

    /// B's SDP (answer or early media) rewritten for the caller: our A-side port.
    fn answer_for_a(&mut self, id: u64, body: &[u8]) -> Option<Vec<u8>> {
        let bridge = self.calls.get(&id)?.bridge?;
        let mut s = SessionDescription::parse(body).ok()?;
        let audio = first_audio(&s)?;
        if let Some(addr) = media_addr(&s, audio) {
            self.media.update_remote(bridge.id, MediaLeg::B, addr);
        }
        anchor_one(&mut s, audio, self.cfg.advertise, bridge.port_a);
        Some(s.to_sdp_string().into_bytes())
    }

    /// An SDP from the side opposite `toward` (a re-offer or its answer), rewritten for `toward`.
    /// The media leg it came from gets its new address and direction.
    fn reoffer_for(&mut self, id: u64, toward: LegId, body: &[u8]) -> Option<Vec<u8>> {
        let bridge: BridgeInfo = self.calls.get(&id)?.bridge?;
        let mut s = SessionDescription::parse(body).ok()?;
        let audio = first_audio(&s)?;
        let (from_leg, port) = match self.media_side(id, toward) {
            MediaLeg::A => (MediaLeg::B, bridge.port_a),
            MediaLeg::B => (MediaLeg::A, bridge.port_b),
        };
        let dir = s.direction(audio);
        self.media
            .set_direction(bridge.id, from_leg, dir.sends(), dir.receives());
        if let Some(addr) = media_addr(&s, audio) {
            if !addr.ip().is_unspecified() {
                self.media.update_remote(bridge.id, from_leg, addr);
            }
        }
        anchor_one(&mut s, audio, self.cfg.advertise, port);
        Some(s.to_sdp_string().into_bytes())
    }

    fn finish(&mut self, id: u64, summary: Summary, now: Instant) {
        let linger = self.cfg.linger;
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.done {
            return;
        }
        c.done = true;
        let mut cdr = build_cdr(c, &summary, now);
        // After a transfer by the caller's side, a transfer target's leg holds the bridge's A side.
        let a_side = summary
            .a_transferred_at
            .and_then(|_| {
                let answered = |l: &LegSummary| l.answer_at;
                summary
                    .legs
                    .iter()
                    .filter(|l| c.b.iter().any(|b| b.leg == l.leg && b.media == MediaLeg::A))
                    .max_by_key(|l| answered(l))
                    .map(|l| format!("b{}", l.leg.0))
            })
            .unwrap_or_else(|| "a".to_string());
        // The call lingers 64·T1 only to answer late messages (a 200 from a cancelled fork, a
        // retransmitted BYE or 2xx): its dialogs and our INVITEs stay; its IVR and queue state,
        // sessions and parsed answers go now.
        c.hosted = None;
        c.recording = None;
        c.a.local_sdp = None;
        for b in &mut c.b {
            b.sdp_answer = None;
            b.side.local_sdp = None;
        }
        let bridge = c.bridge.take();
        let mut trunks: Vec<String> = c.b.iter_mut().filter_map(|b| b.trunk.take()).collect();
        trunks.extend(c.inbound_trunk.clone());
        info!(code = summary.sip_code, hangup = ?summary.hangup, cause = %summary.cause, "call ended");
        if let Some(b) = bridge {
            if let Some(q) = self.media.quality(b.id) {
                attach_quality(&mut cdr, q, &a_side);
            }
            self.media.destroy(b.id);
        }
        for t in trunks {
            self.trunks.release(&t);
            self.trunk_gauge(&t);
        }
        if summary.sip_code >= 300 {
            self.metrics
                .calls_failed_total
                .fetch_add(1, Ordering::Relaxed);
        }
        self.metrics.active_calls.fetch_sub(1, Ordering::Relaxed);
        self.out.push_back(Output::Cdr(Box::new(cdr)));
        self.arm(now + linger, Timer::Forget(id));
    }

    /// Media from a leg stopped for too long.
    pub fn handle_media_timeout(&mut self, bridge: crate::media::relay::BridgeId, now: Instant) {
        let Some(&id) = self.by_bridge.get(&bridge) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&id) {
            let _g = c.span.clone().entered();
            warn!("no RTP: ending the call");
            c.core.handle(Input::MediaTimeout, now);
        }
        self.run_call(id, now);
    }
}

impl<M: MediaControl> Engine<M> {
    /// Every device of extension `ext` (its registered contacts and a fixed contact from the
    /// profile) as call targets; empty when none is reachable.
    pub(super) fn extension_targets(&self, ext: &str, now: Instant) -> Vec<Target> {
        devices_of(
            &self.registrar,
            self.cfg.profiles.agents.as_ref(),
            ext,
            self.unix_ms(now),
        )
        .into_iter()
        .map(|(uri, dest)| Target {
            uri,
            peer: ext.to_string(),
            dest,
        })
        .collect()
    }
}

/// Devices of an extension: its registered contacts (sent to the address the REGISTER came from)
/// and its fixed contact from the profiles, if any.
pub(super) fn devices_of(
    registrar: &crate::sip::registrar::Registrar,
    fixed: Option<&crate::config::AgentDomain>,
    ext: &str,
    now_ms: i64,
) -> Vec<(String, Option<SocketAddr>)> {
    let mut v: Vec<(String, Option<SocketAddr>)> = registrar
        .lookup(ext, now_ms)
        .into_iter()
        .map(|b| {
            let dest = reach(&b.contact_uri, b.received.parse().ok());
            (b.contact_uri, dest)
        })
        .collect();
    if let Some(c) = fixed
        .and_then(|a| a.extension.iter().find(|e| e.number == ext))
        .and_then(|e| e.contact.clone())
    {
        let dest = uri_addr(&c);
        v.push((c, dest));
    }
    v
}

/// Where to send requests for a registered contact: the contact itself, unless the REGISTER came
/// from another IP address (the device is behind NAT and wrote its private address), in which
/// case the address it came from (the NAT binding): the usual "Contact IP differs from source"
/// test of NAT traversal.
fn reach(contact: &str, received: Option<SocketAddr>) -> Option<SocketAddr> {
    match (uri_addr(contact), received) {
        (Some(c), Some(r)) if c.ip() == r.ip() => Some(c),
        (_, Some(r)) => Some(r),
        (c, None) => c,
    }
}

pub(super) fn parse_offer(req: &SipMessage) -> Option<SessionDescription> {
    if req.body().is_empty() {
        return None;
    }
    SessionDescription::parse(req.body()).ok()
}

/// The first audio stream that is not disabled.
/// The caller's media address from the first audio stream, if any.
fn media_addr_any(s: &SessionDescription) -> Option<SocketAddr> {
    first_audio(s).and_then(|i| media_addr(s, i))
}

pub(super) fn first_audio(s: &SessionDescription) -> Option<usize> {
    s.media
        .iter()
        .position(|m| m.media == "audio" && m.port != 0)
}

/// Where a session description (raw SDP) wants its audio: its first audio line's address.
pub(super) fn sdp_audio_addr(sdp: Option<&[u8]>) -> Option<SocketAddr> {
    let s = SessionDescription::parse(sdp?).ok()?;
    let i = s.media.iter().position(|m| m.media == "audio")?;
    media_addr(&s, i)
}

pub(super) fn media_addr(s: &SessionDescription, i: usize) -> Option<SocketAddr> {
    let ip = s.media_connection(i)?.ip()?;
    let port = s.media.get(i)?.port;
    Some(SocketAddr::new(ip, port))
}

/// Anchors stream `audio` on our `port` and disables every other stream (one bridge per call).
pub(super) fn anchor_one(
    s: &mut SessionDescription,
    audio: usize,
    addr: std::net::IpAddr,
    port: u16,
) {
    sdp::anchor(s, addr, |i| Some(if i == audio { port } else { 0 }));
}

/// `host:port` of a sip: URI whose host is an IP address.
fn uri_addr(uri: &str) -> Option<SocketAddr> {
    let u = crate::sip::message::Uri::parse(uri).ok()?;
    let s = u.as_sip()?;
    let ip: std::net::IpAddr = s
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, s.port.unwrap_or(5060)))
}

/// The transport a URI asks for (`;transport=tcp`), UDP by default.
fn uri_transport(uri: &str) -> TransportKind {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("sips:") || lower.contains(";transport=tls") {
        TransportKind::Tls
    } else if lower.contains(";transport=tcp") {
        TransportKind::Tcp
    } else {
        TransportKind::Udp
    }
}

fn strip_uri_params(uri: &str) -> &str {
    uri.split(';').next().unwrap_or(uri)
}

/// The reason phrase to send: the standard one, with our explanation in parentheses.
pub(super) fn reason_phrase(code: u16, why: &str) -> String {
    let std = match code {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "",
    };
    match (std, why) {
        ("", "") => "Error".into(),
        ("", w) => w.into(),
        (s, "") => s.into(),
        (s, w) if w.eq_ignore_ascii_case(s) => s.into(),
        (s, w) => format!("{s} ({w})"),
    }
}

/// The bridge's caller side is the A-leg (or `a_side`, the transfer target that took its place);
/// its callee side the other leg that answered last (the one bridged when the call ended).
fn attach_quality(cdr: &mut Cdr, q: [crate::media::quality::LegQualityReport; 2], a_side: &str) {
    if let Some(a) = cdr.legs.iter_mut().find(|l| l.leg == a_side) {
        a.quality = Some(q[0]);
    }
    if let Some(b) = cdr
        .legs
        .iter_mut()
        .filter(|l| l.leg != "a" && l.leg != a_side && l.answer_ms.is_some())
        .max_by_key(|l| l.answer_ms)
    {
        b.quality = Some(q[1]);
    }
}

fn build_cdr(c: &CallCtx, s: &Summary, now: Instant) -> Cdr {
    let ms_at = |t: Instant| -> i64 {
        let since_start = t.saturating_duration_since(c.started);
        c.start_ms + since_start.as_millis() as i64
    };
    let agent = match (&c.agent, s.answered_by) {
        (a, _) if !a.is_empty() => a.clone(),
        (_, Some(leg)) => {
            c.b.iter()
                .find(|b| b.leg == leg)
                .map(|b| b.target.peer.clone())
                .unwrap_or_default()
        }
        _ => String::new(),
    };
    let end_ms = ms_at(s.end_at.max(now - Duration::from_millis(0)));
    let transferred = |yes: bool| if yes { "transferred" } else { "" }.to_string();
    let call_id = c.a.call_id.clone();
    let mut legs = vec![LegRecord {
        call_id: call_id.clone(),
        leg: "a".into(),
        sip_call_id: c.a.call_id.clone(),
        peer: c.inbound_trunk.clone().unwrap_or_else(|| c.agent.clone()),
        remote_uri: c
            .a_invite
            .header_str("From")
            .map(super::strip_tag_param)
            .unwrap_or_default(),
        start_ms: c.start_ms,
        answer_ms: s.answer_at.map(ms_at),
        // A caller's side that transferred the call away left before the call ended.
        end_ms: s.a_transferred_at.map_or(end_ms, ms_at),
        sip_code: s.sip_code,
        codec: String::new(),
        quality: None,
        hangup_cause: transferred(s.a_transferred_at.is_some()),
    }];
    for l in &s.legs {
        let b = c.b.iter().find(|b| b.leg == l.leg);
        legs.push(LegRecord {
            call_id: call_id.clone(),
            leg: format!("b{}", l.leg.0),
            sip_call_id: b.map(|b| b.side.call_id.clone()).unwrap_or_default(),
            peer: l.target.peer.clone(),
            remote_uri: l.target.uri.clone(),
            start_ms: ms_at(l.start_at),
            answer_ms: l.answer_at.map(ms_at),
            end_ms: l.end_at.map(ms_at).unwrap_or(end_ms),
            sip_code: l.code,
            codec: b
                .and_then(|b| b.sdp_answer.as_ref())
                .and_then(codec_name)
                .unwrap_or_default(),
            quality: None,
            hangup_cause: transferred(l.transferred),
        });
    }
    Cdr {
        call: CallRecord {
            call_id,
            direction: c.direction,
            caller: c.caller.clone(),
            callee: c.callee.clone(),
            did: c.did.clone(),
            trunk: c
                .inbound_trunk
                .clone()
                .or_else(|| {
                    // The answered leg that went out through a trunk (an originated call's agent
                    // leg answered first, on no trunk).
                    c.b.iter()
                        .filter(|b| b.answered)
                        .find_map(|b| b.trunk.clone())
                })
                .unwrap_or_default(),
            agent,
            start_ms: c.start_ms,
            answer_ms: s.answer_at.map(ms_at),
            end_ms,
            sip_code: s.sip_code,
            hangup_side: match s.hangup {
                Hangup::Caller => HangupSide::Caller,
                Hangup::Callee => HangupSide::Callee,
                Hangup::System => HangupSide::System,
            },
            hangup_cause: s.cause.clone(),
        },
        legs,
    }
}

fn codec_name(s: &SessionDescription) -> Option<String> {
    let i = first_audio(s)?;
    let m = s.media.get(i)?;
    let pt: u8 = m.formats.first()?.parse().ok()?;
    Some(
        m.rtpmap(pt)
            .map(|r| r.encoding)
            .unwrap_or_else(|| match pt {
                0 => "PCMU".into(),
                8 => "PCMA".into(),
                _ => pt.to_string(),
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_contacts_are_reached_directly_unless_behind_nat() {
        let src: SocketAddr = "203.0.113.7:40312".parse().unwrap();
        // Behind NAT: the phone wrote its private address; reach it through the NAT binding.
        assert_eq!(reach("sip:1001@192.168.1.20:5060", Some(src)), Some(src));
        // Same IP, another port (a phone registering from one socket, listening on another).
        let same: SocketAddr = "203.0.113.7:5062".parse().unwrap();
        assert_eq!(
            reach(
                "sip:1001@203.0.113.7:5062",
                Some("203.0.113.7:40000".parse().unwrap())
            ),
            Some(same)
        );
        // A host name we cannot use: the source address.
        assert_eq!(reach("sip:1001@phone.example", Some(src)), Some(src));
        assert_eq!(
            reach("sip:1001@10.0.0.1", None),
            Some("10.0.0.1:5060".parse().unwrap())
        );
    }

    #[test]
    fn uri_transport_follows_the_uri() {
        assert_eq!(
            uri_transport("sip:1001@10.0.0.1;transport=TCP"),
            TransportKind::Tcp
        );
        assert_eq!(uri_transport("sips:1001@10.0.0.1"), TransportKind::Tls);
        assert_eq!(
            uri_transport("sip:1001@10.0.0.1;transport=tls"),
            TransportKind::Tls
        );
        assert_eq!(uri_transport("sip:1001@10.0.0.1:5060"), TransportKind::Udp);
    }

    #[test]
    fn reason_phrases_explain_without_replacing_the_standard_one() {
        assert_eq!(
            reason_phrase(480, "agent not registered"),
            "Temporarily Unavailable (agent not registered)"
        );
        assert_eq!(reason_phrase(486, "Busy Here"), "Busy Here");
        assert_eq!(reason_phrase(599, ""), "Error");
    }
}
