//! The ticket lifecycle as a sans-IO state machine.
//!
//! Drive it like str0m's `Rtc`: call [`Ticket::handle`] with one [`Command`], the acting user and
//! the time, or [`Ticket::handle_timeout`] when [`Ticket::next_timeout`] is reached; then drain
//! [`Ticket::poll`] for [`Output`]s (log events to append, notifications to send). Every command
//! is checked against the user's role, then the user's area or department (分权分域), then the
//! ticket's state; a refusal is a [`Refusal`] carrying the HTTP status it maps to and a reason.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::calendar::{Calendar, CalendarError, HOUR_MS};
use super::model::*;
use super::sla::{Deadline, Limit, SlaPolicy, SlaState};

/// Rules a centre configures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Result review levels before closing (≥1; the requirements ask at least 2).
    pub review_levels: u8,
    /// Handlings allowed before an unsatisfied ticket is closed for good (重办 up to 3 cycles).
    pub max_cycles: u8,
    /// Interim replies (阶段答复) allowed after an extension.
    pub max_interim_replies: u8,
    /// Open a supervision case when the handling deadline is overdue by this long.
    pub supervise_overdue_after_ms: i64,
    /// ... when returned this many times.
    pub supervise_after_returns: u32,
    /// ... when the citizen complained (urged or rated unsatisfied) this many times.
    pub supervise_after_complaints: u32,
    /// A closed ticket nobody evaluated within this long is archived unevaluated (超期自动办结;
    /// 24 natural hours in source A L1595/L2847). 0 disables it.
    pub auto_close_after_ms: i64,
    /// Which evaluations reopen a ticket (source A changed its rule over time, so it is chosen).
    pub reopen_on: ReopenOn,
    /// Failed revisit calls (no answer, phone off...) after which the ticket is archived as
    /// deemed satisfied (两次回访不成功按满意办结, source B1 L3431). 0 disables it.
    pub failed_revisits_to_close: u8,
}

/// Which evaluations send a ticket back for another handling cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReopenOn {
    /// Dissatisfied or unresolved (the rule and source A's earlier one).
    #[default]
    DissatisfiedOrUnresolved,
    /// Unresolved only: resolved or partly resolved closes regardless of satisfaction (source A's
    /// final rule, L2846-2849).
    Unresolved,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            review_levels: 2,
            max_cycles: 3,
            max_interim_replies: 2,
            supervise_overdue_after_ms: 24 * HOUR_MS,
            supervise_after_returns: 3,
            supervise_after_complaints: 2,
            auto_close_after_ms: 24 * HOUR_MS,
            reopen_on: ReopenOn::default(),
            failed_revisits_to_close: 2,
        }
    }
}

/// What the core reads but does not own: configuration, calendar and SLA table.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub config: &'a Config,
    pub calendar: &'a Calendar,
    pub sla: &'a SlaPolicy,
}

/// One action on a ticket (the body of `POST /tickets/{id}/actions`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// 受理: draft → accepted.
    Submit,
    /// 直办: answer and close (agent from accepted, dispatcher from pending_dispatch).
    DirectReply {
        reply: String,
    },
    /// 送审核: to the 初审岗 for dispatch.
    SendForReview,
    /// Pull a ticket back from the 初审岗 (its creator only).
    CancelReview,
    /// 派单 to a lead department plus assisting ones. `via` lists the intermediate levels when
    /// dispatching down several levels at once (filled from the hierarchy by the store).
    Dispatch {
        lead: String,
        #[serde(default)]
        assisting: Vec<String>,
        #[serde(default)]
        via: Vec<String>,
        #[serde(default)]
        immediate: bool,
        #[serde(default)]
        opinion: String,
    },
    /// 签收.
    SignFor,
    /// 分级下派 to a lower unit, which must then sign for it.
    PassDown {
        to: String,
        #[serde(default)]
        opinion: String,
    },
    /// 退单 with a coded reason; goes up one level, or to the centre's return review.
    Return {
        code: ReturnCode,
        reason: String,
    },
    ApproveReturn {
        #[serde(default)]
        opinion: String,
    },
    RejectReturn {
        opinion: String,
    },
    /// 申请延期, with the mandatory interim reply to the citizen.
    RequestExtension {
        extra: Limit,
        reason: String,
        interim_reply: String,
    },
    /// 申请挂起.
    RequestSuspension {
        reason: String,
    },
    ApproveRequest {
        #[serde(default)]
        opinion: String,
    },
    RefuseRequest {
        opinion: String,
    },
    /// End a suspension.
    Resume,
    /// 阶段答复 after an extension.
    InterimReply {
        text: String,
    },
    /// Feedback of an assisting (协办) department.
    AssistReply {
        text: String,
    },
    /// 结果反馈 of the lead department.
    Reply {
        result: String,
    },
    ApproveResult {
        #[serde(default)]
        opinion: String,
    },
    RejectResult {
        opinion: String,
    },
    /// 回访 with the citizen's evaluation.
    Revisit {
        method: RevisitMethod,
        satisfaction: Satisfaction,
        resolution: Resolution,
        #[serde(default)]
        note: String,
    },
    /// A revisit call that reached nobody (回访情况 other than 回访完成).
    RevisitFailed {
        outcome: RevisitOutcome,
        #[serde(default)]
        note: String,
    },
    /// 催办 (once, after half the limit).
    Urge {
        #[serde(default)]
        note: String,
    },
    OpenSupervision {
        level: SupervisionLevel,
        note: String,
    },
    CloseSupervision {
        case: u32,
        outcome: String,
    },
    /// Merge this duplicate under a master ticket.
    MergeInto {
        master: String,
    },
    /// 撤单.
    Withdraw {
        reason: String,
    },
    /// 废单.
    Void {
        code: VoidCode,
    },
    /// 补单: a note, allowed in every state.
    AddNote {
        text: String,
    },
}

