//! Persistence of the ACD: the agent state log, callback promises, the blacklist and red list with
//! their audit trail. The core emits [`PersistOp`]s; the shell writes them here in batches (one
//! transaction per batch) and reloads promises and lists at start.

use sqlx::Row;

use super::event::{CallbackRecord, PersistOp};
use super::lists::{BlacklistEntry, Lists, RedListEntry};
use super::queue::Priority;
use crate::store::{Db, StoreError};

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn unms(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Normal => "normal",
        Priority::Vip => "vip",
        Priority::RedList => "red_list",
        Priority::Emergency => "emergency",
    }
}

fn priority_from(s: &str) -> Priority {
    match s {
        "vip" => Priority::Vip,
        "red_list" => Priority::RedList,
        "emergency" => Priority::Emergency,
        _ => Priority::Normal,
    }
}

/// Writes a batch of operations in one transaction.
pub async fn write_batch(db: &Db, ops: &[PersistOp]) -> Result<(), StoreError> {
    let mut tx = db.pool.begin().await?;
    for op in ops {
        match op {
            PersistOp::StateChange(c) => {
                let detail = serde_json::to_string(&c.to).unwrap_or_default();
                sqlx::query(
                    "INSERT INTO acd_agent_state_log (agent_no, from_state, to_state, detail, reason, at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&c.agent_no)
                .bind(c.from.name())
                .bind(c.to.name())
                .bind(detail)
                .bind(&c.reason)
                .bind(ms(c.at_ms))
                .execute(&mut *tx)
                .await?;
            }
            PersistOp::CallbackSaved(r) => {
                sqlx::query(
                    "INSERT INTO acd_callbacks (call_id, number, group_id, priority, arrived_ms, accepted_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&r.call)
                .bind(&r.number)
                .bind(&r.group)
                .bind(priority_name(r.priority))
                .bind(ms(r.arrived_ms))
                .bind(ms(r.accepted_ms))
                .execute(&mut *tx)
                .await?;
            }
            PersistOp::CallbackDone {
                call,
                agent_no,
                at_ms,
                outcome,
            } => {
                sqlx::query(
                    "UPDATE acd_callbacks SET done_ms = $1, agent_no = $2, outcome = $3 \
                     WHERE call_id = $4",
                )
                .bind(ms(*at_ms))
                .bind(agent_no)
                .bind(outcome)
                .bind(call)
                .execute(&mut *tx)
                .await?;
            }
            PersistOp::CallbackAttempt {
                call,
                attempts,
                outcome,
                at_ms,
            } => {
                sqlx::query(
                    "UPDATE acd_callbacks SET attempts = $1, outcome = $2, last_attempt_ms = $3 \
                     WHERE call_id = $4",
                )
                .bind(*attempts as i64)
                .bind(outcome)
                .bind(ms(*at_ms))
                .bind(call)
                .execute(&mut *tx)
                .await?;
            }
            PersistOp::BlacklistAdded(e) => {
                sqlx::query("DELETE FROM acd_blacklist WHERE number = $1")
                    .bind(&e.number)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO acd_blacklist (number, until_ms, reason, added_by, added_ip, added_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&e.number)
                .bind(e.until_ms.map(ms))
                .bind(&e.reason)
                .bind(&e.added_by)
                .bind(&e.added_ip)
                .bind(ms(e.added_ms))
                .execute(&mut *tx)
                .await?;
                let detail = match e.until_ms {
                    Some(u) => format!("until {u}: {}", e.reason),
                    None => format!("permanent: {}", e.reason),
                };
                audit(
                    &mut tx,
                    "blacklist",
                    "add",
                    &e.number,
                    &detail,
                    &e.added_by,
                    &e.added_ip,
                    e.added_ms,
                )
                .await?;
            }
            PersistOp::BlacklistRemoved {
                number,
                by,
                ip,
                at_ms,
            } => {
                sqlx::query("DELETE FROM acd_blacklist WHERE number = $1")
                    .bind(number)
                    .execute(&mut *tx)
                    .await?;
                audit(&mut tx, "blacklist", "remove", number, "", by, ip, *at_ms).await?;
            }
            PersistOp::RedListAdded(e) => {
                sqlx::query("DELETE FROM acd_red_list WHERE number = $1")
                    .bind(&e.number)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO acd_red_list (number, note, added_by, added_ip, added_ms) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&e.number)
                .bind(&e.note)
                .bind(&e.added_by)
                .bind(&e.added_ip)
                .bind(ms(e.added_ms))
                .execute(&mut *tx)
                .await?;
                audit(
                    &mut tx,
                    "red_list",
                    "add",
                    &e.number,
                    &e.note,
                    &e.added_by,
                    &e.added_ip,
                    e.added_ms,
                )
                .await?;
            }
            PersistOp::RedListRemoved {
                number,
                by,
                ip,
                at_ms,
            } => {
                sqlx::query("DELETE FROM acd_red_list WHERE number = $1")
                    .bind(number)
                    .execute(&mut *tx)
                    .await?;
                audit(&mut tx, "red_list", "remove", number, "", by, ip, *at_ms).await?;
            }
            PersistOp::NotReadyCapSet {
                group,
                cap,
                by,
                at_ms,
            } => {
                let detail = cap.map_or("none".to_string(), |c| c.to_string());
                audit(
                    &mut tx,
                    "not_ready_cap",
                    "set",
                    group,
                    &detail,
                    by,
                    "",
                    *at_ms,
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    list: &str,
    action: &str,
    subject: &str,
    detail: &str,
    by: &str,
    ip: &str,
    at_ms: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO acd_list_audit (list, action, subject, detail, by_user, by_ip, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(list)
    .bind(action)
    .bind(subject)
    .bind(detail)
    .bind(by)
    .bind(ip)
    .bind(ms(at_ms))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Callback promises not yet kept, oldest first: feed them to [`crate::acd::Acd::restore_callback`].
pub async fn pending_callbacks(db: &Db) -> Result<Vec<CallbackRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT call_id, number, group_id, priority, arrived_ms, accepted_ms, attempts FROM acd_callbacks \
         WHERE done_ms IS NULL ORDER BY arrived_ms",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CallbackRecord {
                call: r.try_get("call_id")?,
                number: r.try_get("number")?,
                group: r.try_get("group_id")?,
                priority: priority_from(&r.try_get::<String, _>("priority")?),
                arrived_ms: unms(r.try_get("arrived_ms")?),
                accepted_ms: unms(r.try_get("accepted_ms")?),
                attempts: r.try_get::<i64, _>("attempts")?.max(0) as u32,
            })
        })
        .collect()
}

/// At start: loads the lists into `acd` and puts every pending callback promise back in its queue.
/// Returns how many promises were restored (a promise whose group no longer exists is skipped).
pub async fn restore(db: &Db, acd: &mut crate::acd::Acd, now: u64) -> Result<usize, StoreError> {
    load_lists(db, acd.lists_mut()).await?;
    let mut n = 0;
    for rec in pending_callbacks(db).await? {
        match acd.restore_callback(rec, now) {
            Ok(()) => n += 1,
            Err(e) => tracing::warn!(error = %e, "callback promise not restored"),
        }
    }
    Ok(n)
}

/// Loads the blacklist and red list into `lists`.
pub async fn load_lists(db: &Db, lists: &mut Lists) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT number, until_ms, reason, added_by, added_ip, added_ms FROM acd_blacklist",
    )
    .fetch_all(&db.pool)
    .await?;
    for r in &rows {
        lists.add_black(BlacklistEntry {
            number: r.try_get("number")?,
            until_ms: r.try_get::<Option<i64>, _>("until_ms")?.map(unms),
            reason: r.try_get("reason")?,
            added_by: r.try_get("added_by")?,
            added_ip: r.try_get("added_ip")?,
            added_ms: unms(r.try_get("added_ms")?),
        });
    }
    let rows = sqlx::query("SELECT number, note, added_by, added_ip, added_ms FROM acd_red_list")
        .fetch_all(&db.pool)
        .await?;
    for r in &rows {
        lists.add_red(RedListEntry {
            number: r.try_get("number")?,
            note: r.try_get("note")?,
            added_by: r.try_get("added_by")?,
            added_ip: r.try_get("added_ip")?,
            added_ms: unms(r.try_get("added_ms")?),
        });
    }
    Ok(())
}

