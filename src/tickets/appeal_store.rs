//! Persistence of appeals (申诉) over sqlx, the same SQL on SQLite and PostgreSQL: filing takes
//! the ticket's row lock first so two filings cannot both pass the attempt limit, and every
//! filing and decision is also written to the ticket's event log.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::appeal::{self, Appeal, AppealAction, AppealConfig, AppealInput, AppealStatus};
use super::lifecycle::{Event, Output, Refusal, Ticket};
use super::model::{Actor, Status};
use super::store::{lock_row, next_seq, write_outputs, Result, TicketError, TicketStore};

/// Filters of `GET /appeals` (a reviewer's to-do list).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppealFilter {
    pub status: Option<AppealStatus>,
    pub limit: Option<u32>,
}

fn evidence_refused(reason: String) -> TicketError {
    TicketError::Refused(Refusal::Invalid {
        code: "evidence",
        reason,
    })
}

fn corrupt(e: serde_json::Error) -> TicketError {
    TicketError::Corrupt(e.to_string())
}

fn row_appeal(r: &sqlx::any::AnyRow) -> Result<Appeal> {
    serde_json::from_str(&r.try_get::<String, _>("state_json")?).map_err(corrupt)
}

impl TicketStore {
    fn appeal_config(&self) -> &AppealConfig {
        &self.rules.appeals
    }

    async fn appeals_of(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        ticket_id: &str,
    ) -> Result<Vec<Appeal>> {
        let rows = sqlx::query(
            "SELECT state_json FROM ticket_appeals WHERE ticket_id = $1 ORDER BY filed_ms, id",
        )
        .bind(ticket_id)
        .fetch_all(&mut **tx)
        .await?;
        rows.iter().map(row_appeal).collect()
    }

