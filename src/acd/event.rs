//! What goes into the ACD core ([`Event`]) and what comes out ([`Action`], [`AcdEvent`]).
//!
//! Events and commands are serde types because the CTI protocol carries them as they are.

use serde::{Deserialize, Serialize};

use super::agent::{AgentState, Endpoint};
use super::board::QueueRow;
use super::config::OverflowTarget;
use super::lists::{BlacklistEntry, RedListEntry};
use super::queue::Priority;
use super::{CallId, GroupId, Ms};

/// A summary of the caller's history for the screen pop (filled by the ticket core; A: flag callers
/// with ≥20 calls or the same request ≥3 times).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerHistory {
    pub calls: u32,
    pub open_tickets: u32,
    pub repeat_requests: u32,
    pub flagged: bool,
    pub last_agent: Option<String>,
}

/// A call entering the ACD from the B2BUA or the IVR.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingCall {
    pub call: CallId,
    pub caller: String,
    /// The called number; routes the call when `group` is empty.
    pub did: String,
    /// The skill group chosen by the IVR; `None` = route by DID.
    pub group: Option<GroupId>,
    #[serde(default)]
    pub emergency: bool,
    #[serde(default)]
    pub vip: bool,
    /// The menu keys / node names the caller went through.
    #[serde(default)]
    pub ivr_path: Vec<String>,
    #[serde(default)]
    pub history: Option<CallerHistory>,
    /// When the call reached the platform (its wait counts from here); `None` = now.
    #[serde(default)]
    pub arrived_ms: Option<Ms>,
}

/// Where a transfer or consult goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    Agent { agent_no: String },
    Group { group: GroupId },
    External { number: String },
    Department { number: String },
}

/// Commands an agent gives through the CTI (A L3447-3471 and issue 5 item 4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum AgentCommand {
    /// Forced login: an existing session is kicked, the agent lands not-ready.
    Login {
        session: u64,
        #[serde(default)]
        endpoint: Option<Endpoint>,
    },
    Logout,
    /// A reconnecting desktop's new CTI session now speaks for the agent (no state change).
    Attach {
        session: u64,
    },
    SetReady,
    SetNotReady {
        reason: String,
    },
    StartBreak {
        length_ms: Ms,
    },
    EnterWrapUp,
    EndWrapUp,
    /// Accept a ringing call (auto-answer off).
    Answer,
    /// Refuse a ringing call: it goes back to its place, the agent to not-ready.
    Reject,
    Hangup,
    Hold,
    Retrieve,
    Mute {
        on: bool,
    },
    Consult {
        target: Target,
    },
    CancelConsult,
    /// Blind transfer; after a consult, completes an attended transfer to the consulted target.
    Transfer {
        target: Target,
    },
    ThreeWay,
    DropParty {
        party: String,
    },
    /// Outbound call (only from not-ready).
    Dial {
        call: CallId,
        number: String,
    },
    Dtmf {
        digits: String,
    },
    /// Pause the call's recording (the caller reads out an ID number) or resume it.
    PauseRecording {
        on: bool,
    },
    /// A L1879: back to not-ready, hanging up a call in progress.
    Reset,
}

/// How a supervisor joins a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuperviseMode {
    /// Listen to both sides, unheard.
    Monitor,
    /// Speak to the agent only.
    Whisper,
    /// Join as a third party; the caller hears a prompt first (B1 L3396).
    Barge,
    /// Take the call over from the agent.
    Intercept,
}

/// Commands from a supervisor (班长).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum SupervisorCommand {
    Supervise {
        agent_no: String,
        mode: SuperviseMode,
    },
    StopSupervise {
        agent_no: String,
    },
    ForceNotReady {
        agent_no: String,
        reason: String,
    },
    /// A live call moves to another agent (B1 L3400).
    ForceLogout {
        agent_no: String,
        reason: String,
    },
    /// Set live; `None` removes the cap.
    SetNotReadyCap {
        group: GroupId,
        cap: Option<u32>,
    },
    AddBlacklist {
        number: String,
        until_ms: Option<Ms>,
        reason: String,
        ip: String,
    },
    RemoveBlacklist {
        number: String,
        ip: String,
    },
    AddRedList {
        number: String,
        note: String,
        ip: String,
    },
    RemoveRedList {
        number: String,
        ip: String,
    },
}

/// Why an offer did not connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferFailure {
    NoAnswer,
    Rejected,
    Unreachable,
}

impl OfferFailure {
    fn reason(self) -> &'static str {
        match self {
            OfferFailure::NoAnswer => "ring_no_answer",
            OfferFailure::Rejected => "rejected",
            OfferFailure::Unreachable => "endpoint_unreachable",
        }
    }
}

