//! One B2BUA call as a sans-IO state machine: the A-leg (the citizen's INVITE, from a trunk or an
//! agent dialling out) and the B-legs hotline creates toward the target (several when forking to
//! all contacts of an extension or a ring group).
//!
//! The core speaks in legs, not SIP messages: the SIP shell turns requests and responses into
//! [`Input`]s and carries out [`Action`]s. Session descriptions pass through as opaque bytes; the
//! shell rewrites them to hotline's RTP ports when it carries an action out (media anchoring), so
//! this core decides only *which* description goes *where*.
//!
//! Drive it like every core in hotline: [`Call::handle`] one input with the current time, then
//! drain [`Call::poll_action`] until it returns `None`; [`Call::poll_timeout`] says when to call
//! [`Call::handle_timeout`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A leg of this call: 0 is the A-leg, 1.. are B-legs in the order they were created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u16);

impl LegId {
    pub const A: LegId = LegId(0);
}

/// Where a B-leg goes: a registered contact, a fixed device, or a trunk peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Request-URI for the B-leg INVITE.
    pub uri: String,
    /// What CDRs call the far end: an extension number or a trunk name.
    pub peer: String,
    /// Where to send the INVITE: the address a device registered from (it may sit behind NAT),
    /// a fixed device's address, or the trunk's peer. `None` lets the shell resolve the URI.
    pub dest: Option<std::net::SocketAddr>,
}

/// An event from the SIP shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A provisional response (180/183) on a B-leg, with early media when it carries SDP.
    Progress {
        leg: LegId,
        code: u16,
        sdp: Option<Vec<u8>>,
    },
    /// A B-leg answered (its 2xx), with the SDP answer.
    Answered { leg: LegId, sdp: Option<Vec<u8>> },
    /// A B-leg failed with a final response (or a timeout / transport error mapped to a code).
    Failed {
        leg: LegId,
        code: u16,
        reason: String,
    },
    /// The caller cancelled the A-leg INVITE before it was answered.
    Cancelled,
    /// A BYE arrived on `leg`.
    Bye { leg: LegId },
    /// A re-INVITE (hold, unhold, codec change) arrived on `leg` with its offer.
    Reinvite { leg: LegId, sdp: Option<Vec<u8>> },
    /// The other side answered a re-INVITE hotline relayed onto `leg`.
    ReinviteAnswered {
        leg: LegId,
        code: u16,
        sdp: Option<Vec<u8>>,
    },
    /// The media relay saw no RTP from either side for too long.
    MediaTimeout,
    /// The caller never acknowledged our 200 (no ACK within 64*T1).
    AckTimeout,
    /// A leg's RFC 4028 session expired without a refresh: the far end is presumed gone.
    SessionExpired,
    /// The node is shutting down and this call must end now.
    Terminate,
    /// A hosted call (answered by hotline: IVR, queue) rings these targets; the caller stays
    /// connected to hotline until one answers. Ignored while another connect is under way.
    Connect {
        targets: Vec<Target>,
        ring_timeout: Duration,
    },
    /// A hosted call lets its B-side go (ringing legs cancelled, a connected one ended); the
    /// caller stays with hotline.
    Disconnect,
    /// A hosted call lets these B-legs go (one agent's offer withdrawn while others ring).
    DropLegs(Vec<LegId>),
    /// Hotline ends the call (the IVR hung up, a refusal was played).
    Hangup { cause: String },
    /// A hosted call ends because of `by` (the number hotline dialled hung up: [`Hangup::Callee`]).
    HangupBy { by: Hangup, cause: String },
    /// A hosted call brings in one more party beside the caller and the connected agent (a
    /// supervisor, a consulted colleague or department): a leg of its own, offered `sdp` (the
    /// party's own relay port), ringing at most `ring_timeout`. It takes the next [`Call::next_leg`].
    AddParty {
        target: Target,
        sdp: Option<Vec<u8>>,
        ring_timeout: Duration,
    },
    /// Lets a party leg go (cancelled while ringing, BYE once answered).
    DropParty(LegId),
    /// Blind transfer on a plain (not hosted) connected call (RFC 3515 REFER): leg `from` (one
    /// of the two talking) asks that the other one, the transferee, talk to `targets` instead.
    /// The transferee stays on its leg and port; the targets ring on new legs offered `sdp`
    /// (all at once, or one after the other like outbound failover) for at most `ring_timeout`.
    /// The first to answer replaces `from` ([`Action::Transferred`], then `from` gets BYE);
    /// when none does, `from` is talked to again, or the call ends if `from` has left
    /// ([`Action::TransferFailed`]).
    Transfer {
        from: LegId,
        targets: Vec<Target>,
        hunt: Hunt,
        sdp: Option<Vec<u8>>,
        ring_timeout: Duration,
    },
    /// Hotline itself offers `sdp` to `leg` by re-INVITE (a transferee left on hold by the
    /// transferor is taken off hold); its answer goes nowhere else.
    Reoffer { leg: LegId, sdp: Option<Vec<u8>> },
}

