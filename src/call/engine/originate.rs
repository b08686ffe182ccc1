//! Calls hotline places itself: an agent's outbound call started from the desktop (外呼) and the
//! callback a citizen was promised (回拨).
//!
//! The agent is called first (their phone answers by itself on auto-answer), so nobody outside
//! waits for an agent who is not there; once the agent is on, they hear ringback while the number
//! is dialled through the dial plan's trunks, one after another by priority. The number's leg is a
//! party of the call core ([`Input::AddParty`]), but its media sits on the call bridge's A side,
//! where an inbound caller would be: hold, mute, consult, three-way and recording then work on an
//! originated call exactly as on an inbound one, and a plain two-party relay carries the
//! conversation (the number is offered only the codec the agent's phone chose, so no transcoding).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::acd::event::{OfferFailure, PartyRole, PartyStatus};
use crate::acd::{self};
use crate::call::core::{Call, Hangup, Input, LegId, Target};
use crate::call::routing::{route_outbound, Decision};
use crate::media::tone::{ToneGenerator, TonePlan};
use crate::sip::message::{Method, SipMessage};
use crate::sip::sdp::{self, SessionDescription};
use crate::sip::transaction::{Peer, TxKey};

use super::dialog::{self, Side};
use super::hosted::{Hosted, OWN_PLAY};
use super::media::{MediaControl, MediaLeg};
use super::{CallCtx, Engine, Output};

/// How long the dialled number may ring before hotline gives up on it.
const FAR_RING: Duration = Duration::from_secs(60);
/// Ringback the agent hears while the number rings.
pub(super) const RINGBACK: u64 = OWN_PLAY | 9;

/// Why hotline placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OriginKind {
    /// The agent dialled from the desktop.
    Dial,
    /// A callback promise taken by an agent.
    Callback,
}

/// The outbound part of an originated call.
#[derive(Debug)]
pub(super) struct Origin {
    pub kind: OriginKind,
    /// The number dialled, as the agent or the callback promise gave it.
    pub number: String,
    /// Trunk routes not tried yet (failover by priority).
    pub routes: VecDeque<Target>,
    /// The number's leg, once dialled.
    pub far: Option<LegId>,
    pub far_answered: bool,
    /// The caller number presented on the trunk (its outbound caller ID, else the agent's
    /// extension, as for a call the agent dials from the phone).
    pub caller_id: Option<String>,
    pub extension: String,
}

