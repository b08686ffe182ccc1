//! What hosted calls ask of the database, run by the engine's shell off the engine task:
//! the IVR's internal lookups (a ticket's progress by its number), post-call ratings, and the
//! caller's history for the agent's screen pop.

use std::collections::HashMap;

use chrono::TimeZone;
use sqlx::Row;

use crate::acd::event::CallerHistory;
use crate::ivr::interp::LookupOutcome;
use crate::store::{Db, StoreError};
use crate::tickets::screen_pop::{FREQUENT_CALLS, REPEATED_REQUESTS};

/// Runs the internal lookup `name` with `args`.
pub async fn internal_lookup(db: &Db, name: &str, args: &[(String, String)]) -> LookupOutcome {
    let args: HashMap<&str, &str> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = match name {
        "ticket_status" => ticket_status(db, args.get("ticket_no").copied().unwrap_or("")).await,
        other => return LookupOutcome::Failed(format!("unknown internal lookup `{other}`")),
    };
    r.unwrap_or_else(|e| LookupOutcome::Failed(e.to_string()))
}

/// A ticket's progress as the IVR speaks it: `status` (accepted / dispatched / processing /
/// closed) and `deadline` (YYYY-MM-DD of the handling deadline, empty when none).
pub async fn ticket_status(db: &Db, number: &str) -> Result<LookupOutcome, StoreError> {
    let number = number.trim();
    if number.is_empty() || number.len() > 32 {
        return Ok(LookupOutcome::NotFound);
    }
    let row = sqlx::query("SELECT status, due_ms FROM tickets WHERE number = $1")
        .bind(number)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(LookupOutcome::NotFound);
    };
    let status: String = row.try_get("status")?;
    let due: Option<i64> = row.try_get("due_ms")?;
    // The citizen hears four stages; the internal workflow has more.
    let spoken = match status.as_str() {
        "draft" | "accepted" | "pending_dispatch" => "accepted",
        "dispatched" => "dispatched",
        "handling" | "suspended" | "returned" | "reviewing" => "processing",
        "closed" | "archived" | "merged" | "withdrawn" | "voided" => "closed",
        _ => "unknown",
    };
    let deadline = due
        .filter(|_| spoken != "closed")
        .and_then(|ms| chrono::Local.timestamp_millis_opt(ms).single())
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    Ok(LookupOutcome::Found(vec![
        ("status".into(), spoken.into()),
        ("deadline".into(), deadline),
    ]))
}

