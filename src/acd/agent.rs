//! An agent (坐席): who they are (the profile) and the pure transition function of their state machine.
//!
//! The transition function knows one agent only; rules that need the rest of the centre (the per-group
//! not-ready cap, which call goes where) live in [`crate::acd::Acd`], which calls [`transition`] and then
//! applies the result.

use serde::{Deserialize, Serialize};

use super::{CallId, GroupId, Ms};

/// Where an agent takes calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Endpoint {
    /// A SIP extension (softphone or IP desk phone) registered with our registrar.
    Sip { extension: String },
    /// The browser desktop's WebRTC softphone.
    WebRtc { id: String },
}

/// A business skill tag with a level (1 = novice … 10 = expert).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skill {
    pub name: String,
    pub level: u8,
}

/// Membership of one skill group; `level` orders agents under the skill-level-tiers strategy
/// (higher is offered first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub group: GroupId,
    pub level: u8,
}

/// The static description of an agent, as configured by an administrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    /// 工号: shown to callers instead of the name.
    pub agent_no: String,
    pub name: String,
    #[serde(default)]
    pub skills: Vec<Skill>,
    #[serde(default)]
    pub groups: Vec<Membership>,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// On (the default): calls are connected without ringing the human. Off: ring, accept or reject.
    #[serde(default = "default_true")]
    pub auto_answer: bool,
}

fn default_true() -> bool {
    true
}

impl AgentProfile {
    /// A profile with no groups, no endpoints and auto-answer on.
    pub fn new(agent_no: impl Into<String>, name: impl Into<String>) -> Self {
        AgentProfile {
            agent_no: agent_no.into(),
            name: name.into(),
            skills: Vec::new(),
            groups: Vec::new(),
            endpoints: Vec::new(),
            auto_answer: true,
        }
    }

    pub fn in_group(mut self, group: impl Into<String>, level: u8) -> Self {
        self.groups.push(Membership {
            group: group.into(),
            level,
        });
        self
    }

    pub fn with_skill(mut self, name: impl Into<String>, level: u8) -> Self {
        self.skills.push(Skill {
            name: name.into(),
            level,
        });
        self
    }

    pub fn with_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    pub fn auto_answer(mut self, on: bool) -> Self {
        self.auto_answer = on;
        self
    }

    /// "name + agent ID" for internal screens (A L1361); callers only ever hear `agent_no`.
    pub fn internal_label(&self) -> String {
        format!("{} ({})", self.name, self.agent_no)
    }
}

/// The agent's state. Call-bound states name the call; `outbound` marks an agent-dialled call, which
/// returns to not-ready (not wrap-up) when it ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    /// 示忙: no calls offered, outbound allowed. `reason` is one of the configured reasons or a system
    /// reason (`login`, `ring_no_answer`, `break_overrun`, `supervisor`, `reset`, ...).
    NotReady {
        reason: String,
    },
    /// 小休: a timed not-ready; overrunning `ends_at_ms` turns into not-ready plus an alert.
    Break {
        ends_at_ms: Ms,
    },
    Ready,
    /// Reserved for a call that is being offered (ringing, or being connected under auto-answer).
    Ringing {
        call: CallId,
    },
    Talking {
        call: CallId,
        outbound: bool,
    },
    Held {
        call: CallId,
        outbound: bool,
    },
    Consulting {
        call: CallId,
        outbound: bool,
    },
    Conference {
        call: CallId,
        outbound: bool,
    },
    /// 话后整理: no calls offered; back to ready at `ends_at_ms`.
    WrapUp {
        ends_at_ms: Ms,
    },
}