impl<M: MediaControl> Engine<M> {
    /// Places a call for `agent_no`: rings their endpoint, then dials `number` (the ACD's call id
    /// `acd_call` names it in every event). A failure before any leg exists is reported at once.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn originate(
        &mut self,
        acd_call: &str,
        agent_no: String,
        endpoint: Option<acd::Endpoint>,
        auto_answer: bool,
        ring_timeout_ms: u64,
        number: String,
        kind: OriginKind,
        now: Instant,
    ) {
        let span = tracing::info_span!("call", call_id = %acd_call, agent = %agent_no, kind = kind_name(kind));
        let _g = span.clone().entered();
        // Before the agent answered, a failure is the offer's (callback) or ends the dial.
        let fail = |e: &mut Self, why: &str, cause: OfferFailure| {
            warn!(%number, reason = why, "call not placed");
            let ev = match kind {
                OriginKind::Callback => acd::Event::OfferFailed {
                    call: acd_call.to_string(),
                    agent_no: agent_no.clone(),
                    cause,
                },
                OriginKind::Dial => acd::Event::CallEnded {
                    call: acd_call.to_string(),
                },
            };
            e.out.push_back(Output::Acd(ev));
        };
        if self.shutting_down {
            return fail(self, "the node is shutting down", OfferFailure::Unreachable);
        }
        if self.by_origin.contains_key(acd_call) {
            return fail(
                self,
                "this call id is already in use",
                OfferFailure::Unreachable,
            );
        }
        let (routes, caller_id) = match route_outbound(&self.cfg.profiles, &self.trunks, &number) {
            Decision::Route {
                targets, caller_id, ..
            } if !targets.is_empty() => (VecDeque::from(targets), caller_id),
            Decision::Reject { reason, .. } => {
                return self.number_unusable(acd_call, kind, 403, &reason);
            }
            _ => {
                return self.number_unusable(acd_call, kind, 404, "no trunk reaches this number");
            }
        };
        let Some(acd::Endpoint::Sip { extension }) = endpoint else {
            return fail(
                self,
                "the agent has no SIP endpoint",
                OfferFailure::Unreachable,
            );
        };
        let devices = self.extension_targets(&extension, now);
        if devices.is_empty() {
            return fail(
                self,
                "the agent's extension is not registered",
                OfferFailure::Unreachable,
            );
        }
        let bridge = match self.media.create_bridge(None, None) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "no media ports");
                return fail(self, "no media ports", OfferFailure::Unreachable);
            }
        };
        // Nothing on either side until someone answers: no RTP timeout yet.
        self.media
            .set_direction(bridge.id, MediaLeg::A, false, false);
        self.media
            .set_direction(bridge.id, MediaLeg::B, false, false);
        let agent_offer = self.own_offer(bridge.port_b);
        let Some(a_invite) = synthetic_invite(&number, &extension, &self.host_port()) else {
            self.media.destroy(bridge.id);
            return fail(
                self,
                "the number is not a usable URI",
                OfferFailure::Unreachable,
            );
        };
        let id = self.next_id;
        self.next_id += 1;
        let mut core = Call::originated(
            Some(agent_offer.to_sdp_string().into_bytes()),
            self.cfg.call,
            now,
        );
        let first = core.next_leg().0;
        let legs: Vec<LegId> = (0..devices.len() as u16)
            .map(|i| LegId(first + i))
            .collect();
        let language = self
            .services()
            .map(|s| s.language.clone())
            .unwrap_or_else(|| "zh-CN".into());
        let mut hosted = Hosted::new(agent_offer.clone(), language);
        hosted.auto_answer = auto_answer;
        hosted.in_acd = true;
        hosted.offers.insert(agent_no.clone(), legs);
        hosted.origin = Some(Origin {
            kind,
            number: number.clone(),
            routes,
            far: None,
            far_answered: false,
            caller_id,
            extension: extension.clone(),
        });
        info!(%number, %extension, devices = devices.len(), auto_answer, "placing a call: ringing the agent first");
        self.by_origin.insert(acd_call.to_string(), id);
        self.by_bridge.insert(bridge.id, id);
        let peer = Peer::udp(std::net::SocketAddr::new(self.cfg.advertise, 0));
        let start_ms = self.unix_ms(now);
        let callee = number.clone();
        core.handle(
            Input::Connect {
                targets: devices,
                ring_timeout: Duration::from_millis(ring_timeout_ms.max(1_000)),
            },
            now,
        );
        self.calls.insert(
            id,
            CallCtx {
                id,
                core,
                a_invite,
                // Never used: an originated call has no A-leg transaction.
                a_key: TxKey {
                    role: crate::sip::transaction::Role::Server,
                    branch: format!("z9hG4bK-originated-{id}"),
                    sent_by: String::new(),
                    method: Method::Invite,
                },
                a: Side::new(acd_call.to_string(), dialog::new_tag(), peer),
                b: Vec::new(),
                bridge: Some(bridge),
                inbound_trunk: None,
                direction: match kind {
                    OriginKind::Dial => "outbound",
                    OriginKind::Callback => "callback",
                },
                agent: agent_no,
                // The agent's phone shows the number being called; when the number is dialled,
                // this becomes the caller ID the trunk presents.
                caller: number,
                callee,
                did: String::new(),
                start_ms,
                started: now,
                answered: None,
                a_2xx: None,
                reinvites_in: Default::default(),
                hosted: Some(Box::new(hosted)),
                recording: None,
                transfer: None,
                done: false,
                span,
            },
        );
        self.metrics
            .calls_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.metrics
            .active_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.run_call(id, now);
    }

    /// hotline's own offer of every configured codec on `port` (nobody offered first).
    fn own_offer(&self, port: u16) -> SessionDescription {
        let ip = self.cfg.advertise;
        let origin = sdp::Origin {
            username: "hotline".into(),
            session_id: rand::random::<u32>().to_string(),
            session_version: 1,
            net_type: "IN".into(),
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.into(),
            address: ip.to_string(),
        };
        sdp::make_offer(ip, port, &self.cfg.codecs, origin)
    }

    /// The number cannot be dialled at all (no route, barred by the dial plan).
    fn number_unusable(&mut self, acd_call: &str, kind: OriginKind, code: u16, reason: &str) {
        warn!(code, %reason, "number not dialled");
        let call = acd_call.to_string();
        if kind == OriginKind::Callback {
            // Not the agent's fault: the ACD withdraws the offer and counts a failed attempt.
            self.out.push_back(Output::Acd(acd::Event::CallbackResult {
                call,
                reached: false,
                code,
                reason: reason.to_string(),
            }));
        } else {
            self.out
                .push_back(Output::Acd(acd::Event::CallEnded { call }));
        }
    }

    /// The agent answered an originated call: they hear ringback, the number is dialled.
    pub(super) fn origin_agent_on(&mut self, id: u64, b: LegId, now: Instant) {
        let answer = self
            .calls
            .get(&id)
            .and_then(|c| c.b.iter().find(|l| l.leg == b))
            .and_then(|l| l.sdp_answer.clone());
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(bridge) = c.bridge else { return };
        let Some(h) = c.hosted.as_mut() else { return };
        let Some((pt, dtmf)) = answer.as_ref().and_then(chosen_format) else {
            warn!("the agent's phone answered without a usable codec");
            return self.origin_hangup(id, "agent answered without a usable codec", now);
        };
        h.format = (pt, dtmf);
        // The number gets exactly the agent's codec on the bridge's A side: a plain relay.
        let mut far_offer = h.local_sdp.clone();
        let keep: Vec<sdp::Codec> = self
            .cfg
            .codecs
            .iter()
            .filter(|codec| {
                far_offer.media.first().is_some_and(|m| {
                    codec.matches(m, pt) || dtmf.is_some_and(|d| codec.matches(m, d))
                })
            })
            .cloned()
            .collect();
        sdp::restrict_offer(&mut far_offer, &keep);
        if let Some(m) = far_offer.media.first_mut() {
            m.port = bridge.port_a;
        }
        h.party_offer = Some(far_offer);
        self.media.set_format(bridge.id, MediaLeg::A, pt, dtmf);
        self.media.set_format(bridge.id, MediaLeg::B, pt, dtmf);
        self.play_ringback(id);
        self.dial_far(id, now);
    }

    fn play_ringback(&mut self, id: u64) {
        self.play_ringback_to(id, MediaLeg::B);
    }

    /// Hotline's own ringback, looped to `leg` of the call's bridge until stopped ([`RINGBACK`]).
    pub(super) fn play_ringback_to(&mut self, id: u64, leg: MediaLeg) {
        let Some(bridge) = self.calls.get(&id).and_then(|c| c.bridge) else {
            return;
        };
        // One cadence cycle (1 s on, 4 s off), looped.
        let Ok(mut tone) = ToneGenerator::new(&TonePlan::default().ringback) else {
            return;
        };
        let mut samples = Vec::with_capacity(5 * 8000);
        for _ in 0..250 {
            match tone.next_frame() {
                Some(f) => samples.extend_from_slice(&f),
                None => break,
            }
        }
        self.media
            .play_samples(bridge.id, leg, RINGBACK, samples, true);
    }

    /// Dials the number through the next trunk route.
    fn dial_far(&mut self, id: u64, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(h) = c.hosted.as_mut() else { return };
        let offer = h.party_offer.clone();
        let Some(o) = h.origin.as_mut() else { return };
        let Some(target) = o.routes.pop_front() else {
            return;
        };
        c.caller = o.caller_id.clone().unwrap_or_else(|| o.extension.clone());
        let leg = c.core.next_leg();
        o.far = Some(leg);
        let number = o.number.clone();
        info!(%number, trunk = %target.peer, leg = leg.0, "dialling the number");
        c.core.handle(
            Input::AddParty {
                target,
                sdp: offer.map(|o| o.to_sdp_string().into_bytes()),
                ring_timeout: FAR_RING,
            },
            now,
        );
        self.tell_desktop(id, &number, PartyStatus::Ringing);
        self.run_call(id, now);
    }

    /// The agent's desktop follows the dialled number as a `party` of the call (role `callee`).
    fn tell_desktop(&mut self, id: u64, number: &str, status: PartyStatus) {
        let agent = self
            .calls
            .get(&id)
            .and_then(|c| c.hosted.as_ref())
            .and_then(|h| h.agent.as_ref())
            .map(|(a, _)| a.clone());
        if let Some(agent_no) = agent {
            self.tell_acd_party(id, &agent_no, number, PartyRole::Callee, status);
        }
    }

    /// The number's side sends early media (the carrier's ringback, or an announcement the agent
    /// must hear: "空号", "已关机"): it replaces hotline's own ringback.
    pub(super) fn origin_far_early(&mut self, id: u64, sdp: Option<Vec<u8>>) {
        let Some(bridge) = self.calls.get(&id).and_then(|c| c.bridge) else {
            return;
        };
        let Some(addr) = super::invite::sdp_audio_addr(sdp.as_deref()) else {
            return;
        };
        info!(%addr, "early media from the number");
        self.media.stop_play(bridge.id, MediaLeg::B, Some(RINGBACK));
        self.media.update_remote(bridge.id, MediaLeg::A, addr);
        // Heard by the agent; the agent is not heard before the answer.
        self.media
            .set_direction(bridge.id, MediaLeg::A, true, false);
    }

    /// The number answered: the conversation starts (and its recording).
    pub(super) fn origin_far_answered(&mut self, id: u64, sdp: Option<Vec<u8>>, now: Instant) {
        let unix_now = self.unix_ms(now);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(bridge) = c.bridge else { return };
        c.answered = Some((now, unix_now));
        let agent_leg = c
            .hosted
            .as_ref()
            .and_then(|h| h.agent.as_ref())
            .map(|a| a.1);
        let Some(o) = c.hosted.as_mut().and_then(|h| h.origin.as_mut()) else {
            return;
        };
        o.far_answered = true;
        let (kind, number) = (o.kind, o.number.clone());
        let call = c.a.call_id.clone();
        let addr = super::invite::sdp_audio_addr(sdp.as_deref());
        self.media.stop_play(bridge.id, MediaLeg::B, Some(RINGBACK));
        if let Some(addr) = addr {
            self.media.update_remote(bridge.id, MediaLeg::A, addr);
        }
        self.media.set_direction(bridge.id, MediaLeg::A, true, true);
        info!(%number, "the number answered: conversation");
        self.tell_desktop(id, &number, PartyStatus::Joined);
        if let Some(b) = agent_leg {
            self.record_call(id, b);
        }
        if kind == OriginKind::Callback {
            self.out.push_back(Output::Acd(acd::Event::CallbackResult {
                call,
                reached: true,
                code: 200,
                reason: "answered".into(),
            }));
        }
    }

    /// The number's leg failed (`code`) or hung up (`None`).
    pub(super) fn origin_far_gone(&mut self, id: u64, failed: Option<(u16, String)>, now: Instant) {
        let Some(o) = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.hosted.as_mut())
            .and_then(|h| h.origin.as_mut())
        else {
            return;
        };
        o.far = None;
        let number = o.number.clone();
        let Some((code, reason)) = failed else {
            info!("the number hung up");
            self.tell_desktop(id, &number, PartyStatus::Left);
            return self.origin_hangup_by(id, "callee hung up", Hangup::Callee, now);
        };
        // Like outbound failover: the next trunk only when this one could not carry the call.
        if failover_worthy(code) && !o.routes.is_empty() {
            info!(code, %reason, "trunk failed: trying the next one");
            return self.dial_far(id, now);
        }
        let kind = o.kind;
        info!(%number, code, %reason, "the number was not reached");
        self.tell_desktop(
            id,
            &number,
            PartyStatus::Failed {
                code,
                reason: reason.clone(),
            },
        );
        if kind == OriginKind::Callback {
            if let Some(c) = self.calls.get(&id) {
                let call = c.a.call_id.clone();
                self.out.push_back(Output::Acd(acd::Event::CallbackResult {
                    call,
                    reached: false,
                    code,
                    reason: reason.clone(),
                }));
            }
        }
        if let Some(b) = self.calls.get(&id).and_then(|c| c.bridge) {
            self.media.stop_play(b.id, MediaLeg::B, Some(RINGBACK));
        }
        self.origin_hangup(id, &format!("number not reached: {code} {reason}"), now);
    }

    /// Nobody took the agent's side of an originated call (their phone did not answer).
    pub(super) fn origin_agent_failed(&mut self, id: u64, code: u16, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let call = c.a.call_id.clone();
        let Some(h) = c.hosted.as_mut() else { return };
        // The offer's failure was reported per agent (a callback); a dial just ends.
        h.in_acd = false;
        if h.origin
            .as_ref()
            .is_some_and(|o| o.kind == OriginKind::Dial)
        {
            self.out
                .push_back(Output::Acd(acd::Event::CallEnded { call }));
        }
        self.origin_hangup(id, &format!("agent's phone did not answer ({code})"), now);
    }

    fn origin_hangup(&mut self, id: u64, cause: &str, now: Instant) {
        self.origin_hangup_by(id, cause, Hangup::System, now);
    }

    fn origin_hangup_by(&mut self, id: u64, cause: &str, by: Hangup, now: Instant) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.core.handle(
                Input::HangupBy {
                    by,
                    cause: cause.to_string(),
                },
                now,
            );
        }
        self.run_call(id, now);
    }

    /// Whether hotline placed call `id` (the call core knows; it answers for the whole call).
    pub(super) fn is_originated(&self, id: u64) -> bool {
        self.calls.get(&id).is_some_and(|c| c.core.is_originated())
    }

    fn origin(&self, id: u64) -> Option<&Origin> {
        self.calls.get(&id)?.hosted.as_ref()?.origin.as_ref()
    }

    pub(super) fn is_origin_far(&self, id: u64, leg: LegId) -> bool {
        self.origin(id).is_some_and(|o| o.far == Some(leg))
    }

    /// Whether the number hotline dialled is on the line (it plays the caller's part).
    pub(super) fn origin_far_up(&self, id: u64) -> bool {
        self.origin(id)
            .is_some_and(|o| o.far_answered && o.far.is_some())
    }

    /// Every agent's offer of an originated call was withdrawn before one answered: it is over.
    pub(super) fn origin_unoffered(&mut self, id: u64, now: Instant) {
        let idle = self.is_originated(id)
            && self
                .calls
                .get(&id)
                .and_then(|c| c.hosted.as_ref())
                .is_some_and(|h| h.offers.is_empty() && h.agent.is_none());
        if idle {
            if let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) {
                h.in_acd = false;
            }
            self.origin_hangup(id, "offer withdrawn", now);
        }
    }

    /// The engine's call for an ACD call id: a call hotline placed, else an inbound one.
    pub(super) fn acd_call(&self, call: &str) -> Option<u64> {
        self.by_origin
            .get(call)
            .or_else(|| self.by_a.get(call))
            .copied()
    }
}

