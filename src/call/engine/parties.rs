//! Parties of a hosted call beside the caller and the agent: a supervisor who monitors, whispers,
//! barges or intercepts; a colleague, department or outside number the agent consults, joins into
//! a three-way call or transfers to; the target of a blind transfer out of the ACD.
//!
//! Each party gets a leg of its own in the call core ([`Input::AddParty`]) and a relay bridge of its
//! own on the call bridge's worker; once a party answers, the caller, the agent and the parties
//! talk through one conference (the relay's mixer), keyed by the call bridge's id. Who hears whom
//! is the mixer's mode of each leg; hold and mute stay what they were (the leg's direction plus
//! music or a prompt), so they work the same with or without a conference.

use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::acd;
use crate::acd::event::{CallOp, PartyRole, PartyStatus, SuperviseMode, Target as AcdTarget};
use crate::call::core::{Input, LegId, Target};
use crate::media::relay::{Leg as RelayLeg, MixMode};

use super::hosted::{MUSIC, MUSIC_PROMPT, OWN_PLAY};
use super::media::{BridgeInfo, MediaControl, MediaLeg};
use super::{Engine, Output};

/// A ringing party gives up after this long.
const PARTY_RING: Duration = Duration::from_secs(30);
/// The prompt the caller hears while the agent is muted (B1 L3385).
pub const PLEASE_WAIT_PROMPT: &str = "please_wait";
/// The prompt the caller hears before a supervisor barges in (B1 L3396).
pub const SUPERVISOR_PROMPT: &str = "supervisor_joins";
/// The prompt after which a call whose transfer failed ends.
pub const TRANSFER_FAILED_PROMPT: &str = "transfer_failed";
const PLEASE_WAIT: u64 = OWN_PLAY | 5;
const SUPERVISOR_NOTICE: u64 = OWN_PLAY | 6;
pub(super) const TRANSFER_FAILED: u64 = OWN_PLAY | 7;
const AGENT_DTMF: u64 = OWN_PLAY | 8;

/// How a party is heard in the call's conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartyMode {
    Normal,
    Monitor,
    /// Heard by the agent only.
    Whisper,
    Barge,
}

impl From<SuperviseMode> for PartyMode {
    fn from(m: SuperviseMode) -> Self {
        match m {
            SuperviseMode::Monitor => PartyMode::Monitor,
            SuperviseMode::Whisper => PartyMode::Whisper,
            SuperviseMode::Barge | SuperviseMode::Intercept => PartyMode::Barge,
        }
    }
}

/// One party of a hosted call.
#[derive(Debug)]
pub(super) struct Party {
    pub leg: LegId,
    pub role: PartyRole,
    /// Who they are: the supervisor's name, the consulted agent number or phone number.
    pub who: String,
    /// The agent whose call it is (their desktop hears about the party).
    pub agent_no: String,
    pub bridge: BridgeInfo,
    pub mode: PartyMode,
    pub answered: bool,
    /// On answering, the party takes the caller over and the agent's leg ends (blind or attended
    /// transfer, intercept).
    pub takes_over: bool,
}

impl<M: MediaControl> Engine<M> {
    /// Where a party is reached: an extension's first registered device, or an outside number
    /// through the dial plan's first trunk.
    fn party_target(&self, who: &AcdTarget, now: Instant) -> Result<Target, String> {
        match who {
            AcdTarget::Agent { agent_no } => self.extension_target(agent_no, now),
            AcdTarget::External { number } | AcdTarget::Department { number } => {
                match crate::call::routing::route_outbound(&self.cfg.profiles, &self.trunks, number)
                {
                    crate::call::routing::Decision::Route { targets, .. } => targets
                        .into_iter()
                        .next()
                        .ok_or_else(|| format!("no trunk reaches {number}")),
                    crate::call::routing::Decision::Reject { reason, .. } => Err(reason),
                    _ => Err(format!("{number} is not an outside number")),
                }
            }
            AcdTarget::Group { group } => Err(format!(
                "consulting a whole group ({group}) is not possible: pick one of its agents"
            )),
        }
    }

    fn extension_target(&self, extension: &str, now: Instant) -> Result<Target, String> {
        self.extension_targets(extension, now)
            .into_iter()
            .next()
            .ok_or_else(|| format!("extension {extension} is not registered"))
    }

