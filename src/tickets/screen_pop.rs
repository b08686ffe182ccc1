//! Screen pop (弹屏): when an agent answers a call, create a draft ticket bound to the call and
//! return the caller's history with the warning flags (≥20 calls; the same request ≥3 times).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::model::Actor;
use super::model::Channel;
use super::store::{CallLink, CreateTicket, Result, TicketError, TicketStore, TicketView};

/// Thresholds of the repeat-caller flags (source C: 20次以上, 3次以上).
pub const FREQUENT_CALLS: i64 = 20;
pub const REPEATED_REQUESTS: i64 = 3;

/// What the ACD's "call answered by agent" event carries.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct AnsweredCall {
    pub call_id: String,
    pub caller_number: String,
    #[serde(default)]
    pub did: String,
    #[serde(default)]
    pub skill_group: String,
    #[serde(default)]
    pub recording_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PastTicket {
    pub id: String,
    pub number: String,
    pub status: String,
    pub title: String,
    pub category_code: String,
    pub created_ms: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RepeatedRequest {
    pub category_code: String,
    pub count: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Flags {
    /// The caller has called at least [`FREQUENT_CALLS`] times.
    pub frequent_caller: bool,
    /// Categories the caller has raised at least [`REPEATED_REQUESTS`] times.
    pub repeated_requests: Vec<RepeatedRequest>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ScreenPop {
    pub ticket: TicketView,
    /// False when this call already had its draft (a repeated event).
    pub created: bool,
    /// Earlier tickets of the caller, newest first (up to 20).
    pub history: Vec<PastTicket>,
    /// Calls from this number in the CDRs (all time, and in the last 30 days).
    pub calls_total: i64,
    pub calls_30d: i64,
    pub flags: Flags,
}

impl TicketStore {
    /// Creates (or finds) the draft for an answered call and gathers the caller's history.
    pub async fn screen_pop(
        &self,
        agent: &Actor,
        call: &AnsweredCall,
        now: i64,
    ) -> Result<ScreenPop> {
        let bad = |what: &str| {
            TicketError::Refused(super::lifecycle::Refusal::Invalid {
                code: "call",
                reason: format!("{what} is required (1-128 characters)"),
            })
        };
        if call.call_id.is_empty() || call.call_id.len() > 128 {
            return Err(bad("call_id"));
        }
        if call.caller_number.len() > 64 {
            return Err(bad("caller_number"));
        }
        let existing = sqlx::query("SELECT ticket_id FROM ticket_calls WHERE call_id = $1")
            .bind(&call.call_id)
            .fetch_optional(&self.db.pool)
            .await?;
        let (ticket, created) = match existing {
            Some(r) => (
                self.get(&r.try_get::<String, _>("ticket_id")?, Some(agent), now)
                    .await?,
                false,
            ),
            None => {
                let input = CreateTicket {
                    title: String::new(),
                    channel: Channel::Phone,
                    caller_number: call.caller_number.clone(),
                    contact_phone: call.caller_number.clone(),
                    draft: true,
                    ..CreateTicket::default()
                };
                // The call id doubles as the idempotency key: a repeated event finds the same draft.
                let key = format!("call:{}", call.call_id);
                let (t, created) = self.create(agent, input, Some(&key), now).await?;
                let link = CallLink {
                    call_id: call.call_id.clone(),
                    recording_id: call.recording_id.clone(),
                    did: call.did.clone(),
                    skill_group: call.skill_group.clone(),
                    agent: agent.user_id.clone(),
                };
                self.link_call(&t.id, &link, now).await?;
                (t, created)
            }
        };
        let history = if call.caller_number.is_empty() {
            Vec::new()
        } else {
            sqlx::query(
                "SELECT id, number, status, title, category_code, created_ms FROM tickets
                 WHERE caller_number = $1 AND id <> $2 ORDER BY created_ms DESC LIMIT 20",
            )
            .bind(&call.caller_number)
            .bind(&ticket.id)
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(PastTicket {
                    id: r.try_get("id")?,
                    number: r.try_get("number")?,
                    status: r.try_get("status")?,
                    title: r.try_get("title")?,
                    category_code: r.try_get("category_code")?,
                    created_ms: r.try_get("created_ms")?,
                })
            })
            .collect::<Result<Vec<_>>>()?
        };
        let (calls_total, calls_30d, repeated) = if call.caller_number.is_empty() {
            (0, 0, Vec::new())
        } else {
            let r = sqlx::query(
                "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN start_ms >= $2 THEN 1 ELSE 0 END), 0) AS recent
                 FROM cdr_calls WHERE caller = $1",
            )
            .bind(&call.caller_number)
            .bind(now - 30 * 86_400_000)
            .fetch_one(&self.db.pool)
            .await?;
            let repeated = sqlx::query(
                "SELECT category_code, COUNT(*) AS n FROM tickets
                 WHERE caller_number = $1 AND category_code <> '' AND status NOT IN ('voided', 'draft')
                 GROUP BY category_code HAVING COUNT(*) >= $2 ORDER BY n DESC, category_code",
            )
            .bind(&call.caller_number)
            .bind(REPEATED_REQUESTS)
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(|r| Ok(RepeatedRequest { category_code: r.try_get("category_code")?, count: r.try_get("n")? }))
            .collect::<Result<Vec<_>>>()?;
            (
                r.try_get::<i64, _>("total")?,
                r.try_get::<i64, _>("recent")?,
                repeated,
            )
        };
        let flags = Flags {
            frequent_caller: calls_total >= FREQUENT_CALLS,
            repeated_requests: repeated,
        };
        tracing::info!(call = %call.call_id, ticket = %ticket.number, frequent = flags.frequent_caller, "screen pop");
        Ok(ScreenPop {
            ticket,
            created,
            history,
            calls_total,
            calls_30d,
            flags,
        })
    }
}
