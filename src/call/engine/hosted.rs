//! Hosted calls: calls hotline answers itself, for an IVR flow or a skill-group queue. The caller
//! talks to hotline's media (prompts, music, digits) until the ACD offers the call to an agent,
//! whose devices then ring on B-legs; the caller's SDP never changes, because the A side stays
//! anchored on the same relay port whoever is behind it.
//!
//! The IVR interpreter ([`IvrCall`]) and the call core are both sans-IO and owned here, so a digit,
//! a prompt ending, an IVR timer, an ACD offer and a SIP answer are all handled in one place and
//! in order. The ACD runs in its own task: it hears from calls through [`Output::Acd`] and answers
//! with actions fed to [`Engine::handle_acd_action`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::acd::event::{CallOp, OfferFailure};
use crate::acd::{self, IncomingCall};
use crate::call::core::{Action, Input, LegId};
use crate::ivr::flow::TransferTo;
use crate::ivr::interp::{
    self as ivr, Env, FlowSet, IvrCall, LookupOutcome, PromptRef, QueueEvent,
};
use crate::media::relay::{BridgeEvent, Leg as RelayLeg, RelayEvent};
use crate::sip::sdp::{self, Codec, SessionDescription};

use super::media::{MediaControl, MediaLeg};
use super::{Engine, Output, Timer};

/// Play ids of hotline's own playbacks (the IVR numbers its own from 1 up).
pub(super) const OWN_PLAY: u64 = 1 << 63;
pub(super) const MUSIC: u64 = OWN_PLAY | 1;
const ANNOUNCEMENT: u64 = OWN_PLAY | 2;
/// A prompt after which the call ends (refusal, overflow message).
const FINAL_PROMPT: u64 = OWN_PLAY | 3;
/// The tone before a voice message.
const BEEP: u64 = OWN_PLAY | 4;

/// The prompt looped to callers waiting in a queue.
pub const MUSIC_PROMPT: &str = "queue_music";

/// What a hosted call serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// An IVR flow by name.
    Flow(String),
    /// A skill group's queue (a DID routed straight to the ACD).
    Queue(String),
}

/// The services a node runs: IVR flows and their environment, and whether an ACD listens.
#[derive(Clone)]
pub struct Services {
    pub flows: Arc<FlowSet>,
    pub env: Env,
    pub acd: bool,
    pub language: String,
}

/// The hosted part of a call.
pub(super) struct Hosted {
    pub ivr: Option<IvrCall>,
    /// The IVR's current timer token (a newer timer replaces the older one).
    pub ivr_timer: Option<u64>,
    /// Our answer to the caller (re-INVITEs while nobody is connected are answered from it).
    pub local_sdp: SessionDescription,
    /// The ACD knows this call (queued, offered or talking).
    pub in_acd: bool,
    pub group: Option<String>,
    /// Agents offered the call and their ringing legs.
    pub offers: HashMap<String, Vec<LegId>>,
    /// The agent talking with the caller, and on which leg.
    pub agent: Option<(String, LegId)>,
    pub auto_answer: bool,
    /// Leg currently connected by an IVR transfer (not an ACD offer).
    pub transferring: bool,
    pub ivr_path: Vec<String>,
    pub language: String,
    /// What to start once the caller is answered (taken then).
    pub service: Option<Service>,
    /// A voice message being recorded: the IVR's id, the recording's id, when it started.
    pub message: Option<(u64, String, Instant)>,
    /// Supervisors, consulted and transfer parties on the call.
    pub parties: Vec<super::parties::Party>,
    /// What parties are offered (the caller's codec; the port is each party's own).
    pub party_offer: Option<SessionDescription>,
    /// The caller's payload type and telephone-event type.
    pub format: (u8, Option<u8>),
    /// The agent's leg was taken off the call (requeue, transfer): its end does not end the
    /// conversation, so no survey follows.
    pub detached: bool,
    /// The party the caller now talks to instead of an agent (after a transfer or intercept).
    pub handed_to: Option<LegId>,
    /// The caller's and agent's legs are in the call's conference.
    pub mixing: bool,
    /// The caller waits with music while the agent consults or the call is transferred.
    pub consult_hold: bool,
    /// The agent's leg is in the conference.
    pub agent_in_mix: bool,
    /// The agent's phone asked for a transfer by REFER on this leg; it hears the outcome.
    pub refer_from: Option<LegId>,
    /// Hotline placed this call (a desktop dial, a callback): the number's side of it.
    pub origin: Option<super::originate::Origin>,
    /// The caller's history for the screen pop, once the shell looked it up.
    pub history: Option<acd::event::CallerHistory>,
}

impl Hosted {
    /// The hosted part of a new call: `local_sdp` is hotline's session toward the caller.
    pub fn new(local_sdp: SessionDescription, language: String) -> Hosted {
        Hosted {
            ivr: None,
            ivr_timer: None,
            local_sdp,
            in_acd: false,
            group: None,
            offers: Default::default(),
            agent: None,
            auto_answer: false,
            transferring: false,
            ivr_path: Vec::new(),
            language,
            service: None,
            message: None,
            parties: Vec::new(),
            party_offer: None,
            format: (0, None),
            detached: false,
            handed_to: None,
            mixing: false,
            consult_hold: false,
            agent_in_mix: false,
            refer_from: None,
            origin: None,
            history: None,
        }
    }
}