    pub(super) fn tell_acd_party(
        &mut self,
        id: u64,
        agent_no: &str,
        who: &str,
        role: PartyRole,
        status: PartyStatus,
    ) {
        let Some(c) = self.calls.get(&id) else { return };
        self.out.push_back(Output::Acd(acd::Event::Party {
            call: c.a.call_id.clone(),
            agent_no: agent_no.to_string(),
            party: who.to_string(),
            role,
            status,
        }));
    }

    /// Rings one more party on call `id`; false (and the ACD told) when it cannot be reached.
    #[allow(clippy::too_many_arguments)]
    fn add_party(
        &mut self,
        id: u64,
        role: PartyRole,
        who: String,
        agent_no: &str,
        target: Result<Target, String>,
        mode: PartyMode,
        takes_over: bool,
        now: Instant,
    ) -> bool {
        let fail = |e: &mut Self, code: u16, reason: String| {
            warn!(party = %who, %reason, "party not called");
            e.tell_acd_party(
                id,
                agent_no,
                &who,
                role,
                PartyStatus::Failed { code, reason },
            );
            false
        };
        let target = match target {
            Ok(t) => t,
            Err(reason) => return fail(self, 404, reason),
        };
        let Some(c) = self.calls.get(&id) else {
            return false;
        };
        let (Some(call_bridge), Some(h)) = (c.bridge, c.hosted.as_ref()) else {
            return fail(self, 481, "the call has no media".into());
        };
        let Some(mut offer) = h.party_offer.clone() else {
            return fail(self, 488, "the call has no codec to offer".into());
        };
        let (pt, dtmf) = h.format;
        let bridge = match self.media.create_bridge_near(call_bridge.id, None) {
            Ok(b) => b,
            Err(e) => return fail(self, 503, format!("no media ports: {e}")),
        };
        self.media.set_format(bridge.id, MediaLeg::A, pt, dtmf);
        // Leg B of a party's bridge is never used: no RTP expected there.
        self.media
            .set_direction(bridge.id, MediaLeg::B, false, false);
        if let Some(i) = offer.media.iter().position(|m| m.media == "audio") {
            offer.media[i].port = bridge.port_a;
        }
        offer.bump_version();
        let Some(c) = self.calls.get_mut(&id) else {
            return false;
        };
        let leg = c.core.next_leg();
        info!(party = %who, ?role, ?mode, leg = leg.0, to = %target.uri, "calling a party");
        if let Some(h) = c.hosted.as_mut() {
            h.parties.push(Party {
                leg,
                role,
                who: who.clone(),
                agent_no: agent_no.to_string(),
                bridge,
                mode,
                answered: false,
                takes_over,
            });
        }
        c.core.handle(
            Input::AddParty {
                target,
                sdp: Some(offer.to_sdp_string().into_bytes()),
                ring_timeout: PARTY_RING,
            },
            now,
        );
        self.tell_acd_party(id, agent_no, &who, role, PartyStatus::Ringing);
        self.run_call(id, now);
        true
    }

    fn mix_mode(&self, id: u64, mode: PartyMode) -> MixMode {
        let bridge = self.calls.get(&id).and_then(|c| c.bridge);
        match (mode, bridge) {
            (PartyMode::Normal, _) => MixMode::Normal,
            (PartyMode::Barge, _) => MixMode::Barge,
            (PartyMode::Whisper, Some(b)) => MixMode::Whisper {
                to: (b.id, RelayLeg::B),
            },
            (PartyMode::Monitor | PartyMode::Whisper, _) => MixMode::Monitor,
        }
    }

