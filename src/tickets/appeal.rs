//! KPI appeals (申诉) as a sans-IO core: a department that led a ticket contests one of the
//! indicators it is judged on (sign-for, return, re-dispatch, evaluation resolution...), and the
//! centre's reviewers decide through a chain of stages.
//!
//! The rules are source A's (§2 "KPI appeals", L1553-1557, L2346-2353, L3349-3355) and D's
//! 督办申诉 (an appeal against a supervision case):
//! - only a department that led the ticket may appeal, for an appealable indicator
//!   (satisfaction-rate appeals are closed, L1553);
//! - the window ends on the last day of the month after the basis time (the department's
//!   completion, or the revisit for the revisit-resolution rate), in China time;
//! - at most 2 appeals per ticket per indicator and department (withdrawn ones do not count);
//! - stages run in order (centre review → regional initial → regional final by default), each
//!   by a different reviewer; a rejection at any stage ends the appeal; approval at the last
//!   stage grants it, and KPIs that exclude granted appeals read [`Appeal::granted`].
//!
//! The store supplies the ticket's state and the earlier appeals; nothing here does I/O.

use chrono::{Datelike, FixedOffset, NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};

use super::lifecycle::{Refusal, Ticket};
use super::model::{Actor, Role};

/// The indicators a department is assessed on (source A L1555-1556, D 督办申诉).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// 及时签收率.
    SignFor,
    /// 退单率.
    Return,
    /// 重办 / 转派 (re-dispatch) rate.
    Redispatch,
    /// 知识库引用率.
    KnowledgeCitation,
    /// 直办率.
    DirectClosure,
    /// 评价解决率 (SMS evaluation).
    EvaluationResolution,
    /// 回访解决率 (manual revisit).
    RevisitResolution,
    /// 满意率: listed so a refusal can name it; not appealable by default.
    Satisfaction,
    /// A supervision (督办) case raised against the department.
    Supervision,
}

impl Indicator {
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::SignFor => "sign_for",
            Indicator::Return => "return",
            Indicator::Redispatch => "redispatch",
            Indicator::KnowledgeCitation => "knowledge_citation",
            Indicator::DirectClosure => "direct_closure",
            Indicator::EvaluationResolution => "evaluation_resolution",
            Indicator::RevisitResolution => "revisit_resolution",
            Indicator::Satisfaction => "satisfaction",
            Indicator::Supervision => "supervision",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppealStatus {
    Reviewing,
    Granted,
    Rejected,
    Withdrawn,
}

impl AppealStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppealStatus::Reviewing => "reviewing",
            AppealStatus::Granted => "granted",
            AppealStatus::Rejected => "rejected",
            AppealStatus::Withdrawn => "withdrawn",
        }
    }
}

/// What a centre configures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppealConfig {
    /// Appeals per ticket, indicator and department (source A L1557: 2).
    pub max_per_indicator: u8,
    /// Review stages in order, by name (at least one).
    pub stages: Vec<String>,
    pub not_appealable: Vec<Indicator>,
    /// Evidence attachments per appeal.
    pub max_evidence: usize,
}

impl Default for AppealConfig {
    fn default() -> Self {
        AppealConfig {
            max_per_indicator: 2,
            stages: vec![
                "centre_review".into(),
                "region_initial".into(),
                "region_final".into(),
            ],
            not_appealable: vec![Indicator::Satisfaction],
            max_evidence: 10,
        }
    }
}

/// The body of `POST /tickets/{id}/appeals`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppealInput {
    pub indicator: Indicator,
    pub reason: String,
    /// Attachment ids of the ticket (recording segments, documents).
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// One step of an appeal's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppealStep {
    pub at_ms: i64,
    pub by: String,
    pub action: String,
    /// The stage the step was taken at.
    pub stage: String,
    pub opinion: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Appeal {
    pub id: String,
    pub ticket_id: String,
    pub indicator: Indicator,
    pub department: String,
    pub filed_by: String,
    pub reason: String,
    pub evidence: Vec<String>,
    pub filed_ms: i64,
    pub window_end_ms: i64,
    pub status: AppealStatus,
    /// Index into the configured stages while reviewing.
    pub stage: u8,
    pub steps: Vec<AppealStep>,
}