impl std::fmt::Display for OfferFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// One input to the ACD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Agent {
        agent_no: String,
        cmd: AgentCommand,
    },
    Supervisor {
        supervisor: String,
        cmd: SupervisorCommand,
    },
    /// A call wants an agent.
    CallArrived(IncomingCall),
    /// The agent's leg of an offered call is connected.
    CallAnswered {
        call: CallId,
        agent_no: String,
    },
    /// An offer failed at the endpoint (busy, rejected, unreachable).
    OfferFailed {
        call: CallId,
        agent_no: String,
        cause: OfferFailure,
    },
    /// The call is over (either side hung up), wherever it is.
    CallEnded {
        call: CallId,
    },
    /// A callback call reached the citizen (`reached`: they answered) or did not (busy, no
    /// answer, unreachable: `code` and `reason`). Sent once per attempt, after the agent answered.
    CallbackResult {
        call: CallId,
        reached: bool,
        code: u16,
        reason: String,
    },
    /// The caller accepted a callback offer and will hang up; the call keeps its place.
    CallbackAccepted {
        call: CallId,
        number: String,
    },
    /// A party beside the caller and the agent (a consulted colleague or department, a
    /// supervisor, a transfer target) rang, joined, failed or left, as the call layer saw it.
    Party {
        call: CallId,
        agent_no: String,
        party: String,
        role: PartyRole,
        status: PartyStatus,
    },
    /// The caller's history, looked up by the call layer after the call arrived (the database
    /// is not waited for on the way in); it reaches the screen pop of whoever is offered the call.
    CallerHistory {
        call: CallId,
        history: CallerHistory,
    },
    /// Time has passed: run due timers.
    Tick,
}

/// Why a party is on a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    /// The agent consults them (the caller waits with music), then may join all three or transfer.
    Consult,
    /// A supervisor monitoring, whispering, barging or intercepting.
    Supervisor,
    /// The target of a blind transfer out of the ACD (external number, department phone).
    Transfer,
    /// The number an agent's outbound call or callback dials.
    Callee,
}

/// Where a party's leg is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PartyStatus {
    Ringing,
    Joined,
    Failed { code: u16, reason: String },
    Left,
}

/// A record of a callback promise, persisted so it survives a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRecord {
    pub call: CallId,
    pub number: String,
    pub group: GroupId,
    pub priority: Priority,
    pub arrived_ms: Ms,
    pub accepted_ms: Ms,
    /// Calls made for it so far that did not reach the citizen.
    #[serde(default)]
    pub attempts: u32,
}

/// One agent state change, with time and reason, for the state log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    pub agent_no: String,
    pub from: AgentState,
    pub to: AgentState,
    pub reason: String,
    pub at_ms: Ms,
}

/// What the store must write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PersistOp {
    StateChange(StateChange),
    CallbackSaved(CallbackRecord),
    /// The promise is kept (`outcome` "reached") or given up (why, after how many attempts).
    CallbackDone {
        call: CallId,
        agent_no: String,
        at_ms: Ms,
        outcome: String,
    },
    /// One more callback attempt did not reach the citizen; the promise waits for the next.
    CallbackAttempt {
        call: CallId,
        attempts: u32,
        outcome: String,
        at_ms: Ms,
    },
    BlacklistAdded(BlacklistEntry),
    BlacklistRemoved {
        number: String,
        by: String,
        ip: String,
        at_ms: Ms,
    },
    RedListAdded(RedListEntry),
    RedListRemoved {
        number: String,
        by: String,
        ip: String,
        at_ms: Ms,
    },
    NotReadyCapSet {
        group: GroupId,
        cap: Option<u32>,
        by: String,
        at_ms: Ms,
    },
}

/// What the call and media layers must do with a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CallOp {
    Answer,
    Reject,
    Hangup,
    Hold,
    Retrieve,
    Mute {
        on: bool,
    },
    Consult {
        target: Target,
    },
    CancelConsult,
    Transfer {
        target: Target,
    },
    ThreeWay,
    DropParty {
        party: String,
    },
    /// Place an outbound call: ring the agent's `endpoint`, then dial `number` through a trunk.
    Dial {
        number: String,
        #[serde(default)]
        endpoint: Option<Endpoint>,
        #[serde(default = "yes")]
        auto_answer: bool,
    },
    Dtmf {
        digits: String,
    },
    PauseRecording {
        on: bool,
    },
    /// Take the agent's leg off the call and play music to the caller: the call was requeued.
    DetachAgent,
}

/// Why a waiting call left the queue without an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    Overflow,
    MaxWait,
    NoGroup,
}

