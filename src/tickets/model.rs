//! The work-order vocabulary: statuses, request types, urgency, roles, the acting user, and the
//! small enums that travel between the lifecycle core, the store and the API (names per GLOSSARY).

use serde::{Deserialize, Serialize};

/// A ticket's place in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// 暂存: being registered (e.g. popped on answer), not yet accepted.
    Draft,
    /// 受理: registered; the agent chooses a handling path.
    Accepted,
    /// 待派发 at the 初审岗 (initial review / dispatch post).
    PendingDispatch,
    /// 待签收: sent to the lead department, waiting for it to sign for it.
    Dispatched,
    /// 处置中: signed for and being handled.
    Handling,
    /// 挂起: handling suspended with approval; the clock is paused.
    Suspended,
    /// 退回待审: the department returned it; the centre reviews the return.
    Returned,
    /// 待审核: the reply is in result review (level in the ticket).
    Reviewing,
    /// 办结: closed, awaiting the revisit.
    Closed,
    /// 归档: revisited (or closed for good); terminal except for notes.
    Archived,
    /// Merged under a master ticket (duplicate); terminal.
    Merged,
    /// 撤单: withdrawn by the citizen's wish; terminal.
    Withdrawn,
    /// 废单: void (silent call, test call...); terminal.
    Voided,
}

impl Status {
    pub const ALL: [Status; 13] = [
        Status::Draft,
        Status::Accepted,
        Status::PendingDispatch,
        Status::Dispatched,
        Status::Handling,
        Status::Suspended,
        Status::Returned,
        Status::Reviewing,
        Status::Closed,
        Status::Archived,
        Status::Merged,
        Status::Withdrawn,
        Status::Voided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Accepted => "accepted",
            Status::PendingDispatch => "pending_dispatch",
            Status::Dispatched => "dispatched",
            Status::Handling => "handling",
            Status::Suspended => "suspended",
            Status::Returned => "returned",
            Status::Reviewing => "reviewing",
            Status::Closed => "closed",
            Status::Archived => "archived",
            Status::Merged => "merged",
            Status::Withdrawn => "withdrawn",
            Status::Voided => "voided",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// No further lifecycle actions (notes still allowed).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Archived | Status::Merged | Status::Withdrawn | Status::Voided
        )
    }

    /// At a department (its deadline clocks run here).
    pub fn at_department(self) -> bool {
        matches!(
            self,
            Status::Dispatched | Status::Handling | Status::Suspended
        )
    }
}

/// 诉求类型.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    Consultation,
    Suggestion,
    Help,
    #[default]
    Complaint,
    Report,
    Praise,
    Other,
}

/// 紧急程度: 普通 / 紧急 / 重大.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    #[default]
    Normal,
    Urgent,
    Major,
}

/// How a dispatch is handled, which selects its SLA row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HandlingType {
    #[default]
    Regular,
    /// 接诉即办: urgent matters acted on at receipt.
    Immediate,
    /// 重办 after the 2nd unsatisfactory evaluation: fixed limit, no extension or suspension.
    Reopen,
    /// 提级督办: escalated supervision, same constraints.
    Escalated,
}

/// Intake channel (诉求来源).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Phone,
    Web,
    App,
    Wechat,
    Email,
    Manual,
}

/// 退单 reason codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnCode {
    /// 非本单位职责.
    NotOurDuty,
    /// 已办理 / duplicate of handled matter.
    AlreadyHandled,
    /// 诉求不清.
    Unclear,
    /// Belongs to another level (e.g. the prefecture hotline).
    WrongLevel,
    Other,
}

/// 废单 reason codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidCode {
    SilentCall,
    HarassingCall,
    TestCall,
    SignalLost,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevisitMethod {
    Phone,
    Sms,
}

/// 满意 / 一般 / 不满意.
/// 回访情况 of a revisit call that reached nobody (source A L2349).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevisitOutcome {
    /// 无人接听 / 无法接通.
    NoAnswer,
    /// 通话中断.
    CallDropped,
    /// 关机 / 停机.
    PhoneOff,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    Satisfied,
    Neutral,
    Dissatisfied,
}

/// 已解决 / 部分解决 / 未解决.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Resolved,
    Partly,
    Unresolved,
}

/// 督办 levels: 基层 / 市级 / 省级.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SupervisionLevel {
    Grassroots,
    City,
    Province,
}

/// Why a supervision case was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisionCause {
    Manual,
    Overdue,
    ReturnedRepeatedly,
    RepeatedComplaints,
}

/// A user's roles. A user may hold several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 话务员: registers tickets, direct replies, sends for review, withdraws, voids.
    Agent,
    /// 初审岗 / 派单员: dispatches, reviews returns.
    Dispatcher,
    /// 审核岗 / 复核员: result review, extension and suspension approval.
    Reviewer,
    /// 回访员: revisits.
    Revisitor,
    /// 班长 / 督办: supervision cases, urges.
    Supervisor,
    /// 承办人 of a department: sign for, pass down, return, reply, request extension/suspension.
    DeptHandler,
    /// Everything on the centre side.
    Admin,
    /// The citizen through a signed public link: urge, withdraw, rate.
    Citizen,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Dispatcher => "dispatcher",
            Role::Reviewer => "reviewer",
            Role::Revisitor => "revisitor",
            Role::Supervisor => "supervisor",
            Role::DeptHandler => "dept_handler",
            Role::Admin => "admin",
            Role::Citizen => "citizen",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::Agent,
            Role::Dispatcher,
            Role::Reviewer,
            Role::Revisitor,
            Role::Supervisor,
            Role::DeptHandler,
            Role::Admin,
            Role::Citizen,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Who is acting: roles plus area (分权分域).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: String,
    pub roles: Vec<Role>,
    /// Region code prefix the user may act in ("" = everywhere). Region codes are hierarchical
    /// (e.g. 6109 Ankang, 610902 Hanbin district), so a prefix covers a subtree.
    pub region_scope: String,
    /// The department a handler works for.
    pub department: Option<String>,
}

impl Actor {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
            || (self.roles.contains(&Role::Admin)
                && role != Role::DeptHandler
                && role != Role::Citizen)
    }

    pub fn covers_region(&self, region_code: &str) -> bool {
        region_code.starts_with(&self.region_scope)
    }
}