/// hotline's answer to a caller's offer: the first audio codec of the offer that the trunk
/// allows, plus telephone-event, on our A-side port. Returns the answer, the codec's payload
/// type and the telephone-event payload type.
pub(super) fn local_answer(
    offer: &SessionDescription,
    allowed: &[Codec],
    addr: std::net::IpAddr,
    port: u16,
) -> Option<(SessionDescription, u8, Option<u8>)> {
    let audio = offer
        .media
        .iter()
        .position(|m| m.media == "audio" && !m.is_rejected())?;
    let m = &offer.media[audio];
    let voice: Vec<Codec> = allowed
        .iter()
        .filter(|c| c.static_pt.is_some())
        .cloned()
        .collect();
    let pt = m
        .payload_types()
        .find(|&pt| voice.iter().any(|c| c.matches(m, pt)))?;
    let dtmf = m
        .payload_types()
        .find(|&pt| sdp::TELEPHONE_EVENT.matches(m, pt))
        .filter(|_| allowed.contains(&sdp::TELEPHONE_EVENT));
    let chosen: Vec<Codec> = voice
        .into_iter()
        .filter(|c| c.matches(m, pt))
        .take(1)
        .chain(dtmf.map(|_| sdp::TELEPHONE_EVENT))
        .collect();
    let mut ports = vec![None; offer.media.len()];
    ports[audio] = Some(port);
    let answer = sdp::answer(
        offer,
        &sdp::AnswerParams {
            addr,
            ports: &ports,
            allowed: &chosen,
            direction: sdp::Direction::SendRecv,
            origin: sdp::Origin {
                username: "hotline".into(),
                session_id: rand::random::<u32>().to_string(),
                session_version: 1,
                net_type: "IN".into(),
                addr_type: if addr.is_ipv6() { "IP6" } else { "IP4" }.into(),
                address: addr.to_string(),
            },
            session_name: "hotline",
        },
    )
    .ok()?;
    Some((answer, pt, dtmf))
}

/// The codecs B-legs of a hosted call may use: exactly what the caller got.
pub(super) fn codecs_of_answer(pt: u8, dtmf: Option<u8>) -> Vec<Codec> {
    let voice = if pt == 8 { sdp::PCMA } else { sdp::PCMU };
    let mut v = vec![voice];
    if dtmf.is_some() {
        v.push(sdp::TELEPHONE_EVENT);
    }
    v
}

fn offer_failure(code: u16) -> OfferFailure {
    match code {
        480 | 408 => OfferFailure::NoAnswer,
        486 | 600 | 603 => OfferFailure::Rejected,
        _ => OfferFailure::Unreachable,
    }
}

impl<M: MediaControl> Engine<M> {
    /// Gives the engine IVR flows and an ACD: `flow:` and `queue:` routes are served from now on.
    /// Called again when flows are reloaded; calls already running keep the set they started with.
    pub fn set_services(&mut self, services: Services) {
        self.services = Some(services);
    }

    pub(super) fn services(&self) -> Option<&Services> {
        self.services.as_ref()
    }

    /// Whether this node can serve `service` (a flow that exists, a queue with an ACD).
    pub(super) fn can_serve(&self, service: &Service) -> Result<(), String> {
        let Some(s) = &self.services else {
            return Err("no IVR/ACD runs on this node".into());
        };
        match service {
            Service::Flow(name) if s.flows.get(name).is_none() => {
                Err(format!("IVR flow `{name}` is not loaded"))
            }
            Service::Queue(_) if !s.acd => Err("no ACD runs on this node".into()),
            _ => Ok(()),
        }
    }

    /// The caller was answered: start the flow or enter the queue.
    pub(super) fn start_service(&mut self, id: u64, service: Service, now: Instant) {
        let Some(services) = self.services.clone() else {
            return;
        };
        let wall = chrono::Local::now().naive_local();
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(h) = c.hosted.as_mut() else { return };
        match service {
            Service::Flow(name) => {
                let Some(flow) = services.flows.get(&name).cloned() else {
                    return;
                };
                info!(flow = %name, version = services.flows.version, "IVR flow starts");
                let info = ivr::CallInfo {
                    call_id: c.a.call_id.clone(),
                    caller: c.caller.clone(),
                    called: c.did.clone(),
                    wall_start: wall,
                };
                let mut call = IvrCall::new(services.flows.clone(), flow, info, services.env);
                call.handle(ivr::Input::Start, now);
                h.ivr = Some(call);
                self.run_ivr(id, now);
            }
            Service::Queue(group) => {
                h.group = Some(group.clone());
                self.enqueue(id, group, 0, BTreeMap::new(), now);
            }
        }
    }

    fn enqueue(
        &mut self,
        id: u64,
        group: String,
        priority: u8,
        vars: BTreeMap<String, String>,
        now: Instant,
    ) {
        let arrived = self.unix_ms(now);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(h) = c.hosted.as_mut() else { return };
        h.in_acd = true;
        h.group = Some(group.clone());
        let call = IncomingCall {
            call: c.a.call_id.clone(),
            caller: c.caller.clone(),
            did: c.did.clone(),
            group: Some(group.clone()),
            emergency: vars
                .get("emergency")
                .is_some_and(|v| v == "1" || v == "true"),
            vip: priority >= 8,
            ivr_path: h.ivr_path.clone(),
            history: h.history.clone(),
            arrived_ms: Some(u64::try_from(c.start_ms.min(arrived)).unwrap_or(0)),
        };
        info!(%group, priority, "queued for an agent");
        self.out
            .push_back(Output::Acd(acd::Event::CallArrived(call)));
        self.play_own(id, MUSIC, &[MUSIC_PROMPT], true);
    }

