//! The SMS sender interface and its default sinks (a JSON-lines file, or the log), plus the
//! delivery step that turns the lifecycle's citizen notifications into SMS: a revisit request
//! carries the signed satisfaction link.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use serde::Serialize;
use sqlx::Row;
use tokio::io::AsyncWriteExt;

use super::satisfaction::LinkSigner;
use super::store::{Result, TicketStore};

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Sms {
    pub to: String,
    pub text: String,
    /// The ticket it is about, for the send log.
    pub ticket_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("sms sink: {0}")]
    Io(#[from] std::io::Error),
    #[error("sms gateway refused: {0}")]
    Refused(String),
}

pub type SendFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<(), SmsError>> + Send + 'a>>;

/// Anything that can send an SMS (a carrier gateway, or the sinks below).
pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, sms: &'a Sms) -> SendFuture<'a>;
}

/// Appends each SMS as one JSON line to a file: the default, so nothing leaves the machine.
pub struct FileSink {
    pub path: PathBuf,
}

impl SmsSender for FileSink {
    fn send<'a>(&'a self, sms: &'a Sms) -> SendFuture<'a> {
        Box::pin(async move {
            if let Some(dir) = self.path.parent() {
                if !dir.as_os_str().is_empty() {
                    tokio::fs::create_dir_all(dir).await?;
                }
            }
            let mut line =
                serde_json::to_string(sms).map_err(|e| SmsError::Refused(e.to_string()))?;
            line.push('\n');
            let mut f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await?;
            f.write_all(line.as_bytes()).await?;
            // tokio's File hands the write to a blocking thread and returns before it lands;
            // only flush waits for it (and reports its error). Without it the caller marks the
            // SMS sent while the line may not be in the file yet, or never get there.
            f.flush().await?;
            Ok(())
        })
    }
}

/// Writes each SMS to the log only.
pub struct LogSink;

impl SmsSender for LogSink {
    fn send<'a>(&'a self, sms: &'a Sms) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(to = %sms.to, ticket = %sms.ticket_id, text = %sms.text, "sms");
            Ok(())
        })
    }
}

/// Sends the pending citizen notifications (up to `limit`); returns how many were sent.
/// `link_base` is the public URL the satisfaction token is appended to.
pub async fn deliver_citizen_sms(
    store: &TicketStore,
    sender: &dyn SmsSender,
    signer: &LinkSigner,
    link_base: &str,
    limit: u32,
    now: i64,
) -> Result<usize> {
    let rows = sqlx::query(
        "SELECT n.id, n.ticket_id, n.template, n.body, t.contact_phone, t.cycle FROM notifications n
         JOIN tickets t ON t.id = n.ticket_id
         WHERE n.recipient = 'citizen' AND n.sent_ms IS NULL ORDER BY n.created_ms LIMIT $1",
    )
    .bind(limit as i64)
    .fetch_all(&store.db.pool)
    .await?;
    let mut sent = 0;
    for r in rows {
        let (id, ticket_id, template, body, phone, cycle): (
            String,
            String,
            String,
            String,
            String,
            i64,
        ) = (
            r.try_get("id")?,
            r.try_get("ticket_id")?,
            r.try_get("template")?,
            r.try_get("body")?,
            r.try_get("contact_phone")?,
            r.try_get("cycle")?,
        );
        if phone.is_empty() {
            // Nobody to text: mark it handled so it does not block the queue.
            store.mark_sent(&id, now).await?;
            continue;
        }
        let text = if template == "revisit_link" {
            let token = signer.sign(&ticket_id, u8::try_from(cycle).unwrap_or(u8::MAX), now);
            format!("【12345】{body} {link_base}{token}")
        } else {
            format!("【12345】{body}")
        };
        match sender
            .send(&Sms {
                to: phone,
                text,
                ticket_id: ticket_id.clone(),
            })
            .await
        {
            Ok(()) => {
                store.mark_sent(&id, now).await?;
                sent += 1;
            }
            Err(e) => tracing::warn!(ticket = %ticket_id, error = %e, "sms not sent; will retry"),
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each send is in the file when `send` returns: a reader right after it (the test suite,
    /// an operator's tail, a gateway picking the file up) sees every line, under any load.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn file_sink_line_is_written_when_send_returns() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink {
            path: dir.path().join("out").join("sms.jsonl"),
        };
        for i in 0..300 {
            let sms = Sms {
                to: "13600000009".into(),
                text: format!("【12345】第{i}条"),
                ticket_id: format!("t{i}"),
            };
            sink.send(&sms).await.unwrap();
            let text = std::fs::read_to_string(&sink.path).unwrap();
            assert_eq!(text.lines().count(), i + 1, "line {i} not written yet");
            let last: serde_json::Value =
                serde_json::from_str(text.lines().last().unwrap()).unwrap();
            assert_eq!(last["ticket_id"], format!("t{i}"));
        }
    }
}