/// Something the SIP shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an INVITE on a new B-leg to `target` carrying the caller's offer.
    Invite {
        leg: LegId,
        target: Target,
        sdp: Option<Vec<u8>>,
    },
    /// Send a provisional response to the caller (180, or 183 with early media).
    Provisional { code: u16, sdp: Option<Vec<u8>> },
    /// Answer the caller with 200 and this SDP.
    Answer { sdp: Option<Vec<u8>> },
    /// Refuse the caller with a final response.
    Reject { code: u16, reason: String },
    /// Cancel a B-leg INVITE still ringing (`completed_elsewhere` adds the RFC 3326 reason).
    Cancel {
        leg: LegId,
        completed_elsewhere: bool,
    },
    /// End an established leg with BYE.
    Bye { leg: LegId },
    /// Acknowledge then end a B-leg that answered after the call was already over.
    AckAndBye { leg: LegId },
    /// Relay a re-INVITE onto `leg`.
    Reinvite { leg: LegId, sdp: Option<Vec<u8>> },
    /// Send hotline's own re-offer ([`Input::Reoffer`]) on `leg`, as it is.
    Reoffer { leg: LegId, sdp: Option<Vec<u8>> },
    /// Answer a re-INVITE that arrived on `leg`.
    ReinviteResponse {
        leg: LegId,
        code: u16,
        sdp: Option<Vec<u8>>,
    },
    /// Connect media of the A-leg and this B-leg (the relay starts forwarding both ways).
    Bridge { b: LegId },
    /// Hosted call: a B-leg answered a [`Input::Connect`] and is bridged.
    Connected { b: LegId },
    /// Hosted call: no target of a [`Input::Connect`] answered (the best failure code).
    ConnectFailed { code: u16, reason: String },
    /// Hosted call: the connected B-leg hung up (or was let go); the caller is with hotline again.
    Disconnected { b: LegId, by_callee: bool },
    /// Hosted call: a B-leg that never answered is over (its final code; 487 when cancelled,
    /// 480 when it rang out).
    LegEnded { leg: LegId, code: u16 },
    /// A ringing party leg sent early media (a 183 with SDP: a carrier's ringback or an
    /// announcement such as "the number is switched off").
    PartyEarly { leg: LegId, sdp: Option<Vec<u8>> },
    /// A party leg ([`Input::AddParty`]) answered, with its SDP answer.
    PartyAnswered { leg: LegId, sdp: Option<Vec<u8>> },
    /// A party leg did not answer (busy, no answer, unreachable).
    PartyFailed {
        leg: LegId,
        code: u16,
        reason: String,
    },
    /// An answered party leg hung up.
    PartyLeft { leg: LegId },
    /// The caller hung up; the agent and the parties talk on (the caller's leg is over).
    CallerLeft,
    /// A transfer target rings (180) or sends early media (183 with SDP).
    TransferProgress {
        leg: LegId,
        code: u16,
        sdp: Option<Vec<u8>>,
    },
    /// A transfer target answered (its SDP answer): the transferee now talks with leg `to`;
    /// leg `from` (the transferor) gets its BYE next unless it has already left.
    Transferred {
        from: LegId,
        to: LegId,
        sdp: Option<Vec<u8>>,
    },
    /// No transfer target answered (`code`, `reason`); `from_up`: the transferor is still on
    /// the line and talks with the transferee again (otherwise the call ends).
    TransferFailed {
        from: LegId,
        code: u16,
        reason: String,
        from_up: bool,
    },
    /// The call is over: write this summary and forget the call.
    Finished(Summary),
}

/// Why and how a call ended, for the CDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub answered_by: Option<LegId>,
    pub answer_at: Option<Instant>,
    pub end_at: Instant,
    /// The final SIP code the caller saw (200 when answered).
    pub sip_code: u16,
    pub hangup: Hangup,
    pub cause: String,
    pub legs: Vec<LegSummary>,
    /// The A-leg was transferred away (its party referred the other one elsewhere) at this time.
    pub a_transferred_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hangup {
    Caller,
    Callee,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSummary {
    pub leg: LegId,
    pub target: Target,
    pub start_at: Instant,
    pub answer_at: Option<Instant>,
    pub end_at: Option<Instant>,
    pub code: u16,
    /// The leg's party transferred the call away (blind transfer by REFER) and left.
    pub transferred: bool,
}

/// How B-legs are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hunt {
    /// Ring every target at once (an extension's devices, a ring group).
    Parallel,
    /// One target at a time; the next only when the current one fails for a reason of its own
    /// (timeout, 5xx, 503: a trunk down or full), not when the far end answered "busy" or "no
    /// such number". This is outbound failover across trunks by priority.
    Failover,
}

/// Limits of one call.
#[derive(Debug, Clone, Copy)]
pub struct CallPolicy {
    /// Ring this long without an answer, then give up with 480.
    pub ring_timeout: Duration,
    pub hunt: Hunt,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy {
            ring_timeout: Duration::from_secs(60),
            hunt: Hunt::Parallel,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    Trying,
    Early,
    Answered,
    /// CANCEL sent; waiting for its 487 (or a crossing 200).
    Cancelling,
    Ended,
}

#[derive(Debug)]
struct BLeg {
    id: LegId,
    target: Target,
    state: LegState,
    start_at: Instant,
    answer_at: Option<Instant>,
    end_at: Option<Instant>,
    code: u16,
    /// A party beside the caller and agent (not a fork of the B-side): [`Input::AddParty`].
    party: bool,
    /// A ringing party gives up at this time.
    party_deadline: Option<Instant>,
    /// A target of a blind transfer ([`Input::Transfer`]).
    transfer: bool,
    /// This leg's party transferred the call away and left.
    transferred: bool,
}

/// A blind transfer under way on a plain call.
#[derive(Debug)]
struct Transfer {
    /// The transferor's leg.
    from: LegId,
    /// The transferor has left (hung up after the 202, as a blind transfer allows).
    from_gone: bool,
    sdp: Option<Vec<u8>>,
    hunt: Hunt,
    waiting: VecDeque<Target>,
    deadline: Instant,
    best_failure: Option<(u16, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Hosted call: answered by hotline, no B-leg connected or ringing.
    Hosted,
    /// B-legs are ringing; the caller waits.
    Ringing,
    /// One B-leg answered and is bridged to the caller.
    Connected(LegId),
    /// The call is over from the caller's side; B-legs may still be cancelling.
    Ending,
    /// Everything is done and the summary was emitted.
    Done,
}

/// A re-INVITE being relayed: who asked, and who must answer.
#[derive(Debug, Clone, Copy)]
struct PendingReinvite {
    from: LegId,
    to: LegId,
    /// Hotline's own offer ([`Input::Reoffer`]): the answer is not relayed.
    own: bool,
}

/// One call.
#[derive(Debug)]
pub struct Call {
    policy: CallPolicy,
    started_at: Instant,
    offer: Option<Vec<u8>>,
    legs: Vec<BLeg>,
    phase: Phase,
    /// The caller has seen early media from this leg (so later 183s from others are not relayed).
    early_from: Option<LegId>,
    ringing_sent: bool,
    answer_at: Option<Instant>,
    final_code: Option<u16>,
    hangup: Hangup,
    cause: String,
    /// The most telling failure so far, used when every B-leg has failed (RFC 3261 §16.7 style).
    best_failure: Option<(u16, String)>,
    reinvite: Option<PendingReinvite>,
    ring_deadline: Option<Instant>,
    /// Targets not tried yet ([`Hunt::Failover`]).
    waiting: VecDeque<Target>,
    /// Hotline answered the caller itself; B-legs come and go while the caller stays.
    hosted: bool,
    /// The caller hung up while the agent and a party talked on (a three-way call goes on).
    caller_gone: bool,
    /// Hotline placed this call itself (an agent's desktop dial, a callback): there is no A-leg;
    /// the agent is its B-side and the number dialled its first party. The call counts as
    /// answered when that party answers, and its final code is that party's.
    originated: bool,
    /// The leg on the caller's side of the pair talking: the A-leg, until its party transfers
    /// the call away and a transfer target takes its place.
    front: LegId,
    /// The A-leg left by a transfer (its party transferred the call) at this time.
    a_left: Option<Instant>,
    a_transferred: bool,
    /// A blind transfer under way ([`Input::Transfer`]).
    transfer: Option<Transfer>,
    actions: VecDeque<Action>,
}

impl Call {
    /// A new call for the caller's INVITE (with its SDP offer), ringing `targets` at once.
    /// With no targets the caller is refused at once with 480.
    pub fn new(
        targets: Vec<Target>,
        offer: Option<Vec<u8>>,
        policy: CallPolicy,
        now: Instant,
    ) -> Call {
        let mut call = Call {
            policy,
            started_at: now,
            offer,
            legs: Vec::new(),
            phase: Phase::Ringing,
            early_from: None,
            ringing_sent: false,
            answer_at: None,
            final_code: None,
            hangup: Hangup::System,
            cause: String::new(),
            best_failure: None,
            reinvite: None,
            ring_deadline: Some(now + policy.ring_timeout),
            waiting: VecDeque::new(),
            hosted: false,
            caller_gone: false,
            originated: false,
            front: LegId::A,
            a_left: None,
            a_transferred: false,
            transfer: None,
            actions: VecDeque::new(),
        };
        if targets.is_empty() {
            call.fail_caller(480, "no registered device for the called number", now);
            return call;
        }
        match policy.hunt {
            Hunt::Parallel => {
                for target in targets {
                    call.add_leg(target, now);
                }
            }
            Hunt::Failover => {
                call.waiting = targets.into();
                if let Some(first) = call.waiting.pop_front() {
                    call.add_leg(first, now);
                }
            }
        }
        call
    }

