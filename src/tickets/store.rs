//! Persistence of tickets over sqlx (SQLite and PostgreSQL, the same SQL): create with an
//! idempotency key, act through the lifecycle core with optimistic locking, list with filters
//! and area scope, history, and the timer sweep that runs SLA rules on due tickets.
//!
//! The lifecycle state lives as JSON in `tickets.state_json`; the columns beside it are
//! projections for queries. Every accepted command appends its events to `ticket_events` in
//! the same transaction as the state change.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::calendar::Calendar;
use super::lifecycle::{
    drain, Command, Config, Env, NewTicket, Output, Recipient, Refusal, Ticket,
};
use super::model::*;
use super::sla::{SlaPolicy, SlaState};
use crate::store::{Backend, Db};

/// The rules every ticket is judged by.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub config: Config,
    pub calendar: Calendar,
    pub sla: SlaPolicy,
    pub appeals: super::appeal::AppealConfig,
}

impl Rules {
    pub fn env(&self) -> Env<'_> {
        Env {
            config: &self.config,
            calendar: &self.calendar,
            sla: &self.sla,
        }
    }
}

#[derive(Clone)]
pub struct TicketStore {
    pub db: Db,
    pub rules: Arc<Rules>,
}

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the ticket changed meanwhile; retry")]
    Busy,
    #[error("corrupt ticket state: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

pub type Result<T, E = TicketError> = std::result::Result<T, E>;

fn forbidden(code: &'static str, reason: impl Into<String>) -> TicketError {
    TicketError::Refused(Refusal::Forbidden {
        code,
        reason: reason.into(),
    })
}
fn invalid(code: &'static str, reason: impl Into<String>) -> TicketError {
    TicketError::Refused(Refusal::Invalid {
        code,
        reason: reason.into(),
    })
}

/// The body of `POST /tickets`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub title: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub channel: Channel,
    #[serde(default)]
    pub request_type: RequestType,
    #[serde(default)]
    pub urgency: Urgency,
    #[serde(default)]
    pub confidential: bool,
    #[serde(default)]
    pub category_code: String,
    #[serde(default)]
    pub region_code: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub requester_name: String,
    #[serde(default)]
    pub contact_phone: String,
    #[serde(default)]
    pub caller_number: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Keep as a draft (暂存) instead of accepting at once.
    #[serde(default)]
    pub draft: bool,
}

/// The body of `PATCH /tickets/{id}`: descriptive fields, editable while draft or accepted.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditTicket {
    pub title: Option<String>,
    pub content: Option<String>,
    pub request_type: Option<RequestType>,
    pub urgency: Option<Urgency>,
    pub confidential: Option<bool>,
    pub category_code: Option<String>,
    pub region_code: Option<String>,
    pub address: Option<String>,
    pub requester_name: Option<String>,
    pub contact_phone: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// A ticket as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TicketView {
    pub id: String,
    pub number: String,
    pub status: Status,
    pub channel: String,
    pub request_type: String,
    pub urgency: String,
    pub confidential: bool,
    pub title: String,
    pub content: String,
    pub category_code: String,
    pub region_code: String,
    pub address: String,
    pub requester_name: String,
    pub contact_phone: String,
    pub caller_number: String,
    pub tags: Vec<String>,
    pub lead_dept: Option<String>,
    pub assisting: Vec<String>,
    pub sign_due_ms: Option<i64>,
    pub due_ms: Option<i64>,
    pub sla_state: Option<SlaState>,
    pub overdue: bool,
    pub cycle: i64,
    pub master_id: Option<String>,
    pub created_by: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub closed_ms: Option<i64>,
    pub version: i64,
}

/// One entry of a ticket's history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub from: String,
    pub to: String,
    pub detail: serde_json::Value,
}

/// Filters of `GET /tickets`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ListFilter {
    pub status: Option<String>,
    pub lead_dept: Option<String>,
    pub caller_number: Option<String>,
    pub number: Option<String>,
    pub region: Option<String>,
    pub category: Option<String>,
    pub created_from_ms: Option<i64>,
    pub created_to_ms: Option<i64>,
    pub overdue: Option<bool>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

const COLS: &str = "id, number, status, channel, request_type, urgency, confidential, title, content, category_code, \
    region_code, address, requester_name, contact_phone, caller_number, tags, lead_dept, due_ms, overdue, master_id, \
    cycle, created_by, created_ms, updated_ms, closed_ms, version, state_json";

fn enum_str<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn check_text(field: &'static str, v: &str, max_chars: usize) -> Result<()> {
    if v.chars().count() > max_chars {
        return Err(invalid(
            "too_long",
            format!("`{field}` is longer than {max_chars} characters"),
        ));
    }
    Ok(())
}

