//! Writing registrar changes through to the `registrations` table, and reading them back at start.

use super::{Binding, Change, Registrar};
use crate::store::{Db, StoreError};

/// Applies changes in one transaction.
pub async fn write(db: &Db, changes: &[Change]) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut tx = db.pool.begin().await?;
    for c in changes {
        match c {
            Change::Upsert {
                extension,
                binding: b,
            } => {
                sqlx::query(
                    "INSERT INTO registrations (extension, contact_uri, received, transport, call_id, cseq, q_milli,
                         expires_ms, user_agent)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (extension, contact_uri) DO UPDATE SET received = excluded.received,
                         transport = excluded.transport, call_id = excluded.call_id, cseq = excluded.cseq,
                         q_milli = excluded.q_milli, expires_ms = excluded.expires_ms, user_agent = excluded.user_agent",
                )
                .bind(extension)
                .bind(&b.contact_uri)
                .bind(&b.received)
                .bind(&b.transport)
                .bind(&b.call_id)
                .bind(i64::from(b.cseq))
                .bind(i64::from(b.q_milli))
                .bind(b.expires_ms)
                .bind(&b.user_agent)
                .execute(&mut *tx)
                .await?;
            }
            Change::Remove {
                extension,
                contact_uri,
            } => {
                sqlx::query("DELETE FROM registrations WHERE extension = $1 AND contact_uri = $2")
                    .bind(extension)
                    .bind(contact_uri)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
);

/// The live bindings stored in the database, as (extension, binding).
pub async fn load_rows(db: &Db, now_ms: i64) -> Result<Vec<(String, Binding)>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT extension, contact_uri, received, transport, call_id, cseq, q_milli, expires_ms, user_agent
         FROM registrations WHERE expires_ms > $1",
    )
    .bind(now_ms)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                extension,
                contact_uri,
                received,
                transport,
                call_id,
                cseq,
                q,
                expires_ms,
                user_agent,
            )| {
                let b = Binding {
                    contact_uri,
                    received,
                    transport,
                    call_id,
                    cseq: u32::try_from(cseq).unwrap_or(0),
                    q_milli: u16::try_from(q).unwrap_or(1000),
                    expires_ms,
                    user_agent,
                };
                (extension, b)
            },
        )
        .collect())
}

/// Fills `registrar` with the live bindings stored in the database; returns how many.
pub async fn load(db: &Db, registrar: &mut Registrar, now_ms: i64) -> Result<usize, StoreError> {
    let rows = load_rows(db, now_ms).await?;
    let n = rows.len();
    for (extension, b) in rows {
        registrar.restore(&extension, b, now_ms);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::super::{ContactRequest, Limits, Register};
    use super::*;
    use crate::store::testing;

    async fn survives_restart(db: Db) {
        let mut r = Registrar::new(Limits::default());
        let req = Register {
            extension: "1001".into(),
            contacts: vec![
                ContactRequest {
                    uri: "sip:1001@10.0.0.2".into(),
                    expires: None,
                    q_milli: 1000,
                },
                ContactRequest {
                    uri: "sip:1001@10.0.0.3".into(),
                    expires: None,
                    q_milli: 500,
                },
            ],
            wildcard: false,
            expires: Some(600),
            call_id: "x".into(),
            cseq: 1,
            received: "10.0.0.2:5060".into(),
            transport: "udp".into(),
            user_agent: "ua".into(),
        };
        let (_, changes) = r.apply(&req, 1_000).unwrap();
        write(&db, &changes).await.unwrap();
        let (_, changes) = r
            .apply(
                &Register {
                    contacts: vec![ContactRequest {
                        uri: "sip:1001@10.0.0.3".into(),
                        expires: Some(0),
                        q_milli: 1000,
                    }],
                    cseq: 2,
                    ..req.clone()
                },
                2_000,
            )
            .unwrap();
        write(&db, &changes).await.unwrap();

        let mut restarted = Registrar::new(Limits::default());
        assert_eq!(load(&db, &mut restarted, 3_000).await.unwrap(), 1);
        let b = restarted.lookup("1001", 3_000);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].contact_uri, "sip:1001@10.0.0.2");
        assert_eq!(b[0].expires_ms, 601_000);
        let mut later = Registrar::new(Limits::default());
        assert_eq!(
            load(&db, &mut later, 700_000).await.unwrap(),
            0,
            "expired bindings are not restored"
        );
    }

    #[tokio::test]
    async fn bindings_survive_restart_on_sqlite() {
        survives_restart(testing::sqlite().await).await;
    }

    #[tokio::test]
    async fn bindings_survive_restart_on_postgres() {
        if let Some(db) = testing::postgres("registrar").await {
            survives_restart(db).await;
        }
    }
}
