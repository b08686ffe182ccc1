//! RFC 4028 session timers on the engine's legs: the glue between the sans-IO negotiation and
//! [`SessionTimer`] in [`crate::sip::dialog::session_timer`] and the engine's calls.
//!
//! Each leg negotiates on its own (a B2BUA is the UAS of the caller's dialog and the UAC of each
//! B-leg): an INVITE, re-INVITE or UPDATE asking for too short an interval gets 422 with our
//! Min-SE; a 2xx starts or refreshes that leg's timer; when hotline is the refresher it sends an
//! UPDATE (or, if the peer does not allow UPDATE, a re-INVITE repeating the last SDP) at half the
//! interval; a leg whose session expires ends the whole call with BYE both ways ("session
//! expired"). Why: a far end that vanished without BYE (a crashed phone, a carrier failover) would
//! otherwise hold a trunk channel and an agent until media timeout, or forever when media is on hold.

use std::time::Instant;

use tracing::{debug, info, warn};

use crate::call::core::{Input, LegId};
use crate::sip::dialog::session_timer::{self, SessionExpires};
use crate::sip::dialog::{Negotiated, SessionTimer, SessionTimerEvent, UasDecision};
use crate::sip::message::{Method, SipMessage};
use crate::sip::transaction::TxKey;

use super::dialog::Side;
use super::media::MediaControl;
use super::{CallCtx, Engine, Output, Timer, TxRole};

/// The side of `leg` in call `c`.
pub(super) fn side_mut(c: &mut CallCtx, leg: LegId) -> Option<&mut Side> {
    if leg == LegId::A {
        Some(&mut c.a)
    } else {
        c.b.iter_mut().find(|b| b.leg == leg).map(|b| &mut b.side)
    }
}

fn side(c: &CallCtx, leg: LegId) -> Option<&Side> {
    if leg == LegId::A {
        Some(&c.a)
    } else {
        c.b.iter().find(|b| b.leg == leg).map(|b| &b.side)
    }
}

/// The message's Allow header lists UPDATE.
pub(super) fn allows_update(msg: &SipMessage) -> bool {
    msg.headers("Allow").any(|v| {
        String::from_utf8_lossy(v)
            .split(',')
            .any(|m| m.trim().eq_ignore_ascii_case("UPDATE"))
    })
}

impl<M: MediaControl> Engine<M> {
    /// UAS check of an INVITE, re-INVITE or UPDATE before acting on it: answers 422 (interval
    /// below our Min-SE) or 400 (malformed Session-Expires/Min-SE) and returns `false`.
    pub(super) fn session_request_ok(
        &mut self,
        key: &TxKey,
        req: &SipMessage,
        now: Instant,
    ) -> bool {
        match session_timer::uas_negotiate(req, &self.cfg.session_timer) {
            Ok(UasDecision::Accept { .. }) => true,
            Ok(UasDecision::TooSmall { min_se }) => {
                info!(min_se, "session interval too small: 422");
                let mut r = SipMessage::response_to(
                    req,
                    422,
                    "Session Interval Too Small",
                    Some(&super::dialog::new_tag()),
                );
                r.push_header("Min-SE", min_se.to_string());
                self.respond(key, r, now);
                false
            }
            Err(e) => {
                self.reply(key, req, 400, &format!("Bad Request ({e})"), now);
                false
            }
        }
    }