/// A decision on an appeal (the body of `POST /appeals/{id}/actions`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum AppealAction {
    Approve {
        #[serde(default)]
        opinion: String,
    },
    Reject {
        opinion: String,
    },
    /// By the appealing department while it is still under review.
    Withdraw {
        #[serde(default)]
        opinion: String,
    },
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

/// China Standard Time; the hotline's months end at local midnight.
fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is a valid offset"))
}

/// The first instant after the appeal window of an event at `basis_ms`: local midnight that
/// starts the second month after it ("until the last day of the following month").
pub fn window_end(basis_ms: i64) -> Option<i64> {
    let local = china().timestamp_millis_opt(basis_ms).single()?;
    let (mut y, mut m) = (local.year(), local.month() + 2);
    if m > 12 {
        m -= 12;
        y += 1;
    }
    let first = NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)?;
    Some(
        china()
            .from_local_datetime(&first)
            .single()?
            .timestamp_millis(),
    )
}

/// Evidence file kinds an appeal may carry (source A L3335).
pub const EVIDENCE_KINDS: [&str; 14] = [
    "doc", "docx", "txt", "jpg", "jpeg", "png", "pdf", "xls", "xlsx", "ppt", "pptx", "7z", "rar",
    "zip",
];
/// Largest evidence file (source A L3335: 20 MB).
pub const EVIDENCE_MAX_BYTES: i64 = 20 * 1024 * 1024;

/// Whether an attachment may serve as appeal evidence.
pub fn check_evidence(file_name: &str, size_bytes: i64) -> Result<(), Refusal> {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !EVIDENCE_KINDS.contains(&ext.as_str()) {
        return Err(invalid(
            "evidence",
            format!("`{file_name}` is not one of {}", EVIDENCE_KINDS.join(", ")),
        ));
    }
    if size_bytes > EVIDENCE_MAX_BYTES {
        return Err(invalid("evidence", format!("`{file_name}` is over 20 MB")));
    }
    Ok(())
}

/// The time an indicator's window counts from, read from the ticket (KPI time basis, source A
/// L1539-1545: the action's time, or its deadline when it never happened).
pub fn basis_ms(t: &Ticket, indicator: Indicator) -> Option<i64> {
    match indicator {
        Indicator::RevisitResolution | Indicator::EvaluationResolution => {
            t.revisits.iter().rev().find(|r| !r.deemed).map(|r| r.at_ms)
        }
        Indicator::Supervision => t.supervision.iter().map(|c| c.opened_ms).max(),
        _ => t
            .replied_ms
            .or(t.closed_ms)
            .or_else(|| t.handle_deadline.as_ref().map(|d| d.due_ms)),
    }
}

/// Files an appeal after every check, or says why not. `earlier` are the ticket's appeals.
pub fn file(
    cfg: &AppealConfig,
    id: String,
    input: AppealInput,
    ticket: &Ticket,
    earlier: &[Appeal],
    actor: &Actor,
    now_ms: i64,
) -> Result<Appeal, Refusal> {
    let Some(dept) = actor
        .department
        .clone()
        .filter(|_| actor.has(Role::DeptHandler))
    else {
        return Err(forbidden(
            "role",
            "appeals are filed by a handler of the department",
        ));
    };
    if !ticket.handled_by.contains(&dept) {
        return Err(forbidden(
            "not_handler",
            format!("department {dept} did not handle this ticket"),
        ));
    }
    if input.reason.trim().is_empty() || input.reason.chars().count() > 2000 {
        return Err(invalid(
            "reason",
            "a reason of 1-2000 characters is required",
        ));
    }
    if input.evidence.len() > cfg.max_evidence || input.evidence.iter().any(|e| e.len() > 64) {
        return Err(invalid(
            "evidence",
            format!("at most {} attachment ids", cfg.max_evidence),
        ));
    }
    if cfg.not_appealable.contains(&input.indicator) {
        return Err(conflict(
            "not_appealable",
            format!(
                "the {} indicator cannot be appealed",
                input.indicator.as_str()
            ),
        ));
    }
    let basis = basis_ms(ticket, input.indicator).ok_or_else(|| {
        conflict(
            "nothing_to_appeal",
            format!(
                "the ticket has no {} result to appeal yet",
                input.indicator.as_str()
            ),
        )
    })?;
    let end = window_end(basis).ok_or_else(|| invalid("time", "time out of range"))?;
    if now_ms >= end {
        return Err(conflict("appeal_expired", "已超过可申诉期限，不允许申诉！"));
    }
    let same = |a: &&Appeal| a.indicator == input.indicator && a.department == dept;
    if earlier
        .iter()
        .filter(same)
        .any(|a| a.status == AppealStatus::Reviewing)
    {
        return Err(conflict(
            "appeal_pending",
            "an appeal on this indicator is under review",
        ));
    }
    let used = earlier
        .iter()
        .filter(same)
        .filter(|a| a.status != AppealStatus::Withdrawn)
        .count();
    if used >= cfg.max_per_indicator as usize {
        return Err(conflict(
            "appeal_limit",
            format!(
                "at most {} appeals per ticket and indicator",
                cfg.max_per_indicator
            ),
        ));
    }
    Ok(Appeal {
        id,
        ticket_id: ticket.id.clone(),
        indicator: input.indicator,
        department: dept,
        filed_by: actor.user_id.clone(),
        reason: input.reason,
        evidence: input.evidence,
        filed_ms: now_ms,
        window_end_ms: end,
        status: AppealStatus::Reviewing,
        stage: 0,
        steps: Vec::new(),
    })
}