/// Events the ACD publishes (CTI clients, wallboard, reports).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AcdEvent {
    AgentState {
        agent_no: String,
        state: AgentState,
        reason: String,
        at_ms: Ms,
    },
    CallQueued {
        call: CallId,
        group: GroupId,
        position: usize,
        priority: Priority,
    },
    /// Carries what the screen pop needs (A L1419: skill group id and name).
    CallRinging {
        call: CallId,
        agent_no: String,
        caller: String,
        did: String,
        group: GroupId,
        group_name: String,
        ivr_path: Vec<String>,
        waited_ms: Ms,
        red_list: bool,
        history: Option<CallerHistory>,
        auto_answer: bool,
        callback: bool,
    },
    CallAnswered {
        call: CallId,
        agent_no: String,
        caller: String,
        group: GroupId,
        group_name: String,
        waited_ms: Ms,
    },
    CallHeld {
        call: CallId,
        agent_no: String,
        held: bool,
    },
    RecordingPaused {
        call: CallId,
        agent_no: String,
        paused: bool,
    },
    CallTransferred {
        call: CallId,
        agent_no: String,
        target: Target,
    },
    CallRequeued {
        call: CallId,
        group: GroupId,
        reason: String,
    },
    CallEnded {
        call: CallId,
        agent_no: Option<String>,
        abandoned: bool,
    },
    CallLeftQueue {
        call: CallId,
        group: GroupId,
        reason: ExitReason,
        target: Option<OverflowTarget>,
    },
    QueueStats(QueueRow),
    Supervisor {
        supervisor: String,
        agent_no: String,
        action: String,
        call: Option<CallId>,
    },
    /// A party of the agent's call changed (see [`Event::Party`]).
    Party {
        call: CallId,
        agent_no: String,
        party: String,
        role: PartyRole,
        #[serde(flatten)]
        status: PartyStatus,
    },
    Alert {
        kind: String,
        agent_no: Option<String>,
        group: Option<GroupId>,
        text: String,
    },
    /// The caller's history arrived after the call was offered to (or answered by) the agent:
    /// the screen pop completes it.
    CallerHistory {
        call: CallId,
        agent_no: String,
        history: CallerHistory,
    },
}

impl AcdEvent {
    /// The agent an event is about, for routing it to that agent's CTI session.
    pub fn agent(&self) -> Option<&str> {
        match self {
            AcdEvent::AgentState { agent_no, .. }
            | AcdEvent::CallRinging { agent_no, .. }
            | AcdEvent::CallAnswered { agent_no, .. }
            | AcdEvent::CallHeld { agent_no, .. }
            | AcdEvent::RecordingPaused { agent_no, .. }
            | AcdEvent::CallTransferred { agent_no, .. }
            | AcdEvent::Party { agent_no, .. }
            | AcdEvent::CallerHistory { agent_no, .. }
            | AcdEvent::Supervisor { agent_no, .. } => Some(agent_no),
            AcdEvent::CallEnded { agent_no, .. } | AcdEvent::Alert { agent_no, .. } => {
                agent_no.as_deref()
            }
            _ => None,
        }
    }
}

/// One output of the ACD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Connect (auto-answer) or ring the agent's endpoint with this call. A callback dials `callback`.
    OfferCall {
        call: CallId,
        agent_no: String,
        endpoint: Option<Endpoint>,
        auto_answer: bool,
        ring_timeout_ms: Ms,
        callback: Option<String>,
    },
    /// Stop ringing this agent for this call.
    CancelOffer {
        call: CallId,
        agent_no: String,
    },
    /// Refuse a call (blacklisted): play the refusal and hang up.
    RejectCall {
        call: CallId,
        reason: String,
    },
    /// Play position and expected wait to a waiting caller.
    Announce {
        call: CallId,
        position: usize,
        expected_wait_ms: Ms,
    },
    /// Ask the caller whether they want a callback (answer with [`Event::CallbackAccepted`]).
    OfferCallback {
        call: CallId,
    },
    /// The call left the queue to a message (the call layer plays it).
    PlayMessage {
        call: CallId,
        prompt: String,
    },
    /// Call control for the B2BUA.
    CallControl {
        call: CallId,
        agent_no: String,
        op: CallOp,
    },
    /// Supervisor media: join / leave a call in a mode.
    Supervise {
        supervisor: String,
        agent_no: String,
        call: CallId,
        mode: Option<SuperviseMode>,
    },
    /// Close an agent's old CTI session (forced login / force logout).
    KickSession {
        agent_no: String,
        session: u64,
        reason: String,
    },
    /// Logout unbinds the extension (A L1844).
    UnbindEndpoint {
        agent_no: String,
        endpoint: Endpoint,
    },
    Persist(PersistOp),
    Publish(AcdEvent),
    /// The earliest deadline changed: feed [`Event::Tick`] at this time.
    ArmTimer {
        at_ms: Ms,
    },
}

fn yes() -> bool {
    true
}