    /// For the 2xx hotline sends to `req` on `leg` (an INVITE, re-INVITE or UPDATE it received):
    /// adds the negotiated Session-Expires (and Require: timer) to `resp` and starts or refreshes
    /// the leg's timer. Also remembers whether the peer takes UPDATE for our own refreshes.
    pub(super) fn session_answer(
        &mut self,
        id: u64,
        leg: LegId,
        req: &SipMessage,
        resp: &mut SipMessage,
        now: Instant,
    ) {
        let timer = match session_timer::uas_negotiate(req, &self.cfg.session_timer) {
            Ok(UasDecision::Accept { headers, timer }) => {
                for (name, value) in headers {
                    resp.push_header(name, value);
                }
                timer
            }
            // Checked when the request came in; nothing to run if it changed its mind.
            Ok(UasDecision::TooSmall { .. }) | Err(_) => None,
        };
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.done {
            return;
        }
        let Some(side) = side_mut(c, leg) else { return };
        // A re-INVITE without Allow says nothing new about what the peer takes.
        if req.header("Allow").is_some() {
            side.allows_update = allows_update(req);
        }
        match timer {
            Some(n) => self.run_session(id, leg, n, now),
            None => {
                if let Some(s) = side.session.as_mut() {
                    s.stop();
                }
                side.session = None;
            }
        }
    }

    /// A 2xx to an INVITE, re-INVITE or UPDATE hotline sent on `leg` (RFC 4028 §7.2).
    pub(super) fn session_uac_2xx(&mut self, id: u64, leg: LegId, resp: &SipMessage, now: Instant) {
        let negotiated = match session_timer::uac_on_2xx(resp) {
            Ok(n) => n,
            Err(e) => {
                debug!(error = %e, "2xx with a malformed Session-Expires: timer unchanged");
                return;
            }
        };
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.done {
            return;
        }
        let Some(side) = side_mut(c, leg) else { return };
        if resp.header("Allow").is_some() {
            side.allows_update = allows_update(resp);
        }
        match negotiated {
            Some(n) => self.run_session(id, leg, n, now),
            // A peer that knows timers and leaves Session-Expires out turned them off (§7.2);
            // one that does not know them ignored the header of a session we run ourselves.
            None if session_timer::supports_timer(resp) => side.session = None,
            None => {
                if let Some(n) = side.session.as_ref().map(SessionTimer::negotiated) {
                    self.run_session(id, leg, n, now);
                }
            }
        }
    }

    /// Starts or refreshes the timer of `leg` and arms the engine timer for it.
    fn run_session(&mut self, id: u64, leg: LegId, n: Negotiated, now: Instant) {
        let Some(side) = self.calls.get_mut(&id).and_then(|c| side_mut(c, leg)) else {
            return;
        };
        match side.session.as_mut() {
            Some(t) => t.refreshed(n, now),
            None => side.session = Some(SessionTimer::new(n, now)),
        }
        debug!(
            leg = leg.0,
            interval = n.delta,
            we_refresh = n.local_refresher,
            "session timer running"
        );
        self.arm_session(id, leg);
    }

    fn arm_session(&mut self, id: u64, leg: LegId) {
        let at = self
            .calls
            .get(&id)
            .and_then(|c| side(c, leg))
            .and_then(|s| s.session.as_ref())
            .and_then(SessionTimer::poll_timeout);
        if let Some(at) = at {
            self.arm(at, Timer::Session(id, leg));
        }
    }

    /// The leg's session is over (BYE sent or received): its timer must not end the call.
    pub(super) fn stop_session(&mut self, id: u64, leg: LegId) {
        if let Some(side) = self.calls.get_mut(&id).and_then(|c| side_mut(c, leg)) {
            side.session = None;
        }
    }

    pub(super) fn on_session_timer(&mut self, id: u64, leg: LegId, now: Instant) {
        let mut events = Vec::new();
        {
            let Some(c) = self.calls.get_mut(&id) else {
                return;
            };
            if c.done {
                return;
            }
            let Some(t) = side_mut(c, leg).and_then(|s| s.session.as_mut()) else {
                return;
            };
            // Earlier entries for a timer that was refreshed since are stale.
            if t.poll_timeout().is_none_or(|at| at > now) {
                return;
            }
            while let Some(ev) = t.handle_timeout(now) {
                events.push(ev);
            }
        }
        for ev in events {
            match ev {
                SessionTimerEvent::RefreshDue => self.send_refresh(id, leg, None, now),
                SessionTimerEvent::Expired => return self.session_expired(id, leg, now),
            }
        }
        self.arm_session(id, leg);
    }

