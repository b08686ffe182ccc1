//! The `recordings` table: a row is inserted when a recording starts (state `recording`), completed with
//! size, SHA-256 and duration when the writer reports it, marked `repaired` when start-up repair fixed its
//! file after a crash, or `failed`. Same SQL on SQLite and PostgreSQL.

use std::path::Path;

use sqlx::Row;

use super::repair::{repair_file, RepairOutcome, Repaired};
use super::writer::{Completed, RecorderEvent};
use super::{RecId, RecordingMeta};
use crate::store::{Db, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordingState {
    Recording,
    Complete,
    Repaired,
    Failed,
}

impl RecordingState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Recording => "recording",
            RecordingState::Complete => "complete",
            RecordingState::Repaired => "repaired",
            RecordingState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "recording" => RecordingState::Recording,
            "complete" => RecordingState::Complete,
            "repaired" => RecordingState::Repaired,
            "failed" => RecordingState::Failed,
            _ => return None,
        })
    }
}

/// One row of `recordings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingRow {
    pub id: String,
    pub meta: RecordingMeta,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    /// Relative to the recording store root.
    pub path: String,
    pub state: RecordingState,
    pub error: String,
}

const COLUMNS: &str =
    "id, call_id, a_leg, b_leg, agent, skill_group, started_ms, ended_ms, duration_ms, \
                       size_bytes, sha256, path, state, error";

fn row_of(r: &sqlx::any::AnyRow) -> Result<RecordingRow, StoreError> {
    let state: String = r.try_get("state")?;
    Ok(RecordingRow {
        id: r.try_get("id")?,
        meta: RecordingMeta {
            call_id: r.try_get("call_id")?,
            a_leg: r.try_get("a_leg")?,
            b_leg: r.try_get("b_leg")?,
            agent: r.try_get("agent")?,
            skill_group: r.try_get("skill_group")?,
        },
        started_ms: r.try_get("started_ms")?,
        ended_ms: r.try_get("ended_ms")?,
        duration_ms: r.try_get("duration_ms")?,
        size_bytes: r.try_get("size_bytes")?,
        sha256: r.try_get("sha256")?,
        path: r.try_get("path")?,
        // The CHECK constraint keeps other values out; a hand-edited row reads as failed, not as a panic.
        state: RecordingState::parse(&state).unwrap_or(RecordingState::Failed),
        error: r.try_get("error")?,
    })
}

/// The row for a recording that has just started.
pub async fn insert_started(
    db: &Db,
    id: RecId,
    meta: &RecordingMeta,
    started_ms: i64,
    rel_path: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO recordings (id, call_id, a_leg, b_leg, agent, skill_group, started_ms, path, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'recording')",
    )
    .bind(id.to_string())
    .bind(&meta.call_id)
    .bind(&meta.a_leg)
    .bind(&meta.b_leg)
    .bind(&meta.agent)
    .bind(&meta.skill_group)
    .bind(started_ms)
    .bind(rel_path)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records a finished file. False when no row was still `recording` under that id.
pub async fn complete(db: &Db, c: &Completed) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recordings SET ended_ms = $1, duration_ms = $2, size_bytes = $3, sha256 = $4, \
         state = 'complete' WHERE id = $5 AND state = 'recording'",
    )
    .bind(c.ended_ms)
    .bind(c.duration_ms)
    .bind(c.size_bytes)
    .bind(&c.sha256)
    .bind(c.id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a file fixed by start-up repair; its end is its start plus what the file holds.
pub async fn mark_repaired(db: &Db, id: &str, r: &Repaired) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recordings SET ended_ms = started_ms + $1, duration_ms = $2, size_bytes = $3, sha256 = $4, \
         state = 'repaired' WHERE id = $5 AND state = 'recording'",
    )
    .bind(r.duration_ms)
    .bind(r.duration_ms)
    .bind(i64::try_from(r.size_bytes).unwrap_or(i64::MAX))
    .bind(&r.sha256)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn mark_failed(
    db: &Db,
    id: &str,
    error: &str,
    ended_ms: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recordings SET ended_ms = $1, state = 'failed', error = $2 WHERE id = $3 AND state = 'recording'",
    )
    .bind(ended_ms)
    .bind(error)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Applies what the recorder reported.
pub async fn apply_event(db: &Db, event: &RecorderEvent, now_ms: i64) -> Result<bool, StoreError> {
    match event {
        RecorderEvent::Completed(c) => complete(db, c).await,
        RecorderEvent::Failed { id, error } => {
            mark_failed(db, &id.to_string(), error, now_ms).await
        }
    }
}

pub async fn get(db: &Db, id: &str) -> Result<Option<RecordingRow>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM recordings WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(row_of).transpose()
}

/// A call's recordings (a transfer or a three-way call can make several), oldest first.
pub async fn list_by_call(db: &Db, call_id: &str) -> Result<Vec<RecordingRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recordings WHERE call_id = $1 ORDER BY started_ms, id"
    ))
    .bind(call_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(row_of).collect()
}

pub async fn list_in_state(
    db: &Db,
    state: RecordingState,
) -> Result<Vec<RecordingRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recordings WHERE state = $1 ORDER BY started_ms, id"
    ))
    .bind(state.as_str())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(row_of).collect()
}

/// What [`reconcile_after_crash`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Rows whose file was repaired or found whole.
    pub repaired: Vec<String>,
    /// Rows whose file is missing or beyond repair, with why.
    pub failed: Vec<(String, String)>,
}

/// At start-up, before the writer runs: every row still `recording` was cut off by a crash. Its file is
/// repaired (or found whole: a crash just after a flush) and the row marked `repaired`; a missing or
/// unrepairable file marks it `failed`.
pub async fn reconcile_after_crash(
    db: &Db,
    root: &Path,
    now_ms: i64,
) -> Result<ReconcileReport, StoreError> {
    let mut report = ReconcileReport::default();
    for row in list_in_state(db, RecordingState::Recording).await? {
        let path = root.join(&row.path);
        let outcome = tokio::task::spawn_blocking(move || repair_file(&path))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match outcome {
            Ok(RepairOutcome::Intact(r)) | Ok(RepairOutcome::Repaired(r)) => {
                mark_repaired(db, &row.id, &r).await?;
                report.repaired.push(row.id);
            }
            Err(e) => {
                let error = format!("after a crash: {e}");
                mark_failed(db, &row.id, &error, now_ms).await?;
                report.failed.push((row.id, error));
            }
        }
    }
    Ok(report)
}
