//! Blind transfer from a phone (RFC 3515 REFER): the transfer key of an IP desk phone or
//! softphone.
//!
//! On a queue call (the ACD owns it) the REFER goes to the ACD as the agent's own `transfer`
//! command, so the same rules (target ready, call in the ACD) apply as on the desktop.
//!
//! On a plain call (a DID routed to an extension or a ring group, an agent's own dial-out) either
//! party may transfer the other one: to an extension (its registered devices ring at once) or to
//! an outside number (through the dial plan's trunks, one after the other). The transferee keeps
//! its leg and its port on the call's bridge and hears hotline's ringback (or the carrier's early
//! media) while the target rings on a new leg that takes the transferor's side of the bridge, the
//! way a hosted call's B side changes agents: the relay re-latches to the answering target, and
//! the transferee is never re-INVITEd unless the transferor had put it on hold.
//!
//! The transferor's leg stays up until the target answers, then gets BYE (if the phone has not
//! already hung up). That is what Asterisk's chan_pjsip does (res_pjsip_refer follows the
//! target's progress and sends NOTIFY 180, then 200 or the failure), rather than FreeSWITCH's
//! immediate hang-up: the phone's display shows the outcome, and when the target is busy or does
//! not answer the transferee is given back to the transferor instead of being dropped. A phone
//! that hangs up right after the 202 (a "pure" blind transfer) loses nothing: the transfer goes
//! on, and if it fails the call ends cleanly.
//!
//! The phone hears how it went through NOTIFYs with a message/sipfrag body (100 Trying at once,
//! 180 Ringing, then the final status with the subscription terminated), as long as its dialog
//! lasts: once the phone has hung up, hotline's dialog with it is over and so are the NOTIFYs.
//! Attended transfer by REFER with Replaces is refused with a reason: the desktop's consult and
//! transfer do it.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::{info, warn};

use crate::acd;
use crate::acd::event::{AgentCommand, Target as AcdTarget};
use crate::call::core::{Hunt, Input, LegId};
use crate::call::routing::{self, Decision};
use crate::sip::message::{Method, SipMessage};
use crate::sip::sdp::{self, Direction, SessionDescription};
use crate::sip::transaction::TxKey;

use super::invite::{
    anchor_one, first_audio, media_addr, parse_offer, reason_phrase, sdp_audio_addr,
};
use super::media::{MediaControl, MediaLeg};
use super::originate::{chosen_format, RINGBACK};
use super::{Engine, Output, TxRole};

/// A blind transfer asked by REFER on a plain call, as the engine follows it.
#[derive(Debug)]
pub(super) struct PlainTransfer {
    /// The transferor's leg: its phone hears how the transfer goes.
    pub from: LegId,
    /// The leg that stays (the citizen, usually).
    pub transferee: LegId,
    /// The side of the bridge the targets ring on: the transferor's.
    pub side: MediaLeg,
    /// Where the transferor's media went, to talk again if the transfer fails.
    pub from_addr: Option<SocketAddr>,
    /// The dial plan's caller id, presented to targets reached through a trunk.
    pub caller_id: Option<String>,
    /// What was asked for (for the logs).
    pub number: String,
    /// The phone has been told "180 Ringing".
    pub ringing_told: bool,
}

/// The one Refer-To value of a REFER (RFC 3515 §2.4.1: exactly one).
fn one_refer_to(req: &SipMessage) -> Result<String, &'static str> {
    let values: Vec<String> = req
        .headers("Refer-To")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    match values.as_slice() {
        [] => Err("no Refer-To header"),
        [one] if one.contains(',') && !one.contains('<') => Err("more than one Refer-To"),
        [one] => Ok(one.clone()),
        _ => Err("more than one Refer-To"),
    }
}

/// The other side of a bridge.
fn other(side: MediaLeg) -> MediaLeg {
    match side {
        MediaLeg::A => MediaLeg::B,
        MediaLeg::B => MediaLeg::A,
    }
}

/// What a Refer-To header asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReferTo {
    /// A number or extension (the user part of the URI).
    Number(String),
    /// An attended transfer (`?Replaces=`).
    Replaces,
}