    /// Files an appeal on `ticket_id` for the actor's department.
    pub async fn file_appeal(
        &self,
        ticket_id: &str,
        actor: &Actor,
        input: AppealInput,
        now: i64,
    ) -> Result<Appeal> {
        let mut tx = self.db.pool.begin().await?;
        lock_row(&mut tx, ticket_id).await?;
        let row = sqlx::query("SELECT state_json, status FROM tickets WHERE id = $1")
            .bind(ticket_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(TicketError::NotFound)?;
        let t: Ticket =
            serde_json::from_str(&row.try_get::<String, _>("state_json")?).map_err(corrupt)?;
        if !actor
            .department
            .as_ref()
            .is_some_and(|d| t.handled_by.contains(d))
        {
            // Same answer as an unreadable ticket: do not confirm it exists.
            return Err(TicketError::NotFound);
        }
        // Evidence must be the ticket's own attachments, of the kinds and size source A allows.
        for e in &input.evidence {
            let row = sqlx::query(
                "SELECT file_name, size_bytes FROM attachments WHERE id = $1 AND ticket_id = $2",
            )
            .bind(e)
            .bind(ticket_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Err(evidence_refused(format!(
                    "`{e}` is not an attachment of this ticket"
                )));
            };
            let (name, size): (String, i64) =
                (row.try_get("file_name")?, row.try_get("size_bytes")?);
            appeal::check_evidence(&name, size).map_err(TicketError::Refused)?;
        }
        let earlier = self.appeals_of(&mut tx, ticket_id).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let a = appeal::file(self.appeal_config(), id, input, &t, &earlier, actor, now)?;
        let state = serde_json::to_string(&a).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO ticket_appeals (id, ticket_id, indicator, department_id, status, stage, filed_by, filed_ms, decided_ms, version, state_json)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, 1, $9)",
        )
        .bind(&a.id)
        .bind(ticket_id)
        .bind(a.indicator.as_str())
        .bind(&a.department)
        .bind(a.status.as_str())
        .bind(a.stage as i64)
        .bind(&a.filed_by)
        .bind(now)
        .bind(&state)
        .execute(&mut *tx)
        .await?;
        let st: String = row.try_get("status")?;
        let detail = serde_json::json!({
            "appeal": a.id, "indicator": a.indicator, "department": a.department,
            "reason": a.reason, "evidence": a.evidence, "window_end_ms": a.window_end_ms,
        });
        log_on_ticket(&mut tx, ticket_id, &st, actor, "appeal_filed", detail, now).await?;
        tx.commit().await?;
        tracing::info!(ticket = %ticket_id, appeal = %a.id, indicator = a.indicator.as_str(), "appeal filed");
        Ok(a)
    }

    /// One decision (or the withdrawal) on an appeal.
    pub async fn act_appeal(
        &self,
        appeal_id: &str,
        actor: &Actor,
        action: AppealAction,
        now: i64,
    ) -> Result<Appeal> {
        let mut tx = self.db.pool.begin().await?;
        // Write first: SQLite cannot upgrade a reader (see store::lock_row).
        sqlx::query("UPDATE ticket_appeals SET version = version WHERE id = $1")
            .bind(appeal_id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "SELECT a.state_json, a.version, t.region_code, t.status FROM ticket_appeals a
             JOIN tickets t ON t.id = a.ticket_id WHERE a.id = $1",
        )
        .bind(appeal_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(TicketError::NotFound)?;
        let mut a = row_appeal(&row)?;
        let version: i64 = row.try_get("version")?;
        let region: String = row.try_get("region_code")?;
        let opinion = match &action {
            AppealAction::Approve { opinion }
            | AppealAction::Reject { opinion }
            | AppealAction::Withdraw { opinion } => opinion.clone(),
        };
        let event = a.act(self.appeal_config(), action, actor, &region, now)?;
        let decided = (a.status != AppealStatus::Reviewing).then_some(now);
        let n = sqlx::query(
            "UPDATE ticket_appeals SET status = $1, stage = $2, decided_ms = $3, state_json = $4, version = version + 1
             WHERE id = $5 AND version = $6",
        )
        .bind(a.status.as_str())
        .bind(a.stage as i64)
        .bind(decided)
        .bind(serde_json::to_string(&a).map_err(corrupt)?)
        .bind(appeal_id)
        .bind(version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(TicketError::Busy);
        }
        lock_row(&mut tx, &a.ticket_id).await?;
        let st: String = row.try_get("status")?;
        let detail = serde_json::json!({
            "appeal": a.id, "indicator": a.indicator, "stage": a.steps.last().map(|s| s.stage.clone()),
            "opinion": opinion, "status": a.status,
        });
        log_on_ticket(&mut tx, &a.ticket_id, &st, actor, event, detail, now).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// The appeals of a ticket, for those who may read it or whose department appealed.
    pub async fn ticket_appeals(
        &self,
        ticket_id: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<Vec<Appeal>> {
        let readable = match self.get(ticket_id, Some(actor), now).await {
            Ok(_) => true,
            Err(TicketError::NotFound) => false,
            Err(e) => return Err(e),
        };
        let rows = sqlx::query(
            "SELECT state_json FROM ticket_appeals WHERE ticket_id = $1 ORDER BY filed_ms, id",
        )
        .bind(ticket_id)
        .fetch_all(&self.db.pool)
        .await?;
        let all: Vec<Appeal> = rows.iter().map(row_appeal).collect::<Result<_>>()?;
        if readable {
            return Ok(all);
        }
        let own: Vec<Appeal> = all
            .into_iter()
            .filter(|a| actor.department.as_deref() == Some(a.department.as_str()))
            .collect();
        if own.is_empty() {
            return Err(TicketError::NotFound);
        }
        Ok(own)
    }

    /// Appeals in the actor's area (reviewers) or of the actor's department, newest first.
    pub async fn list_appeals(&self, actor: &Actor, f: &AppealFilter) -> Result<Vec<Appeal>> {
        let limit = f.limit.unwrap_or(100).clamp(1, 500) as i64;
        let status = f.status.map(|s| s.as_str().to_string());
        let rows = if super::store::is_department_only(actor) {
            let Some(dept) = actor.department.clone() else {
                return Ok(Vec::new());
            };
            sqlx::query(
                "SELECT state_json FROM ticket_appeals WHERE department_id = $1 AND ($2 IS NULL OR status = $2)
                 ORDER BY filed_ms DESC, id LIMIT $3",
            )
            .bind(dept)
            .bind(status)
            .bind(limit)
            .fetch_all(&self.db.pool)
            .await?
        } else {
            // Region codes are hierarchical: the scope is a prefix (wildcards dropped).
            let scope = format!("{}%", super::store::like_escape(&actor.region_scope));
            sqlx::query(
                "SELECT a.state_json FROM ticket_appeals a JOIN tickets t ON t.id = a.ticket_id
                 WHERE t.region_code LIKE $1 AND ($2 IS NULL OR a.status = $2)
                 ORDER BY a.filed_ms DESC, a.id LIMIT $3",
            )
            .bind(scope)
            .bind(status)
            .bind(limit)
            .fetch_all(&self.db.pool)
            .await?
        };
        rows.iter().map(row_appeal).collect()
    }

    /// The ticket's indicators with a granted appeal: what KPIs "剔除申诉" leave out.
    pub async fn granted_indicators(&self, ticket_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT indicator FROM ticket_appeals WHERE ticket_id = $1 AND status = 'granted' ORDER BY indicator",
        )
        .bind(ticket_id)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("indicator")?))
            .collect()
    }
}

async fn log_on_ticket(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ticket_id: &str,
    status: &str,
    actor: &Actor,
    action: &str,
    detail: serde_json::Value,
    now: i64,
) -> Result<()> {
    let st = Status::parse(status).unwrap_or(Status::Accepted);
    let ev = Output::Event(Event {
        at_ms: now,
        actor: actor.user_id.clone(),
        action: action.to_string(),
        from: st,
        to: st,
        detail,
    });
    let seq = next_seq(tx, ticket_id).await?;
    write_outputs(tx, ticket_id, seq, &[ev], now).await
}