    /// The caller's conversation is over but not the call: the flow's after-call part (the
    /// survey) runs, or without a flow the call ends with `cause`.
    /// The caller's conversation is over (`by_agent`: the agent ended it): the flow's after-call
    /// part runs, or the call ends.
    pub(super) fn conversation_ended(
        &mut self,
        id: u64,
        cause: &str,
        by_agent: bool,
        now: Instant,
    ) {
        let has_ivr = self
            .calls
            .get(&id)
            .and_then(|c| c.hosted.as_ref())
            .is_some_and(|h| h.ivr.is_some());
        if has_ivr {
            self.feed_ivr(id, ivr::Input::Queue(QueueEvent::AgentHungUp), now);
            return;
        }
        if let Some(c) = self.calls.get_mut(&id) {
            // On a call hotline placed for the agent, the agent is the calling side.
            let by = if by_agent && c.core.is_originated() {
                crate::call::core::Hangup::Caller
            } else {
                crate::call::core::Hangup::System
            };
            c.core.handle(
                Input::HangupBy {
                    by,
                    cause: cause.into(),
                },
                now,
            );
        }
        self.run_call(id, now);
    }

    /// Plays hotline's own prompts (by name, in the call's language) to the caller.
    pub(super) fn play_own(&mut self, id: u64, play: u64, names: &[&str], looping: bool) {
        let Some(c) = self.calls.get(&id) else { return };
        let (Some(bridge), Some(h)) = (c.bridge, c.hosted.as_ref()) else {
            return;
        };
        let prompts: Vec<PromptRef> = names
            .iter()
            .map(|n| PromptRef::File {
                language: h.language.clone(),
                name: (*n).to_string(),
            })
            .collect();
        self.media
            .play(bridge.id, MediaLeg::A, play, &prompts, 1.0, looping);
    }