/// Whether the user sees requester details of a confidential ticket (the centre does; departments don't).
fn sees_requester(actor: &Actor) -> bool {
    [
        Role::Agent,
        Role::Dispatcher,
        Role::Reviewer,
        Role::Revisitor,
        Role::Supervisor,
    ]
    .iter()
    .any(|r| actor.has(*r))
}

impl TicketStore {
    pub fn new(db: Db, rules: Rules) -> TicketStore {
        TicketStore {
            db,
            rules: Arc::new(rules),
        }
    }

    fn view(&self, r: &AnyRow, actor: Option<&Actor>, now: i64) -> Result<TicketView> {
        let state: String = r.try_get("state_json")?;
        let t: Ticket =
            serde_json::from_str(&state).map_err(|e| TicketError::Corrupt(e.to_string()))?;
        let confidential = r.try_get::<i64, _>("confidential")? != 0;
        let tags: String = r.try_get("tags")?;
        let mut v = TicketView {
            id: r.try_get("id")?,
            number: r.try_get("number")?,
            status: t.status,
            channel: r.try_get("channel")?,
            request_type: r.try_get("request_type")?,
            urgency: r.try_get("urgency")?,
            confidential,
            title: r.try_get("title")?,
            content: r.try_get("content")?,
            category_code: r.try_get("category_code")?,
            region_code: r.try_get("region_code")?,
            address: r.try_get("address")?,
            requester_name: r.try_get("requester_name")?,
            contact_phone: r.try_get("contact_phone")?,
            caller_number: r.try_get("caller_number")?,
            tags: tags
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            lead_dept: t.lead.clone(),
            assisting: t.assisting.clone(),
            sign_due_ms: t.sign_deadline.as_ref().map(|d| d.due_ms),
            due_ms: t.handle_deadline.as_ref().map(|d| d.due_ms),
            sla_state: t.sla_state(self.rules.env(), now),
            overdue: t.overdue_handle || t.overdue_sign,
            cycle: t.cycle as i64,
            master_id: t.master.clone(),
            created_by: r.try_get("created_by")?,
            created_ms: r.try_get("created_ms")?,
            updated_ms: r.try_get("updated_ms")?,
            closed_ms: r.try_get("closed_ms")?,
            version: r.try_get("version")?,
        };
        if confidential && actor.is_some_and(|a| !sees_requester(a)) {
            // 保密: departments see "市民" and no numbers.
            v.requester_name = "市民".into();
            v.contact_phone = String::new();
            v.caller_number = String::new();
        }
        Ok(v)
    }