impl AgentState {
    /// A short stable name, used in storage and on the board.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::NotReady { .. } => "not_ready",
            AgentState::Break { .. } => "break",
            AgentState::Ready => "ready",
            AgentState::Ringing { .. } => "ringing",
            AgentState::Talking { .. } => "talking",
            AgentState::Held { .. } => "held",
            AgentState::Consulting { .. } => "consulting",
            AgentState::Conference { .. } => "conference",
            AgentState::WrapUp { .. } => "wrap_up",
        }
    }

    /// The call this state is bound to, if any.
    pub fn call(&self) -> Option<&CallId> {
        match self {
            AgentState::Ringing { call }
            | AgentState::Talking { call, .. }
            | AgentState::Held { call, .. }
            | AgentState::Consulting { call, .. }
            | AgentState::Conference { call, .. } => Some(call),
            _ => None,
        }
    }

    /// In a call (ringing included): logout is refused here.
    pub fn in_call(&self) -> bool {
        self.call().is_some()
    }

    /// Connected to a call (not merely ringing).
    pub fn connected(&self) -> bool {
        self.in_call() && !matches!(self, AgentState::Ringing { .. })
    }

    pub fn logged_in(&self) -> bool {
        !matches!(self, AgentState::LoggedOut)
    }

    /// Counts against the per-group not-ready cap.
    pub fn counts_as_not_ready(&self) -> bool {
        matches!(self, AgentState::NotReady { .. } | AgentState::Break { .. })
    }

    fn outbound(&self) -> bool {
        matches!(
            self,
            AgentState::Talking { outbound: true, .. }
                | AgentState::Held { outbound: true, .. }
                | AgentState::Consulting { outbound: true, .. }
                | AgentState::Conference { outbound: true, .. }
        )
    }
}

/// What can happen to one agent. Commands from the agent, the supervisor, the call layer and timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentInput {
    Login,
    Logout,
    SetReady,
    SetNotReady {
        reason: String,
    },
    StartBreak {
        length_ms: Ms,
    },
    /// The agent asks to enter wrap-up by hand (A L1935).
    EnterWrapUp,
    EndWrapUp,
    /// A call is offered (ringing / being connected).
    Offer {
        call: CallId,
    },
    /// The offer was withdrawn (caller hung up, another agent took a ring-all call).
    OfferCancelled,
    /// Ring timeout, reject or unreachable endpoint: the agent becomes not-ready with `reason`.
    OfferFailed {
        reason: String,
    },
    Answered,
    /// The agent's phone answered an offer the ACD had already given up on (the answer crossed a
    /// ring timeout or a re-offer): the phone is the truth, so the agent is talking on `call`.
    AnsweredLate {
        call: CallId,
    },
    Hold,
    Retrieve,
    ConsultStart,
    /// Consult cancelled or finished without a transfer: back to talking with the caller.
    ConsultEnd,
    ThreeWay,
    /// A party was dropped from the three-way call.
    DropParty,
    /// A colleague's consult of this agent is over (they never took the call over): straight back
    /// to ready, since the call was not theirs to wrap up.
    ConsultDone,
    /// The agent's part of the call ended (hang-up, transfer completed, intercepted).
    CallEnded,
    /// Outbound dialling (only from not-ready, A L1879).
    Dial {
        call: CallId,
    },
    WrapUpTimeout,
    BreakTimeout,
    /// A L1879: back to not-ready; a call in progress is hung up by the caller of this function.
    Reset,
    /// Supervisor force not-ready: ignores the cap, allowed from ready/wrap-up/not-ready.
    ForceNotReady {
        reason: String,
    },
}

/// Rules that shape transitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentRules {
    /// How long wrap-up lasts before the agent becomes ready again (default 120 s, A L1337).
    pub wrap_up_ms: Ms,
}

impl Default for AgentRules {
    fn default() -> Self {
        AgentRules {
            wrap_up_ms: 120_000,
        }
    }
}

/// Why a command was refused; the text is what the agent's desktop shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Refusal {
    #[error("agent {agent_no} is unknown")]
    UnknownAgent { agent_no: String },
    #[error("skill group {group} is unknown")]
    UnknownGroup { group: String },
    #[error("call {call} is unknown")]
    UnknownCall { call: String },
    #[error("not logged in")]
    NotLoggedIn,
    #[error("logout is not allowed during a call")]
    LogoutDuringCall,
    #[error("outbound calls are only allowed from not-ready (now {state})")]
    OutboundOnlyFromNotReady { state: String },
    #[error("skill group {group} allows at most {cap} agents not ready at once ({current} now)")]
    NotReadyCapReached {
        group: String,
        cap: u32,
        current: u32,
    },
    #[error("not-ready reason `{reason}` is not configured")]
    UnknownReason { reason: String },
    #[error("`{op}` is not possible while {state}")]
    WrongState { op: String, state: String },
    #[error("agent {agent_no} is not in a call")]
    NotInCall { agent_no: String },
    #[error("agent {agent_no} is not ready")]
    TargetNotReady { agent_no: String },
    #[error("no agent of skill group {group} is ready")]
    NoAgentReady { group: String },
    #[error("break length must be between 1 s and 8 h")]
    BadBreakLength,
    #[error("permission denied: {what}")]
    Forbidden { what: String },
}