    /// Carries out what the IVR asked for.
    pub(super) fn run_ivr(&mut self, id: u64, now: Instant) {
        for _ in 0..256 {
            let Some(c) = self.calls.get_mut(&id) else {
                return;
            };
            let Some(h) = c.hosted.as_mut() else { return };
            let Some(call) = h.ivr.as_mut() else { return };
            let Some(action) = call.poll() else { break };
            let node = call.node().to_string();
            if h.ivr_path.last() != Some(&node) && h.ivr_path.len() < 64 {
                h.ivr_path.push(node);
            }
            let bridge = c.bridge;
            let call_id = c.a.call_id.clone();
            debug!(?action, "IVR");
            match action {
                ivr::Action::Play {
                    id: play,
                    prompts,
                    rate,
                    ..
                } => {
                    if let Some(b) = bridge {
                        self.media
                            .play(b.id, MediaLeg::A, play, &prompts, rate, false);
                    }
                }
                ivr::Action::StopPlayback { id: play } => {
                    if let Some(b) = bridge {
                        self.media.stop_play(b.id, MediaLeg::A, Some(play));
                    }
                }
                ivr::Action::StartRecording { id: rec, beep, .. } => {
                    // A voice message: the caller's side of the bridge is recorded.
                    let Some(b) = bridge else { continue };
                    if beep {
                        let lang = self.language_of(id);
                        self.media.play(
                            b.id,
                            MediaLeg::A,
                            BEEP,
                            &[PromptRef::File {
                                language: lang,
                                name: "beep".into(),
                            }],
                            1.0,
                            false,
                        );
                    }
                    let meta = crate::media::recorder::RecordingMeta {
                        call_id: call_id.clone(),
                        a_leg: call_id.clone(),
                        b_leg: String::new(),
                        agent: String::new(),
                        skill_group: "voicemail".into(),
                    };
                    match self.media.start_recording(b.id, meta) {
                        Some(file) => {
                            info!(recording = %file, "voice message recording");
                            if let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut())
                            {
                                h.message = Some((rec, file, now));
                            }
                        }
                        None => {
                            warn!("this node does not record: the voice message is lost");
                            self.feed_ivr(
                                id,
                                ivr::Input::RecordingFinished {
                                    id: rec,
                                    recording: String::new(),
                                    duration_ms: 0,
                                },
                                now,
                            );
                        }
                    }
                }
                ivr::Action::StopRecording { id: rec } => self.finish_message(id, rec, now),
                ivr::Action::Lookup {
                    id: lookup,
                    source,
                    args,
                    timeout_ms,
                } => self.out.push_back(Output::Lookup {
                    call: id,
                    id: lookup,
                    source,
                    args,
                    timeout_ms,
                    call_id,
                }),
                ivr::Action::Enqueue {
                    group,
                    priority,
                    vars,
                } => {
                    if self.services.as_ref().is_some_and(|s| s.acd) {
                        self.enqueue(id, group, priority, vars, now);
                    } else {
                        self.feed_ivr(
                            id,
                            ivr::Input::Queue(QueueEvent::Failed {
                                reason: "no ACD runs on this node".into(),
                            }),
                            now,
                        );
                    }
                }
                ivr::Action::Transfer { to } => self.ivr_transfer(id, to, now),
                ivr::Action::RecordSatisfaction {
                    call_id,
                    ticket,
                    rating,
                    scale,
                } => {
                    info!(rating, scale, "satisfaction rating");
                    self.out.push_back(Output::Rating {
                        call_id,
                        ticket,
                        rating,
                        scale,
                    });
                }
                ivr::Action::CreateMessageTicket {
                    call_id,
                    caller,
                    recording,
                    duration_ms,
                    vars,
                } => self.message_ticket(call_id, caller, recording, duration_ms, vars),
                ivr::Action::RequestCallback { number, .. } => {
                    let queued = self
                        .calls
                        .get(&id)
                        .and_then(|c| c.hosted.as_ref())
                        .is_some_and(|h| h.in_acd);
                    if queued {
                        self.out
                            .push_back(Output::Acd(acd::Event::CallbackAccepted {
                                call: call_id,
                                number,
                            }));
                    } else {
                        warn!(%number, "callback requested outside a queue: not kept");
                    }
                }
                ivr::Action::SetTimer { at, token } => {
                    if let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) {
                        h.ivr_timer = Some(token);
                    }
                    self.arm(at, Timer::Ivr(id, token));
                }
                ivr::Action::Hangup => {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.core.handle(
                            Input::Hangup {
                                cause: "IVR ended the call".into(),
                            },
                            now,
                        );
                    }
                    self.run_call(id, now);
                    return;
                }
            }
        }
    }

    pub(super) fn feed_ivr(&mut self, id: u64, input: ivr::Input, now: Instant) {
        let fed = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.hosted.as_mut())
            .and_then(|h| h.ivr.as_mut())
            .map(|call| call.handle(input, now))
            .is_some();
        if fed {
            self.run_ivr(id, now);
        }
    }

    pub(super) fn on_ivr_timer(&mut self, id: u64, token: u64, now: Instant) {
        let current = self
            .calls
            .get(&id)
            .and_then(|c| c.hosted.as_ref())
            .and_then(|h| h.ivr_timer);
        if current == Some(token) {
            self.feed_ivr(id, ivr::Input::Timer { token }, now);
        }
    }

    fn ivr_transfer(&mut self, id: u64, to: TransferTo, now: Instant) {
        let targets = match &to {
            TransferTo::Extension(ext) => self.extension_targets(ext, now),
            TransferTo::External(number) => {
                match crate::call::routing::route_outbound(&self.cfg.profiles, &self.trunks, number)
                {
                    crate::call::routing::Decision::Route { targets, .. } => targets,
                    _ => Vec::new(),
                }
            }
        };
        info!(?to, devices = targets.len(), "IVR transfer");
        if let Some(c) = self.calls.get_mut(&id) {
            if let Some(h) = c.hosted.as_mut() {
                h.transferring = true;
            }
            c.core.handle(
                Input::Connect {
                    targets,
                    ring_timeout: self.cfg.call.ring_timeout,
                },
                now,
            );
        }
        self.run_call(id, now);
    }

    /// The call core's hosted-call actions.
    pub(super) fn on_hosted_action(&mut self, id: u64, action: Action, now: Instant) {
        match action {
            Action::Connected { b } => {
                let Some(c) = self.calls.get_mut(&id) else {
                    return;
                };
                let bridge = c.bridge;
                let Some(h) = c.hosted.as_mut() else { return };
                let agent = h
                    .offers
                    .iter()
                    .find(|(_, legs)| legs.contains(&b))
                    .map(|(a, _)| a.clone());
                h.offers.clear();
                h.detached = false;
                let transfer = std::mem::take(&mut h.transferring);
                if let Some(b) = bridge {
                    self.media.stop_play(b.id, MediaLeg::A, None);
                    self.media.set_direction(b.id, MediaLeg::B, true, true);
                }
                let call_id = c.a.call_id.clone();
                if let Some(agent) = agent {
                    info!(%agent, leg = b.0, "agent connected");
                    if let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) {
                        h.agent = Some((agent.clone(), b));
                    }
                    let dial = self
                        .calls
                        .get(&id)
                        .and_then(|c| c.hosted.as_ref())
                        .and_then(|h| h.origin.as_ref())
                        .map(|o| o.kind == super::originate::OriginKind::Dial);
                    // An agent's own dial is known to the ACD as theirs already.
                    if dial != Some(true) {
                        self.out.push_back(Output::Acd(acd::Event::CallAnswered {
                            call: call_id,
                            agent_no: agent.clone(),
                        }));
                    }
                    if dial.is_some() {
                        return self.origin_agent_on(id, b, now);
                    }
                    self.feed_ivr(id, ivr::Input::Queue(QueueEvent::Answered { agent }), now);
                } else if transfer {
                    self.feed_ivr(id, ivr::Input::TransferResult { ok: true }, now);
                }
            }
            Action::LegEnded { leg, code } => {
                let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) else {
                    return;
                };
                let mut failed = None;
                for (agent, legs) in h.offers.iter_mut() {
                    if legs.contains(&leg) {
                        legs.retain(|l| *l != leg);
                        if legs.is_empty() {
                            failed = Some(agent.clone());
                        }
                    }
                }
                if let Some(agent) = failed {
                    h.offers.remove(&agent);
                    self.offer_failed(id, agent, code);
                }
            }
            Action::ConnectFailed { code, reason } => {
                let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) else {
                    return;
                };
                let agents: Vec<String> = h.offers.drain().map(|(a, _)| a).collect();
                let transfer = std::mem::take(&mut h.transferring);
                info!(code, %reason, "nobody answered");
                for agent in agents {
                    self.offer_failed(id, agent, code);
                }
                if self.is_originated(id) {
                    return self.origin_agent_failed(id, code, now);
                }
                if transfer {
                    self.feed_ivr(id, ivr::Input::TransferResult { ok: false }, now);
                }
                self.resume_waiting_audio(id);
            }
            Action::Disconnected { b, by_callee } => {
                let Some(c) = self.calls.get_mut(&id) else {
                    return;
                };
                let call_id = c.a.call_id.clone();
                let bridge = c.bridge;
                let Some(h) = c.hosted.as_mut() else { return };
                let was_agent = h.agent.take().filter(|(_, l)| *l == b);
                let detached = std::mem::take(&mut h.detached);
                // An agent who hangs up in a three-way call leaves the caller with the other party.
                let stays_with = h
                    .parties
                    .iter()
                    .find(|p| p.role == acd::PartyRole::Consult && p.answered)
                    .map(|p| p.leg)
                    .filter(|_| by_callee && was_agent.is_some());
                if let Some(leg) = stays_with {
                    h.handed_to = Some(leg);
                    h.consult_hold = false;
                }
                self.agent_leaves_mix(id);
                if stays_with.is_some() {
                    if let Some(bridge) = bridge {
                        self.media.stop_play(bridge.id, MediaLeg::A, Some(MUSIC));
                        self.media.set_direction(bridge.id, MediaLeg::A, true, true);
                    }
                }
                if let Some(b) = bridge {
                    // Nobody on B until the next offer: no RTP timeout for an empty side.
                    self.media.set_direction(b.id, MediaLeg::B, false, false);
                    // The conversation's recording ends with it (the survey is not recorded).
                    self.media.stop_recording(b.id);
                }
                if let Some(c) = self.calls.get_mut(&id) {
                    c.recording = None;
                }
                info!(leg = b.0, by_callee, "agent side ended");
                if was_agent.is_some() {
                    let h = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut());
                    let in_acd = h.map(|h| std::mem::take(&mut h.in_acd)).unwrap_or(false);
                    if in_acd {
                        self.out
                            .push_back(Output::Acd(acd::Event::CallEnded { call: call_id }));
                    }
                }
                // The caller's side is the dialled number on a call hotline placed: while it is up,
                // the agent's end is the same as on an inbound call.
                let caller_gone = self.calls.get(&id).is_some_and(|c| c.core.caller_gone())
                    && !self.origin_far_up(id);
                if caller_gone {
                    // The agent ends a three-way call the caller had left: it is over for all.
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.core.handle(
                            Input::Hangup {
                                cause: "agent ended the call after the caller left".into(),
                            },
                            now,
                        );
                    }
                    self.run_call(id, now);
                    return;
                }
                if detached || stays_with.is_some() {
                    // The conversation goes on (requeue, transfer, the other party of a
                    // three-way call): no survey, no hang-up yet.
                    return;
                }
                let has_ivr = self
                    .calls
                    .get(&id)
                    .and_then(|c| c.hosted.as_ref())
                    .is_some_and(|h| h.ivr.is_some());
                // The agent hung up (phone or desktop): the survey, or the end of the call.
                if has_ivr || by_callee || was_agent.is_some() {
                    self.conversation_ended(id, "agent hung up", true, now);
                }
            }
            Action::PartyEarly { leg, sdp } if self.is_origin_far(id, leg) => {
                self.origin_far_early(id, sdp)
            }
            Action::PartyAnswered { leg, sdp } if self.is_origin_far(id, leg) => {
                self.origin_far_answered(id, sdp, now)
            }
            Action::PartyAnswered { leg, sdp } => self.on_party_answered(id, leg, sdp),
            Action::PartyFailed { leg, code, reason } if self.is_origin_far(id, leg) => {
                self.origin_far_gone(id, Some((code, reason)), now)
            }
            Action::PartyFailed { leg, code, reason } => {
                self.on_party_gone(id, leg, acd::PartyStatus::Failed { code, reason }, now)
            }
            Action::PartyLeft { leg } if self.is_origin_far(id, leg) => {
                self.origin_far_gone(id, None, now)
            }
            Action::PartyLeft { leg } => self.on_party_gone(id, leg, acd::PartyStatus::Left, now),
            Action::CallerLeft => {
                if let Some(b) = self.calls.get(&id).and_then(|c| c.bridge) {
                    info!("caller hung up; the agent and the other party talk on");
                    self.media.mix(b.id, b.id, MediaLeg::A, None);
                    self.media.stop_play(b.id, MediaLeg::A, None);
                    self.media.set_direction(b.id, MediaLeg::A, false, false);
                }
            }
            _ => {}
        }
    }

    /// The flow ended its voice message: the recording stops and the flow hears its id.
    fn finish_message(&mut self, id: u64, rec: u64, now: Instant) {
        let Some((file, duration_ms)) = self.take_message(id, rec, now) else {
            return;
        };
        info!(recording = %file, duration_ms, "voice message recorded");
        self.feed_ivr(
            id,
            ivr::Input::RecordingFinished {
                id: rec,
                recording: file,
                duration_ms,
            },
            now,
        );
    }

    /// Stops voice message `rec` of call `id`, if it is the one recording: its file and length.
    fn take_message(&mut self, id: u64, rec: u64, now: Instant) -> Option<(String, u64)> {
        let c = self.calls.get_mut(&id)?;
        let bridge = c.bridge;
        let (_, file, started) = c.hosted.as_mut()?.message.take_if(|m| m.0 == rec)?;
        if let Some(b) = bridge {
            self.media.stop_recording(b.id);
        }
        Some((
            file,
            now.saturating_duration_since(started).as_millis() as u64,
        ))
    }

    fn message_ticket(
        &mut self,
        call_id: String,
        caller: String,
        recording: String,
        duration_ms: u64,
        vars: BTreeMap<String, String>,
    ) {
        if recording.is_empty() {
            warn!(%call_id, "voice message without a recording: no ticket");
            return;
        }
        let did = vars.get("called").cloned().unwrap_or_default();
        self.out.push_back(Output::MessageTicket {
            call_id,
            caller,
            did,
            recording,
            duration_ms,
        });
    }

    fn offer_failed(&mut self, id: u64, agent: String, code: u16) {
        let Some(c) = self.calls.get(&id) else { return };
        if code == 487 {
            return; // we withdrew it: the ACD already knows
        }
        let cause = offer_failure(code);
        info!(%agent, code, %cause, "offer failed");
        self.out.push_back(Output::Acd(acd::Event::OfferFailed {
            call: c.a.call_id.clone(),
            agent_no: agent,
            cause,
        }));
    }

    /// Queue music again after an announcement or a failed offer, if the call still waits.
    fn resume_waiting_audio(&mut self, id: u64) {
        let waiting = self
            .calls
            .get(&id)
            .and_then(|c| c.hosted.as_ref())
            .is_some_and(|h| h.in_acd && h.agent.is_none());
        if waiting {
            self.play_own(id, MUSIC, &[MUSIC_PROMPT], true);
        }
    }

    /// The hosted side of a finished call: the ACD and the IVR hear that it is over.
    pub(super) fn end_hosted(&mut self, id: u64, now: Instant) {
        self.end_parties(id);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(h) = c.hosted.as_mut() else { return };
        let in_acd = std::mem::take(&mut h.in_acd);
        if let Some(call) = h.ivr.as_mut() {
            call.handle(ivr::Input::CallerHungUp, now);
        }
        // Only records matter once the caller is gone: a rating given before hanging up, and a
        // voice message cut short by the hang-up (it still becomes a ticket).
        for _ in 0..16 {
            let Some(a) = self
                .calls
                .get_mut(&id)
                .and_then(|c| c.hosted.as_mut())
                .and_then(|h| h.ivr.as_mut())
                .and_then(|call| call.poll())
            else {
                break;
            };
            match a {
                ivr::Action::RecordSatisfaction {
                    call_id,
                    ticket,
                    rating,
                    scale,
                } => self.out.push_back(Output::Rating {
                    call_id,
                    ticket,
                    rating,
                    scale,
                }),
                ivr::Action::StopRecording { id: rec } => {
                    let Some((file, duration_ms)) = self.take_message(id, rec, now) else {
                        continue;
                    };
                    if let Some(call) = self
                        .calls
                        .get_mut(&id)
                        .and_then(|c| c.hosted.as_mut())
                        .and_then(|h| h.ivr.as_mut())
                    {
                        call.handle(
                            ivr::Input::RecordingFinished {
                                id: rec,
                                recording: file,
                                duration_ms,
                            },
                            now,
                        );
                    }
                }
                ivr::Action::CreateMessageTicket {
                    call_id,
                    caller,
                    recording,
                    duration_ms,
                    vars,
                } => self.message_ticket(call_id, caller, recording, duration_ms, vars),
                _ => {}
            }
        }
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let call_id = c.a.call_id.clone();
        if in_acd {
            self.out
                .push_back(Output::Acd(acd::Event::CallEnded { call: call_id }));
        }
    }

    /// Digits, prompt ends and RTP timeouts from the relay.
    pub fn handle_media_event(&mut self, ev: RelayEvent, now: Instant) {
        self.now_hint = Some(now);
        match ev.event {
            BridgeEvent::RtpTimeout { .. } => self.handle_media_timeout(ev.bridge, now),
            BridgeEvent::Digit {
                leg: RelayLeg::A,
                digit,
                duration_ms,
            } => {
                let Some(id) = self.call_of_bridge(ev.bridge) else {
                    return;
                };
                self.on_digit(id, digit, duration_ms, now);
            }
            BridgeEvent::PlayDone {
                leg: RelayLeg::A,
                id: play,
            } => {
                let Some(id) = self.call_of_bridge(ev.bridge) else {
                    return;
                };
                match play {
                    ANNOUNCEMENT => self.resume_waiting_audio(id),
                    FINAL_PROMPT | super::parties::TRANSFER_FAILED => {
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.core.handle(
                                Input::Hangup {
                                    cause: "refused after a message".into(),
                                },
                                now,
                            );
                        }
                        self.run_call(id, now);
                    }
                    p if p & OWN_PLAY == 0 => {
                        self.feed_ivr(id, ivr::Input::PromptFinished { id: p }, now)
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// A key the caller pressed, whichever way it came (RFC 4733, in-band tones, SIP INFO).
    pub(super) fn on_digit(&mut self, id: u64, digit: char, duration_ms: u32, now: Instant) {
        if let Some(c) = self.calls.get(&id) {
            let _g = c.span.clone().entered();
            info!(%digit, duration_ms, "digit");
        }
        self.feed_ivr(id, ivr::Input::Digit(digit), now);
    }

    fn call_of_bridge(&self, bridge: crate::media::relay::BridgeId) -> Option<u64> {
        self.by_bridge.get(&bridge).copied()
    }

    /// The answer to an IVR lookup the shell ran.
    pub fn handle_lookup_result(
        &mut self,
        call: u64,
        id: u64,
        outcome: LookupOutcome,
        now: Instant,
    ) {
        self.now_hint = Some(now);
        self.feed_ivr(call, ivr::Input::LookupResult { id, outcome }, now);
    }

    /// Stops ringing `agent_no`'s devices for call `id` (the offer was withdrawn or refused).
    fn withdraw_offer(&mut self, id: u64, agent_no: &str, now: Instant) {
        let legs = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.hosted.as_mut())
            .and_then(|h| h.offers.remove(agent_no));
        if let Some(legs) = legs {
            debug!(%agent_no, "offer withdrawn");
            if let Some(c) = self.calls.get_mut(&id) {
                c.core.handle(Input::DropLegs(legs), now);
            }
            self.run_call(id, now);
            self.origin_unoffered(id, now);
        }
    }

    /// What the ACD decided for a call.
    /// The caller's history, looked up by the shell since the call came in: kept for the ACD's
    /// screen pop, or passed on at once if the call already reached the ACD.
    pub fn handle_caller_history(&mut self, call: u64, history: acd::event::CallerHistory) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let call_id = c.a.call_id.clone();
        let Some(h) = c.hosted.as_mut() else { return };
        if h.in_acd {
            self.out.push_back(Output::Acd(acd::Event::CallerHistory {
                call: call_id,
                history: history.clone(),
            }));
        }
        h.history = Some(history);
    }

    pub fn handle_acd_action(&mut self, action: acd::Action, now: Instant) {
        self.now_hint = Some(now);
        match action {
            acd::Action::OfferCall {
                call,
                agent_no,
                endpoint,
                auto_answer,
                ring_timeout_ms,
                callback,
            } => self.offer(
                &call,
                agent_no,
                endpoint,
                auto_answer,
                ring_timeout_ms,
                callback,
                now,
            ),
            acd::Action::CancelOffer { call, agent_no } => {
                let Some(id) = self.acd_call(&call) else {
                    return;
                };
                self.withdraw_offer(id, &agent_no, now);
            }
            acd::Action::RejectCall { call, reason } => {
                let Some(id) = self.acd_call(&call) else {
                    return;
                };
                info!(%reason, "call refused by the ACD");
                if let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) {
                    h.in_acd = false;
                }
                self.play_own(id, FINAL_PROMPT, &["refused"], false);
            }
            acd::Action::Announce {
                call,
                position,
                expected_wait_ms,
            } => {
                let Some(id) = self.acd_call(&call) else {
                    return;
                };
                let mut names: Vec<&str> = vec!["queue_ahead"];
                match crate::ivr::say::number(position.saturating_sub(1) as u64) {
                    Some(n) => names.extend(n),
                    None => return,
                }
                names.push("queue_people");
                let minutes = expected_wait_ms.div_ceil(60_000);
                if (1..=120).contains(&minutes) {
                    names.push("queue_wait");
                    names.extend(crate::ivr::say::number(minutes).unwrap_or_default());
                    names.push("queue_minutes");
                }
                debug!(position, expected_wait_ms, "position announced");
                self.play_own(id, ANNOUNCEMENT, &names, false);
            }
            acd::Action::PlayMessage { call, prompt } => {
                let Some(id) = self.acd_call(&call) else {
                    return;
                };
                if let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) {
                    h.in_acd = false;
                }
                let has_ivr = self
                    .calls
                    .get(&id)
                    .and_then(|c| c.hosted.as_ref())
                    .is_some_and(|h| h.ivr.is_some());
                if has_ivr {
                    // The flow's own fallback (a message, a callback) takes over.
                    self.feed_ivr(
                        id,
                        ivr::Input::Queue(QueueEvent::Failed {
                            reason: format!("left the queue: {prompt}"),
                        }),
                        now,
                    );
                } else {
                    self.play_own(id, FINAL_PROMPT, &[prompt.as_str()], false);
                }
            }
            acd::Action::CallControl { call, agent_no, op } => {
                self.call_control(&call, &agent_no, op, now)
            }
            acd::Action::Supervise {
                supervisor,
                agent_no,
                call,
                mode,
            } => self.supervise(&call, supervisor, &agent_no, mode, now),
            other => debug!(?other, "ACD action not handled by the call engine"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn offer(
        &mut self,
        call: &str,
        agent_no: String,
        endpoint: Option<acd::Endpoint>,
        auto_answer: bool,
        ring_timeout_ms: u64,
        callback: Option<String>,
        now: Instant,
    ) {
        let fail = |e: &mut Self, cause: OfferFailure| {
            e.out.push_back(Output::Acd(acd::Event::OfferFailed {
                call: call.to_string(),
                agent_no: agent_no.clone(),
                cause,
            }));
        };
        if let Some(number) = callback {
            // A callback offered to several agents at once rings them all on the one call.
            if !self.by_origin.contains_key(call) {
                return self.originate(
                    call,
                    agent_no,
                    endpoint,
                    auto_answer,
                    ring_timeout_ms,
                    number,
                    super::originate::OriginKind::Callback,
                    now,
                );
            }
        }
        let Some(id) = self.acd_call(call) else {
            return fail(self, OfferFailure::Unreachable);
        };
        if self.offer_to_consulted(id, &agent_no) {
            return;
        }
        if let Some(c) = self
            .calls
            .get(&id)
            .filter(|c| c.core.connected_leg().is_some())
        {
            // The ACD re-offered before our answer reached it (ring timeout crossed the answer):
            // say again who answered; the ACD then withdraws this offer without blaming anyone.
            let answered = c.hosted.as_ref().and_then(|h| h.agent.clone());
            if let Some((agent, _)) = answered.filter(|(a, _)| *a != agent_no) {
                info!(%agent_no, answered = %agent, "re-offered a call that is already talking");
                let call_id = c.a.call_id.clone();
                self.out.push_back(Output::Acd(acd::Event::CallAnswered {
                    call: call_id,
                    agent_no: agent,
                }));
                return;
            }
            warn!(%agent_no, "offered a call that is already talking");
            return fail(self, OfferFailure::Unreachable);
        }
        let Some(acd::Endpoint::Sip { extension }) = endpoint else {
            warn!(%agent_no, "agent has no SIP endpoint");
            return fail(self, OfferFailure::Unreachable);
        };
        let targets = self.extension_targets(&extension, now);
        if targets.is_empty() {
            info!(%agent_no, %extension, "agent's extension is not registered");
            return fail(self, OfferFailure::Unreachable);
        }
        let Some(c) = self.calls.get_mut(&id) else {
            return fail(self, OfferFailure::Unreachable);
        };
        let _g = c.span.clone().entered();
        let Some(h) = c.hosted.as_mut() else {
            return fail(self, OfferFailure::Unreachable);
        };
        h.auto_answer = auto_answer;
        // The next B-legs are this agent's devices.
        let first = c.b.iter().map(|b| b.leg.0).max().unwrap_or(0) + 1;
        let legs: Vec<LegId> = (0..targets.len() as u16)
            .map(|i| LegId(first + i))
            .collect();
        info!(%agent_no, %extension, devices = targets.len(), auto_answer, "offering the call");
        h.offers.insert(agent_no, legs);
        c.core.handle(
            Input::Connect {
                targets,
                ring_timeout: Duration::from_millis(ring_timeout_ms.max(1_000)),
            },
            now,
        );
        self.run_call(id, now);
    }

    fn call_control(&mut self, call: &str, agent_no: &str, op: CallOp, now: Instant) {
        if let CallOp::Dial {
            number,
            endpoint,
            auto_answer,
        } = op
        {
            return self.originate(
                call,
                agent_no.to_string(),
                endpoint,
                auto_answer,
                self.cfg.call.ring_timeout.as_millis() as u64,
                number,
                super::originate::OriginKind::Dial,
                now,
            );
        }
        let Some(id) = self.acd_call(call) else {
            return;
        };
        let talking = self
            .calls
            .get(&id)
            .and_then(|c| c.hosted.as_ref())
            .and_then(|h| h.agent.as_ref())
            .is_some_and(|(a, _)| a == agent_no);
        let bridge = self.calls.get(&id).and_then(|c| c.bridge);
        if let Some(c) = self.calls.get(&id) {
            let _g = c.span.clone().entered();
            info!(%agent_no, ?op, talking, "call control");
        }
        let party_leg = self.agent_on_party_leg(id).filter(|_| talking);
        let op = if talking {
            match self.party_control(id, agent_no, op, now) {
                Some(op) => op,
                None => return,
            }
        } else {
            op
        };
        match op {
            // A colleague who took a transferred call talks on a party leg: that leg ends.
            CallOp::Hangup if party_leg.is_some() => {
                if let Some(leg) = party_leg {
                    self.drop_party(id, leg, now);
                }
            }
            CallOp::Hangup if talking => {
                // The agent's side ends; a flow may still ask the caller for a rating.
                if let Some(c) = self.calls.get_mut(&id) {
                    c.core.handle(Input::Disconnect, now);
                }
                self.run_call(id, now);
            }
            CallOp::DetachAgent => self.detach_agent(id, now),
            // The desktop refused a ringing offer (拒接, or 挂机 while ringing): stop the phone
            // ringing; the ACD has already put the call back in its place.
            CallOp::Reject if !talking => self.withdraw_offer(id, agent_no, now),
            CallOp::Hold if talking => {
                if let Some(b) = bridge {
                    self.media.play(
                        b.id,
                        MediaLeg::A,
                        MUSIC,
                        &[PromptRef::File {
                            language: self.language_of(id),
                            name: MUSIC_PROMPT.into(),
                        }],
                        1.0,
                        true,
                    );
                    // The agent hears nothing while the caller is on hold.
                    self.media.set_direction(b.id, MediaLeg::A, false, true);
                }
            }
            CallOp::PauseRecording { on } if talking => {
                if let Some(b) = bridge {
                    info!(paused = on, "recording paused/resumed by the agent");
                    self.media.pause_recording(b.id, on);
                }
            }
            CallOp::Retrieve if talking => {
                if let Some(b) = bridge {
                    self.media.stop_play(b.id, MediaLeg::A, Some(MUSIC));
                    self.media.set_direction(b.id, MediaLeg::A, true, true);
                }
            }
            other => debug!(?other, %agent_no, "call control not available for this call"),
        }
    }

    pub(super) fn language_of(&self, id: u64) -> String {
        self.calls
            .get(&id)
            .and_then(|c| c.hosted.as_ref())
            .map(|h| h.language.clone())
            .unwrap_or_else(|| "zh-CN".into())
    }
}

/// Routes a hosted call's B-leg events when the call core reports them (used by `do_action`).
pub(super) fn is_hosted_action(a: &Action) -> bool {
    matches!(
        a,
        Action::Connected { .. }
            | Action::ConnectFailed { .. }
            | Action::Disconnected { .. }
            | Action::LegEnded { .. }
            | Action::PartyAnswered { .. }
            | Action::PartyEarly { .. }
            | Action::PartyFailed { .. }
            | Action::PartyLeft { .. }
            | Action::CallerLeft
    )
}