/// Reads the Refer-To header value: `<sip:1002@host>`, `sip:0771...@host;user=phone`, `<tel:+86...>`.
pub(super) fn parse_refer_to(v: &str) -> Result<ReferTo, &'static str> {
    let v = v.trim();
    let uri = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v),
    };
    let lower = uri.to_ascii_lowercase();
    if lower.contains("replaces=") {
        return Ok(ReferTo::Replaces);
    }
    let rest = lower
        .strip_prefix("sips:")
        .or_else(|| lower.strip_prefix("sip:"))
        .or_else(|| lower.strip_prefix("tel:"))
        .ok_or("Refer-To is not a sip:, sips: or tel: URI")?;
    let user = rest
        .split(['@', ';', '?'])
        .next()
        .unwrap_or_default()
        .trim_start_matches('+');
    if user.is_empty() || user.len() > 32 || !user.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Refer-To must name a number or an extension");
    }
    Ok(ReferTo::Number(user.to_string()))
}

impl<M: MediaControl> Engine<M> {
    /// The number a REFER's Refer-To names; otherwise the REFER is answered (501 with
    /// `replaces` for an attended transfer, 400 with the reason for anything else) and `None`.
    fn refer_number(
        &mut self,
        key: &TxKey,
        req: &SipMessage,
        refer_to: &str,
        replaces: &str,
        now: Instant,
    ) -> Option<String> {
        match parse_refer_to(refer_to) {
            Ok(ReferTo::Number(n)) => Some(n),
            Ok(ReferTo::Replaces) => {
                self.reply(key, req, 501, replaces, now);
                None
            }
            Err(why) => {
                self.reply(key, req, 400, &format!("Bad Request ({why})"), now);
                None
            }
        }
    }

    pub(super) fn on_refer(
        &mut self,
        key: TxKey,
        req: SipMessage,
        id: u64,
        leg: LegId,
        now: Instant,
    ) {
        let refer_to = match one_refer_to(&req) {
            Ok(v) => v,
            Err(why) => return self.reply(&key, &req, 400, &format!("Bad Request ({why})"), now),
        };
        let Some(c) = self.calls.get(&id) else {
            return self.reply(&key, &req, 481, "Call/Transaction Does Not Exist", now);
        };
        if c.done {
            return self.reply(
                &key,
                &req,
                481,
                "Call/Transaction Does Not Exist (the call is over)",
                now,
            );
        }
        if c.hosted.is_none() {
            return self.on_plain_refer(key, req, refer_to, id, leg, now);
        }
        let agent = self
            .calls
            .get(&id)
            .and_then(|c| c.hosted.as_ref())
            .and_then(|h| h.agent.clone())
            .filter(|(_, l)| *l == leg)
            .map(|(a, _)| a);
        let Some(agent_no) = agent else {
            return self.reply(
                &key,
                &req,
                501,
                "Not Implemented (REFER transfers a queue call from the agent's phone)",
                now,
            );
        };
        let replaces =
            "Not Implemented (attended transfer: use consult and transfer on the desktop)";
        let Some(number) = self.refer_number(&key, &req, &refer_to, replaces, now) else {
            return;
        };
        // A registered extension is a colleague (an agent whose number is the extension);
        // anything else goes out through the dial plan.
        let registered = !self.extension_targets(&number, now).is_empty();
        let target = if registered {
            AcdTarget::Agent {
                agent_no: number.clone(),
            }
        } else {
            AcdTarget::External {
                number: number.clone(),
            }
        };
        info!(%agent_no, %number, "transfer asked by REFER from the agent's phone");
        let mut r = SipMessage::response_to(&req, 202, "Accepted", None);
        r.push_header("Contact", self.contact());
        self.respond(&key, r, now);
        if let Some(h) = self.calls.get_mut(&id).and_then(|c| c.hosted.as_mut()) {
            h.refer_from = Some(leg);
        }
        self.notify_refer(id, leg, "SIP/2.0 100 Trying", false, now);
        self.out.push_back(Output::Acd(acd::Event::Agent {
            agent_no,
            cmd: AgentCommand::Transfer { target },
        }));
    }