/// A successful transition: the next state and the reason to record with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Next {
    pub state: AgentState,
    pub reason: String,
}

fn next(state: AgentState, reason: &str) -> Result<Next, Refusal> {
    Ok(Next {
        state,
        reason: reason.to_string(),
    })
}

fn wrong(op: &str, state: &AgentState) -> Result<Next, Refusal> {
    Err(Refusal::WrongState {
        op: op.to_string(),
        state: state.name().to_string(),
    })
}

/// The agent state machine: where `input` takes an agent in `state` at `now`, or why it is refused.
/// `resume_reason` is the not-ready reason an outbound call returns to.
pub fn transition(
    state: &AgentState,
    input: &AgentInput,
    now: Ms,
    rules: &AgentRules,
    resume_reason: &str,
) -> Result<Next, Refusal> {
    use AgentInput as I;
    use AgentState as S;
    let wrap_up = S::WrapUp {
        ends_at_ms: now.saturating_add(rules.wrap_up_ms),
    };
    match (state, input) {
        // Forced login (A L1837): a logged-in agent is taken over; either way it lands not-ready.
        // In a call the call goes on: the new session simply sees it.
        (s, I::Login) if s.in_call() => next(s.clone(), "forced_login"),
        (S::LoggedOut, I::Login) => next(not_ready("login"), "login"),
        (_, I::Login) => next(not_ready("login"), "forced_login"),
        (S::LoggedOut, _) => Err(Refusal::NotLoggedIn),

        (s, I::Logout) if s.in_call() => Err(Refusal::LogoutDuringCall),
        (_, I::Logout) => next(S::LoggedOut, "logout"),

        (S::NotReady { .. } | S::Break { .. } | S::WrapUp { .. } | S::Ready, I::SetReady) => {
            next(S::Ready, "ready")
        }
        (s, I::SetReady) => wrong("set_ready", s),

        (
            S::Ready | S::NotReady { .. } | S::Break { .. } | S::WrapUp { .. },
            I::SetNotReady { reason },
        ) => next(not_ready(reason), reason),
        (s, I::SetNotReady { .. }) => wrong("set_not_ready", s),

        (S::Ready | S::NotReady { .. } | S::WrapUp { .. }, I::StartBreak { length_ms }) => {
            if *length_ms < 1_000 || *length_ms > 8 * 3_600_000 {
                return Err(Refusal::BadBreakLength);
            }
            next(
                S::Break {
                    ends_at_ms: now.saturating_add(*length_ms),
                },
                "break",
            )
        }
        (s, I::StartBreak { .. }) => wrong("break", s),

        (S::Ready | S::NotReady { .. }, I::EnterWrapUp) => next(wrap_up, "wrap_up"),
        (s, I::EnterWrapUp) => wrong("enter_wrap_up", s),
        (S::WrapUp { .. }, I::EndWrapUp) => next(S::Ready, "wrap_up_ended"),
        (s, I::EndWrapUp) => wrong("end_wrap_up", s),
        (S::WrapUp { .. }, I::WrapUpTimeout) => next(S::Ready, "wrap_up_timeout"),
        (s, I::WrapUpTimeout) => wrong("wrap_up_timeout", s),
        (S::Break { .. }, I::BreakTimeout) => next(not_ready("break_overrun"), "break_overrun"),
        (s, I::BreakTimeout) => wrong("break_timeout", s),

        // Only a ready agent is ever offered a call.
        (S::Ready, I::Offer { call }) => next(S::Ringing { call: call.clone() }, "offered"),
        (s, I::Offer { .. }) => wrong("offer", s),
        (S::Ringing { .. }, I::OfferCancelled) => next(S::Ready, "offer_cancelled"),
        (s, I::OfferCancelled) => wrong("offer_cancelled", s),
        (S::Ringing { .. }, I::OfferFailed { reason }) => next(not_ready(reason), reason),
        (s, I::OfferFailed { .. }) => wrong("offer_failed", s),
        (S::Ringing { call }, I::Answered) => next(
            S::Talking {
                call: call.clone(),
                outbound: false,
            },
            "answered",
        ),
        (s, I::Answered) => wrong("answer", s),
        // Not from a call of their own: the phone cannot have answered this call then.
        (
            S::Ready | S::NotReady { .. } | S::Break { .. } | S::WrapUp { .. } | S::Ringing { .. },
            I::AnsweredLate { call },
        ) => next(
            S::Talking {
                call: call.clone(),
                outbound: false,
            },
            "answered_late",
        ),
        (s, I::AnsweredLate { .. }) => wrong("answer", s),

        (S::Talking { call, outbound }, I::Hold) => next(
            S::Held {
                call: call.clone(),
                outbound: *outbound,
            },
            "hold",
        ),
        (s, I::Hold) => wrong("hold", s),
        (S::Held { call, outbound }, I::Retrieve) => next(
            S::Talking {
                call: call.clone(),
                outbound: *outbound,
            },
            "retrieve",
        ),
        (s, I::Retrieve) => wrong("retrieve", s),
        (S::Talking { call, outbound } | S::Held { call, outbound }, I::ConsultStart) => next(
            S::Consulting {
                call: call.clone(),
                outbound: *outbound,
            },
            "consult",
        ),
        (s, I::ConsultStart) => wrong("consult", s),
        (S::Consulting { call, outbound } | S::Conference { call, outbound }, I::ConsultEnd) => {
            next(
                S::Talking {
                    call: call.clone(),
                    outbound: *outbound,
                },
                "consult_ended",
            )
        }
        (s, I::ConsultEnd) => wrong("consult_end", s),
        (S::Consulting { call, outbound } | S::Talking { call, outbound }, I::ThreeWay) => next(
            S::Conference {
                call: call.clone(),
                outbound: *outbound,
            },
            "three_way",
        ),
        (s, I::ThreeWay) => wrong("three_way", s),
        (S::Conference { call, outbound }, I::DropParty) => next(
            S::Talking {
                call: call.clone(),
                outbound: *outbound,
            },
            "party_dropped",
        ),
        (s, I::DropParty) => wrong("drop_party", s),

        // Hang-up leads into wrap-up (A L1865); an outbound call returns to not-ready.
        (s, I::CallEnded) if s.connected() && s.outbound() => {
            next(not_ready(resume_reason), "outbound_ended")
        }
        (s, I::CallEnded) if s.connected() => next(wrap_up, "call_ended"),
        (s, I::CallEnded) => wrong("call_ended", s),

        (
            S::Ringing { .. }
            | S::Talking {
                outbound: false, ..
            },
            I::ConsultDone,
        ) => next(S::Ready, "consult_ended"),
        (s, I::ConsultDone) => wrong("consult_done", s),

        (S::NotReady { .. }, I::Dial { call }) => next(
            S::Talking {
                call: call.clone(),
                outbound: true,
            },
            "outbound",
        ),
        (s, I::Dial { .. }) => Err(Refusal::OutboundOnlyFromNotReady {
            state: s.name().to_string(),
        }),

        (_, I::Reset) => next(not_ready("reset"), "reset"),

        (s, I::ForceNotReady { reason }) if !s.in_call() => next(not_ready(reason), "supervisor"),
        (s, I::ForceNotReady { .. }) => wrong("force_not_ready", s),
    }
}