impl Appeal {
    /// Whether KPIs that exclude granted appeals leave this ticket's indicator out.
    pub fn granted(&self) -> bool {
        self.status == AppealStatus::Granted
    }

    fn stage_name(&self, cfg: &AppealConfig) -> String {
        cfg.stages
            .get(self.stage as usize)
            .cloned()
            .unwrap_or_else(|| format!("stage_{}", self.stage + 1))
    }

    /// Applies a decision. `ticket_region` is the ticket's region (reviewers act in their area).
    /// Returns the name of the event to log on the ticket.
    pub fn act(
        &mut self,
        cfg: &AppealConfig,
        action: AppealAction,
        actor: &Actor,
        ticket_region: &str,
        now_ms: i64,
    ) -> Result<&'static str, Refusal> {
        if self.status != AppealStatus::Reviewing {
            return Err(conflict(
                "state",
                format!("the appeal is already {}", self.status.as_str()),
            ));
        }
        let stage = self.stage_name(cfg);
        let opinion = match &action {
            AppealAction::Approve { opinion }
            | AppealAction::Reject { opinion }
            | AppealAction::Withdraw { opinion } => opinion.clone(),
        };
        if opinion.chars().count() > 2000 {
            return Err(invalid("opinion", "the opinion is too long"));
        }
        let (status, next_stage, event) = match action {
            AppealAction::Withdraw { .. } => {
                if actor.department.as_deref() != Some(self.department.as_str())
                    || !actor.has(Role::DeptHandler)
                {
                    return Err(forbidden(
                        "not_appellant",
                        "only the appealing department withdraws it",
                    ));
                }
                (AppealStatus::Withdrawn, self.stage, "appeal_withdrawn")
            }
            decision => {
                if !actor.has(Role::Reviewer) {
                    return Err(forbidden(
                        "role",
                        "deciding an appeal needs the reviewer role",
                    ));
                }
                if !actor.covers_region(ticket_region) {
                    return Err(forbidden(
                        "area",
                        format!("ticket region {ticket_region} is outside your area"),
                    ));
                }
                if self.steps.iter().any(|s| s.by == actor.user_id) {
                    return Err(conflict(
                        "same_reviewer",
                        "each review stage needs a different reviewer",
                    ));
                }
                let last = (self.stage as usize) + 1 >= cfg.stages.len().max(1);
                match decision {
                    AppealAction::Reject { .. } if opinion.trim().is_empty() => {
                        return Err(invalid("opinion", "a rejection needs an opinion"));
                    }
                    AppealAction::Reject { .. } => {
                        (AppealStatus::Rejected, self.stage, "appeal_rejected")
                    }
                    _ if last => (AppealStatus::Granted, self.stage, "appeal_granted"),
                    _ => (
                        AppealStatus::Reviewing,
                        self.stage.saturating_add(1),
                        "appeal_approved",
                    ),
                }
            }
        };
        self.status = status;
        self.stage = next_stage;
        self.steps.push(AppealStep {
            at_ms: now_ms,
            by: actor.user_id.clone(),
            action: event.to_string(),
            stage,
            opinion,
        });
        Ok(event)
    }
}

#[cfg(test)]
#[path = "appeal_tests.rs"]
mod tests;