    /// Puts the caller and the agent into the call's conference, once.
    fn ensure_mix(&mut self, id: u64) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(bridge) = c.bridge else { return };
        let Some(h) = c.hosted.as_mut() else { return };
        if h.mixing {
            return;
        }
        h.mixing = true;
        let agent = h.agent.is_some();
        h.agent_in_mix = agent;
        debug!("call goes into its conference");
        self.media
            .mix(bridge.id, bridge.id, MediaLeg::A, Some(MixMode::Normal));
        if agent {
            self.media
                .mix(bridge.id, bridge.id, MediaLeg::B, Some(MixMode::Normal));
        }
    }

    /// Takes the caller and agent out of the conference when no party is left in it.
    fn maybe_unmix(&mut self, id: u64) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(bridge) = c.bridge else { return };
        let Some(h) = c.hosted.as_mut() else { return };
        if !h.mixing || h.parties.iter().any(|p| p.answered) {
            return;
        }
        h.mixing = false;
        debug!("call back to a two-party relay");
        self.media.mix(bridge.id, bridge.id, MediaLeg::A, None);
        self.agent_leaves_mix(id);
    }

    /// The agent's leg leaves the conference (hung up, transferred, the conference ended).
    pub(super) fn agent_leaves_mix(&mut self, id: u64) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(bridge) = c.bridge else { return };
        if let Some(h) = c.hosted.as_mut().filter(|h| h.agent_in_mix) {
            h.agent_in_mix = false;
            self.media.mix(bridge.id, bridge.id, MediaLeg::B, None);
        }
    }

    /// A party's leg answered: it joins the conference in its mode.
    pub(super) fn on_party_answered(&mut self, id: u64, leg: LegId, sdp: Option<Vec<u8>>) {
        let now = self.now();
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(call_bridge) = c.bridge else { return };
        let Some(p) = c
            .hosted
            .as_mut()
            .and_then(|h| h.parties.iter_mut().find(|p| p.leg == leg))
        else {
            return;
        };
        p.answered = true;
        let (bridge, mode, role, who, agent_no, takes_over) = (
            p.bridge,
            p.mode,
            p.role,
            p.who.clone(),
            p.agent_no.clone(),
            p.takes_over,
        );
        let addr = super::invite::sdp_audio_addr(sdp.as_deref());
        if let Some(addr) = addr {
            self.media.update_remote(bridge.id, MediaLeg::A, addr);
        }
        info!(party = %who, ?role, ?mode, "party joined");
        self.ensure_mix(id);
        let mix = self.mix_mode(id, mode);
        self.media
            .mix(call_bridge.id, bridge.id, MediaLeg::A, Some(mix));
        if mode == PartyMode::Barge && role == PartyRole::Supervisor && !takes_over {
            self.play_own(id, SUPERVISOR_NOTICE, &[SUPERVISOR_PROMPT], false);
        }
        self.tell_acd_party(id, &agent_no, &who, role, PartyStatus::Joined);
        if takes_over {
            self.hand_over(id, leg, now);
        }
    }

    /// The caller now talks to party `leg`: the agent's leg ends without ending the call (no survey
    /// yet), the caller leaves hold.
    fn hand_over(&mut self, id: u64, leg: LegId, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let bridge = c.bridge;
        let Some(h) = c.hosted.as_mut() else { return };
        h.handed_to = Some(leg);
        let had_agent = h.agent.take().is_some();
        h.detached = true;
        h.consult_hold = false;
        if let Some(p) = h.parties.iter_mut().find(|p| p.leg == leg) {
            p.takes_over = false;
        }
        info!(leg = leg.0, "the party takes the caller over");
        if let Some(b) = bridge {
            self.media.stop_play(b.id, MediaLeg::A, Some(MUSIC));
            self.media.set_direction(b.id, MediaLeg::A, true, true);
        }
        self.agent_leaves_mix(id);
        if had_agent {
            if let Some(c) = self.calls.get_mut(&id) {
                c.core.handle(Input::Disconnect, now);
            }
            self.run_call(id, now);
        }
    }

    /// A party's leg failed or hung up (`status`), or hotline let it go.
    pub(super) fn on_party_gone(&mut self, id: u64, leg: LegId, status: PartyStatus, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let bridge = c.bridge;
        let Some(h) = c.hosted.as_mut() else { return };
        let Some(i) = h.parties.iter().position(|p| p.leg == leg) else {
            return;
        };
        let p = h.parties.remove(i);
        let partner = h.handed_to == Some(leg);
        // A consulted agent who took the call over: their part in the ACD ends with their leg.
        let acd_agent = h
            .agent
            .take_if(|(_, l)| *l == leg)
            .filter(|_| std::mem::take(&mut h.in_acd));
        let call_id = c.a.call_id.clone();
        if acd_agent.is_some() {
            self.out
                .push_back(Output::Acd(acd::Event::CallEnded { call: call_id }));
        }
        let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) else {
            return;
        };
        let was_transfer = p.takes_over || partner;
        let retrieve = p.role == PartyRole::Consult && h.consult_hold && !was_transfer;
        if retrieve {
            h.consult_hold = false;
        }
        if partner {
            h.handed_to = None;
        }
        info!(party = %p.who, role = ?p.role, ?status, "party left");
        if p.answered {
            self.media.mix(
                bridge.map_or(p.bridge.id, |b| b.id),
                p.bridge.id,
                MediaLeg::A,
                None,
            );
        }
        self.media.destroy(p.bridge.id);
        self.tell_acd_party(id, &p.agent_no, &p.who, p.role, status);
        if retrieve {
            if let Some(b) = bridge {
                self.media.stop_play(b.id, MediaLeg::A, Some(MUSIC));
                self.media.set_direction(b.id, MediaLeg::A, true, true);
            }
        }
        let agent_here = self
            .calls
            .get(&id)
            .and_then(|c| c.hosted.as_ref())
            .is_some_and(|h| h.agent.is_some());
        if was_transfer && !agent_here {
            // The caller's conversation partner is gone (or never came): the flow's after-call
            // part (the survey) runs, or the call ends.
            self.maybe_unmix(id);
            self.conversation_over(id, partner, now);
            return;
        }
        self.maybe_unmix(id);
        // The caller had left a three-way call and now its other party has too: it is over.
        let alone = self.calls.get(&id).is_some_and(|c| {
            c.core.caller_gone()
                && c.hosted
                    .as_ref()
                    .is_some_and(|h| !h.parties.iter().any(|p| p.answered))
        });
        if alone {
            if let Some(c) = self.calls.get_mut(&id) {
                c.core.handle(
                    Input::Hangup {
                        cause: "three-way call over after the caller left".into(),
                    },
                    now,
                );
            }
            self.run_call(id, now);
        }
    }

    fn conversation_over(&mut self, id: u64, talked: bool, now: Instant) {
        if let Some(b) = self.calls.get(&id).and_then(|c| c.bridge) {
            self.media.stop_play(b.id, MediaLeg::A, Some(MUSIC));
        }
        if talked {
            self.conversation_ended(id, "transferred party hung up", false, now);
        } else {
            self.play_own(id, TRANSFER_FAILED, &[TRANSFER_FAILED_PROMPT], false);
        }
    }

    /// The leg of an agent who talks to the caller from a party leg (a consulted colleague who
    /// took a transferred call), if so.
    pub(super) fn agent_on_party_leg(&self, id: u64) -> Option<LegId> {
        let h = self.calls.get(&id)?.hosted.as_ref()?;
        let (_, leg) = h.agent.as_ref()?;
        h.parties.iter().any(|p| p.leg == *leg).then_some(*leg)
    }

    /// The relay bridge of party `leg`.
    fn party_bridge(&self, id: u64, leg: LegId) -> Option<crate::media::relay::BridgeId> {
        let h = self.calls.get(&id)?.hosted.as_ref()?;
        h.parties.iter().find(|p| p.leg == leg).map(|p| p.bridge.id)
    }

    /// Lets party `leg` go by hotline's own decision.
    pub(super) fn drop_party(&mut self, id: u64, leg: LegId, now: Instant) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.core.handle(Input::DropParty(leg), now);
        }
        self.run_call(id, now);
        self.on_party_gone(id, leg, PartyStatus::Left, now);
    }

    fn party_leg(&self, id: u64, f: impl Fn(&Party) -> bool) -> Option<LegId> {
        self.calls
            .get(&id)?
            .hosted
            .as_ref()?
            .parties
            .iter()
            .find(|p| f(p))
            .map(|p| p.leg)
    }

    /// Agent call control that involves other parties: consult, three-way, transfer, mute with a
    /// prompt. Returns the op back when it is not one of these.
    pub(super) fn party_control(
        &mut self,
        id: u64,
        agent_no: &str,
        op: CallOp,
        now: Instant,
    ) -> Option<CallOp> {
        let bridge = self.calls.get(&id).and_then(|c| c.bridge)?;
        match op {
            CallOp::Consult { target } => {
                if self
                    .party_leg(id, |p| p.role == PartyRole::Consult)
                    .is_some()
                {
                    warn!(%agent_no, "a consult is already under way");
                    return None;
                }
                // The caller waits with music and is not heard while the agent consults.
                self.play_own(id, MUSIC, &[MUSIC_PROMPT], true);
                self.media
                    .set_direction(bridge.id, MediaLeg::A, false, true);
                if let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) {
                    h.consult_hold = true;
                }
                let who = target_name(&target);
                let t = self.party_target(&target, now);
                if !self.add_party(
                    id,
                    PartyRole::Consult,
                    who,
                    agent_no,
                    t,
                    PartyMode::Normal,
                    false,
                    now,
                ) {
                    self.retrieve_caller(id);
                }
                None
            }
            CallOp::CancelConsult => {
                if let Some(leg) = self.party_leg(id, |p| p.role == PartyRole::Consult) {
                    self.drop_party(id, leg, now);
                }
                None
            }
            CallOp::ThreeWay => {
                if self
                    .party_leg(id, |p| p.role == PartyRole::Consult && p.answered)
                    .is_some()
                {
                    info!(%agent_no, "three-way call");
                    self.retrieve_caller(id);
                } else {
                    warn!(%agent_no, "three-way call asked with no consulted party on the line");
                }
                None
            }
            CallOp::DropParty { party } => {
                let leg = self
                    .party_leg(id, |p| p.role == PartyRole::Consult && p.who == party)
                    .or_else(|| self.party_leg(id, |p| p.role == PartyRole::Consult));
                if let Some(leg) = leg {
                    self.drop_party(id, leg, now);
                }
                None
            }
            CallOp::Dtmf { digits } => {
                self.send_digits(id, agent_no, &digits);
                None
            }
            CallOp::Transfer { target } => {
                self.refer_done(id, now);
                self.transfer(id, agent_no, target, now);
                None
            }
            CallOp::Mute { on } => {
                // The caller no longer hears the agent (in a conference too: a leg that does not
                // send is heard by nobody); they hear "请稍候" instead (B1 L3385). A colleague who
                // took the call over talks on their own party leg, not on the call bridge's B.
                let (agent_bridge, agent_leg) = self
                    .agent_on_party_leg(id)
                    .and_then(|leg| self.party_bridge(id, leg))
                    .map_or((bridge.id, MediaLeg::B), |b| (b, MediaLeg::A));
                self.media.set_direction(agent_bridge, agent_leg, !on, true);
                if on {
                    self.play_own(id, PLEASE_WAIT, &[PLEASE_WAIT_PROMPT], false);
                } else {
                    self.media
                        .stop_play(bridge.id, MediaLeg::A, Some(PLEASE_WAIT));
                }
                None
            }
            other => Some(other),
        }
    }

    /// The agent's keys, as in-band tones (100 ms each, 60 ms apart, -10 dBm0 per tone) that any
    /// IVR or gateway hears: to the consulted party when one is on the line (a department's
    /// menu), else to the caller.
    fn send_digits(&mut self, id: u64, agent_no: &str, digits: &str) {
        let mut samples = Vec::with_capacity(digits.len() * 1280);
        for d in digits.chars() {
            match crate::media::dtmf::inband::generate(d, 100, -10.0) {
                Ok(tone) => samples.extend(tone),
                Err(e) => {
                    warn!(%agent_no, error = %e, "DTMF not sent");
                    return;
                }
            }
            samples.extend(std::iter::repeat_n(0i16, 480));
        }
        let party = self.calls.get(&id).and_then(|c| {
            c.hosted
                .as_ref()?
                .parties
                .iter()
                .find(|p| p.role == PartyRole::Consult && p.answered)
                .map(|p| p.bridge.id)
        });
        let to = party.or_else(|| self.calls.get(&id).and_then(|c| c.bridge).map(|b| b.id));
        if let Some(bridge) = to {
            info!(%agent_no, digits = digits.len(), to_party = party.is_some(), "agent sends DTMF");
            self.media
                .play_samples(bridge, MediaLeg::A, AGENT_DTMF, samples, false);
        }
    }

    /// The caller leaves hold: the music stops and they are heard again.
    fn retrieve_caller(&mut self, id: u64) {
        let Some(b) = self.calls.get(&id).and_then(|c| c.bridge) else {
            return;
        };
        if let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) {
            h.consult_hold = false;
        }
        self.media.stop_play(b.id, MediaLeg::A, Some(MUSIC));
        self.media.set_direction(b.id, MediaLeg::A, true, true);
    }

    fn transfer(&mut self, id: u64, agent_no: &str, target: AcdTarget, now: Instant) {
        let consulted_agent = match &target {
            AcdTarget::Agent { agent_no: t } => self
                .party_leg(id, |p| p.role == PartyRole::Consult && &p.who == t)
                .is_some(),
            _ => false,
        };
        match &target {
            // The ACD queues the call again or offers it to that agent: the caller waits with
            // music, and this agent's part ends without the after-call survey.
            AcdTarget::Group { .. } | AcdTarget::Agent { .. } if !consulted_agent => {
                info!(%agent_no, ?target, "transfer into the ACD");
                // A consult under way ends with the agent's part: the colleague or department
                // consulted is let go (and, if an agent, is free for calls again).
                let consulted: Vec<LegId> = self
                    .calls
                    .get(&id)
                    .and_then(|c| c.hosted.as_ref())
                    .map(|h| {
                        h.parties
                            .iter()
                            .filter(|p| p.role == PartyRole::Consult)
                            .map(|p| p.leg)
                            .collect()
                    })
                    .unwrap_or_default();
                for leg in consulted {
                    self.drop_party(id, leg, now);
                }
                self.detach_agent(id, now);
            }
            // After a consult: the consulted colleague or department takes the caller over (the
            // ACD then offers the call to a consulted colleague, who is already on the line).
            _ => {
                let who = target_name(&target);
                let consulted = self.calls.get(&id).and_then(|c| {
                    c.hosted
                        .as_ref()?
                        .parties
                        .iter()
                        .find(|p| p.role == PartyRole::Consult && p.who == who)
                        .map(|p| (p.leg, p.answered))
                });
                match consulted {
                    // Attended: the consulted party takes the caller over now.
                    Some((leg, true)) => {
                        info!(%agent_no, party = %who, "attended transfer");
                        self.hand_over(id, leg, now);
                    }
                    // Still ringing: the caller goes to them when they answer.
                    Some((leg, false)) => {
                        info!(%agent_no, party = %who, "transfer on answer");
                        self.detach_agent(id, now);
                        if let Some(p) = self.calls.get_mut(&id).and_then(|c| {
                            c.hosted.as_mut()?.parties.iter_mut().find(|p| p.leg == leg)
                        }) {
                            p.takes_over = true;
                        }
                    }
                    None => {
                        info!(%agent_no, party = %who, "blind transfer");
                        self.detach_agent(id, now);
                        let t = self.party_target(&target, now);
                        if !self.add_party(
                            id,
                            PartyRole::Transfer,
                            who,
                            agent_no,
                            t,
                            PartyMode::Normal,
                            true,
                            now,
                        ) {
                            self.conversation_over(id, false, now);
                        }
                    }
                }
            }
        }
    }

    /// The ACD offers the call to `agent_no`, who already talks to the caller as the consulted
    /// party the call was transferred to: they answer at once, on the leg they are on.
    pub(super) fn offer_to_consulted(&mut self, id: u64, agent_no: &str) -> bool {
        let Some(leg) = self.party_leg(id, |p| {
            p.role == PartyRole::Consult && p.who == agent_no && (p.answered || p.takes_over)
        }) else {
            return false;
        };
        let Some(c) = self.calls.get_mut(&id) else {
            return false;
        };
        let call = c.a.call_id.clone();
        let Some(h) = c.hosted.as_mut() else {
            return false;
        };
        info!(%agent_no, leg = leg.0, "the consulted agent takes the transferred call");
        h.agent = Some((agent_no.to_string(), leg));
        h.in_acd = true;
        self.out.push_back(Output::Acd(acd::Event::CallAnswered {
            call,
            agent_no: agent_no.to_string(),
        }));
        true
    }

    /// The agent's leg ends and the caller waits with music; not the end of the conversation.
    pub(super) fn detach_agent(&mut self, id: u64, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(h) = c.hosted.as_mut() {
            h.agent = None;
            h.detached = true;
        }
        c.core.handle(Input::Disconnect, now);
        self.run_call(id, now);
        self.agent_leaves_mix(id);
        self.play_own(id, MUSIC, &[MUSIC_PROMPT], true);
    }

    /// A supervisor joins, changes mode, or leaves (`mode: None`) the agent's call.
    pub(super) fn supervise(
        &mut self,
        call: &str,
        supervisor: String,
        agent_no: &str,
        mode: Option<SuperviseMode>,
        now: Instant,
    ) {
        let Some(id) = self.acd_call(call) else {
            return;
        };
        if let Some(c) = self.calls.get(&id) {
            let _g = c.span.clone().entered();
            info!(%supervisor, %agent_no, ?mode, "supervisor");
        }
        let existing = self.party_leg(id, |p| {
            p.role == PartyRole::Supervisor && p.who == supervisor
        });
        match (mode, existing) {
            (None, Some(leg)) => self.drop_party(id, leg, now),
            (None, None) => {}
            (Some(SuperviseMode::Intercept), Some(leg)) => {
                let answered = self.set_party_mode(id, leg, PartyMode::Normal);
                if answered {
                    self.hand_over(id, leg, now);
                } else if let Some(p) = self
                    .calls
                    .get_mut(&id)
                    .and_then(|c| c.hosted.as_mut()?.parties.iter_mut().find(|p| p.leg == leg))
                {
                    p.takes_over = true;
                }
            }
            (Some(m), Some(leg)) => {
                let mode = PartyMode::from(m);
                let answered = self.set_party_mode(id, leg, mode);
                if answered && mode == PartyMode::Barge {
                    self.play_own(id, SUPERVISOR_NOTICE, &[SUPERVISOR_PROMPT], false);
                }
            }
            (Some(m), None) => {
                let t = self.extension_target(&supervisor, now);
                self.add_party(
                    id,
                    PartyRole::Supervisor,
                    supervisor,
                    agent_no,
                    t,
                    PartyMode::from(m),
                    m == SuperviseMode::Intercept,
                    now,
                );
            }
        }
    }

    /// Switches a party's mode (at once in the mixer if it is on the line); whether it answered.
    fn set_party_mode(&mut self, id: u64, leg: LegId, mode: PartyMode) -> bool {
        let Some(c) = self.calls.get_mut(&id) else {
            return false;
        };
        let Some(call_bridge) = c.bridge else {
            return false;
        };
        let Some(p) = c
            .hosted
            .as_mut()
            .and_then(|h| h.parties.iter_mut().find(|p| p.leg == leg))
        else {
            return false;
        };
        p.mode = mode;
        let (answered, bridge) = (p.answered, p.bridge);
        if answered {
            let mix = self.mix_mode(id, mode);
            self.media
                .mix(call_bridge.id, bridge.id, MediaLeg::A, Some(mix));
        }
        answered
    }

    /// Every party of a finished call goes with it (the core has already ended their legs).
    pub(super) fn end_parties(&mut self, id: u64) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let bridge = c.bridge;
        let Some(h) = c.hosted.as_mut() else { return };
        let parties = std::mem::take(&mut h.parties);
        for p in parties {
            if let Some(b) = bridge {
                self.media.mix(b.id, p.bridge.id, MediaLeg::A, None);
            }
            self.media.destroy(p.bridge.id);
            // The desktops hear of it, and a consulted colleague is free again in the ACD.
            let status = if p.answered {
                PartyStatus::Left
            } else {
                PartyStatus::Failed {
                    code: 487,
                    reason: "the call ended".into(),
                }
            };
            self.tell_acd_party(id, &p.agent_no, &p.who, p.role, status);
        }
    }
}

/// How a target is named on the desktop and in the logs.
fn target_name(t: &AcdTarget) -> String {
    match t {
        AcdTarget::Agent { agent_no } => agent_no.clone(),
        AcdTarget::Group { group } => group.clone(),
        AcdTarget::External { number } | AcdTarget::Department { number } => number.clone(),
    }
}