    pub(super) fn session_expired(&mut self, id: u64, leg: LegId, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let _g = c.span.clone().entered();
        warn!(
            leg = leg.0,
            "session expired without a refresh: ending the call"
        );
        for l in std::iter::once(LegId::A).chain(c.b.iter().map(|b| b.leg).collect::<Vec<_>>()) {
            if let Some(s) = side_mut(c, l) {
                s.session = None;
            }
        }
        c.core.handle(Input::SessionExpired, now);
        self.run_call(id, now);
    }

    /// Sends a session refresh on `leg`: UPDATE without a body when the peer allows it, else a
    /// re-INVITE with the SDP we last sent there. `interval` overrides the running one (after 422).
    fn send_refresh(&mut self, id: u64, leg: LegId, interval: Option<u32>, now: Instant) {
        let host_port = self.host_port();
        let cfg = self.cfg.session_timer;
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(side) = side_mut(c, leg) else { return };
        if side.refreshing {
            debug!(
                leg = leg.0,
                "refresh skipped: the previous one is still under way"
            );
            return;
        }
        let Some(delta) = interval.or(side.session.as_ref().map(|t| t.negotiated().delta)) else {
            return;
        };
        let (method, body) = if side.allows_update {
            (Method::Update, None)
        } else {
            match side.local_sdp.clone() {
                Some(sdp) => (Method::Invite, Some(sdp)),
                None => {
                    warn!(
                        leg = leg.0,
                        "no UPDATE and no SDP to repeat: session not refreshed"
                    );
                    return;
                }
            }
        };
        let peer = side.peer;
        let mut m = match side.request(method.clone(), &host_port) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "session refresh not built");
                return;
            }
        };
        for (name, value) in refresh_headers(&cfg, delta, true) {
            m.push_header(name, value);
        }
        if let Some(b) = body {
            m.set_body(b, Some("application/sdp"));
        }
        debug!(
            leg = leg.0,
            ?method,
            interval = delta,
            "refreshing the session"
        );
        match self.tx.send_request(m, peer, now) {
            Ok(k) => {
                side.refreshing = true;
                self.tx_roles.insert(k, TxRole::Refresh(id, leg));
            }
            Err(e) => warn!(error = %e, "session refresh not sent"),
        }
    }

    /// The answer to a refresh hotline sent on `leg`.
    pub(super) fn on_refresh_response(
        &mut self,
        id: u64,
        leg: LegId,
        code: u16,
        resp: &SipMessage,
        now: Instant,
    ) {
        if code < 200 {
            return;
        }
        if let Some(side) = self.calls.get_mut(&id).and_then(|c| side_mut(c, leg)) {
            side.refreshing = false;
        }
        match code {
            ..=199 => {}
            200..=299 => {
                let host_port = self.host_port();
                let is_invite = resp.cseq().is_ok_and(|c| c.method == Method::Invite);
                let seq = resp.cseq().map(|c| c.seq).unwrap_or(1);
                if let Some(side) = self.calls.get_mut(&id).and_then(|c| side_mut(c, leg)) {
                    if let Some(d) = side.dialog.as_mut() {
                        d.on_refresh_response(resp);
                    }
                    if is_invite {
                        if let Ok(ack) = side.ack(seq, &host_port) {
                            let peer = side.peer;
                            self.out.push_back(Output::Transmit {
                                bytes: ack.to_bytes(),
                                peer,
                            });
                        }
                    }
                }
                self.session_uac_2xx(id, leg, resp, now);
            }
            422 => {
                let previous = self
                    .calls
                    .get(&id)
                    .and_then(|c| side(c, leg))
                    .and_then(|s| s.session.as_ref())
                    .map(|t| t.negotiated().delta)
                    .unwrap_or(self.cfg.session_timer.session_expires);
                match session_timer::uac_on_422(resp, previous) {
                    Ok(larger) if larger > previous => {
                        self.send_refresh(id, leg, Some(larger), now)
                    }
                    _ => warn!(leg = leg.0, "422 to our refresh without a larger Min-SE"),
                }
            }
            // The peer no longer knows the dialog or does not answer: the session is gone (§10).
            408 | 481 => self.session_expired(id, leg, now),
            _ => {
                // The session still expires at its time unless something else refreshes it.
                warn!(leg = leg.0, code, "session refresh refused");
            }
        }
    }

    /// A B-leg INVITE got 422: resend it with the interval the callee asks for (RFC 4028 §7.3).
    /// `false` when that is not possible (then the 422 is a failure like any other).
    pub(super) fn retry_b_after_422(
        &mut self,
        id: u64,
        leg: LegId,
        resp: &SipMessage,
        now: Instant,
    ) -> bool {
        let host_port = self.host_port();
        let Some(b) = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.b.iter_mut().find(|b| b.leg == leg))
        else {
            return false;
        };
        let previous = SessionExpires::from_message(&b.invite)
            .ok()
            .flatten()
            .map(|s| s.delta)
            .unwrap_or(0);
        let larger = match session_timer::uac_on_422(resp, previous) {
            Ok(v) if v > previous => v,
            _ => return false,
        };
        let mut invite = b.invite.clone();
        let seq = invite.cseq().map(|c| c.seq).unwrap_or(1) + 1;
        invite.replace_header("CSeq", format!("{seq} INVITE"));
        invite.remove_headers("Via");
        invite.prepend_via(&super::dialog::via(b.side.peer, &host_port));
        invite.replace_header("Session-Expires", larger.to_string());
        invite.replace_header("Min-SE", larger.to_string());
        b.invite = invite.clone();
        let peer = b.side.peer;
        match self.tx.send_request(invite, peer, now) {
            Ok(k) => {
                if let Some(b) = self
                    .calls
                    .get_mut(&id)
                    .and_then(|c| c.b.iter_mut().find(|b| b.leg == leg))
                {
                    b.key = Some(k.clone());
                }
                self.tx_roles.insert(k, TxRole::BInvite(id, leg));
                info!(
                    leg = leg.0,
                    interval = larger,
                    "callee wants a longer session interval: INVITE resent"
                );
                true
            }
            Err(e) => {
                warn!(error = %e, "INVITE after 422 not sent");
                false
            }
        }
    }

    /// Session-timer headers for a re-INVITE or UPDATE hotline sends on `leg`.
    pub(super) fn session_request_headers(
        &self,
        id: u64,
        leg: LegId,
    ) -> Vec<(&'static str, String)> {
        let cfg = &self.cfg.session_timer;
        match self
            .calls
            .get(&id)
            .and_then(|c| side(c, leg))
            .and_then(|s| s.session.as_ref())
        {
            Some(t) => refresh_headers(cfg, t.negotiated().delta, t.negotiated().local_refresher),
            None => session_timer::request_headers(cfg, None),
        }
    }
}

/// Headers of a refresh of a running session that hotline sends: the same interval, and the same
/// side refreshing (`we_refresh`: hotline, the UAC of this request); the peer may change it in
/// its 2xx.
fn refresh_headers(
    cfg: &session_timer::SessionTimerConfig,
    delta: u32,
    we_refresh: bool,
) -> Vec<(&'static str, String)> {
    vec![
        ("Supported", "timer".to_owned()),
        (
            "Session-Expires",
            SessionExpires {
                delta,
                refresher: Some(if we_refresh {
                    session_timer::Refresher::Uac
                } else {
                    session_timer::Refresher::Uas
                }),
            }
            .to_header_value(),
        ),
        ("Min-SE", cfg.min_se.min(delta).to_string()),
    ]
}