    /// The transfer a REFER asked for is carried out: the phone's subscription ends with 200.
    pub(super) fn refer_done(&mut self, id: u64, now: Instant) {
        let leg = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.hosted.as_mut())
            .and_then(|h| h.refer_from.take());
        if let Some(leg) = leg {
            self.notify_refer(id, leg, "SIP/2.0 200 OK", true, now);
        }
    }

    /// A REFER on a plain call: check it, route the target, answer 202 and start the transfer.
    fn on_plain_refer(
        &mut self,
        key: TxKey,
        req: SipMessage,
        refer_to: String,
        id: u64,
        leg: LegId,
        now: Instant,
    ) {
        let replaces = "Not Implemented (attended transfer by REFER with Replaces: transfer blind, or consult and transfer on the desktop)";
        let Some(number) = self.refer_number(&key, &req, &refer_to, replaces, now) else {
            return;
        };
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let transferee = match c.core.transferee_of(leg) {
            Ok(t) => t,
            Err((code, why)) => {
                return self.reply(&key, &req, code, &reason_phrase(code, why), now)
            }
        };
        if c.bridge.is_none() {
            return self.reply(&key, &req, 500, "Server Internal Error (no media)", now);
        }
        // An extension rings all its devices; any other number goes out by the dial plan, like
        // an agent's own call (emergency numbers always allowed).
        let extension = self.accounts.contains_key(&number)
            || self
                .cfg
                .profiles
                .agents
                .as_ref()
                .is_some_and(|a| a.extension.iter().any(|e| e.number == number));
        let (targets, hunt, caller_id) = if extension {
            let targets = self.extension_targets(&number, now);
            if targets.is_empty() {
                return self.reply(
                    &key,
                    &req,
                    480,
                    &reason_phrase(480, &format!("extension {number} is not registered")),
                    now,
                );
            }
            (targets, Hunt::Parallel, None)
        } else {
            match routing::route_outbound(&self.cfg.profiles, &self.trunks, &number) {
                Decision::Route {
                    targets,
                    hunt,
                    caller_id,
                    ..
                } => (targets, hunt, caller_id),
                Decision::Reject { code, reason } => {
                    info!(%number, code, %reason, "transfer refused");
                    return self.reply(&key, &req, code, &reason_phrase(code, &reason), now);
                }
                Decision::Hosted { .. } => {
                    return self.reply(&key, &req, 404, "Not Found", now);
                }
            }
        };
        let side = self.media_side(id, leg);
        let Some((offer, format)) = self.transfer_offer(id, transferee, side) else {
            return self.reply(
                &key,
                &req,
                488,
                "Not Acceptable Here (the call has no codec to offer)",
                now,
            );
        };
        let from_addr = self.remote_media(id, leg);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let _g = c.span.clone().entered();
        info!(from = leg.0, transferee = transferee.0, %number, "blind transfer asked by REFER");
        c.transfer = Some(PlainTransfer {
            from: leg,
            transferee,
            side,
            from_addr,
            caller_id,
            number,
            ringing_told: false,
        });
        let mut r = SipMessage::response_to(&req, 202, "Accepted", None);
        r.push_header("Contact", self.contact());
        self.respond(&key, r, now);
        self.notify_refer(id, leg, "SIP/2.0 100 Trying", false, now);
        // The transferee hears ringback instead of the transferor until the target answers,
        // in its own codec (a plain relay has not needed to know it so far).
        if let (Some((pt, dtmf)), Some(bridge)) =
            (format, self.calls.get(&id).and_then(|c| c.bridge))
        {
            if (pt, dtmf) != (0, Some(101)) {
                self.media.set_format(bridge.id, other(side), pt, dtmf);
            }
        }
        self.play_ringback_to(id, other(side));
        let ring_timeout = self.cfg.call.ring_timeout;
        if let Some(c) = self.calls.get_mut(&id) {
            c.core.handle(
                Input::Transfer {
                    from: leg,
                    targets,
                    hunt,
                    sdp: Some(offer.to_sdp_string().into_bytes()),
                    ring_timeout,
                },
                now,
            );
        }
        self.run_call(id, now);
    }

    /// The offer for a transfer target: the caller's offer as a template, limited to the codec
    /// the transferee talks in (the relay does not transcode), on the transferor's port; and
    /// that codec's payload type and telephone-event type, when known.
    #[allow(clippy::type_complexity)]
    fn transfer_offer(
        &self,
        id: u64,
        transferee: LegId,
        side: MediaLeg,
    ) -> Option<(SessionDescription, Option<(u8, Option<u8>)>)> {
        let c = self.calls.get(&id)?;
        let bridge = c.bridge?;
        let talks_in = if transferee == LegId::A {
            c.a.local_sdp
                .as_deref()
                .and_then(|b| SessionDescription::parse(b).ok())
        } else {
            self.b_leg(id, transferee)
                .and_then(|b| b.sdp_answer.clone())
        };
        let mut offer = parse_offer(&c.a_invite)?;
        let format = talks_in.as_ref().and_then(chosen_format);
        if let Some((pt, dtmf)) = format {
            let keep: Vec<sdp::Codec> = self
                .cfg
                .codecs
                .iter()
                .filter(|codec| {
                    talks_in
                        .as_ref()
                        .and_then(|s| s.media.iter().find(|m| m.media == "audio"))
                        .is_some_and(|m| {
                            codec.matches(m, pt) || dtmf.is_some_and(|d| codec.matches(m, d))
                        })
                })
                .cloned()
                .collect();
            sdp::restrict_offer(&mut offer, &keep);
        }
        let audio = first_audio(&offer)?;
        let port = match side {
            MediaLeg::A => bridge.port_a,
            MediaLeg::B => bridge.port_b,
        };
        offer.media[audio].set_direction(Direction::SendRecv);
        anchor_one(&mut offer, audio, self.cfg.advertise, port);
        Some((offer, format))
    }

    /// Where `leg`'s media comes from, by its SDP.
    fn remote_media(&self, id: u64, leg: LegId) -> Option<SocketAddr> {
        let c = self.calls.get(&id)?;
        let s = if leg == LegId::A {
            parse_offer(&c.a_invite)?
        } else {
            self.b_leg(id, leg)?.sdp_answer.clone()?
        };
        media_addr(&s, first_audio(&s)?)
    }

    /// A transfer target rings or sends early media.
    pub(super) fn transfer_progress(
        &mut self,
        id: u64,
        leg: LegId,
        code: u16,
        sdp: Option<Vec<u8>>,
        now: Instant,
    ) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let bridge = c.bridge;
        let Some(t) = c.transfer.as_mut() else { return };
        let (from, side) = (t.from, t.side);
        let tell = !std::mem::replace(&mut t.ringing_told, true);
        if let (Some(addr), Some(bridge)) = (sdp_audio_addr(sdp.as_deref()), bridge) {
            // The carrier's ringback or announcement replaces hotline's: heard by the
            // transferee, while the transferor is no longer heard.
            info!(leg = leg.0, %addr, "early media from the transfer target");
            self.media.stop_play(bridge.id, other(side), Some(RINGBACK));
            self.media.update_remote(bridge.id, side, addr);
            self.media.set_direction(bridge.id, side, true, false);
        }
        if tell {
            let frag = if code == 180 {
                "SIP/2.0 180 Ringing"
            } else {
                "SIP/2.0 183 Session Progress"
            };
            self.notify_refer(id, from, frag, false, now);
        }
    }

    /// The transfer target answered: it talks with the transferee from now on.
    pub(super) fn transferred(
        &mut self,
        id: u64,
        from: LegId,
        to: LegId,
        sdp: Option<Vec<u8>>,
        now: Instant,
    ) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(t) = c.transfer.take() else { return };
        let _g = c.span.clone().entered();
        info!(from = from.0, to = to.0, number = %t.number, "transfer completed");
        if let Some(bridge) = c.bridge {
            self.media
                .stop_play(bridge.id, other(t.side), Some(RINGBACK));
            if let Some(addr) = sdp_audio_addr(sdp.as_deref()) {
                self.media.update_remote(bridge.id, t.side, addr);
            }
            self.media.set_direction(bridge.id, t.side, true, true);
            self.media
                .set_direction(bridge.id, other(t.side), true, true);
        }
        self.notify_refer(id, from, "SIP/2.0 200 OK", true, now);
        // A transferor reached through a trunk gives its channel back now, not at the call's end.
        self.release_leg_trunk(id, from);
        // A transferee the transferor had put on hold is taken off hold with hotline's own
        // re-offer (its last session, sendrecv): the only re-INVITE a transfer costs it.
        let held = self.calls.get(&id).and_then(|c| {
            let last = if t.transferee == LegId::A {
                c.a.local_sdp.as_deref()
            } else {
                c.b.iter()
                    .find(|b| b.leg == t.transferee)
                    .and_then(|b| b.side.local_sdp.as_deref())
            };
            let s = SessionDescription::parse(last?).ok()?;
            let audio = first_audio(&s)?;
            (s.direction(audio) != Direction::SendRecv).then_some((s, audio))
        });
        if let Some((mut s, audio)) = held {
            info!("taking the transferee off hold");
            s.media[audio].set_direction(Direction::SendRecv);
            s.bump_version();
            if let Some(c) = self.calls.get_mut(&id) {
                c.core.handle(
                    Input::Reoffer {
                        leg: t.transferee,
                        sdp: Some(s.to_sdp_string().into_bytes()),
                    },
                    now,
                );
            }
        }
    }

    /// No transfer target answered: the phone is told why; the transferor talks with the
    /// transferee again if still there (the core ends the call otherwise).
    pub(super) fn transfer_failed(
        &mut self,
        id: u64,
        from: LegId,
        code: u16,
        reason: &str,
        from_up: bool,
        now: Instant,
    ) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let t = c.transfer.take();
        let bridge = c.bridge;
        let _g = c.span.clone().entered();
        let reason = if reason.is_empty() {
            reason_phrase(code, "")
        } else {
            reason.to_string()
        };
        warn!(from = from.0, code, %reason, from_up, "transfer failed");
        if let (Some(t), Some(bridge)) = (t, bridge) {
            self.media
                .stop_play(bridge.id, other(t.side), Some(RINGBACK));
            if from_up {
                if let Some(addr) = t.from_addr {
                    self.media.update_remote(bridge.id, t.side, addr);
                }
                self.media.set_direction(bridge.id, t.side, true, true);
            }
        }
        self.notify_refer(id, from, &format!("SIP/2.0 {code} {reason}"), true, now);
    }

    /// A NOTIFY of the implicit `refer` subscription (RFC 3515 §2.4.4) on `leg`.
    fn notify_refer(&mut self, id: u64, leg: LegId, frag: &str, terminated: bool, now: Instant) {
        let host_port = self.host_port();
        let Some(side) = self
            .calls
            .get_mut(&id)
            .and_then(|c| super::session::side_mut(c, leg))
        else {
            return;
        };
        let peer = side.peer;
        let Ok(mut m) = side.request(Method::Notify, &host_port) else {
            return;
        };
        m.push_header("Event", "refer");
        m.push_header(
            "Subscription-State",
            if terminated {
                "terminated;reason=noresource"
            } else {
                "active;expires=60"
            },
        );
        m.set_body(
            format!("{frag}\r\n").into_bytes(),
            Some("message/sipfrag;version=2.0"),
        );
        if let Ok(k) = self.tx.send_request(m, peer, now) {
            self.tx_roles.insert(k, TxRole::Fire);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_values() {
        assert_eq!(
            parse_refer_to("<sip:1002@10.0.0.1>"),
            Ok(ReferTo::Number("1002".into()))
        );
        assert_eq!(
            parse_refer_to("sip:07712345678@carrier;user=phone"),
            Ok(ReferTo::Number("07712345678".into()))
        );
        assert_eq!(
            parse_refer_to("<tel:+8613800138000>"),
            Ok(ReferTo::Number("8613800138000".into()))
        );
        assert_eq!(
            parse_refer_to("<sip:1002@h?Replaces=abc%3Bto-tag%3Dx%3Bfrom-tag%3Dy>"),
            Ok(ReferTo::Replaces)
        );
        assert!(parse_refer_to("<mailto:x@y>").is_err());
        assert!(parse_refer_to("<sip:alice@h>").is_err());
        assert!(parse_refer_to("").is_err());
    }
}