/// One stored state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateLogRow {
    pub from_state: String,
    pub to_state: String,
    pub detail: String,
    pub reason: String,
    pub at_ms: u64,
}

/// An agent's state changes in `[from_ms, to_ms)`, oldest first (at most `limit`).
pub async fn state_log(
    db: &Db,
    agent_no: &str,
    from_ms: u64,
    to_ms: u64,
    limit: i64,
) -> Result<Vec<StateLogRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT from_state, to_state, detail, reason, at_ms FROM acd_agent_state_log \
         WHERE agent_no = $1 AND at_ms >= $2 AND at_ms < $3 ORDER BY id LIMIT $4",
    )
    .bind(agent_no)
    .bind(ms(from_ms))
    .bind(ms(to_ms))
    .bind(limit.clamp(1, 100_000))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StateLogRow {
                from_state: r.try_get("from_state")?,
                to_state: r.try_get("to_state")?,
                detail: r.try_get("detail")?,
                reason: r.try_get("reason")?,
                at_ms: unms(r.try_get("at_ms")?),
            })
        })
        .collect()
}

/// Audit rows for one number or group: (list, action, detail, by, ip, at_ms).
pub async fn audit_trail(
    db: &Db,
    subject: &str,
) -> Result<Vec<(String, String, String, String, String, u64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT list, action, detail, by_user, by_ip, at_ms FROM acd_list_audit WHERE subject = $1 ORDER BY id",
    )
    .bind(subject)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("list")?,
                r.try_get("action")?,
                r.try_get("detail")?,
                r.try_get("by_user")?,
                r.try_get("by_ip")?,
                unms(r.try_get("at_ms")?),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acd::agent::AgentState;
    use crate::acd::event::StateChange;

    async fn roundtrip(db: &Db) {
        let ops = vec![
            PersistOp::StateChange(StateChange {
                agent_no: "1001".into(),
                from: AgentState::Ready,
                to: AgentState::NotReady {
                    reason: "meeting".into(),
                },
                reason: "meeting".into(),
                at_ms: 5_000,
            }),
            PersistOp::CallbackSaved(CallbackRecord {
                call: "c1".into(),
                number: "138".into(),
                group: "g".into(),
                priority: Priority::RedList,
                arrived_ms: 1_000,
                accepted_ms: 2_000,
                attempts: 0,
            }),
            PersistOp::CallbackSaved(CallbackRecord {
                call: "c2".into(),
                number: "139".into(),
                group: "g".into(),
                priority: Priority::Normal,
                arrived_ms: 500,
                accepted_ms: 2_500,
                attempts: 0,
            }),
            PersistOp::CallbackDone {
                call: "c2".into(),
                agent_no: "1001".into(),
                at_ms: 9_000,
                outcome: "reached".into(),
            },
            PersistOp::CallbackAttempt {
                call: "c1".into(),
                attempts: 2,
                outcome: "486 Busy Here".into(),
                at_ms: 8_000,
            },
            PersistOp::BlacklistAdded(BlacklistEntry {
                number: "666".into(),
                until_ms: Some(99_000),
                reason: "harassing".into(),
                added_by: "boss".into(),
                added_ip: "10.0.0.9".into(),
                added_ms: 3_000,
            }),
            PersistOp::BlacklistAdded(BlacklistEntry {
                number: "777".into(),
                until_ms: None,
                reason: "abuse".into(),
                added_by: "boss".into(),
                added_ip: "10.0.0.9".into(),
                added_ms: 3_000,
            }),
            PersistOp::BlacklistRemoved {
                number: "777".into(),
                by: "boss2".into(),
                ip: "10.0.0.8".into(),
                at_ms: 4_000,
            },
            PersistOp::RedListAdded(RedListEntry {
                number: "555".into(),
                note: "elderly".into(),
                added_by: "boss".into(),
                added_ip: "".into(),
                added_ms: 1,
            }),
            PersistOp::NotReadyCapSet {
                group: "g".into(),
                cap: Some(2),
                by: "boss".into(),
                at_ms: 7,
            },
        ];
        write_batch(db, &ops).await.unwrap();
        let pending = pending_callbacks(db).await.unwrap();
        assert_eq!(pending.len(), 1, "the kept promise is not pending");
        assert_eq!(pending[0].call, "c1");
        assert_eq!(pending[0].priority, Priority::RedList);
        assert_eq!(pending[0].attempts, 2, "failed attempts survive a restart");
        assert_eq!(
            (pending[0].arrived_ms, pending[0].accepted_ms),
            (1_000, 2_000)
        );
        let mut lists = Lists::default();
        load_lists(db, &mut lists).await.unwrap();
        assert_eq!(
            lists.blocked("666", 98_000).map(|e| e.until_ms),
            Some(Some(99_000))
        );
        assert!(lists.blocked("777", 0).is_none(), "removed");
        assert!(lists.red("555").is_some());
        let log = state_log(db, "1001", 0, 10_000, 100).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (
                log[0].from_state.as_str(),
                log[0].to_state.as_str(),
                log[0].at_ms
            ),
            ("ready", "not_ready", 5_000)
        );
        assert!(log[0].detail.contains("meeting"));
        let trail = audit_trail(db, "777").await.unwrap();
        assert_eq!(trail.len(), 2);
        assert_eq!(
            (
                trail[1].1.as_str(),
                trail[1].3.as_str(),
                trail[1].4.as_str()
            ),
            ("remove", "boss2", "10.0.0.8")
        );
        assert_eq!(audit_trail(db, "g").await.unwrap()[0].2, "2");
    }

    #[tokio::test]
    async fn persist_and_reload_on_sqlite() {
        roundtrip(&crate::store::testing::sqlite().await).await;
    }

    #[tokio::test]
    async fn restart_restores_promises_and_lists_into_a_new_acd() {
        use crate::acd::{Acd, AcdConfig, GroupConfig};
        let db = crate::store::testing::sqlite().await;
        roundtrip(&db).await;
        let mut acd = Acd::new(AcdConfig {
            groups: vec![GroupConfig::new("g", "G")],
            ..AcdConfig::default()
        })
        .unwrap();
        assert_eq!(restore(&db, &mut acd, 10_000).await.unwrap(), 1);
        assert_eq!(acd.queue_order("g"), vec!["c1"]);
        assert!(acd.lists().blocked("666", 10_000).is_some());
    }

    #[tokio::test]
    async fn persist_and_reload_on_postgres() {
        if let Some(db) = crate::store::testing::postgres("acd_store").await {
            roundtrip(&db).await;
        }
    }
}