impl Command {
    /// The snake_case name, as in the JSON `action` field and the event log.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Submit => "submit",
            Command::DirectReply { .. } => "direct_reply",
            Command::SendForReview => "send_for_review",
            Command::CancelReview => "cancel_review",
            Command::Dispatch { .. } => "dispatch",
            Command::SignFor => "sign_for",
            Command::PassDown { .. } => "pass_down",
            Command::Return { .. } => "return",
            Command::ApproveReturn { .. } => "approve_return",
            Command::RejectReturn { .. } => "reject_return",
            Command::RequestExtension { .. } => "request_extension",
            Command::RequestSuspension { .. } => "request_suspension",
            Command::ApproveRequest { .. } => "approve_request",
            Command::RefuseRequest { .. } => "refuse_request",
            Command::Resume => "resume",
            Command::InterimReply { .. } => "interim_reply",
            Command::AssistReply { .. } => "assist_reply",
            Command::Reply { .. } => "reply",
            Command::ApproveResult { .. } => "approve_result",
            Command::RejectResult { .. } => "reject_result",
            Command::Revisit { .. } => "revisit",
            Command::RevisitFailed { .. } => "revisit_failed",
            Command::Urge { .. } => "urge",
            Command::OpenSupervision { .. } => "open_supervision",
            Command::CloseSupervision { .. } => "close_supervision",
            Command::MergeInto { .. } => "merge_into",
            Command::Withdraw { .. } => "withdraw",
            Command::Void { .. } => "void",
            Command::AddNote { .. } => "add_note",
        }
    }
}

/// Who may issue a command.
enum Who {
    /// Any of these centre roles, within the user's region scope.
    Centre(&'static [Role]),
    /// A handler of the current lead department.
    Lead,
    /// A handler of an assisting department.
    Assisting,
    /// Centre roles in scope, or the citizen (through the signed link the API checks).
    CentreOrCitizen(&'static [Role]),
}

fn who(cmd: &Command) -> Who {
    use Command::*;
    match cmd {
        Submit | SendForReview | CancelReview | Void { .. } => Who::Centre(&[Role::Agent]),
        DirectReply { .. } => Who::Centre(&[Role::Agent, Role::Dispatcher]),
        Dispatch { .. } | ApproveReturn { .. } | RejectReturn { .. } => {
            Who::Centre(&[Role::Dispatcher])
        }
        MergeInto { .. } => Who::Centre(&[Role::Agent, Role::Dispatcher]),
        SignFor
        | PassDown { .. }
        | Return { .. }
        | RequestExtension { .. }
        | RequestSuspension { .. }
        | Resume
        | InterimReply { .. }
        | Reply { .. } => Who::Lead,
        AssistReply { .. } => Who::Assisting,
        ApproveRequest { .. }
        | RefuseRequest { .. }
        | ApproveResult { .. }
        | RejectResult { .. } => Who::Centre(&[Role::Reviewer]),
        Revisit { .. } => Who::CentreOrCitizen(&[Role::Revisitor]),
        RevisitFailed { .. } => Who::Centre(&[Role::Revisitor]),
        Urge { .. } => Who::CentreOrCitizen(&[Role::Agent, Role::Supervisor]),
        Withdraw { .. } => Who::CentreOrCitizen(&[Role::Agent]),
        OpenSupervision { .. } | CloseSupervision { .. } => Who::Centre(&[Role::Supervisor]),
        AddNote { .. } => Who::Centre(&[
            Role::Agent,
            Role::Dispatcher,
            Role::Reviewer,
            Role::Supervisor,
        ]),
    }
}

/// Why a command was refused. `Forbidden` → 403, `Conflict` → 409, `Invalid` → 422.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("forbidden ({code}): {reason}")]
    Forbidden { code: &'static str, reason: String },
    #[error("conflict ({code}): {reason}")]
    Conflict { code: &'static str, reason: String },
    #[error("invalid ({code}): {reason}")]
    Invalid { code: &'static str, reason: String },
}

impl Refusal {
    pub fn http_status(&self) -> u16 {
        match self {
            Refusal::Forbidden { .. } => 403,
            Refusal::Conflict { .. } => 409,
            Refusal::Invalid { .. } => 422,
        }
    }
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Forbidden { code, .. }
            | Refusal::Conflict { code, .. }
            | Refusal::Invalid { code, .. } => code,
        }
    }
}

fn forbidden(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal::Forbidden {
        code,
        reason: reason.into(),
    }
}
fn conflict(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal::Conflict {
        code,
        reason: reason.into(),
    }
}
fn invalid(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        code,
        reason: reason.into(),
    }
}
fn cal_err(e: CalendarError) -> Refusal {
    conflict("calendar", e.to_string())
}

/// One entry of the append-only event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at_ms: i64,
    /// User id, or `system` for timers and rules.
    pub actor: String,
    pub action: String,
    pub from: Status,
    pub to: Status,
    pub detail: Value,
}