    /// A call hotline answers itself (IVR, queue): [`Action::Answer`] with no SDP (the shell
    /// makes hotline's own answer to the caller's offer); `offer` is what later B-legs get.
    pub fn hosted(offer: Option<Vec<u8>>, policy: CallPolicy, now: Instant) -> Call {
        let mut call = Call::new(Vec::new(), offer, policy, now);
        call.actions.clear();
        call.phase = Phase::Hosted;
        call.hosted = true;
        call.ring_deadline = None;
        call.final_code = Some(200);
        call.answer_at = Some(now);
        call.actions.push_back(Action::Answer { sdp: None });
        call
    }

    /// A call hotline places itself: no A-leg, nothing answered yet. The shell first rings the
    /// agent with [`Input::Connect`] (`offer` is what the agent's devices get), then dials the
    /// number with [`Input::AddParty`].
    pub fn originated(offer: Option<Vec<u8>>, policy: CallPolicy, now: Instant) -> Call {
        let mut call = Call::hosted(offer, policy, now);
        call.actions.clear();
        call.caller_gone = true;
        call.originated = true;
        call.answer_at = None;
        call.final_code = None;
        call
    }

    /// Whether hotline placed this call itself ([`Call::originated`]).
    pub fn is_originated(&self) -> bool {
        self.originated
    }

    /// Whether hotline answered this call itself.
    pub fn is_hosted(&self) -> bool {
        self.hosted
    }

    /// Whether the caller hung up while a three-way call went on without them.
    pub fn caller_gone(&self) -> bool {
        self.caller_gone
    }

    /// Whether a hosted call's B-side is ringing.
    pub fn is_connecting(&self) -> bool {
        self.hosted && self.phase == Phase::Ringing
    }

    fn add_leg(&mut self, target: Target, now: Instant) {
        let sdp = self.offer.clone();
        self.push_leg(target, sdp, None, now);
    }

    /// Sends the INVITE of a new leg; a party leg has a ring deadline of its own.
    fn push_leg(
        &mut self,
        target: Target,
        sdp: Option<Vec<u8>>,
        party_deadline: Option<Instant>,
        now: Instant,
    ) {
        let id = self.next_leg();
        self.actions.push_back(Action::Invite {
            leg: id,
            target: target.clone(),
            sdp,
        });
        self.legs.push(BLeg {
            id,
            target,
            state: LegState::Trying,
            start_at: now,
            answer_at: None,
            end_at: None,
            code: 0,
            party: party_deadline.is_some(),
            party_deadline,
            transfer: false,
            transferred: false,
        });
    }

    /// The id the next B-leg or party leg will get.
    pub fn next_leg(&self) -> LegId {
        LegId(self.legs.len() as u16 + 1)
    }

    fn is_party(&self, leg: LegId) -> bool {
        self.legs.iter().any(|l| l.id == leg && l.party)
    }

    fn on_add_party(
        &mut self,
        target: Target,
        sdp: Option<Vec<u8>>,
        ring_timeout: Duration,
        now: Instant,
    ) {
        let id = self.next_leg();
        if !self.hosted || matches!(self.phase, Phase::Ending | Phase::Done) {
            self.actions.push_back(Action::PartyFailed {
                leg: id,
                code: 481,
                reason: "the call is not up".into(),
            });
            return;
        }
        self.push_leg(target, sdp, Some(now + ring_timeout), now);
    }

    fn on_drop_party(&mut self, leg: LegId, now: Instant) {
        let Some(l) = self.legs.iter_mut().find(|l| l.id == leg && l.party) else {
            return;
        };
        match l.state {
            LegState::Trying | LegState::Early => {
                l.state = LegState::Cancelling;
                l.code = 487;
                l.end_at = Some(now);
                self.actions.push_back(Action::Cancel {
                    leg,
                    completed_elsewhere: false,
                });
            }
            LegState::Answered => {
                l.state = LegState::Ended;
                l.end_at = Some(now);
                self.actions.push_back(Action::Bye { leg });
            }
            _ => {}
        }
    }

