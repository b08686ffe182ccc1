//! Attachments: streamed to a file under the attachment folder while hashing (SHA-256) and
//! counting, never held whole in memory; refused with 413 past the size limit (200 MB).

use std::path::PathBuf;

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::io::AsyncWriteExt;

use super::lifecycle::Refusal;
use super::model::Actor;
use super::store::{Result, TicketError, TicketStore};

pub const MAX_BYTES: u64 = 200 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct AttachmentConfig {
    pub root: PathBuf,
    pub max_bytes: u64,
}

impl Default for AttachmentConfig {
    fn default() -> Self {
        AttachmentConfig {
            root: PathBuf::from("data/attachments"),
            max_bytes: MAX_BYTES,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Attachment {
    pub id: String,
    pub ticket_id: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub uploaded_by: String,
    pub created_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error(transparent)]
    Ticket(#[from] TicketError),
    #[error("upload interrupted: {0}")]
    Body(String),
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
}

fn clean_name(name: &str) -> std::result::Result<String, TicketError> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty()
        || base.len() > 200
        || base.chars().any(|c| c.is_control())
        || base == "."
        || base == ".."
    {
        return Err(TicketError::Refused(Refusal::Invalid {
            code: "file_name",
            reason: "a file name of 1-200 printable characters is required".into(),
        }));
    }
    Ok(base.to_string())
}

fn row_attachment(r: &sqlx::any::AnyRow) -> std::result::Result<Attachment, sqlx::Error> {
    Ok(Attachment {
        id: r.try_get("id")?,
        ticket_id: r.try_get("ticket_id")?,
        file_name: r.try_get("file_name")?,
        content_type: r.try_get("content_type")?,
        size_bytes: r.try_get("size_bytes")?,
        sha256: r.try_get("sha256")?,
        uploaded_by: r.try_get("uploaded_by")?,
        created_ms: r.try_get("created_ms")?,
    })
}

impl TicketStore {
    /// Streams `body` into a new attachment of ticket `id` (which the actor must be able to read).
    #[allow(clippy::too_many_arguments)] // each is a distinct input of one upload
    pub async fn upload<S, E>(
        &self,
        cfg: &AttachmentConfig,
        id: &str,
        actor: &Actor,
        file_name: &str,
        content_type: &str,
        mut body: S,
        now: i64,
    ) -> std::result::Result<Attachment, UploadError>
    where
        S: Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.get(id, Some(actor), now).await?;
        let file_name = clean_name(file_name)?;
        let content_type: String = content_type.chars().take(100).collect();
        let att_id = uuid::Uuid::new_v4().to_string();
        let dir = cfg.root.join(id);
        tokio::fs::create_dir_all(&dir).await?;
        let path = dir.join(&att_id);
        let mut file = tokio::fs::File::create(&path).await?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let result: std::result::Result<(), UploadError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| UploadError::Body(e.to_string()))?;
                size += chunk.len() as u64;
                if size > cfg.max_bytes {
                    return Err(UploadError::TooLarge(cfg.max_bytes));
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            file.sync_all().await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            drop(file);
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
        let att = Attachment {
            id: att_id,
            ticket_id: id.to_string(),
            file_name,
            content_type,
            size_bytes: size as i64,
            sha256: hex::encode(hasher.finalize()),
            uploaded_by: actor.user_id.clone(),
            created_ms: now,
        };
        sqlx::query(
            "INSERT INTO attachments (id, ticket_id, file_name, content_type, size_bytes, sha256, storage_path, uploaded_by, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&att.id)
        .bind(&att.ticket_id)
        .bind(&att.file_name)
        .bind(&att.content_type)
        .bind(att.size_bytes)
        .bind(&att.sha256)
        .bind(path.to_string_lossy().to_string())
        .bind(&att.uploaded_by)
        .bind(now)
        .execute(&self.db.pool)
        .await
        .map_err(TicketError::from)?;
        let detail = serde_json::json!({ "attachment": att.id, "file_name": att.file_name, "size_bytes": att.size_bytes, "sha256": att.sha256 });
        self.record(id, &actor.user_id, "attachment_added", detail, now)
            .await?;
        Ok(att)
    }

    pub async fn attachments(&self, id: &str, actor: &Actor, now: i64) -> Result<Vec<Attachment>> {
        self.get(id, Some(actor), now).await?;
        let rows = sqlx::query(
            "SELECT id, ticket_id, file_name, content_type, size_bytes, sha256, uploaded_by, created_ms FROM attachments
             WHERE ticket_id = $1 ORDER BY created_ms, id",
        )
        .bind(id)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .iter()
            .map(row_attachment)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// An attachment and the path of its file, if the actor may read its ticket.
    pub async fn attachment_file(
        &self,
        att_id: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<(Attachment, PathBuf)> {
        let r = sqlx::query(
            "SELECT id, ticket_id, file_name, content_type, size_bytes, sha256, uploaded_by, created_ms, storage_path
             FROM attachments WHERE id = $1",
        )
        .bind(att_id)
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(TicketError::NotFound)?;
        let att = row_attachment(&r)?;
        self.get(&att.ticket_id, Some(actor), now).await?;
        let path: String = r.try_get("storage_path")?;
        Ok((att, PathBuf::from(path)))
    }
}