/// Stores a post-call rating (a repeated rating for the same call replaces the first).
pub async fn store_rating(
    db: &Db,
    call_id: &str,
    ticket: Option<&str>,
    rating: u8,
    scale: u8,
    at_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM call_ratings WHERE call_id = $1")
        .bind(call_id)
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "INSERT INTO call_ratings (call_id, ticket, rating, scale, at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(call_id)
    .bind(ticket)
    .bind(i64::from(rating))
    .bind(i64::from(scale))
    .bind(at_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The rating stored for a call: (rating, scale).
pub async fn rating_of(db: &Db, call_id: &str) -> Result<Option<(u8, u8)>, StoreError> {
    let row = sqlx::query("SELECT rating, scale FROM call_ratings WHERE call_id = $1")
        .bind(call_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        Some(r) => {
            let rating: i64 = r.try_get("rating")?;
            let scale: i64 = r.try_get("scale")?;
            Some((rating.clamp(0, 255) as u8, scale.clamp(0, 255) as u8))
        }
        None => None,
    })
}

/// A voice message left in the IVR becomes a draft ticket (channel phone, tagged `voicemail`)
/// bound to the call and its recording, for the next agent to listen to and register. A repeated
/// request for the same call returns the first ticket. Returns the ticket number.
pub async fn message_ticket(
    tickets: &crate::tickets::store::TicketStore,
    call_id: &str,
    caller: &str,
    did: &str,
    recording: &str,
    duration_ms: u64,
    now_ms: i64,
) -> Result<String, crate::tickets::store::TicketError> {
    use crate::tickets::model::{Actor, Channel, Role};
    use crate::tickets::store::{CallLink, CreateTicket};
    let ivr = Actor {
        user_id: "ivr".into(),
        roles: vec![Role::Agent],
        region_scope: String::new(),
        department: None,
    };
    let input = CreateTicket {
        title: format!("来电留言 {caller}"),
        content: format!(
            "市民 {caller} 拨打 {did} 留言，录音 {recording}，时长 {} 秒。",
            duration_ms.div_ceil(1000)
        ),
        channel: Channel::Phone,
        caller_number: caller.into(),
        contact_phone: caller.into(),
        tags: vec!["voicemail".into()],
        draft: true,
        ..CreateTicket::default()
    };
    let key = format!("voicemail:{call_id}");
    let (t, _) = tickets.create(&ivr, input, Some(&key), now_ms).await?;
    tickets
        .link_call(
            &t.id,
            &CallLink {
                call_id: call_id.into(),
                recording_id: recording.into(),
                did: did.into(),
                skill_group: String::new(),
                agent: String::new(),
            },
            now_ms,
        )
        .await?;
    Ok(t.number)
}

/// Ticket states in which a citizen's request is still being worked on.
const OPEN_STATES: &str =
    "'accepted', 'pending_dispatch', 'dispatched', 'handling', 'suspended', 'returned', 'reviewing'";

/// What the screen pop says of a caller before anyone answers: calls so far, open tickets, the
/// most often repeated request, the flag for frequent or repeating callers (source C: 20 calls,
/// the same request 3 times), and the agent who last served them.
pub async fn caller_history(db: &Db, caller: &str) -> Result<CallerHistory, StoreError> {
    let calls = sqlx::query("SELECT COUNT(*) AS n FROM cdr_calls WHERE caller = $1")
        .bind(caller)
        .fetch_one(&db.pool)
        .await?
        .try_get::<i64, _>("n")?;
    let last_agent = sqlx::query(
        "SELECT agent FROM cdr_calls WHERE caller = $1 AND agent <> '' ORDER BY start_ms DESC LIMIT 1",
    )
    .bind(caller)
    .fetch_optional(&db.pool)
    .await?
    .map(|r| r.try_get::<String, _>("agent"))
    .transpose()?;
    let open = sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM tickets WHERE caller_number = $1 AND status IN ({OPEN_STATES})"
    ))
    .bind(caller)
    .fetch_one(&db.pool)
    .await?
    .try_get::<i64, _>("n")?;
    let repeats = sqlx::query(
        "SELECT COUNT(*) AS n FROM tickets
         WHERE caller_number = $1 AND category_code <> '' AND status NOT IN ('voided', 'draft')
         GROUP BY category_code ORDER BY n DESC LIMIT 1",
    )
    .bind(caller)
    .fetch_optional(&db.pool)
    .await?
    .map(|r| r.try_get::<i64, _>("n"))
    .transpose()?
    .unwrap_or(0);
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(CallerHistory {
        calls: count(calls),
        open_tickets: count(open),
        repeat_requests: count(repeats),
        flagged: calls >= FREQUENT_CALLS || repeats >= REPEATED_REQUESTS,
        last_agent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn check(db: Db) {
        assert_eq!(
            internal_lookup(&db, "ticket_status", &[("ticket_no".into(), "NOPE".into())]).await,
            LookupOutcome::NotFound
        );
        assert!(matches!(
            internal_lookup(&db, "weather", &[]).await,
            LookupOutcome::Failed(_)
        ));
        let tickets = crate::tickets::store::TicketStore::new(
            db.clone(),
            crate::tickets::store::Rules::default(),
        );
        let n1 = message_ticket(
            &tickets,
            "vm-1",
            "13900001111",
            "12345",
            "rec-9",
            12_345,
            1_000,
        )
        .await
        .unwrap();
        let n2 = message_ticket(
            &tickets,
            "vm-1",
            "13900001111",
            "12345",
            "rec-9",
            12_345,
            2_000,
        )
        .await
        .unwrap();
        assert_eq!(
            n1, n2,
            "one ticket per voice message, however often it is asked"
        );
        let row = sqlx::query("SELECT recording_id FROM ticket_calls WHERE call_id = $1")
            .bind("vm-1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(row.try_get::<String, _>("recording_id").unwrap(), "rec-9");
        store_rating(&db, "call-1", None, 4, 5, 1).await.unwrap();
        store_rating(&db, "call-1", Some("T1"), 5, 5, 2)
            .await
            .unwrap();
        assert_eq!(rating_of(&db, "call-1").await.unwrap(), Some((5, 5)));
        assert_eq!(rating_of(&db, "call-2").await.unwrap(), None);

        // The caller's history: nothing for a stranger.
        let stranger = caller_history(&db, "13700000000").await.unwrap();
        assert_eq!(stranger, CallerHistory::default());
        // Just under both thresholds (19 calls, one request twice), then at them (20 and 3).
        for (caller, calls, tickets_n) in [("13600000000", 19, 2), ("13900001111", 20, 3)] {
            for i in 0..calls {
                sqlx::query(
                    "INSERT INTO cdr_calls (call_id, direction, caller, callee, agent, start_ms, end_ms, sip_code, hangup_side, hangup_cause)
                     VALUES ($1, 'inbound', $2, '12345', $3, $4, $4, 200, 'caller', 'bye')",
                )
                .bind(format!("h-{caller}-{i}"))
                .bind(caller)
                .bind(if i == calls - 1 { "1003" } else if i % 2 == 0 { "1001" } else { "" })
                .bind(10_000 + i64::from(i))
                .execute(&db.pool)
                .await
                .unwrap();
            }
            for i in 0..tickets_n {
                message_ticket(
                    &tickets,
                    &format!("vm-{caller}-{i}"),
                    caller,
                    "12345",
                    "rec",
                    1,
                    3_000,
                )
                .await
                .unwrap();
            }
            sqlx::query("UPDATE tickets SET status = 'handling', category_code = 'C01' WHERE caller_number = $1")
                .bind(caller)
                .execute(&db.pool)
                .await
                .unwrap();
        }
        let under = caller_history(&db, "13600000000").await.unwrap();
        assert_eq!(
            (under.calls, under.repeat_requests, under.flagged),
            (19, 2, false)
        );
        let h = caller_history(&db, "13900001111").await.unwrap();
        assert_eq!(h.calls, 20);
        assert_eq!(
            h.open_tickets, 4,
            "the earlier voice message's ticket and the three repeats"
        );
        assert_eq!(h.repeat_requests, 4);
        assert!(h.flagged);
        assert_eq!(
            h.last_agent.as_deref(),
            Some("1003"),
            "the latest call with an agent"
        );
    }

    #[tokio::test]
    async fn lookups_and_ratings_on_sqlite() {
        check(crate::store::testing::sqlite().await).await;
    }

    #[tokio::test]
    async fn lookups_and_ratings_on_postgres() {
        match crate::store::testing::postgres("call_services").await {
            Some(db) => check(db).await,
            None => eprintln!("PostgreSQL not reachable on 127.0.0.1:5432: skipped"),
        }
    }
}