    /// Lets every party go with the call.
    fn end_parties(&mut self, now: Instant) {
        let parties: Vec<LegId> = self.legs.iter().filter(|l| l.party).map(|l| l.id).collect();
        for leg in parties {
            self.on_drop_party(leg, now);
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Call::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ring = match self.phase {
            Phase::Ringing => self.ring_deadline,
            _ => None,
        };
        let party = self
            .legs
            .iter()
            .filter(|l| matches!(l.state, LegState::Trying | LegState::Early))
            .filter_map(|l| l.party_deadline)
            .min();
        let transfer = self.transfer.as_ref().map(|t| t.deadline);
        [ring, party, transfer].into_iter().flatten().min()
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The B-leg bridged to the caller, once answered.
    pub fn connected_leg(&self) -> Option<LegId> {
        match self.phase {
            Phase::Connected(b) => Some(b),
            _ => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.transfer.as_ref().is_some_and(|t| now >= t.deadline) {
            self.transfer_failed(480, "no answer".into(), now);
        }
        let rang_out: Vec<LegId> = self
            .legs
            .iter()
            .filter(|l| matches!(l.state, LegState::Trying | LegState::Early))
            .filter(|l| l.party_deadline.is_some_and(|d| now >= d))
            .map(|l| l.id)
            .collect();
        for leg in rang_out {
            self.on_drop_party(leg, now);
            self.actions.push_back(Action::PartyFailed {
                leg,
                code: 480,
                reason: "no answer".into(),
            });
        }
        if self.phase == Phase::Ringing && self.ring_deadline.is_some_and(|d| now >= d) {
            self.ring_deadline = None;
            if self.hosted {
                self.end_ringing_legs(false, now);
                self.back_to_hosted();
                self.actions.push_back(Action::ConnectFailed {
                    code: 480,
                    reason: "no answer".into(),
                });
            } else {
                self.fail_caller(480, "no answer", now);
            }
        }
    }

    fn on_connect(&mut self, targets: Vec<Target>, ring_timeout: Duration, now: Instant) {
        if !self.hosted {
            return;
        }
        if self.phase == Phase::Ringing {
            // Ring-all offers several agents in turn: their devices join the ringing set.
            for t in targets {
                self.add_leg(t, now);
            }
            return;
        }
        if self.phase != Phase::Hosted {
            return;
        }
        if targets.is_empty() {
            self.actions.push_back(Action::ConnectFailed {
                code: 480,
                reason: "no registered device".into(),
            });
            return;
        }
        self.phase = Phase::Ringing;
        self.ring_deadline = Some(now + ring_timeout);
        self.best_failure = None;
        match self.policy.hunt {
            Hunt::Parallel => {
                for t in targets {
                    self.add_leg(t, now);
                }
            }
            Hunt::Failover => {
                self.waiting = targets.into();
                if let Some(first) = self.waiting.pop_front() {
                    self.add_leg(first, now);
                }
            }
        }
    }

    fn on_drop_legs(&mut self, legs: &[LegId], now: Instant) {
        if !self.hosted {
            return;
        }
        if let Phase::Connected(b) = self.phase {
            if legs.contains(&b) {
                self.on_disconnect(now);
            }
            return;
        }
        for l in &mut self.legs {
            if legs.contains(&l.id)
                && !l.party
                && matches!(l.state, LegState::Trying | LegState::Early)
            {
                l.state = LegState::Cancelling;
                l.code = 487;
                l.end_at = Some(now);
                self.actions.push_back(Action::Cancel {
                    leg: l.id,
                    completed_elsewhere: false,
                });
            }
        }
        if self.phase == Phase::Ringing
            && !self
                .legs
                .iter()
                .any(|l| !l.party && matches!(l.state, LegState::Trying | LegState::Early))
        {
            self.back_to_hosted();
        }
    }

    fn on_disconnect(&mut self, now: Instant) {
        if !self.hosted {
            return;
        }
        match self.phase {
            Phase::Ringing => {
                self.end_ringing_legs(false, now);
                self.back_to_hosted();
            }
            Phase::Connected(b) => {
                self.actions.push_back(Action::Bye { leg: b });
                self.end_leg(b, now);
                self.back_to_hosted();
                self.actions.push_back(Action::Disconnected {
                    b,
                    by_callee: false,
                });
            }
            _ => {}
        }
    }

    fn back_to_hosted(&mut self) {
        self.phase = Phase::Hosted;
        self.ring_deadline = None;
        self.waiting.clear();
    }

    /// Ends a hosted call: the caller gets BYE (unless they hung up), B-legs are let go.
    fn hang_up_hosted(&mut self, who: Hangup, cause: String, now: Instant) {
        if !self.hosted {
            return;
        }
        if matches!(self.phase, Phase::Ending | Phase::Done) {
            return;
        }
        self.end_parties(now);
        match self.phase {
            Phase::Ending | Phase::Done => return,
            Phase::Ringing => self.end_ringing_legs(false, now),
            Phase::Connected(b) => {
                self.actions.push_back(Action::Bye { leg: b });
                self.end_leg(b, now);
            }
            Phase::Hosted => {}
        }
        if who != Hangup::Caller && !self.caller_gone {
            self.actions.push_back(Action::Bye { leg: LegId::A });
        }
        self.hangup = who;
        self.cause = cause;
        self.phase = Phase::Ending;
        self.maybe_finish(now);
    }

    pub fn handle(&mut self, input: Input, now: Instant) {
        if self.phase == Phase::Done {
            // Late messages for a finished call: answer what must be answered, change nothing.
            match input {
                Input::Answered { leg, .. } if leg != LegId::A => {
                    self.actions.push_back(Action::AckAndBye { leg })
                }
                Input::Reinvite { leg, .. } => self.actions.push_back(Action::ReinviteResponse {
                    leg,
                    code: 481,
                    sdp: None,
                }),
                _ => {}
            }
            return;
        }
        match input {
            Input::Progress { leg, code, sdp } => self.on_progress(leg, code, sdp),
            Input::Answered { leg, sdp } => self.on_answered(leg, sdp, now),
            Input::Failed { leg, code, reason } => self.on_failed(leg, code, reason, now),
            Input::Cancelled => {
                if self.phase == Phase::Ringing {
                    self.hangup = Hangup::Caller;
                    self.cause = "caller cancelled".into();
                    // The shell answers the INVITE with 487 as part of the CANCEL transaction.
                    self.final_code = Some(487);
                    self.end_ringing_legs(false, now);
                    self.phase = Phase::Ending;
                    self.maybe_finish(now);
                }
            }
            Input::Bye { leg } => self.on_bye(leg, now),
            Input::Reinvite { leg, sdp } => self.on_reinvite(leg, sdp),
            Input::ReinviteAnswered { leg, code, sdp } => {
                if let Some(p) = self.reinvite.filter(|p| p.to == leg) {
                    self.reinvite = None;
                    if p.own {
                        return;
                    }
                    self.actions.push_back(Action::ReinviteResponse {
                        leg: p.from,
                        code,
                        sdp,
                    });
                }
            }
            Input::MediaTimeout | Input::AckTimeout | Input::SessionExpired if self.hosted => {
                self.hang_up_hosted(Hangup::System, system_cause(&input).into(), now)
            }
            Input::MediaTimeout | Input::AckTimeout | Input::SessionExpired => {
                self.end_pair(Hangup::System, system_cause(&input).into(), now)
            }
            Input::Connect {
                targets,
                ring_timeout,
            } => self.on_connect(targets, ring_timeout, now),
            Input::Disconnect => self.on_disconnect(now),
            Input::DropLegs(legs) => self.on_drop_legs(&legs, now),
            Input::Hangup { cause } => self.hang_up_hosted(Hangup::System, cause, now),
            Input::HangupBy { by, cause } => self.hang_up_hosted(by, cause, now),
            Input::AddParty {
                target,
                sdp,
                ring_timeout,
            } => self.on_add_party(target, sdp, ring_timeout, now),
            Input::DropParty(leg) => self.on_drop_party(leg, now),
            Input::Terminate if self.hosted => {
                self.hang_up_hosted(Hangup::System, "shutdown".into(), now)
            }
            Input::Terminate => match self.phase {
                Phase::Ringing => self.fail_caller(503, "service shutting down", now),
                Phase::Connected(_) => self.end_pair(Hangup::System, "shutdown".into(), now),
                _ => {}
            },
            Input::Transfer {
                from,
                targets,
                hunt,
                sdp,
                ring_timeout,
            } => self.on_transfer(from, targets, hunt, sdp, ring_timeout, now),
            Input::Reoffer { leg, sdp } => {
                if self.reinvite.is_none() && self.leg_up(leg) {
                    self.reinvite = Some(PendingReinvite {
                        from: leg,
                        to: leg,
                        own: true,
                    });
                    self.actions.push_back(Action::Reoffer { leg, sdp });
                }
            }
        }
    }

    /// A leg answered when its answer is no longer wanted: it is taken (ACK) and hung up (BYE).
    fn ack_and_bye(&mut self, leg: LegId, now: Instant) {
        if let Some(l) = self.leg_mut(leg) {
            l.state = LegState::Ended;
            l.answer_at = Some(now);
            l.end_at = Some(now);
            l.code = 200;
        }
        self.actions.push_back(Action::AckAndBye { leg });
    }

    fn leg_mut(&mut self, id: LegId) -> Option<&mut BLeg> {
        self.legs.iter_mut().find(|l| l.id == id)
    }

    fn on_progress(&mut self, leg: LegId, code: u16, sdp: Option<Vec<u8>>) {
        if self.is_transfer_leg(leg) {
            return self.on_transfer_progress(leg, code, sdp);
        }
        if self.is_party(leg) {
            let ringing = self
                .leg_mut(leg)
                .filter(|l| matches!(l.state, LegState::Trying | LegState::Early))
                .map(|l| l.state = LegState::Early)
                .is_some();
            if ringing && sdp.is_some() {
                self.actions.push_back(Action::PartyEarly { leg, sdp });
            }
            return;
        }
        if self.phase != Phase::Ringing {
            return;
        }
        let Some(l) = self.leg_mut(leg) else { return };
        if l.state != LegState::Trying && l.state != LegState::Early {
            return;
        }
        l.state = LegState::Early;
        if self.hosted {
            // The caller was answered by hotline and hears its queue audio, not the agent's ringing.
            return;
        }
        match sdp {
            // Early media (ringback or announcements from the far end): relay the first source only,
            // so the caller never hears two forks at once.
            Some(sdp) if self.early_from.is_none() || self.early_from == Some(leg) => {
                self.early_from = Some(leg);
                self.ringing_sent = true;
                self.actions.push_back(Action::Provisional {
                    code: 183,
                    sdp: Some(sdp),
                });
            }
            _ if !self.ringing_sent && (code == 180 || code == 183) => {
                self.ringing_sent = true;
                self.actions.push_back(Action::Provisional {
                    code: 180,
                    sdp: None,
                });
            }
            _ => {}
        }
    }

    fn on_answered(&mut self, leg: LegId, sdp: Option<Vec<u8>>, now: Instant) {
        let state = match self.legs.iter().find(|l| l.id == leg) {
            Some(l) => l.state,
            None => return,
        };
        if self.is_transfer_leg(leg) {
            return self.on_transfer_answered(leg, sdp, now);
        }
        if self.is_party(leg) {
            let up = !matches!(self.phase, Phase::Ending | Phase::Done);
            if let Some(l) = self.leg_mut(leg) {
                l.answer_at = Some(now);
                if up && matches!(state, LegState::Trying | LegState::Early) {
                    l.state = LegState::Answered;
                    l.code = 200;
                    if self.originated && self.answer_at.is_none() {
                        // The number hotline dialled answered: that is the call's answer.
                        self.answer_at = Some(now);
                        self.final_code = Some(200);
                    }
                    self.actions.push_back(Action::PartyAnswered { leg, sdp });
                } else {
                    // Answered as we cancelled it: take it and end it.
                    l.state = LegState::Ended;
                    l.end_at = Some(now);
                    self.actions.push_back(Action::AckAndBye { leg });
                }
            }
            return;
        }
        if self.phase != Phase::Ringing || state == LegState::Ended {
            // A 200 crossing our CANCEL, or a second fork answering: take the call and drop it.
            self.ack_and_bye(leg, now);
            self.maybe_finish(now);
            return;
        }
        if let Some(l) = self.leg_mut(leg) {
            l.state = LegState::Answered;
            l.answer_at = Some(now);
            l.code = 200;
        }
        if !self.hosted {
            // A hosted caller was answered by hotline on arrival; that time stays the answer time.
            self.answer_at = Some(now);
        }
        self.final_code = Some(200);
        self.phase = Phase::Connected(leg);
        self.ring_deadline = None;
        // Other forks stop ringing, told that the call was completed elsewhere (RFC 3326).
        for other in self.legs.iter_mut().filter(|l| l.id != leg && !l.party) {
            if matches!(other.state, LegState::Trying | LegState::Early) {
                other.state = LegState::Cancelling;
                other.code = 487;
                self.actions.push_back(Action::Cancel {
                    leg: other.id,
                    completed_elsewhere: true,
                });
            }
        }
        self.actions.push_back(Action::Bridge { b: leg });
        if self.hosted {
            self.best_failure = None;
            self.actions.push_back(Action::Connected { b: leg });
        } else {
            self.actions.push_back(Action::Answer { sdp });
        }
    }

    fn on_failed(&mut self, leg: LegId, code: u16, reason: String, now: Instant) {
        let Some(l) = self.leg_mut(leg) else { return };
        if l.state == LegState::Ended {
            return;
        }
        let was_answered = l.state == LegState::Answered;
        let was_cancelled = l.state == LegState::Cancelling;
        let party = l.party;
        l.state = LegState::Ended;
        l.end_at = Some(now);
        if l.code == 0 {
            l.code = code;
        }
        if was_answered {
            return;
        }
        if self.is_transfer_leg(leg) {
            if !was_cancelled {
                self.on_transfer_failed(code, reason, now);
            }
            return;
        }
        if party {
            if self.originated && self.answer_at.is_none() {
                // Until the number answers, its last failure is what the call ends with.
                self.final_code = Some(code);
            }
            if !was_cancelled {
                self.actions
                    .push_back(Action::PartyFailed { leg, code, reason });
            }
            return;
        }
        if self.hosted {
            self.actions.push_back(Action::LegEnded { leg, code });
        }
        if self.phase == Phase::Ringing {
            if better_failure(code, self.best_failure.as_ref().map(|b| b.0)) {
                self.best_failure = Some((code, reason));
            }
            // A 6xx ends the search at once (RFC 3261 §16.7 step 5).
            if (600..700).contains(&code) {
                let (code, reason) = self.best_failure.clone().unwrap_or((code, String::new()));
                self.fail_caller(code, &reason, now);
                return;
            }
            if self.policy.hunt == Hunt::Failover && fails_over(code) {
                if let Some(next) = self.waiting.pop_front() {
                    self.add_leg(next, now);
                    return;
                }
            }
            if self
                .legs
                .iter()
                .all(|l| l.party || l.state == LegState::Ended)
            {
                let (code, reason) = self
                    .best_failure
                    .take()
                    .unwrap_or((480, "unavailable".into()));
                if self.hosted {
                    if self.originated && self.answer_at.is_none() {
                        self.final_code = Some(code);
                    }
                    self.back_to_hosted();
                    self.actions
                        .push_back(Action::ConnectFailed { code, reason });
                } else {
                    self.fail_caller(map_failure(code), &reason, now);
                }
            }
        } else {
            self.maybe_finish(now);
        }
    }

    fn on_bye(&mut self, leg: LegId, now: Instant) {
        if self.is_party(leg) {
            if let Some(l) = self.leg_mut(leg).filter(|l| l.state == LegState::Answered) {
                l.state = LegState::Ended;
                l.end_at = Some(now);
                self.actions.push_back(Action::PartyLeft { leg });
            }
            return;
        }
        if self.hosted {
            if leg == LegId::A {
                let party_on = self
                    .legs
                    .iter()
                    .any(|l| l.party && l.state == LegState::Answered);
                if party_on && matches!(self.phase, Phase::Connected(_)) {
                    // A three-way call outlives the caller: agent and department finish the
                    // matter between them; the call ends when the agent hangs up.
                    self.caller_gone = true;
                    self.hangup = Hangup::Caller;
                    self.actions.push_back(Action::CallerLeft);
                    return;
                }
                return self.hang_up_hosted(Hangup::Caller, "caller hung up".into(), now);
            }
            if self.phase == Phase::Connected(leg) {
                self.end_leg(leg, now);
                self.back_to_hosted();
                self.actions.push_back(Action::Disconnected {
                    b: leg,
                    by_callee: true,
                });
            }
            return;
        }
        let Phase::Connected(b) = self.phase else {
            return;
        };
        if let Some(t) = self.transfer.as_mut() {
            if leg == t.from {
                if !t.from_gone {
                    // The transferor leaves after the 202, as a blind transfer allows: the
                    // transferee keeps waiting for the target.
                    t.from_gone = true;
                    self.left_by_transfer(leg, now);
                }
                return;
            }
        }
        let (side, cause) = if leg == self.front {
            (Hangup::Caller, "caller hung up")
        } else if leg == b {
            (Hangup::Callee, "callee hung up")
        } else {
            return;
        };
        self.end_leg(leg, now);
        if leg == LegId::A {
            self.a_left = Some(now);
        }
        self.end_pair(side, cause.into(), now);
    }

    /// Whether `leg` is up: the A-leg until it left, a B-leg while answered.
    fn leg_up(&self, leg: LegId) -> bool {
        if leg == LegId::A {
            self.a_left.is_none() && !matches!(self.phase, Phase::Ending | Phase::Done)
        } else {
            self.legs
                .iter()
                .any(|l| l.id == leg && l.state == LegState::Answered)
        }
    }

    /// A transferor's leg is over because it transferred the call.
    fn left_by_transfer(&mut self, leg: LegId, now: Instant) {
        if leg == LegId::A {
            self.a_left = Some(now);
            self.a_transferred = true;
        }
        if let Some(l) = self.leg_mut(leg) {
            l.state = LegState::Ended;
            l.end_at = Some(now);
            l.transferred = true;
        }
    }

    /// Ends a plain connected call: a transfer under way is given up, every leg still up gets
    /// BYE, and the summary follows.
    fn end_pair(&mut self, hangup: Hangup, cause: String, now: Instant) {
        let Phase::Connected(b) = self.phase else {
            return;
        };
        if let Some(t) = self.transfer.take() {
            self.cancel_transfer_legs(now);
            self.actions.push_back(Action::TransferFailed {
                from: t.from,
                code: 487,
                reason: "Request Terminated".into(),
                from_up: false,
            });
        }
        for leg in [self.front, b] {
            if self.leg_up(leg) {
                self.actions.push_back(Action::Bye { leg });
                self.end_leg(leg, now);
            }
        }
        self.hangup = hangup;
        self.cause = cause;
        self.phase = Phase::Ending;
        self.maybe_finish(now);
    }

    /// Cancels transfer targets still ringing.
    fn cancel_transfer_legs(&mut self, now: Instant) {
        for l in &mut self.legs {
            if l.transfer && matches!(l.state, LegState::Trying | LegState::Early) {
                l.state = LegState::Cancelling;
                l.code = 487;
                l.end_at = Some(now);
                self.actions.push_back(Action::Cancel {
                    leg: l.id,
                    completed_elsewhere: false,
                });
            }
        }
    }

    /// Whether leg `from` may transfer the call now: the transferee's leg when it may, else
    /// the SIP code and reason to refuse the REFER with.
    pub fn transferee_of(&self, from: LegId) -> Result<LegId, (u16, &'static str)> {
        if self.hosted {
            return Err((403, "hotline answered this call itself"));
        }
        let Phase::Connected(b) = self.phase else {
            return Err((403, "the call is not connected"));
        };
        if self.transfer.is_some() {
            return Err((491, "a transfer is already under way"));
        }
        if from == self.front && self.leg_up(from) {
            Ok(b)
        } else if from == b && self.leg_up(from) {
            Ok(self.front)
        } else {
            Err((481, "this leg is not talking in the call"))
        }
    }

    /// Whether `leg` was created for a transfer target.
    pub fn is_transfer_leg(&self, leg: LegId) -> bool {
        self.legs.iter().any(|l| l.id == leg && l.transfer)
    }

    /// The leg on the caller's side of the pair talking (the A-leg unless it transferred).
    pub fn front(&self) -> LegId {
        self.front
    }

    fn on_transfer(
        &mut self,
        from: LegId,
        targets: Vec<Target>,
        hunt: Hunt,
        sdp: Option<Vec<u8>>,
        ring_timeout: Duration,
        now: Instant,
    ) {
        if let Err((code, why)) = self.transferee_of(from) {
            self.actions.push_back(Action::TransferFailed {
                from,
                code,
                reason: why.into(),
                from_up: self.leg_up(from),
            });
            return;
        }
        let mut waiting: VecDeque<Target> = targets.into();
        let Some(first) = waiting.pop_front() else {
            self.actions.push_back(Action::TransferFailed {
                from,
                code: 480,
                reason: "no device to ring".into(),
                from_up: true,
            });
            return;
        };
        self.transfer = Some(Transfer {
            from,
            from_gone: false,
            sdp,
            hunt,
            waiting: VecDeque::new(),
            deadline: now + ring_timeout,
            best_failure: None,
        });
        self.push_transfer_leg(first, now);
        match hunt {
            Hunt::Parallel => {
                for t in waiting {
                    self.push_transfer_leg(t, now);
                }
            }
            Hunt::Failover => {
                if let Some(t) = self.transfer.as_mut() {
                    t.waiting = waiting;
                }
            }
        }
    }

    fn push_transfer_leg(&mut self, target: Target, now: Instant) {
        let sdp = self.transfer.as_ref().and_then(|t| t.sdp.clone());
        self.push_leg(target, sdp, None, now);
        if let Some(l) = self.legs.last_mut() {
            l.transfer = true;
        }
    }

    fn on_transfer_progress(&mut self, leg: LegId, code: u16, sdp: Option<Vec<u8>>) {
        if self.transfer.is_none() {
            return;
        }
        let Some(l) = self
            .leg_mut(leg)
            .filter(|l| matches!(l.state, LegState::Trying | LegState::Early))
        else {
            return;
        };
        l.state = LegState::Early;
        self.actions
            .push_back(Action::TransferProgress { leg, code, sdp });
    }

    fn on_transfer_answered(&mut self, leg: LegId, sdp: Option<Vec<u8>>, now: Instant) {
        let ringing = self
            .legs
            .iter()
            .any(|l| l.id == leg && matches!(l.state, LegState::Trying | LegState::Early));
        let connected = matches!(self.phase, Phase::Connected(_));
        let (true, true, Some(t)) = (connected, ringing, self.transfer.take()) else {
            // Too late (the call ended, another target answered first, or it was cancelled).
            self.ack_and_bye(leg, now);
            return;
        };
        if let Some(l) = self.leg_mut(leg) {
            l.state = LegState::Answered;
            l.answer_at = Some(now);
            l.code = 200;
        }
        // Other targets of a ring-all stop ringing.
        for other in self.legs.iter_mut().filter(|l| l.transfer && l.id != leg) {
            if matches!(other.state, LegState::Trying | LegState::Early) {
                other.state = LegState::Cancelling;
                other.code = 487;
                other.end_at = Some(now);
                self.actions.push_back(Action::Cancel {
                    leg: other.id,
                    completed_elsewhere: true,
                });
            }
        }
        if t.from == self.front {
            self.front = leg;
        } else {
            self.phase = Phase::Connected(leg);
        }
        self.actions.push_back(Action::Transferred {
            from: t.from,
            to: leg,
            sdp,
        });
        if !t.from_gone {
            self.actions.push_back(Action::Bye { leg: t.from });
            self.left_by_transfer(t.from, now);
        }
    }

    fn on_transfer_failed(&mut self, code: u16, reason: String, now: Instant) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        if better_failure(code, t.best_failure.as_ref().map(|b| b.0)) {
            t.best_failure = Some((code, reason));
        }
        if t.hunt == Hunt::Failover && fails_over(code) && !(600..700).contains(&code) {
            if let Some(next) = t.waiting.pop_front() {
                self.push_transfer_leg(next, now);
                return;
            }
        }
        let ringing = self
            .legs
            .iter()
            .any(|l| l.transfer && matches!(l.state, LegState::Trying | LegState::Early));
        if ringing && !(600..700).contains(&code) {
            return;
        }
        let (code, reason) = t
            .best_failure
            .clone()
            .unwrap_or((480, "unavailable".into()));
        self.transfer_failed(code, reason, now);
    }

    /// No transfer target answered: back to the transferor, or the end of the call.
    fn transfer_failed(&mut self, code: u16, reason: String, now: Instant) {
        let Some(t) = self.transfer.take() else {
            return;
        };
        self.cancel_transfer_legs(now);
        self.actions.push_back(Action::TransferFailed {
            from: t.from,
            code,
            reason: reason.clone(),
            from_up: !t.from_gone,
        });
        if t.from_gone {
            // The transferee is alone: hotline ends the call.
            self.end_pair(
                Hangup::System,
                format!("transfer failed: {code} {reason}"),
                now,
            );
        }
    }

    fn on_reinvite(&mut self, leg: LegId, sdp: Option<Vec<u8>>) {
        if self.is_party(leg) {
            // A party talks to hotline's mixer, not to one other leg: its session stays ours.
            self.actions.push_back(Action::ReinviteResponse {
                leg,
                code: 200,
                sdp: None,
            });
            return;
        }
        if self.hosted && leg == LegId::A && !matches!(self.phase, Phase::Connected(_)) {
            // Nobody to relay to: hotline answers from its own session (the shell builds it).
            let _ = sdp;
            self.actions.push_back(Action::ReinviteResponse {
                leg,
                code: 200,
                sdp: None,
            });
            return;
        }
        let Phase::Connected(b) = self.phase else {
            self.actions.push_back(Action::ReinviteResponse {
                leg,
                code: 491,
                sdp: None,
            });
            return;
        };
        let to = if leg == self.front {
            b
        } else if leg == b && self.caller_gone {
            // No caller to relay to (they left a three-way call, or hotline placed the call):
            // the agent's session is with hotline's relay, which answers from its own side.
            self.actions.push_back(Action::ReinviteResponse {
                leg,
                code: 200,
                sdp: None,
            });
            return;
        } else if leg == b {
            self.front
        } else {
            self.actions.push_back(Action::ReinviteResponse {
                leg,
                code: 481,
                sdp: None,
            });
            return;
        };
        if !self.leg_up(to) {
            // The transferor left while the transferee waits for the target: nobody to ask.
            self.actions.push_back(Action::ReinviteResponse {
                leg,
                code: 491,
                sdp: None,
            });
            return;
        }
        if self.reinvite.is_some() {
            // One offer/answer at a time on each side (RFC 3261 §14.1).
            self.actions.push_back(Action::ReinviteResponse {
                leg,
                code: 491,
                sdp: None,
            });
            return;
        }
        self.reinvite = Some(PendingReinvite {
            from: leg,
            to,
            own: false,
        });
        self.actions.push_back(Action::Reinvite { leg: to, sdp });
    }

    fn end_leg(&mut self, id: LegId, now: Instant) {
        if let Some(l) = self.leg_mut(id) {
            l.state = LegState::Ended;
            l.end_at = Some(now);
        }
    }

    /// Cancels B-legs still ringing.
    fn end_ringing_legs(&mut self, completed_elsewhere: bool, now: Instant) {
        for l in &mut self.legs {
            if !l.party && matches!(l.state, LegState::Trying | LegState::Early) {
                l.state = LegState::Cancelling;
                l.code = 487;
                l.end_at = Some(now);
                self.actions.push_back(Action::Cancel {
                    leg: l.id,
                    completed_elsewhere,
                });
            }
        }
    }

    fn fail_caller(&mut self, code: u16, reason: &str, now: Instant) {
        self.end_ringing_legs(false, now);
        self.final_code = Some(code);
        self.hangup = Hangup::System;
        self.cause = if reason.is_empty() {
            format!("{code}")
        } else {
            reason.to_string()
        };
        self.actions.push_back(Action::Reject {
            code,
            reason: reason.to_string(),
        });
        self.phase = Phase::Ending;
        self.maybe_finish(now);
    }

    /// Emits the summary once the caller's side is over. Legs still cancelling are considered
    /// ended: their 487s change nothing the CDR needs.
    fn maybe_finish(&mut self, now: Instant) {
        if self.phase != Phase::Ending {
            return;
        }
        self.phase = Phase::Done;
        let legs = self
            .legs
            .iter()
            .map(|l| LegSummary {
                leg: l.id,
                target: l.target.clone(),
                start_at: l.start_at,
                answer_at: l.answer_at,
                end_at: l.end_at.or(Some(now)),
                code: l.code,
                transferred: l.transferred,
            })
            .collect();
        let answered_by = if self.hosted {
            // The agent who last took the call from hotline's queue or IVR.
            self.legs
                .iter()
                .rev()
                .find(|l| l.answer_at.is_some() && !l.party)
                .map(|l| l.id)
        } else {
            self.legs
                .iter()
                .find(|l| l.answer_at.is_some() && Some(l.answer_at) == Some(self.answer_at))
                .map(|l| l.id)
        };
        self.actions.push_back(Action::Finished(Summary {
            answered_by,
            answer_at: self.answer_at,
            end_at: now,
            // An originated call the agent gave up before the number answered was cancelled.
            sip_code: self
                .final_code
                .unwrap_or(if self.originated { 487 } else { 500 }),
            hangup: self.hangup,
            cause: std::mem::take(&mut self.cause),
            legs,
            a_transferred_at: self.a_left.filter(|_| self.a_transferred),
        }));
    }

    pub fn started_at(&self) -> Instant {
        self.started_at
    }
}

/// Whether failure `code` tells the caller more than the best one so far: 6xx first, then
/// busy (486/600) over unavailable, then the lowest class (4xx over 5xx), as RFC 3261 §16.7 advises.
fn better_failure(code: u16, best: Option<u16>) -> bool {
    let rank = |c: u16| -> u32 {
        match c {
            600..=699 => 0,
            486 => 1,
            401 | 407 | 415 | 420 | 484 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        }
    };
    match best {
        None => true,
        Some(b) => rank(code) < rank(b),
    }
}

/// Whether a failure is the route's (try the next trunk) rather than the callee's answer.
fn fails_over(code: u16) -> bool {
    // 401/407 left over from a trunk means our credentials for it were refused: a route failure.
    matches!(code, 401 | 407 | 408 | 500..=599)
}

/// What the caller is told when every B-leg failed: the carrier must not see our internal
/// reasons (408 from a dead phone, 481, 500) but the meaning a person would understand.
fn map_failure(code: u16) -> u16 {
    match code {
        486 | 600 => 486,
        603 => 603,
        404 | 480 | 408 | 481 | 487 => 480,
        // A challenge hotline could not answer is hotline's problem, never the caller's to answer.
        401 | 407 => 503,
        500..=599 => 503,
        c if (400..700).contains(&c) => c,
        _ => 480,
    }
}

/// The CDR cause of a call hotline itself ends because something stopped (media, ACK, refreshes).
fn system_cause(input: &Input) -> &'static str {
    match input {
        Input::AckTimeout => "no ACK from the caller",
        Input::SessionExpired => "session expired",
        _ => "no media",
    }
}

#[cfg(test)]
mod tests;