    async fn exists(&self, table: &str, col: &str, value: &str) -> Result<bool> {
        let sql = format!("SELECT 1 AS one FROM {table} WHERE {col} = $1");
        Ok(sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.db.pool)
            .await?
            .is_some())
    }

    async fn validate_fields(&self, draft: bool, category: &str, region: &str) -> Result<()> {
        if !category.is_empty() && !self.exists("categories", "code", category).await? {
            return Err(invalid(
                "category",
                format!("unknown category `{category}`"),
            ));
        }
        if !region.is_empty() && !self.exists("regions", "code", region).await? {
            return Err(invalid("region", format!("unknown region `{region}`")));
        }
        if !draft && (category.is_empty() || region.is_empty()) {
            return Err(invalid(
                "required",
                "an accepted ticket needs a category and a region",
            ));
        }
        Ok(())
    }

    /// Creates a ticket. With an idempotency key, a repeat returns the first ticket and `false`.
    pub async fn create(
        &self,
        actor: &Actor,
        input: CreateTicket,
        idempotency_key: Option<&str>,
        now: i64,
    ) -> Result<(TicketView, bool)> {
        if !actor.has(Role::Agent) {
            return Err(forbidden("role", "creating tickets needs the agent role"));
        }
        if let Some(key) = idempotency_key {
            if key.is_empty() || key.len() > 200 {
                return Err(invalid(
                    "idempotency_key",
                    "idempotency keys are 1-200 characters",
                ));
            }
            if let Some(v) = self.by_idempotency_key(actor, key, now).await? {
                return Ok((v, false));
            }
        }
        let region = if input.region_code.is_empty() && input.draft {
            actor.region_scope.clone()
        } else {
            input.region_code.clone()
        };
        if input.title.trim().is_empty() && !input.draft {
            return Err(invalid("title", "a title is required"));
        }
        check_text("title", &input.title, 200)?;
        check_text("content", &input.content, 20_000)?;
        check_text("address", &input.address, 500)?;
        for (f, v) in [
            ("requester_name", &input.requester_name),
            ("contact_phone", &input.contact_phone),
            ("caller_number", &input.caller_number),
        ] {
            check_text(f, v, 64)?;
        }
        if input.tags.len() > 20
            || input
                .tags
                .iter()
                .any(|t| t.contains(',') || t.chars().count() > 32)
        {
            return Err(invalid(
                "tags",
                "at most 20 tags of up to 32 characters, without commas",
            ));
        }
        if !actor.covers_region(&region) {
            return Err(forbidden(
                "area",
                format!("region {region} is outside your area"),
            ));
        }
        self.validate_fields(input.draft, &input.category_code, &region)
            .await?;

        let id = uuid::Uuid::new_v4().to_string();
        let mut t = Ticket::new(
            NewTicket {
                id: id.clone(),
                region_code: region.clone(),
                category_code: input.category_code.clone(),
                request_type: input.request_type,
                urgency: input.urgency,
                created_by: actor.user_id.clone(),
                draft: input.draft,
            },
            now,
        );
        let outputs = drain(&mut t);
        let day = self
            .rules
            .calendar
            .date_of(now)
            .map(|d| d.format("%Y%m%d").to_string())
            .unwrap_or_else(|| "00000000".into());
        let mut tx = self.db.pool.begin().await?;
        let n: i64 = sqlx::query(
            "INSERT INTO ticket_counters (day, last) VALUES ($1, 1)
             ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last + 1 RETURNING last",
        )
        .bind(&day)
        .fetch_one(&mut *tx)
        .await?
        .try_get("last")?;
        let number = format!("{day}{n:06}");
        let state = serde_json::to_string(&t).map_err(|e| TicketError::Corrupt(e.to_string()))?;
        let res = sqlx::query(
            "INSERT INTO tickets (id, number, status, channel, request_type, urgency, confidential, title, content,
                category_code, region_code, address, requester_name, contact_phone, caller_number, tags, lead_dept,
                due_ms, overdue, next_timer_ms, master_id, cycle, created_by, created_ms, updated_ms, closed_ms,
                version, idempotency_key, state_json)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL, NULL, 0, NULL, NULL, 1,
                $17, $18, $18, NULL, 1, $19, $20)",
        )
        .bind(&id)
        .bind(&number)
        .bind(t.status.as_str())
        .bind(enum_str(&input.channel))
        .bind(enum_str(&input.request_type))
        .bind(enum_str(&input.urgency))
        .bind(i64::from(input.confidential))
        .bind(&input.title)
        .bind(&input.content)
        .bind(&input.category_code)
        .bind(&region)
        .bind(&input.address)
        .bind(&input.requester_name)
        .bind(&input.contact_phone)
        .bind(&input.caller_number)
        .bind(input.tags.join(","))
        .bind(&actor.user_id)
        .bind(now)
        .bind(idempotency_key)
        .bind(&state)
        .execute(&mut *tx)
        .await;
        match res {
            Ok(_) => {}
            Err(sqlx::Error::Database(e))
                if e.is_unique_violation() && idempotency_key.is_some() =>
            {
                // A concurrent request with the same key won.
                drop(tx);
                if let Some(v) = self
                    .by_idempotency_key(actor, idempotency_key.unwrap_or(""), now)
                    .await?
                {
                    return Ok((v, false));
                }
                return Err(TicketError::Busy);
            }
            Err(e) => return Err(e.into()),
        }
        write_outputs(&mut tx, &id, 0, &outputs, now).await?;
        tx.commit().await?;
        tracing::info!(ticket = %number, by = %actor.user_id, "ticket created");
        Ok((self.get(&id, Some(actor), now).await?, true))
    }

    async fn by_idempotency_key(
        &self,
        actor: &Actor,
        key: &str,
        now: i64,
    ) -> Result<Option<TicketView>> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM tickets WHERE idempotency_key = $1"
        ))
        .bind(key)
        .fetch_optional(&self.db.pool)
        .await?;
        match row {
            Some(r) => {
                let created_by: String = r.try_get("created_by")?;
                if created_by != actor.user_id {
                    return Err(TicketError::Refused(Refusal::Conflict {
                        code: "idempotency_key",
                        reason: "this idempotency key was used by another user".into(),
                    }));
                }
                Ok(Some(self.view(&r, Some(actor), now)?))
            }
            None => Ok(None),
        }
    }

    /// One ticket, checked against the reader's area (or department).
    pub async fn get(&self, id: &str, actor: Option<&Actor>, now: i64) -> Result<TicketView> {
        let row = sqlx::query(&format!("SELECT {COLS} FROM tickets WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(TicketError::NotFound)?;
        let v = self.view(&row, actor, now)?;
        if let Some(a) = actor {
            if !may_read(a, &v) {
                // Not found rather than forbidden: do not confirm the ticket exists.
                return Err(TicketError::NotFound);
            }
        }
        Ok(v)
    }

    pub async fn get_by_number(&self, number: &str, actor: &Actor, now: i64) -> Result<TicketView> {
        let id: String = sqlx::query("SELECT id FROM tickets WHERE number = $1")
            .bind(number)
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(TicketError::NotFound)?
            .try_get("id")?;
        self.get(&id, Some(actor), now).await
    }

    /// Edits descriptive fields while the ticket is a draft or accepted; logs before/after.
    pub async fn edit(
        &self,
        id: &str,
        actor: &Actor,
        e: EditTicket,
        now: i64,
    ) -> Result<TicketView> {
        let before = self.get(id, Some(actor), now).await?;
        if !actor.has(Role::Agent) && !actor.has(Role::Dispatcher) {
            return Err(forbidden(
                "role",
                "editing needs the agent or dispatcher role",
            ));
        }
        if !matches!(
            before.status,
            Status::Draft | Status::Accepted | Status::PendingDispatch
        ) {
            return Err(TicketError::Refused(Refusal::Conflict {
                code: "state",
                reason: format!(
                    "a {} ticket cannot be edited; add a note instead",
                    before.status.as_str()
                ),
            }));
        }
        let mut after = before.clone();
        macro_rules! set {
            ($f:ident) => {
                if let Some(v) = e.$f {
                    after.$f = v;
                }
            };
        }
        set!(title);
        set!(content);
        set!(category_code);
        set!(region_code);
        set!(address);
        set!(requester_name);
        set!(contact_phone);
        set!(tags);
        set!(confidential);
        if let Some(v) = e.request_type {
            after.request_type = enum_str(&v);
        }
        if let Some(v) = e.urgency {
            after.urgency = enum_str(&v);
        }
        check_text("title", &after.title, 200)?;
        check_text("content", &after.content, 20_000)?;
        check_text("address", &after.address, 500)?;
        if !actor.covers_region(&after.region_code) {
            return Err(forbidden("area", "the new region is outside your area"));
        }
        self.validate_fields(
            before.status == Status::Draft,
            &after.category_code,
            &after.region_code,
        )
        .await?;
        let mut changed = serde_json::Map::new();
        let (b, a) = (
            serde_json::to_value(&before).unwrap_or_default(),
            serde_json::to_value(&after).unwrap_or_default(),
        );
        for k in [
            "title",
            "content",
            "request_type",
            "urgency",
            "confidential",
            "category_code",
            "region_code",
            "address",
            "requester_name",
            "contact_phone",
            "tags",
        ] {
            if b.get(k) != a.get(k) {
                changed.insert(
                    k.into(),
                    serde_json::json!({ "before": b.get(k), "after": a.get(k) }),
                );
            }
        }
        if changed.is_empty() {
            return Ok(before);
        }
        let mut tx = self.db.pool.begin().await?;
        lock_row(&mut tx, id).await?;
        let row = sqlx::query("SELECT state_json, version FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let version: i64 = row.try_get("version")?;
        if version != before.version {
            return Err(TicketError::Busy);
        }
        let mut t: Ticket = serde_json::from_str(&row.try_get::<String, _>("state_json")?)
            .map_err(|e| TicketError::Corrupt(e.to_string()))?;
        t.category_code = after.category_code.clone();
        t.region_code = after.region_code.clone();
        t.request_type =
            serde_json::from_value(serde_json::Value::String(after.request_type.clone()))
                .unwrap_or(t.request_type);
        t.urgency = serde_json::from_value(serde_json::Value::String(after.urgency.clone()))
            .unwrap_or(t.urgency);
        let state = serde_json::to_string(&t).map_err(|e| TicketError::Corrupt(e.to_string()))?;
        let n = sqlx::query(
            "UPDATE tickets SET title = $1, content = $2, request_type = $3, urgency = $4, confidential = $5,
               category_code = $6, region_code = $7, address = $8, requester_name = $9, contact_phone = $10, tags = $11,
               state_json = $12, version = version + 1, updated_ms = $13 WHERE id = $14 AND version = $15",
        )
        .bind(&after.title)
        .bind(&after.content)
        .bind(&after.request_type)
        .bind(&after.urgency)
        .bind(i64::from(after.confidential))
        .bind(&after.category_code)
        .bind(&after.region_code)
        .bind(&after.address)
        .bind(&after.requester_name)
        .bind(&after.contact_phone)
        .bind(after.tags.join(","))
        .bind(&state)
        .bind(now)
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(TicketError::Busy);
        }
        let ev = Output::Event(super::lifecycle::Event {
            at_ms: now,
            actor: actor.user_id.clone(),
            action: "edit".into(),
            from: before.status,
            to: before.status,
            detail: serde_json::Value::Object(changed),
        });
        let seq = next_seq(&mut tx, id).await?;
        write_outputs(&mut tx, id, seq, &[ev], now).await?;
        tx.commit().await?;
        self.get(id, Some(actor), now).await
    }

    /// Applies a lifecycle command. Retries a few times when another writer got there first.
    pub async fn act(&self, id: &str, actor: &Actor, cmd: Command, now: i64) -> Result<TicketView> {
        let cmd = self.prepare(id, cmd).await?;
        for _ in 0..5 {
            match self.try_act(id, actor, cmd.clone(), now).await {
                Err(TicketError::Busy) => continue,
                other => return other,
            }
        }
        Err(TicketError::Busy)
    }

    /// Resolves what the command needs from the catalogue: the dispatch path, existing units.
    async fn prepare(&self, id: &str, cmd: Command) -> Result<Command> {
        match cmd {
            Command::Dispatch {
                lead,
                assisting,
                via: _,
                immediate,
                opinion,
            } => {
                for d in std::iter::once(&lead).chain(assisting.iter()) {
                    if !self.exists("departments", "id", d).await? {
                        return Err(invalid("department", format!("unknown department `{d}`")));
                    }
                }
                let via = super::catalogue::dispatch_path(&self.db, &lead).await?;
                Ok(Command::Dispatch {
                    lead,
                    assisting,
                    via,
                    immediate,
                    opinion,
                })
            }
            Command::PassDown { to, opinion } => {
                let row = sqlx::query("SELECT lead_dept FROM tickets WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.db.pool)
                    .await?
                    .ok_or(TicketError::NotFound)?;
                let lead: Option<String> = row.try_get("lead_dept")?;
                let ancestors = super::catalogue::ancestors(&self.db, &to).await?;
                if lead.is_none() || !ancestors.iter().any(|a| Some(a) == lead.as_ref()) {
                    return Err(invalid(
                        "pass_down",
                        format!("`{to}` is not a lower unit of the handling department"),
                    ));
                }
                Ok(Command::PassDown { to, opinion })
            }
            Command::MergeInto { master } => {
                let row = sqlx::query("SELECT status FROM tickets WHERE id = $1")
                    .bind(&master)
                    .fetch_optional(&self.db.pool)
                    .await?
                    .ok_or_else(|| invalid("master", "the master ticket does not exist"))?;
                let st: String = row.try_get("status")?;
                if matches!(
                    Status::parse(&st),
                    Some(Status::Merged | Status::Voided | Status::Withdrawn)
                ) {
                    return Err(invalid("master", format!("the master ticket is {st}")));
                }
                Ok(Command::MergeInto { master })
            }
            Command::Submit => {
                let r = sqlx::query(
                    "SELECT title, category_code, region_code FROM tickets WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.db.pool)
                .await?
                .ok_or(TicketError::NotFound)?;
                for f in ["title", "category_code", "region_code"] {
                    if r.try_get::<String, _>(f)?.trim().is_empty() {
                        return Err(invalid(
                            "required",
                            format!("fill in `{f}` before accepting the ticket"),
                        ));
                    }
                }
                Ok(Command::Submit)
            }
            other => Ok(other),
        }
    }

    async fn try_act(&self, id: &str, actor: &Actor, cmd: Command, now: i64) -> Result<TicketView> {
        let row =
            sqlx::query("SELECT state_json, version, confidential FROM tickets WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.db.pool)
                .await?
                .ok_or(TicketError::NotFound)?;
        let version: i64 = row.try_get("version")?;
        let mut t: Ticket = serde_json::from_str(&row.try_get::<String, _>("state_json")?)
            .map_err(|e| TicketError::Corrupt(e.to_string()))?;
        let before = t.clone();
        let master = match &cmd {
            Command::MergeInto { master } => Some(master.clone()),
            _ => None,
        };
        let name = cmd.name();
        t.handle(cmd, actor, now, self.rules.env())?;
        let outputs = drain(&mut t);
        let mut tx = self.db.pool.begin().await?;
        // The state write comes first: it takes the lock and checks the version.
        self.save(&mut tx, &t, version, now).await?;
        let seq = next_seq(&mut tx, id).await?;
        write_outputs(&mut tx, id, seq, &outputs, now).await?;
        self.project(&mut tx, &before, &t).await?;
        if let Some(master) = master {
            lock_row(&mut tx, &master).await?;
            // The master records its duplicate, so one reply answers all contacts.
            let ev = Output::Event(super::lifecycle::Event {
                at_ms: now,
                actor: actor.user_id.clone(),
                action: "duplicate_merged".into(),
                from: Status::Draft,
                to: Status::Draft,
                detail: serde_json::json!({ "duplicate": id }),
            });
            let st: String = sqlx::query("SELECT status FROM tickets WHERE id = $1")
                .bind(&master)
                .fetch_one(&mut *tx)
                .await?
                .try_get("status")?;
            let st = Status::parse(&st).unwrap_or(Status::Accepted);
            let ev = match ev {
                Output::Event(mut e) => {
                    e.from = st;
                    e.to = st;
                    Output::Event(e)
                }
                o => o,
            };
            let mseq = next_seq(&mut tx, &master).await?;
            write_outputs(&mut tx, &master, mseq, &[ev], now).await?;
        }
        tx.commit().await?;
        tracing::info!(ticket = %id, action = name, by = %actor.user_id, status = t.status.as_str(), "ticket action");
        self.get(id, None, now).await
    }

    async fn save(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        t: &Ticket,
        version: i64,
        now: i64,
    ) -> Result<()> {
        let state = serde_json::to_string(t).map_err(|e| TicketError::Corrupt(e.to_string()))?;
        let next_timer = t.next_timeout(self.rules.env(), now);
        let n = sqlx::query(
            "UPDATE tickets SET status = $1, lead_dept = $2, due_ms = $3, overdue = $4, next_timer_ms = $5, master_id = $6,
               cycle = $7, closed_ms = $8, state_json = $9, version = version + 1, updated_ms = $10
             WHERE id = $11 AND version = $12",
        )
        .bind(t.status.as_str())
        .bind(&t.lead)
        .bind(t.handle_deadline.as_ref().map(|d| d.due_ms))
        .bind(i64::from(t.overdue_handle || t.overdue_sign))
        .bind(next_timer)
        .bind(&t.master)
        .bind(t.cycle as i64)
        .bind(t.closed_ms)
        .bind(&state)
        .bind(now)
        .bind(&t.id)
        .bind(version)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(TicketError::Busy);
        }
        Ok(())
    }

    /// Keeps the side tables (assisting, revisits, supervision cases) in step with the state.
    async fn project(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        before: &Ticket,
        t: &Ticket,
    ) -> Result<()> {
        if before.assisting != t.assisting {
            sqlx::query("DELETE FROM ticket_assisting WHERE ticket_id = $1")
                .bind(&t.id)
                .execute(&mut **tx)
                .await?;
            for d in &t.assisting {
                sqlx::query(
                    "INSERT INTO ticket_assisting (ticket_id, department_id) VALUES ($1, $2)",
                )
                .bind(&t.id)
                .bind(d)
                .execute(&mut **tx)
                .await?;
            }
        }
        for (i, r) in t.revisits.iter().enumerate().skip(before.revisits.len()) {
            sqlx::query(
                "INSERT INTO revisits (ticket_id, seq, at_ms, by_user, method, satisfaction, resolution, cycle, deemed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&t.id)
            .bind(i as i64 + 1)
            .bind(r.at_ms)
            .bind(&r.by)
            .bind(enum_str(&r.method))
            .bind(enum_str(&r.satisfaction))
            .bind(enum_str(&r.resolution))
            .bind(r.cycle as i64)
            .bind(i64::from(r.deemed))
            .execute(&mut **tx)
            .await?;
        }
        if before.supervision != t.supervision {
            sqlx::query("DELETE FROM supervision_cases WHERE ticket_id = $1")
                .bind(&t.id)
                .execute(&mut **tx)
                .await?;
            for c in &t.supervision {
                sqlx::query(
                    "INSERT INTO supervision_cases (ticket_id, case_no, level, cause, opened_ms, closed_ms, note)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&t.id)
                .bind(c.id as i64)
                .bind(enum_str(&c.level))
                .bind(enum_str(&c.cause))
                .bind(c.opened_ms)
                .bind(c.closed_ms)
                .bind(&c.note)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    /// Appends an event that changes no lifecycle state (e.g. an attachment was added).
    pub async fn record(
        &self,
        id: &str,
        actor_id: &str,
        action: &str,
        detail: serde_json::Value,
        now: i64,
    ) -> Result<()> {
        let status: String = sqlx::query("SELECT status FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(TicketError::NotFound)?
            .try_get("status")?;
        let st = Status::parse(&status).unwrap_or(Status::Accepted);
        let ev = Output::Event(super::lifecycle::Event {
            at_ms: now,
            actor: actor_id.to_string(),
            action: action.to_string(),
            from: st,
            to: st,
            detail,
        });
        for _ in 0..5 {
            let mut tx = self.db.pool.begin().await?;
            lock_row(&mut tx, id).await?;
            let seq = next_seq(&mut tx, id).await?;
            match write_outputs(&mut tx, id, seq, std::slice::from_ref(&ev), now).await {
                // Another writer took this sequence number: take the next one.
                Err(TicketError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                    continue
                }
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            tx.commit().await?;
            return Ok(());
        }
        Err(TicketError::Busy)
    }

    /// Runs SLA rules on up to `limit` tickets whose timer is due; returns how many ran.
    pub async fn run_due_timers(&self, now: i64, limit: u32) -> Result<usize> {
        let rows = sqlx::query("SELECT id FROM tickets WHERE next_timer_ms IS NOT NULL AND next_timer_ms <= $1 ORDER BY next_timer_ms LIMIT $2")
            .bind(now)
            .bind(limit as i64)
            .fetch_all(&self.db.pool)
            .await?;
        let mut ran = 0;
        for r in rows {
            let id: String = r.try_get("id")?;
            for _ in 0..3 {
                match self.timeout_one(&id, now).await {
                    Err(TicketError::Busy) => continue,
                    Err(e) => {
                        tracing::warn!(ticket = %id, error = %e, "timer failed");
                        break;
                    }
                    Ok(()) => {
                        ran += 1;
                        break;
                    }
                }
            }
        }
        Ok(ran)
    }

    async fn timeout_one(&self, id: &str, now: i64) -> Result<()> {
        let row = sqlx::query("SELECT state_json, version FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_one(&self.db.pool)
            .await?;
        let version: i64 = row.try_get("version")?;
        let mut t: Ticket = serde_json::from_str(&row.try_get::<String, _>("state_json")?)
            .map_err(|e| TicketError::Corrupt(e.to_string()))?;
        let before = t.clone();
        t.handle_timeout(now, self.rules.env());
        let outputs = drain(&mut t);
        let mut tx = self.db.pool.begin().await?;
        self.save(&mut tx, &t, version, now).await?;
        let seq = next_seq(&mut tx, id).await?;
        write_outputs(&mut tx, id, seq, &outputs, now).await?;
        self.project(&mut tx, &before, &t).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The ticket's event log, oldest first.
    pub async fn history(&self, id: &str, actor: &Actor, now: i64) -> Result<Vec<HistoryEntry>> {
        let v = self.get(id, Some(actor), now).await?;
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, action, from_status, to_status, detail FROM ticket_events WHERE ticket_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.db.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let detail: String = r.try_get("detail")?;
            let mut detail: serde_json::Value =
                serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null);
            if v.confidential && !sees_requester(actor) {
                if let Some(o) = detail.as_object_mut() {
                    for k in ["requester_name", "contact_phone"] {
                        o.remove(k);
                    }
                }
            }
            out.push(HistoryEntry {
                seq: r.try_get("seq")?,
                at_ms: r.try_get("at_ms")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                from: r.try_get("from_status")?,
                to: r.try_get("to_status")?,
                detail,
            });
        }
        Ok(out)
    }

    /// Lists tickets the actor may read, newest first.
    pub async fn list(&self, actor: &Actor, f: &ListFilter, now: i64) -> Result<Page<TicketView>> {
        let per_page = f.per_page.unwrap_or(20).clamp(1, 100);
        let page = f.page.unwrap_or(1).clamp(1, 100_000);
        let mut wh: Vec<String> = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        // `?` in a condition becomes the next `$N`.
        fn push(wh: &mut Vec<String>, args: &mut Vec<Arg>, cond: &str, a: Arg) {
            args.push(a);
            wh.push(cond.replace('?', &format!("${}", args.len())));
        }
        if is_department_only(actor) {
            let dept = actor.department.clone().unwrap_or_default();
            push(&mut wh, &mut args, "(lead_dept = ? OR id IN (SELECT ticket_id FROM ticket_assisting WHERE department_id = ?))", Arg::S(dept));
        } else if !actor.region_scope.is_empty() {
            push(
                &mut wh,
                &mut args,
                "region_code LIKE ?",
                Arg::S(format!("{}%", like_escape(&actor.region_scope))),
            );
        }
        let filters: [(&str, Option<Arg>); 9] = [
            ("status = ?", f.status.clone().map(Arg::S)),
            ("lead_dept = ?", f.lead_dept.clone().map(Arg::S)),
            ("caller_number = ?", f.caller_number.clone().map(Arg::S)),
            ("number = ?", f.number.clone().map(Arg::S)),
            (
                "region_code LIKE ?",
                f.region
                    .as_ref()
                    .map(|s| Arg::S(format!("{}%", like_escape(s)))),
            ),
            (
                "category_code LIKE ?",
                f.category
                    .as_ref()
                    .map(|s| Arg::S(format!("{}%", like_escape(s)))),
            ),
            ("created_ms >= ?", f.created_from_ms.map(Arg::I)),
            ("created_ms < ?", f.created_to_ms.map(Arg::I)),
            ("overdue = ?", f.overdue.map(|v| Arg::I(i64::from(v)))),
        ];
        for (cond, arg) in filters {
            if let Some(a) = arg {
                push(&mut wh, &mut args, cond, a);
            }
        }
        let where_sql = if wh.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", wh.join(" AND "))
        };
        let count_sql = format!("SELECT COUNT(*) AS n FROM tickets{where_sql}");
        let mut q = sqlx::query(&count_sql);
        for a in &args {
            q = a.bind(q);
        }
        let total: i64 = q.fetch_one(&self.db.pool).await?.try_get("n")?;
        let list_sql = format!(
            "SELECT {COLS} FROM tickets{where_sql} ORDER BY created_ms DESC, id DESC LIMIT {per_page} OFFSET {}",
            (page as i64 - 1) * per_page as i64
        );
        let mut q = sqlx::query(&list_sql);
        for a in &args {
            q = a.bind(q);
        }
        let rows = q.fetch_all(&self.db.pool).await?;
        let items = rows
            .iter()
            .map(|r| self.view(r, Some(actor), now))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    }

    /// Links a call (and its recording) to a ticket.
    pub async fn link_call(&self, ticket_id: &str, call: &CallLink, now: i64) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO ticket_calls (ticket_id, call_id, recording_id, did, skill_group, agent, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ticket_id)
        .bind(&call.call_id)
        .bind(&call.recording_id)
        .bind(&call.did)
        .bind(&call.skill_group)
        .bind(&call.agent)
        .bind(now)
        .execute(&self.db.pool)
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Pending notifications (oldest first), for the SMS / in-app senders.
    pub async fn unsent_notifications(&self, limit: u32) -> Result<Vec<PendingNotification>> {
        let rows = sqlx::query(
            "SELECT id, ticket_id, recipient, template, body, created_ms FROM notifications WHERE sent_ms IS NULL ORDER BY created_ms LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingNotification {
                    id: r.try_get("id")?,
                    ticket_id: r.try_get("ticket_id")?,
                    recipient: r.try_get("recipient")?,
                    template: r.try_get("template")?,
                    body: r.try_get("body")?,
                    created_ms: r.try_get("created_ms")?,
                })
            })
            .collect()
    }

    pub async fn mark_sent(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE notifications SET sent_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }
}

/// A call bound to a ticket.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CallLink {
    pub call_id: String,
    #[serde(default)]
    pub recording_id: String,
    #[serde(default)]
    pub did: String,
    #[serde(default)]
    pub skill_group: String,
    #[serde(default)]
    pub agent: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PendingNotification {
    pub id: String,
    pub ticket_id: String,
    /// `citizen`, `centre` or `department:<id>`.
    pub recipient: String,
    pub template: String,
    pub body: String,
    pub created_ms: i64,
}

enum Arg {
    S(String),
    I(i64),
}

impl Arg {
    fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self {
            Arg::S(s) => q.bind(s.as_str()),
            Arg::I(i) => q.bind(*i),
        }
    }
}

pub(crate) fn like_escape(s: &str) -> String {
    // Codes are digits and letters; drop LIKE wildcards rather than escape them portably.
    s.chars().filter(|c| *c != '%' && *c != '_').collect()
}

/// A department handler without centre roles sees only its department's tickets.
pub fn is_department_only(actor: &Actor) -> bool {
    actor.has(Role::DeptHandler) && !sees_requester(actor)
}

fn may_read(actor: &Actor, v: &TicketView) -> bool {
    if actor.roles.contains(&Role::Citizen) {
        return false;
    }
    if is_department_only(actor) {
        let dept = actor.department.as_deref();
        return dept.is_some()
            && (v.lead_dept.as_deref() == dept
                || v.assisting.iter().any(|a| Some(a.as_str()) == dept));
    }
    actor.covers_region(&v.region_code)
}

/// Takes the ticket row's write lock first thing in a transaction. SQLite cannot upgrade a
/// read transaction to a write one once another writer committed (it fails at once with
/// "database is locked"), so every read-then-write transaction starts with a write.
pub(crate) async fn lock_row(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> Result<()> {
    sqlx::query("UPDATE tickets SET updated_ms = updated_ms WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) async fn next_seq(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> Result<i64> {
    Ok(
        sqlx::query("SELECT COALESCE(MAX(seq), 0) AS n FROM ticket_events WHERE ticket_id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?
            .try_get::<i64, _>("n")?,
    )
}

pub(crate) async fn write_outputs(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    mut seq: i64,
    outputs: &[Output],
    now: i64,
) -> Result<()> {
    for o in outputs {
        match o {
            Output::Event(e) => {
                seq += 1;
                sqlx::query(
                    "INSERT INTO ticket_events (ticket_id, seq, at_ms, actor, action, from_status, to_status, detail)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(seq)
                .bind(e.at_ms)
                .bind(&e.actor)
                .bind(&e.action)
                .bind(e.from.as_str())
                .bind(e.to.as_str())
                .bind(e.detail.to_string())
                .execute(&mut **tx)
                .await?;
            }
            Output::Notify(n) => {
                let to = match &n.to {
                    Recipient::Citizen => "citizen".to_string(),
                    Recipient::Centre => "centre".to_string(),
                    Recipient::Department(d) => format!("department:{d}"),
                };
                sqlx::query(
                    "INSERT INTO notifications (id, ticket_id, recipient, template, body, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(id)
                .bind(to)
                .bind(&n.template)
                .bind(&n.text)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(())
}