fn not_ready(reason: &str) -> AgentState {
    AgentState::NotReady {
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: AgentRules = AgentRules {
        wrap_up_ms: 120_000,
    };

    fn go(s: &AgentState, i: AgentInput, now: Ms) -> Result<Next, Refusal> {
        transition(s, &i, now, &R, "meeting")
    }

    fn nr(r: &str) -> AgentState {
        not_ready(r)
    }

    fn talking() -> AgentState {
        AgentState::Talking {
            call: "c1".into(),
            outbound: false,
        }
    }

    #[test]
    fn login_lands_not_ready() {
        let n = go(&AgentState::LoggedOut, AgentInput::Login, 0).unwrap();
        assert_eq!(n.state, nr("login"));
        assert_eq!(n.reason, "login");
    }

    #[test]
    fn forced_login_over_ready_session_lands_not_ready() {
        let n = go(&AgentState::Ready, AgentInput::Login, 0).unwrap();
        assert_eq!(n.state, nr("login"));
        assert_eq!(n.reason, "forced_login");
    }

    #[test]
    fn forced_login_during_call_keeps_call() {
        let n = go(&talking(), AgentInput::Login, 0).unwrap();
        assert_eq!(n.state, talking());
    }

    #[test]
    fn nothing_but_login_when_logged_out() {
        for i in [
            AgentInput::SetReady,
            AgentInput::Logout,
            AgentInput::Reset,
            AgentInput::Hold,
        ] {
            assert_eq!(go(&AgentState::LoggedOut, i, 0), Err(Refusal::NotLoggedIn));
        }
    }

    #[test]
    fn logout_refused_during_any_call_state() {
        let call = || "c".to_string();
        for s in [
            AgentState::Ringing { call: call() },
            talking(),
            AgentState::Held {
                call: call(),
                outbound: false,
            },
            AgentState::Consulting {
                call: call(),
                outbound: true,
            },
            AgentState::Conference {
                call: call(),
                outbound: false,
            },
        ] {
            assert_eq!(
                go(&s, AgentInput::Logout, 0),
                Err(Refusal::LogoutDuringCall),
                "{s:?}"
            );
        }
        for s in [
            AgentState::Ready,
            nr("x"),
            AgentState::WrapUp { ends_at_ms: 5 },
            AgentState::Break { ends_at_ms: 5 },
        ] {
            assert_eq!(
                go(&s, AgentInput::Logout, 0).unwrap().state,
                AgentState::LoggedOut
            );
        }
    }

    #[test]
    fn outbound_only_from_not_ready_and_returns_there() {
        let d = || AgentInput::Dial { call: "o1".into() };
        for s in [
            AgentState::Ready,
            AgentState::WrapUp { ends_at_ms: 9 },
            talking(),
        ] {
            assert!(matches!(
                go(&s, d(), 0),
                Err(Refusal::OutboundOnlyFromNotReady { .. })
            ));
        }
        let n = go(&nr("meeting"), d(), 0).unwrap();
        assert_eq!(
            n.state,
            AgentState::Talking {
                call: "o1".into(),
                outbound: true
            }
        );
        let end = go(&n.state, AgentInput::CallEnded, 10).unwrap();
        assert_eq!(end.state, nr("meeting"));
    }

    #[test]
    fn inbound_hangup_enters_wrap_up_with_limit() {
        let n = go(&talking(), AgentInput::CallEnded, 1_000).unwrap();
        assert_eq!(
            n.state,
            AgentState::WrapUp {
                ends_at_ms: 121_000
            }
        );
        let r = go(&n.state, AgentInput::WrapUpTimeout, 121_000).unwrap();
        assert_eq!(
            (r.state, r.reason.as_str()),
            (AgentState::Ready, "wrap_up_timeout")
        );
    }

    #[test]
    fn wrap_up_is_never_offered_a_call() {
        let s = AgentState::WrapUp { ends_at_ms: 10 };
        assert!(go(&s, AgentInput::Offer { call: "c".into() }, 0).is_err());
        assert!(go(&nr("x"), AgentInput::Offer { call: "c".into() }, 0).is_err());
        assert!(go(
            &AgentState::Break { ends_at_ms: 1 },
            AgentInput::Offer { call: "c".into() },
            0
        )
        .is_err());
        assert!(go(
            &AgentState::Ready,
            AgentInput::Offer { call: "c".into() },
            0
        )
        .is_ok());
    }

    #[test]
    fn break_overrun_becomes_not_ready() {
        let b = go(
            &AgentState::Ready,
            AgentInput::StartBreak { length_ms: 600_000 },
            5,
        )
        .unwrap();
        assert_eq!(
            b.state,
            AgentState::Break {
                ends_at_ms: 600_005
            }
        );
        let o = go(&b.state, AgentInput::BreakTimeout, 600_005).unwrap();
        assert_eq!(o.state, nr("break_overrun"));
        assert_eq!(
            go(
                &AgentState::Ready,
                AgentInput::StartBreak { length_ms: 0 },
                0
            ),
            Err(Refusal::BadBreakLength)
        );
    }

    #[test]
    fn ring_failure_goes_not_ready_and_cancel_goes_ready() {
        let r = AgentState::Ringing { call: "c1".into() };
        assert_eq!(
            go(
                &r,
                AgentInput::OfferFailed {
                    reason: "ring_no_answer".into()
                },
                0
            )
            .unwrap()
            .state,
            nr("ring_no_answer")
        );
        assert_eq!(
            go(&r, AgentInput::OfferCancelled, 0).unwrap().state,
            AgentState::Ready
        );
        assert_eq!(go(&r, AgentInput::Answered, 0).unwrap().state, talking());
    }

    #[test]
    fn hold_consult_conference_cycle() {
        let h = go(&talking(), AgentInput::Hold, 0).unwrap().state;
        assert_eq!(h.name(), "held");
        assert!(go(&h, AgentInput::Hold, 0).is_err());
        let t = go(&h, AgentInput::Retrieve, 0).unwrap().state;
        let c = go(&t, AgentInput::ConsultStart, 0).unwrap().state;
        assert_eq!(c.name(), "consulting");
        let three = go(&c, AgentInput::ThreeWay, 0).unwrap().state;
        assert_eq!(three.name(), "conference");
        let back = go(&three, AgentInput::DropParty, 0).unwrap().state;
        assert_eq!(back, talking());
        let c2 = go(&back, AgentInput::ConsultStart, 0).unwrap().state;
        assert_eq!(go(&c2, AgentInput::ConsultEnd, 0).unwrap().state, talking());
        // hanging up from held or conference still ends in wrap-up
        assert_eq!(
            go(&three, AgentInput::CallEnded, 0).unwrap().state.name(),
            "wrap_up"
        );
        assert_eq!(
            go(&h, AgentInput::CallEnded, 0).unwrap().state.name(),
            "wrap_up"
        );
    }

    #[test]
    fn reset_always_lands_not_ready() {
        for s in [
            AgentState::Ready,
            talking(),
            AgentState::WrapUp { ends_at_ms: 1 },
        ] {
            assert_eq!(go(&s, AgentInput::Reset, 0).unwrap().state, nr("reset"));
        }
    }

    #[test]
    fn manual_wrap_up_and_end() {
        let w = go(&AgentState::Ready, AgentInput::EnterWrapUp, 10)
            .unwrap()
            .state;
        assert_eq!(
            w,
            AgentState::WrapUp {
                ends_at_ms: 120_010
            }
        );
        assert_eq!(
            go(&w, AgentInput::EndWrapUp, 11).unwrap().state,
            AgentState::Ready
        );
        assert!(go(&AgentState::Ready, AgentInput::EndWrapUp, 0).is_err());
    }

    #[test]
    fn force_not_ready_not_in_call() {
        assert_eq!(
            go(
                &AgentState::Ready,
                AgentInput::ForceNotReady {
                    reason: "ill".into()
                },
                0
            )
            .unwrap()
            .state,
            nr("ill")
        );
        assert!(go(
            &talking(),
            AgentInput::ForceNotReady {
                reason: "ill".into()
            },
            0
        )
        .is_err());
    }

    #[test]
    fn state_serialises_with_tag() {
        let j = serde_json::to_string(&AgentState::Break { ends_at_ms: 7 }).unwrap();
        assert_eq!(j, r#"{"state":"break","ends_at_ms":7}"#);
    }
}