fn kind_name(k: OriginKind) -> &'static str {
    match k {
        OriginKind::Dial => "dial",
        OriginKind::Callback => "callback",
    }
}

/// A failure of the trunk rather than of the number: another trunk may do better.
fn failover_worthy(code: u16) -> bool {
    matches!(code, 408 | 500..=599) && code != 600
}

/// The voice codec and telephone-event payload types an answer settled on.
pub(super) fn chosen_format(answer: &SessionDescription) -> Option<(u8, Option<u8>)> {
    let m = answer
        .media
        .iter()
        .find(|m| m.media == "audio" && !m.is_rejected())?;
    let pt = m
        .payload_types()
        .find(|&pt| sdp::PCMU.matches(m, pt) || sdp::PCMA.matches(m, pt))?;
    let dtmf = m
        .payload_types()
        .find(|&pt| sdp::TELEPHONE_EVENT.matches(m, pt));
    Some((pt, dtmf))
}

/// The INVITE an originated call stands in for: it is never sent, but the CDR's A-leg and the
/// B-legs' headers read the agent (From) and the number (To) from it like from a real one.
fn synthetic_invite(number: &str, extension: &str, host_port: &str) -> Option<SipMessage> {
    let mut m = SipMessage::request(Method::Invite, &format!("sip:{number}@{host_port}")).ok()?;
    m.push_header("From", format!("<sip:{extension}@{host_port}>"));
    m.push_header("To", format!("<sip:{number}@{host_port}>"));
    m.push_header("Max-Forwards", "70");
    Some(m)
}