/// Who a notification is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Recipient {
    Citizen,
    Department(String),
    Centre,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub to: Recipient,
    /// Template name: `revisit_link`, `interim_reply`, `dispatched`, `urge`, `sla_warning`...
    pub template: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Output {
    Event(Event),
    Notify(Notification),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PendingRequest {
    Extension {
        extra: Limit,
        reason: String,
        interim_reply: String,
        by: String,
    },
    Suspension {
        reason: String,
        by: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RevisitRecord {
    pub at_ms: i64,
    pub by: String,
    pub method: RevisitMethod,
    pub satisfaction: Satisfaction,
    pub resolution: Resolution,
    pub cycle: u8,
    /// Not the citizen's answer: recorded as satisfied after failed revisit calls. KPIs that
    /// count real evaluations leave these out.
    #[serde(default)]
    pub deemed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupervisionCase {
    pub id: u32,
    pub level: SupervisionLevel,
    pub cause: SupervisionCause,
    pub opened_ms: i64,
    pub closed_ms: Option<i64>,
    pub note: String,
}

/// The lifecycle state of one ticket (the parts the rules need; descriptive fields live in the store).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub status: Status,
    pub region_code: String,
    pub category_code: String,
    pub request_type: RequestType,
    pub urgency: Urgency,
    pub handling: HandlingType,
    pub created_by: String,
    /// The department currently responsible.
    pub lead: Option<String>,
    /// Dispatch path from the first-level unit down to `lead` (returns and replies climb it).
    pub chain: Vec<String>,
    pub assisting: Vec<String>,
    pub sign_deadline: Option<Deadline>,
    pub handle_deadline: Option<Deadline>,
    /// Result review level reached (1-based while reviewing).
    pub review_level: u8,
    pub reviewers: Vec<String>,
    pub pending: Option<PendingRequest>,
    pub extended: bool,
    pub suspensions: u32,
    pub interim_replies: u8,
    pub returned_from: Option<Status>,
    pub returns: u32,
    pub dispatches: u32,
    /// Handling cycle (1 first, +1 per reopen).
    pub cycle: u8,
    pub urged: bool,
    pub complaints: u32,
    pub revisits: Vec<RevisitRecord>,
    pub supervision: Vec<SupervisionCase>,
    pub master: Option<String>,
    pub overdue_sign: bool,
    pub overdue_handle: bool,
    pub replied_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    /// Closed after the last allowed cycle still unsatisfied.
    pub final_unsatisfied: bool,
    /// Archived because nobody evaluated it in time (未评价, 超期自动办结).
    #[serde(default)]
    pub auto_closed: bool,
    /// Failed revisit calls in the current cycle.
    #[serde(default)]
    pub failed_revisits: u8,
    /// Every department that held the ticket as lead (appeals are filed by these).
    #[serde(default)]
    pub handled_by: Vec<String>,
    #[serde(skip)]
    out: VecDeque<Output>,
}

/// Descriptive inputs that select rules for a new ticket.
#[derive(Clone, Debug, Default)]
pub struct NewTicket {
    pub id: String,
    pub region_code: String,
    pub category_code: String,
    pub request_type: RequestType,
    pub urgency: Urgency,
    pub created_by: String,
    /// Start as a draft (screen pop) or accepted at once (web form registered by an agent).
    pub draft: bool,
}

impl Ticket {
    pub fn new(n: NewTicket, now_ms: i64) -> Ticket {
        let status = if n.draft {
            Status::Draft
        } else {
            Status::Accepted
        };
        let mut t = Ticket {
            id: n.id,
            status,
            region_code: n.region_code,
            category_code: n.category_code,
            request_type: n.request_type,
            urgency: n.urgency,
            handling: HandlingType::Regular,
            created_by: n.created_by.clone(),
            lead: None,
            chain: Vec::new(),
            assisting: Vec::new(),
            sign_deadline: None,
            handle_deadline: None,
            review_level: 0,
            reviewers: Vec::new(),
            pending: None,
            extended: false,
            suspensions: 0,
            interim_replies: 0,
            returned_from: None,
            returns: 0,
            dispatches: 0,
            cycle: 1,
            urged: false,
            complaints: 0,
            revisits: Vec::new(),
            supervision: Vec::new(),
            master: None,
            overdue_sign: false,
            overdue_handle: false,
            replied_ms: None,
            closed_ms: None,
            final_unsatisfied: false,
            auto_closed: false,
            failed_revisits: 0,
            handled_by: Vec::new(),
            out: VecDeque::new(),
        };
        t.event(now_ms, &n.created_by, "create", status, status, json!({}));
        t
    }

    /// The next output, if any.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Checks whether `actor` may issue `cmd` now, without changing anything.
    pub fn check(&self, cmd: &Command, actor: &Actor) -> Result<(), Refusal> {
        self.check_who(cmd, actor)?;
        self.check_state(cmd, actor)
    }

    fn check_who(&self, cmd: &Command, actor: &Actor) -> Result<(), Refusal> {
        let centre = |roles: &[Role]| -> Result<(), Refusal> {
            if !roles.iter().any(|r| actor.has(*r)) {
                let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
                return Err(forbidden(
                    "role",
                    format!("`{}` needs the role {}", cmd.name(), names.join(" or ")),
                ));
            }
            if !actor.covers_region(&self.region_code) {
                return Err(forbidden(
                    "area",
                    format!(
                        "ticket region {} is outside your area {}",
                        self.region_code, actor.region_scope
                    ),
                ));
            }
            Ok(())
        };
        match who(cmd) {
            Who::Centre(roles) => centre(roles),
            Who::CentreOrCitizen(roles) => {
                if actor.roles.contains(&Role::Citizen) {
                    Ok(())
                } else {
                    centre(roles)
                }
            }
            Who::Lead | Who::Assisting => {
                if !actor.has(Role::DeptHandler) {
                    return Err(forbidden(
                        "role",
                        format!("`{}` is a department action", cmd.name()),
                    ));
                }
                let dept = actor.department.as_deref().unwrap_or("");
                let ok = match who(cmd) {
                    Who::Lead => self.lead.as_deref() == Some(dept),
                    _ => self.assisting.iter().any(|d| d == dept),
                };
                if ok {
                    Ok(())
                } else {
                    Err(forbidden(
                        "department",
                        format!("your department `{dept}` is not handling this ticket"),
                    ))
                }
            }
        }
    }

    fn check_state(&self, cmd: &Command, actor: &Actor) -> Result<(), Refusal> {
        use Command::*;
        use Status::*;
        let s = self.status;
        let in_states = |ok: &[Status]| -> Result<(), Refusal> {
            if ok.contains(&s) {
                Ok(())
            } else {
                Err(conflict(
                    "state",
                    format!(
                        "`{}` is not allowed while the ticket is {}",
                        cmd.name(),
                        s.as_str()
                    ),
                ))
            }
        };
        let restricted = matches!(
            self.handling,
            HandlingType::Reopen | HandlingType::Escalated
        );
        match cmd {
            Submit => in_states(&[Draft]),
            DirectReply { reply } => {
                non_empty("reply", reply)?;
                if actor.has(Role::Dispatcher) {
                    in_states(&[Accepted, PendingDispatch])
                } else {
                    in_states(&[Accepted])
                }
            }
            SendForReview => in_states(&[Accepted]),
            CancelReview => {
                in_states(&[PendingDispatch])?;
                if self.created_by != actor.user_id {
                    return Err(forbidden(
                        "not_creator",
                        "only the agent who registered it can pull it back",
                    ));
                }
                if self.dispatches > 0 {
                    return Err(conflict(
                        "already_dispatched",
                        "the ticket has been dispatched before",
                    ));
                }
                Ok(())
            }
            Dispatch {
                lead,
                assisting,
                via,
                ..
            } => {
                in_states(&[Accepted, PendingDispatch, Returned])?;
                non_empty("lead", lead)?;
                if assisting.len() > 20 || via.len() > 8 {
                    return Err(invalid(
                        "too_many",
                        "at most 20 assisting departments and 8 levels",
                    ));
                }
                if assisting.iter().any(|a| a == lead || a.is_empty()) {
                    return Err(invalid(
                        "assisting",
                        "an assisting department must differ from the lead",
                    ));
                }
                let mut sorted = assisting.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != assisting.len() {
                    return Err(invalid(
                        "assisting",
                        "an assisting department is listed twice",
                    ));
                }
                Ok(())
            }
            SignFor => in_states(&[Dispatched]),
            PassDown { to, .. } => {
                in_states(&[Handling])?;
                non_empty("to", to)?;
                if self.chain.iter().any(|d| d == to) || self.chain.len() >= 8 {
                    return Err(invalid(
                        "pass_down",
                        "cannot pass down to a unit already on the path",
                    ));
                }
                Ok(())
            }
            Return { reason, .. } => {
                in_states(&[Dispatched, Handling])?;
                non_empty("reason", reason)
            }
            ApproveReturn { .. } => in_states(&[Returned]),
            RejectReturn { opinion } => {
                in_states(&[Returned])?;
                non_empty("opinion", opinion)
            }
            RequestExtension {
                extra,
                reason,
                interim_reply,
            } => {
                in_states(&[Handling])?;
                non_empty("reason", reason)?;
                non_empty("interim_reply", interim_reply)?;
                if restricted {
                    return Err(conflict(
                        "no_extension",
                        "reopened or escalated tickets cannot be extended",
                    ));
                }
                if self.pending.is_some() {
                    return Err(conflict(
                        "request_pending",
                        "a request is already waiting for approval",
                    ));
                }
                if self.extended {
                    return Err(conflict(
                        "already_extended",
                        "only one extension per ticket",
                    ));
                }
                if self.suspensions > 0 {
                    return Err(conflict(
                        "exclusive",
                        "extension and suspension are mutually exclusive",
                    ));
                }
                let Some(dl) = &self.handle_deadline else {
                    return Err(conflict("no_deadline", "no running deadline"));
                };
                if extra.amount == 0 || extra.basis != dl.basis {
                    return Err(invalid(
                        "extra",
                        "the extension must be positive and in the deadline's unit",
                    ));
                }
                if extra.ms() > dl.limit_ms {
                    return Err(conflict(
                        "extension_too_long",
                        "an extension may be at most 1× the original limit",
                    ));
                }
                Ok(())
            }
            RequestSuspension { reason } => {
                in_states(&[Handling])?;
                non_empty("reason", reason)?;
                if restricted {
                    return Err(conflict(
                        "no_suspension",
                        "reopened or escalated tickets cannot be suspended",
                    ));
                }
                if self.pending.is_some() {
                    return Err(conflict(
                        "request_pending",
                        "a request is already waiting for approval",
                    ));
                }
                if self.extended {
                    return Err(conflict(
                        "exclusive",
                        "extension and suspension are mutually exclusive",
                    ));
                }
                Ok(())
            }
            ApproveRequest { .. } | RefuseRequest { .. } => {
                in_states(&[Handling])?;
                if let RefuseRequest { opinion } = cmd {
                    non_empty("opinion", opinion)?;
                }
                if self.pending.is_none() {
                    return Err(conflict(
                        "no_request",
                        "no extension or suspension request is waiting",
                    ));
                }
                Ok(())
            }
            Resume => in_states(&[Suspended]),
            InterimReply { text } => {
                in_states(&[Handling])?;
                non_empty("text", text)?;
                if !self.extended {
                    return Err(conflict(
                        "not_extended",
                        "interim replies follow an approved extension",
                    ));
                }
                if self.interim_replies >= 2 {
                    return Err(conflict(
                        "interim_limit",
                        "no more interim replies; only the final reply",
                    ));
                }
                Ok(())
            }
            AssistReply { text } => {
                in_states(&[Dispatched, Handling, Suspended])?;
                non_empty("text", text)
            }
            Reply { result } => {
                in_states(&[Handling])?;
                non_empty("result", result)?;
                if self.pending.is_some() {
                    return Err(conflict(
                        "request_pending",
                        "a request is waiting for approval",
                    ));
                }
                Ok(())
            }
            ApproveResult { .. } => {
                in_states(&[Reviewing])?;
                if self.reviewers.contains(&actor.user_id) {
                    return Err(conflict(
                        "same_reviewer",
                        "each review level needs a different reviewer",
                    ));
                }
                Ok(())
            }
            RejectResult { opinion } => {
                in_states(&[Reviewing])?;
                non_empty("opinion", opinion)
            }
            Revisit { method, .. } => {
                in_states(&[Closed])?;
                if actor.roles.contains(&Role::Citizen) && *method != RevisitMethod::Sms {
                    return Err(forbidden("sms_only", "citizens rate through the SMS link"));
                }
                Ok(())
            }
            RevisitFailed { note, .. } => {
                in_states(&[Closed])?;
                if note.len() > 20_000 {
                    return Err(invalid("note", "`note` is too long"));
                }
                Ok(())
            }
            Urge { .. } => {
                in_states(&[Dispatched, Handling, Suspended])?;
                if self.urged {
                    return Err(conflict("already_urged", "a ticket may be urged once"));
                }
                Ok(())
            }
            OpenSupervision { note, .. } => {
                non_empty("note", note)?;
                in_states(&[
                    Accepted,
                    PendingDispatch,
                    Dispatched,
                    Handling,
                    Suspended,
                    Returned,
                    Reviewing,
                    Closed,
                ])?;
                if self.supervision.len() >= 50 {
                    return Err(conflict("too_many", "too many supervision cases"));
                }
                Ok(())
            }
            CloseSupervision { case, outcome } => {
                non_empty("outcome", outcome)?;
                match self.supervision.iter().find(|c| c.id == *case) {
                    None => Err(conflict("no_case", format!("no supervision case {case}"))),
                    Some(c) if c.closed_ms.is_some() => {
                        Err(conflict("case_closed", "the case is already closed"))
                    }
                    Some(_) => Ok(()),
                }
            }
            MergeInto { master } => {
                in_states(&[Draft, Accepted, PendingDispatch, Returned])?;
                non_empty("master", master)?;
                if *master == self.id {
                    return Err(invalid("master", "a ticket cannot be merged into itself"));
                }
                Ok(())
            }
            Withdraw { reason } => {
                non_empty("reason", reason)?;
                in_states(&[
                    Draft,
                    Accepted,
                    PendingDispatch,
                    Dispatched,
                    Handling,
                    Suspended,
                    Returned,
                ])
            }
            Void { .. } => in_states(&[Draft, Accepted]),
            AddNote { text } => non_empty("text", text),
        }
    }

    /// Applies one command at `now_ms`. On refusal nothing changes and nothing is output.
    pub fn handle(
        &mut self,
        cmd: Command,
        actor: &Actor,
        now_ms: i64,
        env: Env<'_>,
    ) -> Result<(), Refusal> {
        self.check(&cmd, actor)?;
        // Work on a copy so a calendar error half-way leaves the ticket untouched.
        let mut next = self.clone();
        next.out.clear();
        next.apply(cmd, actor, now_ms, env)?;
        let produced = std::mem::take(&mut next.out);
        *self = next;
        self.out.extend(produced);
        Ok(())
    }

    fn apply(
        &mut self,
        cmd: Command,
        actor: &Actor,
        now: i64,
        env: Env<'_>,
    ) -> Result<(), Refusal> {
        use Command::*;
        let who = actor.user_id.as_str();
        let from = self.status;
        let name = cmd.name();
        match cmd {
            Submit => self.goto(now, who, name, Status::Accepted, json!({})),
            SendForReview => self.goto(now, who, name, Status::PendingDispatch, json!({})),
            CancelReview => self.goto(now, who, name, Status::Accepted, json!({})),
            DirectReply { reply } => {
                self.closed_ms = Some(now);
                self.goto(now, who, name, Status::Closed, json!({ "reply": reply }));
                self.notify(Recipient::Citizen, "revisit_link", "工单已办结，请评价");
            }
            Dispatch {
                lead,
                assisting,
                via,
                immediate,
                opinion,
            } => {
                self.handling = if self.cycle >= 3 {
                    HandlingType::Reopen
                } else if self.handling == HandlingType::Escalated {
                    HandlingType::Escalated
                } else if immediate {
                    HandlingType::Immediate
                } else {
                    HandlingType::Regular
                };
                let limits = env.sla.limits(
                    &self.category_code,
                    self.request_type,
                    self.urgency,
                    self.handling,
                );
                self.sign_deadline =
                    Some(Deadline::start(env.calendar, limits.sign_for, now).map_err(cal_err)?);
                self.handle_deadline =
                    Some(Deadline::start(env.calendar, limits.handle, now).map_err(cal_err)?);
                self.chain = via
                    .into_iter()
                    .filter(|d| !d.is_empty() && *d != lead)
                    .collect();
                self.chain.push(lead.clone());
                self.lead = Some(lead.clone());
                for d in &self.chain {
                    if !self.handled_by.contains(d) {
                        self.handled_by.push(d.clone());
                    }
                }
                self.assisting = assisting.clone();
                self.dispatches += 1;
                self.returned_from = None;
                self.pending = None;
                self.extended = false;
                self.suspensions = 0;
                self.interim_replies = 0;
                self.overdue_sign = false;
                self.overdue_handle = false;
                self.replied_ms = None;
                let detail = json!({
                    "lead": lead, "assisting": assisting, "chain": self.chain, "opinion": opinion,
                    "handling": self.handling, "sign_for": limits.sign_for, "handle": limits.handle,
                    "sign_due_ms": self.sign_deadline.as_ref().map(|d| d.due_ms),
                    "due_ms": self.handle_deadline.as_ref().map(|d| d.due_ms),
                });
                self.goto(now, who, name, Status::Dispatched, detail);
                self.notify(Recipient::Department(lead), "dispatched", "新工单待签收");
                for a in assisting {
                    self.notify(Recipient::Department(a), "assist", "新协办工单");
                }
            }
            SignFor => {
                let late = self.sign_deadline.as_ref().is_some_and(|d| now > d.due_ms);
                self.overdue_sign |= late;
                self.goto(
                    now,
                    who,
                    name,
                    Status::Handling,
                    json!({ "late": late, "department": self.lead }),
                );
            }
            PassDown { to, opinion } => {
                let limits = env.sla.limits(
                    &self.category_code,
                    self.request_type,
                    self.urgency,
                    self.handling,
                );
                self.sign_deadline =
                    Some(Deadline::start(env.calendar, limits.sign_for, now).map_err(cal_err)?);
                let by = self.lead.clone();
                self.chain.push(to.clone());
                self.lead = Some(to.clone());
                if !self.handled_by.contains(&to) {
                    self.handled_by.push(to.clone());
                }
                self.goto(
                    now,
                    who,
                    name,
                    Status::Dispatched,
                    json!({ "from_department": by, "to": to, "opinion": opinion }),
                );
                self.notify(
                    Recipient::Department(to),
                    "dispatched",
                    "上级单位下派工单待签收",
                );
            }
            Return { code, reason } => {
                self.returns += 1;
                let by = self.lead.clone();
                if self.chain.len() > 1 {
                    // Returns climb the dispatch path level by level.
                    self.chain.pop();
                    self.lead = self.chain.last().cloned();
                    self.sign_deadline = None;
                    self.goto(now, who, name, Status::Handling, json!({ "code": code, "reason": reason, "from_department": by, "to_department": self.lead }));
                } else {
                    self.returned_from = Some(from);
                    self.pause_clocks(env, now)?;
                    self.goto(
                        now,
                        who,
                        name,
                        Status::Returned,
                        json!({ "code": code, "reason": reason, "from_department": by }),
                    );
                }
                if self.returns >= env.config.supervise_after_returns
                    && !self.has_open(SupervisionCause::ReturnedRepeatedly)
                {
                    self.open_case(
                        now,
                        SupervisionLevel::Grassroots,
                        SupervisionCause::ReturnedRepeatedly,
                        "退单次数过多",
                    );
                }
            }
            ApproveReturn { opinion } => {
                self.lead = None;
                self.chain.clear();
                self.assisting.clear();
                self.sign_deadline = None;
                self.handle_deadline = None;
                self.returned_from = None;
                self.goto(
                    now,
                    who,
                    name,
                    Status::PendingDispatch,
                    json!({ "opinion": opinion }),
                );
            }
            RejectReturn { opinion } => {
                let back = self.returned_from.take().unwrap_or(Status::Handling);
                self.resume_clocks(env, now)?;
                self.goto(
                    now,
                    who,
                    name,
                    back,
                    json!({ "opinion": opinion, "department": self.lead }),
                );
                if let Some(lead) = self.lead.clone() {
                    self.notify(
                        Recipient::Department(lead),
                        "return_rejected",
                        "退单未通过，请继续办理",
                    );
                }
            }
            RequestExtension {
                extra,
                reason,
                interim_reply,
            } => {
                self.pending = Some(PendingRequest::Extension {
                    extra,
                    reason: reason.clone(),
                    interim_reply,
                    by: who.into(),
                });
                self.log(now, who, name, json!({ "extra": extra, "reason": reason }));
            }
            RequestSuspension { reason } => {
                self.pending = Some(PendingRequest::Suspension {
                    reason: reason.clone(),
                    by: who.into(),
                });
                self.log(now, who, name, json!({ "reason": reason }));
            }
            ApproveRequest { opinion } => match self.pending.take() {
                Some(PendingRequest::Extension {
                    extra,
                    interim_reply,
                    ..
                }) => {
                    if let Some(dl) = &mut self.handle_deadline {
                        dl.extend(env.calendar, extra).map_err(cal_err)?;
                    }
                    self.extended = true;
                    let due = self.handle_deadline.as_ref().map(|d| d.due_ms);
                    self.log(
                        now,
                        who,
                        "approve_extension",
                        json!({ "opinion": opinion, "extra": extra, "due_ms": due }),
                    );
                    self.notify(Recipient::Citizen, "interim_reply", &interim_reply);
                }
                Some(PendingRequest::Suspension { reason, .. }) => {
                    self.suspensions += 1;
                    self.pause_clocks(env, now)?;
                    self.goto(
                        now,
                        who,
                        "approve_suspension",
                        Status::Suspended,
                        json!({ "opinion": opinion, "reason": reason }),
                    );
                }
                None => {}
            },
            RefuseRequest { opinion } => {
                let kind = match self.pending.take() {
                    Some(PendingRequest::Extension { .. }) => "refuse_extension",
                    _ => "refuse_suspension",
                };
                self.log(now, who, kind, json!({ "opinion": opinion }));
            }
            Resume => {
                self.resume_clocks(env, now)?;
                let due = self.handle_deadline.as_ref().map(|d| d.due_ms);
                self.goto(now, who, name, Status::Handling, json!({ "due_ms": due }));
            }
            InterimReply { text } => {
                self.interim_replies += 1;
                self.log(now, who, name, json!({ "text": text }));
                self.notify(Recipient::Citizen, "interim_reply", &text);
            }
            AssistReply { text } => {
                let dept = actor.department.clone();
                self.log(now, who, name, json!({ "text": text, "department": dept }));
            }
            Reply { result } => {
                let by = self.lead.clone();
                if self.chain.len() > 1 {
                    // Feedback climbs the path: the upper unit adopts or revises it.
                    self.chain.pop();
                    self.lead = self.chain.last().cloned();
                    self.goto(
                        now,
                        who,
                        "lower_reply",
                        Status::Handling,
                        json!({ "result": result, "from_department": by }),
                    );
                } else {
                    let on_time = self
                        .handle_deadline
                        .as_ref()
                        .is_none_or(|d| now <= d.due_ms);
                    self.overdue_handle |= !on_time;
                    self.replied_ms = Some(now);
                    self.review_level = 1;
                    self.reviewers.clear();
                    self.goto(
                        now,
                        who,
                        name,
                        Status::Reviewing,
                        json!({ "result": result, "on_time": on_time, "department": by }),
                    );
                    if !self.assisting.is_empty() {
                        let closed = self.assisting.clone();
                        self.log(
                            now,
                            "system",
                            "assist_closed",
                            json!({ "departments": closed }),
                        );
                    }
                }
            }
            ApproveResult { opinion } => {
                self.reviewers.push(who.to_string());
                if self.review_level < env.config.review_levels.max(1) {
                    self.review_level += 1;
                    self.log(
                        now,
                        who,
                        name,
                        json!({ "opinion": opinion, "next_level": self.review_level }),
                    );
                } else {
                    self.closed_ms = Some(now);
                    self.goto(
                        now,
                        who,
                        name,
                        Status::Closed,
                        json!({ "opinion": opinion, "level": self.review_level }),
                    );
                    self.notify(
                        Recipient::Citizen,
                        "revisit_link",
                        "您的诉求已办结，请点击链接评价",
                    );
                }
            }
            RejectResult { opinion } => {
                self.review_level = 0;
                self.reviewers.clear();
                self.replied_ms = None;
                self.goto(
                    now,
                    who,
                    name,
                    Status::Handling,
                    json!({ "opinion": opinion }),
                );
                if let Some(lead) = self.lead.clone() {
                    self.notify(
                        Recipient::Department(lead),
                        "result_rejected",
                        "办理结果审核不通过，请修改",
                    );
                }
            }
            Revisit {
                method,
                satisfaction,
                resolution,
                note,
            } => {
                self.revisits.push(RevisitRecord {
                    at_ms: now,
                    by: who.into(),
                    method,
                    satisfaction,
                    resolution,
                    cycle: self.cycle,
                    deemed: false,
                });
                let complaint = satisfaction == Satisfaction::Dissatisfied
                    || resolution == Resolution::Unresolved;
                let reopen = match env.config.reopen_on {
                    ReopenOn::DissatisfiedOrUnresolved => complaint,
                    ReopenOn::Unresolved => resolution == Resolution::Unresolved,
                };
                let detail = json!({ "method": method, "satisfaction": satisfaction, "resolution": resolution, "note": note, "cycle": self.cycle });
                if !reopen {
                    if complaint {
                        // Counted for supervision even when the rule closes the ticket.
                        self.complaints += 1;
                    }
                    self.goto(now, who, name, Status::Archived, detail);
                    if complaint {
                        self.complaint_rule(now, env);
                    }
                } else {
                    self.complaints += 1;
                    if self.cycle >= env.config.max_cycles {
                        self.final_unsatisfied = true;
                        self.goto(now, who, name, Status::Archived, detail);
                    } else {
                        self.cycle += 1;
                        self.urged = false;
                        self.failed_revisits = 0;
                        self.lead = None;
                        self.chain.clear();
                        self.assisting.clear();
                        self.sign_deadline = None;
                        self.handle_deadline = None;
                        self.closed_ms = None;
                        // 1st unsatisfied → 敦促函, 2nd → 整改函 with the fixed reopen limit.
                        let letter = if self.cycle >= 3 {
                            "rectification"
                        } else {
                            "urging"
                        };
                        self.goto(
                            now,
                            who,
                            "reopen",
                            Status::PendingDispatch,
                            json!({ "revisit": detail, "letter": letter }),
                        );
                    }
                    self.complaint_rule(now, env);
                }
            }
            RevisitFailed { outcome, note } => {
                self.failed_revisits = self.failed_revisits.saturating_add(1);
                let attempt = self.failed_revisits;
                let limit = env.config.failed_revisits_to_close;
                self.log(
                    now,
                    who,
                    name,
                    json!({ "outcome": outcome, "note": note, "attempt": attempt }),
                );
                if limit > 0 && attempt >= limit {
                    self.revisits.push(RevisitRecord {
                        at_ms: now,
                        by: who.into(),
                        method: RevisitMethod::Phone,
                        satisfaction: Satisfaction::Satisfied,
                        resolution: Resolution::Resolved,
                        cycle: self.cycle,
                        deemed: true,
                    });
                    self.goto(
                        now,
                        who,
                        "deemed_satisfied",
                        Status::Archived,
                        json!({ "attempts": attempt, "cycle": self.cycle }),
                    );
                }
            }
            Urge { note } => {
                let Some(dl) = &self.handle_deadline else {
                    return Err(conflict("no_deadline", "no running deadline"));
                };
                let elapsed = dl.elapsed(env.calendar, now).map_err(cal_err)?;
                if elapsed * 2 < dl.limit_ms {
                    return Err(conflict(
                        "urge_too_early",
                        "urging opens after half the time limit",
                    ));
                }
                self.urged = true;
                self.complaints += 1;
                self.log(now, who, name, json!({ "note": note }));
                if let Some(lead) = self.lead.clone() {
                    self.notify(Recipient::Department(lead), "urge", "市民催办");
                }
                self.complaint_rule(now, env);
            }
            OpenSupervision { level, note } => {
                self.open_case(now, level, SupervisionCause::Manual, &note)
            }
            CloseSupervision { case, outcome } => {
                if let Some(c) = self.supervision.iter_mut().find(|c| c.id == case) {
                    c.closed_ms = Some(now);
                }
                self.log(now, who, name, json!({ "case": case, "outcome": outcome }));
            }
            MergeInto { master } => {
                self.master = Some(master.clone());
                self.goto(now, who, name, Status::Merged, json!({ "master": master }));
            }
            Withdraw { reason } => {
                self.sign_deadline = None;
                self.handle_deadline = None;
                self.pending = None;
                self.goto(
                    now,
                    who,
                    name,
                    Status::Withdrawn,
                    json!({ "reason": reason }),
                );
                if let Some(lead) = self.lead.clone() {
                    self.notify(Recipient::Department(lead), "withdrawn", "市民已撤单");
                }
            }
            Void { code } => self.goto(now, who, name, Status::Voided, json!({ "code": code })),
            AddNote { text } => self.log(now, who, name, json!({ "text": text })),
        }
        Ok(())
    }

    /// The next instant [`Ticket::handle_timeout`] wants to run, if any.
    pub fn next_timeout(&self, env: Env<'_>, now_ms: i64) -> Option<i64> {
        let mut next: Option<i64> = None;
        let mut consider = |t: Option<i64>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: i64| n.min(t)));
            }
        };
        if self.status == Status::Dispatched {
            if let Some(d) = &self.sign_deadline {
                if d.state(env.sla, now_ms) > d.warned {
                    consider(Some(now_ms));
                } else if d.warned != SlaState::Overdue {
                    consider(d.next_change(env.sla, now_ms));
                }
            }
        }
        if matches!(self.status, Status::Dispatched | Status::Handling) {
            if let Some(d) = &self.handle_deadline {
                if d.state(env.sla, now_ms) > d.warned {
                    consider(Some(now_ms));
                } else if d.warned != SlaState::Overdue {
                    consider(d.next_change(env.sla, now_ms));
                } else if !self.has_open(SupervisionCause::Overdue) {
                    consider(Some(d.due_ms + env.config.supervise_overdue_after_ms));
                }
            }
        }
        consider(self.auto_close_at(env));
        next
    }

    /// When an unevaluated closed ticket archives itself, if it will.
    fn auto_close_at(&self, env: Env<'_>) -> Option<i64> {
        let after = env.config.auto_close_after_ms;
        if self.status != Status::Closed || after <= 0 {
            return None;
        }
        self.closed_ms.map(|c| c.saturating_add(after))
    }

    /// Runs the deadline rules at `now_ms`: yellow/red warnings, overdue, supervision by overdue.
    pub fn handle_timeout(&mut self, now_ms: i64, env: Env<'_>) {
        if self.auto_close_at(env).is_some_and(|at| now_ms >= at) {
            // 未评价: no revisit record, so the satisfaction KPIs do not count it either way.
            self.auto_closed = true;
            let closed = self.closed_ms;
            self.goto(
                now_ms,
                "system",
                "auto_close",
                Status::Archived,
                json!({ "reason": "no_evaluation", "closed_ms": closed, "cycle": self.cycle }),
            );
            return;
        }
        if self.status == Status::Dispatched {
            if let Some(mut d) = self.sign_deadline.take() {
                self.warn(&mut d, "sign_for", now_ms, env);
                self.sign_deadline = Some(d);
            }
        }
        if matches!(self.status, Status::Dispatched | Status::Handling) {
            if let Some(mut d) = self.handle_deadline.take() {
                self.warn(&mut d, "handle", now_ms, env);
                let late_enough = now_ms >= d.due_ms + env.config.supervise_overdue_after_ms;
                self.handle_deadline = Some(d);
                if late_enough && !self.has_open(SupervisionCause::Overdue) {
                    self.open_case(
                        now_ms,
                        SupervisionLevel::Grassroots,
                        SupervisionCause::Overdue,
                        "超期督办：24小时内反馈进展",
                    );
                }
            }
        }
    }

    fn warn(&mut self, d: &mut Deadline, which: &str, now: i64, env: Env<'_>) {
        let state = d.state(env.sla, now);
        if state <= d.warned {
            return;
        }
        d.warned = state;
        if state == SlaState::Overdue {
            if which == "sign_for" {
                self.overdue_sign = true;
            } else {
                self.overdue_handle = true;
            }
        }
        self.log(
            now,
            "system",
            "sla_warning",
            json!({ "deadline": which, "state": state, "due_ms": d.due_ms }),
        );
        if let Some(lead) = self.lead.clone() {
            self.notify(
                Recipient::Department(lead),
                "sla_warning",
                &format!("{which} {state:?}"),
            );
        }
    }

    fn has_open(&self, cause: SupervisionCause) -> bool {
        self.supervision
            .iter()
            .any(|c| c.cause == cause && c.closed_ms.is_none())
    }

    fn complaint_rule(&mut self, now: i64, env: Env<'_>) {
        if self.complaints >= env.config.supervise_after_complaints
            && !self.has_open(SupervisionCause::RepeatedComplaints)
        {
            self.open_case(
                now,
                SupervisionLevel::City,
                SupervisionCause::RepeatedComplaints,
                "诉求人多次投诉",
            );
        }
    }

    fn open_case(
        &mut self,
        now: i64,
        level: SupervisionLevel,
        cause: SupervisionCause,
        note: &str,
    ) {
        let id = self.supervision.len() as u32 + 1;
        self.supervision.push(SupervisionCase {
            id,
            level,
            cause,
            opened_ms: now,
            closed_ms: None,
            note: note.into(),
        });
        let actor = if cause == SupervisionCause::Manual {
            "supervisor"
        } else {
            "system"
        };
        self.log(
            now,
            actor,
            "open_supervision",
            json!({ "case": id, "level": level, "cause": cause, "note": note }),
        );
        if let Some(lead) = self.lead.clone() {
            self.notify(Recipient::Department(lead), "supervision", note);
        }
        self.notify(Recipient::Centre, "supervision", note);
    }

    fn pause_clocks(&mut self, env: Env<'_>, now: i64) -> Result<(), Refusal> {
        for d in [&mut self.sign_deadline, &mut self.handle_deadline]
            .into_iter()
            .flatten()
        {
            d.pause(env.calendar, now).map_err(cal_err)?;
        }
        Ok(())
    }

    fn resume_clocks(&mut self, env: Env<'_>, now: i64) -> Result<(), Refusal> {
        for d in [&mut self.sign_deadline, &mut self.handle_deadline]
            .into_iter()
            .flatten()
        {
            d.resume(env.calendar, now).map_err(cal_err)?;
        }
        Ok(())
    }

    fn goto(&mut self, now: i64, who: &str, action: &str, to: Status, detail: Value) {
        let from = self.status;
        self.status = to;
        self.event(now, who, action, from, to, detail);
    }

    fn log(&mut self, now: i64, who: &str, action: &str, detail: Value) {
        self.event(now, who, action, self.status, self.status, detail);
    }

    fn event(
        &mut self,
        at_ms: i64,
        who: &str,
        action: &str,
        from: Status,
        to: Status,
        detail: Value,
    ) {
        self.out.push_back(Output::Event(Event {
            at_ms,
            actor: who.to_string(),
            action: action.to_string(),
            from,
            to,
            detail,
        }));
    }

    fn notify(&mut self, to: Recipient, template: &str, text: &str) {
        self.out.push_back(Output::Notify(Notification {
            to,
            template: template.into(),
            text: text.into(),
        }));
    }

    /// The current SLA state of the running deadline (for lists and KPIs).
    pub fn sla_state(&self, env: Env<'_>, now_ms: i64) -> Option<SlaState> {
        if !self.status.at_department() {
            return None;
        }
        self.handle_deadline
            .as_ref()
            .map(|d| d.state(env.sla, now_ms))
    }
}

fn non_empty(field: &'static str, v: &str) -> Result<(), Refusal> {
    if v.trim().is_empty() {
        Err(invalid(field, format!("`{field}` must not be empty")))
    } else if v.len() > 20_000 {
        Err(invalid(field, format!("`{field}` is too long")))
    } else {
        Ok(())
    }
}

/// Convenience for tests and shells: drain all outputs.
pub fn drain(t: &mut Ticket) -> Vec<Output> {
    std::iter::from_fn(|| t.poll()).collect()
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
